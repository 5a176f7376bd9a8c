package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wspolicy/internal/policy"
)

func TestStatusOfEveryKind(t *testing.T) {
	tests := []struct {
		kind policy.Kind
		want int
	}{
		{policy.KindInvalid, 400},
		{policy.KindUnauthorized, 401},
		{policy.KindForbidden, 403},
		{policy.KindNotFound, 404},
		{policy.KindConflict, 409},
		{policy.KindGone, 410},
		{policy.KindPrecondition, 412},
		{policy.KindUnavailable, 503},
		{policy.KindInternal, 500},
		{policy.Kind("unheard_of"), 500},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			if got := statusOf(tt.kind); got != tt.want {
				t.Fatalf("statusOf(%s): got %d, want %d", tt.kind, got, tt.want)
			}
		})
	}
}

func TestErrorResponse(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantStatus int
		want       errorDetail
		wantRetry  bool
	}{
		{name: "field error", err: policy.FieldErrorf("priority", "invalid_priority", "priority must be 1..4095"),
			wantStatus: 400, want: errorDetail{Code: "invalid_priority", Message: "priority must be 1..4095", Field: "priority"}},
		{name: "wrapped domain error", err: fmt.Errorf("update: %w", policy.Errorf(policy.KindPrecondition, "version_mismatch", "stale")),
			wantStatus: 412, want: errorDetail{Code: "version_mismatch", Message: "stale"}},
		{name: "kind without code", err: &policy.Error{Kind: policy.KindNotFound, Message: "no such group"},
			wantStatus: 404, want: errorDetail{Code: "not_found", Message: "no such group"}},
		{name: "unavailable", err: policy.Errorf(policy.KindUnavailable, "throttled", "slow down"),
			wantStatus: 503, want: errorDetail{Code: "throttled", Message: "slow down"}, wantRetry: true},
		{name: "plain error hides detail", err: errors.New("dynamodb: secret table layout"),
			wantStatus: 500, want: errorDetail{Code: "internal", Message: "internal error"}},
		{name: "internal domain error hides detail", err: policy.Errorf(policy.KindInternal, "bug", "inner detail"),
			wantStatus: 500, want: errorDetail{Code: "internal", Message: "internal error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			writeError(w, r, tt.err)
			var got errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if w.Code != tt.wantStatus || got.Error != tt.want {
				t.Fatalf("got %d %+v, want %d %+v", w.Code, got.Error, tt.wantStatus, tt.want)
			}
			if gotRetry := w.Header().Get("Retry-After") == "1"; gotRetry != tt.wantRetry {
				t.Fatalf("Retry-After: got %q, want present=%v", w.Header().Get("Retry-After"), tt.wantRetry)
			}
		})
	}
}

func TestRoutingErrorsAreJSON(t *testing.T) {
	h := New(Config{Directory: &keyDirectory{}, AdminKey: "k"})
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantCode           string
		wantAllow          string
	}{
		{name: "health", method: "GET", path: "/v1/health", wantStatus: 200},
		{name: "unknown path", method: "GET", path: "/v1/nothing", wantStatus: 404, wantCode: "route_not_found"},
		{name: "root", method: "GET", path: "/", wantStatus: 404, wantCode: "route_not_found"},
		{name: "no version prefix", method: "GET", path: "/groups", wantStatus: 404, wantCode: "route_not_found"},
		{name: "wrong method", method: "POST", path: "/v1/health", wantStatus: 405, wantCode: "method_not_allowed", wantAllow: "GET, HEAD"},
		{name: "wrong method on item", method: "POST", path: "/v1/groups/g_1", wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "trailing slash", method: "GET", path: "/v1/groups/", wantStatus: 404, wantCode: "route_not_found"},
		{name: "empty id segment", method: "GET", path: "/v1/groups//history", wantStatus: 404, wantCode: "route_not_found"},
		{name: "dot segment", method: "GET", path: "/v1/groups/../health", wantStatus: 404, wantCode: "route_not_found"},
		{name: "empty path", method: "GET", path: "/v1/users//effective-settings", wantStatus: 404, wantCode: "route_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.wantStatus {
				t.Fatalf("%s %s: got %d %s, want %d", tt.method, tt.path, w.Code, w.Body, tt.wantStatus)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", ct)
			}
			if tt.wantCode != "" {
				var got errorBody
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Error.Code != tt.wantCode {
					t.Errorf("body: got %s (%v), want code %s", w.Body, err, tt.wantCode)
				}
			}
			if tt.wantAllow != "" && w.Header().Get("Allow") != tt.wantAllow {
				t.Errorf("Allow: got %q, want %q", w.Header().Get("Allow"), tt.wantAllow)
			}
		})
	}
}

func TestPanicBecomes500AndIsLogged(t *testing.T) {
	var logs bytes.Buffer
	s := newServer(Config{Directory: &keyDirectory{}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	s.mux.Handle("GET /test/panic", s.wrap(route{"GET /test/panic", accessPublic, func(http.ResponseWriter, *http.Request) error {
		panic("boom")
	}}))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/test/panic", nil))
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"internal"`) {
		t.Fatalf("panic: got %d %s, want 500 internal", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "panic: boom") || !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatalf("log: got %s, want an ERROR line with the panic", logs.String())
	}
}

func TestRequestLogNeverHoldsKeys(t *testing.T) {
	var logs bytes.Buffer
	dir := &keyDirectory{keys: map[string]policy.APIKey{}}
	k, token := dir.add(policy.RoleUser, "u_1")
	h := New(Config{Directory: dir, AdminKey: "bootstrap-secret-value", Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for _, auth := range []string{"Bearer bootstrap-secret-value", "Bearer " + token, "Bearer wsp_k_x_not-a-key", "Bearer " + token + "x"} {
		r := httptest.NewRequest(http.MethodGet, "/v1/openapi.json", nil)
		r.Header.Set("Authorization", auth)
		h.ServeHTTP(httptest.NewRecorder(), r)
		r = httptest.NewRequest(http.MethodGet, "/v1/users/bad%20id/effective-settings", nil)
		r.Header.Set("Authorization", auth)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	out := logs.String()
	secret := token[strings.LastIndexByte(token, '_')+1:]
	for _, leak := range []string{"bootstrap-secret-value", secret, k.Hash, "not-a-key"} {
		if strings.Contains(out, leak) {
			t.Fatalf("log holds %q:\n%s", leak, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 8 {
		t.Fatalf("log lines: got %d, want one per request (8):\n%s", n, out)
	}
	if !strings.Contains(out, `"key_id":"`+k.ID+`"`) {
		t.Fatalf("log: want the key id %s of the user key:\n%s", k.ID, out)
	}
}
