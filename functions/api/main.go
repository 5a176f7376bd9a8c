// Command api is the api Lambda function: API Gateway HTTP API events (payload format 2.0)
// pass through aws-lambda-go-api-proxy to the httpapi handler, with the session service and the
// sweeper (POST /v1/sweeps) on the same table. It reads TABLE_NAME (required),
// ADMIN_API_KEY_SECRET_ARN (optional: the Secrets Manager secret holding the bootstrap admin
// key, read once per cold start and kept in memory; this is how the stack configures it, so the
// key is in no environment variable), ADMIN_API_KEY (optional, the key itself, for local
// invocation; the secret wins when both are set) and DYNAMODB_ENDPOINT (optional, for local
// invocation against DynamoDB Local). STATE_MACHINE_ARN (optional) is the countdown state machine: with it, a
// time-limited session's start starts its countdown execution, and a session ended earlier
// (by its user, an administrator or POST /v1/sweeps) has it stopped; without it the sweeps
// enforce time limits alone.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"wspolicy/internal/awsops"
	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/directory"
	"wspolicy/internal/httpapi"
	"wspolicy/internal/kasmapi"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
	"wspolicy/internal/preview"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/sfntimer"
	"wspolicy/internal/sso"
	"wspolicy/internal/sweep"
)

func main() {
	httpapi.TuneProcess()
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := newHandler(context.Background(), os.Getenv, logger)
	if err != nil {
		logger.Error("api init failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	proxy := httpadapter.NewV2(h).ProxyWithContext
	lambda.Start(metrics.FlushAfter(proxy, os.Stdout, fnName))
}

// fnName is the function's name in its metrics.
const fnName = "api"

// newHandler builds the clients and services once per cold start and makes sure the built-in
// All Users group exists (one conditional write; a no-op once it does).
func newHandler(ctx context.Context, getenv func(string) string, logger *slog.Logger) (http.Handler, error) {
	table := getenv("TABLE_NAME")
	if table == "" {
		return nil, errors.New("TABLE_NAME is required")
	}
	db, err := ddbkit.NewClient(ctx, getenv("DYNAMODB_ENDPOINT"), awsops.DynamoDBOption)
	if err != nil {
		return nil, err
	}
	adminKey, err := bootstrapAdminKey(ctx, getenv)
	if err != nil {
		return nil, err
	}
	clock := policy.SystemClock{}
	// The keepalive, most of the API's requests, skips the SDK's middleware stack.
	wire, err := ddbstore.NewKeepaliveWire(ctx, db)
	if err != nil {
		return nil, err
	}
	tbl := ddbstore.Open(db, table, ddbstore.WithClock(clock), ddbstore.WithLogger(logger), ddbstore.WithKeepaliveWire(wire))
	store := tbl.Directory()
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := store.EnsureAllUsers(ectx, clock.Now(), settings.AllUsersValues()); err != nil {
		return nil, fmt.Errorf("ensure All Users: %w", err)
	}
	sessionStore := tbl.Sessions()
	timer, err := countdownTimer(ctx, getenv("STATE_MACHINE_ARN"))
	if err != nil {
		return nil, err
	}
	svc := sessions.New(sessions.Config{Store: sessionStore, Directory: directory.New(store, clock), Clock: clock,
		Countdowns: timer, Logger: logger, Workspaces: store})
	parts := kasmapi.Wire(store, svc, clock)
	return httpapi.New(httpapi.Config{
		Directory:  store,
		Clock:      clock,
		AdminKey:   adminKey,
		Logger:     logger,
		Sessions:   svc,
		Workspaces: parts.Workspaces, DevKeys: parts.DevKeys, Kasm: parts.Kasm,
		Sweeper: sweep.New(sweep.Config{Store: sweep.StopCountdowns(sessionStore, timer, logger),
			Directory: store, Clock: clock}),
		Preview: preview.New(store, sessionStore, clock),
		// OIDC sign-in (OIDC_* variables, docs/sign-in.md); off without OIDC_ISSUER.
		OIDC: sso.ConfigFromEnv(getenv), SSOStore: store,
	}), nil
}

// countdownTimer is the Step Functions countdown of the state machine arn, or none (nil) when
// arn is empty.
func countdownTimer(ctx context.Context, arn string) (countdown.Timer, error) {
	if arn == "" {
		return nil, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithAPIOptions(awsops.APIOptions()))
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return sfntimer.NewStepFunctions(sfn.NewFromConfig(cfg), arn), nil
}

// bootstrapAdminKey is the bootstrap admin key: the value of the secret ADMIN_API_KEY_SECRET_ARN
// names, read here once per cold start (a rotated key takes effect as instances start), or
// else ADMIN_API_KEY, or none. An empty secret value means no bootstrap key.
func bootstrapAdminKey(ctx context.Context, getenv func(string) string) (string, error) {
	arn := getenv("ADMIN_API_KEY_SECRET_ARN")
	if arn == "" {
		return getenv("ADMIN_API_KEY"), nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithAPIOptions(awsops.APIOptions()))
	if err != nil {
		return "", fmt.Errorf("load aws config: %w", err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(rctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read the admin key secret: %w", err)
	}
	return aws.ToString(out.SecretString), nil
}
