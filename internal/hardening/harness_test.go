package hardening

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/faultinject"
	"wspolicy/internal/httpapi"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/sweep"
	"wspolicy/internal/syncbuf"
)

// adminKey is the ADMIN_API_KEY of every stack.
const adminKey = "hardening-admin-key"

// scale multiplies the length of the randomized runs (rounds of the linearizability runs,
// requests of the fault workload): HARDENING_SCALE=10 go test ./internal/hardening runs them
// ten times longer than make test does.
func scale(t testing.TB) int {
	v := os.Getenv("HARDENING_SCALE")
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("HARDENING_SCALE=%q: want a whole number ≥ 1", v)
	}
	return n
}

// epoch is where every stack's clock starts.
var epoch = time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)

// stack is the whole service on a fresh DynamoDB Local table: the API (with the session
// service and the sweeper) on a DynamoDB client that goes through a fault injector, and a
// second, clean client on the same table for setting up and checking.
type stack struct {
	t      testing.TB
	table  *ddbtest.Table
	faults *faultinject.Injector
	clock  *policy.FixedClock
	api    http.Handler
	// The service's parts, on the faulty client.
	svc     *sessions.Service
	sweeper *sweep.Sweeper
	// Clean views of the table, for setup and checks.
	dir      *ddbstore.Store
	sessions *ddbstore.SessionStore
	logs     *syncbuf.Buffer
}

// stackOptions configure a stack.
type stackOptions struct {
	// faults is the injector's configuration; the injector starts disabled.
	faults faultinject.Config
	// attempts is the SDK retryer's MaxAttempts (default 2: one retry, so faults surface).
	attempts int
	// logAll keeps every log line of the service (default: warnings and errors).
	logAll bool
	// stream turns the table's stream on (for tests that read it).
	stream bool
}

// sdkRetryer is the SDK's standard retryer with at most n attempts and a short backoff.
func sdkRetryer(n int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = n
		o.MaxBackoff = 20 * time.Millisecond
	})
}

// newStack builds the service on a fresh table with All Users in place. Fault injection is
// off until the test turns it on with s.faults.SetEnabled(true).
func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	if o.attempts == 0 {
		o.attempts = 2
	}
	ctx := context.Background()
	newTable := ddbtest.NewTable
	if o.stream {
		newTable = ddbtest.NewStreamTable
	}
	tb := newTable(t)
	in := faultinject.New(o.faults)
	in.SetEnabled(false)
	db, err := ddbkit.NewClient(ctx, tb.Endpoint, in.DynamoDB, func(opts *dynamodb.Options) {
		opts.Retryer = sdkRetryer(o.attempts)
	})
	if err != nil {
		t.Fatalf("faulty client: %v", err)
	}
	clock := &policy.FixedClock{T: epoch}
	logs := &syncbuf.Buffer{}
	level := slog.LevelWarn
	if o.logAll {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level}))
	dir := ddbstore.Open(db, tb.Name, ddbstore.WithClock(clock)).Directory()
	sessStore := ddbstore.Open(db, tb.Name).Sessions()
	svc := sessions.New(sessions.Config{Store: sessStore, Directory: dir, Clock: clock})
	sw := sweep.New(sweep.Config{Store: sessStore, Directory: dir, Clock: clock, Workers: 4})
	s := &stack{
		t: t, table: tb, faults: in, clock: clock, svc: svc, sweeper: sw, logs: logs,
		dir:      ddbstore.Open(tb.Client, tb.Name, ddbstore.WithClock(clock)).Directory(),
		sessions: ddbstore.Open(tb.Client, tb.Name).Sessions(),
	}
	s.api = httpapi.New(httpapi.Config{
		Directory: dir, Clock: clock, AdminKey: adminKey, Logger: logger,
		Sessions: svc, Sweeper: sw,
	})
	if err := s.dir.EnsureAllUsers(ctx, clock.Now(), settings.AllUsersValues()); err != nil {
		t.Fatalf("ensure All Users: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() && logs.Len() > 0 {
			t.Logf("service log (warnings and errors):\n%s", logs.String())
		}
	})
	return s
}

// response is a finished API request.
type response struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
}

func (r response) String() string {
	return fmt.Sprintf("%s %s → %d %s", r.Method, r.Path, r.Status, bytes.TrimSpace(r.Body))
}

// decode decodes the body into v.
func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: decode: %v", r, err)
	}
}

// errorCode is the code of an error response, "" when the body is not one.
func (r response) errorCode() string {
	var b struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

// unavailable reports whether r is a 503 that tells the client when to retry.
func (r response) unavailable() bool {
	return r.Status == http.StatusServiceUnavailable && r.Header.Get("Retry-After") != ""
}

// reqOpt adjusts a request.
type reqOpt func(*http.Request)

// ifMatch sends If-Match with a group version.
func ifMatch(v int64) reqOpt {
	return func(r *http.Request) { r.Header.Set("If-Match", strconv.Quote(strconv.FormatInt(v, 10))) }
}

// asKey sends key instead of the admin key.
func asKey(key string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+key) }
}

// call sends a request to the API in process, with the admin key unless an option says
// otherwise. body is sent as JSON unless it is nil or a string.
func (s *stack) call(method, path string, body any, opts ...reqOpt) response {
	return s.callCtx(context.Background(), method, path, body, opts...)
}

func (s *stack) callCtx(ctx context.Context, method, path string, body any, opts ...reqOpt) response {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			panic(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	for _, o := range opts {
		o(req)
	}
	w := httptest.NewRecorder()
	s.api.ServeHTTP(w, req)
	return response{Method: method, Path: path, Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
}

// must sends a request that must answer with status want, and decodes the body into out
// (unless nil).
func (s *stack) must(want int, method, path string, body, out any, opts ...reqOpt) response {
	s.t.Helper()
	r := s.call(method, path, body, opts...)
	if r.Status != want {
		s.t.Fatalf("%s: want %d", r, want)
	}
	if out != nil {
		r.decode(s.t, out)
	}
	return r
}

// createGroup makes a group with the given settings and returns its id.
func (s *stack) createGroup(name string, priority int, set map[string]any) string {
	s.t.Helper()
	var g policy.Group
	s.must(http.StatusCreated, "POST", "/v1/groups", map[string]any{"name": name, "priority": priority}, &g)
	if len(set) > 0 {
		s.must(http.StatusOK, "PATCH", "/v1/groups/"+g.ID+"/settings", map[string]any{"set": set}, nil)
	}
	return g.ID
}

// createUser makes a user, member of the given groups, and returns their id.
func (s *stack) createUser(name string, groups ...string) string {
	s.t.Helper()
	var u policy.User
	s.must(http.StatusCreated, "POST", "/v1/users", map[string]any{"username": name}, &u)
	for _, g := range groups {
		s.addMember(g, u.ID)
	}
	return u.ID
}

func (s *stack) addMember(groupID, userID string) {
	s.t.Helper()
	r := s.call("PUT", "/v1/groups/"+groupID+"/members/"+userID, nil)
	if r.Status/100 != 2 {
		s.t.Fatalf("%s: want 2xx", r)
	}
}

// startSession starts a session for a user and returns it.
func (s *stack) startSession(userID string, container bool) sessions.Session {
	s.t.Helper()
	var sess sessions.Session
	s.must(http.StatusCreated, "POST", "/v1/sessions", map[string]any{"user_id": userID, "image_id": "img", "container": container}, &sess)
	return sess
}

// sweepNow runs a sweep through the API at the clock's time.
func (s *stack) sweepNow() (sweep.Report, response) {
	s.t.Helper()
	r := s.call("POST", "/v1/sweeps", nil)
	var rep sweep.Report
	if r.Status == http.StatusOK {
		r.decode(s.t, &rep)
	}
	return rep, r
}

// activeSessions reads a user's active_sessions counter (the user item, USER#<id>/USER, as
// docs/design-sessions.md lays it out).
func (s *stack) activeSessions(userID string) int64 {
	s.t.Helper()
	out, err := s.table.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(s.table.Name), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "USER#" + userID},
			"SK": &ddbtypes.AttributeValueMemberS{Value: "USER"},
		},
	})
	if err != nil {
		s.t.Fatalf("read user %s: %v", userID, err)
	}
	n, ok := out.Item["active_sessions"].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		s.t.Fatalf("user %s: active_sessions %q: %v", userID, n.Value, err)
	}
	return v
}

// userSessions lists every session of a user on the clean store.
func (s *stack) userSessions(userID string) []lifecycle.Session {
	s.t.Helper()
	var out []lifecycle.Session
	tok := ""
	for {
		p, err := s.sessions.ListSessions(context.Background(), lifecycle.ListFilter{UserID: userID, PageToken: tok})
		if err != nil {
			s.t.Fatalf("list sessions of %s: %v", userID, err)
		}
		out = append(out, p.Sessions...)
		if tok = p.NextPageToken; tok == "" {
			return out
		}
	}
}

// checkSession checks that a session, its events and its owner agree: events numbered 1..seq
// without gaps, the first one created, each state event continuing from the status the
// previous one left, the last one leaving the session's status, and every cause event
// followed by its state event.
func checkSession(sess lifecycle.Session, evs []lifecycle.Event) error {
	if int64(len(evs)) != sess.EventSeq {
		return fmt.Errorf("session %s: event_seq %d but %d events", sess.ID, sess.EventSeq, len(evs))
	}
	status := lifecycle.Status("")
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.EventID != lifecycle.EventID(sess.ID, e.Seq) {
			return fmt.Errorf("session %s: event %d has seq %d id %s", sess.ID, i+1, e.Seq, e.EventID)
		}
		switch e.Type {
		case lifecycle.EventCreated:
			if i != 0 || e.StatusAfter != lifecycle.StatusRunning {
				return fmt.Errorf("session %s: created event at %d", sess.ID, e.Seq)
			}
		case lifecycle.EventPaused, lifecycle.EventStopped, lifecycle.EventResumed, lifecycle.EventDeleted:
			if e.StatusBefore != status {
				return fmt.Errorf("session %s: event %d %s from %s, but the session was %s", sess.ID, e.Seq, e.Type, e.StatusBefore, status)
			}
		case lifecycle.EventKeepaliveExpired, lifecycle.EventTimeLimitReached, lifecycle.EventUsageLimitReached:
			if i+1 >= len(evs) || evs[i+1].StatusBefore != e.StatusBefore || evs[i+1].StatusAfter != e.StatusAfter {
				return fmt.Errorf("session %s: cause event %d %s not followed by its state event", sess.ID, e.Seq, e.Type)
			}
			continue
		default:
			if e.StatusBefore != status || e.StatusAfter != status {
				return fmt.Errorf("session %s: event %d %s changes status %s→%s", sess.ID, e.Seq, e.Type, e.StatusBefore, e.StatusAfter)
			}
		}
		status = e.StatusAfter
	}
	if status != sess.Status {
		return fmt.Errorf("session %s is %s but its events leave it %s", sess.ID, sess.Status, status)
	}
	return nil
}

// checkSessions checks every session of the users (checkSession) and that each user's
// active_sessions equals their sessions that are not deleted.
func (s *stack) checkSessions(userIDs ...string) {
	s.t.Helper()
	ctx := context.Background()
	for _, u := range userIDs {
		live := int64(0)
		for _, sess := range s.userSessions(u) {
			evs, err := s.sessions.Events(ctx, sess.ID)
			if err != nil {
				s.t.Fatalf("events of %s: %v", sess.ID, err)
			}
			if err := checkSession(sess, evs); err != nil {
				s.t.Error(err)
			}
			if sess.Status != lifecycle.StatusDeleted {
				live++
			}
		}
		if got := s.activeSessions(u); got != live {
			s.t.Errorf("user %s: active_sessions %d, want %d (sessions not deleted)", u, got, live)
		}
	}
}

// expiryEvents counts a session's keepalive_expired events.
func (s *stack) expiryEvents(sessionID string) int {
	s.t.Helper()
	evs, err := s.sessions.Events(context.Background(), sessionID)
	if err != nil {
		s.t.Fatalf("events of %s: %v", sessionID, err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == lifecycle.EventKeepaliveExpired {
			n++
		}
	}
	return n
}
