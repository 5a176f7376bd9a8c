package sessions_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/usage"
)

// TestShardedBudgetConcurrentStarts: 50 users of one per_group budget start at once. The ledger
// is spread over shards, so every start succeeds without a 503 and without the caller retrying,
// in one transaction each although the shards are created by these starts;
// the merged ledger counts every session exactly (the since-sum and the usage against a
// session-by-session sum) and the earliest DueAt of the shards is the budget's exact deadline.
// Both ways of opening the store: the deadline checked before each start answers (Lambda), and
// after (the local run: WithDetachedDeadlineFixes, read once the checks have ended).
func TestShardedBudgetConcurrentStarts(t *testing.T) {
	t.Run("check_before_answer", func(t *testing.T) { shardedBudgetConcurrentStarts(t) })
	t.Run("check_detached", func(t *testing.T) { shardedBudgetConcurrentStarts(t, ddbstore.WithDetachedDeadlineFixes()) })
}

func shardedBudgetConcurrentStarts(t *testing.T, opts ...ddbstore.Option) {
	clock := &tickClock{base: t0}
	e := newUsageEnv(t, clock, opts...)
	settle := func() {
		t.Helper()
		if err := e.store.WaitDeadlineFixes(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var users []string
	for i := range 50 {
		users = append(users, fmt.Sprintf("u%02d", i))
	}
	e.group(t, "class", "class", `{"type":"per_group","interval":"daily","hours":100}`, users...)
	const key = "group#class#daily"
	ctx := context.Background()
	var mu sync.Mutex
	started := map[string]time.Time{}
	var wg sync.WaitGroup
	e.tb.ResetCalls()
	begin := time.Now()
	for _, u := range users {
		wg.Go(func() {
			s, err := e.svc.Start(ctx, u, "img", true)
			if err != nil {
				t.Errorf("start for %s: %v", u, err)
				return
			}
			mu.Lock()
			started[s.SessionID] = s.CreatedAt
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("%d concurrent starts in %v", len(started), time.Since(begin))
	if len(started) != len(users) {
		t.Fatalf("%d of %d concurrent starts succeeded", len(started), len(users))
	}
	// The budget's shards did not exist: the starts that found one absent all added to it,
	// none lost a race to create it and wrote again.
	if n := e.tb.CallsOf("TransactWriteItems"); n != int64(len(users)) {
		t.Errorf("%d concurrent starts sent %d transactions; want one each (no lost race for a shard)", len(users), n)
	}
	settle()
	bl := e.ledger(t, key)
	if len(bl.Shards) < 2 {
		t.Errorf("the ledger is in %d shard(s), want several", len(bl.Shards))
	}
	now := clock.Now().UnixMilli()
	var sum, brute int64
	for _, at := range started {
		sum += at.UnixMilli()
		brute += now - at.UnixMilli()
	}
	if bl.Ledger.OpenCount != int64(len(started)) || bl.Ledger.OpenSinceSumMs != sum || len(e.members(t, key)) != len(started) {
		t.Errorf("merged ledger = %+v with %d members; want %d open, since sum %d", bl.Ledger, len(e.members(t, key)), len(started), sum)
	}
	if got := usage.Used(bl.Ledger, usage.Daily, now); got != brute {
		t.Errorf("used = %d, want %d (session by session)", got, brute)
	}
	if want := usage.DeadlineAt(bl.Ledger, usage.Daily, bl.Budget.LimitMs, now); bl.DueAt.UnixMilli() > want {
		t.Errorf("earliest shard due at %d, after the budget's deadline %d", bl.DueAt.UnixMilli(), want)
	}

	// All end at once: every shard back to no session open, nothing due, every ms charged.
	for id := range started {
		wg.Go(func() {
			if _, err := e.svc.Delete(ctx, lifecycle.AdminActor(), id); err != nil {
				t.Errorf("delete %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	settle()
	brute = 0
	for id, at := range started {
		evs, err := e.store.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		brute += evs[len(evs)-1].At.UnixMilli() - at.UnixMilli()
	}
	bl = e.ledger(t, key)
	if bl.Ledger.OpenCount != 0 || bl.Ledger.ClosedMs != brute || !bl.DueAt.IsZero() || len(e.members(t, key)) != 0 {
		t.Errorf("after the ends: %+v; want none open, closed %d, not due, no members", bl, brute)
	}
	for _, sh := range bl.Shards {
		if sh.Ledger.OpenCount != 0 || !sh.DueAt.IsZero() {
			t.Errorf("shard %d after the ends: %+v, want none open and not due", sh.Index, sh)
		}
	}
}

// TestShardedBudgetRefusesExactly: a per_group budget of 1 h with three sessions open (on
// different shards) is exhausted 20 minutes on; a start one millisecond before is admitted (on
// all shards as read: it is that close to the limit) and the start at the deadline is refused.
func TestShardedBudgetRefusesExactly(t *testing.T) {
	clock := &policy.FixedClock{T: t0}
	e := newUsageEnv(t, clock)
	users := []string{"a", "b", "c", "d", "e"}
	e.group(t, "team", "team", `{"type":"per_group","interval":"daily","hours":1}`, users...)
	const key = "group#team#daily"
	ctx := context.Background()
	shards := map[int]bool{}
	for _, u := range users[:3] {
		s, err := e.svc.Start(ctx, u, "img", true)
		if err != nil {
			t.Fatal(err)
		}
		shards[ddbstore.LedgerShardOf(key, s.SessionID)] = true
	}
	bl := e.ledger(t, key)
	if len(bl.Shards) != len(shards) || !bl.DueAt.Equal(t0.Add(20*time.Minute)) {
		t.Fatalf("ledger after three starts: %d shards, due %v; want %d, %v", len(bl.Shards), bl.DueAt, len(shards), t0.Add(20*time.Minute))
	}
	// used = 3 × 1,199,999 = 3,599,997 ms < 3,600,000: admitted, a fourth session.
	clock.Set(t0.Add(20*time.Minute - time.Millisecond))
	if _, err := e.svc.Start(ctx, "d", "img", true); err != nil {
		t.Fatalf("start 1 ms before the deadline: %v", err)
	}
	// used = 3,599,997 + 4 = 3,600,001 ≥ 3,600,000: refused.
	clock.Set(t0.Add(20 * time.Minute))
	if _, err := e.svc.Start(ctx, "e", "img", true); policy.CodeOf(err) != policy.CodeUsageLimitReached {
		t.Fatalf("start at the deadline: %v, want usage_limit_reached", err)
	}
	bl = e.ledger(t, key)
	if bl.Ledger.OpenCount != 4 || !bl.DueAt.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("ledger after the refusal: %+v; want 4 open, due at %v (exactly)", bl, t0.Add(20*time.Minute))
	}
}
