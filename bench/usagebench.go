package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/policy"
)

// opCost is the average cost of one kind of operation.
type opCost struct {
	Ops          int            `json:"ops"`
	Requests     float64        `json:"ddb_requests_per_op"`
	ItemsWritten float64        `json:"items_written_per_op"`
	ItemsRead    float64        `json:"items_read_per_op"`
	Latency      latencies      `json:"latency"`
	ByOperation  map[string]int `json:"by_operation_per_op"`
}

// usageBudget is the cost of session starts and ends charged to one per_group budget.
type usageBudget struct {
	Users int `json:"users"`
	// Charged says whether the sessions were charged to the budget (the session carries its
	// key): false means the start does not write a ledger yet.
	Charged bool   `json:"charged"`
	Start   opCost `json:"start"`
	End     opCost `json:"end"`
	// Concurrent is the 10,000-user budget under Clients concurrent callers, each starting
	// and ending sessions of its own users: starts+ends per second and their cost, retries
	// on the contended ledger included.
	Concurrent *usageConcurrent `json:"concurrent,omitempty"`
}

// usageConcurrent is a contended run on one budget.
type usageConcurrent struct {
	Clients       int       `json:"clients"`
	Ops           int       `json:"ops"`
	OpsPerSec     float64   `json:"starts_and_ends_per_sec"`
	Requests      float64   `json:"ddb_requests_per_op"`
	ItemsWritten  float64   `json:"items_written_per_op"`
	Errors        int       `json:"errors"`
	FirstErr      string    `json:"first_error,omitempty"`
	LatencyStart  latencies `json:"start_latency"`
	LatencyEnd    latencies `json:"end_latency"`
	TransactCalls float64   `json:"transact_calls_per_op"`
}

// usageResult holds the budgets measured.
type usageResult struct {
	Limit   string        `json:"usage_limit"`
	Budgets []usageBudget `json:"budgets"`
}

// usageLimitJSON is the per_group limit of the bench's budgets: large enough never to run out.
const usageLimitJSON = `{"type":"per_group","interval":"monthly","hours":100000}`

// benchUsage measures session starts and ends (through the API, admin key) charged to a
// per_group budget of 1 user and of users users (seeded in bulk with their memberships): the
// DynamoDB requests and items written per start and per end, and their latency, ops of each
// in turn; then the large budget again with several concurrent callers.
func benchUsage(ctx context.Context, p *progress, endpoint string, users, ops, workers int) (*usageResult, error) {
	const clients = 4 // concurrent callers of the contended run
	e, err := newEnv(ctx, endpoint, "bench_usage", clients, policy.SystemClock{})
	if err != nil {
		return nil, err
	}
	defer e.close()
	res := &usageResult{Limit: usageLimitJSON}
	for bi, n := range []int{1, users} {
		gid := fmt.Sprintf("g_budget_%d", n)
		if _, err := e.store.CreateGroup(ctx, policy.Group{ID: gid, Name: gid, Priority: 10,
			Settings: map[string]json.RawMessage{"usage_limit": json.RawMessage(usageLimitJSON), "max_kasms_per_user": json.RawMessage("5")}}); err != nil {
			return nil, err
		}
		p.logf("usage: per_group budget of %s users: seeding users and memberships", thousands(int64(n)))
		t0 := time.Now()
		seedUsers := make([]seed.User, n)
		for i := range seedUsers {
			id := fmt.Sprintf("u_b%d_%05d", bi, i)
			seedUsers[i] = seed.User{User: policy.User{ID: id, Username: id, GroupIDs: []string{gid}, CreatedAt: time.Now()}}
		}
		if err := e.seed().Users(ctx, seedUsers, workers); err != nil {
			return nil, err
		}
		p.logf("usage: %s users seeded in %.1f s; %d starts then %d ends", thousands(int64(n)), time.Since(t0).Seconds(), ops, ops)
		b := usageBudget{Users: n}
		userOf := func(i int) string { return seedUsers[i%n].ID }
		// Unmeasured start and end first: connections, the JIT, and the ledger item exist.
		if sid, err := e.startFor(ctx, userOf(0)); err != nil {
			return nil, err
		} else if err := e.endSession(ctx, sid); err != nil {
			return nil, err
		}
		// Starts in rounds, then the ends of the round: one user may hold only
		// max_kasms_per_user (5) sessions at once; a large group takes all starts in one round.
		round := ops
		if n < ops {
			round = 5 * n
		}
		var starts, ends []time.Duration
		var startCount, endCount ddbCount
		var lastID string
		for done := 0; done < ops; {
			k := min(round, ops-done)
			ids := make([]string, 0, k)
			before := e.counter.snapshot()
			for i := range k {
				t := time.Now()
				sid, err := e.startFor(ctx, userOf(done+i))
				if err != nil {
					return nil, err
				}
				starts = append(starts, time.Since(t))
				ids = append(ids, sid)
			}
			startCount = addCounts(startCount, e.counter.since(before))
			lastID = ids[len(ids)-1]
			s, err := e.ss.GetSession(ctx, lastID)
			if err != nil {
				return nil, err
			}
			b.Charged = s.Budget != ""
			before = e.counter.snapshot()
			for _, sid := range ids {
				t := time.Now()
				if err := e.endSession(ctx, sid); err != nil {
					return nil, err
				}
				ends = append(ends, time.Since(t))
			}
			endCount = addCounts(endCount, e.counter.since(before))
			done += k
		}
		b.Start = costOf(startCount, starts, ops)
		b.End = costOf(endCount, ends, ops)
		p.logf("usage: %s users: start %.1f requests %.1f items p50 %.2f ms; end %.1f requests %.1f items; charged %v",
			thousands(int64(n)), b.Start.Requests, b.Start.ItemsWritten, b.Start.Latency.P50, b.End.Requests, b.End.ItemsWritten, b.Charged)
		if n > 1 {
			c, err := e.concurrentBudget(ctx, p, seedUsers, ops, clients)
			if err != nil {
				return nil, err
			}
			b.Concurrent = c
		}
		res.Budgets = append(res.Budgets, b)
	}
	return res, nil
}

// addCounts adds two counts.
func addCounts(a, b ddbCount) ddbCount {
	out := ddbCount{Requests: a.Requests + b.Requests, ItemsWritten: a.ItemsWritten + b.ItemsWritten, ItemsRead: a.ItemsRead + b.ItemsRead, ByOperation: map[string]int64{}}
	for op, n := range a.ByOperation {
		out.ByOperation[op] += n
	}
	for op, n := range b.ByOperation {
		out.ByOperation[op] += n
	}
	return out
}

func costOf(c ddbCount, lat []time.Duration, ops int) opCost {
	o := opCost{Ops: ops, Latency: summarize(lat), ByOperation: map[string]int{}}
	if ops > 0 {
		o.Requests = float64(c.Requests) / float64(ops)
		o.ItemsWritten = float64(c.ItemsWritten) / float64(ops)
		o.ItemsRead = float64(c.ItemsRead) / float64(ops)
	}
	for op, n := range c.ByOperation {
		o.ByOperation[op] = int(n)
	}
	return o
}

// startFor starts a session for userID with the admin key.
func (e *env) startFor(ctx context.Context, userID string) (string, error) {
	var s struct {
		SessionID string `json:"session_id"`
	}
	if err := e.call(ctx, http.MethodPost, "/v1/sessions", benchAdminKey, map[string]any{"user_id": userID, "image_id": "bench-image"}, &s); err != nil {
		return "", fmt.Errorf("start a session for %s: %w", userID, err)
	}
	return s.SessionID, nil
}

// endSession deletes a session with the admin key.
func (e *env) endSession(ctx context.Context, sessionID string) error {
	if err := e.call(ctx, http.MethodDelete, "/v1/sessions/"+sessionID, benchAdminKey, nil, nil); err != nil {
		return fmt.Errorf("end session %s: %w", sessionID, err)
	}
	return nil
}

// concurrentBudget runs clients callers on the budget at once, each starting a session for
// one of its own users and ending it, ops times.
func (e *env) concurrentBudget(ctx context.Context, p *progress, seedUsers []seed.User, ops, clients int) (*usageConcurrent, error) {
	p.logf("usage: %s users: %d concurrent callers, %d start+end each", thousands(int64(len(seedUsers))), clients, ops/clients)
	per := max(ops/clients, 1)
	var (
		mu           sync.Mutex
		starts, ends []time.Duration
		errs         int
		firstErr     string
	)
	before := e.counter.snapshot()
	t0 := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range per {
				uid := seedUsers[(1000+c*per+i)%len(seedUsers)].ID
				t := time.Now()
				sid, err := e.startFor(ctx, uid)
				ds := time.Since(t)
				var de time.Duration
				if err == nil {
					t = time.Now()
					err = e.endSession(ctx, sid)
					de = time.Since(t)
				}
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					starts, ends = append(starts, ds), append(ends, de)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	c := e.counter.since(before)
	done := len(starts) * 2
	r := &usageConcurrent{Clients: clients, Ops: done, OpsPerSec: float64(done) / elapsed.Seconds(), Errors: errs, FirstErr: firstErr,
		LatencyStart: summarize(starts), LatencyEnd: summarize(ends)}
	if done > 0 {
		r.Requests = float64(c.Requests) / float64(done)
		r.ItemsWritten = float64(c.ItemsWritten) / float64(done)
		r.TransactCalls = float64(c.ByOperation["TransactWriteItems"]) / float64(done)
	}
	p.logf("usage: concurrent: %.0f starts+ends/s, %.2f requests and %.2f transactions per op, %d errors", r.OpsPerSec, r.Requests, r.TransactCalls, errs)
	return r, nil
}

// renderUsage writes the usage section of results.md.
func renderUsage(b *strings.Builder, u *usageResult) {
	fmt.Fprintf(b, "## Usage ledger\n\nSession starts and ends through the API (admin key: no key reads) charged to a per_group budget `%s`, "+
		"first of one user, then of a group of many users seeded in bulk with their memberships (all starts, then all ends). "+
		"Requests and items written are counted by a middleware on the DynamoDB client; a transaction's items are counted one by one, "+
		"condition checks not (the one user holds at most 5 sessions at once, max_kasms_per_user: its starts and ends go in rounds of 5).\n\n", u.Limit)
	var rows [][]string
	for _, x := range u.Budgets {
		charged := "yes"
		if !x.Charged {
			charged = "**no** (the start writes no ledger yet)"
		}
		for _, o := range []struct {
			name string
			c    opCost
		}{{"start", x.Start}, {"end", x.End}} {
			p50, p99 := "–", "–"
			if o.c.Latency.N > 0 {
				p50, p99 = f2(o.c.Latency.P50), f2(o.c.Latency.P99)
			}
			rows = append(rows, []string{thousands(int64(x.Users)), o.name, f2(o.c.Requests), f2(o.c.ItemsWritten), f2(o.c.ItemsRead), p50, p99, opsPer(o.c), charged})
		}
	}
	table(b, []string{"budget users", "op", "requests/op", "items written/op", "items read/op", "p50 ms", "p99 ms", "by operation (per op)", "charged"}, rows)
	for _, x := range u.Budgets {
		if c := x.Concurrent; c != nil {
			fmt.Fprintf(b, "Contention on the %s-user budget: %d callers at once, %s starts+ends in all: %.0f per second, %.2f requests, %.2f TransactWriteItems and %.2f items written per start or end "+
				"(retries of the optimistic ledger write included), start p50 %s ms p99 %s ms, end p50 %s ms p99 %s ms, %d errors%s.\n\n",
				thousands(int64(x.Users)), c.Clients, thousands(int64(c.Ops)), c.OpsPerSec, c.Requests, c.TransactCalls, c.ItemsWritten,
				f2(c.LatencyStart.P50), f2(c.LatencyStart.P99), f2(c.LatencyEnd.P50), f2(c.LatencyEnd.P99), c.Errors, firstErrNote(c.FirstErr))
		}
	}
}

func opsPer(c opCost) string {
	var parts []string
	for _, op := range slices.Sorted(maps.Keys(c.ByOperation)) {
		parts = append(parts, fmt.Sprintf("%s %s", op, f2(float64(c.ByOperation[op])/float64(max(c.Ops, 1)))))
	}
	return strings.Join(parts, ", ")
}

func firstErrNote(s string) string {
	if s == "" {
		return ""
	}
	return " (first: " + shorten(s, 120) + ")"
}
