package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"wspolicy/internal/policy"
)

// hostileBodies are request bodies no write route may answer with anything but a 4xx.
func hostileBodies() map[string]string {
	nest := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	return map[string]string{
		"empty":                 "",
		"whitespace":            " \n\t ",
		"null":                  "null",
		"array":                 "[]",
		"array of object":       `[{"name":"x"}]`,
		"string":                `"name"`,
		"number":                "5",
		"true":                  "true",
		"open brace":            "{",
		"close brace":           "}",
		"two objects":           `{"name":"a"}{"name":"b"}`,
		"trailing comma":        `{"name":"a",}`,
		"byte order mark":       "\xef\xbb\xbf{}",
		"invalid utf-8":         "{\"name\":\"\xff\xfe\"}",
		"number for name":       `{"name": 5}`,
		"object for name":       `{"name": {}}`,
		"unknown field":         `{"bogus": 1}`,
		"null value":            `{"value": null}`,
		"huge number value":     `{"value": 1e999}`,
		"long digits value":     `{"value": 123456789012345678901234567890}`,
		"string value":          `{"value": "x"}`,
		"deep value":            `{"value": ` + nest(19) + `}`,
		"deeper than limit":     `{"value": ` + nest(5000) + `}`,
		"very deep arrays":      `{"value": ` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
		"set not object":        `{"set": []}`,
		"set null value":        `{"set": {"keepalive_interval": null}}`,
		"set empty name":        `{"set": {"": 1}}`,
		"set bad value":         `{"set": {"keepalive_interval": "soon"}}`,
		"unset not list":        `{"unset": "keepalive_interval"}`,
		"unset numbers":         `{"unset": [1, 2]}`,
		"unset empty name":      `{"unset": [""]}`,
		"role number":           `{"role": 1}`,
		"role unknown":          `{"role": "root"}`,
		"priority string":       `{"name": "x", "priority": "1"}`,
		"priority huge":         `{"name": "x", "priority": 99999999999999999999}`,
		"username slash":        `{"username": "a/b"}`,
		"username huge":         `{"username": "` + strings.Repeat("u", 5000) + `"}`,
		"one megabyte":          `{"name": "` + strings.Repeat("a", 1<<20) + `"}`,
		"one megabyte of space": `{` + strings.Repeat(" ", 1<<20) + `}`,
		"nul bytes":             "{\"name\":\"a\x00\"}",
		"user_id number":        `{"user_id": 5, "image_id": "img"}`,
		"user_id slash":         `{"user_id": "../u", "image_id": "img"}`,
		"user_id huge":          `{"user_id": "` + strings.Repeat("u", 5000) + `", "image_id": "img"}`,
		"image_id number":       `{"image_id": 5}`,
		"image_id control":      "{\"image_id\": \"a\\u0000b\"}",
		"image_id huge":         `{"image_id": "` + strings.Repeat("i", 5000) + `"}`,
		"container string":      `{"image_id": "img", "container": "true"}`,
		"idle_seconds negative": `{"idle_seconds": -1}`,
		"idle_seconds string":   `{"idle_seconds": "5"}`,
		"idle_seconds huge":     `{"idle_seconds": 1e999}`,
		"idle_seconds null obj": `{"idle_seconds": {}}`,
		"dry_run string":        `{"dry_run": "true"}`,
		"reuse string":          `{"image_id": "img", "reuse": "true"}`,
		"host_path number":      `{"host_path": 5, "bind": "/b", "mode": "rw", "uid": 0, "gid": 0}`,
		"host_path twice":       `{"host_path": "/a", "host_path": "/c", "bind": "/b", "mode": "rw", "uid": 0, "gid": 0}`,
		"host_path traversal":   `{"host_path": "/a/../../etc", "bind": "/b", "mode": "rw", "uid": 0, "gid": 0}`,
		"bind relative":         `{"host_path": "/a", "bind": "b", "mode": "rw", "uid": 0, "gid": 0}`,
		"uid huge":              `{"host_path": "/a", "bind": "/b", "mode": "rw", "uid": 1e999, "gid": 0}`,
		"mode unknown":          `{"host_path": "/a", "bind": "/b", "mode": "wx", "uid": 0, "gid": 0}`,
		"dry_run number":        `{"dry_run": 1}`,
	}
}

// TestHostileBodiesNeverYieldA500 throws malformed bodies at every route that reads one and
// asserts a 4xx each time, then that the group and the session the writes aimed at are exactly
// as before and no session was started.
func TestHostileBodiesNeverYieldA500(t *testing.T) {
	a := newSessionAPITest(t)
	group := a.createGroup("Target", 77)
	user := a.createUser("target")
	before := a.groupSettings(group)
	session := a.sessStart(testAdminKey, map[string]any{"user_id": user, "image_id": "img"})
	// Routes whose body is optional: an empty (or blank) body is a valid request there.
	optional := map[string]bool{
		"/v1/users/" + user + "/keys":                      true,
		"/v1/sessions/" + session.SessionID + "/keepalive": true,
		"/v1/sweeps": true,
	}
	writes := []struct{ method, path string }{
		{"POST", "/v1/groups"},
		{"PATCH", "/v1/groups/" + group},
		{"PATCH", "/v1/groups/" + group + "/settings"},
		{"PUT", "/v1/groups/" + group + "/settings/keepalive_interval"},
		{"PUT", "/v1/groups/" + group + "/settings/volume_mapping"},
		{"PUT", "/v1/groups/" + group + "/settings/usage_limit"},
		{"PUT", "/v1/groups/" + group + "/settings/allow_kasm_audio"},
		{"POST", "/v1/users"},
		{"POST", "/v1/users/" + user + "/keys"},
		{"POST", "/v1/users/" + user + "/storage-mappings"},
		{"POST", "/v1/sessions"},
		{"POST", "/v1/sessions/" + session.SessionID + "/keepalive"},
		{"POST", "/v1/sweeps"},
	}
	for _, w := range writes {
		for name, body := range hostileBodies() {
			t.Run(w.method+" "+w.path+"/"+name, func(t *testing.T) {
				res := a.do(w.method, w.path, testAdminKey, body)
				if res.Status < 400 || res.Status >= 500 {
					// An empty body is fine where the body is optional.
					if !(optional[w.path] && strings.TrimSpace(body) == "" && res.Status < 300) {
						t.Fatalf("got %d %.300s, want a 4xx", res.Status, res.Body)
					}
				}
				if res.Status >= 400 && res.errorCode() == "" {
					t.Fatalf("got %d %.300s, want a JSON error with a code", res.Status, res.Body)
				}
			})
		}
	}
	after := a.groupSettings(group)
	if after.Version != before.Version || len(after.Settings) != 0 {
		t.Fatalf("target group after hostile writes: got %d settings at version %d, want none at version %d", len(after.Settings), after.Version, before.Version)
	}
	if got := a.sessGet(session.SessionID); got.Status != "running" || !got.Connected {
		t.Fatalf("target session after hostile writes: got %s connected=%v, want running and connected", got.Status, got.Connected)
	}
	var mappings storageMappingListView
	res := a.do("GET", "/v1/users/"+user+"/storage-mappings", testAdminKey, nil)
	mustAPIStatus(t, "list storage mappings", res, http.StatusOK)
	if res.json(t, &mappings); len(mappings.StorageMappings) != 0 {
		t.Fatalf("storage mappings after hostile writes: got %d, want none", len(mappings.StorageMappings))
	}
	res = a.do("GET", "/v1/sessions", testAdminKey, nil)
	mustAPIStatus(t, "list sessions", res, http.StatusOK)
	var list sessionListView
	res.json(t, &list)
	if len(list.Sessions) != 1 {
		t.Fatalf("sessions after hostile writes: got %d, want only the target", len(list.Sessions))
	}
}

// TestMalformedIDsNeverReachTheDatabase checks that ill-formed path ids and setting names are
// refused with 400 before any database request.
func TestMalformedIDsNeverReachTheDatabase(t *testing.T) {
	a := newAPITest(t)
	long := strings.Repeat("a", 65)
	tests := []struct {
		name, method, path  string
		wantCode, wantField string
	}{
		{"space", "GET", "/v1/groups/a%20b", "invalid_id", "group_id"},
		{"slash", "GET", "/v1/groups/a%2Fb/settings", "invalid_id", "group_id"},
		{"leading dot", "DELETE", "/v1/groups/.hidden", "invalid_id", "group_id"},
		{"leading dash", "PATCH", "/v1/groups/-g", "invalid_id", "group_id"},
		{"too long", "GET", "/v1/users/" + long, "invalid_id", "user_id"},
		{"unicode", "GET", "/v1/users/%C3%A9", "invalid_id", "user_id"},
		{"nul", "GET", "/v1/users/a%00/effective-settings", "invalid_id", "user_id"},
		{"member user", "PUT", "/v1/groups/g_1/members/%3Cscript%3E", "invalid_id", "user_id"},
		{"key id", "DELETE", "/v1/users/u_1/keys/k%24", "invalid_id", "key_id"},
		{"mapping id", "DELETE", "/v1/users/u_1/storage-mappings/.m", "invalid_id", "mapping_id"},
		{"mapping user", "POST", "/v1/users/u%201/storage-mappings", "invalid_id", "user_id"},
		{"usage user", "GET", "/v1/users/-u/usage", "invalid_id", "user_id"},
		{"session id", "GET", "/v1/sessions/s%2F1", "invalid_id", "session_id"},
		{"keepalive session id", "POST", "/v1/sessions/" + long + "/keepalive", "invalid_id", "session_id"},
		{"deleted session id", "DELETE", "/v1/sessions/_s", "invalid_id", "session_id"},
		{"unknown setting", "PUT", "/v1/groups/g_1/settings/%00", "unknown_setting", "\x00"},
		{"setting with dots", "DELETE", "/v1/groups/g_1/settings/control_panel..x", "unknown_setting", "control_panel..x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.tb.ResetCalls()
			res := a.do(tt.method, tt.path, testAdminKey, nil)
			if res.Status != http.StatusBadRequest || res.errorCode() != tt.wantCode || res.errorField() != tt.wantField {
				t.Fatalf("%s %s: got %d %s, want 400 %s naming %q", tt.method, tt.path, res.Status, res.Body, tt.wantCode, tt.wantField)
			}
			if n := a.tb.Calls(); n != 0 {
				t.Fatalf("%s %s: %d database requests, want none", tt.method, tt.path, n)
			}
		})
	}
}

// TestVerifiedKeysAddNoDatabaseRead checks that after its first use a key costs no database
// request until the cache TTL runs out, and that the bootstrap key never costs one.
func TestVerifiedKeysAddNoDatabaseRead(t *testing.T) {
	a := newAPITest(t)
	user := a.createUser("cached")
	_, key := a.issueKey(user, policy.RoleUser)
	calls := func(k string) int64 {
		t.Helper()
		a.tb.ResetCalls()
		mustAPIStatus(t, "catalog", a.do("GET", "/v1/settings", k, nil), http.StatusOK)
		return a.tb.Calls()
	}
	tests := []struct {
		name    string
		key     string
		advance int // seconds to move the clock first
		want    int64
	}{
		{name: "bootstrap key", key: testAdminKey, want: 0},
		{name: "first use reads the key", key: key, want: 1},
		{name: "second use is cached", key: key, want: 0},
		{name: "still cached after 29s", key: key, advance: 29, want: 0},
		{name: "read again after the TTL", key: key, advance: 1, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.clock.Advance(apiSeconds(tt.advance))
			if got := calls(tt.key); got != tt.want {
				t.Fatalf("database requests: got %d, want %d", got, tt.want)
			}
		})
	}
}
