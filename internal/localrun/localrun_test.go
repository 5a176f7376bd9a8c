package localrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"wspolicy/internal/ddbtest"
	"wspolicy/internal/policy"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "defaults", env: map[string]string{"DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"},
			want: Config{Port: "8080", TableName: "wspolicy", DynamoDBEndpoint: "http://127.0.0.1:8000"}},
		{name: "everything set", env: map[string]string{"PORT": "9090", "TABLE_NAME": "t", "DYNAMODB_ENDPOINT": "http://x", "ADMIN_API_KEY": "k"},
			want: Config{Port: "9090", TableName: "t", DynamoDBEndpoint: "http://x", AdminKey: "k"}},
		{name: "no endpoint", env: map[string]string{}, wantErr: "DYNAMODB_ENDPOINT"},
		{name: "port not a number", env: map[string]string{"PORT": "http", "DYNAMODB_ENDPOINT": "http://x"}, wantErr: "PORT"},
		{name: "port out of range", env: map[string]string{"PORT": "70000", "DYNAMODB_ENDPOINT": "http://x"}, wantErr: "PORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v; want an error about %s", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestAllUsersSettingsHoldsTheAllUsersColumn(t *testing.T) {
	got := AllUsersSettings()
	tests := []struct {
		name, want string
	}{
		{"max_kasms_per_user", "5"},
		{"allow_kasm_audio", "true"},
		{"read_only_user_storage_mapping", "false"},
		{"keepalive_interval", ""}, // no All Users value
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(got[tt.name]) != tt.want {
				t.Fatalf("%s: got %s, want %q", tt.name, got[tt.name], tt.want)
			}
		})
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLocalRun starts a whole local run on a free port, talks to it over loopback, and stops
// it as SIGINT would.
func TestLocalRun(t *testing.T) {
	tb := ddbtest.NewTable(t) // a fresh name; New must accept a table that already exists
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := Config{Port: "0", TableName: tb.Name, DynamoDBEndpoint: tb.Endpoint, AdminKey: "local-admin"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := New(ctx, cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	base := "http://" + app.Addr()
	tests := []struct {
		name, method, path, key string
		wantStatus              int
		wantBody                string
	}{
		{"health", "GET", "/v1/health", "", 200, `"ok"`},
		{"All Users exists", "GET", "/v1/groups/" + policy.AllUsersGroupID, "local-admin", 200, `"All Users"`},
		{"All Users holds its column", "GET", "/v1/groups/" + policy.AllUsersGroupID + "/settings", "local-admin", 200, `"max_kasms_per_user":5`},
		{"no key", "GET", "/v1/groups", "", 401, `"missing_key"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, nil)
			if tt.key != "" {
				req.Header.Set("Authorization", "Bearer "+tt.key)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			body, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("%s %s: got %d %s, want %d with %s", tt.method, tt.path, res.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: got %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancel")
	}
	requests := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "request" {
			requests++
		}
	}
	if requests != len(tests) {
		t.Errorf("request log lines: got %d, want %d:\n%s", requests, len(tests), logs.String())
	}
	if strings.Contains(logs.String(), "local-admin") {
		t.Errorf("the admin key is in the log:\n%s", logs.String())
	}

	// A second run on the same table starts cleanly and leaves All Users as it is.
	app2, err := New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatalf("New on an existing table: %v", err)
	}
	_ = app2.listener.Close()
}

func TestRunComponentsStopsAllWhenOneFails(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	stopped := make(chan struct{})
	boom := errors.New("boom")
	err := RunComponents(context.Background(), logger,
		Component{Name: "waits", Run: func(ctx context.Context) error {
			<-ctx.Done()
			close(stopped)
			return nil
		}},
		Component{Name: "fails", Run: func(ctx context.Context) error { return boom }},
	)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "fails") {
		t.Fatalf("got %v, want the failing component's error", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("the other component was not stopped")
	}
}
