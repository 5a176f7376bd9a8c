package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lambdarie"
)

// The built bootstrap, run as Lambda runs it (on the real clock), warns and expires sessions on
// DynamoDB Local and reports an early action as NotDueError, the name the state machine
// retries.
func TestTimeLimitUnderEmulator(t *testing.T) {
	tb := ddbtest.NewTable(t)
	// The fixtures' session started 55 minutes ago: its warning is due now, its limit in 5
	// minutes.
	startFixtureSession(t, tb, time.Now().Add(-55*time.Minute))
	fn := lambdarie.StartFunction(t, "timelimit", lambdarie.Options{Env: map[string]string{
		"TABLE_NAME":        tb.Name,
		"DYNAMODB_ENDPOINT": tb.Endpoint,
	}})
	tests := []struct {
		name        string
		payload     []byte
		wantOutcome string
		wantError   string // "<errorType>: …" prefix
	}{
		{name: "warning due", payload: lambdarie.Fixture(t, "sfn-timelimit-warn.json"), wantOutcome: "warn"},
		{name: "warning again", payload: lambdarie.Fixture(t, "sfn-timelimit-warn.json"), wantOutcome: countdown.OutcomeAlreadyWarned},
		{name: "expiry 5 minutes early", payload: lambdarie.Fixture(t, "sfn-timelimit-expire.json"), wantError: countdown.NotDueErrorName + ": "},
		{name: "unknown session", payload: []byte(`{"action":"expire","session_id":"s_nobody"}`), wantOutcome: countdown.OutcomeNotFound},
		{name: "unknown action", payload: []byte(`{"action":"explode","session_id":"s_nobody"}`), wantError: "errorString: countdown task: unknown action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := fn.Invoke(t, tc.payload)
			if resp.Status != http.StatusOK {
				t.Fatalf("status %d: %s\n%s", resp.Status, resp.Body, fn.Output())
			}
			if tc.wantError != "" {
				if got := resp.FunctionError(); !strings.HasPrefix(got, tc.wantError) {
					t.Errorf("function error: got %q, want %q…", got, tc.wantError)
				}
				return
			}
			if fe := resp.FunctionError(); fe != "" {
				t.Fatalf("function error %q\n%s", fe, fn.Output())
			}
			var res countdown.Result
			if err := json.Unmarshal(resp.Body, &res); err != nil {
				t.Fatalf("answer %s: %v", resp.Body, err)
			}
			if res.Outcome != tc.wantOutcome {
				t.Errorf("outcome: got %q, want %q", res.Outcome, tc.wantOutcome)
			}
		})
	}
	evs, err := ddbstore.Open(tb.Client, tb.Name).Sessions().Events(context.Background(), fixtureSession)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Type != "time_limit_warning" {
		t.Errorf("events: got %+v, want created and time_limit_warning", evs)
	}
	t.Logf("timelimit under aws-lambda-rie: first answer %v after process start", fn.FirstAnswer())
}
