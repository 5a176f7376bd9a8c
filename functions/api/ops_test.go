package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"wspolicy/internal/awsops/awsopstest"
	"wspolicy/internal/ddbtest"
)

// TestMain records the AWS operations the function's code performs in this package's tests
// and checks them against internal/awsops/granted/api.txt, which the stack grants.
func TestMain(m *testing.M) { os.Exit(awsopstest.Main(m, "api")) }

// TestAWSOperations builds the handler as the stack configures it — the admin key in Secrets
// Manager, countdowns on Step Functions (both faked) — and sends it one request of every route
// that reaches AWS, with an admin key and with a user key: the operations they perform are the
// function's policy. It also proves the key is read from the secret.
func TestAWSOperations(t *testing.T) {
	const secretKey = "key-from-secrets-manager"
	awsopstest.NewFakeAWS(t, secretKey)
	tb := ddbtest.NewTable(t)
	env := map[string]string{
		"TABLE_NAME": tb.Name, "DYNAMODB_ENDPOINT": tb.Endpoint,
		"STATE_MACHINE_ARN":        "arn:aws:states:us-east-1:123456789012:stateMachine:countdown",
		"ADMIN_API_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin-AbCdEf",
		"ADMIN_API_KEY":            "ignored-when-the-secret-is-set",
	}
	h, err := newHandler(context.Background(), func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	do := func(method, path, key string, body any) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req := httptest.NewRequest(method, path, rd)
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 300 {
			t.Errorf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		return out
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }

	if me := do("GET", "/v1/me", secretKey, nil); me["role"] != "admin" {
		t.Fatalf("the secret's key is not the admin key: /v1/me says %v", me)
	}
	admin := secretKey
	g := str(do("POST", "/v1/groups", admin, map[string]any{"name": "Limited", "priority": 10}), "group_id")
	do("GET", "/v1/groups", admin, nil)
	do("GET", "/v1/groups/"+g, admin, nil)
	do("PATCH", "/v1/groups/"+g, admin, map[string]any{"description": "time-limited"})
	do("PATCH", "/v1/groups/"+g+"/settings", admin, map[string]any{"set": map[string]any{
		"session_time_limit": 3600, "allow_kasm_pause": true,
		"usage_limit": map[string]any{"type": "per_user", "interval": "daily", "hours": 2}}})
	do("PUT", "/v1/groups/"+g+"/settings/keepalive_interval", admin, map[string]any{"value": 100})
	do("DELETE", "/v1/groups/"+g+"/settings/keepalive_interval", admin, nil)
	do("GET", "/v1/groups/"+g+"/settings", admin, nil)
	do("GET", "/v1/groups/"+g+"/history", admin, nil)
	u := str(do("POST", "/v1/users", admin, map[string]any{"username": "alice"}), "user_id")
	do("GET", "/v1/users", admin, nil)
	do("PUT", "/v1/groups/"+g+"/members/"+u, admin, nil)
	do("GET", "/v1/groups/"+g+"/members", admin, nil)
	key := do("POST", "/v1/users/"+u+"/keys", admin, map[string]any{})
	userKey, keyID := str(key, "secret"), str(key, "key_id")
	spare := str(do("POST", "/v1/users/"+u+"/keys", admin, map[string]any{}), "key_id")
	do("GET", "/v1/users/"+u+"/keys", admin, nil)
	do("DELETE", "/v1/users/"+u+"/keys/"+spare, admin, nil)
	m := str(do("POST", "/v1/users/"+u+"/storage-mappings", userKey, map[string]any{"host_path": "/h/{username}", "bind": "/b", "mode": "rw", "uid": 1, "gid": 1}), "mapping_id")
	do("GET", "/v1/users/"+u+"/storage-mappings", userKey, nil)
	do("GET", "/v1/users/"+u, userKey, nil)
	do("GET", "/v1/users/"+u+"/effective-settings", userKey, nil)
	s := str(do("POST", "/v1/sessions", userKey, map[string]any{"image_id": "img"}), "session_id")
	do("GET", "/v1/users/"+u+"/usage", userKey, nil)
	do("GET", "/v1/sessions", admin, nil) // every session: the paged scan
	do("GET", "/v1/sessions?user_id="+u, userKey, nil)
	do("GET", "/v1/sessions/"+s, userKey, nil)
	do("GET", "/v1/sessions/"+s+"/events", userKey, nil)
	do("POST", "/v1/sessions/"+s+"/keepalive", userKey, map[string]any{"idle_seconds": 1})
	do("POST", "/v1/sessions/"+s+"/pause", userKey, nil)
	do("POST", "/v1/sessions/"+s+"/stop", userKey, nil)
	do("POST", "/v1/sessions/"+s+"/resume", userKey, nil)
	do("DELETE", "/v1/sessions/"+s, userKey, nil)
	// A change on All Users: the sweep re-syncs every live session (the Due index's shards and
	// the parked sessions' scan of GSI1).
	do("PATCH", "/v1/groups/all-users/settings", admin, map[string]any{"set": map[string]any{"keepalive_expiration": 7200}})
	do("POST", "/v1/sweeps", admin, map[string]any{"dry_run": true})
	do("POST", "/v1/sweeps", admin, nil)
	do("DELETE", "/v1/users/"+u+"/storage-mappings/"+m, userKey, nil)
	do("DELETE", "/v1/groups/"+g+"/members/"+u, admin, nil)
	do("POST", "/v1/sessions", admin, map[string]any{"user_id": u, "image_id": "img"})
	do("DELETE", "/v1/users/"+u+"/keys/"+keyID, admin, nil)
	do("DELETE", "/v1/users/"+u, admin, nil) // ends the user's live session
	do("DELETE", "/v1/groups/"+g, admin, nil)
	if w := httptest.NewRecorder(); true {
		req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+env["ADMIN_API_KEY"])
		h.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("ADMIN_API_KEY with the secret set: got %d, want 401 (the secret wins)", w.Code)
		}
	}
}
