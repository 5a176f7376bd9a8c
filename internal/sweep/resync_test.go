package sweep_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/sweep"
)

func settingsOf(kv ...string) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

// TestResync checks that settings changes reach running sessions within one sweep: a group's
// settings, a user's membership, All Users, and a deleted group.
func TestResync(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.dir.EnsureAllUsers(ctx, t0, settingsOf("max_kasms_per_user", "5", "keepalive_expiration", "60")))
	for _, g := range []policy.Group{{ID: "g1", Name: "g1", Priority: 10}, {ID: "g2", Name: "g2", Priority: 20}} {
		_, err := e.dir.CreateGroup(ctx, g)
		must(err)
	}
	_, err := e.dir.ChangeSettings(ctx, "g2", policy.SettingsChange{Set: settingsOf("keepalive_expiration", "15")}, 0, "admin", t0)
	must(err)
	for _, u := range []policy.User{{ID: "u1", Username: "u1", GroupIDs: []string{"g1"}}, {ID: "u2", Username: "u2"}, {ID: "u3", Username: "u3"}} {
		_, err := e.dir.CreateUser(ctx, u)
		must(err)
	}
	svc := sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: e.clock})
	ids := map[string]string{}
	for _, u := range []string{"u1", "u2", "u3"} {
		s, err := svc.Start(ctx, u, "img", true)
		must(err)
		ids[u] = s.SessionID
	}
	sw := e.sweeper(nil)
	step := 0
	check := func(name string, change func(at time.Time), want map[string]time.Duration, wantAction lifecycle.Action) {
		t.Run(name, func(t *testing.T) {
			step++
			at := t0.Add(time.Duration(step) * time.Second)
			e.clock.Set(at)
			change(at)
			// A dry run changes nothing and keeps the marker.
			dry, err := sw.Run(ctx, sweep.Options{DryRun: true, Now: at})
			must(err)
			if dry.ResyncMarkers == 0 {
				t.Errorf("dry run saw no marker")
			}
			rep := e.sweep(t, sw, at)
			if rep.ResyncMarkers == 0 || rep.Resynced != dry.Resynced {
				t.Errorf("sweep re-synced %d sessions from %d markers; the dry run said %d", rep.Resynced, rep.ResyncMarkers, dry.Resynced)
			}
			for u, ka := range want {
				s := e.get(t, ids[u])
				// The due entry may stay early (a longer expiration leaves it where it was).
				if s.Lifetime.KeepaliveExpiration != ka || !s.ExpiresAt.Equal(s.LastKeepaliveAt.Add(ka)) || s.DueAt.IsZero() || s.DueAt.After(s.ExpiresAt) {
					t.Errorf("%s: keepalive_expiration %v expires %v due %v; want %v from the last keepalive %v, due no later",
						u, s.Lifetime.KeepaliveExpiration, s.ExpiresAt, s.DueAt, ka, s.LastKeepaliveAt)
				}
				if wantAction != "" && u == "u1" && s.Lifetime.Action != wantAction {
					t.Errorf("%s: action %s, want %s", u, s.Lifetime.Action, wantAction)
				}
			}
			if again := e.sweep(t, sw, at); again.ResyncMarkers != 0 {
				t.Errorf("markers left after the sweep: %d", again.ResyncMarkers)
			}
		})
	}
	check("group settings change", func(at time.Time) {
		_, err := e.dir.ChangeSettings(ctx, "g1", policy.SettingsChange{Set: settingsOf("keepalive_expiration", "20", "keepalive_expiration_action", `"stop"`)}, 0, "admin", at)
		must(err)
		must(e.store.MarkResync(ctx, lifecycle.ResyncGroup, "g1", at))
	}, map[string]time.Duration{"u1": 20 * time.Second, "u2": time.Minute, "u3": time.Minute}, lifecycle.ActionStop)
	check("membership change", func(at time.Time) {
		must(e.dir.AddMember(ctx, "g2", "u2", at))
		must(e.store.MarkResync(ctx, lifecycle.ResyncUser, "u2", at))
	}, map[string]time.Duration{"u1": 20 * time.Second, "u2": 15 * time.Second, "u3": time.Minute}, "")
	check("All Users change", func(at time.Time) {
		_, err := e.dir.ChangeSettings(ctx, policy.AllUsersGroupID, policy.SettingsChange{Set: settingsOf("keepalive_expiration", "90")}, 0, "admin", at)
		must(err)
		must(e.store.MarkResync(ctx, lifecycle.ResyncGroup, policy.AllUsersGroupID, at))
	}, map[string]time.Duration{"u1": 20 * time.Second, "u2": 15 * time.Second, "u3": 90 * time.Second}, "")
	check("group deleted", func(at time.Time) {
		must(e.dir.DeleteGroup(ctx, "g1", 0))
		must(e.store.MarkResync(ctx, lifecycle.ResyncGroup, "g1", at))
	}, map[string]time.Duration{"u1": 90 * time.Second, "u2": 15 * time.Second, "u3": 90 * time.Second}, lifecycle.ActionDelete)

	// Keepalives stay one request and use the new values.
	e.tb.ResetCalls()
	r, err := svc.Keepalive(ctx, lifecycle.UserActor("u2"), ids["u2"], nil)
	must(err)
	if e.tb.Calls() != 1 || !r.ExpiresAt.Equal(e.clock.Now().Add(15*time.Second)) {
		t.Errorf("keepalive after re-sync: %d requests, expires %v; want 1 and %v", e.tb.Calls(), r.ExpiresAt, e.clock.Now().Add(15*time.Second))
	}
}

// resyncRacer is the session store with a writer that changes the session just before each
// re-sync's transition: the first one with a real keepalive (losses 1), or, with losses -1,
// every one, by answering the lost race itself.
type resyncRacer struct {
	*ddbstore.SessionStore
	losses, calls int
	at            time.Time
}

func (r *resyncRacer) Transition(ctx context.Context, c lifecycle.Change) error {
	if c.Outcome != lifecycle.OutcomeResync {
		return r.SessionStore.Transition(ctx, c)
	}
	if err := r.race(ctx, c.Before.ID); err != nil {
		return err
	}
	return r.SessionStore.Transition(ctx, c)
}

// ResyncSession is the re-sync's write of a running session, raced like Transition.
func (r *resyncRacer) ResyncSession(ctx context.Context, s lifecycle.Session, lt lifecycle.Lifetime, rev int64) (bool, float64, error) {
	if err := r.race(ctx, s.ID); err != nil {
		return false, 0, err
	}
	return r.SessionStore.ResyncSession(ctx, s, lt, rev)
}

// race counts a re-sync write of session id and, before the first losses of them, lands a
// keepalive on it (the write then finds it changed); losses < 0: every write loses.
func (r *resyncRacer) race(ctx context.Context, id string) error {
	r.calls++
	switch {
	case r.losses < 0:
		return lifecycle.LostRace(id)
	case r.calls <= r.losses:
		if _, err := sessions.RunKeepalive(ctx, r.SessionStore, id, "", r.at, 0); err != nil {
			return err
		}
	}
	return nil
}

// TestResyncRetries: a re-sync whose session was kept alive between the read and the write
// applies in one write, from the keepalive's time; one whose write keeps losing the race reads
// and decides again (lifecycle.Retry) and gives up with retry_later in the report, and the
// session keeps its settings until the next run.
func TestResyncRetries(t *testing.T) {
	tests := []struct {
		name      string
		losses    int
		wantCalls int
		wantKa    time.Duration
	}{
		// The write of a running session computes the expiry on the item: a keepalive in
		// between does not make it fail, and counts (the expiry is from its time).
		{"a keepalive in between", 1, 1, 20 * time.Second},
		{"keeps losing", -1, lifecycle.MaxRaceAttempts, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			if err := e.dir.EnsureAllUsers(ctx, t0, settingsOf("max_kasms_per_user", "5", "keepalive_expiration", "60")); err != nil {
				t.Fatal(err)
			}
			if _, err := e.dir.CreateUser(ctx, policy.User{ID: "u1", Username: "u1"}); err != nil {
				t.Fatal(err)
			}
			s, err := sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: e.clock}).Start(ctx, "u1", "img", true)
			if err != nil {
				t.Fatal(err)
			}
			at := t0.Add(5 * time.Second)
			if _, err := e.dir.ChangeSettings(ctx, policy.AllUsersGroupID, policy.SettingsChange{Set: settingsOf("keepalive_expiration", "20")}, 0, "admin", at); err != nil {
				t.Fatal(err)
			}
			if err := e.store.MarkResync(ctx, lifecycle.ResyncGroup, policy.AllUsersGroupID, at); err != nil {
				t.Fatal(err)
			}
			racy := &resyncRacer{SessionStore: e.store, losses: tc.losses, at: t0.Add(2 * time.Second)}
			sw := sweep.New(sweep.Config{Store: racy, Directory: e.dir, Clock: e.clock, RacePatience: time.Nanosecond})
			rep, err := sw.Run(ctx, sweep.Options{Now: at})
			if err != nil {
				t.Fatal(err)
			}
			if racy.calls != tc.wantCalls {
				t.Errorf("%d re-sync writes, want %d", racy.calls, tc.wantCalls)
			}
			applied := tc.losses >= 0
			if gotApplied := rep.Resynced == 1 && len(rep.Errors) == 0; gotApplied != applied {
				t.Errorf("re-synced %d, errors %v; want applied %v", rep.Resynced, rep.Errors, applied)
			}
			if !applied && (len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0], "retry later")) {
				t.Errorf("errors %v, want one retry later", rep.Errors)
			}
			got := e.get(t, s.SessionID)
			if got.Lifetime.KeepaliveExpiration != tc.wantKa || !got.ExpiresAt.Equal(got.LastKeepaliveAt.Add(tc.wantKa)) {
				t.Errorf("keepalive_expiration %v, expires %v after the keepalive at %v; want %v", got.Lifetime.KeepaliveExpiration, got.ExpiresAt, got.LastKeepaliveAt, tc.wantKa)
			}
		})
	}
}
