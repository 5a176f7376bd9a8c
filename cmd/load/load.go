package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/localrun"
	"wspolicy/internal/settings"
)

// Phases of a run, as the recorder files requests.
const (
	phaseSetup = "setup"
	phaseRun   = "run"
	phaseCheck = "check"
)

// cohort is what a session does during the timed phase.
type cohort int

const (
	keeper    cohort = iota // sends keepalives throughout: must end running, with no expiry
	abandoner               // stops sending keepalives: must be expired exactly once
	pauser                  // paused and resumed once by its user: must end running
)

func (c cohort) String() string { return [...]string{"keeper", "abandoner", "pauser"}[c] }

// loadSession is one session the run drives, with its own history.
type loadSession struct {
	id, user, key, action string
	cohort                cohort
	abandonAt             time.Duration // abandoner: when it stops sending keepalives
	pauseAt, pauseFor     time.Duration // pauser
	mu                    sync.Mutex
	lastKeepalive         time.Time
	pauseTried            bool // pauser: the pause was sent
	paused                bool // pauser: the pause and resume both succeeded
}

// result is what a run found.
type result struct {
	requestErrors int
	inconsistent  []string
}

func (r result) ok() bool { return r.requestErrors == 0 && len(r.inconsistent) == 0 }

// runner is one load run.
type runner struct {
	cfg   config
	out   io.Writer
	rec   *recorder
	cl    *client
	rng   *mrand.Rand
	db    *dynamodb.Client // nil: the active_sessions check is skipped
	table string
	// server counts what the in-process stack logged (nil with -url).
	server *logCounts

	lags   []time.Duration   // per abandoned session: expired at − due at
	groups map[string]string // expiry action → group id
	// phase is the phase requests are filed under; runStart (unix ns) is set when the timed
	// phase begins.
	phase    atomic.Value
	runStart atomic.Int64
	policies []string // groups the administrator edits
	users    []loadUser
	sessions []*loadSession
}

type loadUser struct{ id, key, action string }

// run does one load run and prints its report to out.
func run(ctx context.Context, cfg config, out io.Writer) (result, error) {
	r := &runner{cfg: cfg, out: out, rec: newRecorder(), rng: mrand.New(mrand.NewPCG(cfg.Seed, 7)), groups: map[string]string{}}
	base, stopStack, err := r.target(ctx)
	if err != nil {
		return result{}, err
	}
	defer stopStack()
	r.cl = newClient(base, r.cfg.AdminKey, r.rec)
	if err := r.waitHealthy(ctx); err != nil {
		return result{}, err
	}
	fmt.Fprintf(out, "load: %d sessions (%d per user), keepalive every %s, expiry after %s, sweeps every %s, for %s against %s (%s, %d CPUs)\n",
		cfg.Sessions, cfg.PerUser, cfg.Interval, cfg.Expiration, cfg.SweepEvery, cfg.Duration, base, time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU())

	// Each session sends keepalives from its start on, through setup, the run and the check
	// (or it would expire meanwhile).
	keepCtx, stopKeepers := context.WithCancel(ctx)
	defer stopKeepers()
	var keepers sync.WaitGroup
	r.phase.Store(phaseSetup)
	setupStart := time.Now()
	err = r.setup(ctx, func(s *loadSession) { keepers.Go(func() { r.drive(keepCtx, s) }) })
	if err != nil {
		stopKeepers()
		keepers.Wait()
		printTable(out, "setup", r.rec.rows(phaseSetup, time.Since(setupStart)))
		return result{}, fmt.Errorf("setup: %w", err)
	}
	setupTime := time.Since(setupStart)

	runStart := time.Now()
	r.runStart.Store(runStart.UnixNano())
	r.phase.Store(phaseRun)
	runCtx, endRun := context.WithTimeout(ctx, cfg.Duration)
	defer endRun()
	var others sync.WaitGroup
	others.Go(func() { r.administer(runCtx) })
	others.Go(func() { r.read(runCtx) })
	if cfg.URL != "" {
		others.Go(func() { r.sweepLoop(runCtx) })
	}
	<-runCtx.Done()
	r.phase.Store(phaseCheck)
	others.Wait()
	runTime := time.Since(runStart)
	if ctx.Err() != nil {
		stopKeepers()
		keepers.Wait()
		return result{}, ctx.Err()
	}

	checkStart := time.Now()
	res := result{}
	res.inconsistent = r.check(ctx)
	stopKeepers()
	keepers.Wait()
	checkTime := time.Since(checkStart)
	res.requestErrors = r.rec.errors()

	printTable(out, fmt.Sprintf("setup: %s (keepalives start with their session)", setupTime.Round(time.Millisecond)), r.rec.rows(phaseSetup, setupTime))
	printTable(out, fmt.Sprintf("run: %s (the figures of the load)", runTime.Round(time.Millisecond)), r.rec.rows(phaseRun, runTime))
	printTable(out, fmt.Sprintf("check: %s", checkTime.Round(time.Millisecond)), r.rec.rows(phaseCheck, checkTime))
	r.printSummary(res)
	return res, nil
}

// target starts the stack in process, or checks the -url service; it returns the API's base
// URL and a function that stops what it started.
func (r *runner) target(ctx context.Context) (string, func(), error) {
	if r.cfg.URL != "" {
		if r.cfg.DynamoDBEndpoint != "" && r.cfg.Table != "" {
			db, err := ddbkit.NewClient(ctx, r.cfg.DynamoDBEndpoint)
			if err != nil {
				return "", nil, err
			}
			r.db, r.table = db, r.cfg.Table
		}
		return r.cfg.URL, func() {}, nil
	}
	key := make([]byte, 16)
	if _, err := rand.Read(key); err != nil {
		return "", nil, err
	}
	r.cfg.AdminKey = "load-" + hex.EncodeToString(key)
	var w io.Writer = io.Discard
	closeLog := func() {}
	if r.cfg.ServerLog != "" {
		if err := os.MkdirAll(filepath.Dir(r.cfg.ServerLog), 0o755); err != nil {
			return "", nil, err
		}
		f, err := os.Create(r.cfg.ServerLog)
		if err != nil {
			return "", nil, err
		}
		w, closeLog = f, func() { _ = f.Close() }
	}
	r.server = &logCounts{}
	logger := slog.New(&serverLog{counts: r.server, next: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})})
	app, err := localrun.New(ctx, localrun.Config{
		Port: "0", TableName: r.cfg.Table, DynamoDBEndpoint: r.cfg.DynamoDBEndpoint,
		AdminKey: r.cfg.AdminKey, SweepInterval: r.cfg.SweepEvery,
	}, logger)
	if err != nil {
		closeLog()
		return "", nil, fmt.Errorf("start the local stack: %w", err)
	}
	r.db, r.table = app.Deps().DB, r.cfg.Table
	appCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- app.Run(appCtx) }()
	return "http://" + app.Addr(), func() {
		stop()
		if err := <-done; err != nil {
			fmt.Fprintln(r.out, "load: stopping the stack:", err)
		}
		closeLog()
	}, nil
}

func (r *runner) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", r.cl.base+"/v1/health", nil)
		if err != nil {
			return err
		}
		resp, err := r.cl.http.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/v1/health did not answer 200 within 30s (%v)", r.cl.base, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// parallel runs fn for 0..n-1 on at most cfg.Workers goroutines; the first error stops it.
func (r *runner) parallel(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.Workers)
	for i := range n {
		g.Go(func() error { return fn(ctx, i) })
	}
	return g.Wait()
}

// setup creates a group per expiry action (stop, delete) with the run's lifetime settings,
// four small policy groups the administrator edits, the users with a key each, and the
// sessions, handing each session to started as soon as it runs.
func (r *runner) setup(ctx context.Context, started func(*loadSession)) error {
	run := fmt.Sprintf("%x", r.rng.Uint32())
	lifetime := func(action string) map[string]any {
		return map[string]any{
			"keepalive_interval": int(r.cfg.Interval / time.Second), "keepalive_expiration": int(r.cfg.Expiration / time.Second),
			settings.NameKeepaliveExpirationAction: action, settings.NameMaxKasmsPerUser: r.cfg.PerUser,
		}
	}
	for i, action := range []string{"stop", "delete"} {
		id, err := r.createGroup(ctx, fmt.Sprintf("load-%s-%s", run, action), 100+i, lifetime(action))
		if err != nil {
			return err
		}
		r.groups[action] = id
	}
	for i := range 4 {
		id, err := r.createGroup(ctx, fmt.Sprintf("load-%s-policy-%d", run, i), 50+i, map[string]any{settings.NameAllowKasmAudio: true})
		if err != nil {
			return err
		}
		r.policies = append(r.policies, id)
	}
	nUsers := (r.cfg.Sessions + r.cfg.PerUser - 1) / r.cfg.PerUser
	r.users = make([]loadUser, nUsers)
	err := r.parallel(ctx, nUsers, func(ctx context.Context, i int) error {
		action := []string{"stop", "delete"}[i%2]
		var u struct {
			ID string `json:"user_id"`
		}
		if _, err := r.cl.do(ctx, call{phase: phaseSetup, route: "POST /v1/users", method: "POST", path: "/v1/users",
			body: map[string]any{"username": fmt.Sprintf("load-%s-user-%d", run, i)}, want: []int{201}, out: &u}); err != nil {
			return err
		}
		groups := []string{r.groups[action]}
		if i < 10*len(r.policies) {
			groups = append(groups, r.policies[i%len(r.policies)])
		}
		for _, g := range groups {
			if _, err := r.cl.do(ctx, call{phase: phaseSetup, route: "PUT /v1/groups/{id}/members/{id}", method: "PUT",
				path: "/v1/groups/" + g + "/members/" + u.ID, want: []int{204}}); err != nil {
				return err
			}
		}
		var k struct {
			Secret string `json:"secret"`
		}
		if _, err := r.cl.do(ctx, call{phase: phaseSetup, route: "POST /v1/users/{id}/keys", method: "POST",
			path: "/v1/users/" + u.ID + "/keys", body: map[string]any{"role": "user"}, want: []int{201}, out: &k}); err != nil {
			return err
		}
		r.users[i] = loadUser{id: u.ID, key: k.Secret, action: action}
		return nil
	})
	if err != nil {
		return err
	}
	r.sessions = make([]*loadSession, r.cfg.Sessions)
	for i := range r.sessions {
		u := r.users[i/r.cfg.PerUser]
		s := &loadSession{user: u.id, key: u.key, action: u.action}
		switch x := r.rng.Float64(); {
		case x < r.cfg.Abandon:
			s.cohort = abandoner
			// Early enough that the expiry and a sweep after it fall inside the run.
			latest := max(r.cfg.Duration-r.cfg.Expiration-3*r.cfg.SweepEvery-r.cfg.Interval, 0)
			s.abandonAt = time.Duration(r.rng.Int64N(int64(latest) + 1))
		case x < r.cfg.Abandon+r.cfg.Pause:
			s.cohort = pauser
			// Paused right after a keepalive and resumed before that keepalive's expiry.
			s.pauseFor = r.cfg.Interval/2 + time.Duration(r.rng.Int64N(int64(r.cfg.Interval/2)+1))
			latest := max(r.cfg.Duration-s.pauseFor-2*r.cfg.Interval, 0)
			s.pauseAt = time.Duration(r.rng.Int64N(int64(latest) + 1))
		}
		r.sessions[i] = s
	}
	return r.parallel(ctx, len(r.sessions), func(ctx context.Context, i int) error {
		s := r.sessions[i]
		var v struct {
			ID string `json:"session_id"`
		}
		if _, err := r.cl.do(ctx, call{phase: phaseSetup, route: "POST /v1/sessions", method: "POST", path: "/v1/sessions", key: s.key,
			body: map[string]any{"image_id": "load-image", "container": true}, want: []int{201}, out: &v}); err != nil {
			return err
		}
		s.id = v.ID
		s.lastKeepalive = time.Now()
		started(s)
		return nil
	})
}

func (r *runner) createGroup(ctx context.Context, name string, priority int, set map[string]any) (string, error) {
	var g struct {
		ID string `json:"group_id"`
	}
	if _, err := r.cl.do(ctx, call{phase: phaseSetup, route: "POST /v1/groups", method: "POST", path: "/v1/groups",
		body: map[string]any{"name": name, "priority": priority}, want: []int{201}, out: &g}); err != nil {
		return "", err
	}
	_, err := r.cl.do(ctx, call{phase: phaseSetup, route: "PATCH /v1/groups/{id}/settings", method: "PATCH",
		path: "/v1/groups/" + g.ID + "/settings", body: map[string]any{"set": set}, want: []int{200}})
	return g.ID, err
}

// sleepUntil waits until t or ctx ends; it reports whether t was reached.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// currentPhase is the phase requests are filed under now.
func (r *runner) currentPhase() string { return r.phase.Load().(string) }

// sinceRun is how long the timed phase has been running; false before it begins.
func (r *runner) sinceRun() (time.Duration, bool) {
	ns := r.runStart.Load()
	if ns == 0 {
		return 0, false
	}
	return time.Since(time.Unix(0, ns)), true
}

// drive sends a session's keepalives, once per interval from a random offset after its start,
// until keepCtx ends. During the timed phase an abandoner stops at its time, and a pauser is
// paused and resumed once.
func (r *runner) drive(keepCtx context.Context, s *loadSession) {
	next := time.Now().Add(time.Duration(mrand.Int64N(int64(r.cfg.Interval))))
	for {
		if s.cohort == abandoner && r.currentPhase() != phaseSetup {
			if d, ok := r.sinceRun(); ok && d+time.Until(next) >= s.abandonAt {
				return
			}
		}
		if !sleepUntil(keepCtx, next) {
			return
		}
		var k struct {
			ExpiresAt  time.Time `json:"expires_at"`
			Disconnect bool      `json:"disconnect"`
		}
		phase, sent := r.currentPhase(), time.Now()
		_, err := r.cl.do(keepCtx, call{phase: phase, route: "POST /v1/sessions/{id}/keepalive", method: "POST",
			path: "/v1/sessions/" + s.id + "/keepalive", key: s.key, want: []int{200}, out: &k})
		if err == nil {
			s.mu.Lock()
			s.lastKeepalive = sent
			s.mu.Unlock()
			if k.Disconnect {
				r.rec.add(phase, "POST /v1/sessions/{id}/keepalive", 0, "keepalive of "+s.id+" answered disconnect: true")
			}
		}
		next = next.Add(r.cfg.Interval)
		if d, ok := r.sinceRun(); s.cohort == pauser && !s.pauseTried && ok && d >= s.pauseAt && r.currentPhase() == phaseRun {
			r.pauseOnce(s)
			next = time.Now().Add(r.cfg.Interval / 4)
		}
	}
}

// pauseOnce pauses a session right after its keepalive and resumes it pauseFor later (even
// when the run ends meanwhile).
func (r *runner) pauseOnce(s *loadSession) {
	s.mu.Lock()
	s.pauseTried = true
	s.mu.Unlock()
	ctx := context.Background()
	if _, err := r.cl.do(ctx, call{phase: phaseRun, route: "POST /v1/sessions/{id}/pause", method: "POST",
		path: "/v1/sessions/" + s.id + "/pause", key: s.key, want: []int{200}}); err != nil {
		return
	}
	time.Sleep(s.pauseFor)
	if _, err := r.cl.do(ctx, call{phase: phaseRun, route: "POST /v1/sessions/{id}/resume", method: "POST",
		path: "/v1/sessions/" + s.id + "/resume", key: s.key, want: []int{200}}); err != nil {
		return
	}
	s.mu.Lock()
	s.paused, s.lastKeepalive = true, time.Now()
	s.mu.Unlock()
}

// administer edits the policy groups' settings under If-Match (nobody else writes them, so
// every edit must succeed) and reads their history now and then.
func (r *runner) administer(ctx context.Context) {
	tick := time.NewTicker(r.cfg.AdminEvery)
	defer tick.Stop()
	for i := 0; ; i++ {
		g := r.policies[i%len(r.policies)]
		var v struct {
			Version int64 `json:"version"`
		}
		if _, err := r.cl.do(ctx, call{phase: phaseRun, route: "GET /v1/groups/{id}/settings", method: "GET",
			path: "/v1/groups/" + g + "/settings", want: []int{200}, out: &v}); err == nil {
			_, _ = r.cl.do(ctx, call{phase: phaseRun, route: "PATCH /v1/groups/{id}/settings (If-Match)", method: "PATCH",
				path: "/v1/groups/" + g + "/settings", ifVer: v.Version, want: []int{200},
				body: map[string]any{"set": map[string]any{settings.NameAllowKasmAudio: i%2 == 0, settings.NameKasmAudioDefaultOn: i%3 == 0}}})
		}
		if i%5 == 4 {
			_, _ = r.cl.do(ctx, call{phase: phaseRun, route: "GET /v1/groups/{id}/history", method: "GET",
				path: "/v1/groups/" + g + "/history", want: []int{200}})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// read sends the reads users make: effective settings and their own sessions, ten a second.
func (r *runner) read(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		u := r.users[mrand.IntN(len(r.users))]
		if i%2 == 0 {
			_, _ = r.cl.do(ctx, call{phase: phaseRun, route: "GET /v1/users/{id}/effective-settings", method: "GET",
				path: "/v1/users/" + u.id + "/effective-settings", key: u.key, want: []int{200}})
		} else {
			s := r.sessions[mrand.IntN(len(r.sessions))]
			_, _ = r.cl.do(ctx, call{phase: phaseRun, route: "GET /v1/sessions/{id}", method: "GET",
				path: "/v1/sessions/" + s.id, key: s.key, want: []int{200}})
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweepLoop runs a sweep through the API every SweepEvery (with -url; in process the stack's
// own sweeper does).
func (r *runner) sweepLoop(ctx context.Context) {
	tick := time.NewTicker(r.cfg.SweepEvery)
	defer tick.Stop()
	for {
		var rep struct {
			Errors []string `json:"errors"`
		}
		if _, err := r.cl.do(ctx, call{phase: phaseRun, route: "POST /v1/sweeps", method: "POST", path: "/v1/sweeps",
			want: []int{200}, out: &rep}); err == nil && len(rep.Errors) > 0 {
			r.rec.add(phaseRun, "POST /v1/sweeps", 0, fmt.Sprintf("sweep reported %d errors: %v", len(rep.Errors), rep.Errors[0]))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// logCounts are what the in-process stack logged: sweeps, published events, 5xx answers.
type logCounts struct {
	sweeps, sweepErrors, expired, events, server5xx atomic.Int64

	mu sync.Mutex
	// sweepRuns are the duration and re-sync markers of every sweep.
	sweepRuns []sweepRun
}

// sweepRun is one sweep's duration and the re-sync markers it handled.
type sweepRun struct {
	d       time.Duration
	markers int64
}

// serverLog is the in-process stack's log handler: it counts into counts and passes warnings
// and errors on to next.
type serverLog struct {
	counts *logCounts
	next   slog.Handler
}

func (h *serverLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *serverLog) Handle(ctx context.Context, rec slog.Record) error {
	c := h.counts
	switch rec.Message {
	case "sweep":
		c.sweeps.Add(1)
		var run sweepRun
		rec.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "errors":
				c.sweepErrors.Add(a.Value.Int64())
			case "expired":
				c.expired.Add(a.Value.Int64())
			case "resync_markers":
				run.markers = a.Value.Int64()
			case "duration_ms":
				run.d = time.Duration(a.Value.Int64()) * time.Millisecond
			}
			return true
		})
		c.mu.Lock()
		c.sweepRuns = append(c.sweepRuns, run)
		c.mu.Unlock()
	case "session event":
		c.events.Add(1)
	case "request":
		if rec.Level >= slog.LevelError {
			c.server5xx.Add(1)
		}
	}
	if h.next.Enabled(ctx, rec.Level) {
		return h.next.Handle(ctx, rec)
	}
	return nil
}

func (h *serverLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &serverLog{counts: h.counts, next: h.next.WithAttrs(as)}
}

func (h *serverLog) WithGroup(name string) slog.Handler {
	return &serverLog{counts: h.counts, next: h.next.WithGroup(name)}
}
