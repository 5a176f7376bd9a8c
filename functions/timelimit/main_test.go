package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// fixtureSession is the session the events/sfn-timelimit-*.json fixtures name: started at
// 12:00 with a one-hour limit, so its warning is due at 12:55 and its limit at 13:00.
const fixtureSession = "s_7k3qdw2xhcm4fzpa"

var fixtureStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startFixtureSession stores the fixtures' session (and its user) started at `at`.
func startFixtureSession(t *testing.T, tb *ddbtest.Table, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := ddbstore.Open(tb.Client, tb.Name).Directory().CreateUser(ctx, policy.User{ID: "u_alice", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	lt := lifecycle.Lifetime{KeepaliveExpiration: time.Minute, Action: lifecycle.ActionDelete, KeepaliveInterval: 30 * time.Second,
		IdleDisconnect: time.Hour, TimeLimit: time.Hour, MaxSessions: 5}
	s, created := lifecycle.NewSession(fixtureSession, "u_alice", "img", true, lt, at)
	if err := ddbtest.StartSession(ctx, ddbstore.Open(tb.Client, tb.Name).Sessions(), s, created); err != nil {
		t.Fatal(err)
	}
}

// TestFixtures feeds events/sfn-timelimit-*.json, in the order the state machine sends them
// and then again, through aws-lambda-go's handler into the task newTask builds on DynamoDB
// Local, with the clock where each action is due.
func TestFixtures(t *testing.T) {
	tb := ddbtest.NewTable(t)
	startFixtureSession(t, tb, fixtureStart)
	clock := &policy.FixedClock{T: fixtureStart}
	var logs bytes.Buffer
	env := map[string]string{"TABLE_NAME": tb.Name, "DYNAMODB_ENDPOINT": tb.Endpoint}
	task, err := newTask(context.Background(), func(k string) string { return env[k] }, clock, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	h := lambda.NewHandler(task.Handle)
	tests := []struct {
		file        string
		at          time.Time
		wantOutcome string
		wantErrType string
		wantEvents  string
	}{
		{file: "sfn-timelimit-warn.json", at: fixtureStart.Add(50 * time.Minute), wantErrType: countdown.NotDueErrorName,
			wantEvents: "created"},
		{file: "sfn-timelimit-warn.json", at: fixtureStart.Add(55 * time.Minute), wantOutcome: "warn",
			wantEvents: "created time_limit_warning"},
		{file: "sfn-timelimit-warn.json", at: fixtureStart.Add(56 * time.Minute), wantOutcome: countdown.OutcomeAlreadyWarned,
			wantEvents: "created time_limit_warning"},
		{file: "sfn-timelimit-expire.json", at: fixtureStart.Add(time.Hour), wantOutcome: "delete",
			wantEvents: "created time_limit_warning time_limit_reached deleted"},
		{file: "sfn-timelimit-expire.json", at: fixtureStart.Add(time.Hour + time.Second), wantOutcome: countdown.OutcomeAlreadyDeleted,
			wantEvents: "created time_limit_warning time_limit_reached deleted"},
	}
	store := ddbstore.Open(tb.Client, tb.Name).Sessions()
	for i, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			clock.Set(tc.at)
			out, err := h.Invoke(context.Background(), fixture(t, tc.file))
			if tc.wantErrType != "" {
				if got := errorType(err); got != tc.wantErrType {
					t.Errorf("step %d: error type %q (%v), want %q", i, got, err, tc.wantErrType)
				}
			} else {
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				var res countdown.Result
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatal(err)
				}
				if res.Outcome != tc.wantOutcome || res.SessionID != fixtureSession {
					t.Errorf("step %d: result %+v, want outcome %q for %s", i, res, tc.wantOutcome, fixtureSession)
				}
			}
			evs, err := store.Events(context.Background(), fixtureSession)
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, ev := range evs {
				types = append(types, string(ev.Type))
			}
			if got := strings.Join(types, " "); got != tc.wantEvents {
				t.Errorf("step %d: events %q, want %q", i, got, tc.wantEvents)
			}
		})
	}
	if !strings.Contains(logs.String(), `"table":"`+tb.Name+`"`) {
		t.Errorf("logs do not name the table:\n%s", logs.String())
	}
}

// errorType names an error as the Lambda runtime does (aws-lambda-go: its type's name).
func errorType(err error) string {
	if err == nil {
		return ""
	}
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func TestNewTaskNeedsTable(t *testing.T) {
	_, err := newTask(context.Background(), func(string) string { return "" }, policy.SystemClock{}, slog.Default())
	if err == nil || !strings.Contains(err.Error(), "TABLE_NAME") {
		t.Errorf("newTask without TABLE_NAME: got %v, want an error naming it", err)
	}
}
