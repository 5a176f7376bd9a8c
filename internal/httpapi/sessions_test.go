package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/devkeys"
	"wspolicy/internal/kasmapi"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/sweep"
	"wspolicy/internal/workspaces"
)

// newSessionAPITest is the API harness with the session service and the sweeper wired to the
// same table and fixed clock as the directory.
func newSessionAPITest(t *testing.T, edit ...func(*Config)) *apiTest {
	t.Helper()
	var cfg *Config
	a := newAPITest(t, append(edit, func(c *Config) { cfg = c })...)
	ss := ddbstore.Open(a.tb.Client, a.tb.Name).Sessions()
	cfg.Sessions = sessions.New(sessions.Config{Store: ss, Directory: a.store, Clock: a.clock})
	cfg.Sweeper = sweep.New(sweep.Config{Store: ss, Directory: a.store, Clock: a.clock})
	// The registry and the developer keys of issue 15 (the session service is left without
	// the registry, so images stay free strings in these tests).
	cfg.Workspaces = workspaces.New(a.store, a.clock)
	cfg.DevKeys = devkeys.New(a.store, a.clock, 0)
	cfg.Kasm = kasmapi.New(kasmapi.Config{Directory: a.store, Sessions: cfg.Sessions, Workspaces: cfg.Workspaces, Keys: cfg.DevKeys, Clock: a.clock})
	a.h = New(*cfg)
	return a
}

// sessUser creates a user and a user key for them; with settings, the user is a member of a
// new group of priority 10 holding them, so those values win over All Users.
func (a *apiTest) sessUser(name string, settings map[string]any) (userID, key string) {
	a.t.Helper()
	userID = a.createUser(name)
	if len(settings) > 0 {
		g := a.createGroup("settings of "+name, 10)
		mustAPIStatus(a.t, "set settings", a.do("PATCH", "/v1/groups/"+g+"/settings", testAdminKey, map[string]any{"set": settings}), http.StatusOK)
		mustAPIStatus(a.t, "add member", a.do("PUT", "/v1/groups/"+g+"/members/"+userID, testAdminKey, nil), http.StatusNoContent)
	}
	_, key = a.issueKey(userID, policy.RoleUser)
	return userID, key
}

// sessStart starts a session through the API and returns it.
func (a *apiTest) sessStart(key string, body map[string]any) sessions.Session {
	a.t.Helper()
	res := a.do("POST", "/v1/sessions", key, body)
	mustAPIStatus(a.t, "start session", res, http.StatusCreated)
	var s sessions.Session
	res.json(a.t, &s)
	return s
}

// sessGet reads a session as the admin.
func (a *apiTest) sessGet(id string) sessions.Session {
	a.t.Helper()
	res := a.do("GET", "/v1/sessions/"+id, testAdminKey, nil)
	mustAPIStatus(a.t, "get session", res, http.StatusOK)
	var s sessions.Session
	res.json(a.t, &s)
	return s
}

// sessEventTypes lists a session's event types, oldest first.
func (a *apiTest) sessEventTypes(id string) []string {
	a.t.Helper()
	res := a.do("GET", "/v1/sessions/"+id+"/events", testAdminKey, nil)
	mustAPIStatus(a.t, "events", res, http.StatusOK)
	var v sessionEventsView
	res.json(a.t, &v)
	var types []string
	for _, e := range v.Events {
		types = append(types, string(e.Type))
	}
	return types
}

// sessWantError fails unless res is the wanted error.
func sessWantError(t *testing.T, what string, res apiResponse, status int, code, field string) {
	t.Helper()
	if res.Status != status || res.errorCode() != code || res.errorField() != field {
		t.Fatalf("%s: got %d %s, want %d %s naming %q", what, res.Status, res.Body, status, code, field)
	}
}

func TestStartSession(t *testing.T) {
	a := newSessionAPITest(t)
	alice, aliceKey := a.sessUser("alice", nil)
	bob, _ := a.sessUser("bob", map[string]any{"keepalive_expiration_action": "stop", "default_image": "img-default"})
	now := a.clock.Now()
	tests := []struct {
		name       string
		key        string
		body       any
		wantStatus int
		wantCode   string
		wantField  string
		check      func(t *testing.T, s sessions.Session)
	}{
		{name: "admin starts for a user", key: testAdminKey, body: map[string]any{"user_id": alice, "image_id": "img-1"}, wantStatus: 201,
			check: func(t *testing.T, s sessions.Session) {
				if s.UserID != alice || s.ImageID != "img-1" || s.Status != "running" || !s.Container || !s.Connected {
					t.Errorf("got %+v, want a running connected container session of %s", s, alice)
				}
				if !s.CreatedAt.Equal(now) || !s.ExpiresAt.Equal(now.Add(time.Hour)) || s.KeepaliveInterval != 300 ||
					s.ExpirationAction != "delete" || s.TimeLimitExpiresAt != nil || s.ExpirationReason != nil {
					t.Errorf("got %+v, want the default lifetime (3600 s, 300 s, delete) from %s", s, now)
				}
			}},
		{name: "user key defaults to its own user", key: aliceKey, body: map[string]any{"image_id": "img-1"}, wantStatus: 201,
			check: func(t *testing.T, s sessions.Session) {
				if s.UserID != alice {
					t.Errorf("user_id: got %s, want %s", s.UserID, alice)
				}
			}},
		{name: "user key naming itself", key: aliceKey, body: map[string]any{"user_id": alice, "image_id": "img-1", "container": false}, wantStatus: 201,
			check: func(t *testing.T, s sessions.Session) {
				if s.Container {
					t.Errorf("container: got true, want false")
				}
			}},
		{name: "default image and the group's action", key: testAdminKey, body: map[string]any{"user_id": bob}, wantStatus: 201,
			check: func(t *testing.T, s sessions.Session) {
				if s.ImageID != "img-default" || s.ExpirationAction != "stop" {
					t.Errorf("got image %s action %s, want img-default and stop", s.ImageID, s.ExpirationAction)
				}
			}},
		{name: "a non-container session is always deleted", key: testAdminKey, body: map[string]any{"user_id": bob, "container": false}, wantStatus: 201,
			check: func(t *testing.T, s sessions.Session) {
				if s.ExpirationAction != "delete" {
					t.Errorf("expiration_action: got %s, want delete", s.ExpirationAction)
				}
			}},
		{name: "user key for another user", key: aliceKey, body: map[string]any{"user_id": bob, "image_id": "img-1"}, wantStatus: 403, wantCode: "forbidden", wantField: "user_id"},
		{name: "admin without user_id", key: testAdminKey, body: map[string]any{"image_id": "img-1"}, wantStatus: 400, wantCode: "missing_user_id", wantField: "user_id"},
		{name: "admin with no body", key: testAdminKey, body: nil, wantStatus: 400, wantCode: "missing_user_id", wantField: "user_id"},
		{name: "unknown user", key: testAdminKey, body: map[string]any{"user_id": "u_nobody", "image_id": "img-1"}, wantStatus: 404, wantCode: "user_not_found"},
		{name: "no image and no default image", key: aliceKey, body: map[string]any{}, wantStatus: 400, wantCode: "no_default_image", wantField: "image_id"},
		{name: "image id with spaces", key: aliceKey, body: map[string]any{"image_id": " img "}, wantStatus: 400, wantCode: "invalid_image_id", wantField: "image_id"},
		{name: "container as a string", key: aliceKey, body: `{"image_id": "i", "container": "yes"}`, wantStatus: 400, wantCode: "invalid_type", wantField: "container"},
		{name: "unknown field", key: aliceKey, body: map[string]any{"image_id": "i", "colour": "red"}, wantStatus: 400, wantCode: "unknown_field", wantField: "colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.do("POST", "/v1/sessions", tt.key, tt.body)
			if tt.wantStatus != http.StatusCreated {
				sessWantError(t, "start", res, tt.wantStatus, tt.wantCode, tt.wantField)
				return
			}
			mustAPIStatus(t, "start", res, http.StatusCreated)
			var s sessions.Session
			res.json(t, &s)
			if loc := res.Header.Get("Location"); loc != "/v1/sessions/"+s.SessionID {
				t.Errorf("Location: got %q, want /v1/sessions/%s", loc, s.SessionID)
			}
			if got := a.sessGet(s.SessionID); got.SessionID != s.SessionID || got.Status != "running" {
				t.Errorf("stored: got %+v, want the started session", got)
			}
			tt.check(t, s)
		})
	}
}

func TestStartSessionMaxSessions(t *testing.T) {
	a := newSessionAPITest(t)
	_, key := a.sessUser("five", nil) // All Users: max_kasms_per_user 5
	var first sessions.Session
	for i := range 5 {
		s := a.sessStart(key, map[string]any{"image_id": "img"})
		if i == 0 {
			first = s
		}
	}
	sessWantError(t, "sixth of five", a.do("POST", "/v1/sessions", key, map[string]any{"image_id": "img"}), http.StatusConflict, "max_sessions_reached", "")
	mustAPIStatus(t, "delete one", a.do("DELETE", "/v1/sessions/"+first.SessionID, key, nil), http.StatusOK)
	a.sessStart(key, map[string]any{"image_id": "img"}) // the slot is free again
	sessWantError(t, "sixth again", a.do("POST", "/v1/sessions", key, map[string]any{"image_id": "img"}), http.StatusConflict, "max_sessions_reached", "")
}

func TestGetAndListSessions(t *testing.T) {
	a := newSessionAPITest(t)
	alice, aliceKey := a.sessUser("alice", nil)
	bob, bobKey := a.sessUser("bob", nil)
	a1 := a.sessStart(aliceKey, map[string]any{"image_id": "img"})
	a.clock.Advance(time.Second)
	a2 := a.sessStart(aliceKey, map[string]any{"image_id": "img"})
	b1 := a.sessStart(bobKey, map[string]any{"image_id": "img"})
	mustAPIStatus(t, "pause a2", a.do("POST", "/v1/sessions/"+a2.SessionID+"/pause", aliceKey, nil), http.StatusOK)

	t.Run("get", func(t *testing.T) {
		tests := []struct {
			name, key, id string
			wantStatus    int
			wantCode      string
		}{
			{"own", aliceKey, a1.SessionID, 200, ""},
			{"admin", testAdminKey, b1.SessionID, 200, ""},
			{"another user's", aliceKey, b1.SessionID, 403, "not_session_owner"},
			{"unknown", aliceKey, "s_missing", 404, "session_not_found"},
			{"malformed id", aliceKey, "a%20b", 400, "invalid_id"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := a.do("GET", "/v1/sessions/"+tt.id, tt.key, nil)
				if res.Status != tt.wantStatus || res.errorCode() != tt.wantCode {
					t.Fatalf("got %d %s, want %d %s", res.Status, res.Body, tt.wantStatus, tt.wantCode)
				}
			})
		}
	})

	ids := func(v sessionListView) []string {
		var out []string
		for _, s := range v.Sessions {
			out = append(out, s.SessionID)
		}
		return out
	}
	tests := []struct {
		name       string
		key        string
		query      url.Values
		wantStatus int
		wantCode   string
		wantIDs    []string // in order; nil with wantAtLeast
		wantUser   string
	}{
		{name: "user key: own by default, oldest first", key: aliceKey, wantStatus: 200, wantIDs: []string{a1.SessionID, a2.SessionID}, wantUser: alice},
		{name: "user key naming itself", key: aliceKey, query: url.Values{"user_id": {alice}}, wantStatus: 200, wantIDs: []string{a1.SessionID, a2.SessionID}, wantUser: alice},
		{name: "status filter", key: aliceKey, query: url.Values{"status": {"paused"}}, wantStatus: 200, wantIDs: []string{a2.SessionID}, wantUser: alice},
		{name: "admin for a user", key: testAdminKey, query: url.Values{"user_id": {bob}}, wantStatus: 200, wantIDs: []string{b1.SessionID}, wantUser: bob},
		{name: "admin: every session", key: testAdminKey, wantStatus: 200, wantIDs: []string{a1.SessionID, a2.SessionID, b1.SessionID}},
		{name: "user key on another user", key: aliceKey, query: url.Values{"user_id": {bob}}, wantStatus: 403, wantCode: "forbidden"},
		{name: "unknown status", key: aliceKey, query: url.Values{"status": {"sleeping"}}, wantStatus: 400, wantCode: "invalid_status"},
		{name: "limit zero", key: aliceKey, query: url.Values{"limit": {"0"}}, wantStatus: 400, wantCode: "invalid_limit"},
		{name: "limit too large", key: aliceKey, query: url.Values{"limit": {"101"}}, wantStatus: 400, wantCode: "invalid_limit"},
		{name: "limit not a number", key: aliceKey, query: url.Values{"limit": {"ten"}}, wantStatus: 400, wantCode: "invalid_limit"},
		{name: "forged page token", key: aliceKey, query: url.Values{"page_token": {"eyJhIjoxfQ"}}, wantStatus: 400, wantCode: "invalid_page_token"},
	}
	for _, tt := range tests {
		t.Run("list/"+tt.name, func(t *testing.T) {
			res := a.do("GET", "/v1/sessions?"+tt.query.Encode(), tt.key, nil)
			if res.Status != tt.wantStatus || res.errorCode() != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", res.Status, res.Body, tt.wantStatus, tt.wantCode)
			}
			if tt.wantStatus != http.StatusOK {
				return
			}
			var v sessionListView
			res.json(t, &v)
			got := ids(v)
			if tt.wantUser == "" { // a scan: any order
				slices.Sort(got)
				tt.wantIDs = slices.Sorted(slices.Values(tt.wantIDs))
			}
			if strings.Join(got, ",") != strings.Join(tt.wantIDs, ",") || v.UserID != tt.wantUser || v.NextPageToken != "" {
				t.Fatalf("got user %q %v (next %q), want user %q %v", v.UserID, got, v.NextPageToken, tt.wantUser, tt.wantIDs)
			}
		})
	}

	t.Run("list/paged", func(t *testing.T) {
		var got []string
		token := ""
		for page := 0; page < 5; page++ {
			q := url.Values{"limit": {"1"}}
			if token != "" {
				q.Set("page_token", token)
			}
			res := a.do("GET", "/v1/sessions?"+q.Encode(), aliceKey, nil)
			mustAPIStatus(t, "page", res, http.StatusOK)
			var v sessionListView
			res.json(t, &v)
			got = append(got, ids(v)...)
			if token = v.NextPageToken; token == "" {
				break
			}
		}
		if strings.Join(got, ",") != a1.SessionID+","+a2.SessionID {
			t.Fatalf("pages: got %v, want %s then %s", got, a1.SessionID, a2.SessionID)
		}
	})
}

func TestKeepalive(t *testing.T) {
	a := newSessionAPITest(t)
	// keepalive_expiration 600 s, idle_disconnect 1 minute.
	_, key := a.sessUser("alice", map[string]any{"keepalive_expiration": 600, "keepalive_interval": 60, "idle_disconnect": 1})
	_, otherKey := a.sessUser("bob", nil)
	s := a.sessStart(key, map[string]any{"image_id": "img"})
	path := "/v1/sessions/" + s.SessionID + "/keepalive"

	keepalive := func(t *testing.T, body any) sessions.KeepaliveResponse {
		t.Helper()
		res := a.do("POST", path, key, body)
		mustAPIStatus(t, "keepalive", res, http.StatusOK)
		var v sessions.KeepaliveResponse
		res.json(t, &v)
		return v
	}
	t.Run("empty body extends", func(t *testing.T) {
		a.clock.Advance(10 * time.Second)
		v := keepalive(t, nil)
		if want := a.clock.Now().Add(600 * time.Second); !v.ExpiresAt.Equal(want) || v.KeepaliveInterval != 60 || v.Disconnect || v.UsageReached || v.TimeLimitExpiresAt != nil {
			t.Fatalf("got %+v, want expires_at %s, interval 60, no disconnect", v, want)
		}
	})
	t.Run("idle below idle_disconnect extends", func(t *testing.T) {
		a.clock.Advance(10 * time.Second)
		v := keepalive(t, map[string]any{"idle_seconds": 59.5})
		if want := a.clock.Now().Add(600 * time.Second); !v.ExpiresAt.Equal(want) || v.Disconnect {
			t.Fatalf("got %+v, want expires_at %s and no disconnect", v, want)
		}
	})
	var expiresBefore time.Time
	t.Run("idle reaching idle_disconnect disconnects without extending", func(t *testing.T) {
		expiresBefore = a.sessGet(s.SessionID).ExpiresAt
		a.clock.Advance(10 * time.Second)
		for i := 0; i < 2; i++ { // the second idle keepalive records nothing more
			v := keepalive(t, map[string]any{"idle_seconds": 60})
			if !v.Disconnect || !v.ExpiresAt.Equal(expiresBefore) {
				t.Fatalf("keepalive %d: got %+v, want disconnect true and expires_at still %s", i+1, v, expiresBefore)
			}
		}
		got := a.sessGet(s.SessionID)
		if got.Connected || !got.ExpiresAt.Equal(expiresBefore) || got.Status != "running" {
			t.Fatalf("session: got %+v, want running, disconnected, expires_at %s", got, expiresBefore)
		}
		if types := strings.Join(a.sessEventTypes(s.SessionID), ","); types != "created,disconnected" {
			t.Fatalf("events: got %s, want created,disconnected", types)
		}
	})
	t.Run("an active keepalive reconnects", func(t *testing.T) {
		v := keepalive(t, map[string]any{"idle_seconds": 0})
		if v.Disconnect || !a.sessGet(s.SessionID).Connected {
			t.Fatalf("got %+v, want connected again", v)
		}
	})

	errs := []struct {
		name       string
		key        string
		path       string
		body       any
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"another user's session", otherKey, path, nil, 403, "not_session_owner", ""},
		{"negative idle", key, path, map[string]any{"idle_seconds": -1}, 400, "invalid_idle_seconds", "idle_seconds"},
		{"idle as a string", key, path, `{"idle_seconds": "5"}`, 400, "invalid_type", "idle_seconds"},
		{"unknown field", key, path, map[string]any{"idle": 5}, 400, "unknown_field", "idle"},
		{"unknown session", key, "/v1/sessions/s_missing/keepalive", nil, 404, "session_not_found", ""},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			sessWantError(t, "keepalive", a.do("POST", tt.path, tt.key, tt.body), tt.wantStatus, tt.wantCode, tt.wantField)
		})
	}

	t.Run("paused is not kept alive", func(t *testing.T) {
		mustAPIStatus(t, "pause", a.do("POST", "/v1/sessions/"+s.SessionID+"/pause", key, nil), http.StatusOK)
		sessWantError(t, "keepalive", a.do("POST", path, key, nil), http.StatusConflict, "session_not_running", "")
		mustAPIStatus(t, "resume", a.do("POST", "/v1/sessions/"+s.SessionID+"/resume", key, nil), http.StatusOK)
		keepalive(t, nil)
	})
	t.Run("410 after delete", func(t *testing.T) {
		mustAPIStatus(t, "delete", a.do("DELETE", "/v1/sessions/"+s.SessionID, key, nil), http.StatusOK)
		sessWantError(t, "keepalive", a.do("POST", path, key, nil), http.StatusGone, "session_deleted", "")
		sessWantError(t, "admin keepalive", a.do("POST", path, testAdminKey, nil), http.StatusGone, "session_deleted", "")
	})
}

// TestKeepaliveIsOneDatabaseRequest counts the requests a keepalive sends through the whole
// handler in steady state (the key cached, the session's kind known): exactly one, the
// conditional write.
func TestKeepaliveIsOneDatabaseRequest(t *testing.T) {
	a := newSessionAPITest(t)
	_, key := a.sessUser("alice", nil)
	_, limitedKey := a.sessUser("limited", map[string]any{"session_time_limit": 3600})
	s := a.sessStart(key, map[string]any{"image_id": "img"})
	limited := a.sessStart(limitedKey, map[string]any{"image_id": "img"})
	tests := []struct {
		name string
		key  string
		id   string
		body any
	}{
		{"user key, no body", key, s.SessionID, nil},
		{"user key, idle seconds", key, s.SessionID, map[string]any{"idle_seconds": 3}},
		{"bootstrap admin key", testAdminKey, s.SessionID, nil},
		{"time-limited session", limitedKey, limited.SessionID, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/v1/sessions/" + tt.id + "/keepalive"
			mustAPIStatus(t, "warm-up keepalive", a.do("POST", path, tt.key, tt.body), http.StatusOK)
			a.clock.Advance(time.Second)
			a.tb.ResetCalls()
			res := a.do("POST", path, tt.key, tt.body)
			mustAPIStatus(t, "keepalive", res, http.StatusOK)
			if n := a.tb.Calls(); n != 1 {
				t.Fatalf("database requests: got %d, want 1", n)
			}
			var v sessions.KeepaliveResponse
			res.json(t, &v)
			if (tt.id == limited.SessionID) != (v.TimeLimitExpiresAt != nil) {
				t.Fatalf("time_limit_expires_at: got %v for session %s", v.TimeLimitExpiresAt, tt.id)
			}
		})
	}
}

func TestSessionActions(t *testing.T) {
	a := newSessionAPITest(t)
	alice, aliceKey := a.sessUser("alice", nil)
	_, lockedKey := a.sessUser("locked", map[string]any{"allow_kasm_delete": false, "allow_kasm_pause": false, "allow_kasm_stop": false})
	_, bobKey := a.sessUser("bob", nil)

	t.Run("pause, stop, resume, delete", func(t *testing.T) {
		s := a.sessStart(aliceKey, map[string]any{"image_id": "img"})
		base := "/v1/sessions/" + s.SessionID
		steps := []struct {
			method, path string
			wantStatus   int
			wantState    string
			wantReason   string
		}{
			{"POST", base + "/pause", 200, "paused", "user_paused"},
			{"POST", base + "/pause", 200, "paused", "user_paused"}, // already paused: no event
			{"POST", base + "/stop", 200, "stopped", "user_stopped"},
			{"POST", base + "/resume", 200, "running", ""},
			{"POST", base + "/stop", 200, "stopped", "user_stopped"},
			{"POST", base + "/resume", 200, "running", ""},
			{"DELETE", base, 200, "deleted", "user_deleted"},
		}
		for _, st := range steps {
			res := a.do(st.method, st.path, aliceKey, nil)
			mustAPIStatus(t, st.method+" "+st.path, res, st.wantStatus)
			var got sessions.Session
			res.json(t, &got)
			reason := ""
			if got.ExpirationReason != nil {
				reason = *got.ExpirationReason
			}
			if got.Status != st.wantState || reason != st.wantReason || got.UserID != alice {
				t.Fatalf("%s %s: got status %s reason %q, want %s %q", st.method, st.path, got.Status, reason, st.wantState, st.wantReason)
			}
		}
		want := "created,paused,stopped,resumed,stopped,resumed,deleted"
		if types := strings.Join(a.sessEventTypes(s.SessionID), ","); types != want {
			t.Fatalf("events: got %s, want %s", types, want)
		}
		for _, p := range []string{base + "/pause", base + "/stop", base + "/resume"} {
			sessWantError(t, "after delete "+p, a.do("POST", p, aliceKey, nil), http.StatusGone, "session_deleted", "")
		}
		sessWantError(t, "delete again", a.do("DELETE", base, aliceKey, nil), http.StatusGone, "session_deleted", "")
	})

	container := a.sessStart(aliceKey, map[string]any{"image_id": "img"})
	nonContainer := a.sessStart(aliceKey, map[string]any{"image_id": "img", "container": false})
	lockedSess := a.sessStart(lockedKey, map[string]any{"image_id": "img"})
	stopped := a.sessStart(aliceKey, map[string]any{"image_id": "img"})
	mustAPIStatus(t, "stop", a.do("POST", "/v1/sessions/"+stopped.SessionID+"/stop", aliceKey, nil), http.StatusOK)

	tests := []struct {
		name, method, path, key string
		wantStatus              int
		wantCode, wantField     string
	}{
		{"delete without allow_kasm_delete", "DELETE", "/v1/sessions/" + lockedSess.SessionID, lockedKey, 403, "permission_denied", "allow_kasm_delete"},
		{"pause without allow_kasm_pause", "POST", "/v1/sessions/" + lockedSess.SessionID + "/pause", lockedKey, 403, "permission_denied", "allow_kasm_pause"},
		{"stop without allow_kasm_stop", "POST", "/v1/sessions/" + lockedSess.SessionID + "/stop", lockedKey, 403, "permission_denied", "allow_kasm_stop"},
		{"pause a non-container session", "POST", "/v1/sessions/" + nonContainer.SessionID + "/pause", aliceKey, 409, "unsupported_for_session_type", "container"},
		{"stop a non-container session", "POST", "/v1/sessions/" + nonContainer.SessionID + "/stop", aliceKey, 409, "unsupported_for_session_type", "container"},
		{"admin: pause a non-container session", "POST", "/v1/sessions/" + nonContainer.SessionID + "/pause", testAdminKey, 409, "unsupported_for_session_type", "container"},
		{"pause a stopped session", "POST", "/v1/sessions/" + stopped.SessionID + "/pause", aliceKey, 409, "invalid_transition", ""},
		{"pause another user's session", "POST", "/v1/sessions/" + container.SessionID + "/pause", bobKey, 403, "not_session_owner", ""},
		{"delete another user's session", "DELETE", "/v1/sessions/" + container.SessionID, bobKey, 403, "not_session_owner", ""},
		{"resume another user's session", "POST", "/v1/sessions/" + stopped.SessionID + "/resume", bobKey, 403, "not_session_owner", ""},
		{"unknown session", "POST", "/v1/sessions/s_missing/stop", aliceKey, 404, "session_not_found", ""},
		{"admin may delete what the user may not", "DELETE", "/v1/sessions/" + lockedSess.SessionID, testAdminKey, 200, "", ""},
		{"admin may stop another user's session", "POST", "/v1/sessions/" + container.SessionID + "/stop", testAdminKey, 200, "", ""},
		{"a non-container session may be deleted", "DELETE", "/v1/sessions/" + nonContainer.SessionID, aliceKey, 200, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.do(tt.method, tt.path, tt.key, nil)
			if tt.wantStatus == http.StatusOK {
				mustAPIStatus(t, tt.name, res, http.StatusOK)
				return
			}
			sessWantError(t, tt.name, res, tt.wantStatus, tt.wantCode, tt.wantField)
		})
	}
	if types := strings.Join(a.sessEventTypes(lockedSess.SessionID), ","); types != "created,deleted" {
		t.Fatalf("events of the session the user could not delete: got %s, want created,deleted (by the admin)", types)
	}
}

// TestDeleteUserEndsSessions: deleting a user ends their live sessions (running, paused,
// stopped) as an administrator would, charging their budget until then, and leaves other
// users' sessions alone. A retry after the user is gone ends any session left behind (204);
// with nothing left it is 404.
func TestDeleteUserEndsSessions(t *testing.T) {
	a := newSessionAPITest(t)
	carol, carolKey := a.sessUser("carol", map[string]any{"usage_limit": map[string]any{"type": "per_user", "interval": "daily", "hours": 5}})
	_, daveKey := a.sessUser("dave", nil)
	running := a.sessStart(carolKey, map[string]any{"image_id": "img"})
	paused := a.sessStart(carolKey, map[string]any{"image_id": "img"})
	mustAPIStatus(t, "pause", a.do("POST", "/v1/sessions/"+paused.SessionID+"/pause", carolKey, nil), http.StatusOK)
	gone := a.sessStart(carolKey, map[string]any{"image_id": "img"})
	mustAPIStatus(t, "delete one", a.do("DELETE", "/v1/sessions/"+gone.SessionID, carolKey, nil), http.StatusOK)
	other := a.sessStart(daveKey, map[string]any{"image_id": "img"})

	a.clock.T = a.clock.T.Add(time.Hour)
	mustAPIStatus(t, "delete user", a.do("DELETE", "/v1/users/"+carol, testAdminKey, nil), http.StatusNoContent)
	for _, id := range []string{running.SessionID, paused.SessionID} {
		got := a.sessGet(id)
		if got.Status != "deleted" || got.ExpirationReason == nil || *got.ExpirationReason != "admin_deleted" {
			t.Errorf("session %s after its user was deleted: %s %v, want deleted admin_deleted", id, got.Status, got.ExpirationReason)
		}
		if types := a.sessEventTypes(id); types[len(types)-1] != "deleted" {
			t.Errorf("session %s events %v, want deleted last", id, types)
		}
	}
	if types := strings.Join(a.sessEventTypes(gone.SessionID), ","); types != "created,deleted" {
		t.Errorf("session deleted before: events %s, want created,deleted (not ended twice)", types)
	}
	if got := a.sessGet(other.SessionID); got.Status != "running" {
		t.Errorf("another user's session: %s, want running", got.Status)
	}
	ss := ddbstore.Open(a.tb.Client, a.tb.Name).Sessions()
	bl, err := ss.GetLedger(t.Context(), "user#"+carol+"#daily")
	if err != nil {
		t.Fatal(err)
	}
	if bl.Ledger.OpenCount != 0 || bl.Ledger.ClosedMs != 2*time.Hour.Milliseconds() {
		t.Errorf("carol's ledger = %+v, want nothing open and 2 h used (two sessions charged for an hour)", bl.Ledger)
	}
	mustAPIStatus(t, "get deleted user", a.do("GET", "/v1/users/"+carol, testAdminKey, nil), http.StatusNotFound)
	sessWantError(t, "delete again", a.do("DELETE", "/v1/users/"+carol, testAdminKey, nil), http.StatusNotFound, "user_not_found", "")

	// A deletion that stopped after the directory part: the retry ends the sessions left.
	erin, erinKey := a.sessUser("erin", nil)
	left := a.sessStart(erinKey, map[string]any{"image_id": "img"})
	if err := a.store.DeleteUser(t.Context(), erin); err != nil {
		t.Fatal(err)
	}
	mustAPIStatus(t, "retry delete user", a.do("DELETE", "/v1/users/"+erin, testAdminKey, nil), http.StatusNoContent)
	if got := a.sessGet(left.SessionID); got.Status != "deleted" {
		t.Errorf("session left by an interrupted deletion: %s after the retry, want deleted", got.Status)
	}
	sessWantError(t, "delete erin again", a.do("DELETE", "/v1/users/"+erin, testAdminKey, nil), http.StatusNotFound, "user_not_found", "")
}

func TestSessionEvents(t *testing.T) {
	a := newSessionAPITest(t)
	alice, aliceKey := a.sessUser("alice", nil)
	_, bobKey := a.sessUser("bob", nil)
	s := a.sessStart(aliceKey, map[string]any{"image_id": "img"})
	a.clock.Advance(5 * time.Second)
	mustAPIStatus(t, "stop", a.do("POST", "/v1/sessions/"+s.SessionID+"/stop", testAdminKey, nil), http.StatusOK)

	res := a.do("GET", "/v1/sessions/"+s.SessionID+"/events", aliceKey, nil)
	mustAPIStatus(t, "events", res, http.StatusOK)
	var v sessionEventsView
	res.json(t, &v)
	type ev struct {
		typ, actor, reason, before, after string
		seq                               int64
	}
	want := []ev{
		{"created", "user:" + alice, "started", "", "running", 1},
		{"stopped", "admin", "admin_stopped", "running", "stopped", 2},
	}
	if v.SessionID != s.SessionID || len(v.Events) != len(want) {
		t.Fatalf("got %s with %d events, want %s with %d", v.SessionID, len(v.Events), s.SessionID, len(want))
	}
	for i, w := range want {
		e := v.Events[i]
		got := ev{string(e.Type), e.Actor, e.Reason, string(e.StatusBefore), string(e.StatusAfter), e.Seq}
		if got != w || e.EventID != lifecycle.EventID(s.SessionID, w.seq) || e.UserID != alice {
			t.Errorf("event %d: got %+v (%s), want %+v", i, got, e.EventID, w)
		}
	}
	if at := v.Events[1].At; !at.Equal(a.clock.Now()) {
		t.Errorf("stopped at: got %s, want %s", at, a.clock.Now())
	}
	sessWantError(t, "another user's", a.do("GET", "/v1/sessions/"+s.SessionID+"/events", bobKey, nil), http.StatusForbidden, "not_session_owner", "")
	sessWantError(t, "unknown", a.do("GET", "/v1/sessions/s_missing/events", aliceKey, nil), http.StatusNotFound, "session_not_found", "")
}

func TestMe(t *testing.T) {
	a := newAPITest(t)
	user := a.createUser("alice")
	userKeyID, userKey := a.issueKey(user, policy.RoleUser)
	adminKeyID, adminKey := a.issueKey(user, policy.RoleAdmin)
	tests := []struct {
		name, key string
		want      string
	}{
		{"bootstrap admin key", testAdminKey, `{"role":"admin","user_id":null,"key_id":"bootstrap"}`},
		{"user key", userKey, `{"role":"user","user_id":"` + user + `","key_id":"` + userKeyID + `"}`},
		{"issued admin key", adminKey, `{"role":"admin","user_id":"` + user + `","key_id":"` + adminKeyID + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.do("GET", "/v1/me", tt.key, nil)
			mustAPIStatus(t, "me", res, http.StatusOK)
			if got := strings.TrimSpace(string(res.Body)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
	sessWantError(t, "no key", a.do("GET", "/v1/me", "", nil), http.StatusUnauthorized, "missing_key", "")
}

// TestSessionRoutesWithoutTheService checks that an API built without the session service and
// sweeper says so with a 503 instead of failing.
func TestSessionRoutesWithoutTheService(t *testing.T) {
	h := New(Config{Directory: &keyDirectory{}, AdminKey: testAdminKey})
	tests := []struct {
		method, path, code string
	}{
		{"POST", "/v1/sessions", "sessions_unavailable"},
		{"GET", "/v1/sessions/s_1", "sessions_unavailable"},
		{"POST", "/v1/sessions/s_1/keepalive", "sessions_unavailable"},
		{"POST", "/v1/sessions/s_1/stop", "sessions_unavailable"},
		{"POST", "/v1/sweeps", "sweeps_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Header.Set("Authorization", "Bearer "+testAdminKey)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			res := apiResponse{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
			if res.Status != http.StatusServiceUnavailable || res.errorCode() != tt.code || res.Header.Get("Retry-After") == "" {
				t.Fatalf("got %d %s, want 503 %s with Retry-After", res.Status, res.Body, tt.code)
			}
		})
	}
}

// TestConsoleIsMounted checks that the browser console is served beside the API, without a
// key, and that the bare path redirects to it.
func TestConsoleIsMounted(t *testing.T) {
	h := New(Config{Directory: &keyDirectory{}, AdminKey: testAdminKey})
	tests := []struct {
		name, path   string
		wantStatus   int
		wantType     string
		wantLocation string
	}{
		{"index", "/console/", 200, "text/html; charset=utf-8", ""},
		{"script", "/console/js/app.js", 200, "text/javascript; charset=utf-8", ""},
		{"bare path redirects", "/console", 301, "", "/console/"},
		{"unknown file", "/console/nothing.html", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if w.Code != tt.wantStatus || (tt.wantType != "" && w.Header().Get("Content-Type") != tt.wantType) ||
				w.Header().Get("Location") != tt.wantLocation {
				t.Fatalf("GET %s: got %d %q location %q, want %d %q location %q", tt.path, w.Code,
					w.Header().Get("Content-Type"), w.Header().Get("Location"), tt.wantStatus, tt.wantType, tt.wantLocation)
			}
			if tt.wantStatus == 200 && w.Header().Get("Content-Security-Policy") == "" {
				t.Fatalf("GET %s: no Content-Security-Policy", tt.path)
			}
		})
	}
}
