package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wspolicy/internal/lifecycle"
)

// Key prefixes and attribute names of the outbox items, as docs/design-sessions.md fixes them
// (the store writes them; see ddbstore's eventRecord).
const (
	sessionPKPrefix = "SESSION#"
	eventSKPrefix   = "EVENT#"
)

// The user identity DynamoDB puts on the REMOVE records of its TTL process.
const (
	ttlIdentityType      = "Service"
	ttlIdentityPrincipal = "dynamodb.amazonaws.com"
)

// IsEventInsert reports whether r is a new outbox item: an INSERT whose new image's SK begins
// with EVENT#.
func IsEventInsert(r events.DynamoDBEventRecord) bool {
	if r.EventName != string(events.DynamoDBOperationTypeInsert) {
		return false
	}
	sk, ok := r.Change.NewImage["SK"]
	if !ok {
		sk, ok = r.Change.Keys["SK"]
	}
	return ok && sk.DataType() == events.DataTypeString && strings.HasPrefix(sk.String(), eventSKPrefix)
}

// IsTTLDeletion reports whether r is a REMOVE made by DynamoDB's TTL process (user identity
// type "Service", principal "dynamodb.amazonaws.com") rather than by a request.
func IsTTLDeletion(r events.DynamoDBEventRecord) bool {
	return r.EventName == string(events.DynamoDBOperationTypeRemove) && r.UserIdentity != nil &&
		r.UserIdentity.Type == ttlIdentityType && r.UserIdentity.PrincipalID == ttlIdentityPrincipal
}

// EventFromImage decodes an outbox item, as a stream record's image carries it, into the event it
// records. A missing event_id is derived from the keys exactly as the store derives it, so the
// id stays stable.
func EventFromImage(image map[string]events.DynamoDBAttributeValue) (lifecycle.Event, error) {
	d := itemDecoder{item: image}
	e := lifecycle.Event{
		EventID:      d.str("event_id"),
		SessionID:    d.str("session_id"),
		UserID:       d.str("user_id"),
		Seq:          d.num("seq"),
		Type:         lifecycle.EventType(d.str("type")),
		Actor:        d.str("actor"),
		Reason:       d.str("reason"),
		StatusBefore: lifecycle.Status(d.str("status_before")),
		StatusAfter:  lifecycle.Status(d.str("status_after")),
	}
	atMs := d.num("at_ms")
	detail := d.str("detail")
	pk, sk := d.str("PK"), d.str("SK")
	if d.err != nil {
		return lifecycle.Event{}, d.err
	}
	if !strings.HasPrefix(sk, eventSKPrefix) {
		return lifecycle.Event{}, fmt.Errorf("not an event item: SK %q", sk)
	}
	if e.SessionID == "" {
		e.SessionID = strings.TrimPrefix(pk, sessionPKPrefix)
	}
	if e.Seq == 0 {
		n, err := strconv.ParseInt(strings.TrimPrefix(sk, eventSKPrefix), 10, 64)
		if err != nil {
			return lifecycle.Event{}, fmt.Errorf("event item SK %q: bad sequence number", sk)
		}
		e.Seq = n
	}
	if e.EventID == "" {
		e.EventID = lifecycle.EventID(e.SessionID, e.Seq)
	}
	switch {
	case e.SessionID == "":
		return lifecycle.Event{}, errors.New("event item without session_id")
	case e.Type == "":
		return lifecycle.Event{}, fmt.Errorf("event %s: no type", e.EventID)
	case atMs == 0:
		return lifecycle.Event{}, fmt.Errorf("event %s: no at_ms", e.EventID)
	}
	e.At = time.UnixMilli(atMs).UTC()
	if detail != "" {
		if !json.Valid([]byte(detail)) {
			return lifecycle.Event{}, fmt.Errorf("event %s: detail is not JSON", e.EventID)
		}
		e.Detail = json.RawMessage(detail)
	}
	return e, nil
}

// itemDecoder reads scalar attributes and keeps the first type error. It checks each value's
// type before reading it: the events package's accessors panic on any other.
type itemDecoder struct {
	item map[string]events.DynamoDBAttributeValue
	err  error
}

func (d *itemDecoder) str(name string) string {
	av, ok := d.item[name]
	if !ok {
		return ""
	}
	switch av.DataType() {
	case events.DataTypeString:
		return av.String()
	case events.DataTypeNull:
		return ""
	}
	d.fail(name, "a string", av)
	return ""
}

func (d *itemDecoder) num(name string) int64 {
	av, ok := d.item[name]
	if !ok {
		return 0
	}
	if av.DataType() != events.DataTypeNumber {
		d.fail(name, "a number", av)
		return 0
	}
	n, err := strconv.ParseInt(av.Number(), 10, 64)
	if err != nil {
		d.fail(name, "an integer", av)
		return 0
	}
	return n
}

func (d *itemDecoder) fail(name, want string, got events.DynamoDBAttributeValue) {
	if d.err == nil {
		d.err = fmt.Errorf("attribute %s: want %s, got data type %d", name, want, got.DataType())
	}
}
