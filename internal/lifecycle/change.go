package lifecycle

import "time"

// Outcome names what a change does, for reports and dry runs.
type Outcome string

// The outcomes of a change.
const (
	OutcomeNone       Outcome = ""           // nothing to write
	OutcomeDelete     Outcome = "delete"     // the session becomes deleted
	OutcomeStop       Outcome = "stop"       // the session becomes stopped
	OutcomePause      Outcome = "pause"      // the session becomes paused
	OutcomeResume     Outcome = "resume"     // the session runs again
	OutcomeWarn       Outcome = "warn"       // the time-limit warning is recorded
	OutcomeDisconnect Outcome = "disconnect" // the session is marked disconnected
	OutcomeLeaveAlone Outcome = "leave"      // already in its target state: leaves the due index
	OutcomeReschedule Outcome = "reschedule" // only the due time moves
	OutcomeResync     Outcome = "resync"     // new lifetime settings from a re-sync
)

// Guard says which observed attributes a change is conditional on.
type Guard int

// The guards of a change.
const (
	// GuardObserved (sweeps): status, due time, event sequence and settings revision as
	// observed. A keepalive that landed first moved the due time, so it wins.
	GuardObserved Guard = iota
	// GuardSeq (user and admin actions, keepalive follow-ups): status and event sequence.
	GuardSeq
)

// Change is one exactly-once write to a session: the state it was decided on, the state to
// write, and the events recording it, applied all or nothing and only if the session is still
// as observed (see Guard).
type Change struct {
	Outcome Outcome
	Reason  string
	Guard   Guard
	Before  Session
	After   Session
	Events  []Event
	// At is when the change is decided (and happens).
	At time.Time
}

// None reports whether the change writes nothing.
func (c Change) None() bool { return c.Outcome == OutcomeNone }

// Ends reports whether the change deletes the session (which releases its max_kasms_per_user slot).
func (c Change) Ends() bool {
	return c.Before.Status != StatusDeleted && c.After.Status == StatusDeleted
}

// TTL is when a deleted session may be cleaned up; zero unless the change deletes the session.
func (c Change) TTL() time.Time {
	if !c.Ends() {
		return time.Time{}
	}
	return c.At.Add(FinishedRetention)
}

// changeBuilder accumulates the events of one change.
type changeBuilder struct {
	c     Change
	actor string
	now   time.Time
}

func begin(s Session, g Guard, actor string, now time.Time) *changeBuilder {
	now = Millis(now)
	return &changeBuilder{c: Change{Guard: g, Before: s, After: s, At: now}, actor: actor, now: now}
}

// event appends an event; status changes are applied to After by the caller first.
func (b *changeBuilder) event(typ EventType, reason string, before, after Status) {
	b.c.After.EventSeq++
	b.c.Events = append(b.c.Events, newEvent(b.c.After, b.c.After.EventSeq, typ, b.actor, reason, b.now, before, after))
}

// finish sets the outcome and reason and recomputes the due time.
func (b *changeBuilder) finish(o Outcome, reason string) Change {
	b.c.Outcome, b.c.Reason = o, reason
	b.c.After.DueAt = NextDue(b.c.After)
	return b.c
}

// move moves After to status to (running, paused, stopped or deleted) with the given state event
// preceded by an optional cause event.
func (b *changeBuilder) move(to Status, cause EventType, stateEvent EventType, reason string) {
	from := b.c.After.Status
	if cause != "" {
		b.event(cause, reason, from, to)
	}
	b.c.After.Status = to
	if to == StatusRunning {
		b.c.After.ExpirationReason = ""
		b.c.After.Connected = true
	} else {
		b.c.After.ExpirationReason = reason
		b.c.After.Connected = false
	}
	b.event(stateEvent, reason, from, to)
}
