package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lambdarie"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sweep"
)

// seedNow stores a user's sessions started ten minutes before now (the emulated function runs
// on the real clock): two whose one-minute keepalive has expired, one deleted and one stopped
// by the sweep, and one with an hour's keepalive left.
func seedNow(t *testing.T, tb *ddbtest.Table) {
	t.Helper()
	ctx := context.Background()
	if _, err := ddbstore.Open(tb.Client, tb.Name).Directory().CreateUser(ctx, policy.User{ID: "u1", Username: "u1"}); err != nil {
		t.Fatal(err)
	}
	store := ddbstore.Open(tb.Client, tb.Name).Sessions()
	started := time.Now().Add(-10 * time.Minute)
	for _, s := range []struct {
		id        string
		keepalive time.Duration
		action    lifecycle.Action
	}{
		{"due-delete", time.Minute, lifecycle.ActionDelete},
		{"due-stop", time.Minute, lifecycle.ActionStop},
		{"alive", time.Hour, lifecycle.ActionDelete},
	} {
		lt := lifecycle.Lifetime{KeepaliveExpiration: s.keepalive, Action: s.action, KeepaliveInterval: time.Second,
			IdleDisconnect: time.Hour, MaxSessions: 10}
		sess, created := lifecycle.NewSession(s.id, "u1", "img", true, lt, started)
		if err := ddbtest.StartSession(ctx, store, sess, created); err != nil {
			t.Fatalf("start %s: %v", s.id, err)
		}
	}
}

// The built bootstrap, run as Lambda runs it (on the real clock), sweeps DynamoDB Local when
// events/schedule-sweep.json arrives: it ends the sessions whose keepalive expired, answers
// with the report, finds nothing left on the next run, and fails the invocation when the sweep
// records errors.
func TestSweeperUnderEmulator(t *testing.T) {
	tb := ddbtest.NewTable(t)
	seedNow(t, tb)
	bootstrap := lambdarie.Build(t, "sweeper")
	fn := lambdarie.Start(t, bootstrap, lambdarie.Options{Name: "sweeper", Env: map[string]string{
		"TABLE_NAME":        tb.Name,
		"DYNAMODB_ENDPOINT": tb.Endpoint,
	}})
	tests := []struct {
		name        string
		wantActions []string // "<session> <action> <reason>", sorted
		wantDeleted int
		wantStopped int
		wantExpired int
	}{
		{name: "due sessions end", wantDeleted: 1, wantStopped: 1, wantExpired: 2, wantActions: []string{
			"due-delete delete " + lifecycle.ReasonKeepaliveExpired, "due-stop stop " + lifecycle.ReasonKeepaliveExpired}},
		{name: "nothing left due", wantActions: []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := fn.InvokeFixture(t, "schedule-sweep.json")
			if resp.Status != http.StatusOK || resp.FunctionError() != "" {
				t.Fatalf("invoke: status %d, function error %q, body %s\n%s", resp.Status, resp.FunctionError(), resp.Body, fn.Output())
			}
			var rep sweep.Report
			if err := json.Unmarshal(resp.Body, &rep); err != nil {
				t.Fatalf("answer %s: %v", resp.Body, err)
			}
			if rep.Deleted != tc.wantDeleted || rep.Stopped != tc.wantStopped || rep.Expired != tc.wantExpired || len(rep.Errors) != 0 {
				t.Errorf("report: deleted %d stopped %d expired %d errors %v, want %d, %d, %d and none",
					rep.Deleted, rep.Stopped, rep.Expired, rep.Errors, tc.wantDeleted, tc.wantStopped, tc.wantExpired)
			}
			gotActions := []string{}
			for _, a := range rep.Actions {
				gotActions = append(gotActions, a.SessionID+" "+a.Action+" "+a.Reason)
			}
			slices.Sort(gotActions)
			if !slices.Equal(gotActions, tc.wantActions) {
				t.Errorf("actions: got %q, want %q", gotActions, tc.wantActions)
			}
		})
	}
	store := ddbstore.Open(tb.Client, tb.Name).Sessions()
	for id, want := range map[string]lifecycle.Status{
		"due-delete": lifecycle.StatusDeleted, "due-stop": lifecycle.StatusStopped, "alive": lifecycle.StatusRunning,
	} {
		s, err := store.GetSession(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if s.Status != want {
			t.Errorf("%s: got status %s (reason %q), want %s", id, s.Status, s.ExpirationReason, want)
		}
	}
	for _, want := range []string{`"msg":"sweep"`, `"event_id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"`, `"deleted":1`, `"table":"` + tb.Name + `"`} {
		if !strings.Contains(fn.Output(), want) {
			t.Errorf("the function's log lacks %s:\n%s", want, fn.Output())
		}
	}
	t.Logf("sweeper under aws-lambda-rie: first answer %v after process start", fn.FirstAnswer())

	t.Run("errors fail the invocation", func(t *testing.T) {
		broken := lambdarie.Start(t, bootstrap, lambdarie.Options{Name: "sweeper", Env: map[string]string{
			"TABLE_NAME":        "no-such-table",
			"DYNAMODB_ENDPOINT": tb.Endpoint,
		}})
		resp := broken.InvokeFixture(t, "schedule-sweep.json")
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d: %s\n%s", resp.Status, resp.Body, broken.Output())
		}
		if got := resp.FunctionError(); !strings.HasPrefix(got, "errorString: sweep finished with") || !strings.Contains(got, "non-existent table") {
			t.Errorf("function error: got %q, want the sweep's errors, the first about the missing table\n%s", got, broken.Output())
		}
	})
}
