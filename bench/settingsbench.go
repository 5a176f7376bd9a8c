package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
)

// settingsLevel is the effective-settings cost for a user in Groups groups (besides All Users).
type settingsLevel struct {
	Groups int `json:"groups"`
	// RoundTrips is the DynamoDB requests per GET /v1/users/{id}/effective-settings.
	RoundTrips float64 `json:"ddb_round_trips"`
	// API is the latency of that request through the HTTP server (admin key: no key read).
	API latencies `json:"api_latency"`
	// Store is the latency of sessions.ResolveUser in process (the two reads and Resolve).
	Store latencies `json:"store_latency"`
	// Resolve is settings.Resolve of Groups groups that set every setting of the catalog, in
	// memory (testing.Benchmark, the fastest of three runs).
	ResolveNsPerOp     int64   `json:"resolve_ns_per_op"`
	ResolveRunsNs      []int64 `json:"resolve_runs_ns_per_op"`
	ResolveAllocsPerOp int64   `json:"resolve_allocs_per_op"`
	ResolveBytesPerOp  int64   `json:"resolve_bytes_per_op"`
}

// settingsResult holds the levels measured.
type settingsResult struct {
	Reads int `json:"reads_per_level"`
	// LargestItemBytes is the largest item of the settings table: a group that sets every
	// setting (or the user in the most groups), as DynamoDB counts it.
	LargestItemBytes int             `json:"largest_item_bytes"`
	Levels           []settingsLevel `json:"levels"`
}

// benchGroupInputs builds n groups with random priorities, each setting every setting of the
// catalog with a valid value: the inputs of internal/settings' BenchmarkResolve* (the same
// generator, which lives in that package's tests), so the figures compare.
func benchGroupInputs(n int) ([]settings.GroupInput, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	groups := make([]settings.GroupInput, n)
	for i := range groups {
		values := make(map[string]json.RawMessage, len(settings.Catalog()))
		for _, s := range settings.Catalog() {
			v := s.Default
			if s.AllUsers != nil && rng.IntN(2) == 0 {
				v = s.AllUsers
			}
			values[s.Name] = v
		}
		values["usage_limit"] = json.RawMessage(`{"type":"per_user","interval":"weekly","hours":10}`)
		values["run_config"] = json.RawMessage(`{"hostname":"ws","environment":{"LANG":"en_US.UTF-8"}}`)
		vm, err := settings.Validate("volume_mapping", json.RawMessage(fmt.Sprintf(
			`{"/mnt/shared":{"bind":"/shared","mode":"ro","uid":1000,"gid":1000},"/mnt/g%d/{username}":{"bind":"/home/kasm-user/g%d","mode":"rw","uid":1000,"gid":1000}}`, i, i)))
		if err != nil {
			return nil, err
		}
		values["volume_mapping"] = vm
		groups[i] = settings.GroupInput{ID: fmt.Sprintf("g_%03d", i), Name: fmt.Sprintf("Group %d", i), Priority: 1 + rng.IntN(4095), Settings: values}
	}
	return groups, nil
}

// benchSettings creates max(levels) groups that set every setting, one user per level in the
// first n of them, and measures effective settings for each.
func benchSettings(ctx context.Context, p *progress, endpoint string, levels []int, reads int) (*settingsResult, error) {
	e, err := newEnv(ctx, endpoint, "bench_settings", 4, policy.SystemClock{})
	if err != nil {
		return nil, err
	}
	defer e.close()
	most := 0
	for _, n := range levels {
		most = max(most, n)
	}
	inputs, err := benchGroupInputs(most)
	if err != nil {
		return nil, err
	}
	p.logf("settings: %d groups with every setting set", most)
	groups := make([]policy.Group, len(inputs))
	for i, g := range inputs {
		groups[i] = policy.Group{ID: g.ID, Name: g.Name, Priority: g.Priority, Settings: g.Settings}
	}
	if err := e.seed().Groups(ctx, groups, 4); err != nil {
		return nil, err
	}
	var users []seed.User
	for _, n := range levels {
		var ids []string
		for _, g := range inputs[:n] {
			ids = append(ids, g.ID)
		}
		id := fmt.Sprintf("u_settings_%d", n)
		users = append(users, seed.User{User: policy.User{ID: id, Username: id, GroupIDs: ids, CreatedAt: time.Now()}})
	}
	if err := e.seed().Users(ctx, users, 1); err != nil {
		return nil, err
	}
	res := &settingsResult{Reads: reads}
	if res.LargestItemBytes, err = largestItem(ctx, e.db, e.table); err != nil {
		return nil, err
	}
	for i, n := range levels {
		uid := users[i].ID
		lvl := settingsLevel{Groups: n}
		// One read first, unmeasured: connections and the JIT of DynamoDB Local warm up.
		if err := e.call(ctx, http.MethodGet, "/v1/users/"+uid+"/effective-settings", benchAdminKey, nil, nil); err != nil {
			return nil, err
		}
		before := e.counter.snapshot()
		api := make([]time.Duration, 0, reads)
		for range reads {
			t0 := time.Now()
			if err := e.call(ctx, http.MethodGet, "/v1/users/"+uid+"/effective-settings", benchAdminKey, nil, nil); err != nil {
				return nil, err
			}
			api = append(api, time.Since(t0))
		}
		lvl.RoundTrips = float64(e.counter.since(before).Requests) / float64(reads)
		lvl.API = summarize(api)
		store := make([]time.Duration, 0, reads)
		for range reads {
			t0 := time.Now()
			r, err := sessions.ResolveUser(ctx, e.store, uid)
			if err != nil {
				return nil, err
			}
			if len(r.Settings) != len(settings.Catalog()) {
				return nil, fmt.Errorf("resolved %d settings, want %d", len(r.Settings), len(settings.Catalog()))
			}
			store = append(store, time.Since(t0))
		}
		lvl.Store = summarize(store)
		groups := inputs[:n]
		// Three runs of testing.Benchmark's 1 s, the fastest kept: other processes on the
		// machine can only add time to a CPU-bound loop.
		for range 3 {
			b := testing.Benchmark(func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					settings.Resolve(groups)
				}
			})
			lvl.ResolveRunsNs = append(lvl.ResolveRunsNs, b.NsPerOp())
			if lvl.ResolveNsPerOp == 0 || b.NsPerOp() < lvl.ResolveNsPerOp {
				lvl.ResolveNsPerOp, lvl.ResolveAllocsPerOp, lvl.ResolveBytesPerOp = b.NsPerOp(), b.AllocsPerOp(), b.AllocedBytesPerOp()
			}
		}
		p.logf("settings: %d groups: %.1f round trips, API p50 %.2f ms, Resolve %.1f µs", n, lvl.RoundTrips, lvl.API.P50, float64(lvl.ResolveNsPerOp)/1000)
		res.Levels = append(res.Levels, lvl)
	}
	return res, nil
}
