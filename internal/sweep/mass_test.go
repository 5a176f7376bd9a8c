package sweep_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/faultinject"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sweep"
)

// startMany starts n container sessions (action stop, 10 s keepalive) at t0, each of its own
// user (as a class's sessions are: no user item is hot), from 8 goroutines, and returns their
// ids.
func (e env) startMany(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 8 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				ids[i] = fmt.Sprintf("m%04d", i)
				u := "u" + ids[i]
				if _, err := e.dir.CreateUser(context.Background(), policy.User{ID: u, Username: u}); err != nil {
					t.Errorf("create %s: %v", u, err)
				}
				s, ev := lifecycle.NewSession(ids[i], u, "img", true, lifetime(lifecycle.ActionStop, 10*time.Second), t0)
				if err := ddbtest.StartSession(context.Background(), e.store, s, ev); err != nil {
					t.Errorf("start %s: %v", ids[i], err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// expiredOnce checks that each session expired exactly once: its events are created, one
// keepalive_expired and one stopped.
func (e env) expiredOnce(t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		if got := e.events(t, id); got != "created keepalive_expired stopped" {
			t.Errorf("%s events = %q, want exactly one expiry", id, got)
		}
	}
}

// TestParallelSweepsOverlap runs two sweeps of 32 workers each over the same 160 due sessions,
// both reading every shard before either writes: every session is stopped exactly once, by one
// of them; the other one's change is refused by the condition and counted as skipped.
func TestParallelSweepsOverlap(t *testing.T) {
	e := newEnv(t)
	const n = 160
	ids := e.startMany(t, n)
	gate := newGate(e.store, 2)
	reps := make([]sweep.Report, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			sw := sweep.New(sweep.Config{Store: gate, Directory: e.dir, Clock: e.clock, Workers: 32})
			reps[i] = e.sweep(t, sw, t0.Add(time.Minute))
		})
	}
	wg.Wait()
	if got := reps[0].Stopped + reps[1].Stopped; got != n {
		t.Errorf("stopped %d + %d, want %d in all", reps[0].Stopped, reps[1].Stopped, n)
	}
	if got := reps[0].Skipped + reps[1].Skipped; got != n {
		t.Errorf("skipped %d + %d, want %d in all", reps[0].Skipped, reps[1].Skipped, n)
	}
	e.expiredOnce(t, ids)
}

// TestSweepGroupsWrites: one sweep of 32 workers stops 160 due sessions of 160 users in
// transactions of several sessions each (ddbstore.TransitionAll), each exactly once.
func TestSweepGroupsWrites(t *testing.T) {
	e := newEnv(t)
	const n = 160
	ids := e.startMany(t, n)
	e.tb.ResetCalls()
	sw := sweep.New(sweep.Config{Store: e.store, Directory: e.dir, Clock: e.clock, Workers: 32})
	if rep := e.sweep(t, sw, t0.Add(time.Minute)); rep.Stopped != n {
		t.Errorf("stopped %d, want %d", rep.Stopped, n)
	}
	// 8 changes a transaction at most, fewer where a due shard's page is not a multiple of 8.
	if tx := e.tb.CallsOf("TransactWriteItems"); tx < n/8 || tx > n/2 {
		t.Errorf("%d sessions stopped in %d transactions; want from %d to %d (grouped)", n, tx, n/8, n/2)
	}
	e.expiredOnce(t, ids)
}

// crashingStore ends the run's context (a crash) once after transitions changes were applied.
type crashingStore struct {
	sweep.Store
	after   int64
	applied atomic.Int64
	crash   context.CancelFunc
}

func (c *crashingStore) Transition(ctx context.Context, ch lifecycle.Change) error {
	err := c.Store.Transition(ctx, ch)
	if err == nil && c.applied.Add(1) == c.after {
		c.crash()
	}
	return err
}

// TransitionAll is the store's (the sweep groups its writes as in production), crashing once
// the count of applied changes reaches after.
func (c *crashingStore) TransitionAll(ctx context.Context, cs []lifecycle.Change) []error {
	errs := c.Store.(sweep.GroupWriter).TransitionAll(ctx, cs)
	for _, err := range errs {
		if err == nil && c.applied.Add(1) == c.after {
			c.crash()
		}
	}
	return errs
}

// TestParallelSweepCrashesHalfWay crashes a sweep of 32 workers after half of 160 changes,
// with others in flight (ended by the crash, applied or not), then runs a second sweep: every
// session is stopped exactly once.
func TestParallelSweepCrashesHalfWay(t *testing.T) {
	e := newEnv(t)
	const n = 160
	ids := e.startMany(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	crashing := &crashingStore{Store: e.store, after: n / 2, crash: cancel}
	sw := sweep.New(sweep.Config{Store: crashing, Directory: e.dir, Clock: e.clock, Workers: 32})
	first, err := sw.Run(ctx, sweep.Options{Now: t0.Add(time.Minute)})
	if err == nil {
		t.Fatal("the crashed sweep returned no error")
	}
	if first.Stopped < n/2 || first.Stopped >= n {
		t.Fatalf("the crashed sweep stopped %d, want from %d to %d", first.Stopped, n/2, n-1)
	}
	second := e.sweep(t, e.sweeper(nil), t0.Add(time.Minute))
	if second.Stopped+first.Stopped > n {
		t.Errorf("stopped %d then %d, more than the %d sessions", first.Stopped, second.Stopped, n)
	}
	e.expiredOnce(t, ids)
	if third := e.sweep(t, e.sweeper(nil), t0.Add(time.Minute)); third.Examined != 0 {
		t.Errorf("a third sweep examined %d, want nothing left due", third.Examined)
	}
}

// injectedEnv is env with its stores on a client whose calls go through in.
func injectedEnv(t *testing.T, e env, in *faultinject.Injector) (*ddbstore.SessionStore, *ddbstore.Store) {
	t.Helper()
	db, err := ddbkit.NewClient(context.Background(), ddbtest.Endpoint(t), in.DynamoDB)
	if err != nil {
		t.Fatal(err)
	}
	return ddbstore.Open(db, e.tb.Name).Sessions(), ddbstore.Open(db, e.tb.Name).Directory()
}

// TestSweepBacksOffWhenThrottled throttles the transaction of a due session past the SDK's own
// three attempts: the sweep waits and retries, and the session is stopped in the same run.
// Throttled past the sweep's last retry too, the session is left due, with an error, for the
// next run.
func TestSweepBacksOffWhenThrottled(t *testing.T) {
	tests := []struct {
		name        string
		throttles   int
		code        string
		wantStopped int
		wantRetries int
		wantErrors  int
	}{
		{name: "throttling exception", throttles: 4, code: "ThrottlingException", wantStopped: 1, wantRetries: 1},
		{name: "throughput exceeded", throttles: 7, code: "ProvisionedThroughputExceededException", wantStopped: 1, wantRetries: 2},
		{name: "transaction cancelled as throttled", throttles: 4, code: "TransactionCanceledException", wantStopped: 1, wantRetries: 1},
		{name: "throttled past every retry", throttles: 18, code: "ThrottlingException", wantStopped: 0, wantRetries: 5, wantErrors: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "u1")
			e.start(t, "s1", "u1", true, lifetime(lifecycle.ActionStop, 10*time.Second), t0)
			in := faultinject.New(faultinject.Config{})
			planned := make([]faultinject.Planned, tc.throttles)
			for i := range planned {
				planned[i] = faultinject.Planned{Fault: faultinject.Throttle, Code: tc.code}
			}
			in.Plan("DynamoDB.TransactWriteItems", planned...)
			ss, dir := injectedEnv(t, e, in)
			sw := sweep.New(sweep.Config{Store: ss, Directory: dir, Clock: e.clock})
			rep, err := sw.Run(context.Background(), sweep.Options{Now: t0.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Stopped != tc.wantStopped || rep.Throttled != tc.wantRetries || len(rep.Errors) != tc.wantErrors {
				t.Errorf("stopped %d, throttled %d, errors %v; want %d, %d and %d errors",
					rep.Stopped, rep.Throttled, rep.Errors, tc.wantStopped, tc.wantRetries, tc.wantErrors)
			}
			if tc.wantErrors > 0 {
				if !strings.Contains(rep.Errors[0], tc.code) {
					t.Errorf("error %q, want the throttling", rep.Errors[0])
				}
				// The next run, no longer throttled, stops it.
				rep = e.sweep(t, e.sweeper(nil), t0.Add(time.Minute))
				if rep.Stopped != 1 {
					t.Errorf("the next run stopped %d, want 1", rep.Stopped)
				}
			}
			e.expiredOnce(t, []string{"s1"})
		})
	}
}

// TestSweepHandlesManyResyncMarkers checks that one sweep handles 300 re-sync markers (more
// than a page of the old 100) and deletes them all.
func TestSweepHandlesManyResyncMarkers(t *testing.T) {
	e := newEnv(t, "u1")
	ctx := context.Background()
	const n = 300
	for i := range n {
		if err := e.store.MarkResync(ctx, lifecycle.ResyncUser, fmt.Sprintf("gone%03d", i), t0); err != nil {
			t.Fatal(err)
		}
	}
	if rep := e.sweep(t, e.sweeper(nil), t0.Add(time.Second)); rep.ResyncMarkers != n {
		t.Errorf("handled %d markers, want %d", rep.ResyncMarkers, n)
	}
	if rep := e.sweep(t, e.sweeper(nil), t0.Add(2*time.Second)); rep.ResyncMarkers != 0 {
		t.Errorf("the next sweep found %d markers, want none left", rep.ResyncMarkers)
	}
}
