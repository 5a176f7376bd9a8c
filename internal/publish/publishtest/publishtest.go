// Package publishtest holds the fixtures the publish and streams tests share: outbox items as
// docs/design-sessions.md lays them out, the events they record, their stream images and
// records, and a recording Sink.
package publishtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/lifecycle"
)

// T0 is the time of the fixtures' events.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)

// EventItem is an outbox item laid out as docs/design-sessions.md fixes it.
func EventItem(sessionID string, seq int64, typ string) map[string]types.AttributeValue {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v int64) types.AttributeValue {
		return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	return map[string]types.AttributeValue{
		"PK":            s("SESSION#" + sessionID),
		"SK":            s(fmt.Sprintf("EVENT#%08d", seq)),
		"event_id":      s(fmt.Sprintf("%s:%d", sessionID, seq)),
		"session_id":    s(sessionID),
		"user_id":       s("u1"),
		"seq":           n(seq),
		"type":          s(typ),
		"actor":         s("system:sweep"),
		"reason":        s("keepalive_expired"),
		"at_ms":         n(T0.UnixMilli()),
		"status_before": s("running"),
		"status_after":  s("stopped"),
		"detail":        s(`{"k":1}`),
		"TTL":           n(T0.Add(90 * 24 * time.Hour).Unix()),
	}
}

// WantEvent is the event EventItem records.
func WantEvent(sessionID string, seq int64, typ string) lifecycle.Event {
	return lifecycle.Event{
		EventID: fmt.Sprintf("%s:%d", sessionID, seq), SessionID: sessionID, UserID: "u1", Seq: seq,
		Type: lifecycle.EventType(typ), Actor: "system:sweep", Reason: "keepalive_expired", At: T0,
		StatusBefore: lifecycle.StatusRunning, StatusAfter: lifecycle.StatusStopped, Detail: []byte(`{"k":1}`),
	}
}

// Image converts an SDK item into the stream's image form (the inverse of streams.ItemFromImage).
func Image(item map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	out := map[string]events.DynamoDBAttributeValue{}
	for k, v := range item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out[k] = events.NewStringAttribute(v.Value)
		case *types.AttributeValueMemberN:
			out[k] = events.NewNumberAttribute(v.Value)
		case *types.AttributeValueMemberBOOL:
			out[k] = events.NewBooleanAttribute(v.Value)
		default:
			panic(fmt.Sprintf("image: %T not needed by the tests", v))
		}
	}
	return out
}

func keysOf(img map[string]events.DynamoDBAttributeValue) map[string]events.DynamoDBAttributeValue {
	return map[string]events.DynamoDBAttributeValue{"PK": img["PK"], "SK": img["SK"]}
}

// InsertRecord is the stream record of a new item.
func InsertRecord(seq string, item map[string]types.AttributeValue) events.DynamoDBEventRecord {
	img := Image(item)
	return events.DynamoDBEventRecord{
		EventName: "INSERT", EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{SequenceNumber: seq, Keys: keysOf(img), NewImage: img, StreamViewType: "NEW_AND_OLD_IMAGES"},
	}
}

// RemoveRecord is the stream record of a deleted item, by the TTL process when ttl is set.
func RemoveRecord(seq string, item map[string]types.AttributeValue, ttl bool) events.DynamoDBEventRecord {
	img := Image(item)
	r := events.DynamoDBEventRecord{
		EventName: "REMOVE", EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{SequenceNumber: seq, Keys: keysOf(img), OldImage: img, StreamViewType: "NEW_AND_OLD_IMAGES"},
	}
	if ttl {
		r.UserIdentity = &events.DynamoDBUserIdentity{Type: "Service", PrincipalID: "dynamodb.amazonaws.com"}
	}
	return r
}

// SessionItem is a session item (not an event).
func SessionItem(sessionID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK":         &types.AttributeValueMemberS{Value: "SESSION#" + sessionID},
		"SK":         &types.AttributeValueMemberS{Value: "SESSION"},
		"session_id": &types.AttributeValueMemberS{Value: sessionID},
		"status":     &types.AttributeValueMemberS{Value: "deleted"},
	}
}

// Sink records what it is given and fails the event ids in Fail, and those in FailTimes
// as many times as it says.
type Sink struct {
	Fail      map[string]bool
	FailTimes map[string]int

	mu        sync.Mutex
	calls     [][]lifecycle.Event
	delivered []lifecycle.Event
}

// Publish records evs and answers an error for each event it fails.
func (s *Sink) Publish(_ context.Context, evs []lifecycle.Event) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, append([]lifecycle.Event(nil), evs...))
	errs := make([]error, len(evs))
	for i, e := range evs {
		switch {
		case s.Fail[e.EventID]:
			errs[i] = errors.New("sink refused " + e.EventID)
		case s.FailTimes[e.EventID] > 0:
			s.FailTimes[e.EventID]--
			errs[i] = errors.New("sink refused " + e.EventID + " this time")
		default:
			s.delivered = append(s.delivered, e)
		}
	}
	return errs
}

// Published returns the events delivered so far.
func (s *Sink) Published() []lifecycle.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]lifecycle.Event(nil), s.delivered...)
}

// Calls returns how many times Publish was called.
func (s *Sink) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// Finaliser records the session ids of the items it finalises and fails those in Fail.
type Finaliser struct {
	Got  []string
	Fail map[string]bool
}

// FinaliseExpired records the item's PK and fails it when Fail says so.
func (f *Finaliser) FinaliseExpired(_ context.Context, old map[string]events.DynamoDBAttributeValue) error {
	pk := old["PK"].String()
	f.Got = append(f.Got, pk)
	if f.Fail[pk] {
		return errors.New("finaliser refused " + pk)
	}
	return nil
}
