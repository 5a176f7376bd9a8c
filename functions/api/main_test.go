package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/policy"
	"wspolicy/internal/sfntimer"
)

// fixtureAdminKey is the ADMIN_API_KEY the events/apigw-*.json fixtures carry.
const fixtureAdminKey = "dev"

// fixtureUserID is the user the session fixtures name; the test creates them, since users
// made through the API get random ids.
const fixtureUserID = "u_fixture"

// TestEventFixtures feeds every events/apigw-*.json through the proxy adapter into the
// handler newHandler builds on a fresh DynamoDB Local table, in order, and checks each
// response. Every fixture file must be listed here.
func TestEventFixtures(t *testing.T) {
	tb := ddbtest.NewTable(t)
	var logs bytes.Buffer
	env := map[string]string{"TABLE_NAME": tb.Name, "DYNAMODB_ENDPOINT": tb.Endpoint, "ADMIN_API_KEY": fixtureAdminKey}
	h, err := newHandler(context.Background(), func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	if _, err := ddbstore.Open(tb.Client, tb.Name).Directory().CreateUser(context.Background(), policy.User{ID: fixtureUserID, Username: "fixture"}); err != nil {
		t.Fatalf("create the fixtures' user: %v", err)
	}
	proxy := httpadapter.NewV2(h).ProxyWithContext

	tests := []struct {
		file       string
		wantStatus int
		wantBody   []string // substrings of the body
		wantHeader map[string]string
	}{
		{file: "apigw-health.json", wantStatus: 200, wantBody: []string{`{"status":"ok"}`}},
		{file: "apigw-openapi.json", wantStatus: 200, wantBody: []string{`"openapi": "3.0.3"`}},
		{file: "apigw-catalog.json", wantStatus: 200, wantBody: []string{`"name":"keepalive_interval"`}},
		{file: "apigw-list-groups.json", wantStatus: 200, wantBody: []string{`"group_id":"all-users"`, `"name":"All Users"`, `"priority":1000`}},
		{file: "apigw-get-all-users-settings.json", wantStatus: 200, wantBody: []string{`"max_kasms_per_user":5`, `"version":1`}, wantHeader: map[string]string{"Etag": `"1"`}},
		{file: "apigw-create-group.json", wantStatus: 201, wantBody: []string{`"name":"Engineering"`, `"priority":10`, `"version":1`}},
		{file: "apigw-create-group-base64.json", wantStatus: 201, wantBody: []string{`"name":"Contractors"`, `"priority":20`}},
		{file: "apigw-create-group-duplicate-name.json", wantStatus: 409, wantBody: []string{`"code":"group_name_taken"`}},
		{file: "apigw-create-group-unknown-field.json", wantStatus: 400, wantBody: []string{`"code":"unknown_field"`, `"field":"prio"`}},
		{file: "apigw-put-setting.json", wantStatus: 200, wantBody: []string{`"keepalive_interval":120`, `"version":2`, `"warnings":[`}},
		{file: "apigw-put-setting-bad-value.json", wantStatus: 400, wantBody: []string{`"field":"keepalive_interval"`, `keepalive_interval must be`}},
		{file: "apigw-put-setting-stale-version.json", wantStatus: 412, wantBody: []string{`"code":"version_mismatch"`}},
		{file: "apigw-patch-settings-all-or-nothing.json", wantStatus: 400, wantBody: []string{`"field":"keepalive_expiration_action"`}},
		{file: "apigw-create-user.json", wantStatus: 201, wantBody: []string{`"username":"alice"`, `"groups":["all-users"]`}},
		{file: "apigw-effective-settings-unknown-user.json", wantStatus: 404, wantBody: []string{`"code":"user_not_found"`}},
		{file: "apigw-invalid-id.json", wantStatus: 400, wantBody: []string{`"code":"invalid_id"`, `"field":"group_id"`}},
		{file: "apigw-no-key.json", wantStatus: 401, wantBody: []string{`"code":"missing_key"`}},
		{file: "apigw-invalid-key.json", wantStatus: 401, wantBody: []string{`"code":"invalid_key"`}},
		{file: "apigw-unknown-route.json", wantStatus: 404, wantBody: []string{`"code":"route_not_found"`}},
		{file: "apigw-wrong-method.json", wantStatus: 405, wantBody: []string{`"code":"method_not_allowed"`}, wantHeader: map[string]string{"Allow": "GET, HEAD"}},
		{file: "apigw-me.json", wantStatus: 200, wantBody: []string{`{"role":"admin","user_id":null,"key_id":"bootstrap"}`}},
		{file: "apigw-start-session.json", wantStatus: 201, wantBody: []string{`"user_id":"u_fixture"`, `"image_id":"img-1"`, `"status":"running"`, `"container":true`, `"expiration_action":"delete"`, `"time_limit_expires_at":null`}},
		{file: "apigw-start-session-unknown-user.json", wantStatus: 404, wantBody: []string{`"code":"user_not_found"`}},
		{file: "apigw-list-sessions.json", wantStatus: 200, wantBody: []string{`"user_id":"u_fixture"`, `"image_id":"img-1"`, `"status":"running"`}},
		{file: "apigw-keepalive-session-unknown.json", wantStatus: 404, wantBody: []string{`"code":"session_not_found"`}},
		{file: "apigw-sweep-sessions-dry-run.json", wantStatus: 200, wantBody: []string{`"dry_run":true`, `"examined":0`, `"errors":[]`}},
	}

	files, err := filepath.Glob(filepath.Join("..", "..", "events", "apigw-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures found: %v", err)
	}
	listed := map[string]bool{}
	for _, tt := range tests {
		listed[tt.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("fixture %s has no expectation in this test", filepath.Base(f))
		}
	}

	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.file, ".json"), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("..", "..", "events", tt.file))
			if err != nil {
				t.Fatalf("read fixture: %v", err)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("decode fixture: %v", err)
			}
			res, err := proxy(context.Background(), ev)
			if err != nil {
				t.Fatalf("proxy: %v", err)
			}
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status: got %d %s, want %d", res.StatusCode, res.Body, tt.wantStatus)
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(res.Body, want) {
					t.Errorf("body: got %s, want it to contain %s", res.Body, want)
				}
			}
			if ct := res.Headers["Content-Type"]; ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			for k, want := range tt.wantHeader {
				if got := res.Headers[k]; got != want {
					t.Errorf("header %s: got %q, want %q (all: %v)", k, got, want, res.Headers)
				}
			}
		})
	}
	if strings.Contains(logs.String(), "Bearer "+fixtureAdminKey) || strings.Contains(logs.String(), `"dev"`) {
		t.Errorf("the admin key is in the log:\n%s", logs.String())
	}
}

func TestNewHandlerNeedsATable(t *testing.T) {
	_, err := newHandler(context.Background(), func(string) string { return "" }, slog.Default())
	if err == nil || !strings.Contains(err.Error(), "TABLE_NAME") {
		t.Fatalf("got %v, want an error naming TABLE_NAME", err)
	}
}

func TestCountdownTimer(t *testing.T) {
	tests := []struct {
		name, arn string
		wantTimer bool
	}{
		{"no state machine: no countdown", "", false},
		{"state machine: Step Functions", "arn:aws:states:us-east-1:123456789012:stateMachine:countdown", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timer, err := countdownTimer(context.Background(), tt.arn)
			if err != nil {
				t.Fatalf("countdownTimer: %v", err)
			}
			if _, ok := timer.(*sfntimer.StepFunctions); ok != tt.wantTimer || (timer != nil) != tt.wantTimer {
				t.Fatalf("got %T, want a Step Functions timer: %v", timer, tt.wantTimer)
			}
		})
	}
}
