package ddbstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// TestTransitionAllGroups: the expiries (deletions) of 8 sessions of 8 users are one
// transaction; each is applied once, with its events and its user's count as Transition leaves
// them. Two sessions of one user go in different transactions (a transaction writes an item
// once).
func TestTransitionAllGroups(t *testing.T) {
	users := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"}
	env := newSessionEnv(t, users...)
	ctx := context.Background()
	lt := testLifetime() // keepalive_expiration action: delete
	var cs []lifecycle.Change
	for i, u := range users {
		s := env.start(t, fmt.Sprintf("s%d", i), u, true, lt, st0)
		cs = append(cs, lifecycle.Decide(s, st0.Add(2*time.Minute)))
	}
	env.tb.ResetCalls()
	for i, err := range env.ss.TransitionAll(ctx, cs) {
		if err != nil {
			t.Errorf("change %d: %v", i, err)
		}
	}
	if n := env.tb.CallsOf("TransactWriteItems"); n != 1 {
		t.Errorf("8 expiries of 8 users sent %d transactions, want 1", n)
	}
	for i, u := range users {
		id := fmt.Sprintf("s%d", i)
		if s := env.get(t, id); s.Status != lifecycle.StatusDeleted {
			t.Errorf("%s is %s, want deleted", id, s.Status)
		}
		if got, want := env.eventTypes(t, id), []lifecycle.EventType{lifecycle.EventCreated, lifecycle.EventKeepaliveExpired, lifecycle.EventDeleted}; !equalTypes(got, want) {
			t.Errorf("%s events = %v, want %v", id, got, want)
		}
		if _, active := env.userCounts(t, u); active != 0 {
			t.Errorf("%s has %d active sessions, want 0", u, active)
		}
	}

	// Two of one user: two transactions, both applied.
	a := env.start(t, "a", "u0", true, lt, st0)
	b := env.start(t, "b", "u0", true, lt, st0)
	env.tb.ResetCalls()
	errs := env.ss.TransitionAll(ctx, []lifecycle.Change{lifecycle.Decide(a, st0.Add(2*time.Minute)), lifecycle.Decide(b, st0.Add(2*time.Minute))})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors %v", errs)
	}
	if n := env.tb.CallsOf("TransactWriteItems"); n != 2 {
		t.Errorf("2 expiries of one user sent %d transactions, want 2", n)
	}
	if _, active := env.userCounts(t, "u0"); active != 0 {
		t.Errorf("u0 has %d active sessions, want 0", active)
	}
}

// TestTransitionAllOneChanged: of a group of 4 expiries, one session was kept alive after the
// sweep read it. The group is not written; the other three are applied one by one and the kept
// alive one answers session_changed, untouched.
func TestTransitionAllOneChanged(t *testing.T) {
	users := []string{"u0", "u1", "u2", "u3"}
	env := newSessionEnv(t, users...)
	ctx := context.Background()
	lt := testLifetime()
	lt.Action = lifecycle.ActionStop
	var cs []lifecycle.Change
	for i, u := range users {
		s := env.start(t, fmt.Sprintf("s%d", i), u, true, lt, st0)
		cs = append(cs, lifecycle.Decide(s, st0.Add(2*time.Minute)))
	}
	if _, err := sessions.RunKeepalive(ctx, env.ss, "s2", "", st0.Add(90*time.Second), 0); err != nil {
		t.Fatal(err)
	}
	errs := env.ss.TransitionAll(ctx, cs)
	for i := range cs {
		id := fmt.Sprintf("s%d", i)
		if i == 2 {
			wantCode(t, errs[i], policy.KindConflict, policy.CodeSessionChanged)
			if s := env.get(t, id); s.Status != lifecycle.StatusRunning {
				t.Errorf("%s is %s, want running (kept alive)", id, s.Status)
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("%s: %v", id, errs[i])
		}
		if got, want := env.eventTypes(t, id), []lifecycle.EventType{lifecycle.EventCreated, lifecycle.EventKeepaliveExpired, lifecycle.EventStopped}; !equalTypes(got, want) {
			t.Errorf("%s events = %v, want %v", id, got, want)
		}
	}
}
