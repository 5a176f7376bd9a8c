package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"wspolicy/internal/countdown"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// timerLog is a countdown.Timer that records its calls.
type timerLog struct {
	mu       sync.Mutex
	calls    []string
	startErr error
}

func (l *timerLog) Start(_ context.Context, id string, warnAt, limitAt time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, fmt.Sprintf("start %s warn=%s limit=%s", id, warnAt.Format(time.RFC3339), limitAt.Format(time.RFC3339)))
	return l.startErr
}

func (l *timerLog) Stop(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, "stop "+id)
	return nil
}

func (l *timerLog) got() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.calls, "; ")
}

func TestCountdownStartAndStop(t *testing.T) {
	admin := lifecycle.AdminActor()
	type step struct {
		op   func(svc *sessions.Service, id string) error
		name string
		code string // the error code the step must fail with, "" for none
	}
	del := step{name: "delete", op: func(svc *sessions.Service, id string) error {
		_, err := svc.Delete(context.Background(), admin, id)
		return err
	}}
	delAgain := step{name: "delete again", code: policy.CodeSessionDeleted, op: del.op}
	pause := step{name: "pause", op: func(svc *sessions.Service, id string) error {
		_, err := svc.Pause(context.Background(), admin, id)
		return err
	}}
	userDel := step{name: "user delete", op: func(svc *sessions.Service, id string) error {
		_, err := svc.Delete(context.Background(), lifecycle.UserActor("u1"), id)
		return err
	}}
	tests := []struct {
		name     string
		limit    string
		startErr error
		steps    []step
		want     string // with ID for the session id
	}{
		{name: "time-limited start", limit: "3600",
			want: "start ID warn=2026-03-01T12:55:00Z limit=2026-03-01T13:00:00Z"},
		{name: "short limit: warning at half", limit: "60",
			want: "start ID warn=2026-03-01T12:00:30Z limit=2026-03-01T12:01:00Z"},
		{name: "no time limit: no countdown", limit: "0", steps: []step{del}, want: ""},
		{name: "admin delete stops it, once", limit: "3600", steps: []step{del, delAgain},
			want: "start ID warn=2026-03-01T12:55:00Z limit=2026-03-01T13:00:00Z; stop ID"},
		{name: "user delete stops it", limit: "3600", steps: []step{userDel},
			want: "start ID warn=2026-03-01T12:55:00Z limit=2026-03-01T13:00:00Z; stop ID"},
		{name: "pause keeps it (the limit counts paused time too)", limit: "3600", steps: []step{pause},
			want: "start ID warn=2026-03-01T12:55:00Z limit=2026-03-01T13:00:00Z"},
		{name: "a countdown that cannot start does not fail the session's start", limit: "3600",
			startErr: errors.New("throttled"),
			want:     "start ID warn=2026-03-01T12:55:00Z limit=2026-03-01T13:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"max_kasms_per_user": "5"})
			e.user(t, "u1", map[string]string{"session_time_limit": tc.limit, "allow_kasm_delete": "true"})
			timers := &timerLog{startErr: tc.startErr}
			svc := sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: e.clock, Countdowns: timers})
			s, err := svc.Start(context.Background(), "u1", "img", true)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			for _, st := range tc.steps {
				err := st.op(svc, s.SessionID)
				if (err != nil || st.code != "") && policy.CodeOf(err) != st.code {
					t.Fatalf("%s: got %v, want code %q", st.name, err, st.code)
				}
			}
			if got, want := timers.got(), strings.ReplaceAll(tc.want, "ID", s.SessionID); got != want {
				t.Errorf("timer calls:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// TestTimeLimitEndToEnd: a session with session_time_limit 3, kept alive every 100 ms, is
// deleted by the in-process countdown (never before 3 s), with the warning (never before 1.5 s)
// first. How late each comes depends on the machine's load, so only the order and the earliest
// times are asserted; the wait for the deletion is bounded by a generous deadline only.
func TestTimeLimitEndToEnd(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "5"})
	e.user(t, "u1", map[string]string{"session_time_limit": "3", "keepalive_expiration": "1"})
	task := countdown.NewTask(e.store, nil, nil)
	timers := countdown.NewInProcess(nil, task.Fire)
	defer timers.Close()
	svc := sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Countdowns: timers})
	ctx := context.Background()
	began := time.Now()
	s, err := svc.Start(ctx, "u1", "img", true)
	if err != nil {
		t.Fatal(err)
	}
	if s.TimeLimitExpiresAt == nil || s.TimeLimitExpiresAt.Sub(s.CreatedAt) != 3*time.Second {
		t.Fatalf("time_limit_expires_at: got %v, want created_at + 3s", s.TimeLimitExpiresAt)
	}
	var deletedAfter time.Duration
	for deletedAfter == 0 {
		if time.Since(began) > time.Minute {
			t.Fatal("the session was not deleted within a minute")
		}
		_, err := svc.Keepalive(ctx, lifecycle.UserActor("u1"), s.SessionID, nil)
		switch {
		case err == nil:
		case policy.CodeOf(err) == policy.CodeSessionDeleted:
			deletedAfter = time.Since(began)
		default:
			t.Fatalf("keepalive: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if deletedAfter < 3*time.Second {
		t.Errorf("deleted after %v, want not before the 3 s time limit", deletedAfter)
	}
	evs, err := e.store.Events(ctx, s.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, string(ev.Type))
	}
	if got, want := strings.Join(types, " "), "created time_limit_warning time_limit_reached deleted"; got != want {
		t.Errorf("events: got %q, want %q", got, want)
	}
	if len(evs) == 4 {
		warnAt, limitAt := evs[1].At.Sub(evs[0].At), evs[2].At.Sub(evs[0].At)
		if warnAt < 1500*time.Millisecond {
			t.Errorf("warning %v after the start, want not before 1.5 s (half the limit)", warnAt)
		}
		if limitAt < 3*time.Second || limitAt < warnAt {
			t.Errorf("time_limit_reached %v after the start (warning at %v), want not before 3 s and after the warning", limitAt, warnAt)
		}
		if evs[2].Actor != lifecycle.ActorCountdown {
			t.Errorf("time_limit_reached actor: got %q, want %q", evs[2].Actor, lifecycle.ActorCountdown)
		}
	}
	if timers.Pending(s.SessionID) {
		t.Error("countdown still pending after the expiry")
	}
}
