package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// testAdminKey is the ADMIN_API_KEY of every handler test.
const testAdminKey = "test-admin-key"

// apiTest is the API on a fresh DynamoDB Local table, with All Users in place, a fixed
// clock, and every response checked against the OpenAPI document.
type apiTest struct {
	t      *testing.T
	h      http.Handler
	tb     *ddbtest.Table
	store  *ddbstore.Store
	clock  *policy.FixedClock
	router routers.Router
	logs   *bytes.Buffer
}

// newAPITest builds the API on a fresh table; edit adjusts the Config first.
func newAPITest(t *testing.T, edit ...func(*Config)) *apiTest {
	t.Helper()
	tb := ddbtest.NewTable(t)
	clock := &policy.FixedClock{T: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	store := ddbstore.Open(tb.Client, tb.Name, ddbstore.WithClock(clock)).Directory()
	if err := store.EnsureAllUsers(context.Background(), clock.Now(), settings.AllUsersValues()); err != nil {
		t.Fatalf("ensure All Users: %v", err)
	}
	logs := &bytes.Buffer{}
	cfg := Config{Directory: store, Clock: clock, AdminKey: testAdminKey, Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Metrics: metrics.New()}
	for _, e := range edit {
		e(&cfg)
	}
	a := &apiTest{t: t, h: New(cfg), tb: tb, store: store, clock: clock, router: openAPIRouter(t), logs: logs}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("request log:\n%s", logs)
		}
	})
	return a
}

func openAPIRouter(t *testing.T) routers.Router {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	doc.Servers = nil // match any host
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	return router
}

// apiReqOpt adjusts a request.
type apiReqOpt func(*http.Request)

func withAPIHeader(name, value string) apiReqOpt {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func withIfMatch(version int64) apiReqOpt {
	return withAPIHeader("If-Match", `"`+apiJSONString(version)+`"`)
}

// withIfMatchOf sends the version *v holds when the request is made.
func withIfMatchOf(v *int64) apiReqOpt {
	return func(r *http.Request) { r.Header.Set("If-Match", `"`+apiJSONString(*v)+`"`) }
}

func apiJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// apiResponse is a finished request.
type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// json decodes the body into v.
func (r apiResponse) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// errorCode is the code of an error response ("" if the body is not one).
func (r apiResponse) errorCode() string {
	var b errorBody
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Code
}

func (r apiResponse) errorField() string {
	var b errorBody
	_ = json.Unmarshal(r.Body, &b)
	return b.Error.Field
}

// do sends a request with key as the bearer token (none when ""). body is sent as is when it
// is a string or []byte, else as its JSON. Every response of a documented route must match
// the OpenAPI document, and no response may be a 500.
func (a *apiTest) do(method, path, key string, body any, opts ...apiReqOpt) apiResponse {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		rd = strings.NewReader(apiJSONString(b))
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for _, o := range opts {
		o(req)
	}
	w := httptest.NewRecorder()
	a.h.ServeHTTP(w, req)
	res := apiResponse{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
	if res.Status >= 500 {
		a.t.Errorf("%s %s: got %d %s; no request may yield a 5xx here", method, path, res.Status, res.Body)
	}
	a.checkOpenAPI(req, res)
	return res
}

// checkOpenAPI validates a response against the document when the request hit a documented
// route: the status must be documented and the body must match its schema.
func (a *apiTest) checkOpenAPI(req *http.Request, res apiResponse) {
	a.t.Helper()
	route, params, err := a.router.FindRoute(req)
	if err != nil {
		return // not a documented route (404/405 tests)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: res.Status,
		Header: res.Header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
		},
	}
	in.SetBodyBytes(res.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		a.t.Errorf("%s %s → %d does not match openapi.json: %v\nbody: %s", req.Method, req.URL.Path, res.Status, err, res.Body)
	}
}

// mustAPIStatus fails the test unless res has the wanted status.
func mustAPIStatus(t *testing.T, what string, res apiResponse, want int) {
	t.Helper()
	if res.Status != want {
		t.Fatalf("%s: got %d %s, want %d", what, res.Status, res.Body, want)
	}
}

// createGroup makes a group through the API and returns its id.
func (a *apiTest) createGroup(name string, priority int) string {
	a.t.Helper()
	res := a.do("POST", "/v1/groups", testAdminKey, map[string]any{"name": name, "priority": priority})
	mustAPIStatus(a.t, "create group "+name, res, http.StatusCreated)
	var g policy.Group
	res.json(a.t, &g)
	return g.ID
}

// createUser makes a user through the API and returns their id.
func (a *apiTest) createUser(username string) string {
	a.t.Helper()
	res := a.do("POST", "/v1/users", testAdminKey, map[string]any{"username": username})
	mustAPIStatus(a.t, "create user "+username, res, http.StatusCreated)
	var u policy.User
	res.json(a.t, &u)
	return u.ID
}

// issueKey issues a key of the role for a user and returns the bearer token.
func (a *apiTest) issueKey(userID string, role policy.Role) (keyID, token string) {
	a.t.Helper()
	res := a.do("POST", "/v1/users/"+userID+"/keys", testAdminKey, map[string]any{"role": role})
	mustAPIStatus(a.t, "issue key", res, http.StatusCreated)
	var k issuedKeyView
	res.json(a.t, &k)
	return k.KeyID, k.Secret
}

// groupSettings reads a group's settings view.
func (a *apiTest) groupSettings(groupID string) groupSettingsView {
	a.t.Helper()
	res := a.do("GET", "/v1/groups/"+groupID+"/settings", testAdminKey, nil)
	mustAPIStatus(a.t, "get settings", res, http.StatusOK)
	var v groupSettingsView
	res.json(a.t, &v)
	return v
}

func apiSeconds(n int) time.Duration { return time.Duration(n) * time.Second }
