// Command bench measures the hot paths of the service against DynamoDB Local and writes the
// results: keepalive throughput through the local API next to raw UpdateItem, effective
// settings by number of groups, sweep time by number of live sessions, the usage ledger's cost
// of a session start and end, and each Lambda bootstrap's size and cold start. `make bench`
// runs it under scripts/with-dynamodb.sh; it prints progress on stderr, the tables on stdout,
// and writes bench/results.md, bench/results.json and bench/sweep-scale.png; the mass expiry
// (-only=sweepscale) also bench/results-sweepscale.md, .json and sweepscale.png.
//
//	go run ./bench [-duration 10s] [-clients 16] [-sweep-levels 1000,10000,100000] …
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the bench's command line.
type config struct {
	Endpoint      string        `json:"-"`
	Out           string        `json:"-"`
	Profile       string        `json:"-"`
	Only          string        `json:"only,omitempty"`
	Duration      time.Duration `json:"-"`
	DurationS     float64       `json:"keepalive_duration_s"`
	Clients       int           `json:"clients"`
	SettingsReads int           `json:"settings_reads"`
	SettingsLvls  []int         `json:"settings_groups"`
	SweepLevels   []int         `json:"sweep_live_levels"`
	SweepDue      int           `json:"sweep_due"`
	SweepRounds   int           `json:"sweep_rounds"`
	SeedWorkers   int           `json:"seed_workers"`
	UsageUsers    int           `json:"usage_group_users"`
	UsageOps      int           `json:"usage_ops"`
	ColdStarts    int           `json:"cold_starts"`
	// SteadySessions and SteadyHours size the keepalive's steady-state simulation.
	SteadySessions int     `json:"steady_sessions"`
	SteadyHours    float64 `json:"steady_hours"`
	// SweepScale* and SweepWorkers size the mass-expiry part (issue 16).
	SweepScaleLevels  []int         `json:"sweepscale_due_levels"`
	SweepScaleLatency time.Duration `json:"-"`
	SweepScaleMarkers int           `json:"sweepscale_resync_markers"`
	SweepWorkers      int           `json:"sweep_workers"`
	// SweepScaleBaselineMax: levels above it are measured with the added latency only (0: all
	// levels both ways).
	SweepScaleBaselineMax int `json:"sweepscale_baseline_max,omitempty"`
	// ResyncLevels and ResyncWriteUnits size the change on All Users (-only=resync).
	ResyncLevels     []int `json:"resync_levels,omitempty"`
	ResyncWriteUnits int   `json:"resync_write_units,omitempty"`
}

// results is everything one run measured; results.json holds it.
type results struct {
	StartedAt    time.Time         `json:"started_at"`
	TotalSeconds float64           `json:"total_seconds"`
	Machine      machine           `json:"machine"`
	Config       config            `json:"config"`
	Keepalive    *keepaliveResult  `json:"keepalive,omitempty"`
	Settings     *settingsResult   `json:"settings,omitempty"`
	Sweep        *sweepResult      `json:"sweep,omitempty"`
	Usage        *usageResult      `json:"usage,omitempty"`
	HotBudget    *hotBudgetResult  `json:"hot_budget,omitempty"`
	Lambdas      *lambdaResult     `json:"lambdas,omitempty"`
	Preview      *previewResult    `json:"preview,omitempty"`
	SweepScale   *sweepScaleResult `json:"sweepscale,omitempty"`
	Resync       *resyncResult     `json:"resync,omitempty"`
	Checks       []check           `json:"checks"`
	Failures     []string          `json:"failures,omitempty"`
}

// machine describes where the run happened.
type machine struct {
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
}

func main() {
	if spec := os.Getenv(apiChildEnv); spec != "" {
		if err := serveAPIChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, "bench API child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	var settingsLvls, sweepLevels, sweepScaleLevels, resyncLevels string
	flag.StringVar(&cfg.Endpoint, "endpoint", os.Getenv("DYNAMODB_ENDPOINT"), "DynamoDB Local address (default $DYNAMODB_ENDPOINT)")
	flag.StringVar(&cfg.Out, "out", "bench", "folder for results.md, results.json and sweep-scale.png")
	flag.StringVar(&cfg.Profile, "profile", "", "folder for CPU profiles of the measured parts (none when empty)")
	flag.StringVar(&cfg.Only, "only", "", "comma-separated parts to run: keepalive,settings,sweep,usage,hotbudget,preview,lambdas,sweepscale,resync (default all; sweepscale: the mass expiry, results-sweepscale.md; resync: a change on All Users, results-resync.md)")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each keepalive load run")
	flag.IntVar(&cfg.Clients, "clients", 16, "concurrent clients of the keepalive runs")
	flag.IntVar(&cfg.SettingsReads, "settings-reads", 200, "effective-settings reads per level")
	flag.StringVar(&settingsLvls, "settings-groups", "1,10,50", "group counts of the effective-settings levels")
	flag.StringVar(&sweepLevels, "sweep-levels", "1000,10000,100000", "live sessions of each sweep level, ascending (drop 100000 for a quick run)")
	flag.IntVar(&cfg.SweepDue, "sweep-due", 1000, "due sessions at each sweep level")
	flag.IntVar(&cfg.SweepRounds, "sweep-rounds", 3, "sweeps per level (each of -sweep-due fresh due sessions); the median is reported")
	flag.IntVar(&cfg.SeedWorkers, "seed-workers", 8, "concurrent BatchWriteItem calls while seeding")
	flag.IntVar(&cfg.UsageUsers, "usage-users", 10000, "members of the large per_group budget")
	flag.IntVar(&cfg.UsageOps, "usage-ops", 100, "session starts (and as many ends) measured per budget")
	flag.IntVar(&cfg.SteadySessions, "steady-sessions", 32, "sessions of the keepalive's steady-state write-unit simulation")
	flag.Float64Var(&cfg.SteadyHours, "steady-hours", 6, "simulated hours of the keepalive's steady-state write-unit simulation")
	flag.StringVar(&sweepScaleLevels, "sweepscale-levels", "1000,10000,50000", "due sessions of each mass-expiry level")
	flag.DurationVar(&cfg.SweepScaleLatency, "sweepscale-latency", 15*time.Millisecond, "latency added to every DynamoDB call in the mass expiry's second run of each level")
	flag.IntVar(&cfg.SweepScaleMarkers, "sweepscale-markers", 1000, "re-sync markers of the mass expiry part")
	flag.IntVar(&cfg.SweepScaleBaselineMax, "sweepscale-baseline-max", 0, "mass-expiry levels above this many due sessions run with the added latency only (0: every level both ways)")
	flag.IntVar(&cfg.SweepWorkers, "sweep-workers", 0, "workers of the mass-expiry sweeps (0: sweep.DefaultWorkers, as SWEEP_WORKERS)")
	flag.StringVar(&resyncLevels, "resync-levels", "10000,100000", "live sessions of each change on All Users (-only=resync, never part of the default run)")
	flag.IntVar(&cfg.ResyncWriteUnits, "resync-write-units", 0, "re-sync write budget in units/s (0: sweep.DefaultResyncWriteUnits, as RESYNC_WRITE_UNITS_PER_SECOND)")
	flag.IntVar(&cfg.ColdStarts, "cold-starts", 3, "cold starts per function under aws-lambda-rie")
	flag.Parse()
	var err error
	if cfg.SettingsLvls, err = intList(settingsLvls); err != nil {
		return fmt.Errorf("-settings-groups: %w", err)
	}
	if cfg.SweepLevels, err = intList(sweepLevels); err != nil {
		return fmt.Errorf("-sweep-levels: %w", err)
	}
	if cfg.SweepScaleLevels, err = intList(sweepScaleLevels); err != nil {
		return fmt.Errorf("-sweepscale-levels: %w", err)
	}
	if cfg.ResyncLevels, err = intList(resyncLevels); err != nil {
		return fmt.Errorf("-resync-levels: %w", err)
	}
	if cfg.Endpoint == "" {
		return errors.New("no DynamoDB Local: set DYNAMODB_ENDPOINT or -endpoint (make bench starts one)")
	}
	cfg.DurationS = cfg.Duration.Seconds()
	parts := map[string]bool{}
	for _, p := range strings.Split(cfg.Only, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts[p] = true
		}
	}
	want := func(part string) bool { return len(parts) == 0 || parts[part] }

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := &progress{w: os.Stderr, start: time.Now()}
	prof := &profiler{dir: cfg.Profile, p: p}
	res := &results{
		StartedAt: time.Now().UTC().Truncate(time.Second), Config: cfg,
		Machine: machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()},
	}
	fail := func(part string, err error) {
		p.logf("%s FAILED: %v", part, err)
		res.Failures = append(res.Failures, part+": "+err.Error())
	}
	p.logf("bench: DynamoDB Local at %s, %d CPUs", cfg.Endpoint, runtime.NumCPU())
	if want("keepalive") {
		if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
			return err
		}
		profile, err := filepath.Abs(filepath.Join(cfg.Out, keepaliveProfileName))
		if err != nil {
			return err
		}
		r, err := benchKeepalive(ctx, p, cfg.Endpoint, cfg.Clients, cfg.Duration, prof, profile)
		res.Keepalive = r
		if err != nil {
			fail("keepalive", err)
		}
		if r != nil {
			r.Profile = filepath.Join(cfg.Out, keepaliveProfileName)
			r.TopCosts = profileTop(profile)
			if ctx.Err() == nil {
				st, err := benchKeepaliveSteady(ctx, p, cfg.Endpoint, cfg.SteadySessions, cfg.SteadyHours, false)
				r.Steady = st
				if err != nil {
					fail("keepalive steady state", err)
				}
				if ctx.Err() == nil {
					st, err := benchKeepaliveSteady(ctx, p, cfg.Endpoint, cfg.SteadySessions, cfg.SteadyHours, true)
					r.SteadyCold = st
					if err != nil {
						fail("keepalive steady state, cold", err)
					}
				}
			}
		}
	}
	if want("settings") && ctx.Err() == nil {
		r, err := benchSettings(ctx, p, cfg.Endpoint, cfg.SettingsLvls, cfg.SettingsReads)
		res.Settings = r
		if err != nil {
			fail("settings", err)
		}
	}
	if want("sweep") && ctx.Err() == nil {
		stopProf := prof.start("sweep")
		r, err := benchSweep(ctx, p, cfg.Endpoint, cfg.SweepLevels, cfg.SweepDue, cfg.SweepRounds, cfg.SeedWorkers)
		stopProf()
		res.Sweep = r
		if err != nil {
			fail("sweep", err)
		}
	}
	if want("sweepscale") && ctx.Err() == nil {
		r, err := benchSweepScale(ctx, p, cfg.Endpoint, cfg.SweepScaleLevels, cfg.SweepScaleLatency, cfg.SweepWorkers, cfg.SweepScaleMarkers, cfg.SeedWorkers, cfg.SweepScaleBaselineMax)
		res.SweepScale = r
		if err != nil {
			fail("sweepscale", err)
		}
	}
	if want("resync") && ctx.Err() == nil { // the change on All Users (issue 16 part 2): 100,000 sessions at its largest level
		r, err := benchResync(ctx, p, cfg.Endpoint, cfg.ResyncLevels, cfg.SweepScaleLatency, cfg.SweepWorkers, cfg.ResyncWriteUnits, cfg.SeedWorkers)
		res.Resync = r
		if err == nil || r != nil {
			if werr := writeResync(r, res.Machine, cfg.Out); werr != nil {
				return werr
			}
			p.logf("bench: wrote %s", filepath.Join(cfg.Out, "results-resync.md"))
		}
		if err != nil {
			fail("resync", err)
		}
	}
	if want("usage") && ctx.Err() == nil {
		r, err := benchUsage(ctx, p, cfg.Endpoint, cfg.UsageUsers, cfg.UsageOps, cfg.SeedWorkers)
		res.Usage = r
		if err != nil {
			fail("usage", err)
		}
	}
	if want("hotbudget") && ctx.Err() == nil {
		r, err := benchHotBudget(ctx, p, cfg.Endpoint, cfg.UsageUsers, 300, cfg.SeedWorkers)
		res.HotBudget = r
		if err != nil {
			fail("hotbudget", err)
		}
	}
	if want("preview") && ctx.Err() == nil {
		r, err := benchPreview(ctx, p, cfg.Endpoint, []int{100, 1000, 10000}, cfg.SeedWorkers)
		res.Preview = r
		if err != nil {
			fail("preview", err)
		}
	}
	if want("lambdas") && ctx.Err() == nil {
		r, err := benchLambdas(ctx, p, cfg.Endpoint, cfg.ColdStarts)
		res.Lambdas = r
		if err != nil {
			fail("lambdas", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res.TotalSeconds = time.Since(p.start).Seconds()
	res.Checks = checks(res)
	md := renderMarkdown(res)
	fmt.Print(md)
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cfg.Out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if res.Sweep != nil && len(res.Sweep.Levels) > 0 {
		png := filepath.Join(cfg.Out, "sweep-scale.png")
		if err := plotSweep(res.Sweep, png); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		p.logf("bench: wrote %s", png)
	}
	if res.SweepScale != nil && len(res.SweepScale.Runs) > 0 {
		if err := writeSweepScale(res.SweepScale, res.Machine, cfg.Out); err != nil {
			return err
		}
		p.logf("bench: wrote %s", filepath.Join(cfg.Out, "results-sweepscale.md"))
	}
	p.logf("bench: wrote %s and %s in %.0f s", filepath.Join(cfg.Out, "results.md"), filepath.Join(cfg.Out, "results.json"), res.TotalSeconds)
	if len(res.Failures) > 0 {
		return fmt.Errorf("%d part(s) failed: %s", len(res.Failures), strings.Join(res.Failures, "; "))
	}
	return nil
}

// intList parses "1,10,50".
func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a list of positive whole numbers", s)
		}
		out = append(out, n)
	}
	return out, nil
}
