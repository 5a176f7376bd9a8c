package sweep_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/sweep"
)

// transitionsOnly is a sweep store whose Transition answers err; its other methods are not
// used here.
type transitionsOnly struct {
	sweep.Store
	err error
}

func (s transitionsOnly) Transition(context.Context, lifecycle.Change) error { return s.err }

// stopLog is a countdown.Timer recording the sessions stopped.
type stopLog struct{ stopped []string }

func (l *stopLog) Start(context.Context, string, time.Time, time.Time) error { return nil }

func (l *stopLog) Stop(_ context.Context, id string) error {
	l.stopped = append(l.stopped, id)
	return nil
}

func TestStopCountdowns(t *testing.T) {
	limited := lifetime(lifecycle.ActionDelete, time.Minute)
	limited.TimeLimit = time.Hour
	budgeted := func(lt lifecycle.Lifetime) lifecycle.Session {
		s, _ := lifecycle.NewSession("s1", "u1", "img", true, lt, t0)
		s.Budget, s.UsageDeadline = "per_user#u1#daily#2026-03-01", t0.Add(time.Minute)
		return s
	}
	tests := []struct {
		name    string
		change  lifecycle.Change
		err     error
		stopped string
	}{
		{name: "usage limit ends a time-limited session: stopped",
			change: lifecycle.UsageLimitReached(budgeted(limited), t0.Add(2*time.Minute)), stopped: "s1"},
		{name: "usage limit ends a session without a time limit: nothing to stop",
			change: lifecycle.UsageLimitReached(budgeted(lifetime(lifecycle.ActionDelete, time.Minute)), t0.Add(2*time.Minute))},
		{name: "the time limit itself (catch-up): the countdown finds it deleted",
			change: lifecycle.Decide(budgeted(limited), t0.Add(time.Hour))},
		{name: "the warning ends nothing",
			change: lifecycle.Decide(budgeted(limited), t0.Add(55*time.Minute))},
		{name: "a failed write stops nothing", err: errors.New("throttled"),
			change: lifecycle.UsageLimitReached(budgeted(limited), t0.Add(2*time.Minute))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			timers := &stopLog{}
			store := sweep.StopCountdowns(transitionsOnly{err: tc.err}, timers, nil)
			if err := store.Transition(context.Background(), tc.change); !errors.Is(err, tc.err) {
				t.Errorf("Transition: got %v, want %v", err, tc.err)
			}
			if got := strings.Join(timers.stopped, " "); got != tc.stopped {
				t.Errorf("stopped: got %q, want %q", got, tc.stopped)
			}
			// The same through TransitionAll, as the sweep writes a page's changes.
			timers.stopped = nil
			gw, ok := store.(sweep.GroupWriter)
			if !ok {
				t.Fatal("StopCountdowns' store is not a GroupWriter: the sweep would not group its writes")
			}
			if errs := gw.TransitionAll(context.Background(), []lifecycle.Change{tc.change}); !errors.Is(errs[0], tc.err) {
				t.Errorf("TransitionAll: got %v, want %v", errs[0], tc.err)
			}
			if got := strings.Join(timers.stopped, " "); got != tc.stopped {
				t.Errorf("stopped by TransitionAll: got %q, want %q", got, tc.stopped)
			}
		})
	}
	if s := (transitionsOnly{}); sweep.StopCountdowns(s, nil, nil) != sweep.Store(s) {
		t.Error("StopCountdowns with no timer: got a wrapper, want the store itself")
	}
}
