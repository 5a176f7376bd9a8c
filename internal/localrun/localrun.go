// Package localrun wires the service for a run on one machine: the table on DynamoDB Local,
// the built-in All Users group, and the HTTP API on loopback, each long-running part a
// Component that starts together with the others and stops with them. The sweeps and the
// stream reader join as further components.
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

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/httpapi"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Defaults of the local run.
const (
	DefaultPort      = "8080"
	DefaultTableName = "wspolicy"
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
}

// ConfigFromEnv reads PORT (default 8080), TABLE_NAME (default "wspolicy"), DYNAMODB_ENDPOINT
// (required) and ADMIN_API_KEY through getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Port:             getenv("PORT"),
		TableName:        getenv("TABLE_NAME"),
		DynamoDBEndpoint: getenv("DYNAMODB_ENDPOINT"),
		AdminKey:         getenv("ADMIN_API_KEY"),
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
}

// App is a prepared local run: the table and All Users exist and the API's port is bound.
type App struct {
	deps       Deps
	listener   net.Listener
	components []Component
}

// New prepares a local run: it connects to DynamoDB Local, creates the table if needed,
// ensures the All Users group, and binds the API to 127.0.0.1:cfg.Port.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*App, error) {
	db, err := ddbstore.NewClient(ctx, cfg.DynamoDBEndpoint)
	if err != nil {
		return nil, err
	}
	if err := ddbstore.CreateTable(ctx, db, cfg.TableName); err != nil {
		return nil, err
	}
	clock := policy.SystemClock{}
	store := ddbstore.New(db, cfg.TableName, ddbstore.WithClock(clock))
	if err := store.EnsureAllUsers(ctx, clock.Now(), AllUsersSettings()); err != nil {
		return nil, err
	}
	deps := Deps{DB: db, Store: store, Clock: clock, Logger: logger}

	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", cfg.Port))
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1:%s: %w", cfg.Port, err)
	}
	if cfg.AdminKey == "" {
		logger.Warn("ADMIN_API_KEY is not set: no key can manage groups, users or keys")
	}
	api := httpapi.New(httpapi.Config{Directory: store, Clock: clock, AdminKey: cfg.AdminKey, Logger: logger})
	app := &App{deps: deps, listener: l}
	app.components = []Component{
		HTTPServer(l, api, logger),
	}
	logger.Info("local run ready", slog.String("api", "http://"+l.Addr().String()),
		slog.String("table", cfg.TableName), slog.String("dynamodb", cfg.DynamoDBEndpoint))
	return app, nil
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
	return RunComponents(ctx, a.deps.Logger, a.components...)
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

// AllUsersSettings is the "All Users" column of the catalog: the settings the built-in group
// is created with.
func AllUsersSettings() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, s := range settings.Catalog() {
		if s.AllUsers != nil {
			out[s.Name] = s.AllUsers
		}
	}
	return out
}
