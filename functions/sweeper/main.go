// Command sweeper is the sweep function the EventBridge schedule invokes every minute: it runs
// one sweep (settings re-sync, keepalive expiry, usage budgets, time-limit warnings and the
// catch-up of missed countdowns), logs one line with its figures and returns the report. A run
// that recorded errors fails the invocation, so the function's error alarm sees it; what it
// could not do stays due for the next minute. TABLE_NAME names the table; STATE_MACHINE_ARN
// (optional) is the countdown state machine, whose executions the sweep stops for the
// time-limited sessions it ends before their limit; DYNAMODB_ENDPOINT (optional) points at
// DynamoDB Local for local invocation; SWEEP_WORKERS (optional, default 32) is how many due
// sessions the sweep acts on at once; RESYNC_WRITE_UNITS_PER_SECOND (optional, default 2000)
// is the write budget of settings re-syncs.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"wspolicy/internal/awsops"
	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
	"wspolicy/internal/sfntimer"
	"wspolicy/internal/sweep"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := build(context.Background(), logger)
	if err != nil {
		logger.Error("sweeper init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(metrics.FlushAfter(h.Handle, os.Stdout, "sweeper"))
}

// build reads the environment and makes the clients once per cold start.
func build(ctx context.Context, logger *slog.Logger) (*handler, error) {
	var client sfntimer.SFNAPI
	if os.Getenv("STATE_MACHINE_ARN") != "" {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithAPIOptions(awsops.APIOptions()))
		if err != nil {
			return nil, fmt.Errorf("load aws config: %w", err)
		}
		client = sfn.NewFromConfig(cfg)
	}
	return newHandler(ctx, os.Getenv, policy.SystemClock{}, client, logger)
}

// handler runs a sweep per scheduled event.
type handler struct {
	sweeper *sweep.Sweeper
	log     *slog.Logger
}

// newHandler wires the sweeper on the table; with STATE_MACHINE_ARN set, the session store it
// writes through also stops countdown executions through client.
func newHandler(ctx context.Context, getenv func(string) string, clock policy.Clock, client sfntimer.SFNAPI, logger *slog.Logger) (*handler, error) {
	table := getenv("TABLE_NAME")
	if table == "" {
		return nil, errors.New("TABLE_NAME is required")
	}
	db, err := ddbkit.NewClient(ctx, getenv("DYNAMODB_ENDPOINT"), awsops.DynamoDBOption)
	if err != nil {
		return nil, err
	}
	logger = logger.With(slog.String("table", table))
	tbl := ddbstore.Open(db, table, ddbstore.WithClock(clock), ddbstore.WithLogger(logger))
	var store sweep.Store = tbl.Sessions()
	if arn := getenv("STATE_MACHINE_ARN"); arn != "" {
		if client == nil {
			return nil, errors.New("STATE_MACHINE_ARN is set but there is no Step Functions client")
		}
		store = sweep.StopCountdowns(store, sfntimer.NewStepFunctions(client, arn), logger)
	}
	workers, err := sweep.ParseWorkers(getenv("SWEEP_WORKERS"))
	if err != nil {
		return nil, err
	}
	units, err := sweep.ParseResyncWriteUnits(getenv("RESYNC_WRITE_UNITS_PER_SECOND"))
	if err != nil {
		return nil, err
	}
	directory := tbl.Directory()
	return &handler{sweeper: sweep.New(sweep.Config{Store: store, Directory: directory, Clock: clock, Workers: workers,
		ResyncWriteUnits: units}), log: logger}, nil
}

// sweepMargin is the time a sweep leaves itself before the function's timeout: what it has
// started (a page's sessions in flight, the log line, the metrics) finishes within it.
const sweepMargin = 10 * time.Second

// defaultBudget bounds a sweep whose context has no deadline (not under Lambda).
const defaultBudget = 45 * time.Second

// budget is the sweep's time budget: up to sweepMargin before the invocation's deadline, so
// that a big backlog ends in a cut sweep (the next minute's goes on) instead of a timeout.
func budget(ctx context.Context, now time.Time) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return defaultBudget
	}
	return max(deadline.Sub(now)-sweepMargin, time.Second)
}

// Handle runs one sweep for a scheduled event.
func (h *handler) Handle(ctx context.Context, ev events.EventBridgeEvent) (sweep.Report, error) {
	rep, err := h.sweeper.Run(ctx, sweep.Options{Budget: budget(ctx, time.Now())})
	h.log.LogAttrs(ctx, slog.LevelInfo, "sweep",
		slog.String("event_id", ev.ID), slog.Time("scheduled_at", ev.Time),
		slog.Int("examined", rep.Examined), slog.Int("deleted", rep.Deleted), slog.Int("stopped", rep.Stopped),
		slog.Int("paused", rep.Paused), slog.Int("warned", rep.Warned), slog.Int("expired", rep.Expired),
		slog.Int("left_alone", rep.LeftAlone), slog.Int("rescheduled", rep.Rescheduled), slog.Int("skipped", rep.Skipped),
		slog.Int("resynced", rep.Resynced), slog.Int("budgets", rep.Budgets), slog.Int("exhausted_budgets", rep.ExhaustedBudgets),
		slog.Int("items_read", rep.ItemsRead), slog.Int("throttled", rep.Throttled), slog.Int("errors", len(rep.Errors)), slog.Int64("duration_ms", rep.DurationMs),
		slog.Bool("cut", rep.Cut))
	if err != nil {
		return rep, fmt.Errorf("sweep: %w", err)
	}
	if n := len(rep.Errors); n > 0 {
		return rep, fmt.Errorf("sweep finished with %d errors, the first: %s", n, rep.Errors[0])
	}
	return rep, nil
}
