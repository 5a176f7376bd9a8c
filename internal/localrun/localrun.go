// Package localrun wires the service for a run on one machine: the table on DynamoDB Local,
// the built-in All Users group, the HTTP API (with the session service and the console) on
// loopback, the sweeps on a local timer, the stream reader that writes every session event to
// the log (what the publisher function sends to EventBridge in AWS), and the time-limit
// countdowns in process. Each long-running part is a Component that starts together with the
// others and stops with them.
package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/directory"
	"wspolicy/internal/finalise"
	"wspolicy/internal/httpapi"
	"wspolicy/internal/kasmapi"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
	"wspolicy/internal/preview"
	"wspolicy/internal/publish"
	"wspolicy/internal/publish/streams"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/sso"
	"wspolicy/internal/sweep"
)

// Defaults of the local run.
const (
	DefaultPort          = "8080"
	DefaultTableName     = "wspolicy"
	DefaultSweepInterval = 60 * time.Second
	// MinSweepInterval is the shortest SWEEP_INTERVAL (behaviour.md: "down to one second").
	MinSweepInterval = time.Second
	shutdownTimeout  = 10 * time.Second
)

// Config is what a local run reads from its environment.
type Config struct {
	// Port is the TCP port on 127.0.0.1 the API listens on ("0": any free port).
	Port string
	// TableName is the DynamoDB table, created when missing.
	TableName string
	// DynamoDBEndpoint is the DynamoDB Local address, e.g. http://127.0.0.1:8000.
	DynamoDBEndpoint string
	// AdminKey is the bootstrap admin key (ADMIN_API_KEY); empty means none.
	AdminKey string
	// SweepInterval is the time between two sweeps (SWEEP_INTERVAL), at least MinSweepInterval.
	SweepInterval time.Duration
	// SweepWorkers is how many due sessions a sweep acts on at once (SWEEP_WORKERS; 0:
	// sweep.DefaultWorkers).
	SweepWorkers int
	// ResyncWriteUnits is the write budget of settings re-syncs, in write units a second
	// (RESYNC_WRITE_UNITS_PER_SECOND; 0: sweep.DefaultResyncWriteUnits).
	ResyncWriteUnits int
	// OIDC is the identity provider the API trusts (OIDC_* variables); with no OIDC_ISSUER the
	// development provider runs on IdPPort and is trusted.
	OIDC sso.Config
	// IdPPort is the development identity provider's port (DEV_IDP_PORT, default 8081; "off":
	// none, and no OIDC sign-in unless OIDC_ISSUER is set).
	IdPPort string
	// IdPTokenTTL is the lifetime of the development provider's ID tokens (DEV_IDP_TOKEN_TTL,
	// a Go duration of at least 5s; default 10m).
	IdPTokenTTL time.Duration
}

// ConfigFromEnv reads PORT (default 8080), TABLE_NAME (default "wspolicy"), DYNAMODB_ENDPOINT
// (required), ADMIN_API_KEY, SWEEP_INTERVAL (a Go duration such as 1s or 2m, default 60s,
// at least 1s), SWEEP_WORKERS (default 32) and RESYNC_WRITE_UNITS_PER_SECOND (default 2000)
// through getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Port:             getenv("PORT"),
		TableName:        getenv("TABLE_NAME"),
		DynamoDBEndpoint: getenv("DYNAMODB_ENDPOINT"),
		AdminKey:         getenv("ADMIN_API_KEY"),
		SweepInterval:    DefaultSweepInterval,
		OIDC:             sso.ConfigFromEnv(getenv),
		IdPPort:          getenv("DEV_IDP_PORT"),
	}
	if cfg.IdPPort == "" {
		cfg.IdPPort = DefaultIdPPort
	}
	if cfg.Port == "" {
		cfg.Port = DefaultPort
	}
	if cfg.TableName == "" {
		cfg.TableName = DefaultTableName
	}
	if n, err := strconv.Atoi(cfg.Port); err != nil || n < 0 || n > 65535 {
		return Config{}, fmt.Errorf("PORT must be a TCP port number, got %q", cfg.Port)
	}
	if cfg.DynamoDBEndpoint == "" {
		return Config{}, errors.New("DYNAMODB_ENDPOINT is required (make run starts DynamoDB Local and sets it)")
	}
	if v := getenv("SWEEP_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < MinSweepInterval {
			return Config{}, fmt.Errorf("SWEEP_INTERVAL must be a duration of at least %s, such as 1s or 2m, got %q", MinSweepInterval, v)
		}
		cfg.SweepInterval = d
	}
	if v := getenv("DEV_IDP_TOKEN_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Second {
			return Config{}, fmt.Errorf("DEV_IDP_TOKEN_TTL must be a duration of at least 5s, such as 30s or 10m, got %q", v)
		}
		cfg.IdPTokenTTL = d
	}
	var err error
	if cfg.SweepWorkers, err = sweep.ParseWorkers(getenv("SWEEP_WORKERS")); err != nil {
		return Config{}, err
	}
	if cfg.ResyncWriteUnits, err = sweep.ParseResyncWriteUnits(getenv("RESYNC_WRITE_UNITS_PER_SECOND")); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Component is one long-running part of the local run. Run works until ctx is cancelled and
// then returns nil; an error from any component stops the whole run.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

// Deps are the clients and services built once and shared by every component.
type Deps struct {
	DB     *dynamodb.Client
	Store  *ddbstore.Store
	Clock  policy.Clock
	Logger *slog.Logger
	// SessionStore, Sessions and Sweeper are the session store, the session service the API
	// calls, and the sweeper the timer and POST /v1/sweeps run.
	SessionStore *ddbstore.SessionStore
	Sessions     *sessions.Service
	Sweeper      *sweep.Sweeper
	// Countdown runs the time-limit countdowns of the local run (in process).
	Countdown *countdown.InProcess
}

// App is a prepared local run: the table and All Users exist and the API's port is bound.
type App struct {
	deps       Deps
	listener   net.Listener
	components []Component
}

// New prepares a local run: it connects to DynamoDB Local, creates the table if needed,
// ensures the All Users group, opens the table's stream (from now on), and binds the API to
// 127.0.0.1:cfg.Port. A zero cfg.SweepInterval is the default.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*App, error) {
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.SweepInterval < MinSweepInterval {
		return nil, fmt.Errorf("sweep interval %s is shorter than %s", cfg.SweepInterval, MinSweepInterval)
	}
	db, err := ddbkit.NewClient(ctx, cfg.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	if err := ddbstore.CreateTable(ctx, db, cfg.TableName); err != nil {
		return nil, err
	}
	clock := policy.SystemClock{}
	wire, err := ddbstore.NewKeepaliveWire(ctx, db)
	if err != nil {
		return nil, err
	}
	tbl := ddbstore.Open(db, cfg.TableName, ddbstore.WithClock(clock), ddbstore.WithLogger(logger), ddbstore.WithKeepaliveWire(wire),
		// One long-lived process: a start does not wait for its budget's deadline check.
		ddbstore.WithDetachedDeadlineFixes())
	store := tbl.Directory()
	if err := store.EnsureAllUsers(ctx, clock.Now(), settings.AllUsersValues()); err != nil {
		return nil, err
	}
	sessionStore := tbl.Sessions()
	// Time limits: the in-process countdowns delete a time-limited session at its limit (and
	// warn before it); the sweeps catch up on any countdown lost with a restart.
	timer := countdown.NewInProcess(clock, countdown.NewTask(sessionStore, clock, logger).Fire, countdown.WithLogger(logger))
	deps := Deps{
		DB: db, Store: store, Clock: clock, Logger: logger,
		SessionStore: sessionStore,
		Sessions: sessions.New(sessions.Config{Store: sessionStore, Directory: directory.New(store, clock), Clock: clock,
			Countdowns: timer, Logger: logger, Workspaces: store}),
		Sweeper: sweep.New(sweep.Config{Store: sweep.StopCountdowns(sessionStore, timer, logger),
			Directory: store, Clock: clock, Workers: cfg.SweepWorkers, ResyncWriteUnits: cfg.ResyncWriteUnits}),
		Countdown: timer,
	}

	fin := finalise.New(finalise.Config{Store: sessionStore, Countdowns: timer, Clock: clock, Logger: logger})
	events, err := openEventLog(ctx, cfg, db, fin, logger)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", cfg.Port))
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%s: %w", cfg.Port, err)
	}
	if cfg.AdminKey == "" {
		logger.Warn("ADMIN_API_KEY is not set: no key can manage groups, users or keys")
	}
	parts := kasmapi.Wire(store, deps.Sessions, clock)
	var extra []Component
	if cfg.OIDC.Issuer == "" && cfg.IdPPort != "off" && cfg.IdPPort != "" {
		oidcCfg, idp, err := startDevIdP(ctx, cfg.IdPPort, cfg.IdPTokenTTL, store, clock, logger)
		if err != nil {
			l.Close()
			return nil, err
		}
		cfg.OIDC = oidcCfg
		extra = append(extra, idp)
	}
	api := httpapi.New(httpapi.Config{
		Directory: store, Clock: clock, AdminKey: cfg.AdminKey, Logger: logger,
		Sessions: deps.Sessions, Sweeper: deps.Sweeper, Metrics: metrics.Default,
		Preview:    preview.New(store, sessionStore, clock),
		Workspaces: parts.Workspaces, DevKeys: parts.DevKeys, Kasm: parts.Kasm,
		OIDC: cfg.OIDC, SSOStore: store,
	})
	app := &App{deps: deps, listener: l}
	app.components = []Component{
		HTTPServer(l, api, logger),
		Sweeps(deps.Sweeper, cfg.SweepInterval, logger),
		{Name: "event-log", Run: events.Run},
		{Name: "countdown", Run: deps.Countdown.Run},
	}
	app.components = append(app.components, extra...)
	logger.Info("local run ready", slog.String("api", "http://"+l.Addr().String()),
		slog.String("console", "http://"+l.Addr().String()+"/console/"),
		slog.String("table", cfg.TableName), slog.String("dynamodb", cfg.DynamoDBEndpoint),
		slog.String("sweep_interval", cfg.SweepInterval.String()))
	return app, nil
}

// openEventLog opens the table's stream at its latest record, before the API takes requests,
// with the publisher's handler writing each session event to the log as one "session event"
// line (locally the log is the event bus).
func openEventLog(ctx context.Context, cfg Config, db *dynamodb.Client, fin publish.Finaliser, logger *slog.Logger) (*streams.Reader, error) {
	client, err := streams.NewClient(ctx, cfg.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	h := publish.NewHandler(publish.NewLogSink(logger), fin, logger)
	r, err := streams.Open(ctx, streams.Config{
		Table: cfg.TableName, Tables: db, Streams: client, Handle: h.Handle,
		PollInterval: eventLogPollInterval, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open the stream of table %s: %w", cfg.TableName, err)
	}
	return r, nil
}

// eventLogPollInterval is how often the local stream reader looks for new records when there
// were none: events reach the log within about this long.
const eventLogPollInterval = 250 * time.Millisecond

// SweepRunner runs one sweep; *sweep.Sweeper is one.
type SweepRunner interface {
	Run(ctx context.Context, opts sweep.Options) (sweep.Report, error)
}

// Sweeps runs a sweep at once and then every interval until ctx is cancelled, as the schedule
// does in AWS. It logs one "sweep" line with the figures of the report for the first sweep and
// for every sweep that did something or failed; sweeps that found nothing to do are counted
// and summed up in one "sweeps idle" line at most every IdleSweepLogInterval, so that a quiet
// service's log is not one line per second of nothing. A sweep that takes longer than the
// interval delays the next one; ticks are not queued up.
func Sweeps(sw SweepRunner, interval time.Duration, logger *slog.Logger) Component {
	return sweeps(sw, interval, IdleSweepLogInterval, logger)
}

// IdleSweepLogInterval is the most often the local runner logs that its sweeps found nothing.
const IdleSweepLogInterval = 10 * time.Minute

func sweeps(sw SweepRunner, interval, idleEvery time.Duration, logger *slog.Logger) Component {
	return Component{Name: "sweeper", Run: func(ctx context.Context) error {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		first := true
		idle, idleSince := 0, time.Now()
		for {
			rep, err := sw.Run(ctx, sweep.Options{})
			if ctx.Err() != nil {
				return nil
			}
			switch {
			case first || err != nil || sweepDidSomething(rep):
				logSweep(ctx, logger, rep, err)
				logMetrics(ctx, logger, metrics.Default)
			default:
				idle++
				if time.Since(idleSince) >= idleEvery {
					logger.LogAttrs(ctx, slog.LevelInfo, "sweeps idle", slog.Int("idle_sweeps", idle),
						slog.Time("since", idleSince.UTC()), slog.Time("now", rep.Now))
					idle, idleSince = 0, time.Now()
				}
			}
			first = false
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}}
}

// logMetrics writes one "metrics" line with the process's figures since it started (those
// GET /v1/metrics serves and the Lambda functions send to CloudWatch), when there are any.
func logMetrics(ctx context.Context, logger *slog.Logger, reg *metrics.Registry) {
	snap := reg.Snapshot(time.Now())
	if len(snap.Metrics) == 0 {
		return
	}
	attrs := make([]slog.Attr, 0, len(snap.Metrics)+1)
	attrs = append(attrs, slog.Time("since", snap.Since))
	for _, f := range snap.Metrics {
		name := f.Name
		for _, v := range f.Dimensions {
			name += "." + v
		}
		if f.Unit == metrics.UnitCount {
			attrs = append(attrs, slog.Float64(name, f.Sum))
			continue
		}
		attrs = append(attrs, slog.Group(name, slog.Int64("count", f.Count),
			slog.Float64("min_ms", f.Min), slog.Float64("max_ms", f.Max), slog.Float64("sum_ms", f.Sum)))
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "metrics", attrs...)
}

// sweepDidSomething reports whether a sweep found anything to look at or failed anywhere.
func sweepDidSomething(r sweep.Report) bool {
	return r.Examined+r.Expired+r.Stopped+r.Paused+r.Deleted+r.Warned+r.LeftAlone+r.Rescheduled+r.Skipped+
		r.ResyncMarkers+r.Resynced+r.Budgets+r.ExhaustedBudgets+r.Repaired+r.ResyncedBudgets+len(r.Actions)+len(r.Errors) > 0
}

// maxLoggedSweepErrors bounds the error messages one sweep line carries (the count is exact).
const maxLoggedSweepErrors = 5

// logSweep writes the line of one sweep: info, or warn when anything failed.
func logSweep(ctx context.Context, logger *slog.Logger, rep sweep.Report, err error) {
	level := slog.LevelInfo
	attrs := []slog.Attr{
		slog.Time("now", rep.Now),
		slog.Int("examined", rep.Examined),
		slog.Int("expired", rep.Expired),
		slog.Int("stopped", rep.Stopped),
		slog.Int("paused", rep.Paused),
		slog.Int("deleted", rep.Deleted),
		slog.Int("warned", rep.Warned),
		slog.Int("left_alone", rep.LeftAlone),
		slog.Int("rescheduled", rep.Rescheduled),
		slog.Int("skipped", rep.Skipped),
		slog.Int("resync_markers", rep.ResyncMarkers),
		slog.Int("resynced", rep.Resynced),
		slog.Int("budgets", rep.Budgets),
		slog.Int("exhausted_budgets", rep.ExhaustedBudgets),
		slog.Int("repaired", rep.Repaired),
		slog.Int("items_read", rep.ItemsRead),
		slog.Int("errors", len(rep.Errors)),
		slog.Int64("duration_ms", rep.DurationMs),
	}
	if len(rep.Errors) > 0 {
		level = slog.LevelWarn
		attrs = append(attrs, slog.Any("first_errors", rep.Errors[:min(len(rep.Errors), maxLoggedSweepErrors)]))
	}
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	logger.LogAttrs(ctx, level, "sweep", attrs...)
}

// Addr is the address the API listens on.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Deps are the shared clients, for components added with Add.
func (a *App) Deps() Deps { return a.deps }

// Add registers further components to start with Run.
func (a *App) Add(cs ...Component) { a.components = append(a.components, cs...) }

// Run runs every component until ctx is cancelled or one fails, then stops them all and
// waits for them. A cancelled ctx is a clean stop (nil).
func (a *App) Run(ctx context.Context) error {
	err := RunComponents(ctx, a.deps.Logger, a.components...)
	// The deadline checks started by the last starts and ends finish before the process ends.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if werr := a.deps.SessionStore.WaitDeadlineFixes(wctx); werr != nil {
		a.deps.Logger.Warn("deadline checks still under way at exit", slog.String("error", werr.Error()))
	}
	return err
}

// RunComponents runs the components side by side until ctx is cancelled or one returns an
// error, which cancels the others; it returns the first error.
func RunComponents(ctx context.Context, logger *slog.Logger, cs ...Component) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range cs {
		g.Go(func() error {
			err := c.Run(ctx)
			if err != nil {
				logger.Error("component failed", slog.String("component", c.Name), slog.String("error", err.Error()))
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			logger.Info("component stopped", slog.String("component", c.Name))
			return nil
		})
	}
	return g.Wait()
}

// HTTPServer serves h on l until ctx is cancelled, then shuts down gracefully: in-flight
// requests get up to 10 seconds to finish.
func HTTPServer(l net.Listener, h http.Handler, logger *slog.Logger) Component {
	return Component{Name: "api", Run: func(ctx context.Context) error {
		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(l) }()
		select {
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shut down: %w", err)
		}
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	}}
}

// AllUsersSettings is the "All Users" column of the catalog (settings.AllUsersValues), kept
// for the callers outside this package.
func AllUsersSettings() map[string]json.RawMessage { return settings.AllUsersValues() }
