package hardening

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
	"wspolicy/internal/sweep"
)

// TestConcurrentIfMatch sends many version-guarded writes to one group at once, all with the
// same If-Match: exactly one must win (200) and every other must get 412 and write nothing —
// the version moves by one and the history gains only the winner's change.
func TestConcurrentIfMatch(t *testing.T) {
	s := newStack(t, stackOptions{})
	const writers = 12
	tests := []struct {
		name  string
		write func(g string, i int, v int64) response
	}{
		{"PATCH settings", func(g string, i int, v int64) response {
			return s.call("PATCH", "/v1/groups/"+g+"/settings", map[string]any{"set": map[string]any{"keepalive_interval": 100 + i}}, ifMatch(v))
		}},
		{"PUT one setting", func(g string, i int, v int64) response {
			return s.call("PUT", "/v1/groups/"+g+"/settings/keepalive_interval", map[string]any{"value": 100 + i}, ifMatch(v))
		}},
		{"mixed settings and group writes", func(g string, i int, v int64) response {
			switch i % 3 {
			case 0:
				return s.call("PATCH", "/v1/groups/"+g, map[string]any{"priority": 100 + i}, ifMatch(v))
			case 1:
				return s.call("DELETE", "/v1/groups/"+g+"/settings/allow_kasm_audio", nil, ifMatch(v))
			}
			return s.call("PUT", "/v1/groups/"+g+"/settings/keepalive_interval", map[string]any{"value": 100 + i}, ifMatch(v))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := s.createGroup("if-match "+tc.name, 50, map[string]any{"allow_kasm_audio": true, "keepalive_interval": 60})
			var before policy.Group
			s.must(http.StatusOK, "GET", "/v1/groups/"+g, nil, &before)
			histBefore := s.history(g)
			results := make([]response, writers)
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i := range writers {
				wg.Go(func() {
					<-gate
					results[i] = tc.write(g, i, before.Version)
				})
			}
			close(gate)
			wg.Wait()
			won, winner := 0, -1
			for i, r := range results {
				switch r.Status {
				case http.StatusOK:
					won, winner = won+1, i
				case http.StatusPreconditionFailed:
				default:
					t.Errorf("writer %d: %s, want 200 or 412", i, r)
				}
			}
			if won != 1 {
				t.Fatalf("%d writers won, want exactly 1", won)
			}
			var after policy.Group
			s.must(http.StatusOK, "GET", "/v1/groups/"+g, nil, &after)
			if after.Version != before.Version+1 {
				t.Errorf("version %d → %d, want +1", before.Version, after.Version)
			}
			histAfter := s.history(g)
			newEntries := histAfter[:len(histAfter)-len(histBefore)]
			wantEntries := 1
			if tc.name == "mixed settings and group writes" && winner%3 == 0 {
				wantEntries = 0 // a priority change is not a settings change
			}
			if len(newEntries) != wantEntries {
				t.Errorf("history gained %d entries, want %d (winner %d): %+v", len(newEntries), wantEntries, winner, newEntries)
			}
			if wantEntries == 1 && newEntries[0].Setting == "keepalive_interval" {
				if got, want := string(newEntries[0].New), fmt.Sprint(100+winner); got != want {
					t.Errorf("history records %s, the winner wrote %s", got, want)
				}
			}
		})
	}
	s.checkDirectory()
}

// history reads a group's history through the API, newest first.
func (s *stack) history(groupID string) []policy.HistoryEntry {
	s.t.Helper()
	var h struct {
		History []policy.HistoryEntry `json:"history"`
	}
	s.must(http.StatusOK, "GET", "/v1/groups/"+groupID+"/history", nil, &h)
	return h.History
}

// TestMembershipRacesEffectiveSettings reads a user's effective settings while their
// membership of a group flips and the group's two lifetime settings change together: every
// read must see a consistent group set and a consistent group — both values from the group
// (as one of the pairs it held) or neither — never one setting before a change and the other
// after it. (Every membership change advances the group's version, which a settings change
// races: under a steady stream of membership changes a settings change may give up with 503
// retry_later, which the writers accept and count.)
func TestMembershipRacesEffectiveSettings(t *testing.T) {
	s := newStack(t, stackOptions{})
	pairs := [][2]int{{111, 2222}, {333, 4444}}
	g := s.createGroup("flipping", 5, map[string]any{"keepalive_interval": pairs[0][0], "keepalive_expiration": pairs[0][1]})
	u := s.createUser("reader")
	var stop atomic.Bool
	var writers sync.WaitGroup
	var flips, changes, gaveUp atomic.Int64
	writers.Go(func() {
		for i := 0; !stop.Load(); i++ {
			method := "PUT"
			if i%2 == 1 {
				method = "DELETE"
			}
			switch r := s.call(method, "/v1/groups/"+g+"/members/"+u, nil); {
			case r.Status == http.StatusNoContent:
				flips.Add(1)
			case r.unavailable():
				gaveUp.Add(1)
			default:
				t.Errorf("%s: want 204", r)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	writers.Go(func() {
		for i := 1; !stop.Load(); i++ {
			p := pairs[i%2]
			switch r := s.call("PATCH", "/v1/groups/"+g+"/settings", map[string]any{"set": map[string]any{"keepalive_interval": p[0], "keepalive_expiration": p[1]}}); {
			case r.Status == http.StatusOK:
				changes.Add(1)
			case r.unavailable():
				gaveUp.Add(1)
			default:
				t.Errorf("%s: want 200", r)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	var readers sync.WaitGroup
	var fromGroup, notFromGroup atomic.Int64
	for range 3 {
		readers.Go(func() {
			for range 60 {
				var v struct {
					Settings map[string]settings.Effective `json:"settings"`
				}
				r := s.call("GET", "/v1/users/"+u+"/effective-settings", nil)
				if r.Status != http.StatusOK {
					t.Errorf("%s: want 200", r)
					continue
				}
				r.decode(t, &v)
				ki, ke := v.Settings["keepalive_interval"], v.Settings["keepalive_expiration"]
				inG := func(e settings.Effective) bool { return e.Source.Group != nil && e.Source.Group.ID == g }
				switch {
				case inG(ki) && inG(ke):
					got := fmt.Sprintf("%s/%s", ki.Value, ke.Value)
					if got != fmt.Sprintf("%d/%d", pairs[0][0], pairs[0][1]) && got != fmt.Sprintf("%d/%d", pairs[1][0], pairs[1][1]) {
						t.Errorf("read %s from the group: a pair it never held", got)
					}
					fromGroup.Add(1)
				case !inG(ki) && !inG(ke):
					notFromGroup.Add(1)
				default:
					t.Errorf("one read saw keepalive_interval from %+v and keepalive_expiration from %+v", ki.Source, ke.Source)
				}
			}
		})
	}
	readers.Wait()
	stop.Store(true)
	writers.Wait()
	t.Logf("%d reads as a member, %d as a non-member; %d membership flips, %d settings changes, %d writes answered 503",
		fromGroup.Load(), notFromGroup.Load(), flips.Load(), changes.Load(), gaveUp.Load())
	if fromGroup.Load() == 0 || notFromGroup.Load() == 0 || changes.Load() == 0 {
		t.Errorf("the reads never saw one side of the race (%d as member, %d not, %d settings changes)", fromGroup.Load(), notFromGroup.Load(), changes.Load())
	}
	s.checkDirectory()
}

// TestOverlappingSweepsThroughAPI runs five sweeps (and a dry run) at once through the API
// while keepalives race them on some of the expired sessions: each expired session is
// stopped by exactly one sweep (one keepalive_expired event, the reports' counts add up to
// the stops), a keepalive answered 200 means the session stays running and one answered 409
// means a sweep stopped it first, and the dry run changes nothing.
func TestOverlappingSweepsThroughAPI(t *testing.T) {
	s := newStack(t, stackOptions{})
	g := s.createGroup("overlap-stop", 10, map[string]any{"keepalive_expiration": 60, "keepalive_expiration_action": "stop", "max_kasms_per_user": 1000})
	u := s.createUser("overlap-user", g)
	if _, r := s.sweepNow(); r.Status != http.StatusOK {
		t.Fatalf("re-sync sweep: %s", r)
	}
	const n = 24
	ids := make([]string, n)
	for i := range ids {
		ids[i] = s.startSession(u, true).SessionID
	}
	s.clock.Advance(61 * time.Second)
	var first sweep.Report
	s.must(http.StatusOK, "POST", "/v1/sweeps", map[string]any{"dry_run": true}, &first)
	if !first.DryRun || first.Stopped != n {
		t.Errorf("a dry run before the race reported %d stops (dry_run %v), want %d", first.Stopped, first.DryRun, n)
	}
	var wg sync.WaitGroup
	gate := make(chan struct{})
	reports := make([]sweep.Report, 5)
	for i := range reports {
		wg.Go(func() {
			<-gate
			r := s.call("POST", "/v1/sweeps", nil)
			if r.Status != http.StatusOK {
				t.Errorf("%s: want 200", r)
				return
			}
			r.decode(t, &reports[i])
		})
	}
	var dry sweep.Report
	wg.Go(func() {
		<-gate
		s.must(http.StatusOK, "POST", "/v1/sweeps", map[string]any{"dry_run": true}, &dry)
	})
	kept := make([]int, n) // the keepalive's status, for every fourth session
	for i := 0; i < n; i += 4 {
		wg.Go(func() {
			<-gate
			r := s.call("POST", "/v1/sessions/"+ids[i]+"/keepalive", nil)
			kept[i] = r.Status
			if r.Status != http.StatusOK && r.Status != http.StatusConflict {
				t.Errorf("%s: want 200 or 409", r)
			}
		})
	}
	close(gate)
	wg.Wait()
	stopped := 0
	for _, rep := range reports {
		stopped += rep.Stopped
		if len(rep.Errors) > 0 {
			t.Errorf("a sweep reported errors: %v", rep.Errors)
		}
	}
	if !dry.DryRun || len(dry.Errors) > 0 {
		t.Errorf("the concurrent dry run: dry_run %v, errors %v", dry.DryRun, dry.Errors)
	}
	actual, keptAlive := 0, 0
	for i, id := range ids {
		var sess struct {
			Status string `json:"status"`
		}
		s.must(http.StatusOK, "GET", "/v1/sessions/"+id, nil, &sess)
		expiries := s.expiryEvents(id)
		switch {
		case kept[i] == http.StatusOK:
			keptAlive++
			if sess.Status != string(lifecycle.StatusRunning) || expiries != 0 {
				t.Errorf("session %s was kept alive (200) but is %s with %d expiries", id, sess.Status, expiries)
			}
		default:
			if sess.Status != string(lifecycle.StatusStopped) || expiries != 1 {
				t.Errorf("session %s: %s with %d keepalive_expired events, want stopped by exactly one sweep", id, sess.Status, expiries)
			}
			actual++
		}
	}
	if stopped != actual {
		t.Errorf("the sweeps reported %d stops, %d sessions were stopped", stopped, actual)
	}
	t.Logf("%d stopped, %d kept alive by a keepalive that beat the sweeps", actual, keptAlive)
	s.checkSessions(u)
}
