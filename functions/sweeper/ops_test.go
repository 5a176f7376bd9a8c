package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"wspolicy/internal/awsops"
	"wspolicy/internal/awsops/awsopstest"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// TestMain records the AWS operations the function's code performs in this package's tests
// and checks them against internal/awsops/granted/sweeper.txt, which the stack grants.
func TestMain(m *testing.M) { os.Exit(awsopstest.Main(m, "sweeper")) }

// TestAWSOperations runs the sweeper as deployed (countdowns on Step Functions, here a fake)
// over every kind of due work: keepalive expiry, a missed time limit, an exhausted budget, a
// re-sync of a group's and of every user's sessions.
func TestAWSOperations(t *testing.T) {
	awsopstest.NewFakeAWS(t, "")
	tb := ddbtest.NewTable(t)
	seed(t, tb)
	ctx := context.Background()
	ss := ddbstore.Open(tb.Client, tb.Name).Sessions()
	dir := ddbstore.Open(tb.Client, tb.Name).Directory()
	g, err := dir.CreateGroup(ctx, policy.Group{Name: "Engineering", Priority: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.AddMember(ctx, g.ID, "u1", t0); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		kind lifecycle.ResyncKind
		id   string
	}{{lifecycle.ResyncGroup, g.ID}, {lifecycle.ResyncGroup, policy.AllUsersGroupID}, {lifecycle.ResyncUser, "u2"}} {
		if err := ss.MarkResync(ctx, m.kind, m.id, t0); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithAPIOptions(awsops.APIOptions()))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TABLE_NAME": tb.Name, "DYNAMODB_ENDPOINT": tb.Endpoint, "STATE_MACHINE_ARN": machineARN}
	h, err := newHandler(ctx, func(k string) string { return env[k] }, &policy.FixedClock{T: t0.Add(10 * time.Minute)},
		sfn.NewFromConfig(cfg), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lambda.NewHandler(h.Handle).Invoke(ctx, fixture(t, "schedule-sweep.json")); err != nil {
		t.Fatalf("invoke: %v", err)
	}
}
