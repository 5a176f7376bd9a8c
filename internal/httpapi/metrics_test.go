package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wspolicy/internal/metrics"
)

// TestMetricsRoute checks GET /v1/metrics: admin only, the process's figures (a keepalive
// shows), and 503 on a server that keeps none.
func TestMetricsRoute(t *testing.T) {
	a := newSessionAPITest(t, func(c *Config) { c.Metrics = metrics.Default })
	user, key := a.sessUser("metrics-user", nil)
	sess := a.sessStart(key, map[string]any{"user_id": user, "image_id": "img"})
	keepalives := func() float64 {
		res := a.do("GET", "/v1/metrics", testAdminKey, nil)
		mustAPIStatus(t, "metrics", res, http.StatusOK)
		var snap metrics.Snapshot
		if err := json.Unmarshal(res.Body, &snap); err != nil {
			t.Fatal(err)
		}
		for _, f := range snap.Metrics {
			if f.Name == metrics.Keepalives {
				return f.Sum
			}
		}
		return 0
	}
	before := keepalives()
	mustAPIStatus(t, "keepalive", a.do("POST", "/v1/sessions/"+sess.SessionID+"/keepalive", key, map[string]any{}), http.StatusOK)
	if got := keepalives(); got != before+1 {
		t.Errorf("keepalives after one more: %v, want %v", got, before+1)
	}
	if res := a.do("GET", "/v1/metrics", key, nil); res.Status != http.StatusForbidden {
		t.Errorf("a user key: got %d, want 403", res.Status)
	}
	// (The harness forbids any 5xx, so this one goes to the handler directly.)
	none := New(Config{Directory: a.store, AdminKey: testAdminKey})
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testAdminKey)
	none.ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"metrics_unavailable"`) {
		t.Errorf("without metrics: got %d %s, want 503 metrics_unavailable", w.Code, w.Body)
	}
}
