package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"wspolicy/bench/seed"
	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/directory"
	"wspolicy/internal/httpapi"
	"wspolicy/internal/localrun"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// benchAdminKey is the bootstrap admin key of the bench's API.
const benchAdminKey = "bench-admin-key"

// env is one table on DynamoDB Local with the service wired on it the way the local run
// wires it, plus a real HTTP server on loopback serving the API.
type env struct {
	table   string
	db      *dynamodb.Client
	counter *ddbCounter
	// capacity adds up the write units DynamoDB Local reports for the env's own client.
	capacity *capacityMeter
	clock    policy.Clock
	store    *ddbstore.Store
	ss       *ddbstore.SessionStore
	svc      *sessions.Service
	url      string
	http     *http.Client
	stop     func()
}

// seed returns the loader of users, groups and sessions in bulk into the env's table.
func (e *env) seed() seed.Loader { return seed.Loader{DB: e.db, Table: e.table, Dir: e.store} }

// newEnv creates the table, All Users, the session service and the API on 127.0.0.1 (a free
// port). conns sizes the connection pools (of the SDK client towards DynamoDB Local and of
// the HTTP client towards the API) so that that many concurrent callers reuse connections.
// The API logs every request as JSON, to io.Discard: the cost of building the line is kept.
func newEnv(ctx context.Context, endpoint, table string, conns int, clock policy.Clock) (*env, error) {
	e := &env{table: table, counter: &ddbCounter{}, capacity: &capacityMeter{}, clock: clock}
	db, err := ddbkit.NewClient(ctx, endpoint, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, e.counter.middleware, e.capacity.middleware)
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConns = 2 * conns
			tr.MaxIdleConnsPerHost = 2 * conns
		})
	})
	if err != nil {
		return nil, err
	}
	e.db = db
	if err := createBenchTable(ctx, db, table); err != nil {
		return nil, err
	}
	// As the local run opens it: starts and ends do not wait for a sharded budget's deadline check.
	tbl := ddbstore.Open(db, table, ddbstore.WithClock(clock), ddbstore.WithDetachedDeadlineFixes())
	e.store = tbl.Directory()
	if err := e.store.EnsureAllUsers(ctx, clock.Now(), localrun.AllUsersSettings()); err != nil {
		return nil, err
	}
	e.ss = tbl.Sessions()
	e.svc = newSessionService(e.ss, e.store, clock)
	if e.url, e.stop, err = e.serve(ctx, func(*httpapi.Config) {}); err != nil {
		return nil, err
	}
	e.http = &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: 2 * conns, DisableCompression: true},
	}
	return e, nil
}

// serve starts an API server on 127.0.0.1 (a free port) for the env's table, with the
// configuration edit applies; it returns its base URL and the function that stops it.
func (e *env) serve(ctx context.Context, edit func(*httpapi.Config)) (string, func(), error) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg := httpapi.Config{Directory: e.store, Sessions: e.svc, Clock: e.clock, AdminKey: benchAdminKey, Logger: logger}
	edit(&cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- localrun.HTTPServer(l, httpapi.New(cfg), logger).Run(sctx) }()
	return "http://" + l.Addr().String(), func() { cancel(); <-done }, nil
}

// createBenchTable creates a table from the one table definition with its stream off (see
// ddbstore.CreateTableWithoutStream): the parts of the bench would otherwise slow each other
// down on DynamoDB Local. Nothing here reads the stream.
func createBenchTable(ctx context.Context, db *dynamodb.Client, name string) error {
	return ddbstore.CreateTableWithoutStream(ctx, db, name)
}

// newSessionService wires the session service as the local run does.
func newSessionService(ss *ddbstore.SessionStore, dir *ddbstore.Store, clock policy.Clock) *sessions.Service {
	return sessions.New(sessions.Config{Store: ss, Directory: directory.New(dir, clock), Clock: clock})
}

// apiError is a non-2xx answer of the API.
type apiError struct {
	status int
	body   string
}

func (e *apiError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// call sends one request to the API with key as bearer token and decodes a 2xx JSON answer
// into out (when not nil).
func (e *env) call(ctx context.Context, method, path, key string, body, out any) error {
	return e.callAt(ctx, e.url, method, path, key, body, out)
}

// callAt is call on the API server at base.
func (e *env) callAt(ctx context.Context, base, method, path, key string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &apiError{status: resp.StatusCode, body: string(b)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// newUserWithKey creates a user through the API and issues a user key for them.
func (e *env) newUserWithKey(ctx context.Context, username string) (userID, key string, err error) {
	var u struct {
		UserID string `json:"user_id"`
	}
	if err := e.call(ctx, http.MethodPost, "/v1/users", benchAdminKey, map[string]string{"username": username}, &u); err != nil {
		return "", "", fmt.Errorf("create user %s: %w", username, err)
	}
	var k struct {
		Secret string `json:"secret"`
	}
	if err := e.call(ctx, http.MethodPost, "/v1/users/"+u.UserID+"/keys", benchAdminKey, map[string]string{}, &k); err != nil {
		return "", "", fmt.Errorf("issue a key for %s: %w", u.UserID, err)
	}
	return u.UserID, k.Secret, nil
}

// startSession starts a container session through the API with a user key.
func (e *env) startSession(ctx context.Context, key string) (string, error) {
	var s struct {
		SessionID string `json:"session_id"`
	}
	if err := e.call(ctx, http.MethodPost, "/v1/sessions", key, map[string]any{"image_id": "bench-image"}, &s); err != nil {
		return "", fmt.Errorf("start session: %w", err)
	}
	return s.SessionID, nil
}

// close stops the API server and deletes the table: DynamoDB Local keeps every table's
// stream records, and they slow its transactions down for the parts that follow.
func (e *env) close() {
	if e.stop != nil {
		e.stop()
	}
	e.http.CloseIdleConnections()
	_, _ = e.db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &e.table})
}
