package sweep_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbstore/storetest"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/sweep"
	"wspolicy/internal/tabledef"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	tb    *ddbtest.Table
	clock *policy.FixedClock
	dir   *ddbstore.Store
	store *ddbstore.SessionStore
}

func newEnv(t *testing.T, users ...string) env {
	t.Helper()
	se := storetest.New(t, users...)
	e := env{tb: se.TB, clock: &policy.FixedClock{T: t0}, dir: se.Dir, store: se.Sessions}
	return e
}

// sweeper returns a sweeper on store (the env's store when nil).
func (e env) sweeper(store sweep.Store) *sweep.Sweeper {
	if store == nil {
		store = e.store
	}
	return sweep.New(sweep.Config{Store: store, Directory: e.dir, Clock: e.clock})
}

func lifetime(action lifecycle.Action, ka time.Duration) lifecycle.Lifetime {
	return lifecycle.Lifetime{KeepaliveExpiration: ka, Action: action, KeepaliveInterval: time.Second,
		IdleDisconnect: time.Hour, MaxSessions: 1000}
}

func (e env) start(t *testing.T, id, user string, container bool, lt lifecycle.Lifetime, at time.Time) lifecycle.Session {
	t.Helper()
	s, ev := lifecycle.NewSession(id, user, "img", container, lt, at)
	if err := ddbtest.StartSession(context.Background(), e.store, s, ev); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return s
}

func (e env) get(t *testing.T, id string) lifecycle.Session {
	t.Helper()
	s, err := e.store.GetSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e env) events(t *testing.T, id string) string {
	t.Helper()
	evs, err := e.store.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for i, ev := range evs {
		if i > 0 {
			out += " "
		}
		out += string(ev.Type)
	}
	return out
}

func (e env) sweep(t *testing.T, s *sweep.Sweeper, now time.Time) sweep.Report {
	t.Helper()
	rep, err := s.Run(context.Background(), sweep.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("sweep errors: %v", rep.Errors)
	}
	return rep
}

func (e env) act(t *testing.T, id string, op lifecycle.Op, at time.Time) {
	t.Helper()
	c, err := lifecycle.Act(e.get(t, id), op, lifecycle.AdminActor(), lifecycle.Permissions{}, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Transition(context.Background(), c); err != nil {
		t.Fatal(err)
	}
}

func TestExpiryActions(t *testing.T) {
	const ka = 10 * time.Second
	tests := []struct {
		name       string
		container  bool
		action     lifecycle.Action
		before     lifecycle.Op // applied by an admin before expiry; "" for none
		wantStatus lifecycle.Status
		wantEvents string
		wantReport func(sweep.Report) int // the counter that must be 1
	}{
		{"container, delete", true, lifecycle.ActionDelete, "", lifecycle.StatusDeleted, "created keepalive_expired deleted", func(r sweep.Report) int { return r.Deleted }},
		{"container, stop", true, lifecycle.ActionStop, "", lifecycle.StatusStopped, "created keepalive_expired stopped", func(r sweep.Report) int { return r.Stopped }},
		{"container, pause", true, lifecycle.ActionPause, "", lifecycle.StatusPaused, "created keepalive_expired paused", func(r sweep.Report) int { return r.Paused }},
		{"non-container, delete", false, lifecycle.ActionDelete, "", lifecycle.StatusDeleted, "created keepalive_expired deleted", func(r sweep.Report) int { return r.Deleted }},
		{"non-container, stop deletes", false, lifecycle.ActionStop, "", lifecycle.StatusDeleted, "created keepalive_expired deleted", func(r sweep.Report) int { return r.Deleted }},
		{"non-container, pause deletes", false, lifecycle.ActionPause, "", lifecycle.StatusDeleted, "created keepalive_expired deleted", func(r sweep.Report) int { return r.Deleted }},
		{"paused container, stop", true, lifecycle.ActionStop, lifecycle.OpPause, lifecycle.StatusStopped, "created paused keepalive_expired stopped", func(r sweep.Report) int { return r.Stopped }},
		{"paused container, delete", true, lifecycle.ActionDelete, lifecycle.OpPause, lifecycle.StatusDeleted, "created paused keepalive_expired deleted", func(r sweep.Report) int { return r.Deleted }},
		{"stopped container, delete", true, lifecycle.ActionDelete, lifecycle.OpStop, lifecycle.StatusDeleted, "created stopped keepalive_expired deleted", func(r sweep.Report) int { return r.Deleted }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "u1")
			e.start(t, "s1", "u1", tc.container, lifetime(tc.action, ka), t0)
			if tc.before != "" {
				e.act(t, "s1", tc.before, t0.Add(time.Second))
			}
			sw := e.sweeper(nil)
			if rep := e.sweep(t, sw, t0.Add(ka-time.Millisecond)); rep.Examined != 0 {
				t.Errorf("before expiry the sweep examined %d sessions", rep.Examined)
			}
			rep := e.sweep(t, sw, t0.Add(ka))
			if rep.Examined != 1 || rep.Expired != 1 || tc.wantReport(rep) != 1 {
				t.Errorf("report = %+v, want one expiry", rep)
			}
			s := e.get(t, "s1")
			if s.Status != tc.wantStatus || s.ExpirationReason != lifecycle.ReasonKeepaliveExpired || !s.DueAt.IsZero() {
				t.Errorf("after the sweep: status %s reason %q due %v; want %s, keepalive_expired, not due", s.Status, s.ExpirationReason, s.DueAt, tc.wantStatus)
			}
			if got := e.events(t, "s1"); got != tc.wantEvents {
				t.Errorf("events = %q, want %q", got, tc.wantEvents)
			}
			// Later sweeps do nothing more.
			if rep := e.sweep(t, sw, t0.Add(100*ka)); rep.Examined != 0 {
				t.Errorf("a later sweep examined %d sessions", rep.Examined)
			}
			if got := e.events(t, "s1"); got != tc.wantEvents {
				t.Errorf("events after a later sweep = %q, want %q", got, tc.wantEvents)
			}
		})
	}
}

// TestAlreadyInTargetState checks that a session already in (or past) its target state is left
// alone, leaves the due index, and is not expired again until resumed.
func TestAlreadyInTargetState(t *testing.T) {
	tests := []struct {
		name   string
		action lifecycle.Action
		op     lifecycle.Op
		want   lifecycle.Status
	}{
		{"stopped, action stop", lifecycle.ActionStop, lifecycle.OpStop, lifecycle.StatusStopped},
		{"paused, action pause", lifecycle.ActionPause, lifecycle.OpPause, lifecycle.StatusPaused},
		{"stopped, action pause", lifecycle.ActionPause, lifecycle.OpStop, lifecycle.StatusStopped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "u1")
			e.start(t, "s1", "u1", true, lifetime(tc.action, 10*time.Second), t0)
			e.act(t, "s1", tc.op, t0.Add(time.Second))
			sw := e.sweeper(nil)
			for _, at := range []time.Duration{10 * time.Second, time.Hour} {
				rep := e.sweep(t, sw, t0.Add(at))
				if rep.Expired != 0 || rep.Examined != 0 {
					t.Errorf("sweep at +%v = %+v, want nothing examined", at, rep)
				}
			}
			want := "created " + map[lifecycle.Op]string{lifecycle.OpStop: "stopped", lifecycle.OpPause: "paused"}[tc.op]
			if s := e.get(t, "s1"); s.Status != tc.want || e.events(t, "s1") != want {
				t.Errorf("status %s events %q, want %s, %q", s.Status, e.events(t, "s1"), tc.want, want)
			}
			// Resumed, it expires again.
			e.act(t, "s1", lifecycle.OpResume, t0.Add(2*time.Hour))
			rep := e.sweep(t, sw, t0.Add(2*time.Hour+10*time.Second))
			if rep.Expired != 1 {
				t.Errorf("after resume: report %+v, want one expiry", rep)
			}
		})
	}
}

func TestTimeLimitAndUsageDeadline(t *testing.T) {
	e := newEnv(t, "u1")
	lt := lifetime(lifecycle.ActionDelete, 10*time.Second)
	lt.TimeLimit = 4 * time.Second
	e.start(t, "limited", "u1", true, lt, t0)
	s, ev := lifecycle.NewSession("budget", "u1", "img", true, lifetime(lifecycle.ActionStop, time.Hour), t0)
	s.UsageDeadline = t0.Add(3 * time.Second) // a deadline of its own, not a budget ledger's (see usage_test.go)
	s.DueAt = lifecycle.NextDue(s)
	if err := ddbtest.StartSession(context.Background(), e.store, s, ev); err != nil {
		t.Fatal(err)
	}
	sw := e.sweeper(nil)
	// Keepalives do not move a time-limited session's expiry.
	if _, err := sessions.RunKeepalive(context.Background(), e.store, "limited", "", t0.Add(time.Second), 0); err != nil {
		t.Fatal(err)
	}
	if rep := e.sweep(t, sw, t0.Add(2*time.Second)); rep.Warned != 1 {
		t.Errorf("at the warning: %+v", rep)
	}
	if rep := e.sweep(t, sw, t0.Add(3*time.Second)); rep.Deleted != 1 {
		t.Errorf("at the usage deadline: %+v", rep)
	}
	if rep := e.sweep(t, sw, t0.Add(4*time.Second)); rep.Deleted != 1 {
		t.Errorf("at the time limit: %+v", rep)
	}
	tests := []struct{ id, events, reason string }{
		{"limited", "created time_limit_warning time_limit_reached deleted", lifecycle.ReasonTimeLimitReached},
		{"budget", "created usage_limit_reached deleted", lifecycle.ReasonUsageLimitReached},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if got := e.events(t, tc.id); got != tc.events {
				t.Errorf("events = %q, want %q", got, tc.events)
			}
			if s := e.get(t, tc.id); s.Status != lifecycle.StatusDeleted || s.ExpirationReason != tc.reason {
				t.Errorf("status %s reason %q, want deleted %s", s.Status, s.ExpirationReason, tc.reason)
			}
		})
	}
}

// gateStore holds every transition of the sweeps until all of them have read every shard, so
// that they truly overlap; it can also run a hook after the due list was read.
type gateStore struct {
	sweep.Store
	reads     atomic.Int64
	readsDone int64
	open      chan struct{}
	once      sync.Once
	afterRead func()
	hookOnce  sync.Once
}

func newGate(s sweep.Store, sweeps int) *gateStore {
	return &gateStore{Store: s, readsDone: int64(sweeps * tabledef.DueShards), open: make(chan struct{})}
}

func (g *gateStore) DueItems(ctx context.Context, now time.Time, shard int, tok string) (lifecycle.DuePage, error) {
	p, err := g.Store.DueItems(ctx, now, shard, tok)
	if g.reads.Add(1) >= g.readsDone {
		g.once.Do(func() { close(g.open) })
	}
	return p, err
}

func (g *gateStore) Transition(ctx context.Context, c lifecycle.Change) error {
	if err := g.wait(); err != nil {
		return err
	}
	return g.Store.Transition(ctx, c)
}

// TransitionAll is the store's, behind the gate: the sweeps group their writes as in production.
func (g *gateStore) TransitionAll(ctx context.Context, cs []lifecycle.Change) []error {
	if err := g.wait(); err != nil {
		errs := make([]error, len(cs))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	return g.Store.(sweep.GroupWriter).TransitionAll(ctx, cs)
}

// wait holds a write until the gate opens, then runs the hook once.
func (g *gateStore) wait() error {
	select {
	case <-g.open:
	case <-time.After(10 * time.Second):
		return errors.New("gate never opened")
	}
	if g.afterRead != nil {
		g.hookOnce.Do(g.afterRead)
	}
	return nil
}

func TestTwoSweepsAtOnce(t *testing.T) {
	e := newEnv(t, "u1")
	const n = 10
	for i := range n {
		e.start(t, fmt.Sprintf("s%02d", i), "u1", true, lifetime(lifecycle.ActionStop, 10*time.Second), t0)
	}
	gate := newGate(e.store, 2)
	var wg sync.WaitGroup
	reps := make([]sweep.Report, 2)
	for i := range 2 {
		wg.Go(func() { reps[i] = e.sweep(t, e.sweeper(gate), t0.Add(time.Minute)) })
	}
	wg.Wait()
	if got := reps[0].Stopped + reps[1].Stopped; got != n {
		t.Errorf("stopped %d + %d, want %d in all", reps[0].Stopped, reps[1].Stopped, n)
	}
	if got := reps[0].Skipped + reps[1].Skipped; got != n {
		t.Errorf("skipped %d + %d, want %d in all (each session examined by both)", reps[0].Skipped, reps[1].Skipped, n)
	}
	for i := range n {
		if got := e.events(t, fmt.Sprintf("s%02d", i)); got != "created keepalive_expired stopped" {
			t.Errorf("s%02d events = %q, want one expiry", i, got)
		}
	}
}

// TestSweepRetriedAfterCrash simulates a sweep that decided on every due session, applied half
// of its changes and crashed: a new sweep applies the rest, and the crashed sweep's changes,
// retried, are all refused.
func TestSweepRetriedAfterCrash(t *testing.T) {
	e := newEnv(t, "u1")
	const n = 8
	for i := range n {
		e.start(t, fmt.Sprintf("s%02d", i), "u1", i%2 == 0, lifetime(lifecycle.ActionStop, 10*time.Second), t0)
	}
	now := t0.Add(time.Minute)
	ctx := context.Background()
	var changes []lifecycle.Change
	for shard := range tabledef.DueShards {
		p, err := e.store.DueSessions(ctx, now, shard, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range p.Sessions {
			changes = append(changes, lifecycle.Decide(s, now))
		}
	}
	if len(changes) != n {
		t.Fatalf("decided on %d sessions, want %d", len(changes), n)
	}
	for _, c := range changes[:n/2] {
		if err := e.store.Transition(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	rep := e.sweep(t, e.sweeper(nil), now)
	if rep.Examined != n/2 || rep.Stopped+rep.Deleted != n/2 {
		t.Errorf("retry sweep = %+v, want the other %d", rep, n/2)
	}
	for _, c := range changes {
		if err := e.store.Transition(ctx, c); policy.CodeOf(err) != policy.CodeSessionChanged {
			t.Errorf("replayed change of %s: %v, want session_changed", c.Before.ID, err)
		}
	}
	for i := range n {
		want := "created keepalive_expired " + map[bool]string{true: "stopped", false: "deleted"}[i%2 == 0]
		if got := e.events(t, fmt.Sprintf("s%02d", i)); got != want {
			t.Errorf("s%02d events = %q, want %q", i, got, want)
		}
	}
}

// TestKeepaliveBeforeSweepWrite forces the interleaving: the sweep reads the due list, a
// keepalive lands, the sweep applies: it is skipped and the session stays running.
func TestKeepaliveBeforeSweepWrite(t *testing.T) {
	e := newEnv(t, "u1")
	e.start(t, "s1", "u1", true, lifetime(lifecycle.ActionDelete, 10*time.Second), t0)
	gate := newGate(e.store, 1)
	var kaErr error
	gate.afterRead = func() {
		_, kaErr = sessions.RunKeepalive(context.Background(), e.store, "s1", "u1", t0.Add(9*time.Second), 0)
	}
	rep := e.sweep(t, e.sweeper(gate), t0.Add(10*time.Second))
	if kaErr != nil {
		t.Fatal(kaErr)
	}
	if rep.Examined != 1 || rep.Skipped != 1 || rep.Deleted != 0 {
		t.Errorf("report = %+v, want examined 1, skipped 1", rep)
	}
	s := e.get(t, "s1")
	if s.Status != lifecycle.StatusRunning || !s.ExpiresAt.Equal(t0.Add(19*time.Second)) || e.events(t, "s1") != "created" {
		t.Errorf("session = %s expiring %v, events %q; want running until %v, created only", s.Status, s.ExpiresAt, e.events(t, "s1"), t0.Add(19*time.Second))
	}
}

func TestDryRun(t *testing.T) {
	e := newEnv(t, "u1")
	e.start(t, "del", "u1", false, lifetime(lifecycle.ActionDelete, 10*time.Second), t0)
	e.start(t, "stop", "u1", true, lifetime(lifecycle.ActionStop, 10*time.Second), t0)
	e.start(t, "alive", "u1", true, lifetime(lifecycle.ActionStop, time.Hour), t0)
	before := map[string]lifecycle.Session{}
	for _, id := range []string{"del", "stop", "alive"} {
		before[id] = e.get(t, id)
	}
	rep, err := e.sweeper(nil).Run(context.Background(), sweep.Options{DryRun: true, Now: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.DryRun || rep.Examined != 2 || rep.Deleted != 1 || rep.Stopped != 1 || len(rep.Actions) != 2 {
		t.Errorf("dry run report = %+v", rep)
	}
	got := map[string]string{}
	for _, a := range rep.Actions {
		got[a.SessionID] = a.Action + "/" + a.Reason
	}
	if got["del"] != "delete/keepalive_expired" || got["stop"] != "stop/keepalive_expired" {
		t.Errorf("actions = %v", got)
	}
	for id, b := range before {
		s := e.get(t, id)
		if s.Status != b.Status || s.EventSeq != b.EventSeq || !s.DueAt.Equal(b.DueAt) || e.events(t, id) != "created" {
			t.Errorf("%s changed by a dry run: %+v", id, s)
		}
	}
	bs, _ := json.Marshal(rep)
	if len(bs) == 0 {
		t.Errorf("report does not marshal")
	}
}

// TestSweepReadsOnlyDue starts 200 live sessions of which 20 are due: the sweep reads 20 items.
func TestSweepReadsOnlyDue(t *testing.T) {
	e := newEnv(t, "u1")
	const live, due = 200, 20
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range live + due {
		ka := time.Hour
		if i < due {
			ka = 10 * time.Second
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			e.start(t, fmt.Sprintf("s%03d", i), "u1", false, lifetime(lifecycle.ActionDelete, ka), t0)
		})
	}
	wg.Wait()
	e.tb.ResetCalls()
	rep := e.sweep(t, e.sweeper(nil), t0.Add(time.Minute))
	if rep.ItemsRead != due || rep.Examined != due || rep.Deleted != due {
		t.Errorf("report = read %d, examined %d, deleted %d; want %d each", rep.ItemsRead, rep.Examined, rep.Deleted, due)
	}
	// One read of the re-sync markers, one query per shard (its keys-only Due index page), one
	// BatchGetItem of the due items per shard page that has any, one transaction per due session.
	if got, want := e.tb.Calls(), int64(1+tabledef.DueShards+min(due, tabledef.DueShards)+due); got > want {
		t.Errorf("the sweep sent %d requests, want at most %d", got, want)
	}
}

// failingStore fails the first transition of one session.
type failingStore struct {
	sweep.Store
	id   string
	done atomic.Bool
}

func (f *failingStore) Transition(ctx context.Context, c lifecycle.Change) error {
	if c.Before.ID == f.id && f.done.CompareAndSwap(false, true) {
		return errors.New("injected failure")
	}
	return f.Store.Transition(ctx, c)
}

func TestSweepContinuesPastFailures(t *testing.T) {
	e := newEnv(t, "u1")
	for i := range 4 {
		e.start(t, fmt.Sprintf("s%d", i), "u1", false, lifetime(lifecycle.ActionDelete, 10*time.Second), t0)
	}
	sw := e.sweeper(&failingStore{Store: e.store, id: "s2"})
	rep, err := sw.Run(context.Background(), sweep.Options{Now: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 3 || len(rep.Errors) != 1 {
		t.Errorf("first run = deleted %d, errors %v; want 3 and one error", rep.Deleted, rep.Errors)
	}
	rep = e.sweep(t, sw, t0.Add(time.Minute))
	if rep.Deleted != 1 || rep.Examined != 1 {
		t.Errorf("next run = %+v, want the failed one deleted", rep)
	}
}

// TestConcurrentKeepalivesAndSweeps runs 10 goroutines sending keepalives to 50 sessions while
// two sweeps run continuously, on a fake clock that advances a second per round. Sessions kept
// alive every round must never expire; sessions kept alive irregularly may expire, but never
// before their expiry and exactly once; sessions never kept alive must all expire.
func TestConcurrentKeepalivesAndSweeps(t *testing.T) {
	e := newEnv(t, "u1")
	const ka = 3 * time.Second
	const rounds = 12
	type group struct {
		name  string
		ids   []string
		every float64 // probability of a keepalive in a round
	}
	groups := []*group{{name: "kept", every: 1}, {name: "flaky", every: 0.5}, {name: "abandoned", every: 0}}
	actions := []lifecycle.Action{lifecycle.ActionDelete, lifecycle.ActionStop, lifecycle.ActionPause}
	for i := range 50 {
		g := groups[min(i/20, 2)] // 20 kept, 20 flaky, 10 abandoned
		id := fmt.Sprintf("%s%02d", g.name, i)
		g.ids = append(g.ids, id)
		e.start(t, id, "u1", i%3 != 0, lifetime(actions[i%3], ka), t0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sweeps sync.WaitGroup
	var sweepRuns, sweepErrs atomic.Int64
	for range 2 {
		sweeps.Go(func() {
			sw := e.sweeper(nil)
			for ctx.Err() == nil {
				rep, err := sw.Run(ctx, sweep.Options{})
				sweepRuns.Add(1)
				if err == nil && len(rep.Errors) > 0 {
					sweepErrs.Add(1)
					t.Errorf("sweep errors: %v", rep.Errors)
				}
			}
		})
	}
	// Keepalive workers: each round, every worker sends the keepalives of its share.
	var keptErrs sync.Map
	dead := sync.Map{} // flaky sessions seen expired
	for round := 1; round <= rounds; round++ {
		e.clock.Advance(time.Second)
		var wg sync.WaitGroup
		for w := range 10 {
			wg.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(round), uint64(w)))
				for gi, g := range groups[:2] {
					for k, id := range g.ids {
						if k%10 != w || (gi == 1 && rnd.Float64() >= g.every) {
							continue
						}
						if _, gone := dead.Load(id); gone {
							continue
						}
						_, err := sessions.RunKeepalive(context.Background(), e.store, id, "u1", e.clock.Now(), 0)
						switch {
						case err == nil:
						case policy.IsKind(err, policy.KindUnavailable):
						case g.name == "flaky" && (policy.IsKind(err, policy.KindGone) || policy.IsKind(err, policy.KindConflict)):
							dead.Store(id, true)
						default:
							keptErrs.Store(id, err)
						}
					}
				}
			})
		}
		wg.Wait()
	}
	cancel()
	sweeps.Wait()
	keptErrs.Range(func(k, v any) bool {
		t.Errorf("keepalive of %s: %v", k, v)
		return true
	})
	if sweepRuns.Load() < 4 {
		t.Errorf("only %d sweeps ran", sweepRuns.Load())
	}
	for _, id := range groups[0].ids {
		if s := e.get(t, id); s.Status != lifecycle.StatusRunning || e.events(t, id) != "created" {
			t.Errorf("kept-alive %s: status %s events %q, want running with no expiry", id, s.Status, e.events(t, id))
		}
	}
	// Everything not kept alive any more expires, exactly once, and never early.
	end := e.clock.Now().Add(ka)
	rep := e.sweep(t, e.sweeper(nil), end)
	t.Logf("%d sweeps ran concurrently; the final sweep at +%v expired %d", sweepRuns.Load(), end.Sub(t0), rep.Expired)
	for _, g := range groups {
		for _, id := range g.ids {
			if g.name == "kept" {
				continue // kept alive until the end; the final sweep expired them too
			}
			s := e.get(t, id)
			evs, err := e.store.Events(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			var expiries int
			for _, ev := range evs {
				if ev.Type == lifecycle.EventKeepaliveExpired {
					expiries++
					if ev.At.Before(s.ExpiresAt) {
						t.Errorf("%s expired at %v before its expiry %v", id, ev.At, s.ExpiresAt)
					}
				}
			}
			if expiries != 1 || s.Status == lifecycle.StatusRunning {
				t.Errorf("%s: status %s events %q, want exactly one expiry", id, s.Status, e.events(t, id))
			}
		}
	}
}
