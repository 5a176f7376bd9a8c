package sessions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbstore/storetest"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/usage"
)

// usageEnv is the service on a fresh table, with the table's request counter.
type usageEnv struct {
	tb    *ddbtest.Table
	dir   *ddbstore.Store
	store *ddbstore.SessionStore
	svc   *sessions.Service
}

// tickClock advances one millisecond every time it is read, so that concurrent starts and ends
// happen at distinct, known times.
type tickClock struct {
	base time.Time
	n    atomic.Int64
}

func (c *tickClock) Now() time.Time { return c.base.Add(time.Duration(c.n.Add(1)) * time.Millisecond) }

func newUsageEnv(t *testing.T, clock policy.Clock, opts ...ddbstore.Option) usageEnv {
	t.Helper()
	se := storetest.NewOpened(t, opts)
	e := usageEnv{tb: se.TB, dir: se.Dir, store: se.Sessions}
	all := map[string]string{"max_kasms_per_user": "5", "keepalive_expiration": "86400", "idle_disconnect": "1440"}
	if err := e.dir.EnsureAllUsers(context.Background(), t0, raw(all)); err != nil {
		t.Fatal(err)
	}
	e.svc = sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: clock})
	return e
}

// group creates a group of priority 10 whose usage_limit is limit (JSON) and users in it.
func (e usageEnv) group(t *testing.T, id, name, limit string, users ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.dir.CreateGroup(ctx, policy.Group{ID: id, Name: name, Priority: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.ChangeSettings(ctx, id, policy.SettingsChange{Set: raw(map[string]string{"usage_limit": limit})}, 0, "admin", t0); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := e.dir.CreateUser(ctx, policy.User{ID: u, Username: u, GroupIDs: []string{id}}); err != nil {
			t.Fatal(err)
		}
	}
}

func (e usageEnv) ledger(t *testing.T, key string) lifecycle.BudgetLedger {
	t.Helper()
	bl, err := e.store.GetLedger(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return bl
}

func (e usageEnv) members(t *testing.T, key string) []lifecycle.BudgetMember {
	t.Helper()
	ms, err := e.store.BudgetMembers(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestUsageReportJSON reproduces the report of docs/design-usage.md section 8 field by field.
func TestUsageReportJSON(t *testing.T) {
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	clock := &policy.FixedClock{T: start}
	e := newUsageEnv(t, clock)
	e.group(t, "g_eng", "Engineering", `{"type":"per_user","interval":"daily","hours":0.001}`, "u_1")
	ctx := context.Background()
	if _, err := e.svc.Start(ctx, "u_1", "img", true); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(3600 * time.Millisecond))
	r, err := e.svc.Usage(ctx, lifecycle.UserActor("u_1"), "u_1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"limit":{"type":"per_user","interval":"daily","hours":0.001},
 "source":{"group_id":"g_eng","name":"Engineering","priority":10},
 "budget":"user#u_1#daily","as_of":"2026-03-04T10:00:03.6Z",
 "window_start":"2026-03-04T00:00:00Z","window_end":"2026-03-05T00:00:00Z",
 "hours_used":0.001,"hours_remaining":0,"open_sessions":1,"exhausted":true,
 "exhausts_at":"2026-03-04T10:00:03.6Z",
 "derivation":{"as_of_ms":1772618403600,"window_start_ms":1772582400000,"closed_ms":0,
   "open_sessions":1,"open_since_sum_ms":1772618400000,"used_ms":3600,"limit_ms":3600,
   "remaining_ms":0,
   "formula":"used_ms = closed_ms + open_sessions × as_of_ms − open_since_sum_ms = 0 + 1 × 1772618403600 − 1772618400000 = 3600; remaining_ms = max(0, limit_ms − used_ms) = max(0, 3600 − 3600) = 0; hours = ms ÷ 3600000"},
 "own":{"open_sessions":1,"hours_open":0.001,"hours_used":0.001}}`
	var compact bytes.Buffer
	if err := json.Compact(&compact, []byte(want)); err != nil {
		t.Fatal(err)
	}
	if string(got) != compact.String() {
		t.Errorf("report =\n%s\nwant\n%s", got, compact.String())
	}
}

// TestUsageOwnOfSharedBudget: with a per_group limit the budget's figures are every member's,
// and own tells the user's part: a member without sessions has none open, one with three has
// three, and the group's open_sessions counts both members' charged sessions.
func TestUsageOwnOfSharedBudget(t *testing.T) {
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	clock := &policy.FixedClock{T: start}
	e := newUsageEnv(t, clock)
	e.group(t, "g_lab", "Lab", `{"type":"per_group","interval":"daily","hours":5}`, "u_idle", "u_busy", "u_other")
	ctx := context.Background()
	for range 3 {
		if _, err := e.svc.Start(ctx, "u_busy", "img", true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Start(ctx, "u_other", "img", true); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(30 * time.Minute))
	idle, err := e.svc.Usage(ctx, lifecycle.UserActor("u_idle"), "u_idle")
	if err != nil {
		t.Fatal(err)
	}
	if idle.OpenSessions != 4 || idle.Own == nil || idle.Own.OpenSessions != 0 || *idle.Own.HoursOpen != 0 || idle.Own.HoursUsed != nil {
		t.Errorf("idle member: budget open %d, own %+v; want the group's 4 open and none of their own", idle.OpenSessions, idle.Own)
	}
	busy, err := e.svc.Usage(ctx, lifecycle.UserActor("u_busy"), "u_busy")
	if err != nil {
		t.Fatal(err)
	}
	if busy.Own == nil || busy.Own.OpenSessions != 3 || *busy.Own.HoursOpen != 1.5 || busy.Own.HoursUsed != nil {
		t.Errorf("busy member: own %+v, want 3 open sessions, 1.5 h of them and no per-user total", busy.Own)
	}
	if *busy.HoursUsed != 2 {
		t.Errorf("the group's budget: %v h used, want 2 (four sessions for 30 min)", *busy.HoursUsed)
	}
}

func TestUsageAccessAndNoLimit(t *testing.T) {
	clock := &policy.FixedClock{T: t0}
	e := newUsageEnv(t, clock)
	e.group(t, "g1", "limited", `{"type":"per_group","interval":"weekly","hours":2}`, "u1", "u2")
	if _, err := e.dir.CreateUser(context.Background(), policy.User{ID: "free", Username: "free"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name       string
		actor      lifecycle.Actor
		user       string
		kind       policy.Kind
		code       string
		wantBudget string
	}{
		{"own", lifecycle.UserActor("u1"), "u1", "", "", "group#g1#weekly"},
		{"admin", lifecycle.AdminActor(), "u2", "", "", "group#g1#weekly"},
		{"another user's", lifecycle.UserActor("u1"), "u2", policy.KindForbidden, "forbidden", ""},
		{"unknown user", lifecycle.AdminActor(), "nobody", policy.KindNotFound, "user_not_found", ""},
		{"no limit", lifecycle.UserActor("free"), "free", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.svc.Usage(ctx, tc.actor, tc.user)
			if tc.kind != "" {
				wantErr(t, err, tc.kind, tc.code, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Budget != tc.wantBudget {
				t.Errorf("budget = %q, want %q", r.Budget, tc.wantBudget)
			}
		})
	}
	r, _ := e.svc.Usage(ctx, lifecycle.AdminActor(), "free")
	b, _ := json.Marshal(r)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, field := range []string{"window_start", "window_end", "hours_used", "hours_remaining", "exhausts_at"} {
		if v, ok := m[field]; !ok || v != nil {
			t.Errorf("no-limit report %s = %v, want null", field, v)
		}
	}
	if lim, _ := json.Marshal(m["limit"]); string(lim) != "{}" || m["source"] != "default" {
		t.Errorf("no-limit report limit %s source %v, want {} and default", lim, m["source"])
	}
}

// TestStartRefusedWhenExhausted: a per_user budget refuses its user only, and only in the
// window it is exhausted in.
func TestStartRefusedWhenExhausted(t *testing.T) {
	clock := &policy.FixedClock{T: t0}
	e := newUsageEnv(t, clock)
	e.group(t, "g1", "tiny", `{"type":"per_user","interval":"daily","hours":0.001}`, "u1", "u2")
	ctx := context.Background()
	s, err := e.svc.Start(ctx, "u1", "img", true)
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(3599 * time.Millisecond))
	if _, err := e.svc.Start(ctx, "u1", "img", true); err != nil {
		t.Fatalf("start 1 ms before the limit: %v", err)
	}
	clock.Set(t0.Add(3600 * time.Millisecond))
	_, err = e.svc.Start(ctx, "u1", "img", true)
	wantErr(t, err, policy.KindForbidden, policy.CodeUsageLimitReached, "usage_limit")
	if _, err := e.svc.Start(ctx, "u2", "img", true); err != nil {
		t.Errorf("another user's own budget: %v", err)
	}
	// Ending the sessions does not give back what they used.
	for _, id := range []string{s.SessionID} {
		if _, err := e.svc.Delete(ctx, lifecycle.AdminActor(), id); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.svc.Start(ctx, "u1", "img", true)
	wantErr(t, err, policy.KindForbidden, policy.CodeUsageLimitReached, "usage_limit")
	if bl := e.ledger(t, "user#u1#daily"); bl.Ledger.OpenCount != 1 || len(e.members(t, "user#u1#daily")) != 1 {
		t.Errorf("ledger after a refused start = %+v, want one open session", bl)
	}
}

// TestConcurrentStartsOnOneBudget starts 2 sessions for each of 10 users of one per_group
// budget at once, then ends them all at once: the ledger stays exact (open count, members,
// the sum of start times, and the usage against a session-by-session sum). Every start
// succeeds: racing for the ledger only delays it, and a start that ran out of patience (503
// retry_later, possible on a loaded machine) succeeds when its client retries, as a client
// told to retry later does.
func TestConcurrentStartsOnOneBudget(t *testing.T) {
	clock := &tickClock{base: t0}
	e := newUsageEnv(t, clock)
	var users []string
	for i := range 10 {
		users = append(users, fmt.Sprintf("u%02d", i))
	}
	e.group(t, "team", "team", `{"type":"per_group","interval":"daily","hours":10}`, users...)
	const key = "group#team#daily"
	ctx := context.Background()
	var mu sync.Mutex
	started := map[string]time.Time{}
	var unavailable atomic.Int64
	const clientRetries = 3
	begin := time.Now()
	var wg sync.WaitGroup
	for i := range 2 * len(users) {
		wg.Go(func() {
			for range clientRetries + 1 {
				s, err := e.svc.Start(ctx, users[i%len(users)], "img", true)
				switch {
				case policy.IsKind(err, policy.KindUnavailable):
					unavailable.Add(1)
					continue
				case err != nil:
					t.Errorf("start: %v", err)
				default:
					mu.Lock()
					started[s.SessionID] = s.CreatedAt
					mu.Unlock()
				}
				return
			}
			t.Errorf("start for %s: still 503 after %d retries", users[i%len(users)], clientRetries)
		})
	}
	wg.Wait()
	t.Logf("%d starts in %v, %d answers of 503 retried", len(started), time.Since(begin), unavailable.Load())
	if len(started) != 2*len(users) {
		t.Errorf("%d of %d concurrent starts succeeded", len(started), 2*len(users))
	}
	now := clock.Now().UnixMilli()
	bl := e.ledger(t, key)
	var sum, brute int64
	for _, at := range started {
		sum += at.UnixMilli()
		brute += now - at.UnixMilli()
	}
	if bl.Ledger.OpenCount != int64(len(started)) || bl.Ledger.OpenSinceSumMs != sum || len(e.members(t, key)) != len(started) {
		t.Errorf("ledger after starts = %+v with %d members; want %d open, since sum %d", bl.Ledger, len(e.members(t, key)), len(started), sum)
	}
	if got := usage.Used(bl.Ledger, usage.Daily, now); got != brute {
		t.Errorf("used = %d, want %d (session by session)", got, brute)
	}

	// End them all at once; each is charged until its deleted event.
	for id := range started {
		wg.Go(func() {
			if _, err := e.svc.Delete(ctx, lifecycle.AdminActor(), id); err != nil && !policy.IsKind(err, policy.KindUnavailable) {
				t.Errorf("delete %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	var open int64
	brute = 0
	now = clock.Now().UnixMilli()
	for id, at := range started {
		evs, err := e.store.Events(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		last := evs[len(evs)-1]
		if last.Type != lifecycle.EventDeleted {
			open++
			brute += now - at.UnixMilli()
			continue
		}
		brute += last.At.UnixMilli() - at.UnixMilli()
	}
	bl = e.ledger(t, key)
	if bl.Ledger.OpenCount != open || int64(len(e.members(t, key))) != open {
		t.Errorf("after ends: open %d, %d members; want %d", bl.Ledger.OpenCount, len(e.members(t, key)), open)
	}
	if got := usage.Used(bl.Ledger, usage.Daily, now); got != brute {
		t.Errorf("used after ends = %d, want %d (session by session)", got, brute)
	}
	if open == 0 && (!bl.DueAt.IsZero() || bl.Ledger.ClosedMs != brute) {
		t.Errorf("idle ledger = %+v, want not due and closed %d", bl, brute)
	}
}

// TestEndNotChargedTwice replays an applied end and races two ends of one session: the
// ledger is charged once.
func TestEndNotChargedTwice(t *testing.T) {
	clock := &policy.FixedClock{T: t0}
	e := newUsageEnv(t, clock)
	e.group(t, "g1", "g1", `{"type":"per_user","interval":"daily","hours":5}`, "u1")
	ctx := context.Background()
	const key = "user#u1#daily"
	var ids []string
	for range 2 {
		s, err := e.svc.Start(ctx, "u1", "img", true)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.SessionID)
	}
	clock.Set(t0.Add(time.Minute))

	// The same change twice: the replay fails the session's guard and charges nothing.
	cur, err := e.store.GetSession(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := lifecycle.Act(cur, lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Transition(ctx, c); err != nil {
		t.Fatal(err)
	}
	before := e.ledger(t, key)
	clock.Set(t0.Add(2 * time.Minute))
	if err := e.store.Transition(ctx, c); policy.CodeOf(err) != policy.CodeSessionChanged {
		t.Errorf("replayed end: %v, want session_changed", err)
	}
	if after := e.ledger(t, key); !reflect.DeepEqual(after, before) {
		t.Errorf("ledger after a replayed end = %+v, want %+v", after, before)
	}

	// A user's delete and the sweep's usage end of the same session at once: one charge.
	cur, err = e.store.GetSession(ctx, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	changes := []lifecycle.Change{lifecycle.UsageLimitReached(cur, clock.Now())}
	del, _ := lifecycle.Act(cur, lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, clock.Now())
	changes = append(changes, del)
	var wg sync.WaitGroup
	var applied atomic.Int64
	for _, c := range changes {
		wg.Go(func() {
			err := e.store.Transition(ctx, c)
			switch {
			case err == nil:
				applied.Add(1)
			case policy.CodeOf(err) != policy.CodeSessionChanged:
				t.Errorf("racing end: %v", err)
			}
		})
	}
	wg.Wait()
	bl := e.ledger(t, key)
	if want := 3 * time.Minute.Milliseconds(); applied.Load() != 1 || bl.Ledger.ClosedMs != want || bl.Ledger.OpenCount != 0 {
		t.Errorf("after racing ends: %d applied, ledger %+v; want 1 applied, closed %d, none open", applied.Load(), bl.Ledger, want)
	}
	if n := len(e.members(t, key)); n != 0 {
		t.Errorf("%d members left, want 0", n)
	}
}

// TestStartEndCostIndependentOfGroupSize counts the requests of a start and an end in a
// per_group budget of 1 member and in one of 200 members with 30 sessions open.
func TestStartEndCostIndependentOfGroupSize(t *testing.T) {
	clock := &policy.FixedClock{T: t0}
	e := newUsageEnv(t, clock)
	ctx := context.Background()
	e.group(t, "small", "small", `{"type":"per_group","interval":"monthly","hours":100}`, "alone")
	e.group(t, "big", "big", `{"type":"per_group","interval":"monthly","hours":100}`)
	var seedUsers []seed.User
	for i := range 200 {
		id := fmt.Sprintf("m%03d", i)
		seedUsers = append(seedUsers, seed.User{User: policy.User{ID: id, Username: id, GroupIDs: []string{"big"}, CreatedAt: t0}})
	}
	if err := (seed.Loader{DB: e.tb.Client, Table: e.tb.Name, Dir: e.dir}).Users(ctx, seedUsers, 4); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := e.svc.Start(ctx, fmt.Sprintf("m%03d", i+1), "img", true); err != nil {
			t.Fatal(err)
		}
	}
	cost := func(user string) (start, end int64) {
		e.tb.ResetCalls()
		s, err := e.svc.Start(ctx, user, "img", true)
		if err != nil {
			t.Fatal(err)
		}
		start = e.tb.Calls()
		e.tb.ResetCalls()
		if _, err := e.svc.Delete(ctx, lifecycle.AdminActor(), s.SessionID); err != nil {
			t.Fatal(err)
		}
		return start, e.tb.Calls()
	}
	smallStart, smallEnd := cost("alone")
	bigStart, bigEnd := cost("m000")
	t.Logf("requests: start %d/%d, end %d/%d (1 member / 200 members and 30 open sessions)", smallStart, bigStart, smallEnd, bigEnd)
	if smallStart != bigStart || smallEnd != bigEnd {
		t.Errorf("start costs %d vs %d requests, end %d vs %d; want the same whatever the group size", smallStart, bigStart, smallEnd, bigEnd)
	}
	// Start: the user with their storage mappings (1 Query), their groups (1), the ledger's
	// shards (1 Query), the transaction (1), the shards again to keep the budget's deadline
	// right (1, docs/design-usage.md section 10). End: the session (1), the ledger's shards
	// (1), the transaction (1), the shards again (1).
	if smallStart != 5 || smallEnd != 4 {
		t.Errorf("start %d, end %d requests; want 5 and 4", smallStart, smallEnd)
	}
}

// TestKeepaliveUsage: the keepalive says usage_reached and stops extending once the budget is
// used up; when another session of the budget ended, a keepalive past its (stale) gate asks
// the ledger and goes on.
func TestKeepaliveUsage(t *testing.T) {
	clock := &policy.FixedClock{T: t0}
	e := newUsageEnv(t, clock)
	e.group(t, "g1", "g1", `{"type":"per_group","interval":"daily","hours":1}`, "a", "b")
	ctx := context.Background()
	sa, err := e.svc.Start(ctx, "a", "img", true)
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(10 * time.Minute))
	sb, err := e.svc.Start(ctx, "b", "img", true) // gate: 10 min + 50 min / 2 sessions = t0+35m
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(t0.Add(20 * time.Minute))
	if _, err := e.svc.Delete(ctx, lifecycle.AdminActor(), sa.SessionID); err != nil {
		t.Fatal(err) // 30 min used, b alone: the budget runs out at t0+50m
	}
	keepalive := func(at time.Duration) (sessions.KeepaliveResponse, int64) {
		t.Helper()
		clock.Set(t0.Add(at))
		e.tb.ResetCalls()
		r, err := e.svc.Keepalive(ctx, lifecycle.UserActor("b"), sb.SessionID, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r, e.tb.Calls()
	}
	tests := []struct {
		name        string
		at          time.Duration
		wantReached bool
		wantExpires time.Duration
		wantCalls   int64
	}{
		{"before the gate: one write", 30 * time.Minute, false, 30*time.Minute + 24*time.Hour, 1},
		{"past the stale gate, not exhausted: ledger read, extended, gate moved", 40 * time.Minute, false, 40*time.Minute + 24*time.Hour, 3},
		{"steady state again: one write", 45 * time.Minute, false, 45*time.Minute + 24*time.Hour, 1},
		{"used up: usage_reached, not extended", 50 * time.Minute, true, 45*time.Minute + 24*time.Hour, 2},
		{"still used up: nothing written", 55 * time.Minute, true, 45*time.Minute + 24*time.Hour, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, calls := keepalive(tc.at)
			if r.UsageReached != tc.wantReached || !r.ExpiresAt.Equal(t0.Add(tc.wantExpires)) || calls != tc.wantCalls {
				t.Errorf("keepalive = usage_reached %v, expires %v, %d requests; want %v, %v, %d",
					r.UsageReached, r.ExpiresAt, calls, tc.wantReached, t0.Add(tc.wantExpires), tc.wantCalls)
			}
		})
	}
	if s, err := e.store.GetSession(ctx, sb.SessionID); err != nil || !s.UsageDeadline.Equal(t0.Add(50*time.Minute)) {
		t.Errorf("gate = %v, %v; want %v", s.UsageDeadline, err, t0.Add(50*time.Minute))
	}
}
