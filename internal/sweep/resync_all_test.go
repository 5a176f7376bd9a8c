package sweep_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/sweep"
)

// everyoneEnv is an env with users u00… each holding perUser sessions started at t0 under All
// Users' keepalive_expiration of 60 s; the first pinned users are also in group "pin", which
// sets 60 s too at a higher priority, so a change on All Users does not change them.
type everyoneEnv struct {
	env
	ids    []string          // every session
	owner  map[string]string // session → user
	pinned map[string]bool   // users in "pin"
}

func newEveryoneEnv(t *testing.T, users, perUser, pinned int) everyoneEnv {
	t.Helper()
	ctx := context.Background()
	e := everyoneEnv{env: newEnv(t), owner: map[string]string{}, pinned: map[string]bool{}}
	if err := e.dir.EnsureAllUsers(ctx, t0, settingsOf("max_kasms_per_user", "100", "keepalive_expiration", "60")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.CreateGroup(ctx, policy.Group{ID: "pin", Name: "pin", Priority: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.ChangeSettings(ctx, "pin", policy.SettingsChange{Set: settingsOf("keepalive_expiration", "60")}, 0, "admin", t0); err != nil {
		t.Fatal(err)
	}
	var all []lifecycle.Session
	for u := range users {
		uid := fmt.Sprintf("u%02d", u)
		groups := []string{}
		if u < pinned {
			groups = []string{"pin"}
			e.pinned[uid] = true
		}
		if _, err := e.dir.CreateUser(ctx, policy.User{ID: uid, Username: uid, GroupIDs: groups}); err != nil {
			t.Fatal(err)
		}
		res, err := sessions.ResolveUser(ctx, e.dir, uid)
		if err != nil {
			t.Fatal(err)
		}
		for i := range perUser {
			s, _ := lifecycle.NewSession(fmt.Sprintf("s_%s_%d", uid, i), uid, "img", true, lifecycle.LifetimeFrom(res), t0)
			all = append(all, s)
			e.ids = append(e.ids, s.ID)
			e.owner[s.ID] = uid
		}
	}
	if err := (seed.Loader{DB: e.tb.Client, Table: e.tb.Name, Dir: e.dir}).Sessions(ctx, all, 8); err != nil {
		t.Fatal(err)
	}
	return e
}

// changeAllUsers sets All Users' keepalive_expiration (the directory writes the marker in the
// same transaction).
func (e everyoneEnv) changeAllUsers(t *testing.T, ka string, at time.Time) {
	t.Helper()
	if _, err := e.dir.ChangeSettings(context.Background(), policy.AllUsersGroupID, policy.SettingsChange{Set: settingsOf("keepalive_expiration", ka)}, 0, "admin", at); err != nil {
		t.Fatal(err)
	}
}

// checkSettled checks every session: the unpinned carry ka, the pinned still 60 s and their
// first revision (never written); each expires ka after its last keepalive with its due entry
// at or before that.
func (e everyoneEnv) checkSettled(t *testing.T, ka time.Duration) {
	t.Helper()
	for _, id := range e.ids {
		s := e.get(t, id)
		want := ka
		if e.pinned[e.owner[id]] {
			want = time.Minute
			if s.SettingsRev != t0.UnixMilli() {
				t.Errorf("%s (pinned): settings revision %d, want %d: written although nothing changed", id, s.SettingsRev, t0.UnixMilli())
			}
		}
		if s.Lifetime.KeepaliveExpiration != want || !s.ExpiresAt.Equal(s.LastKeepaliveAt.Add(want)) || s.DueAt.IsZero() || s.DueAt.After(s.ExpiresAt) {
			t.Errorf("%s: keepalive_expiration %v, last keepalive %v, expires %v, due %v; want %v, expiry = last keepalive + it, due at or before the expiry",
				id, s.Lifetime.KeepaliveExpiration, s.LastKeepaliveAt, s.ExpiresAt, s.DueAt, want)
		}
	}
}

// TestResyncEveryonePaced changes All Users' keepalive_expiration with 120 live sessions:
// one sweep re-syncs each of the 90 whose lifetime changes once, with one write unit each (the
// due entry is left early), none of the 30 a higher-priority group pins, and takes at least
// as long as its write budget of 100 units a second allows.
func TestResyncEveryonePaced(t *testing.T) {
	e := newEveryoneEnv(t, 40, 3, 10)
	at := t0.Add(5 * time.Second)
	e.changeAllUsers(t, "90", at)
	const budget = 100
	sw := sweep.New(sweep.Config{Store: e.store, Directory: e.dir, Clock: e.clock, ResyncWriteUnits: budget})
	started := time.Now()
	rep := e.sweep(t, sw, at)
	took := time.Since(started)
	const changed = 90
	if rep.Resynced != changed || rep.ResyncUnits != changed {
		t.Errorf("re-synced %d sessions with %.1f write units, want %d with %d", rep.Resynced, rep.ResyncUnits, changed, changed)
	}
	seen := map[string]int{}
	for _, a := range rep.Actions {
		if a.Action == string(lifecycle.OutcomeResync) {
			seen[a.SessionID]++
		}
	}
	for id, n := range seen {
		if n != 1 || e.pinned[e.owner[id]] {
			t.Errorf("session %s of %s re-synced %d times, want once (and never a pinned user's)", id, e.owner[id], n)
		}
	}
	// The pacer lets a tenth of a second's budget through at once, then one unit per 1/budget s.
	if least := time.Duration(float64(changed-budget/10) / budget * float64(time.Second)); took < least {
		t.Errorf("the sweep took %v, less than the %v its write budget of %d units/s allows", took, least, budget)
	}
	e.checkSettled(t, 90*time.Second)
	if again := e.sweep(t, sw, at); again.ResyncMarkers != 0 || again.Resynced != 0 {
		t.Errorf("a second sweep found %d markers and re-synced %d sessions, want none", again.ResyncMarkers, again.Resynced)
	}
}

// racingStore runs race(session) just before the sweep's first re-sync write of each session:
// the sweep writes from an image that is already stale.
type racingStore struct {
	sweep.Store
	race func(lifecycle.Session)
	mu   sync.Mutex
	done map[string]bool
}

func (r *racingStore) ResyncSession(ctx context.Context, s lifecycle.Session, lt lifecycle.Lifetime, rev int64) (bool, float64, error) {
	r.mu.Lock()
	first := !r.done[s.ID]
	r.done[s.ID] = true
	r.mu.Unlock()
	if first {
		r.race(s)
	}
	return r.Store.ResyncSession(ctx, s, lt, rev)
}

// TestResyncRacesKeepaliveAndStop re-syncs every session with, between the sweep's read and its
// write, a keepalive on two sessions in three and a stop on the third, for a longer
// keepalive_expiration (the due entry stays) then a shorter one (it moves): no keepalive is
// lost (the expiry counts from it, with the new value), and no stopped session runs again.
func TestResyncRacesKeepaliveAndStop(t *testing.T) {
	e := newEveryoneEnv(t, 12, 3, 0)
	ctx := context.Background()
	svc := sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: e.clock})
	stopped := map[string]bool{}
	for i, id := range e.ids {
		stopped[id] = i%3 == 2
	}
	for step, c := range []struct {
		ka   string
		want time.Duration
	}{{"90", 90 * time.Second}, {"30", 30 * time.Second}} {
		at := t0.Add(time.Duration(10*(step+1)) * time.Second)
		kept := at.Add(2 * time.Second)
		e.clock.Set(at)
		e.changeAllUsers(t, c.ka, at)
		rs := &racingStore{Store: e.store, done: map[string]bool{}, race: func(s lifecycle.Session) {
			switch {
			case !stopped[s.ID]:
				e.clock.Set(kept)
				if _, err := svc.Keepalive(ctx, lifecycle.UserActor(s.UserID), s.ID, nil); err != nil {
					t.Errorf("keepalive %s: %v", s.ID, err)
				}
			case step == 0:
				c, err := lifecycle.Act(s, lifecycle.OpStop, lifecycle.AdminActor(), lifecycle.Permissions{}, at)
				if err == nil {
					err = e.store.Transition(ctx, c)
				}
				if err != nil {
					t.Errorf("stop %s: %v", s.ID, err)
				}
			}
		}}
		sw := sweep.New(sweep.Config{Store: rs, Directory: e.dir, Clock: e.clock, Workers: 8})
		e.sweep(t, sw, at)
		for _, id := range e.ids {
			s := e.get(t, id)
			if stopped[id] {
				// Seeded sessions have no created event: the stop is their only one.
				if s.Status != lifecycle.StatusStopped || e.events(t, id) != "stopped" {
					t.Errorf("%s: status %s, events %q; want stopped once and never running again", id, s.Status, e.events(t, id))
				}
				continue
			}
			if s.Status != lifecycle.StatusRunning || !s.LastKeepaliveAt.Equal(kept) || s.Lifetime.KeepaliveExpiration != c.want ||
				!s.ExpiresAt.Equal(kept.Add(c.want)) || s.DueAt.IsZero() || s.DueAt.After(s.ExpiresAt) {
				t.Errorf("after %s s: %s is %s, last keepalive %v, keepalive_expiration %v, expires %v, due %v; want running, kept alive at %v, %v, expiring at %v, due no later",
					c.ka, id, s.Status, s.LastKeepaliveAt, s.Lifetime.KeepaliveExpiration, s.ExpiresAt, s.DueAt, kept, c.want, kept.Add(c.want))
			}
		}
	}
}

// crashingResync ends the run's context once after of its re-sync writes applied.
type crashingResync struct {
	sweep.Store
	after   int64
	applied atomic.Int64
	crash   context.CancelFunc
	pages   atomic.Int64
}

func (c *crashingResync) ResyncSession(ctx context.Context, s lifecycle.Session, lt lifecycle.Lifetime, rev int64) (bool, float64, error) {
	ok, units, err := c.Store.ResyncSession(ctx, s, lt, rev)
	if ok && c.crash != nil && c.applied.Add(1) == c.after {
		c.crash()
	}
	return ok, units, err
}

// SaveResyncCursor is not cut by the crash: a save whose request was sent when the context ended
// could land on the table after Run returned, and the test would count the shards done too early.
func (c *crashingResync) SaveResyncCursor(ctx context.Context, m lifecycle.ResyncMarker, shard int, cursor string) error {
	return c.Store.SaveResyncCursor(context.WithoutCancel(ctx), m, shard, cursor)
}

func (c *crashingResync) ResyncPage(ctx context.Context, shard int, tok string) (lifecycle.Page, error) {
	c.pages.Add(1)
	return c.Store.ResyncPage(ctx, shard, tok)
}

func (c *crashingResync) ResyncParkedPage(ctx context.Context, tok string) (lifecycle.Page, error) {
	c.pages.Add(1)
	return c.Store.ResyncParkedPage(ctx, tok)
}

// TestResyncEveryoneCrashesHalfWay crashes a re-sync of 200 sessions with 5 left (others in
// flight), then runs a second sweep: it reads only the shards the first did not save as done,
// every session carries the new settings, none was written twice, and the marker is gone. Two sweeps
// that overlap re-sync each session once between them.
func TestResyncEveryoneCrashesHalfWay(t *testing.T) {
	const n = 200
	e := newEveryoneEnv(t, 50, 4, 0)
	at := t0.Add(5 * time.Second)
	e.changeAllUsers(t, "90", at)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := &crashingResync{Store: e.store, after: n - 5, crash: cancel}
	cfg := sweep.Config{Store: first, Directory: e.dir, Clock: e.clock, Workers: 32, ResyncWriteUnits: sweep.MaxResyncWriteUnits}
	r1, err := sweep.New(cfg).Run(ctx, sweep.Options{Now: at})
	if err == nil {
		t.Fatal("the crashed sweep returned no error")
	}
	markers, err := e.store.ResyncMarkers(context.Background())
	if err != nil || len(markers) != 1 {
		t.Fatalf("after the crash: markers %v, %v; want the one left", markers, err)
	}
	done := 0
	for _, c := range markers[0].Cursors {
		if c == lifecycle.ResyncShardDone {
			done++
		}
	}
	if done == 0 {
		t.Errorf("no shard saved as done after %d of %d sessions", n-5, n)
	}
	second := &crashingResync{Store: e.store}
	cfg.Store = second
	r2 := e.sweep(t, sweep.New(cfg), at)
	// Every due shard, and the parked sessions', fits in one page here.
	if got, want := second.pages.Load(), int64(e.store.DueShards()+1-done); got != want {
		t.Errorf("the second sweep read %d pages, want %d (one per shard not done)", got, want)
	}
	// Writes in flight at the crash may have been applied with their answer lost: the second
	// sweep finds those sessions settled and leaves them.
	if r1.Resynced < n-5 || r1.Resynced+r2.Resynced > n {
		t.Errorf("re-synced %d then %d, want at least %d in the first and at most %d in all", r1.Resynced, r2.Resynced, n-5, n)
	}
	e.checkSettled(t, 90*time.Second)
	if left, _ := e.store.ResyncMarkers(context.Background()); len(left) != 0 {
		t.Errorf("markers left: %v", left)
	}

	// Overlapping sweeps: both read everything, each session is written by one of them.
	e.changeAllUsers(t, "120", at.Add(time.Second))
	var wg sync.WaitGroup
	reps := make([]sweep.Report, 2)
	for i := range reps {
		wg.Go(func() {
			var err error
			reps[i], err = sweep.New(sweep.Config{Store: e.store, Directory: e.dir, Clock: e.clock}).Run(context.Background(), sweep.Options{Now: at.Add(time.Second)})
			if err != nil || len(reps[i].Errors) > 0 {
				t.Errorf("overlapping sweep %d: %v %v", i, err, reps[i].Errors)
			}
		})
	}
	wg.Wait()
	if reps[0].Resynced+reps[1].Resynced != n {
		t.Errorf("overlapping sweeps re-synced %d and %d, want %d in all", reps[0].Resynced, reps[1].Resynced, n)
	}
	e.checkSettled(t, 120*time.Second)
}

// TestResyncEveryoneReachesParkedSessions changes All Users' keepalive_expiration_action from
// stop to delete while a session is stopped (outside the Due index, in its target state): the
// re-sync reaches it through the parked sessions' pass and puts it back in the Due index, due at
// its expiry, where the sweep will delete it.
func TestResyncEveryoneReachesParkedSessions(t *testing.T) {
	e := newEveryoneEnv(t, 4, 1, 0)
	ctx := context.Background()
	at := t0.Add(time.Second)
	set := func(action string, at time.Time) {
		t.Helper()
		if _, err := e.dir.ChangeSettings(ctx, policy.AllUsersGroupID, policy.SettingsChange{Set: settingsOf("keepalive_expiration_action", action)}, 0, "admin", at); err != nil {
			t.Fatal(err)
		}
		e.sweep(t, e.sweeper(nil), at)
	}
	set(`"stop"`, at)
	parked := e.ids[0]
	e.act(t, parked, lifecycle.OpStop, at)
	if s := e.get(t, parked); s.Status != lifecycle.StatusStopped || !s.DueAt.IsZero() {
		t.Fatalf("after the stop: %s due %v, want stopped and outside the Due index", s.Status, s.DueAt)
	}
	set(`"delete"`, at.Add(time.Second))
	for _, id := range e.ids {
		s := e.get(t, id)
		if s.Lifetime.Action != lifecycle.ActionDelete || s.DueAt.IsZero() || s.DueAt.After(s.ExpiresAt) {
			t.Errorf("%s (%s): action %s, due %v, expires %v; want delete, due at or before the expiry", id, s.Status, s.Lifetime.Action, s.DueAt, s.ExpiresAt)
		}
	}
}
