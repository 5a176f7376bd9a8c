package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/sessions"
	"wspolicy/internal/sweep"
)

// sweepRun runs POST /v1/sweeps as the admin and returns the report.
func (a *apiTest) sweepRun(dryRun bool) sweep.Report {
	a.t.Helper()
	res := a.do("POST", "/v1/sweeps", testAdminKey, map[string]any{"dry_run": dryRun})
	mustAPIStatus(a.t, "sweep", res, http.StatusOK)
	var rep sweep.Report
	res.json(a.t, &rep)
	return rep
}

// TestSweepDryRunChangesNothing runs a dry run on an expired session (it reports the stop it
// would make and writes nothing), then a real run (it stops the session), then another (nothing
// left to do).
func TestSweepDryRunChangesNothing(t *testing.T) {
	a := newSessionAPITest(t)
	_, key := a.sessUser("alice", map[string]any{"keepalive_expiration": 2, "keepalive_interval": 1, "keepalive_expiration_action": "stop"})
	s := a.sessStart(key, map[string]any{"image_id": "img"})
	a.clock.Advance(3 * time.Second)

	tests := []struct {
		name        string
		dryRun      bool
		wantStopped int
		wantActions string // action:reason of each listed action
		wantStatus  string
		wantEvents  string
	}{
		{"dry run", true, 1, "stop:keepalive_expired", "running", "created"},
		{"dry run again", true, 1, "stop:keepalive_expired", "running", "created"},
		{"real run", false, 1, "stop:keepalive_expired", "stopped", "created,keepalive_expired,stopped"},
		{"nothing left", false, 0, "", "stopped", "created,keepalive_expired,stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := a.sweepRun(tt.dryRun)
			var actions []string
			for _, act := range rep.Actions {
				if act.SessionID != s.SessionID {
					t.Errorf("action on %s, want only %s", act.SessionID, s.SessionID)
				}
				actions = append(actions, act.Action+":"+act.Reason)
			}
			if rep.DryRun != tt.dryRun || rep.Stopped != tt.wantStopped || strings.Join(actions, ",") != tt.wantActions || len(rep.Errors) != 0 {
				t.Fatalf("report: got %+v, want dry_run %v, %d stopped, actions %q", rep, tt.dryRun, tt.wantStopped, tt.wantActions)
			}
			if got := a.sessGet(s.SessionID); got.Status != tt.wantStatus {
				t.Fatalf("status: got %s, want %s", got.Status, tt.wantStatus)
			}
			if got := strings.Join(a.sessEventTypes(s.SessionID), ","); got != tt.wantEvents {
				t.Fatalf("events: got %s, want %s", got, tt.wantEvents)
			}
		})
	}
}

func TestSweepIsForAdmins(t *testing.T) {
	a := newSessionAPITest(t)
	_, key := a.sessUser("alice", nil)
	tests := []struct {
		name, key, body string
		wantStatus      int
		wantCode        string
	}{
		{"user key", key, `{"dry_run": true}`, 403, "forbidden"},
		{"no body runs for real", testAdminKey, "", 200, ""},
		{"dry_run not a bool", testAdminKey, `{"dry_run": "yes"}`, 400, "invalid_type"},
		{"unknown field", testAdminKey, `{"dryrun": true}`, 400, "unknown_field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.do("POST", "/v1/sweeps", tt.key, tt.body)
			if res.Status != tt.wantStatus || res.errorCode() != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", res.Status, res.Body, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus == http.StatusOK {
				var rep sweep.Report
				res.json(t, &rep)
				if rep.DryRun {
					t.Fatalf("dry_run: got true, want false without a body")
				}
			}
		})
	}
}

// TestSessionsDoneScenario is issue 3's "Done" paragraph through the HTTP handler with a fake
// clock: keepalive_expiration 2 s with action stop. A container session nobody keeps alive is
// stopped by the first sweep after its expiry, with exactly one stopped event however many
// sweeps follow; a non-container one is deleted; one kept alive every second stays running;
// idle beyond idle_disconnect gets disconnect: true; the sixth session of five is refused; a
// user without allow_kasm_delete gets 403.
func TestSessionsDoneScenario(t *testing.T) {
	a := newSessionAPITest(t)
	alice, key := a.sessUser("alice", map[string]any{
		"keepalive_expiration": 2, "keepalive_interval": 1, "keepalive_expiration_action": "stop",
		"idle_disconnect":   0.05, // 3 seconds
		"allow_kasm_delete": false,
	})
	left := a.sessStart(key, map[string]any{"image_id": "img", "container": true})
	nonContainer := a.sessStart(key, map[string]any{"image_id": "img", "container": false})
	kept := a.sessStart(key, map[string]any{"image_id": "img", "container": true})
	idle := a.sessStart(key, map[string]any{"image_id": "img", "container": true})

	// Ten seconds, one keepalive a second for kept (and idle, reporting idleness), a sweep
	// every second as SWEEP_INTERVAL=1s would run it.
	var idleAnswers []bool
	for second := 1; second <= 10; second++ {
		a.clock.Advance(time.Second)
		mustAPIStatus(t, "keepalive", a.do("POST", "/v1/sessions/"+kept.SessionID+"/keepalive", key, nil), http.StatusOK)
		if second <= 4 {
			res := a.do("POST", "/v1/sessions/"+idle.SessionID+"/keepalive", key, map[string]any{"idle_seconds": second})
			mustAPIStatus(t, "idle keepalive", res, http.StatusOK)
			var v sessions.KeepaliveResponse
			res.json(t, &v)
			idleAnswers = append(idleAnswers, v.Disconnect)
		}
		rep := a.sweepRun(false)
		if len(rep.Errors) != 0 {
			t.Fatalf("second %d: sweep errors %v", second, rep.Errors)
		}
	}

	tests := []struct {
		name       string
		id         string
		wantStatus string
		wantReason string
		wantEvents string
	}{
		{"container session left alone is stopped once", left.SessionID, "stopped", "keepalive_expired", "created,keepalive_expired,stopped"},
		{"non-container session is deleted", nonContainer.SessionID, "deleted", "keepalive_expired", "created,keepalive_expired,deleted"},
		{"session kept alive every second runs", kept.SessionID, "running", "", "created"},
		{"idle session is disconnected, then stopped", idle.SessionID, "stopped", "keepalive_expired", "created,disconnected,keepalive_expired,stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a.sessGet(tt.id)
			reason := ""
			if got.ExpirationReason != nil {
				reason = *got.ExpirationReason
			}
			if got.Status != tt.wantStatus || reason != tt.wantReason {
				t.Fatalf("got %s (%q), want %s (%q)", got.Status, reason, tt.wantStatus, tt.wantReason)
			}
			if events := strings.Join(a.sessEventTypes(tt.id), ","); events != tt.wantEvents {
				t.Fatalf("events: got %s, want %s", events, tt.wantEvents)
			}
		})
	}
	t.Run("idle keepalives answer disconnect once idle_disconnect is reached", func(t *testing.T) {
		if want := []bool{false, false, true, true}; !slices.Equal(idleAnswers, want) {
			t.Fatalf("disconnect answers at idle 1..4 s: got %v, want %v", idleAnswers, want)
		}
	})
	t.Run("stopped by the first sweep at its expiry", func(t *testing.T) {
		res := a.do("GET", "/v1/sessions/"+left.SessionID+"/events", key, nil)
		mustAPIStatus(t, "events", res, http.StatusOK)
		var v sessionEventsView
		res.json(t, &v)
		created, stopped := v.Events[0].At, v.Events[len(v.Events)-1].At
		if d := stopped.Sub(created); d != 2*time.Second {
			t.Fatalf("stopped %s after start, want 2s (the sweep at its expiry)", d)
		}
		if v.Events[len(v.Events)-1].Actor != "system:sweep" {
			t.Fatalf("stopped by %s, want system:sweep", v.Events[len(v.Events)-1].Actor)
		}
	})
	t.Run("the sixth session of five is refused", func(t *testing.T) {
		// alice has three live sessions (the non-container one is deleted): two more fit.
		a.sessStart(key, map[string]any{"image_id": "img"})
		a.sessStart(key, map[string]any{"image_id": "img"})
		sessWantError(t, "sixth", a.do("POST", "/v1/sessions", key, map[string]any{"image_id": "img"}), http.StatusConflict, "max_sessions_reached", "")
	})
	t.Run("delete without allow_kasm_delete is refused", func(t *testing.T) {
		sessWantError(t, "delete", a.do("DELETE", "/v1/sessions/"+kept.SessionID, key, nil), http.StatusForbidden, "permission_denied", "allow_kasm_delete")
		if got := a.sessGet(kept.SessionID); got.Status != "running" || got.UserID != alice {
			t.Fatalf("after the refused delete: got %s, want running", got.Status)
		}
	})
}
