package sessions_test

import (
	"context"
	"testing"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// keepaliveScript is a sessions.KeepaliveStore that answers writes and transitions from scripts
// (the last answer repeats) and records the writes it was asked for.
type keepaliveScript struct {
	writes      []lifecycle.KeepaliveWritten
	transitions []error
	ledger      lifecycle.BudgetLedger
	asked       []lifecycle.KeepaliveWrite
	changes     []lifecycle.Change
}

func (k *keepaliveScript) WriteKeepalive(_ context.Context, w lifecycle.KeepaliveWrite) (lifecycle.KeepaliveWritten, error) {
	k.asked = append(k.asked, w)
	return k.writes[min(len(k.asked), len(k.writes))-1], nil
}

func (k *keepaliveScript) Transition(_ context.Context, c lifecycle.Change) error {
	k.changes = append(k.changes, c)
	return k.transitions[min(len(k.changes), len(k.transitions))-1]
}

func (k *keepaliveScript) GetLedger(context.Context, string) (lifecycle.BudgetLedger, error) {
	return k.ledger, nil
}

// TestKeepaliveRetries checks the keepalive's read → decide → write loop over a scripted
// store: a session that changed between the write and what follows is written again, and one
// that keeps changing answers 503 retry_later.
func TestKeepaliveRetries(t *testing.T) {
	now := t0.Add(time.Minute)
	running := lifecycle.Session{ID: "s1", UserID: "u1", Status: lifecycle.StatusRunning, Connected: true,
		ExpiresAt: now.Add(time.Minute), Lifetime: lifecycle.Lifetime{KeepaliveExpiration: time.Minute, KeepaliveInterval: 10 * time.Second, IdleDisconnect: time.Hour}}
	refused := func(s lifecycle.Session) lifecycle.KeepaliveWritten {
		return lifecycle.KeepaliveWritten{Old: s, Found: true}
	}
	applied := lifecycle.KeepaliveWritten{Applied: true, Result: lifecycle.KeepaliveResult{ExpiresAt: now.Add(time.Minute), KeepaliveInterval: 10 * time.Second}}
	timeLimited := running
	timeLimited.TimeLimitAt = now.Add(time.Hour)
	budgeted := running
	budgeted.Budget, budgeted.UsageDeadline = "user#u1#daily", now.Add(-time.Second)
	lostRace := lifecycle.LostRace("s1")

	tests := []struct {
		name            string
		idle            time.Duration
		store           keepaliveScript
		wantWrites      int
		wantTransitions int
		wantCode        string
		want            lifecycle.KeepaliveResult
		check           func(t *testing.T, k *keepaliveScript)
	}{
		{name: "steady state: one write", store: keepaliveScript{writes: []lifecycle.KeepaliveWritten{applied}},
			wantWrites: 1, want: applied.Result},
		{name: "refused, then the session reads as extendable: written again",
			store:      keepaliveScript{writes: []lifecycle.KeepaliveWritten{refused(running), applied}},
			wantWrites: 2, want: applied.Result},
		{name: "keeps changing: retry later",
			store:      keepaliveScript{writes: []lifecycle.KeepaliveWritten{refused(running)}},
			wantWrites: lifecycle.MaxRaceAttempts, wantCode: policy.CodeRetryLater},
		{name: "idle disconnect loses a race, then is written", idle: 2 * time.Hour,
			store:      keepaliveScript{writes: []lifecycle.KeepaliveWritten{refused(running)}, transitions: []error{lostRace, nil}},
			wantWrites: 2, wantTransitions: 2,
			want: lifecycle.KeepaliveResult{ExpiresAt: running.ExpiresAt, KeepaliveInterval: 10 * time.Second, Disconnect: true}},
		{name: "idle disconnect keeps losing: retry later", idle: 2 * time.Hour,
			store:      keepaliveScript{writes: []lifecycle.KeepaliveWritten{refused(running)}, transitions: []error{lostRace}},
			wantWrites: lifecycle.MaxRaceAttempts, wantTransitions: lifecycle.MaxRaceAttempts, wantCode: policy.CodeRetryLater},
		{name: "time-limited: written again as the time-limited write",
			store:      keepaliveScript{writes: []lifecycle.KeepaliveWritten{refused(timeLimited), applied}},
			wantWrites: 2, want: applied.Result,
			check: func(t *testing.T, k *keepaliveScript) {
				if k.asked[0].TimeLimited || !k.asked[1].TimeLimited {
					t.Errorf("time-limited writes %v, %v; want false, true", k.asked[0].TimeLimited, k.asked[1].TimeLimited)
				}
			}},
		{name: "usage gate passed, budget without a ledger: usage reached, no second write",
			store:      keepaliveScript{writes: []lifecycle.KeepaliveWritten{refused(budgeted)}},
			wantWrites: 1, want: lifecycle.KeepaliveResult{ExpiresAt: running.ExpiresAt, KeepaliveInterval: 10 * time.Second, UsageReached: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.store
			got, err := sessions.RunKeepalive(context.Background(), &k, "s1", "u1", now, tc.idle)
			if tc.wantCode != "" {
				wantErr(t, err, policy.KindUnavailable, tc.wantCode, "")
			} else if err != nil || got != tc.want {
				t.Errorf("RunKeepalive = %+v, %v; want %+v", got, err, tc.want)
			}
			if len(k.asked) != tc.wantWrites || len(k.changes) != tc.wantTransitions {
				t.Errorf("%d writes and %d transitions, want %d and %d", len(k.asked), len(k.changes), tc.wantWrites, tc.wantTransitions)
			}
			for i, w := range k.asked {
				if w.SessionID != "s1" || w.UserID != "u1" || !w.Now.Equal(now) || w.Idle != tc.idle {
					t.Errorf("write %d = %+v; want s1 of u1 at %v, idle %v", i, w, now, tc.idle)
				}
			}
			if tc.check != nil {
				tc.check(t, &k)
			}
		})
	}
}

// racyStore is the session store with a writer that changes each session just before the
// service's transition: the first losses transitions fail their guard.
type racyStore struct {
	sessions.Store
	losses, calls int
}

func (r *racyStore) Transition(ctx context.Context, c lifecycle.Change) error {
	r.calls++
	if r.losses < 0 || r.calls <= r.losses {
		return lifecycle.LostRace(c.Before.ID)
	}
	return r.Store.Transition(ctx, c)
}

// TestActionRetries: an action that loses the race reads and decides again; one that keeps
// losing answers 503 retry_later and changes nothing.
func TestActionRetries(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "10"})
	e.user(t, "u1", nil)
	ctx := context.Background()
	tests := []struct {
		name       string
		losses     int
		wantCalls  int
		wantCode   string
		wantStatus lifecycle.Status
	}{
		{"loses twice, then pauses", 2, 3, "", lifecycle.StatusPaused},
		{"keeps losing", -1, lifecycle.MaxRaceAttempts, policy.CodeRetryLater, lifecycle.StatusRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.svc.Start(ctx, "u1", "img", true)
			if err != nil {
				t.Fatal(err)
			}
			racy := &racyStore{Store: e.store, losses: tc.losses}
			svc := sessions.New(sessions.Config{Store: racy, Directory: e.dir, Clock: e.clock})
			_, err = svc.Pause(ctx, lifecycle.AdminActor(), s.SessionID)
			if tc.wantCode != "" {
				wantErr(t, err, policy.KindUnavailable, tc.wantCode, "")
			} else if err != nil {
				t.Fatal(err)
			}
			if racy.calls != tc.wantCalls {
				t.Errorf("%d transitions, want %d", racy.calls, tc.wantCalls)
			}
			got, err := e.store.GetSession(ctx, s.SessionID)
			if err != nil || got.Status != tc.wantStatus {
				t.Errorf("session = %s, %v; want %s", got.Status, err, tc.wantStatus)
			}
		})
	}
}
