package lifecycle

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventType names a session event.
type EventType string

// The session event types. A status change records exactly one of created, paused, stopped,
// resumed or deleted (what the provisioning layer acts on); when a rule caused it, a cause event
// (keepalive_expired, time_limit_reached, usage_limit_reached) precedes it in the same write.
const (
	EventCreated           EventType = "created"
	EventKeepaliveExpired  EventType = "keepalive_expired"
	EventPaused            EventType = "paused"
	EventStopped           EventType = "stopped"
	EventResumed           EventType = "resumed"
	EventDisconnected      EventType = "disconnected"
	EventTimeLimitWarning  EventType = "time_limit_warning"
	EventTimeLimitReached  EventType = "time_limit_reached"
	EventUsageLimitReached EventType = "usage_limit_reached"
	EventDeleted           EventType = "deleted"
)

// The system actors of events; people are "admin" or "user:<id>" (see Actor).
const (
	ActorSweep     = "system:sweep"
	ActorCountdown = "system:countdown"
	ActorKeepalive = "system:keepalive"
)

// The reasons the rules give for a change; user actions give "<user|admin>_<paused|stopped|
// resumed|deleted>".
const (
	ReasonKeepaliveExpired  = "keepalive_expired"
	ReasonTimeLimitWarning  = "time_limit_warning"
	ReasonTimeLimitReached  = "time_limit_reached"
	ReasonUsageLimitReached = "usage_limit_reached"
	ReasonIdleDisconnect    = "idle_disconnect"
)

// Event is one entry of a session's history and of the outbox the publisher reads.
type Event struct {
	// EventID is "<session_id>:<seq>", stable across publish retries.
	EventID      string          `json:"event_id"`
	SessionID    string          `json:"session_id"`
	UserID       string          `json:"user_id"`
	Seq          int64           `json:"seq"`
	Type         EventType       `json:"type"`
	Actor        string          `json:"actor"`
	Reason       string          `json:"reason"`
	At           time.Time       `json:"at"`
	StatusBefore Status          `json:"status_before"`
	StatusAfter  Status          `json:"status_after"`
	Detail       json.RawMessage `json:"detail,omitempty"`
}

// EventID returns the id of a session's event with sequence number seq.
func EventID(sessionID string, seq int64) string { return fmt.Sprintf("%s:%d", sessionID, seq) }

func newEvent(s Session, seq int64, typ EventType, actor, reason string, at time.Time, before, after Status) Event {
	return Event{
		EventID:      EventID(s.ID, seq),
		SessionID:    s.ID,
		UserID:       s.UserID,
		Seq:          seq,
		Type:         typ,
		Actor:        actor,
		Reason:       reason,
		At:           Millis(at),
		StatusBefore: before,
		StatusAfter:  after,
	}
}
