package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/preview"
)

// previewLevel is the cost of previewing a change of a group of Members members (issue 20).
type previewLevel struct {
	Members  int `json:"members"`
	Sessions int `json:"sessions"`
	// Settings: a setting the sessions do not care about (no session reads); Lifetime: a lower
	// keepalive_expiration (every member's sessions listed and re-decided).
	Settings previewRun `json:"settings_change"`
	Lifetime previewRun `json:"keepalive_change"`
	SeedSecs float64    `json:"seed_seconds"`
}

type previewRun struct {
	Ms            float64  `json:"ms"`
	Requests      ddbCount `json:"requests"`
	UsersAffected int      `json:"users_affected"`
	Deleted       int      `json:"sessions_deleted_at_next_sweep"`
	PageUsers     int      `json:"page_users"`
}

type previewResult struct {
	Levels []previewLevel `json:"levels"`
}

// benchPreview seeds, per level, a group of n members (each also in All Users) with one running
// session each, half of them last kept alive 30 minutes ago, and times two previews in process
// through the service the API uses, counting its DynamoDB requests.
func benchPreview(ctx context.Context, p *progress, endpoint string, levels []int, workers int) (*previewResult, error) {
	out := &previewResult{}
	for _, n := range levels {
		e, err := newEnv(ctx, endpoint, fmt.Sprintf("bench_preview_%d", n), 4, policy.SystemClock{})
		if err != nil {
			return out, err
		}
		lvl, err := previewOneLevel(ctx, p, e, n, workers)
		e.close()
		if err != nil {
			return out, err
		}
		out.Levels = append(out.Levels, lvl)
	}
	return out, nil
}

func previewOneLevel(ctx context.Context, p *progress, e *env, n, workers int) (previewLevel, error) {
	lvl := previewLevel{Members: n, Sessions: n}
	seedStart := time.Now()
	now := time.Now().UTC()
	g, err := e.store.CreateGroup(ctx, policy.Group{ID: "g_bench_preview", Name: "Preview", Priority: 10})
	if err != nil {
		return lvl, err
	}
	if _, err := e.store.ChangeSettings(ctx, g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{"keepalive_expiration": json.RawMessage("3600")}}, 0, "bench", now); err != nil {
		return lvl, err
	}
	users := make([]seed.User, n)
	ss := make([]lifecycle.Session, n)
	lt := lifecycle.Lifetime{KeepaliveExpiration: time.Hour, Action: lifecycle.ActionDelete, KeepaliveInterval: 5 * time.Minute, IdleDisconnect: 20 * time.Minute, MaxSessions: 5}
	for i := range n {
		uid := fmt.Sprintf("u_pv_%05d", i)
		sid := fmt.Sprintf("s_pv_%05d", i)
		users[i] = seed.User{User: policy.User{ID: uid, Username: uid, GroupIDs: []string{g.ID}, CreatedAt: now}, ActiveSessions: 1, SessionIDs: []string{sid}}
		start := now.Add(-30 * time.Minute)
		if i%2 == 0 {
			start = now.Add(-5 * time.Minute)
		}
		ss[i], _ = lifecycle.NewSession(sid, uid, "bench-image", true, lt, start)
	}
	if err := e.seed().Users(ctx, users, workers); err != nil {
		return lvl, err
	}
	if err := e.seed().Sessions(ctx, ss, workers); err != nil {
		return lvl, err
	}
	lvl.SeedSecs = time.Since(seedStart).Seconds()
	svc := preview.New(e.store, e.ss, e.clock)
	run := func(set string) (previewRun, error) {
		var c policy.SettingsChange
		name, value, _ := strings.Cut(set, "=")
		c.Set = map[string]json.RawMessage{name: json.RawMessage(value)}
		before := e.counter.snapshot()
		t := time.Now()
		res, err := svc.Preview(ctx, g.ID, preview.Change{Kind: preview.KindSettings, Settings: c}, preview.Page{})
		if err != nil {
			return previewRun{}, err
		}
		return previewRun{Ms: float64(time.Since(t).Microseconds()) / 1000, Requests: e.counter.since(before),
			UsersAffected: res.Summary.Users, Deleted: res.Summary.Deleted, PageUsers: len(res.Users)}, nil
	}
	if lvl.Settings, err = run(`allow_kasm_audio=false`); err != nil {
		return lvl, err
	}
	if lvl.Lifetime, err = run(`keepalive_expiration=900`); err != nil {
		return lvl, err
	}
	p.logf("preview: %s members: settings %s ms (%d requests), keepalive %s ms (%d requests)", thousands(int64(n)),
		f1(lvl.Settings.Ms), lvl.Settings.Requests.Requests, f1(lvl.Lifetime.Ms), lvl.Lifetime.Requests.Requests)
	return lvl, nil
}

// renderPreview writes the preview section of results.md.
func renderPreview(b *strings.Builder, r *previewResult) {
	b.WriteString("## Settings-change preview (issue 20)\n\n")
	b.WriteString("POST /v1/groups/{id}/preview's service in process, on a group whose members each have one running session (half last kept alive 30 minutes ago, half 5 minutes ago; keepalive_expiration 3600). " +
		"\"settings\" previews allow_kasm_audio=false (no session reads: nothing a session keeps changes); \"keepalive\" previews keepalive_expiration=900 (every member's sessions listed, re-synced and decided: the half idle for 30 minutes would be deleted at the next sweep). " +
		"Reads: the group, its membership query and one BatchGetItem per 100 members, every member's groups once (batched), then, for the members whose lifetime values change, their user items (the ids of their live sessions, session_ids) and those sessions' items, 100 per BatchGetItem; never a Scan and no request per member. The answer's first page holds 50 users.\n\n")
	var rows [][]string
	for _, l := range r.Levels {
		for _, x := range []struct {
			name string
			r    previewRun
		}{{"settings", l.Settings}, {"keepalive", l.Lifetime}} {
			rows = append(rows, []string{thousands(int64(l.Members)), x.name, f1(x.r.Ms), thousands(x.r.Requests.Requests), x.r.Requests.operations(),
				thousands(int64(x.r.UsersAffected)), thousands(int64(x.r.Deleted)), fmt.Sprint(x.r.PageUsers)})
		}
	}
	table(b, []string{"members", "change", "ms", "DynamoDB requests", "by operation", "users affected", "deleted at next sweep", "users on page 1"}, rows)
	b.WriteString("\n")
}
