package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbtest"
)

// TestShortLoadRun is `make load` in miniature, in process on DynamoDB Local: 40 sessions for
// 9 seconds with one-second keepalives, some abandoned and some paused. No request may fail
// and every session must end in the state its history says.
func TestShortLoadRun(t *testing.T) {
	cfg := config{
		DynamoDBEndpoint: ddbtest.Endpoint(t), Table: fmt.Sprintf("load-test-%d", os.Getpid()),
		Duration: 9 * time.Second, Sessions: 40, PerUser: 5, Interval: time.Second, Expiration: 4 * time.Second,
		Abandon: 0.2, Pause: 0.1, Workers: 8, AdminEvery: 500 * time.Millisecond, SweepEvery: time.Second, Seed: 3,
		ServerLog: filepath.Join(t.TempDir(), "server.log"),
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, cfg) })
	var out bytes.Buffer
	res, err := run(context.Background(), cfg, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	if !res.ok() || !strings.Contains(out.String(), "PASS") {
		serverLog, _ := os.ReadFile(cfg.ServerLog)
		t.Fatalf("got %d request errors and inconsistencies %v, want none\n%s\nthe stack's warnings and errors:\n%s", res.requestErrors, res.inconsistent, &out, serverLog)
	}
	t.Logf("report:\n%s", &out)
	for _, want := range []string{"POST /v1/sessions/{id}/keepalive", "p99 ms", "abandoned", "expiry lag"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, &out)
		}
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults run in process", nil, ""},
		{"a running service on loopback", []string{"-url", "http://127.0.0.1:8080", "-admin-key", "k"}, ""},
		{"localhost is loopback", []string{"-url", "http://localhost:8080", "-admin-key", "k"}, ""},
		{"not loopback", []string{"-url", "http://10.0.0.1:8080", "-admin-key", "k"}, "not on loopback"},
		{"url without a key", []string{"-url", "http://127.0.0.1:8080"}, "admin key"},
		{"expiration not above interval", []string{"-interval", "10s", "-expiration", "10s"}, "-expiration"},
		{"fractional interval", []string{"-interval", "1500ms"}, "-interval"},
		{"shares above one", []string{"-abandon", "0.8", "-pause", "0.3"}, "shares"},
		{"stray argument", []string{"now"}, "unexpected"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.args, getenv)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
	if _, err := parseConfig(nil, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "DYNAMODB_ENDPOINT") {
		t.Errorf("in process without DYNAMODB_ENDPOINT: got %v, want an error naming it", err)
	}
}

// dropTable deletes the table a run created, so DynamoDB Local does not keep it (and its
// stream) for the rest of the test run.
func dropTable(t *testing.T, cfg config) {
	db, err := ddbkit.NewClient(context.Background(), cfg.DynamoDBEndpoint)
	if err != nil {
		t.Errorf("client: %v", err)
		return
	}
	if _, err := db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(cfg.Table)}); err != nil {
		t.Errorf("delete table %s: %v", cfg.Table, err)
	}
}
