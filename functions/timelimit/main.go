// Command timelimit is the task function of the time-limit countdown state machine. Step
// Functions invokes it with {"action", "session_id", "warning_at", "limit_at"}: action "warn"
// records the session's time_limit_warning event, "expire" deletes the session with reason
// time_limit_reached. Both are idempotent (a repeated action writes nothing more and succeeds);
// an action that fires more than a second early fails with NotDueError, which the state
// machine retries. TABLE_NAME names the table; DYNAMODB_ENDPOINT (optional) points at DynamoDB
// Local for local invocation.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"wspolicy/internal/awsops"
	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	task, err := newTask(context.Background(), os.Getenv, policy.SystemClock{}, logger)
	if err != nil {
		logger.Error("timelimit init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(metrics.FlushAfter(task.Handle, os.Stdout, "timelimit"))
}

// newTask builds the DynamoDB client once per cold start and the task on the session store.
func newTask(ctx context.Context, getenv func(string) string, clock policy.Clock, logger *slog.Logger) (*countdown.Task, error) {
	table := getenv("TABLE_NAME")
	if table == "" {
		return nil, errors.New("TABLE_NAME is required")
	}
	db, err := ddbkit.NewClient(ctx, getenv("DYNAMODB_ENDPOINT"), awsops.DynamoDBOption)
	if err != nil {
		return nil, err
	}
	store := ddbstore.Open(db, table, ddbstore.WithLogger(logger)).Sessions()
	return countdown.NewTask(store, clock, logger.With(slog.String("table", table))), nil
}
