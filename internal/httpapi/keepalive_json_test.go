package httpapi

import (
	"net/http/httptest"
	"testing"
	"time"

	"wspolicy/internal/sessions"
)

// TestAppendKeepaliveJSON checks the keepalive's hand-written answer byte for byte against
// writeJSON's.
func TestAppendKeepaliveJSON(t *testing.T) {
	limit := time.Date(2026, 12, 6, 5, 0, 0, 123_000_000, time.UTC)
	tests := []struct {
		name string
		res  sessions.KeepaliveResponse
		ok   bool
	}{
		{"extended", sessions.KeepaliveResponse{ExpiresAt: time.Date(2026, 12, 6, 4, 5, 6, 0, time.UTC), KeepaliveInterval: 300}, true},
		{"milliseconds, time limit", sessions.KeepaliveResponse{ExpiresAt: time.Date(2026, 12, 6, 4, 5, 6, 7_000_000, time.UTC), KeepaliveInterval: 10, TimeLimitExpiresAt: &limit}, true},
		{"disconnect, usage reached", sessions.KeepaliveResponse{ExpiresAt: time.Unix(0, 0).UTC(), UsageReached: true, Disconnect: true}, true},
		{"zero time", sessions.KeepaliveResponse{}, true},
		{"beyond year 9999", sessions.KeepaliveResponse{ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := appendKeepaliveJSON(nil, tc.res)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			rec := httptest.NewRecorder()
			writeJSON(rec, 200, tc.res)
			if want := rec.Body.String(); string(got) != want {
				t.Errorf("appendKeepaliveJSON = %q\nwriteJSON          %q", got, want)
			}
		})
	}
}
