package sweep_test

import (
	"context"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// A keepalive extends a session without moving its Due index entry, so the entry of a session
// kept alive is early: these tests drive the sweep's correction of it (lifecycle.Decide:
// reschedule to the real expiry). Their keepalives come from a store that has never seen the
// session (as from another Lambda instance), so none moves the entry itself; the last test has
// them come from one store, which moves the entry when it is about to come due.

// coldKeepalive sends a keepalive from a session store that has never seen the session.
func (e env) coldKeepalive(t *testing.T, id string, at time.Time) {
	t.Helper()
	if _, err := sessions.RunKeepalive(context.Background(), ddbstore.Open(e.tb.Client, e.tb.Name).Sessions(), id, "u1", at, 0); err != nil {
		t.Fatalf("keepalive at %v: %v", at.Sub(t0), err)
	}
}

// TestEarlyDueEntryKeptAlive keeps a session alive every 10 s for 10 minutes (keepalive
// expiration 1 min) with a sweep every 7 s: no sweep acts on it, its due entry is never later
// than its expiry, and it is corrected about once per keepalive expiration, not once per
// keepalive.
func TestEarlyDueEntryKeptAlive(t *testing.T) {
	e := newEnv(t, "u1")
	const ka = time.Minute
	e.start(t, "s1", "u1", true, lifetime(lifecycle.ActionDelete, ka), t0)
	sw := e.sweeper(nil)
	end := t0.Add(10 * time.Minute)
	nextKeepalive, nextSweep := t0.Add(10*time.Second), t0.Add(7*time.Second)
	keepalives, rescheduled := 0, 0
	for nextKeepalive.Before(end) || nextSweep.Before(end) {
		if nextKeepalive.Before(nextSweep) {
			e.coldKeepalive(t, "s1", nextKeepalive)
			keepalives++
			nextKeepalive = nextKeepalive.Add(10 * time.Second)
			continue
		}
		rep := e.sweep(t, sw, nextSweep)
		if n := rep.Deleted + rep.Stopped + rep.Paused + rep.Expired; n != 0 {
			t.Fatalf("sweep at %v acted on a session kept alive: %+v", nextSweep.Sub(t0), rep.Actions)
		}
		rescheduled += rep.Rescheduled
		s := e.get(t, "s1")
		if s.Status != lifecycle.StatusRunning || s.DueAt.IsZero() || s.DueAt.After(s.ExpiresAt) {
			t.Fatalf("after the sweep at %v: status %s, due %v, expires %v; want running, due no later than expiry",
				nextSweep.Sub(t0), s.Status, s.DueAt.Sub(t0), s.ExpiresAt.Sub(t0))
		}
		nextSweep = nextSweep.Add(7 * time.Second)
	}
	// The entry is early after one minute's keepalives at most: corrected about every 50-60 s.
	if rescheduled < 8 || rescheduled > 12 {
		t.Errorf("%d corrections of the due entry for %d keepalives over 10 min; want about one a minute", rescheduled, keepalives)
	}
	if got := e.events(t, "s1"); got != "created" {
		t.Errorf("events = %s, want created only", got)
	}
}

// TestEarlyDueEntryStopsBeingKeptAlive keeps a session alive for a while, then stops: the
// sweeps before its real expiry only correct its entry, and the first sweep at or after the
// real expiry deletes it.
func TestEarlyDueEntryStopsBeingKeptAlive(t *testing.T) {
	const ka = time.Minute
	for _, last := range []time.Duration{30 * time.Second, 50 * time.Second, 65 * time.Second, 3*time.Minute + 5*time.Second} {
		t.Run(last.String(), func(t *testing.T) {
			e := newEnv(t, "u1")
			e.start(t, "s1", "u1", true, lifetime(lifecycle.ActionDelete, ka), t0)
			sw := e.sweeper(nil)
			for at := 10 * time.Second; at <= last; at += 10 * time.Second {
				e.coldKeepalive(t, "s1", t0.Add(at))
			}
			expiry := t0.Add(last.Truncate(10 * time.Second)).Add(ka) // the last keepalive's
			if s := e.get(t, "s1"); !s.ExpiresAt.Equal(expiry) || !s.DueAt.Before(expiry) {
				t.Fatalf("before the sweeps: expires %v due %v; want expiry at %v and an early entry", s.ExpiresAt.Sub(t0), s.DueAt.Sub(t0), expiry.Sub(t0))
			}
			// Sweeps every 7 s from the start: all but the first at or after the expiry leave it running.
			for at := t0.Add(7 * time.Second); ; at = at.Add(7 * time.Second) {
				rep := e.sweep(t, sw, at)
				s := e.get(t, "s1")
				if at.Before(expiry) {
					if s.Status != lifecycle.StatusRunning || rep.Deleted != 0 {
						t.Fatalf("sweep at %v, before the expiry at %v, deleted the session", at.Sub(t0), expiry.Sub(t0))
					}
					continue
				}
				if s.Status != lifecycle.StatusDeleted || s.ExpirationReason != lifecycle.ReasonKeepaliveExpired || rep.Expired != 1 {
					t.Fatalf("first sweep after the expiry at %v (at %v): status %s reason %q; want deleted, keepalive_expired",
						expiry.Sub(t0), at.Sub(t0), s.Status, s.ExpirationReason)
				}
				break
			}
			if got := e.events(t, "s1"); got != "created keepalive_expired deleted" {
				t.Errorf("events = %s", got)
			}
		})
	}
}

// TestSweepLosesToKeepaliveOnEarlyEntry: the sweep decides on an expired session, a keepalive
// lands before its write (moving the expiry, not the due entry): the sweep's guarded write
// fails and the session stays running — the keepalive wins, exactly as when it moved the entry.
func TestSweepLosesToKeepaliveOnEarlyEntry(t *testing.T) {
	e := newEnv(t, "u1")
	const ka = time.Minute
	e.start(t, "s1", "u1", true, lifetime(lifecycle.ActionDelete, ka), t0)
	ctx := context.Background()
	at := t0.Add(ka + time.Second)
	c := lifecycle.Decide(e.get(t, "s1"), at) // the sweep's decision: expired
	if c.Outcome != lifecycle.OutcomeDelete {
		t.Fatalf("decision = %s, want delete", c.Outcome)
	}
	// The keepalive's condition does not look at the expiry: a running session is extended.
	if _, err := sessions.RunKeepalive(ctx, e.store, "s1", "u1", at, 0); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Transition(ctx, c); policy.CodeOf(err) != policy.CodeSessionChanged {
		t.Fatalf("the sweep's stale transition = %v, want session_changed", err)
	}
	if s := e.get(t, "s1"); s.Status != lifecycle.StatusRunning || !s.ExpiresAt.Equal(at.Add(ka)) {
		t.Errorf("status %s expires %v; want running until %v", s.Status, s.ExpiresAt, at.Add(ka))
	}
}

// TestKeepaliveMovesDueEntryWhenAboutDue keeps a session alive every 10 s (keepalive interval
// 10 s, expiration 1 min) from one store, with a sweep every 7 s: the store's keepalive moves
// the entry when it is about to come due, so no sweep has anything to correct and none acts on
// the session; once the keepalives stop, the first sweep at or after the expiry deletes it.
func TestKeepaliveMovesDueEntryWhenAboutDue(t *testing.T) {
	e := newEnv(t, "u1")
	const ka = time.Minute
	lt := lifetime(lifecycle.ActionDelete, ka)
	lt.KeepaliveInterval = 10 * time.Second
	e.start(t, "s1", "u1", true, lt, t0)
	sw := e.sweeper(nil)
	ctx := context.Background()
	stop := t0.Add(5 * time.Minute) // the last keepalive
	expiry := stop.Add(ka)
	nextKeepalive, nextSweep := t0.Add(10*time.Second), t0.Add(7*time.Second)
	moves, lastDue := 0, t0.Add(ka)
	for {
		if !nextKeepalive.After(stop) && nextKeepalive.Before(nextSweep) {
			if _, err := sessions.RunKeepalive(ctx, e.store, "s1", "u1", nextKeepalive, 0); err != nil {
				t.Fatal(err)
			}
			if s := e.get(t, "s1"); !s.DueAt.Equal(lastDue) {
				moves++
				lastDue = s.DueAt
				if !s.DueAt.Equal(s.ExpiresAt) {
					t.Fatalf("the keepalive at %v moved the entry to %v, not to the expiry %v", nextKeepalive.Sub(t0), s.DueAt.Sub(t0), s.ExpiresAt.Sub(t0))
				}
			}
			nextKeepalive = nextKeepalive.Add(10 * time.Second)
			continue
		}
		rep := e.sweep(t, sw, nextSweep)
		s := e.get(t, "s1")
		if nextSweep.Before(expiry) {
			if s.Status != lifecycle.StatusRunning || rep.Deleted != 0 || s.DueAt.After(s.ExpiresAt) {
				t.Fatalf("sweep at %v: status %s due %v expires %v; want running, due no later than expiry", nextSweep.Sub(t0), s.Status, s.DueAt.Sub(t0), s.ExpiresAt.Sub(t0))
			}
			if nextSweep.Before(stop) && rep.Rescheduled != 0 {
				t.Errorf("sweep at %v corrected the entry of a session the store keeps alive", nextSweep.Sub(t0))
			}
			lastDue = s.DueAt
			nextSweep = nextSweep.Add(7 * time.Second)
			continue
		}
		if s.Status != lifecycle.StatusDeleted || rep.Expired != 1 {
			t.Fatalf("first sweep after the expiry at %v (at %v): status %s; want deleted", expiry.Sub(t0), nextSweep.Sub(t0), s.Status)
		}
		break
	}
	// 30 keepalives over 5 minutes: the entry moved about once a minute (every 4-5 keepalives), not 30 times.
	if moves < 4 || moves > 7 {
		t.Errorf("the keepalives moved the entry %d times in 5 minutes; want about once a minute", moves)
	}
}
