package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"wspolicy/internal/ddbstore"
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
	// SeedSeconds is how long writing this level's new sessions and users took.
	SeedSeconds float64 `json:"seed_seconds"`
	// DryRunMs is the median of three dry runs (reads and decisions, no writes).
	DryRunMs int64 `json:"dry_run_ms"`
	// SweepMs is the real sweep's Report.DurationMs; ItemsRead its Report.ItemsRead.
	SweepMs   int64    `json:"sweep_ms"`
	ItemsRead int      `json:"items_read"`
	Deleted   int      `json:"deleted"`
	Errors    int      `json:"errors"`
	Requests  ddbCount `json:"ddb_requests"`
}

// sweepResult holds the levels and the ratios of the last to the first.
type sweepResult struct {
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

// benchSweep grows one table level by level (live counts ascending), each level adding
// sessions that are not due and exactly due sessions that are, then sweeps at sweepNow. The
// due sessions of a level are deleted by its sweep, so the next level again has exactly due.
func benchSweep(ctx context.Context, p *progress, endpoint string, live []int, due, workers int) (*sweepResult, error) {
	clock := &policy.FixedClock{T: sweepNow}
	e, err := newEnv(ctx, endpoint, "bench_sweep", workers, clock)
	if err != nil {
		return nil, err
	}
	defer e.close()
	sw := sweep.New(sweep.Config{Store: e.ss, Directory: e.store, Clock: clock})
	lt := defaultLifetime()
	rng := rand.New(rand.NewPCG(6, 1))
	res := &sweepResult{}
	notDue := 0 // live sessions seeded so far that are not due
	for li, n := range live {
		if n < due {
			return nil, fmt.Errorf("level %d: %d live sessions cannot hold %d due", li, n, due)
		}
		t0 := time.Now()
		var batch []lifecycle.Session
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := e.ss.SeedSessions(ctx, batch, workers)
			batch = batch[:0]
			return err
		}
		add := n - due - notDue
		p.logf("sweep: level %s live: seeding %s sessions that are not due and %s due", thousands(int64(n)), thousands(int64(add)), thousands(int64(due)))
		for i := range add {
			// Kept alive a moment ago: expires between 1 and 59 minutes after sweepNow.
			start := sweepNow.Add(-lt.KeepaliveExpiration + time.Minute + time.Duration(rng.Int64N(int64(58*time.Minute))))
			s, _ := lifecycle.NewSession(fmt.Sprintf("s_live_%06d", notDue+i), fmt.Sprintf("u_live_%05d", (notDue+i)%10000), "bench-image", true, lt, start)
			batch = append(batch, s)
			if len(batch) == 10_000 {
				if err := flush(); err != nil {
					return nil, err
				}
				p.logf("sweep: level %s live: %s/%s seeded", thousands(int64(n)), thousands(int64(i+1)), thousands(int64(add)))
			}
		}
		notDue += add
		var users []ddbstore.SeedUser
		for i := range due {
			// Expired within the minute before sweepNow; each its own user, who counts it.
			start := sweepNow.Add(-lt.KeepaliveExpiration - time.Millisecond - time.Duration(rng.Int64N(int64(time.Minute))))
			uid := fmt.Sprintf("u_due_%d_%04d", li, i)
			s, _ := lifecycle.NewSession(fmt.Sprintf("s_due_%d_%04d", li, i), uid, "bench-image", true, lt, start)
			batch = append(batch, s)
			users = append(users, ddbstore.SeedUser{User: policy.User{ID: uid, Username: uid, CreatedAt: start}, ActiveSessions: 1})
		}
		if err := flush(); err != nil {
			return nil, err
		}
		if err := e.store.SeedUsers(ctx, users, workers); err != nil {
			return nil, err
		}
		lvl := sweepLevel{Live: n, Due: due, SeedSeconds: time.Since(t0).Seconds()}
		p.logf("sweep: level %s live seeded in %.1f s; dry runs", thousands(int64(n)), lvl.SeedSeconds)
		var dry []int64
		for range 3 {
			rep, err := sw.Run(ctx, sweep.Options{DryRun: true, Now: sweepNow})
			if err != nil {
				return nil, err
			}
			if rep.ItemsRead != due || len(rep.Errors) > 0 {
				return nil, fmt.Errorf("dry run at %d live: read %d items, want %d; errors %v", n, rep.ItemsRead, due, rep.Errors)
			}
			dry = append(dry, rep.DurationMs)
		}
		slices.Sort(dry)
		lvl.DryRunMs = dry[1]
		before := e.counter.snapshot()
		rep, err := sw.Run(ctx, sweep.Options{Now: sweepNow})
		if err != nil {
			return nil, err
		}
		lvl.Requests = e.counter.since(before)
		lvl.SweepMs, lvl.ItemsRead, lvl.Deleted, lvl.Errors = rep.DurationMs, rep.ItemsRead, rep.Deleted, len(rep.Errors)
		p.logf("sweep: %s live, %d due: sweep %d ms (dry run %d ms), %d items read, %d deleted, %d errors",
			thousands(int64(n)), due, lvl.SweepMs, lvl.DryRunMs, lvl.ItemsRead, lvl.Deleted, lvl.Errors)
		if lvl.Errors > 0 {
			return nil, fmt.Errorf("sweep at %d live: %d errors, first: %s", n, lvl.Errors, rep.Errors[0])
		}
		if lvl.Deleted != due {
			return nil, fmt.Errorf("sweep at %d live deleted %d sessions, want %d", n, lvl.Deleted, due)
		}
		res.Levels = append(res.Levels, lvl)
	}
	if first, last := res.Levels[0], res.Levels[len(res.Levels)-1]; first.SweepMs > 0 && first.DryRunMs > 0 {
		res.Ratio = float64(last.SweepMs) / float64(first.SweepMs)
		res.DryRunRatio = float64(last.DryRunMs) / float64(first.DryRunMs)
	}
	return res, nil
}
