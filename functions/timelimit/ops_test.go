package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"wspolicy/internal/awsops/awsopstest"
	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/usage"
)

// TestMain records the AWS operations the function's code performs in this package's tests
// (TestFixtures warns and expires a session through the task newTask builds; TestAWSOperations
// a session charged to a usage budget) and checks them against
// internal/awsops/granted/timelimit.txt, which the stack grants.
func TestMain(m *testing.M) { os.Exit(awsopstest.Main(m, "timelimit")) }

// TestAWSOperations warns and expires a time-limited session charged to a budget, whose end
// also settles the budget's ledger.
func TestAWSOperations(t *testing.T) {
	tb := ddbtest.NewTable(t)
	ctx := context.Background()
	if _, err := ddbstore.Open(tb.Client, tb.Name).Directory().CreateUser(ctx, policy.User{ID: "u_bob", Username: "bob"}); err != nil {
		t.Fatal(err)
	}
	budget, err := usage.NewBudget("u_bob", usage.Limit{Type: "per_user", Interval: "total", Hours: 10}, usage.Source{})
	if err != nil {
		t.Fatal(err)
	}
	lt := lifecycle.Lifetime{KeepaliveExpiration: time.Hour, Action: lifecycle.ActionDelete, KeepaliveInterval: 30 * time.Second,
		IdleDisconnect: time.Hour, TimeLimit: time.Hour, MaxSessions: 5}
	s, created := lifecycle.NewSession("s_charged", "u_bob", "img", true, lt, fixtureStart)
	if _, err := ddbstore.Open(tb.Client, tb.Name).Sessions().StartCharged(ctx, s, created, budget); err != nil {
		t.Fatal(err)
	}
	clock := &policy.FixedClock{T: fixtureStart}
	env := map[string]string{"TABLE_NAME": tb.Name, "DYNAMODB_ENDPOINT": tb.Endpoint}
	task, err := newTask(ctx, func(k string) string { return env[k] }, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		action string
		at     time.Duration
	}{{countdown.ActionWarn, 55 * time.Minute}, {countdown.ActionExpire, time.Hour}} {
		clock.T = fixtureStart.Add(step.at)
		res, err := task.Run(ctx, step.action, "s_charged")
		if err != nil {
			t.Fatalf("%s: %v", step.action, err)
		}
		t.Logf("%s: %s %s", step.action, res.Outcome, res.Reason)
	}
}
