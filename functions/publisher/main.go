// Command publisher is the Lambda function on the table's stream: it publishes the outbox's
// session events to the EventBridge bus named by EVENT_BUS_NAME and reports the records it could
// not complete as batch item failures, so that the stream retries them. TABLE_NAME names the
// table the stream belongs to; TTL deletions of its items go to the finaliser (the backstop),
// which also stops the session's countdown execution when STATE_MACHINE_ARN (optional) names
// the countdown state machine.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"wspolicy/internal/awsops"
	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/finalise"
	"wspolicy/internal/metrics"
	"wspolicy/internal/publish"
	"wspolicy/internal/publish/ebsink"
	"wspolicy/internal/sfntimer"
)

// settings is the function's configuration from its environment.
type settings struct {
	table string
	bus   string
}

func settingsFrom(getenv func(string) string) (settings, error) {
	s := settings{table: getenv("TABLE_NAME"), bus: getenv("EVENT_BUS_NAME")}
	if s.table == "" || s.bus == "" {
		return settings{}, fmt.Errorf("TABLE_NAME and EVENT_BUS_NAME must be set (got %q, %q)", s.table, s.bus)
	}
	return s, nil
}

// newHandler wires the stream handler: EventBridge as the sink, fin as the TTL backstop
// (nil: TTL deletions are ignored).
func newHandler(s settings, eb ebsink.PutEventsAPI, fin publish.Finaliser, logger *slog.Logger) *publish.Handler {
	logger = logger.With(slog.String("table", s.table), slog.String("event_bus", s.bus))
	return publish.NewHandler(ebsink.New(eb, s.bus), fin, logger)
}

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	if err := run(context.Background(), logger); err != nil {
		logger.Error("publisher: start failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger) error {
	s, err := settingsFrom(os.Getenv)
	if err != nil {
		return err
	}
	h, err := build(ctx, s, os.Getenv, logger)
	if err != nil {
		return err
	}
	lambda.Start(metrics.FlushAfter(h.Handle, os.Stdout, "publisher"))
	return nil
}

// build makes the clients once per cold start: EventBridge, DynamoDB for the finaliser, and
// with STATE_MACHINE_ARN set, Step Functions for the finaliser to stop countdowns with.
func build(ctx context.Context, s settings, getenv func(string) string, logger *slog.Logger) (*publish.Handler, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithAPIOptions(awsops.APIOptions()))
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	db, err := ddbkit.NewClient(ctx, getenv("DYNAMODB_ENDPOINT"), awsops.DynamoDBOption)
	if err != nil {
		return nil, err
	}
	var timers countdown.Timer
	if arn := getenv("STATE_MACHINE_ARN"); arn != "" {
		timers = sfntimer.NewStepFunctions(sfn.NewFromConfig(cfg), arn)
	}
	fin := finalise.New(finalise.Config{Store: ddbstore.Open(db, s.table, ddbstore.WithLogger(logger)).Sessions(),
		Countdowns: timers, Logger: logger})
	return newHandler(s, eventbridge.NewFromConfig(cfg), fin, logger), nil
}
