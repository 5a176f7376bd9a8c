package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sfntimer"
	"wspolicy/internal/sweep"
	"wspolicy/internal/usage"
)

const machineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:WsPolicy-Countdown"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeSFN records the executions stopped; none exists, as after a countdown already ended.
type fakeSFN struct {
	mu      sync.Mutex
	stopped []string
}

func (f *fakeSFN) StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	return nil, &sfntypes.InvalidArn{Message: aws.String("the sweep starts no countdown")}
}

func (f *fakeSFN) StopExecution(_ context.Context, in *sfn.StopExecutionInput, _ ...func(*sfn.Options)) (*sfn.StopExecutionOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, aws.ToString(in.ExecutionArn))
	return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("gone")}
}

func (f *fakeSFN) DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	return nil, &sfntypes.ExecutionDoesNotExist{Message: aws.String("gone")}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seed stores users and sessions started at t0: expired (keepalive 1 min), limit-missed (a 5
// min time limit whose countdown never fired), budget-limited (a 1 h time limit on a 3.6 s
// per_user budget) and alive (keepalive 1 h).
func seed(t *testing.T, tb *ddbtest.Table) {
	t.Helper()
	ctx := context.Background()
	dir := ddbstore.Open(tb.Client, tb.Name).Directory()
	store := ddbstore.Open(tb.Client, tb.Name).Sessions()
	for _, u := range []string{"u1", "u2"} {
		if _, err := dir.CreateUser(ctx, policy.User{ID: u, Username: u}); err != nil {
			t.Fatal(err)
		}
	}
	lt := func(ka, limit time.Duration) lifecycle.Lifetime {
		return lifecycle.Lifetime{KeepaliveExpiration: ka, Action: lifecycle.ActionDelete, KeepaliveInterval: time.Second,
			IdleDisconnect: time.Hour, TimeLimit: limit, MaxSessions: 10}
	}
	budget, err := usage.NewBudget("u2", usage.Limit{Type: "per_user", Interval: "total", Hours: 0.001}, usage.Source{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		id, user string
		lt       lifecycle.Lifetime
		budget   usage.Budget
	}{
		{"expired", "u1", lt(time.Minute, 0), usage.Budget{}},
		{"limit-missed", "u1", lt(time.Minute, 5*time.Minute), usage.Budget{}},
		{"budget-limited", "u2", lt(time.Hour, time.Hour), budget},
		{"alive", "u1", lt(time.Hour, 0), usage.Budget{}},
	} {
		sess, created := lifecycle.NewSession(s.id, s.user, "img", true, s.lt, t0)
		if _, err := store.StartCharged(ctx, sess, created, s.budget); err != nil {
			t.Fatalf("start %s: %v", s.id, err)
		}
	}
}

// TestScheduledSweep feeds events/schedule-sweep.json through aws-lambda-go's handler into the
// sweeper newHandler builds on DynamoDB Local, ten minutes after the sessions started.
func TestScheduledSweep(t *testing.T) {
	tests := []struct {
		name        string
		machine     string
		wantStopped []string
	}{
		{name: "with countdowns", machine: machineARN,
			wantStopped: []string{sfntimer.ExecutionARN(machineARN, "budget-limited")}},
		{name: "without countdowns", machine: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := ddbtest.NewTable(t)
			seed(t, tb)
			client := &fakeSFN{}
			var logs bytes.Buffer
			env := map[string]string{"TABLE_NAME": tb.Name, "DYNAMODB_ENDPOINT": tb.Endpoint, "STATE_MACHINE_ARN": tc.machine}
			h, err := newHandler(context.Background(), func(k string) string { return env[k] },
				&policy.FixedClock{T: t0.Add(10 * time.Minute)}, client, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), fixture(t, "schedule-sweep.json"))
			if err != nil {
				t.Fatalf("invoke: %v\n%s", err, logs.String())
			}
			var rep sweep.Report
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Deleted != 3 || rep.Expired != 1 || len(rep.Errors) != 0 {
				t.Errorf("report: deleted %d expired %d errors %v, want 3 deleted, 1 by keepalive expiry, no errors", rep.Deleted, rep.Expired, rep.Errors)
			}
			store := ddbstore.Open(tb.Client, tb.Name).Sessions()
			for id, want := range map[string]string{
				"expired": lifecycle.ReasonKeepaliveExpired, "limit-missed": lifecycle.ReasonTimeLimitReached,
				"budget-limited": lifecycle.ReasonUsageLimitReached, "alive": "",
			} {
				s, err := store.GetSession(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if s.ExpirationReason != want || (want == "") != (s.Status == lifecycle.StatusRunning) {
					t.Errorf("%s: got %s %q, want reason %q", id, s.Status, s.ExpirationReason, want)
				}
			}
			if got, want := strings.Join(client.stopped, " "), strings.Join(tc.wantStopped, " "); got != want {
				t.Errorf("executions stopped: got %q, want %q", got, want)
			}
			for _, want := range []string{`"msg":"sweep"`, `"event_id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"`, `"deleted":3`, `"table":"` + tb.Name + `"`} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %s:\n%s", want, logs.String())
				}
			}
		})
	}
}

func TestSweepErrorsFailTheInvocation(t *testing.T) {
	tb := ddbtest.NewTable(t)
	env := map[string]string{"TABLE_NAME": "no-such-table", "DYNAMODB_ENDPOINT": tb.Endpoint}
	h, err := newHandler(context.Background(), func(k string) string { return env[k] }, policy.SystemClock{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = lambda.NewHandler(h.Handle).Invoke(context.Background(), fixture(t, "schedule-sweep.json"))
	if err == nil || !strings.Contains(err.Error(), "errors") {
		t.Errorf("invoke on a missing table: got %v, want the sweep's errors", err)
	}
}

func TestNewHandlerConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		client  sfntimer.SFNAPI
		wantErr string
	}{
		{name: "no table", env: map[string]string{}, wantErr: "TABLE_NAME"},
		{name: "state machine without a client", env: map[string]string{"TABLE_NAME": "t", "STATE_MACHINE_ARN": machineARN}, wantErr: "Step Functions client"},
		{name: "sweep workers not a number", env: map[string]string{"TABLE_NAME": "t", "SWEEP_WORKERS": "lots"}, wantErr: "SWEEP_WORKERS"},
		{name: "sweep workers zero", env: map[string]string{"TABLE_NAME": "t", "SWEEP_WORKERS": "0"}, wantErr: "SWEEP_WORKERS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newHandler(context.Background(), func(k string) string { return tc.env[k] }, policy.SystemClock{}, tc.client, slog.Default())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("newHandler: got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestSweepWorkersFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  string
		want int
	}{
		{name: "unset", env: "", want: sweep.DefaultWorkers},
		{name: "set", env: "12", want: 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"TABLE_NAME": "t", "DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "SWEEP_WORKERS": tc.env}
			h, err := newHandler(context.Background(), func(k string) string { return env[k] }, policy.SystemClock{}, nil, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			if got := h.sweeper.Workers(); got != tc.want {
				t.Errorf("workers = %d, want %d", got, tc.want)
			}
		})
	}
}
