package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/color"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"wspolicy/bench/seed"
	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/faultinject"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/localrun"
	"wspolicy/internal/policy"
	"wspolicy/internal/sweep"
)

// Targets of the mass events (issue 16).
const (
	massTarget       = 60 * time.Second // 10,000 due at +15 ms acted on; 1,000 re-sync markers handled
	massTargetDue    = 10_000
	massResyncTarget = 1000
)

// massRun is one sweep of Due sessions all due at once, with Latency added to every
// DynamoDB call.
type massRun struct {
	Due       int     `json:"due_sessions"`
	LatencyMs float64 `json:"added_latency_ms"`
	Workers   int     `json:"workers"`
	// SeedSeconds is how long seeding the due sessions and their users (BatchWriteItem) took.
	SeedSeconds float64 `json:"seed_seconds"`
	// AllActedS is the time from the sweep's start to its last action; SweepS the sweep's
	// whole run (Report.DurationMs), which ends with the last, empty reads.
	AllActedS float64 `json:"all_acted_s"`
	SweepS    float64 `json:"sweep_s"`
	// PerSecond is Due ÷ AllActedS.
	PerSecond float64 `json:"per_second"`
	// Lag is the expiry lag: action time − due time, every session due when the sweep starts.
	Lag       latencies `json:"lag"`
	Deleted   int       `json:"deleted"`
	Throttled int       `json:"throttled"`
	Errors    int       `json:"errors"`
}

// resyncRun is one sweep of Markers re-sync markers, each a user with a live session whose
// lifetime settings changed.
type resyncRun struct {
	Markers   int     `json:"markers"`
	LatencyMs float64 `json:"added_latency_ms"`
	Workers   int     `json:"workers"`
	SweepS    float64 `json:"sweep_s"`
	Handled   int     `json:"markers_handled"`
	Resynced  int     `json:"sessions_resynced"`
	Errors    int     `json:"errors"`
	ItemsRead int     `json:"items_read"`
}

// sweepScaleResult is what -only=sweepscale measured.
type sweepScaleResult struct {
	Workers int         `json:"workers"`
	Runs    []massRun   `json:"runs"`
	Resync  []resyncRun `json:"resync"`
	// Load is the machine's load average (1, 5, 15 min) when the part ended.
	Load string `json:"load_average"`
}

// timedStore notes when each of the sweep's transitions was applied.
type timedStore struct {
	sweep.Store
	mu    sync.Mutex
	start time.Time
	lags  []time.Duration
}

func (t *timedStore) Transition(ctx context.Context, c lifecycle.Change) error {
	err := t.Store.Transition(ctx, c)
	if err == nil {
		d := time.Since(t.start)
		t.mu.Lock()
		t.lags = append(t.lags, d)
		t.mu.Unlock()
	}
	return err
}

// massEnv is the table of the part, on a client whose every call goes through the injector.
type massEnv struct {
	ss  *ddbstore.SessionStore
	dir *ddbstore.Store
	in  *faultinject.Injector
	// seed loads users and sessions in bulk.
	seed seed.Loader
}

func newMassEnv(ctx context.Context, endpoint string, latency time.Duration, conns int) (*massEnv, error) {
	in := faultinject.New(faultinject.Config{Default: faultinject.Rule{Rate: 1, Faults: []faultinject.Fault{faultinject.Slow}, Delay: latency}})
	in.SetEnabled(false)
	db, err := ddbkit.NewClient(ctx, endpoint, in.DynamoDB, func(o *dynamodb.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = 2 * conns
			tr.MaxIdleConnsPerHost = 2 * conns
		})
	})
	if err != nil {
		return nil, err
	}
	const table = "bench_sweepscale"
	if err := createBenchTable(ctx, db, table); err != nil {
		return nil, err
	}
	clock := &policy.FixedClock{T: sweepNow}
	tbl := ddbstore.Open(db, table, ddbstore.WithClock(clock))
	dir := tbl.Directory()
	if err := dir.EnsureAllUsers(ctx, sweepNow, localrun.AllUsersSettings()); err != nil {
		return nil, err
	}
	return &massEnv{ss: tbl.Sessions(), dir: dir, in: in, seed: seed.Loader{DB: db, Table: table, Dir: dir}}, nil
}

// benchSweepScale measures sweeps of each count of due sessions, without and with latency
// added to every DynamoDB call, then the re-sync of markers likewise.
func benchSweepScale(ctx context.Context, p *progress, endpoint string, levels []int, latency time.Duration, workers, markers, seedWorkers, baselineMax int) (*sweepScaleResult, error) {
	sw := sweep.New(sweep.Config{Workers: workers})
	res := &sweepScaleResult{Workers: sw.Workers()}
	e, err := newMassEnv(ctx, endpoint, latency, res.Workers)
	if err != nil {
		return nil, err
	}
	lt := defaultLifetime()
	// A first sweep warms DynamoDB Local (its JIT) up and is not counted.
	p.logf("sweepscale: warm-up sweep (not measured)")
	if _, err := e.massSweep(ctx, p, "warm", 1000, 0, lt, res.Workers, seedWorkers); err != nil {
		return res, err
	}
	for k, n := range levels {
		for _, lat := range []time.Duration{0, latency} {
			if lat == 0 && baselineMax > 0 && n > baselineMax {
				continue // only the run with the added latency at this level
			}
			r, err := e.massSweep(ctx, p, fmt.Sprintf("%d_%d", k, lat.Milliseconds()), n, lat, lt, res.Workers, seedWorkers)
			if err != nil {
				return res, err
			}
			res.Runs = append(res.Runs, r)
		}
	}
	for _, lat := range []time.Duration{0, latency} {
		r, err := e.resyncSweep(ctx, p, markers, lat, lt, res.Workers, seedWorkers)
		if err != nil {
			return res, err
		}
		res.Resync = append(res.Resync, r)
	}
	res.Load = loadAverage()
	return res, nil
}

// massSweep seeds n sessions, each of its own user, whose keepalive expired the moment
// before sweepNow, and sweeps them with lat added to every call.
func (e *massEnv) massSweep(ctx context.Context, p *progress, tag string, n int, lat time.Duration, lt lifecycle.Lifetime, workers, seedWorkers int) (massRun, error) {
	r := massRun{Due: n, LatencyMs: ms(lat), Workers: workers}
	p.logf("sweepscale: seeding %s due sessions", thousands(int64(n)))
	t0 := time.Now()
	start := sweepNow.Add(-lt.KeepaliveExpiration - time.Millisecond)
	const chunk = 10_000
	for from := 0; from < n; from += chunk {
		to := min(from+chunk, n)
		sessions := make([]lifecycle.Session, 0, to-from)
		users := make([]seed.User, 0, to-from)
		for i := from; i < to; i++ {
			uid := fmt.Sprintf("u_mass_%s_%05d", tag, i)
			s, _ := lifecycle.NewSession(fmt.Sprintf("s_mass_%s_%05d", tag, i), uid, "bench-image", false, lt, start)
			sessions = append(sessions, s)
			users = append(users, seed.User{User: policy.User{ID: uid, Username: uid, CreatedAt: start}, ActiveSessions: 1})
		}
		if err := e.seed.Sessions(ctx, sessions, seedWorkers); err != nil {
			return r, err
		}
		if err := e.seed.Users(ctx, users, seedWorkers); err != nil {
			return r, err
		}
	}
	r.SeedSeconds = time.Since(t0).Seconds()
	ts := &timedStore{Store: e.ss, lags: make([]time.Duration, 0, n)}
	sw := sweep.New(sweep.Config{Store: ts, Directory: e.dir, Clock: &policy.FixedClock{T: sweepNow}, Workers: workers})
	e.in.SetEnabled(lat > 0)
	ts.start = time.Now()
	rep, err := sw.Run(ctx, sweep.Options{Now: sweepNow})
	e.in.SetEnabled(false)
	if err != nil {
		return r, err
	}
	r.SweepS = float64(rep.DurationMs) / 1000
	r.Deleted, r.Throttled, r.Errors = rep.Deleted, rep.Throttled, len(rep.Errors)
	r.Lag = summarize(ts.lags)
	if len(ts.lags) > 0 {
		r.AllActedS = r.Lag.Max / 1000
		r.PerSecond = float64(len(ts.lags)) / r.AllActedS
	}
	p.logf("sweepscale: %s due, +%s ms: all acted on in %s s (%s/s), lag p50 %s s, p99 %s s; deleted %s, errors %d",
		thousands(int64(n)), f1(r.LatencyMs), f1(r.AllActedS), thousands(int64(r.PerSecond)), f1(r.Lag.P50/1000), f1(r.Lag.P99/1000), thousands(int64(r.Deleted)), r.Errors)
	if r.Errors > 0 {
		return r, fmt.Errorf("sweep of %d due: %d errors, the first: %s", n, r.Errors, rep.Errors[0])
	}
	if r.Deleted != n {
		return r, fmt.Errorf("sweep of %d due deleted %d", n, r.Deleted)
	}
	return r, nil
}

// resyncSweep seeds n users, each with a live session whose keepalive_expiration is not the
// one the settings now give, and a user re-sync marker for each, then sweeps with lat added.
func (e *massEnv) resyncSweep(ctx context.Context, p *progress, n int, lat time.Duration, lt lifecycle.Lifetime, workers, seedWorkers int) (resyncRun, error) {
	r := resyncRun{Markers: n, LatencyMs: ms(lat), Workers: workers}
	old := lt
	old.KeepaliveExpiration = lt.KeepaliveExpiration / 2
	start := sweepNow.Add(-time.Minute)
	sessions := make([]lifecycle.Session, 0, n)
	users := make([]seed.User, 0, n)
	for i := range n {
		uid := fmt.Sprintf("u_resync_%05d", i)
		s, _ := lifecycle.NewSession(fmt.Sprintf("s_resync_%05d", i), uid, "bench-image", true, old, start)
		sessions = append(sessions, s)
		users = append(users, seed.User{User: policy.User{ID: uid, Username: uid, CreatedAt: start}, ActiveSessions: 1})
	}
	p.logf("sweepscale: seeding %s users with a live session and a re-sync marker each", thousands(int64(n)))
	if err := e.seed.Sessions(ctx, sessions, seedWorkers); err != nil {
		return r, err
	}
	if err := e.seed.Users(ctx, users, seedWorkers); err != nil {
		return r, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range seedWorkers {
		wg.Go(func() {
			for i := w; i < n; i += seedWorkers {
				if err := e.ss.MarkResync(ctx, lifecycle.ResyncUser, users[i].ID, sweepNow.Add(-time.Second)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return r, err
	}
	sw := sweep.New(sweep.Config{Store: e.ss, Directory: e.dir, Clock: &policy.FixedClock{T: sweepNow}, Workers: workers})
	e.in.SetEnabled(lat > 0)
	rep, err := sw.Run(ctx, sweep.Options{Now: sweepNow})
	e.in.SetEnabled(false)
	if err != nil {
		return r, err
	}
	r.SweepS = float64(rep.DurationMs) / 1000
	r.Handled, r.Resynced, r.Errors, r.ItemsRead = rep.ResyncMarkers, rep.Resynced, len(rep.Errors), rep.ItemsRead
	p.logf("sweepscale: %s re-sync markers, +%s ms: sweep %s s, %s sessions re-synced, errors %d",
		thousands(int64(n)), f1(r.LatencyMs), f1(r.SweepS), thousands(int64(r.Resynced)), r.Errors)
	if r.Errors > 0 {
		return r, fmt.Errorf("re-sync of %d markers: %d errors, the first: %s", n, r.Errors, rep.Errors[0])
	}
	if r.Handled != n || r.Resynced != n {
		return r, fmt.Errorf("re-sync of %d markers handled %d and re-synced %d sessions", n, r.Handled, r.Resynced)
	}
	return r, nil
}

// loadAverage is /proc/loadavg's first three fields ("" where there is none).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// massChecks are the part's figures against their targets.
func massChecks(s *sweepScaleResult) []check {
	var cs []check
	for _, r := range s.Runs {
		c := check{
			Name:   fmt.Sprintf("Sweep of %s sessions due at once, +%s ms per DynamoDB call (%d workers)", thousands(int64(r.Due)), f1(r.LatencyMs), r.Workers),
			Result: fmt.Sprintf("all acted on in %s s (%s/s); lag p50 %s s, p99 %s s", f1(r.AllActedS), thousands(int64(r.PerSecond)), f1(r.Lag.P50/1000), f1(r.Lag.P99/1000)),
		}
		if r.Due == massTargetDue && r.LatencyMs > 0 {
			c.Target, c.Met = fmt.Sprintf("≤ %.0f s", massTarget.Seconds()), met(r.Deleted == r.Due && r.AllActedS <= massTarget.Seconds())
		}
		cs = append(cs, c)
	}
	for _, r := range s.Resync {
		cs = append(cs, check{
			Name:   fmt.Sprintf("Sweep of %s re-sync markers, +%s ms per DynamoDB call", thousands(int64(r.Markers)), f1(r.LatencyMs)),
			Result: fmt.Sprintf("%s s; %s markers handled, %s sessions re-synced", f1(r.SweepS), thousands(int64(r.Handled)), thousands(int64(r.Resynced))),
			Target: fmt.Sprintf("≤ %.0f s (one sweep period)", massTarget.Seconds()),
			Met:    met(r.Handled == r.Markers && r.SweepS <= massTarget.Seconds()),
		})
	}
	return cs
}

// renderSweepScale is results-sweepscale.md.
func renderSweepScale(s *sweepScaleResult, m machine, png string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Mass expiry: sweep time against due sessions (issue 16)\n\n")
	fmt.Fprintf(&b, "`go run ./bench -only=sweepscale` on DynamoDB Local, %s/%s, %d CPUs, %s; sweep workers %d (SWEEP_WORKERS). "+
		"Load average when the part ended: %s (the machine is shared: other processes ran during the measurement).\n\n",
		m.GOOS, m.GOARCH, m.CPUs, m.GoVersion, s.Workers, s.Load)
	fmt.Fprintf(&b, "Every session is due at once (its keepalive expired the moment before the sweep starts), each of its own user; "+
		"the sweep deletes each (non-container sessions). *Added latency* is the fault-injection middleware's `slow` fault on every "+
		"DynamoDB call of the sweep (reads and writes, every attempt), as a stand-in for the ~15 ms an AWS call takes. "+
		"*Lag* is action time − due time. On AWS a session waits, in addition, for the next scheduled sweep (up to the 1-minute schedule).\n\n")
	b.WriteString("| due sessions | added latency | all acted on | rate | lag p50 | lag p99 | sweep run | seeding | target |\n|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range s.Runs {
		target := ""
		if r.Due == massTargetDue && r.LatencyMs > 0 {
			target = fmt.Sprintf("≤ %.0f s: %s", massTarget.Seconds(), metWord(r.AllActedS <= massTarget.Seconds()))
		}
		fmt.Fprintf(&b, "| %s | %s ms | %s s | %s/s | %s s | %s s | %s s | %s s | %s |\n",
			thousands(int64(r.Due)), f1(r.LatencyMs), f1(r.AllActedS), thousands(int64(r.PerSecond)), f1(r.Lag.P50/1000), f1(r.Lag.P99/1000), f1(r.SweepS), f1(r.SeedSeconds), target)
	}
	b.WriteString("\n## Re-sync markers\n\nEach marker names a user with a live session whose keepalive_expiration changed; the sweep re-resolves the user and writes the session's new lifetime.\n\n")
	b.WriteString("| markers | added latency | sweep | markers handled | sessions re-synced | items read | target |\n|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range s.Resync {
		fmt.Fprintf(&b, "| %s | %s ms | %s s | %s | %s | %s | ≤ %.0f s: %s |\n", thousands(int64(r.Markers)), f1(r.LatencyMs), f1(r.SweepS),
			thousands(int64(r.Handled)), thousands(int64(r.Resynced)), thousands(int64(r.ItemsRead)), massTarget.Seconds(), metWord(r.SweepS <= massTarget.Seconds()))
	}
	if png != "" {
		fmt.Fprintf(&b, "\n![sweep time against due sessions](%s)\n", filepath.Base(png))
	}
	return b.String()
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// writeSweepScale writes results-sweepscale.md, .json and sweepscale.png into dir.
func writeSweepScale(s *sweepScaleResult, m machine, dir string) error {
	png := filepath.Join(dir, "sweepscale.png")
	if err := plotSweepScale(s, png); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results-sweepscale.md"), []byte(renderSweepScale(s, m, png)), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(struct {
		Machine machine           `json:"machine"`
		Result  *sweepScaleResult `json:"sweepscale"`
	}{m, s}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results-sweepscale.json"), append(js, '\n'), 0o644)
}

// plotSweepScale draws the time to act on every due session against the due count (log-log),
// without and with the added latency, with the lag p99 and the 60 s target, into a PNG.
func plotSweepScale(s *sweepScaleResult, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Sessions due at once: time to act on all (DynamoDB Local, %d workers)", s.Workers)
	p.X.Label.Text = "due sessions (log scale)"
	p.Y.Label.Text = "seconds (log scale)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker = thousandsTicks{plot.LogTicks{Prec: -1}}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	byLatency := map[float64]plotter.XYs{}
	p99 := map[float64]plotter.XYs{}
	var lats []float64
	lo, hi, top := 0.0, 0.0, 0.0
	for _, r := range s.Runs {
		if _, ok := byLatency[r.LatencyMs]; !ok {
			lats = append(lats, r.LatencyMs)
		}
		byLatency[r.LatencyMs] = append(byLatency[r.LatencyMs], plotter.XY{X: float64(r.Due), Y: max(r.AllActedS, 0.01)})
		p99[r.LatencyMs] = append(p99[r.LatencyMs], plotter.XY{X: float64(r.Due), Y: max(r.Lag.P99/1000, 0.01)})
		if lo == 0 || float64(r.Due) < lo {
			lo = float64(r.Due)
		}
		hi, top = max(hi, float64(r.Due)), max(top, r.AllActedS)
	}
	p.Y.Max = max(top, massTarget.Seconds()) * 3
	target, err := plotter.NewLine(plotter.XYs{{X: lo, Y: massTarget.Seconds()}, {X: hi, Y: massTarget.Seconds()}})
	if err != nil {
		return err
	}
	target.Color = color.RGBA{R: 200, A: 255}
	target.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
	p.Add(plotter.NewGrid(), target)
	p.Legend.Add("target: 10,000 at +15 ms within 60 s", target)
	colors := []color.Color{color.RGBA{G: 140, A: 255}, color.RGBA{B: 200, A: 255}, color.RGBA{R: 150, B: 150, A: 255}}
	for i, lat := range lats {
		c := colors[i%len(colors)]
		l, pts, err := plotter.NewLinePoints(byLatency[lat])
		if err != nil {
			return err
		}
		l.Color, pts.Color, pts.Shape, pts.Radius = c, c, draw.CircleGlyph{}, vg.Points(3.5)
		p.Add(l, pts)
		p.Legend.Add(fmt.Sprintf("all acted on, +%s ms per call", f1(lat)), l, pts)
		labels, err := plotter.NewLabels(plotter.XYLabels{XYs: byLatency[lat], Labels: secondsLabels(byLatency[lat])})
		if err != nil {
			return err
		}
		for j := range labels.TextStyle {
			labels.TextStyle[j].Color = c
		}
		labels.Offset = vg.Point{X: vg.Points(5), Y: vg.Points(4)}
		p.Add(labels)
		q, err := plotter.NewLine(p99[lat])
		if err != nil {
			return err
		}
		q.Color, q.Dashes = c, []vg.Length{vg.Points(2), vg.Points(3)}
		p.Add(q)
		p.Legend.Add(fmt.Sprintf("expiry lag p99, +%s ms", f1(lat)), q)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

func secondsLabels(xy plotter.XYs) []string {
	out := make([]string, len(xy))
	for i, v := range xy {
		out[i] = f1(v.Y) + " s"
	}
	return out
}
