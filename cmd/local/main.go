// Command local runs the service on this machine against DynamoDB Local: the table, the All
// Users group, the HTTP API and the browser console (/console/) on 127.0.0.1:$PORT, a sweep
// every $SWEEP_INTERVAL, the session events of the table's stream written to the log, and the
// time-limit countdowns in process. `make run` starts DynamoDB Local and sets
// DYNAMODB_ENDPOINT; PORT (8080), TABLE_NAME (wspolicy), ADMIN_API_KEY and SWEEP_INTERVAL (a
// Go duration, default 60s, at least 1s) are optional. The log is JSON lines on stdout:
// "request", "sweep" and "session event". SIGINT or SIGTERM stops it gracefully.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"wspolicy/internal/httpapi"
	"wspolicy/internal/localrun"
)

func main() {
	httpapi.TuneProcess()
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(logger); err != nil {
		logger.Error("local run failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

func run(logger *slog.Logger) error {
	cfg, err := localrun.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := localrun.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	return app.Run(ctx)
}
