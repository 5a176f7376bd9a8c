package lifecycle

import (
	"testing"
	"time"
)

func charged(key string) func(*Session) {
	return func(s *Session) { s.Budget = key; s.DueAt = NextDue(*s) }
}

// TestBudgetedUsageDeadline checks that the usage deadline of a session charged to a budget
// is only the keepalive's gate: neither the due time nor the sweep's decision uses it.
func TestBudgetedUsageDeadline(t *testing.T) {
	exp := t0.Add(time.Hour)
	tests := []struct {
		name        string
		s           Session
		now         time.Time
		wantDue     time.Time
		wantOutcome Outcome
	}{
		{"unbudgeted: the deadline is due and deletes", session(usageDeadline(t0.Add(time.Minute))), t0.Add(time.Minute), t0.Add(time.Minute), OutcomeDelete},
		{"budgeted: the expiry is due, the deadline is not", session(usageDeadline(t0.Add(time.Minute)), charged("user#u1#daily")), t0.Add(time.Minute), exp, OutcomeNone},
		{"budgeted stopped session left alone: nothing due", session(status(StatusStopped), action(ActionStop), usageDeadline(t0.Add(time.Minute)), charged("user#u1#daily")),
			t0.Add(2 * time.Minute), time.Time{}, OutcomeNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextDue(tc.s); !got.Equal(tc.wantDue) {
				t.Errorf("NextDue() = %v, want %v", got, tc.wantDue)
			}
			if got := Decide(tc.s, tc.now).Outcome; got != tc.wantOutcome {
				t.Errorf("Decide() outcome = %q, want %q", got, tc.wantOutcome)
			}
		})
	}
}

func TestUsageLimitReached(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	tests := []struct {
		name       string
		s          Session
		want       Outcome
		wantEvents []EventType
	}{
		{"running", session(charged("group#g#daily")), OutcomeDelete, []EventType{EventUsageLimitReached, EventDeleted}},
		{"paused", session(charged("group#g#daily"), status(StatusPaused)), OutcomeDelete, []EventType{EventUsageLimitReached, EventDeleted}},
		{"stopped and out of the due index", session(action(ActionStop), status(StatusStopped), charged("group#g#daily")), OutcomeDelete, []EventType{EventUsageLimitReached, EventDeleted}},
		{"deleted: nothing", session(charged("group#g#daily"), status(StatusDeleted)), OutcomeNone, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := UsageLimitReached(tc.s, now)
			if c.Outcome != tc.want {
				t.Fatalf("outcome = %q, want %q", c.Outcome, tc.want)
			}
			if got := eventTypes(c); !sameTypes(got, tc.wantEvents) {
				t.Errorf("events = %v, want %v", got, tc.wantEvents)
			}
			if c.None() {
				return
			}
			if c.After.Status != StatusDeleted || c.After.ExpirationReason != ReasonUsageLimitReached || !c.After.DueAt.IsZero() ||
				c.Guard != GuardObserved || !c.Ends() || c.Events[0].Actor != ActorSweep || c.Events[0].StatusBefore != tc.s.Status {
				t.Errorf("change = %+v", c)
			}
		})
	}
}
