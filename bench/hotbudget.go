package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/policy"
	"wspolicy/internal/usage"
)

// hotBudgetResult is the 9:00 rush of issue 16: starts at once, through the API, on one
// per_group budget shared by a large group, then a check of the ledger against the sessions.
type hotBudgetResult struct {
	Users  int `json:"users"`
	Starts int `json:"starts"`
	// The rush on the shared budget (its fields are promoted: the JSON keeps them flat).
	rush
	StartsPerSec float64 `json:"starts_per_sec"`
	// The ledger as read after the rush, merged over its shards, against the sessions started.
	LedgerOpen    int64  `json:"ledger_open_count"`
	LedgerSinceOK bool   `json:"ledger_since_sum_exact"`
	Members       int    `json:"members"`
	DeadlineOK    bool   `json:"deadline_not_late"`
	LedgerNote    string `json:"ledger_note,omitempty"`
	// Unlimited is the same rush by users with no usage limit (no ledger at all): the floor
	// DynamoDB Local and the machine set, whatever the budget's design.
	Unlimited *rush `json:"unlimited,omitempty"`
	// PerUser is the same rush by users each charged to a per_user budget of their own.
	PerUser *rush `json:"per_user,omitempty"`
}

// rush is the outcome of starts at once.
type rush struct {
	Succeeded   int     `json:"succeeded"`
	Unavailable int     `json:"status_503"`
	Conflict    int     `json:"status_409"`
	OtherErrors int     `json:"other_errors"`
	FirstErr    string  `json:"first_error,omitempty"`
	WallSeconds float64 `json:"wall_s"`
	// SettledSeconds is when the last deadline check the starts left running ended (the
	// local run's starts answer before it: ddbstore.WithDetachedDeadlineFixes).
	SettledSeconds float64   `json:"settled_s"`
	Latency        latencies `json:"start_latency"`
	// Requests is what the API sent DynamoDB during the rush.
	Requests ddbCount `json:"requests"`
	ids      []string
}

// fire starts a session for each of users at the same instant and counts the answers.
func (e *env) fire(ctx context.Context, users []string) *rush {
	r := &rush{}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		wg   sync.WaitGroup
		gate = make(chan struct{})
	)
	for _, uid := range users {
		wg.Go(func() {
			<-gate
			t := time.Now()
			sid, err := e.startFor(ctx, uid)
			d := time.Since(t)
			mu.Lock()
			defer mu.Unlock()
			var ae *apiError
			switch {
			case err == nil:
				r.Succeeded++
				lat = append(lat, d)
				r.ids = append(r.ids, sid)
				return
			case errors.As(err, &ae) && ae.status == 503:
				r.Unavailable++
			case errors.As(err, &ae) && ae.status == 409:
				r.Conflict++
			default:
				r.OtherErrors++
			}
			if r.FirstErr == "" {
				r.FirstErr = err.Error()
			}
		})
	}
	before := e.counter.snapshot()
	t0 := time.Now()
	close(gate)
	wg.Wait()
	r.WallSeconds = time.Since(t0).Seconds()
	if err := e.ss.WaitDeadlineFixes(ctx); err == nil {
		r.SettledSeconds = time.Since(t0).Seconds()
	}
	r.Requests = e.counter.since(before)
	r.Latency = summarize(lat)
	return r
}

// hotBudgetLimit is the budget of the rush: per_group, large enough not to run out.
const hotBudgetLimit = `{"type":"per_group","interval":"monthly","hours":100000}`

// benchHotBudget seeds users users in one group whose per_group budget they all share, fires
// starts session starts at once (one caller each, one user each), counts the answers and
// their latency, then reads the ledger back: it must count every session that started, with
// the sum of their start times, one membership item each, and a deadline not later than the
// budget's.
func benchHotBudget(ctx context.Context, p *progress, endpoint string, users, starts, workers int) (*hotBudgetResult, error) {
	e, err := newEnv(ctx, endpoint, "bench_hotbudget", starts, policy.SystemClock{})
	if err != nil {
		return nil, err
	}
	defer e.close()
	const gid = "g_hot"
	if _, err := e.store.CreateGroup(ctx, policy.Group{ID: gid, Name: gid, Priority: 10,
		Settings: map[string]json.RawMessage{"usage_limit": json.RawMessage(hotBudgetLimit), "max_kasms_per_user": json.RawMessage("5")}}); err != nil {
		return nil, err
	}
	p.logf("hotbudget: seeding %s users in one per_group budget", thousands(int64(users)))
	seedUsers := make([]seed.User, users)
	for i := range seedUsers {
		id := fmt.Sprintf("u_hot_%05d", i)
		seedUsers[i] = seed.User{User: policy.User{ID: id, Username: id, GroupIDs: []string{gid}, CreatedAt: time.Now()}}
	}
	if err := e.seed().Users(ctx, seedUsers, workers); err != nil {
		return nil, err
	}
	// One unmeasured start and end: connections, and the budget's ledger exists.
	if sid, err := e.startFor(ctx, seedUsers[users-1].ID); err != nil {
		return nil, err
	} else if err := e.endSession(ctx, sid); err != nil {
		return nil, err
	}
	// DynamoDB Local's JVM compiles its hot code as it goes: unmeasured rushes of as many
	// starts come first, one with each user on a per_user budget of their own and one on a
	// per_group budget of its own, so that the measured rushes (this one and the floors after
	// it) find the code they run compiled also when this part runs on its own.
	for _, w := range []struct{ name, limit string }{
		{"warm", `{"type":"per_user","interval":"monthly","hours":100000}`},
		{"warmgroup", hotBudgetLimit},
	} {
		if _, err := e.rushOfNewUsers(ctx, w.name, w.limit, starts, workers); err != nil {
			return nil, err
		}
	}
	p.logf("hotbudget: %d starts at once", starts)
	users300 := make([]string, starts)
	for i := range users300 {
		users300[i] = seedUsers[(i*users/starts)%users].ID
	}
	rr := e.fire(ctx, users300)
	ids := rr.ids
	r := &hotBudgetResult{Users: users, Starts: starts, rush: *rr}
	r.StartsPerSec = float64(r.Succeeded) / r.WallSeconds
	p.logf("hotbudget: %d of %d started in %.2f s, deadline checks done at %.2f s (503: %d, 409: %d, other: %d), p50 %.0f ms, p99 %.0f ms; requests: %s",
		r.Succeeded, starts, r.WallSeconds, r.SettledSeconds, r.Unavailable, r.Conflict, r.OtherErrors, r.Latency.P50, r.Latency.P99, r.Requests.operations())

	key := "group#" + gid + "#monthly"
	bl, err := e.ss.GetLedger(ctx, key)
	if err != nil {
		return r, err
	}
	members, err := e.ss.BudgetMembers(ctx, key)
	if err != nil {
		return r, err
	}
	var sum int64
	for _, id := range ids {
		s, err := e.ss.GetSession(ctx, id)
		if err != nil {
			return r, err
		}
		sum += s.CreatedAt.UnixMilli()
	}
	now := time.Now().UnixMilli()
	r.LedgerOpen, r.Members = bl.Ledger.OpenCount, len(members)
	r.LedgerSinceOK = bl.Ledger.OpenSinceSumMs == sum
	due := usage.DeadlineAt(bl.Ledger, bl.Budget.Interval, bl.Budget.LimitMs, now)
	r.DeadlineOK = due == 0 || (!bl.DueAt.IsZero() && bl.DueAt.UnixMilli() <= due)
	if r.LedgerOpen != int64(r.Succeeded) || r.Members != r.Succeeded || !r.LedgerSinceOK || !r.DeadlineOK {
		r.LedgerNote = fmt.Sprintf("ledger %+v due %v against %d sessions (since sum %d), deadline %d", bl.Ledger, bl.DueAt, r.Succeeded, sum, due)
	}
	p.logf("hotbudget: ledger open %d, members %d, since sum exact %v, deadline not late %v", r.LedgerOpen, r.Members, r.LedgerSinceOK, r.DeadlineOK)

	// The floors: the same rush by as many users of a group without a usage limit, and of one
	// whose limit is per_user (a ledger each: the same requests as a charged start, unshared).
	for _, fl := range []struct {
		name, limit string
		out         **rush
	}{{"free", `{}`, &r.Unlimited}, {"own", `{"type":"per_user","interval":"monthly","hours":100000}`, &r.PerUser}} {
		f, err := e.rushOfNewUsers(ctx, fl.name, fl.limit, starts, workers)
		if err != nil {
			return r, err
		}
		*fl.out = f
		p.logf("hotbudget: floor (usage_limit %s): %d of %d started in %.2f s, p50 %.0f ms, p99 %.0f ms; requests: %s",
			fl.limit, f.Succeeded, starts, f.WallSeconds, f.Latency.P50, f.Latency.P99, f.Requests.operations())
	}
	return r, nil
}

// rushOfNewUsers seeds n users in a new group named after name with usage_limit limit, then
// fires a start for each of them at once.
func (e *env) rushOfNewUsers(ctx context.Context, name, limit string, n, workers int) (*rush, error) {
	gid := "g_" + name
	if _, err := e.store.CreateGroup(ctx, policy.Group{ID: gid, Name: gid, Priority: 10,
		Settings: map[string]json.RawMessage{"usage_limit": json.RawMessage(limit), "max_kasms_per_user": json.RawMessage("5")}}); err != nil {
		return nil, err
	}
	users := make([]seed.User, n)
	ids := make([]string, n)
	for i := range users {
		id := fmt.Sprintf("u_%s_%05d", name, i)
		users[i] = seed.User{User: policy.User{ID: id, Username: id, GroupIDs: []string{gid}, CreatedAt: time.Now()}}
		ids[i] = id
	}
	if err := e.seed().Users(ctx, users, workers); err != nil {
		return nil, err
	}
	return e.fire(ctx, ids), nil
}

// renderHotBudget writes the hot-budget section of results.md.
func renderHotBudget(b *strings.Builder, h *hotBudgetResult) {
	fmt.Fprintf(b, "## Hot budget: %d starts at once on one per_group budget\n\n"+
		"%s users share one per_group budget `%s`; %d callers each start a session (API, admin key) for a user of their own at the same instant. "+
		"Target (issue 16): all succeed, no 503, start p99 ≤ 1 s, the ledger exact afterwards. "+
		"The API is opened as the local run opens it: a start answers once its transaction has committed, and the check of the sharded budget's deadline that follows it runs after the answer "+
		"(ddbstore.WithDetachedDeadlineFixes; shared by the starts that ask at once); \"deadline checks done\" is when the last of them ended, and the ledger and its deadline are read after that.\n\n",
		h.Starts, thousands(int64(h.Users)), hotBudgetLimit, h.Starts)
	table(b, []string{"started", "503", "409", "other errors", "wall s", "deadline checks done s", "starts/s", "p50 ms", "p99 ms", "max ms", "ledger open / members", "since-sum exact", "deadline not late"},
		[][]string{{fmt.Sprintf("%d / %d", h.Succeeded, h.Starts), fmt.Sprint(h.Unavailable), fmt.Sprint(h.Conflict), fmt.Sprint(h.OtherErrors),
			f2(h.WallSeconds), f2(h.SettledSeconds), f2(h.StartsPerSec), f2(h.Latency.P50), f2(h.Latency.P99), f2(h.Latency.Max),
			fmt.Sprintf("%d / %d", h.LedgerOpen, h.Members), fmt.Sprint(h.LedgerSinceOK), fmt.Sprint(h.DeadlineOK)}})
	if u := h.Unlimited; u != nil {
		fmt.Fprintf(b, "The floor, the same %d starts at once by users whose groups set no usage limit (no ledger written): %d started, %d × 503, in %s s, p50 %s ms, p99 %s ms, max %s ms.\n\n",
			h.Starts, u.Succeeded, u.Unavailable, f2(u.WallSeconds), f2(u.Latency.P50), f2(u.Latency.P99), f2(u.Latency.Max))
	}
	if u := h.PerUser; u != nil {
		fmt.Fprintf(b, "And by users each charged to a per_user budget of their own (the same requests as a charged start, nothing shared): %d started, %d × 503, in %s s, p50 %s ms, p99 %s ms, max %s ms.\n\n",
			u.Succeeded, u.Unavailable, f2(u.WallSeconds), f2(u.Latency.P50), f2(u.Latency.P99), f2(u.Latency.Max))
	}
	if h.FirstErr != "" {
		fmt.Fprintf(b, "First error: %s\n\n", shorten(h.FirstErr, 200))
	}
	if h.LedgerNote != "" {
		fmt.Fprintf(b, "**Ledger mismatch**: %s\n\n", h.LedgerNote)
	}
}
