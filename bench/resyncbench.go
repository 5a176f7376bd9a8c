package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"wspolicy/bench/seed"
	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/directory"
	"wspolicy/internal/faultinject"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/localrun"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/sweep"
)

// Targets of a change on All Users (issue 16 part 2).
const (
	resyncTarget        = 5 * time.Minute // every live session re-synced, +15 ms per call
	resyncTargetUnits   = 1.0             // write units per re-synced session: at most a keepalive's
	resyncPerUser       = 4               // sessions per user seeded
	resyncSweepPeriod   = time.Minute     // the sweeper's schedule
	resyncLambdaTimeout = 55 * time.Second
)

// resyncLevel is one change on All Users with Sessions live sessions.
type resyncLevel struct {
	Sessions int `json:"sessions"`
	Users    int `json:"users"`
	// Direction is "longer" (keepalive_expiration doubled: the due entries stay early) or
	// "shorter" (halved: each due entry moves to the earlier expiry).
	Direction   string  `json:"direction"`
	LatencyMs   float64 `json:"added_latency_ms"`
	WriteBudget int     `json:"write_budget_units_per_s"`
	SeedSeconds float64 `json:"seed_seconds"`
	// Sweeps is how many sweeps (each with the sweeper function's budget) it took; SweepingS
	// their time back to back; ScheduledS the time to all re-synced on the one-minute schedule:
	// a minute per sweep but the last, plus the last's duration.
	Sweeps     int     `json:"sweeps"`
	SweepingS  float64 `json:"sweeping_s"`
	ScheduledS float64 `json:"scheduled_s"`
	Resynced   int     `json:"resynced"`
	// WriteUnits and ReadUnits are every unit the sweeps consumed (ReturnConsumedCapacity).
	WriteUnits float64 `json:"write_units"`
	ReadUnits  float64 `json:"read_units"`
	// ResyncUnits is what the sweeps' pacer counted (Report.ResyncUnits).
	ResyncUnits float64 `json:"resync_units"`
	// AchievedRate is ResyncUnits ÷ the time the sweeps spent re-syncing.
	AchievedRate float64 `json:"achieved_units_per_s"`
	// Carrying counts the sessions found with the new setting afterwards.
	Carrying int `json:"carrying_new_setting"`
	Errors   int `json:"errors"`
}

// resyncResult is what -only=resync measured.
type resyncResult struct {
	Workers int           `json:"workers"`
	Levels  []resyncLevel `json:"levels"`
	Load    string        `json:"load_average"`
}

// readMeter asks DynamoDB for the read capacity of every read a client sends and adds it up.
type readMeter struct {
	mu    sync.Mutex
	units float64
}

func (m *readMeter) add(ccs ...ddbtypes.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, cc := range ccs {
		if cc.CapacityUnits != nil {
			m.units += *cc.CapacityUnits
		}
	}
}

func (m *readMeter) total() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.units
}

func (m *readMeter) middleware(s *middleware.Stack) error {
	return s.Initialize.Add(middleware.InitializeMiddlewareFunc("benchReads",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			const total = ddbtypes.ReturnConsumedCapacityTotal
			switch p := in.Parameters.(type) {
			case *dynamodb.QueryInput:
				p.ReturnConsumedCapacity = total
			case *dynamodb.GetItemInput:
				p.ReturnConsumedCapacity = total
			case *dynamodb.BatchGetItemInput:
				p.ReturnConsumedCapacity = total
			}
			out, md, err := next.HandleInitialize(ctx, in)
			switch r := out.Result.(type) {
			case *dynamodb.QueryOutput:
				if r.ConsumedCapacity != nil {
					m.add(*r.ConsumedCapacity)
				}
			case *dynamodb.GetItemOutput:
				if r.ConsumedCapacity != nil {
					m.add(*r.ConsumedCapacity)
				}
			case *dynamodb.BatchGetItemOutput:
				m.add(r.ConsumedCapacity...)
			}
			return out, md, err
		}), middleware.After)
}

// benchResync measures a change of All Users' keepalive_expiration with each count of live
// sessions (resyncPerUser per user, all in All Users only), longer at every level and shorter
// at the first, swept with latency added to every DynamoDB call until every session carries it.
func benchResync(ctx context.Context, p *progress, endpoint string, levels []int, latency time.Duration, workers, budget, seedWorkers int) (*resyncResult, error) {
	res := &resyncResult{Workers: max(workers, 0)}
	if res.Workers == 0 {
		res.Workers = sweep.DefaultWorkers
	}
	for i, n := range levels {
		dirs := []string{"longer"}
		if i == 0 {
			dirs = append(dirs, "shorter")
		}
		for _, d := range dirs {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			lv, err := resyncOnce(ctx, p, endpoint, n, d, latency, workers, budget, seedWorkers)
			res.Levels = append(res.Levels, lv)
			if err != nil {
				res.Load = loadAverage()
				return res, err
			}
		}
	}
	res.Load = loadAverage()
	return res, nil
}

func resyncOnce(ctx context.Context, p *progress, endpoint string, n int, dir string, latency time.Duration, workers, budget, seedWorkers int) (resyncLevel, error) {
	users := (n + resyncPerUser - 1) / resyncPerUser
	lv := resyncLevel{Sessions: n, Users: users, Direction: dir, LatencyMs: ms(latency)}
	in := faultinject.New(faultinject.Config{Default: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Slow}, Delay: latency}})
	in.SetEnabled(false)
	writes, reads := &capacityMeter{}, &readMeter{}
	conns := 2 * max(workers, sweep.DefaultWorkers)
	db, err := ddbkit.NewClient(ctx, endpoint, in.DynamoDB, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, writes.middleware, reads.middleware)
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
		})
	})
	if err != nil {
		return lv, err
	}
	table := fmt.Sprintf("bench_resync_%d_%s", n, dir)
	if err := createBenchTable(ctx, db, table); err != nil {
		return lv, err
	}
	clock := &policy.FixedClock{T: sweepNow}
	tbl := ddbstore.Open(db, table, ddbstore.WithClock(clock))
	store, ss := tbl.Directory(), tbl.Sessions()
	loader := seed.Loader{DB: db, Table: table, Dir: store}
	if err := store.EnsureAllUsers(ctx, sweepNow, localrun.AllUsersSettings()); err != nil {
		return lv, err
	}
	p.logf("resync: seeding %s users with %d live sessions each", thousands(int64(users)), resyncPerUser)
	t0 := time.Now()
	start := sweepNow.Add(-time.Minute)
	var lt lifecycle.Lifetime
	const chunk = 10_000
	for from := 0; from < users; from += chunk / resyncPerUser {
		to := min(from+chunk/resyncPerUser, users)
		seedUsers := make([]seed.User, 0, to-from)
		for u := from; u < to; u++ {
			uid := fmt.Sprintf("u_rs_%06d", u)
			su := seed.User{User: policy.User{ID: uid, Username: uid, CreatedAt: start}, ActiveSessions: resyncPerUser}
			for k := range resyncPerUser {
				su.SessionIDs = append(su.SessionIDs, fmt.Sprintf("s_rs_%06d_%d", u, k))
			}
			seedUsers = append(seedUsers, su)
		}
		if err := loader.Users(ctx, seedUsers, seedWorkers); err != nil {
			return lv, err
		}
		if from == 0 {
			r, err := sessions.ResolveUser(ctx, store, seedUsers[0].ID)
			if err != nil {
				return lv, err
			}
			lt = lifecycle.LifetimeFrom(r)
		}
		var seeded []lifecycle.Session
		for _, su := range seedUsers {
			for _, id := range su.SessionIDs {
				s, _ := lifecycle.NewSession(id, su.ID, "bench-image", true, lt, start)
				seeded = append(seeded, s)
			}
		}
		if err := loader.Sessions(ctx, seeded, seedWorkers); err != nil {
			return lv, err
		}
	}
	lv.SeedSeconds = time.Since(t0).Seconds()
	want := 2 * lt.KeepaliveExpiration
	if dir == "shorter" {
		want = lt.KeepaliveExpiration / 2
	}
	// The change, through the directory service (it writes the re-sync marker with it).
	change := policy.SettingsChange{Set: map[string]json.RawMessage{"keepalive_expiration": json.RawMessage(strconv.Itoa(int(want.Seconds())))}}
	if _, err := directory.New(store, clock).ChangeSettings(ctx, policy.AllUsersGroupID, change, 0, "admin"); err != nil {
		return lv, err
	}
	sw := sweep.New(sweep.Config{Store: ss, Directory: store, Clock: clock, Workers: workers, ResyncWriteUnits: budget})
	lv.WriteBudget = sw.ResyncWriteUnits()
	p.logf("resync: %s sessions, keepalive_expiration %v → %v on All Users, +%s ms per call, budget %s units/s",
		thousands(int64(n)), lt.KeepaliveExpiration, want, f1(lv.LatencyMs), thousands(int64(lv.WriteBudget)))
	w0, r0 := writes.snapshot(), reads.total()
	in.SetEnabled(latency > 0)
	var resyncing time.Duration
	for lv.Sweeps = 1; ; lv.Sweeps++ {
		now := sweepNow.Add(time.Duration(lv.Sweeps) * resyncSweepPeriod)
		began := time.Now()
		rep, err := sw.Run(ctx, sweep.Options{Now: now, Budget: resyncLambdaTimeout - 10*time.Second})
		took := time.Since(began)
		lv.SweepingS += took.Seconds()
		if err != nil {
			in.SetEnabled(false)
			return lv, err
		}
		lv.Resynced += rep.Resynced
		lv.ResyncUnits += rep.ResyncUnits
		lv.Errors += len(rep.Errors)
		if rep.Resynced > 0 {
			resyncing += took
		}
		p.logf("resync: sweep %d: %s s, %s re-synced (%s in all), %s units, %d markers pending, %d errors",
			lv.Sweeps, f1(took.Seconds()), thousands(int64(rep.Resynced)), thousands(int64(lv.Resynced)), f1(rep.ResyncUnits), rep.ResyncPending, len(rep.Errors))
		if len(rep.Errors) > 0 {
			p.logf("resync: first error: %s", rep.Errors[0])
		}
		if rep.ResyncMarkers > 0 && rep.ResyncPending == 0 {
			lv.ScheduledS = float64(lv.Sweeps-1)*resyncSweepPeriod.Seconds() + took.Seconds()
			break
		}
		if lv.Sweeps >= 30 {
			in.SetEnabled(false)
			return lv, fmt.Errorf("re-sync of %d sessions not done after %d sweeps", n, lv.Sweeps)
		}
	}
	in.SetEnabled(false)
	lv.WriteUnits = writes.since(w0).Total()
	lv.ReadUnits = reads.total() - r0
	if resyncing > 0 {
		lv.AchievedRate = lv.ResyncUnits / resyncing.Seconds()
	}
	for shard := range ss.DueShards() {
		tok := ""
		for {
			pg, err := ss.ResyncPage(ctx, shard, tok)
			if err != nil {
				return lv, err
			}
			for _, s := range pg.Sessions {
				if s.Lifetime.KeepaliveExpiration == want && s.ExpiresAt.Equal(s.LastKeepaliveAt.Add(want)) && !s.DueAt.After(s.ExpiresAt) {
					lv.Carrying++
				}
			}
			if tok = pg.NextPageToken; tok == "" {
				break
			}
		}
	}
	p.logf("resync: %s sessions %s: all re-synced in %d sweeps, %s s on the minute schedule; %s write units per session, %s read units per member, %s units/s",
		thousands(int64(n)), dir, lv.Sweeps, f1(lv.ScheduledS), f2(lv.WriteUnits/float64(max(lv.Resynced, 1))), f2(lv.ReadUnits/float64(users)), thousands(int64(lv.AchievedRate)))
	if lv.Carrying != n || lv.Resynced != n {
		return lv, fmt.Errorf("re-sync of %d sessions: %d re-synced, %d carry the new setting", n, lv.Resynced, lv.Carrying)
	}
	return lv, nil
}

func renderResync(r *resyncResult, m machine) string {
	var b strings.Builder
	b.WriteString("# A change that touches everyone: re-sync of every live session (issue 16 part 2)\n\n")
	fmt.Fprintf(&b, "`go run ./bench -only=resync` on DynamoDB Local, %s/%s, %d CPUs, %s; sweep workers %d. Load average when the part ended: %s (the machine is shared).\n\n",
		m.GOOS, m.GOARCH, m.CPUs, m.GoVersion, r.Workers, r.Load)
	b.WriteString("Each level seeds users with 4 live sessions each, all in All Users only, changes All Users' keepalive_expiration through the directory service (which writes the re-sync marker in the same transaction), and runs sweeps with the sweeper function's budget (45 s; the re-sync takes up to 75 % of it) and +15 ms on every DynamoDB call until the marker is gone. " +
		"*On the minute schedule* is a minute per sweep but the last, plus the last's duration. Units are DynamoDB Local's ReturnConsumedCapacity for every call of the sweeps (writes: the session updates — 1.00 unit each, as the sweeps' own count shows — plus the cursor saves, one per page per marker at 1–3 units as the marker grows with its 17 cursors, and the marker's delete; reads: Due index pages, the parked sessions' ByOwner scan, session batches, user batches, groups, markers). A user's 4 sessions sit in different due shards, so a change spread over several sweeps reads the user again in each: read units per member grow with the sweeps.\n\n")
	b.WriteString("| sessions | users | keepalive_expiration | budget (units/s) | sweeps | back to back | on the minute schedule | write units / session | read units / member | read units / session | achieved units/s | carrying the new value | target |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, lv := range r.Levels {
		per := lv.WriteUnits / float64(max(lv.Resynced, 1))
		ok := lv.ScheduledS <= resyncTarget.Seconds() && (lv.Direction != "longer" || per <= resyncTargetUnits+0.05)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s s | %s s | %s | %s | %s | %s | %s | ≤ %.0f s, ≤ 1 unit when longer: %s |\n",
			thousands(int64(lv.Sessions)), thousands(int64(lv.Users)), lv.Direction, thousands(int64(lv.WriteBudget)), lv.Sweeps,
			f1(lv.SweepingS), f1(lv.ScheduledS), f2(per), f2(lv.ReadUnits/float64(max(lv.Users, 1))), f2(lv.ReadUnits/float64(max(lv.Sessions, 1))),
			thousands(int64(lv.AchievedRate)), thousands(int64(lv.Carrying)), resyncTarget.Seconds(), metWord(ok))
	}
	b.WriteString("\nBefore (the issue's measurement of the per-user re-sync): about 6 read units per member and 4 write units per live session, all at once.\n")
	return b.String()
}

func writeResync(r *resyncResult, m machine, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results-resync.md"), []byte(renderResync(r, m)), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results-resync.json"), append(js, '\n'), 0o644)
}
