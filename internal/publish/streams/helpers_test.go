package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/lifecycle"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123_000_000, time.UTC)

// eventItem is an outbox item laid out as docs/design-sessions.md fixes it.
func eventItem(sessionID string, seq int64, typ string) map[string]types.AttributeValue {
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
		"at_ms":         n(t0.UnixMilli()),
		"status_before": s("running"),
		"status_after":  s("stopped"),
		"detail":        s(`{"k":1}`),
		"TTL":           n(t0.Add(90 * 24 * time.Hour).Unix()),
	}
}

// wantEvent is the event eventItem records.
func wantEvent(sessionID string, seq int64, typ string) lifecycle.Event {
	return lifecycle.Event{
		EventID: fmt.Sprintf("%s:%d", sessionID, seq), SessionID: sessionID, UserID: "u1", Seq: seq,
		Type: lifecycle.EventType(typ), Actor: "system:sweep", Reason: "keepalive_expired", At: t0,
		StatusBefore: lifecycle.StatusRunning, StatusAfter: lifecycle.StatusStopped, Detail: []byte(`{"k":1}`),
	}
}

// image converts an SDK item into the stream's image form (the inverse of ItemFromImage).
// insertRecord is the stream record of a new item.
// removeRecord is the stream record of a deleted item, by the TTL process when ttl is set.
// sessionItem is a session item (not an event).
func sessionItem(sessionID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK":         &types.AttributeValueMemberS{Value: "SESSION#" + sessionID},
		"SK":         &types.AttributeValueMemberS{Value: "SESSION"},
		"session_id": &types.AttributeValueMemberS{Value: sessionID},
		"status":     &types.AttributeValueMemberS{Value: "deleted"},
	}
}

// fakeSink records what it is given and fails the event ids in fail, and those in failTimes
// as many times as it says.
type fakeSink struct {
	mu        sync.Mutex
	calls     [][]lifecycle.Event
	delivered []lifecycle.Event
	fail      map[string]bool
	failTimes map[string]int
}

func (s *fakeSink) Publish(_ context.Context, evs []lifecycle.Event) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, append([]lifecycle.Event(nil), evs...))
	errs := make([]error, len(evs))
	for i, e := range evs {
		switch {
		case s.fail[e.EventID]:
			errs[i] = errors.New("sink refused " + e.EventID)
		case s.failTimes[e.EventID] > 0:
			s.failTimes[e.EventID]--
			errs[i] = errors.New("sink refused " + e.EventID + " this time")
		default:
			s.delivered = append(s.delivered, e)
		}
	}
	return errs
}

func (s *fakeSink) published() []lifecycle.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]lifecycle.Event(nil), s.delivered...)
}
