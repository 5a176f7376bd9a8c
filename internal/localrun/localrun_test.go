package localrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
	"wspolicy/internal/sso"
	"wspolicy/internal/sweep"
	"wspolicy/internal/syncbuf"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "defaults", env: map[string]string{"DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"},
			want: Config{Port: "8080", TableName: "wspolicy", DynamoDBEndpoint: "http://127.0.0.1:8000", SweepInterval: time.Minute}},
		{name: "everything set", env: map[string]string{"PORT": "9090", "TABLE_NAME": "t", "DYNAMODB_ENDPOINT": "http://x", "ADMIN_API_KEY": "k", "SWEEP_INTERVAL": "1s"},
			want: Config{Port: "9090", TableName: "t", DynamoDBEndpoint: "http://x", AdminKey: "k", SweepInterval: time.Second}},
		{name: "sweep interval in minutes", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_INTERVAL": "2m30s"},
			want: Config{Port: "8080", TableName: "wspolicy", DynamoDBEndpoint: "http://x", SweepInterval: 150 * time.Second}},
		{name: "sweep interval below 1s", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_INTERVAL": "500ms"}, wantErr: "SWEEP_INTERVAL"},
		{name: "sweep interval zero", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_INTERVAL": "0"}, wantErr: "SWEEP_INTERVAL"},
		{name: "sweep interval without unit", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_INTERVAL": "60"}, wantErr: "SWEEP_INTERVAL"},
		{name: "sweep interval negative", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_INTERVAL": "-5s"}, wantErr: "SWEEP_INTERVAL"},
		{name: "dev idp token ttl", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "DEV_IDP_TOKEN_TTL": "30s"},
			want: Config{Port: "8080", TableName: "wspolicy", DynamoDBEndpoint: "http://x", SweepInterval: time.Minute, IdPTokenTTL: 30 * time.Second}},
		{name: "dev idp token ttl too short", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "DEV_IDP_TOKEN_TTL": "1s"}, wantErr: "DEV_IDP_TOKEN_TTL"},
		{name: "dev idp token ttl without unit", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "DEV_IDP_TOKEN_TTL": "30"}, wantErr: "DEV_IDP_TOKEN_TTL"},
		{name: "sweep workers", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_WORKERS": "64"},
			want: Config{Port: "8080", TableName: "wspolicy", DynamoDBEndpoint: "http://x", SweepInterval: time.Minute, SweepWorkers: 64}},
		{name: "sweep workers zero", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_WORKERS": "0"}, wantErr: "SWEEP_WORKERS"},
		{name: "sweep workers not a number", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_WORKERS": "many"}, wantErr: "SWEEP_WORKERS"},
		{name: "sweep workers too many", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "SWEEP_WORKERS": "100000"}, wantErr: "SWEEP_WORKERS"},
		{name: "resync write units", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "RESYNC_WRITE_UNITS_PER_SECOND": "2500"},
			want: Config{Port: "8080", TableName: "wspolicy", DynamoDBEndpoint: "http://x", SweepInterval: time.Minute, ResyncWriteUnits: 2500}},
		{name: "resync write units zero", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "RESYNC_WRITE_UNITS_PER_SECOND": "0"}, wantErr: "RESYNC_WRITE_UNITS_PER_SECOND"},
		{name: "resync write units too many", env: map[string]string{"DYNAMODB_ENDPOINT": "http://x", "RESYNC_WRITE_UNITS_PER_SECOND": "50000"}, wantErr: "RESYNC_WRITE_UNITS_PER_SECOND"},
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
			// The OIDC part (issue 19) has its own test in internal/sso; the development
			// identity provider runs on its default port.
			if err == nil && got.IdPPort != DefaultIdPPort {
				t.Fatalf("IdPPort = %q, want %q", got.IdPPort, DefaultIdPPort)
			}
			got.OIDC, got.IdPPort = sso.Config{}, ""
			if err != nil || !reflect.DeepEqual(got, tt.want) {
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

// TestLocalRun starts a whole local run on a free port, talks to it over loopback, and stops
// it as SIGINT would.
func TestLocalRun(t *testing.T) {
	tb := ddbtest.NewStreamTable(t) // a fresh name; New must accept a table that already exists
	var logs syncbuf.Buffer
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

// fakeSweeper counts runs and answers each with a report.
type fakeSweeper struct {
	mu   sync.Mutex
	runs int
	rep  sweep.Report
}

func (f *fakeSweeper) Run(ctx context.Context, opts sweep.Options) (sweep.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs++
	return f.rep, nil
}

func (f *fakeSweeper) set(rep sweep.Report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rep = rep
}

func (f *fakeSweeper) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs
}

// logLines decodes the JSON log lines with message msg.
func logLines(t *testing.T, logs string, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestSweepsComponent runs the sweeper component on a fake sweeper: a sweep at once, then one
// per interval, one log line each with the report's figures, and a clean stop.
func TestSweepsComponent(t *testing.T) {
	tests := []struct {
		name      string
		rep       sweep.Report
		wantLevel string
		wantKeys  map[string]float64
	}{
		{name: "a clean sweep", rep: sweep.Report{Examined: 3, Expired: 2, Stopped: 1, Deleted: 1, LeftAlone: 1, ItemsRead: 3, DurationMs: 4},
			wantLevel: "INFO", wantKeys: map[string]float64{"examined": 3, "expired": 2, "stopped": 1, "deleted": 1, "left_alone": 1, "items_read": 3, "errors": 0, "duration_ms": 4}},
		{name: "a sweep with failures", rep: sweep.Report{Examined: 1, Errors: []string{"boom"}},
			wantLevel: "WARN", wantKeys: map[string]float64{"examined": 1, "errors": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			f := &fakeSweeper{rep: tt.rep}
			c := Sweeps(f, 20*time.Millisecond, slog.New(slog.NewJSONHandler(&logs, nil)))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			deadline := time.Now().Add(5 * time.Second)
			for f.count() < 3 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run after cancel: got %v, want nil", err)
			}
			lines := logLines(t, logs.String(), "sweep")
			if f.count() < 3 || len(lines) < f.count()-1 || len(lines) > f.count() {
				t.Fatalf("%d runs, %d sweep lines; want at least 3 runs and a line for each finished one", f.count(), len(lines))
			}
			for _, l := range lines {
				if l["level"] != tt.wantLevel {
					t.Errorf("level: got %v, want %s", l["level"], tt.wantLevel)
				}
				for k, want := range tt.wantKeys {
					if l[k] != want {
						t.Errorf("%s: got %v, want %v (line %v)", k, l[k], want, l)
					}
				}
			}
		})
	}
}

// TestSweepsIdleLines: sweeps that find nothing are not logged one by one: the first sweep
// has its line, then idle sweeps are summed up in a "sweeps idle" line per idle interval, and
// a sweep that does something has its own line again.
func TestSweepsIdleLines(t *testing.T) {
	var logs syncbuf.Buffer
	f := &fakeSweeper{}
	c := sweeps(f, 2*time.Millisecond, 60*time.Millisecond, slog.New(slog.NewJSONHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(logLines(t, logs.String(), "sweeps idle")) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	f.set(sweep.Report{Examined: 1, Deleted: 1})
	for len(logLines(t, logs.String(), "sweep")) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: got %v, want nil", err)
	}
	idle := logLines(t, logs.String(), "sweeps idle")
	busy := logLines(t, logs.String(), "sweep")
	if len(idle) < 2 || len(busy) < 2 {
		t.Fatalf("%d runs: %d idle summaries and %d sweep lines, want at least 2 of each", f.count(), len(idle), len(busy))
	}
	summed := 0.0
	for _, l := range idle {
		summed += l["idle_sweeps"].(float64)
	}
	if int(summed)+len(busy) > f.count() || summed < 2 {
		t.Errorf("%d runs, %v idle sweeps summed up and %d sweep lines: the lines must not exceed the runs", f.count(), summed, len(busy))
	}
	if summed < 2*float64(len(idle)) {
		t.Errorf("%v idle sweeps gave %d idle lines: idle sweeps must be logged less often than they run", summed, len(idle))
	}
	if busy[0]["examined"] != 0.0 || busy[len(busy)-1]["deleted"] != 1.0 {
		t.Errorf("the first sweep's line and the busy sweep's line: %v, %v", busy[0], busy[len(busy)-1])
	}
}

// TestLocalRunSessions is issue 3's Done paragraph on a whole local run with the real clock and
// SWEEP_INTERVAL=1s: a container session with keepalive_expiration 2 and action stop is stopped
// by a sweep after its expiry, a non-container one deleted, one kept alive every second keeps
// running, and the session events reach the log through the table's stream.
func TestLocalRunSessions(t *testing.T) {
	tb := ddbtest.NewStreamTable(t)
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := Config{Port: "0", TableName: tb.Name, DynamoDBEndpoint: tb.Endpoint, AdminKey: "local-admin", SweepInterval: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := New(ctx, cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()

	base := "http://" + app.Addr()
	call := func(method, path string, body any, wantStatus int, out any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Authorization", "Bearer local-admin")
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantStatus {
			t.Fatalf("%s %s: got %d %s, want %d", method, path, res.StatusCode, raw, wantStatus)
		}
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
			}
		}
	}
	var group, user struct {
		GroupID string `json:"group_id"`
		UserID  string `json:"user_id"`
	}
	call("POST", "/v1/groups", map[string]any{"name": "Short", "priority": 10}, 201, &group)
	call("PATCH", "/v1/groups/"+group.GroupID+"/settings", map[string]any{"set": map[string]any{
		"keepalive_expiration": 2, "keepalive_interval": 1, "keepalive_expiration_action": "stop"}}, 200, nil)
	call("POST", "/v1/users", map[string]any{"username": "alice"}, 201, &user)
	call("PUT", "/v1/groups/"+group.GroupID+"/members/"+user.UserID, nil, 204, nil)
	type session struct {
		SessionID string `json:"session_id"`
		Status    string `json:"status"`
	}
	var left, nonContainer, kept session
	call("POST", "/v1/sessions", map[string]any{"user_id": user.UserID, "image_id": "img", "container": true}, 201, &left)
	call("POST", "/v1/sessions", map[string]any{"user_id": user.UserID, "image_id": "img", "container": false}, 201, &nonContainer)
	call("POST", "/v1/sessions", map[string]any{"user_id": user.UserID, "image_id": "img", "container": true}, 201, &kept)

	status := func(id string) string {
		var s session
		call("GET", "/v1/sessions/"+id, nil, 200, &s)
		return s.Status
	}
	deadline := time.Now().Add(15 * time.Second)
	for status(left.SessionID) != "stopped" || status(nonContainer.SessionID) != "deleted" {
		if time.Now().After(deadline) {
			t.Fatalf("after 15s: left %s, non-container %s; want stopped and deleted", status(left.SessionID), status(nonContainer.SessionID))
		}
		call("POST", "/v1/sessions/"+kept.SessionID+"/keepalive", nil, 200, nil)
		time.Sleep(500 * time.Millisecond)
	}
	for range 4 { // two more expiries' worth of keepalives and sweeps
		call("POST", "/v1/sessions/"+kept.SessionID+"/keepalive", nil, 200, nil)
		time.Sleep(500 * time.Millisecond)
	}
	if got := status(kept.SessionID); got != "running" {
		t.Fatalf("kept-alive session: got %s, want running", got)
	}

	// The stream reader logs each event once: created, keepalive_expired, stopped.
	want := map[string]string{
		left.SessionID:         "created,keepalive_expired,stopped",
		nonContainer.SessionID: "created,keepalive_expired,deleted",
		kept.SessionID:         "created",
	}
	var got map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; {
		got = map[string]string{}
		for _, l := range logLines(t, logs.String(), "session event") {
			d, _ := l["detail"].(map[string]any)
			id, _ := d["session_id"].(string)
			typ, _ := l["detail_type"].(string)
			if got[id] != "" {
				got[id] += ","
			}
			got[id] += typ
		}
		if got[left.SessionID] == want[left.SessionID] && got[nonContainer.SessionID] == want[nonContainer.SessionID] {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("logged events of %s: got %q, want %q", id, got[id], w)
		}
	}
	sweeps := logLines(t, logs.String(), "sweep")
	stopped := 0.0
	for _, l := range sweeps {
		stopped += l["stopped"].(float64)
	}
	if len(sweeps) < 2 || stopped != 1 {
		t.Errorf("sweep lines: got %d lines stopping %v sessions in all, want at least 2 lines and exactly 1 stop", len(sweeps), stopped)
	}
}

// TestLocalRunCountdown checks that the in-process countdown deletes a time-limited session at
// its limit, long before the next sweep (SWEEP_INTERVAL 1m).
func TestLocalRunCountdown(t *testing.T) {
	tb := ddbtest.NewStreamTable(t)
	var logs syncbuf.Buffer
	cfg := Config{Port: "0", TableName: tb.Name, DynamoDBEndpoint: tb.Endpoint, AdminKey: "local-admin", SweepInterval: time.Minute}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := New(ctx, cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()
	svc, dir := app.Deps().Sessions, app.Deps().Store
	g, err := dir.CreateGroup(ctx, policy.Group{ID: "g-limited", Name: "Limited", Priority: 10})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.ChangeSettings(ctx, g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{"session_time_limit": json.RawMessage("2")}}, 0, "admin", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.CreateUser(ctx, policy.User{ID: "u-limited", Username: "limited", GroupIDs: []string{g.ID}}); err != nil {
		t.Fatal(err)
	}
	s, err := svc.Start(ctx, "u-limited", "img", true)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if s.TimeLimitExpiresAt == nil {
		t.Fatalf("session %+v has no time limit", s)
	}
	admin := lifecycle.AdminActor()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := svc.Get(ctx, admin, s.SessionID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == "deleted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after start: status %s, want deleted at the 2s limit", got.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	evs, err := svc.Events(ctx, admin, s.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Type != lifecycle.EventDeleted || last.Actor != lifecycle.ActorCountdown || last.Reason != lifecycle.ReasonTimeLimitReached {
		t.Fatalf("last event: got %s by %s (%s), want deleted by %s (%s)", last.Type, last.Actor, last.Reason, lifecycle.ActorCountdown, lifecycle.ReasonTimeLimitReached)
	}
	if d := last.At.Sub(s.CreatedAt); d < 2*time.Second || d > 2*time.Second+countdown.EarlyTolerance+time.Second {
		t.Fatalf("deleted %s after start, want at the 2s limit", d)
	}
}

// TestLogMetrics checks the "metrics" line: counters by name (and dimension), durations as
// count/min/max/sum; nothing when there is nothing to tell.
func TestLogMetrics(t *testing.T) {
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	reg := metrics.New()
	logMetrics(context.Background(), logger, reg)
	if got := logLines(t, logs.String(), "metrics"); len(got) != 0 {
		t.Fatalf("an empty registry logged %v", got)
	}
	reg.Observe(metrics.Keepalives, metrics.UnitCount, 2)
	reg.Observe(metrics.SessionsEnded, metrics.UnitCount, 1, metrics.Dim{Name: metrics.DimReason, Value: "keepalive_expired"})
	reg.Observe(metrics.ExpiryLag, metrics.UnitMilliseconds, 1500)
	logMetrics(context.Background(), logger, reg)
	lines := logLines(t, logs.String(), "metrics")
	if len(lines) != 1 {
		t.Fatalf("got %d metrics lines, want 1", len(lines))
	}
	l := lines[0]
	lag, _ := l["ExpiryLag"].(map[string]any)
	if l["Keepalives"] != 2.0 || l["SessionsEnded.keepalive_expired"] != 1.0 || lag["count"] != 1.0 || lag["max_ms"] != 1500.0 {
		t.Errorf("metrics line: %v", l)
	}
}
