// Package publish turns the table's stream into published session events. The outbox items
// (PK SESSION#<id>, SK EVENT#<seq>) that the store writes in the same transaction as each state
// change arrive as stream INSERTs; the Handler decodes them and hands them to a Sink (ebsink's
// EventBridge sink in AWS, the log locally) and reports the records it could not complete, so
// that the stream retries them. REMOVE records made by DynamoDB's TTL process go to a Finaliser. The Lambda
// function and the local streams.Reader run the same Handler. The package imports no AWS SDK
// package (internal/archtest checks it): records arrive in aws-lambda-go's event shapes, which
// are plain structs, and the adapters live in publish/ebsink and publish/streams.
//
// Delivery is at least once: a record may be handed over again after a partial failure or a
// retried batch, so consumers deduplicate on the event's event_id, which comes from the item and
// never changes.
package publish

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"wspolicy/internal/lifecycle"
)

// Source is the EventBridge source of every session event.
const Source = "wspolicy.sessions"

// Sink publishes session events.
type Sink interface {
	// Publish sends events and returns one error per event, in the same order: nil for an event
	// that was delivered.
	Publish(ctx context.Context, events []lifecycle.Event) []error
}

// Finaliser completes whatever an item removed by DynamoDB's TTL process left open; the TTL
// deletion is a backstop, never the timer.
type Finaliser interface {
	// FinaliseExpired receives the removed item as it was before the deletion, in the shape
	// the stream record carries it (streams.ItemFromImage converts it for the store). It must
	// be idempotent: the same record may be handed over more than once.
	FinaliseExpired(ctx context.Context, oldImage map[string]events.DynamoDBAttributeValue) error
}

// Detail is the JSON document consumers receive for each event (EventBridge's detail, one
// log line's "detail" locally).
type Detail struct {
	EventID      string          `json:"event_id"`
	SessionID    string          `json:"session_id"`
	UserID       string          `json:"user_id"`
	Seq          int64           `json:"seq"`
	Type         string          `json:"type"`
	Actor        string          `json:"actor"`
	Reason       string          `json:"reason"`
	At           string          `json:"at"`
	StatusBefore string          `json:"status_before"`
	StatusAfter  string          `json:"status_after"`
	Detail       json.RawMessage `json:"detail"`
}

// timeFormat is RFC 3339 in UTC with a fixed millisecond fraction, the precision events are
// stored with.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// NewDetail builds the published document of e. An event without detail gets an empty object.
func NewDetail(e lifecycle.Event) Detail {
	d := Detail{
		EventID: e.EventID, SessionID: e.SessionID, UserID: e.UserID, Seq: e.Seq,
		Type: string(e.Type), Actor: e.Actor, Reason: e.Reason, At: e.At.UTC().Format(timeFormat),
		StatusBefore: string(e.StatusBefore), StatusAfter: string(e.StatusAfter),
		Detail: e.Detail,
	}
	if len(d.Detail) == 0 {
		d.Detail = json.RawMessage("{}")
	}
	return d
}

// MarshalDetail is the JSON of e's published document.
func MarshalDetail(e lifecycle.Event) ([]byte, error) {
	b, err := json.Marshal(NewDetail(e))
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.EventID, err)
	}
	return b, nil
}
