package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/localrun"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
	"wspolicy/internal/sweep"
)

// sweepNow is the fixed time every sweep of the bench decides at, so that "due" is exact.
var sweepNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// sweepLevel is one scale level: Live live sessions of which Due are due at sweepNow.
type sweepLevel struct {
	Live int `json:"live_sessions"`
	Due  int `json:"due_sessions"`
	// SeedSeconds is how long writing this level's sessions that are not due took.
	SeedSeconds float64 `json:"seed_seconds"`
	// Rounds holds each round's real sweep (Report.DurationMs) and dry run (reads and
	// decisions, no writes); SweepMs and DryRunMs are their medians.
	SweepRoundsMs  []int64 `json:"sweep_rounds_ms"`
	DryRunRoundsMs []int64 `json:"dry_run_rounds_ms"`
	SweepMs        int64   `json:"sweep_ms"`
	DryRunMs       int64   `json:"dry_run_ms"`
	// ItemsRead, Deleted and Requests are those of one round (every round is alike).
	ItemsRead int      `json:"items_read"`
	Deleted   int      `json:"deleted"`
	Requests  ddbCount `json:"ddb_requests"`
}

// sweepResult holds the levels and the ratios of the last to the first.
type sweepResult struct {
	Rounds      int          `json:"rounds_per_level"`
	Levels      []sweepLevel `json:"levels"`
	Ratio       float64      `json:"ratio_last_to_first"`
	DryRunRatio float64      `json:"dry_run_ratio_last_to_first"`
}

// defaultLifetime is the lifetime snapshot of a user who is only in All Users.
func defaultLifetime() lifecycle.Lifetime {
	r := settings.Resolve([]settings.GroupInput{{
		ID: policy.AllUsersGroupID, Name: policy.AllUsersGroupName, Priority: policy.AllUsersPriority,
		Settings: localrun.AllUsersSettings(),
	}})
	return lifecycle.LifetimeFrom(r)
}

// sweepBench is the state of benchSweep: one table, its sessions so far.
type sweepBench struct {
	e       *env
	p       *progress
	sw      *sweep.Sweeper
	lt      lifecycle.Lifetime
	rng     *rand.Rand
	workers int
	notDue  int // live sessions seeded so far that are not due
	rounds  int // due batches seeded so far
}

// benchSweep grows one table level by level (live counts ascending), each level adding
// sessions that are not due, then runs rounds: each round adds exactly due sessions that are
// due at sweepNow, dry-runs and sweeps (which deletes them, so the next round again has
// exactly due among exactly the level's live sessions). A first round before the levels warms
// DynamoDB Local up and is not measured.
func benchSweep(ctx context.Context, p *progress, endpoint string, live []int, due, rounds, workers int) (*sweepResult, error) {
	clock := &policy.FixedClock{T: sweepNow}
	e, err := newEnv(ctx, endpoint, "bench_sweep", workers, clock)
	if err != nil {
		return nil, err
	}
	defer e.close()
	b := &sweepBench{e: e, p: p, lt: defaultLifetime(), rng: rand.New(rand.NewPCG(6, 1)), workers: workers,
		sw: sweep.New(sweep.Config{Store: e.ss, Directory: e.store, Clock: clock})}
	p.logf("sweep: warm-up round (%s due, not measured)", thousands(int64(due)))
	if _, err := b.round(ctx, due); err != nil {
		return nil, err
	}
	res := &sweepResult{Rounds: rounds}
	for _, n := range live {
		if n < due {
			return nil, fmt.Errorf("%d live sessions cannot hold %d due", n, due)
		}
		t0 := time.Now()
		if err := b.seedNotDue(ctx, n-due-b.notDue, n); err != nil {
			return nil, err
		}
		lvl := sweepLevel{Live: n, Due: due, SeedSeconds: time.Since(t0).Seconds()}
		for r := range rounds {
			rr, err := b.round(ctx, due)
			if err != nil {
				return nil, fmt.Errorf("%d live: %w", n, err)
			}
			lvl.SweepRoundsMs = append(lvl.SweepRoundsMs, rr.sweepMs)
			lvl.DryRunRoundsMs = append(lvl.DryRunRoundsMs, rr.dryMs)
			lvl.ItemsRead, lvl.Deleted, lvl.Requests = rr.itemsRead, rr.deleted, rr.requests
			p.logf("sweep: %s live, %s due, round %d/%d: sweep %s ms (dry run %s ms), %s items read, %s deleted",
				thousands(int64(n)), thousands(int64(due)), r+1, rounds, thousands(rr.sweepMs), thousands(rr.dryMs), thousands(int64(rr.itemsRead)), thousands(int64(rr.deleted)))
		}
		lvl.SweepMs, lvl.DryRunMs = medianInt(lvl.SweepRoundsMs), medianInt(lvl.DryRunRoundsMs)
		res.Levels = append(res.Levels, lvl)
	}
	if first, last := res.Levels[0], res.Levels[len(res.Levels)-1]; first.SweepMs > 0 && first.DryRunMs > 0 {
		res.Ratio = float64(last.SweepMs) / float64(first.SweepMs)
		res.DryRunRatio = float64(last.DryRunMs) / float64(first.DryRunMs)
	}
	return res, nil
}

// seedNotDue adds n sessions kept alive a moment ago: each expires between 1 and 59 minutes
// after sweepNow, so it is in the Due index but not due.
func (b *sweepBench) seedNotDue(ctx context.Context, n, level int) error {
	b.p.logf("sweep: level %s live: seeding %s sessions that are not due", thousands(int64(level)), thousands(int64(n)))
	const chunk = 10_000
	batch := make([]lifecycle.Session, 0, chunk)
	for i := range n {
		start := sweepNow.Add(-b.lt.KeepaliveExpiration + time.Minute + time.Duration(b.rng.Int64N(int64(58*time.Minute))))
		id := b.notDue + i
		s, _ := lifecycle.NewSession(fmt.Sprintf("s_live_%06d", id), fmt.Sprintf("u_live_%05d", id%10000), "bench-image", true, b.lt, start)
		batch = append(batch, s)
		if len(batch) == chunk || i == n-1 {
			if err := b.e.seed().Sessions(ctx, batch, b.workers); err != nil {
				return err
			}
			batch = batch[:0]
			if n > chunk {
				b.p.logf("sweep: level %s live: %s/%s seeded", thousands(int64(level)), thousands(int64(i+1)), thousands(int64(n)))
			}
		}
	}
	b.notDue += n
	return nil
}

// roundResult is one round's figures.
type roundResult struct {
	sweepMs, dryMs     int64
	itemsRead, deleted int
	requests           ddbCount
}

// round seeds due sessions whose keepalive expired within the minute before sweepNow, each
// with its own user who counts it, then dry-runs and sweeps at sweepNow.
func (b *sweepBench) round(ctx context.Context, due int) (roundResult, error) {
	k := b.rounds
	b.rounds++
	sessions := make([]lifecycle.Session, 0, due)
	users := make([]seed.User, 0, due)
	for i := range due {
		start := sweepNow.Add(-b.lt.KeepaliveExpiration - time.Millisecond - time.Duration(b.rng.Int64N(int64(time.Minute))))
		uid := fmt.Sprintf("u_due_%d_%05d", k, i)
		s, _ := lifecycle.NewSession(fmt.Sprintf("s_due_%d_%05d", k, i), uid, "bench-image", true, b.lt, start)
		sessions = append(sessions, s)
		users = append(users, seed.User{User: policy.User{ID: uid, Username: uid, CreatedAt: start}, ActiveSessions: 1})
	}
	if err := b.e.seed().Sessions(ctx, sessions, b.workers); err != nil {
		return roundResult{}, err
	}
	if err := b.e.seed().Users(ctx, users, b.workers); err != nil {
		return roundResult{}, err
	}
	dry, err := b.sw.Run(ctx, sweep.Options{DryRun: true, Now: sweepNow})
	if err != nil {
		return roundResult{}, err
	}
	if dry.ItemsRead != due || len(dry.Errors) > 0 {
		return roundResult{}, fmt.Errorf("dry run read %d items, want %d; errors %v", dry.ItemsRead, due, dry.Errors)
	}
	before := b.e.counter.snapshot()
	rep, err := b.sw.Run(ctx, sweep.Options{Now: sweepNow})
	if err != nil {
		return roundResult{}, err
	}
	rr := roundResult{sweepMs: rep.DurationMs, dryMs: dry.DurationMs, itemsRead: rep.ItemsRead, deleted: rep.Deleted, requests: b.e.counter.since(before)}
	if len(rep.Errors) > 0 {
		return rr, fmt.Errorf("sweep: %d errors, first: %s", len(rep.Errors), rep.Errors[0])
	}
	if rep.Deleted != due {
		return rr, fmt.Errorf("sweep deleted %d sessions, want %d", rep.Deleted, due)
	}
	return rr, nil
}

// medianInt is the median of v (the upper middle for an even count).
func medianInt(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
