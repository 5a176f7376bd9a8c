package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// apiStep is one request of a scenario and what must come back.
type apiStep struct {
	name       string
	method     string
	path       string
	key        string
	body       any
	opts       []apiReqOpt
	wantStatus int
	wantCode   string // error code, when the apiStep must fail
	wantField  string
	check      func(t *testing.T, res apiResponse)
}

func runAPISteps(t *testing.T, a *apiTest, steps []apiStep) {
	t.Helper()
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			res := a.do(s.method, s.path, s.key, s.body, s.opts...)
			if res.Status != s.wantStatus {
				t.Fatalf("%s %s: got %d %s, want %d", s.method, s.path, res.Status, res.Body, s.wantStatus)
			}
			if s.wantCode != "" && res.errorCode() != s.wantCode {
				t.Errorf("error code: got %q (%s), want %q", res.errorCode(), res.Body, s.wantCode)
			}
			if s.wantField != "" && res.errorField() != s.wantField {
				t.Errorf("error field: got %q (%s), want %q", res.errorField(), res.Body, s.wantField)
			}
			if s.check != nil {
				s.check(t, res)
			}
		})
	}
}

// decodeEffective decodes an effective-settings response.
func decodeEffective(t *testing.T, res apiResponse) effectiveSettingsView {
	t.Helper()
	var v effectiveSettingsView
	res.json(t, &v)
	return v
}

func testMount(bind string) map[string]any {
	return map[string]any{"bind": bind, "mode": "rw", "uid": 1000, "gid": 1000}
}

// TestIssue2DoneScenario walks the scenario that closes issue 2: three groups with different
// priorities, a user in two of them plus All Users, settings on each; effective settings with
// the right sources and volume_mapping merged; bad values rejected naming the setting; a
// stale If-Match changing nothing; a user key that cannot write settings; no key, 401; a user
// key reading its own effective settings but not another user's.
func TestIssue2DoneScenario(t *testing.T) {
	a := newAPITest(t)
	eng := a.createGroup("Engineering", 10)
	contractors := a.createGroup("Contractors", 20)
	ops := a.createGroup("Ops", 5)
	alice := a.createUser("alice")
	bob := a.createUser("bob")
	_, aliceKey := a.issueKey(alice, policy.RoleUser)

	var engVersion int64 // Engineering's version after its settings are in
	steps := []apiStep{
		{name: "alice joins Engineering", method: "PUT", path: "/v1/groups/" + eng + "/members/" + alice, key: testAdminKey, wantStatus: 204},
		{name: "alice joins Contractors", method: "PUT", path: "/v1/groups/" + contractors + "/members/" + alice, key: testAdminKey, wantStatus: 204},
		{name: "alice joins Engineering again (idempotent)", method: "PUT", path: "/v1/groups/" + eng + "/members/" + alice, key: testAdminKey, wantStatus: 204},
		{name: "bob joins Ops", method: "PUT", path: "/v1/groups/" + ops + "/members/" + bob, key: testAdminKey, wantStatus: 204},
		{name: "Engineering settings", method: "PATCH", path: "/v1/groups/" + eng + "/settings", key: testAdminKey, wantStatus: 200,
			body: map[string]any{"set": map[string]any{
				"keepalive_interval":   120,
				"allow_kasm_downloads": false,
				"volume_mapping":       map[string]any{"/data/eng": testMount("/eng"), "/shared": testMount("/shared-eng")},
			}},
			check: func(t *testing.T, res apiResponse) {
				var v groupSettingsView
				res.json(t, &v)
				if len(v.Settings) != 3 || v.Version < 2 {
					t.Fatalf("settings after patch: got %d settings at version %d, want 3 at version 2 or more", len(v.Settings), v.Version)
				}
				if got, want := res.Header.Get("ETag"), `"`+apiJSONString(v.Version)+`"`; got != want {
					t.Errorf("ETag: got %s, want %s", got, want)
				}
				engVersion = v.Version
			}},
		{name: "Contractors keepalive_interval", method: "PUT", path: "/v1/groups/" + contractors + "/settings/keepalive_interval", key: testAdminKey,
			body: map[string]any{"value": 600}, wantStatus: 200},
		{name: "Contractors max_kasms_per_user", method: "PUT", path: "/v1/groups/" + contractors + "/settings/max_kasms_per_user", key: testAdminKey,
			body: map[string]any{"value": 1}, wantStatus: 200},
		{name: "Contractors volume_mapping", method: "PUT", path: "/v1/groups/" + contractors + "/settings/volume_mapping", key: testAdminKey,
			body: map[string]any{"value": map[string]any{"/shared": testMount("/shared-contractors"), "/data/contractors": testMount("/contractors")}}, wantStatus: 200},
		{name: "Ops keepalive_interval (alice is not in Ops)", method: "PUT", path: "/v1/groups/" + ops + "/settings/keepalive_interval", key: testAdminKey,
			body: map[string]any{"value": 30}, wantStatus: 200},
		{name: "relation warning on a valid write", method: "PUT", path: "/v1/groups/" + ops + "/settings/keepalive_expiration", key: testAdminKey,
			body: map[string]any{"value": 40}, wantStatus: 200,
			check: func(t *testing.T, res apiResponse) {
				var v groupSettingsView
				res.json(t, &v)
				if len(v.Warnings) == 0 || v.Warnings[0].Code != settings.WarnKeepaliveExpiration {
					t.Fatalf("warnings: got %+v, want %s", v.Warnings, settings.WarnKeepaliveExpiration)
				}
			}},
		{name: "alice's effective settings", method: "GET", path: "/v1/users/" + alice + "/effective-settings", key: testAdminKey, wantStatus: 200,
			check: func(t *testing.T, res apiResponse) {
				v := decodeEffective(t, res)
				wantFrom := func(name, value, kind, groupID string) {
					t.Helper()
					e, ok := v.Settings[name]
					if !ok {
						t.Fatalf("%s missing from effective settings", name)
					}
					if string(e.Value) != value {
						t.Errorf("%s: got value %s, want %s", name, e.Value, value)
					}
					if e.Source.Kind != kind || (groupID != "" && (e.Source.Group == nil || e.Source.Group.ID != groupID)) {
						t.Errorf("%s: got source %+v, want %s %s", name, e.Source, kind, groupID)
					}
				}
				wantFrom("keepalive_interval", "120", settings.SourceKindGroup, eng)
				wantFrom("max_kasms_per_user", "1", settings.SourceKindGroup, contractors)
				wantFrom("allow_kasm_downloads", "false", settings.SourceKindGroup, eng)
				wantFrom("allow_kasm_audio", "true", settings.SourceKindGroup, policy.AllUsersGroupID)
				wantFrom("keepalive_expiration", "3600", settings.SourceKindDefault, "")
				vm := v.Settings["volume_mapping"]
				var mapping map[string]struct {
					Bind string `json:"bind"`
				}
				if err := json.Unmarshal(vm.Value, &mapping); err != nil {
					t.Fatalf("volume_mapping: %v", err)
				}
				wantBinds := map[string]string{"/data/eng": "/eng", "/data/contractors": "/contractors", "/shared": "/shared-eng"}
				if len(mapping) != len(wantBinds) {
					t.Errorf("volume_mapping: got %s, want host paths %v", vm.Value, wantBinds)
				}
				for host, bind := range wantBinds {
					if mapping[host].Bind != bind {
						t.Errorf("volume_mapping[%s].bind: got %q, want %q", host, mapping[host].Bind, bind)
					}
				}
				if vm.Source.Kind != settings.SourceKindGroups || len(vm.Source.Groups) != 2 ||
					vm.Source.Groups[0].ID != eng || vm.Source.Groups[1].ID != contractors {
					t.Errorf("volume_mapping source: got %+v, want groups [Engineering, Contractors]", vm.Source)
				}
				for _, w := range v.Warnings {
					if w.Code == settings.WarnKeepaliveExpiration {
						t.Errorf("alice gets Ops' warning %+v though she is not in Ops", w)
					}
				}
			}},
		{name: "bad value names the setting", method: "PUT", path: "/v1/groups/" + eng + "/settings/keepalive_interval", key: testAdminKey,
			body: map[string]any{"value": "120"}, wantStatus: 400, wantCode: policy.CodeInvalidSettingValue, wantField: "keepalive_interval",
			check: func(t *testing.T, res apiResponse) {
				if !strings.Contains(string(res.Body), "keepalive_interval must be") {
					t.Errorf("message: got %s, want it to name keepalive_interval and what it expects", res.Body)
				}
			}},
		{name: "out of range", method: "PUT", path: "/v1/groups/" + eng + "/settings/keepalive_interval", key: testAdminKey,
			body: map[string]any{"value": 0}, wantStatus: 400, wantField: "keepalive_interval"},
		{name: "float for int", method: "PUT", path: "/v1/groups/" + eng + "/settings/max_kasms_per_user", key: testAdminKey,
			body: map[string]any{"value": 2.5}, wantStatus: 400, wantField: "max_kasms_per_user"},
		{name: "string for bool", method: "PUT", path: "/v1/groups/" + eng + "/settings/allow_kasm_audio", key: testAdminKey,
			body: `{"value": "true"}`, wantStatus: 400, wantField: "allow_kasm_audio"},
		{name: "unknown setting", method: "PUT", path: "/v1/groups/" + eng + "/settings/allow_teleport", key: testAdminKey,
			body: map[string]any{"value": true}, wantStatus: 400, wantCode: policy.CodeUnknownSetting, wantField: "allow_teleport"},
		{name: "patch with one bad value writes nothing", method: "PATCH", path: "/v1/groups/" + eng + "/settings", key: testAdminKey,
			body:       map[string]any{"set": map[string]any{"allow_kasm_audio": true, "keepalive_expiration_action": "explode"}},
			wantStatus: 400, wantField: "keepalive_expiration_action",
			check: func(t *testing.T, res apiResponse) {
				v := a.groupSettings(eng)
				if _, written := v.Settings["allow_kasm_audio"]; written || v.Version != engVersion {
					t.Fatalf("after failed patch: got settings %v at version %d, want unchanged at version %d", v.Settings, v.Version, engVersion)
				}
			}},
		{name: "write at the current version", method: "PUT", path: "/v1/groups/" + eng + "/settings/keepalive_interval", key: testAdminKey,
			body: map[string]any{"value": 90}, opts: []apiReqOpt{withIfMatchOf(&engVersion)}, wantStatus: 200},
		{name: "stale If-Match is 412", method: "PUT", path: "/v1/groups/" + eng + "/settings/keepalive_interval", key: testAdminKey,
			body: map[string]any{"value": 60}, opts: []apiReqOpt{withIfMatchOf(&engVersion)}, wantStatus: 412, wantCode: "version_mismatch",
			check: func(t *testing.T, res apiResponse) {
				v := a.groupSettings(eng)
				if string(v.Settings["keepalive_interval"]) != "90" || v.Version != engVersion+1 {
					t.Fatalf("after stale write: got keepalive_interval %s at version %d, want 90 at %d", v.Settings["keepalive_interval"], v.Version, engVersion+1)
				}
			}},
		{name: "history records the admin's changes", method: "GET", path: "/v1/groups/" + eng + "/history", key: testAdminKey, wantStatus: 200,
			check: func(t *testing.T, res apiResponse) {
				var h struct {
					History []policy.HistoryEntry `json:"history"`
				}
				res.json(t, &h)
				if len(h.History) != 4 {
					t.Fatalf("history: got %d entries, want 4 (3 from the patch, 1 put)", len(h.History))
				}
				last := h.History[0]
				if last.Setting != "keepalive_interval" || string(last.Old) != "120" || string(last.New) != "90" || last.Actor != "admin" {
					t.Errorf("newest entry: got %+v, want keepalive_interval 120 → 90 by admin", last)
				}
			}},
		{name: "user key cannot write settings", method: "PUT", path: "/v1/groups/" + eng + "/settings/keepalive_interval", key: aliceKey,
			body: map[string]any{"value": 1}, wantStatus: 403, wantCode: "forbidden"},
		{name: "user key cannot list groups", method: "GET", path: "/v1/groups", key: aliceKey, wantStatus: 403, wantCode: "forbidden"},
		{name: "no key is 401", method: "GET", path: "/v1/users/" + alice + "/effective-settings", wantStatus: 401, wantCode: "missing_key"},
		{name: "user key reads its own effective settings", method: "GET", path: "/v1/users/" + alice + "/effective-settings", key: aliceKey, wantStatus: 200,
			check: func(t *testing.T, res apiResponse) {
				if v := decodeEffective(t, res); v.UserID != alice || string(v.Settings["keepalive_interval"].Value) != "90" {
					t.Fatalf("got user %s keepalive_interval %s, want %s 90", v.UserID, v.Settings["keepalive_interval"].Value, alice)
				}
			}},
		{name: "user key cannot read another user's", method: "GET", path: "/v1/users/" + bob + "/effective-settings", key: aliceKey, wantStatus: 403, wantCode: "forbidden"},
		{name: "user key reads its own user", method: "GET", path: "/v1/users/" + alice, key: aliceKey, wantStatus: 200,
			check: func(t *testing.T, res apiResponse) {
				var u policy.User
				res.json(t, &u)
				want := []string{policy.AllUsersGroupID, contractors, eng}
				if contractors > eng {
					want = []string{policy.AllUsersGroupID, eng, contractors}
				}
				if strings.Join(u.GroupIDs, ",") != strings.Join(want, ",") {
					t.Fatalf("groups: got %v, want %v", u.GroupIDs, want)
				}
			}},
		{name: "user key reads the catalog", method: "GET", path: "/v1/settings", key: aliceKey, wantStatus: 200},
		{name: "bob's effective settings come from Ops", method: "GET", path: "/v1/users/" + bob + "/effective-settings", key: testAdminKey, wantStatus: 200,
			check: func(t *testing.T, res apiResponse) {
				v := decodeEffective(t, res)
				if e := v.Settings["keepalive_interval"]; string(e.Value) != "30" || e.Source.Group == nil || e.Source.Group.Name != "Ops" {
					t.Fatalf("keepalive_interval: got %s from %+v, want 30 from Ops", e.Value, e.Source)
				}
				found := false
				for _, w := range v.Warnings {
					found = found || w.Code == settings.WarnKeepaliveExpiration
				}
				if !found {
					t.Errorf("warnings: got %+v, want %s", v.Warnings, settings.WarnKeepaliveExpiration)
				}
			}},
	}
	runAPISteps(t, a, steps)
}

func TestGroupsAndMembers(t *testing.T) {
	a := newAPITest(t)
	sales := a.createGroup("Sales", 100)
	carol := a.createUser("carol")
	var salesVersion int64
	steps := []apiStep{
		{name: "default priority", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "  Support  ", "description": "first line"},
			wantStatus: 201, check: func(t *testing.T, res apiResponse) {
				var g policy.Group
				res.json(t, &g)
				if g.Name != "Support" || g.Priority != policy.DefaultGroupPriority || g.Version != 1 || g.Description != "first line" {
					t.Fatalf("got %+v, want Support at priority %d version 1", g, policy.DefaultGroupPriority)
				}
				if res.Header.Get("Location") != "/v1/groups/"+g.ID || res.Header.Get("ETag") != `"1"` {
					t.Errorf("headers: got Location %q ETag %q", res.Header.Get("Location"), res.Header.Get("ETag"))
				}
			}},
		{name: "duplicate name", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "sales"}, wantStatus: 409, wantCode: "group_name_taken"},
		{name: "All Users name is taken", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "All Users"}, wantStatus: 409},
		{name: "name missing", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"priority": 5}, wantStatus: 400, wantField: "name"},
		{name: "blank name", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "   "}, wantStatus: 400, wantField: "name"},
		{name: "name too long", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": strings.Repeat("é", 129)}, wantStatus: 400, wantField: "name"},
		{name: "name of 128 characters", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": strings.Repeat("é", 128)}, wantStatus: 201},
		{name: "control character in name", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "a\u0000b"}, wantStatus: 400, wantField: "name"},
		{name: "priority 0", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "p0", "priority": 0}, wantStatus: 400, wantField: "priority"},
		{name: "priority 4096", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "p4096", "priority": 4096}, wantStatus: 400, wantField: "priority"},
		{name: "priority not whole", method: "POST", path: "/v1/groups", key: testAdminKey, body: `{"name":"pf","priority":1.5}`, wantStatus: 400, wantField: "priority"},
		{name: "description too long", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "d", "description": strings.Repeat("x", 1025)}, wantStatus: 400, wantField: "description"},
		{name: "unknown field", method: "POST", path: "/v1/groups", key: testAdminKey, body: map[string]any{"name": "u", "priorty": 3}, wantStatus: 400, wantCode: "unknown_field", wantField: "priorty"},
		{name: "list is ordered by priority", method: "GET", path: "/v1/groups", key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			var l struct{ Groups []policy.Group }
			res.json(t, &l)
			if len(l.Groups) != 4 || l.Groups[0].ID != sales || l.Groups[1].ID != policy.AllUsersGroupID {
				t.Fatalf("groups: got %+v, want Sales, All Users, then the two new ones", l.Groups)
			}
		}},
		{name: "get", method: "GET", path: "/v1/groups/" + sales, key: testAdminKey, wantStatus: 200},
		{name: "get unknown", method: "GET", path: "/v1/groups/g_nope", key: testAdminKey, wantStatus: 404, wantCode: "group_not_found"},
		{name: "patch priority", method: "PATCH", path: "/v1/groups/" + sales, key: testAdminKey, body: map[string]any{"priority": 50}, opts: []apiReqOpt{withIfMatch(1)},
			wantStatus: 200, check: func(t *testing.T, res apiResponse) {
				var g policy.Group
				res.json(t, &g)
				if g.Priority != 50 || g.Version != 2 {
					t.Fatalf("got priority %d version %d, want 50 at 2", g.Priority, g.Version)
				}
			}},
		{name: "patch with stale version", method: "PATCH", path: "/v1/groups/" + sales, key: testAdminKey, body: map[string]any{"name": "Sold"}, opts: []apiReqOpt{withIfMatch(1)},
			wantStatus: 412, wantCode: "version_mismatch"},
		{name: "patch with nothing", method: "PATCH", path: "/v1/groups/" + sales, key: testAdminKey, body: map[string]any{}, wantStatus: 400, wantCode: "empty_patch"},
		{name: "malformed If-Match", method: "PATCH", path: "/v1/groups/" + sales, key: testAdminKey, body: map[string]any{"name": "x"},
			opts: []apiReqOpt{withAPIHeader("If-Match", "latest")}, wantStatus: 400, wantCode: "invalid_if_match", wantField: "If-Match"},
		{name: "name unchanged after stale patch", method: "GET", path: "/v1/groups/" + sales, key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			var g policy.Group
			res.json(t, &g)
			if g.Name != "Sales" || g.Version != 2 {
				t.Fatalf("got %q at version %d, want Sales at 2", g.Name, g.Version)
			}
		}},
		{name: "add member", method: "PUT", path: "/v1/groups/" + sales + "/members/" + carol, key: testAdminKey, wantStatus: 204},
		{name: "add unknown user", method: "PUT", path: "/v1/groups/" + sales + "/members/u_nobody", key: testAdminKey, wantStatus: 404, wantCode: "user_not_found"},
		{name: "add to unknown group", method: "PUT", path: "/v1/groups/g_nope/members/" + carol, key: testAdminKey, wantStatus: 404, wantCode: "group_not_found"},
		{name: "membership with a stale If-Match is 412 (issue 20: membership writes are versioned)", method: "PUT", path: "/v1/groups/" + sales + "/members/" + carol, key: testAdminKey, opts: []apiReqOpt{withIfMatch(2)},
			wantStatus: 412, wantCode: "version_mismatch"},
		{name: "add to All Users is a no-op", method: "PUT", path: "/v1/groups/all-users/members/" + carol, key: testAdminKey, wantStatus: 204},
		{name: "members", method: "GET", path: "/v1/groups/" + sales + "/members", key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			var m struct{ Members []policy.User }
			res.json(t, &m)
			if len(m.Members) != 1 || m.Members[0].ID != carol {
				t.Fatalf("members: got %+v, want carol", m.Members)
			}
		}},
		{name: "All Users lists everyone", method: "GET", path: "/v1/groups/all-users/members", key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			var m struct{ Members []policy.User }
			res.json(t, &m)
			if len(m.Members) != 1 {
				t.Fatalf("members: got %+v, want carol", m.Members)
			}
		}},
		{name: "remove from All Users", method: "DELETE", path: "/v1/groups/all-users/members/" + carol, key: testAdminKey, wantStatus: 409, wantCode: "all_users_membership"},
		{name: "remove member", method: "DELETE", path: "/v1/groups/" + sales + "/members/" + carol, key: testAdminKey, wantStatus: 204},
		{name: "remove again", method: "DELETE", path: "/v1/groups/" + sales + "/members/" + carol, key: testAdminKey, wantStatus: 404},
		{name: "delete All Users", method: "DELETE", path: "/v1/groups/all-users", key: testAdminKey, wantStatus: 409, wantCode: "builtin_group"},
		{name: "membership changes move the version", method: "GET", path: "/v1/groups/" + sales, key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			var g policy.Group
			res.json(t, &g)
			if g.Version <= 2 || res.Header.Get("ETag") != `"`+apiJSONString(g.Version)+`"` {
				t.Fatalf("got version %d ETag %s, want > 2 and matching", g.Version, res.Header.Get("ETag"))
			}
			salesVersion = g.Version
		}},
		{name: "delete with stale version", method: "DELETE", path: "/v1/groups/" + sales, key: testAdminKey, opts: []apiReqOpt{withIfMatch(2)}, wantStatus: 412},
		{name: "delete", method: "DELETE", path: "/v1/groups/" + sales, key: testAdminKey, opts: []apiReqOpt{withIfMatchOf(&salesVersion)}, wantStatus: 204},
		{name: "gone", method: "GET", path: "/v1/groups/" + sales, key: testAdminKey, wantStatus: 404},
		{name: "history of unknown group", method: "GET", path: "/v1/groups/" + sales + "/history", key: testAdminKey, wantStatus: 404},
		{name: "empty history", method: "GET", path: "/v1/groups/all-users/history", key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			if !strings.Contains(string(res.Body), `"history":[]`) {
				t.Fatalf("got %s, want an empty history list", res.Body)
			}
		}},
	}
	runAPISteps(t, a, steps)
}

func TestGroupSettingsWrites(t *testing.T) {
	a := newAPITest(t)
	g := a.createGroup("Lab", 300)
	steps := []apiStep{
		{name: "get empty", method: "GET", path: "/v1/groups/" + g + "/settings", key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			if !strings.Contains(string(res.Body), `"settings":{}`) || !strings.Contains(string(res.Body), `"warnings":[]`) {
				t.Fatalf("got %s, want empty settings and warnings", res.Body)
			}
		}},
		{name: "put canonicalises", method: "PUT", path: "/v1/groups/" + g + "/settings/keepalive_interval", key: testAdminKey, body: `{"value": 3e2}`, wantStatus: 200,
			check: func(t *testing.T, res apiResponse) {
				var v groupSettingsView
				res.json(t, &v)
				if string(v.Settings["keepalive_interval"]) != "300" {
					t.Fatalf("got %s, want 300", v.Settings["keepalive_interval"])
				}
			}},
		{name: "value missing", method: "PUT", path: "/v1/groups/" + g + "/settings/keepalive_interval", key: testAdminKey, body: map[string]any{}, wantStatus: 400, wantField: "value"},
		{name: "value null", method: "PUT", path: "/v1/groups/" + g + "/settings/keepalive_interval", key: testAdminKey, body: `{"value": null}`, wantStatus: 400, wantField: "keepalive_interval"},
		{name: "patch set and unset", method: "PATCH", path: "/v1/groups/" + g + "/settings", key: testAdminKey,
			body:       map[string]any{"set": map[string]any{"allow_kasm_audio": true, "usage_limit": map[string]any{"type": "per_user", "interval": "daily", "hours": 2}}, "unset": []string{"keepalive_interval"}},
			wantStatus: 200, check: func(t *testing.T, res apiResponse) {
				var v groupSettingsView
				res.json(t, &v)
				if _, ok := v.Settings["keepalive_interval"]; ok || len(v.Settings) != 2 {
					t.Fatalf("got %v, want allow_kasm_audio and usage_limit only", v.Settings)
				}
			}},
		{name: "patch empty", method: "PATCH", path: "/v1/groups/" + g + "/settings", key: testAdminKey, body: map[string]any{"set": map[string]any{}}, wantStatus: 400, wantCode: "empty_patch"},
		{name: "patch set and unset the same", method: "PATCH", path: "/v1/groups/" + g + "/settings", key: testAdminKey,
			body: map[string]any{"set": map[string]any{"allow_kasm_audio": false}, "unset": []string{"allow_kasm_audio"}}, wantStatus: 400, wantField: "allow_kasm_audio"},
		{name: "patch unset unknown", method: "PATCH", path: "/v1/groups/" + g + "/settings", key: testAdminKey, body: map[string]any{"unset": []string{"nope"}}, wantStatus: 400, wantField: "nope"},
		{name: "patch malformed usage_limit", method: "PATCH", path: "/v1/groups/" + g + "/settings", key: testAdminKey,
			body: map[string]any{"set": map[string]any{"usage_limit": map[string]any{"type": "per_user", "hours": 2}}}, wantStatus: 400, wantField: "usage_limit"},
		{name: "delete one", method: "DELETE", path: "/v1/groups/" + g + "/settings/allow_kasm_audio", key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			var v groupSettingsView
			res.json(t, &v)
			if _, ok := v.Settings["allow_kasm_audio"]; ok {
				t.Fatalf("got %v, want allow_kasm_audio gone", v.Settings)
			}
		}},
		{name: "delete unknown setting", method: "DELETE", path: "/v1/groups/" + g + "/settings/nope", key: testAdminKey, wantStatus: 400, wantCode: policy.CodeUnknownSetting},
		{name: "delete with stale version", method: "DELETE", path: "/v1/groups/" + g + "/settings/usage_limit", key: testAdminKey, opts: []apiReqOpt{withIfMatch(1)}, wantStatus: 412},
		{name: "put on unknown group", method: "PUT", path: "/v1/groups/g_nope/settings/allow_kasm_audio", key: testAdminKey, body: map[string]any{"value": true}, wantStatus: 404},
		{name: "auto_add_local_users", method: "PUT", path: "/v1/groups/" + g + "/settings/auto_add_local_users", key: testAdminKey, body: map[string]any{"value": true}, wantStatus: 200},
		{name: "new users join auto-add groups", method: "POST", path: "/v1/users", key: testAdminKey, body: map[string]any{"username": "dave@example.com"}, wantStatus: 201,
			check: func(t *testing.T, res apiResponse) {
				var u policy.User
				res.json(t, &u)
				if strings.Join(u.GroupIDs, ",") != policy.AllUsersGroupID+","+g {
					t.Fatalf("groups: got %v, want [all-users %s]", u.GroupIDs, g)
				}
			}},
	}
	runAPISteps(t, a, steps)
}

func TestUsersAndKeys(t *testing.T) {
	a := newAPITest(t)
	erin := a.createUser("erin")
	frank := a.createUser("frank")
	erinKeyID, erinKey := a.issueKey(erin, policy.RoleUser)
	_, frankAdminKey := a.issueKey(frank, policy.RoleAdmin)
	steps := []apiStep{
		{name: "new user is in All Users", method: "POST", path: "/v1/users", key: testAdminKey, body: map[string]any{"username": "gina"}, wantStatus: 201,
			check: func(t *testing.T, res apiResponse) {
				var u policy.User
				res.json(t, &u)
				if len(u.GroupIDs) != 1 || u.GroupIDs[0] != policy.AllUsersGroupID || !strings.HasPrefix(u.ID, "u_") {
					t.Fatalf("got %+v, want a u_ id in all-users", u)
				}
			}},
		{name: "duplicate username", method: "POST", path: "/v1/users", key: testAdminKey, body: map[string]any{"username": "Erin"}, wantStatus: 409, wantCode: "username_taken"},
		{name: "username with slash", method: "POST", path: "/v1/users", key: testAdminKey, body: map[string]any{"username": "../etc"}, wantStatus: 400, wantField: "username"},
		{name: "username missing", method: "POST", path: "/v1/users", key: testAdminKey, body: map[string]any{}, wantStatus: 400, wantField: "username"},
		{name: "list users", method: "GET", path: "/v1/users", key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			var l struct{ Users []policy.User }
			res.json(t, &l)
			if len(l.Users) != 3 || l.Users[0].Username != "erin" {
				t.Fatalf("users: got %+v, want erin, frank, gina", l.Users)
			}
		}},
		{name: "user key cannot list users", method: "GET", path: "/v1/users", key: erinKey, wantStatus: 403},
		{name: "user key cannot read another user", method: "GET", path: "/v1/users/" + frank, key: erinKey, wantStatus: 403},
		{name: "user key cannot issue itself keys", method: "POST", path: "/v1/users/" + erin + "/keys", key: erinKey, wantStatus: 403},
		{name: "user key cannot list its keys", method: "GET", path: "/v1/users/" + erin + "/keys", key: erinKey, wantStatus: 403},
		{name: "issued admin key may do admin things", method: "GET", path: "/v1/groups", key: frankAdminKey, wantStatus: 200},
		{name: "issued admin key reads another user", method: "GET", path: "/v1/users/" + erin, key: frankAdminKey, wantStatus: 200},
		{name: "issue with bad role", method: "POST", path: "/v1/users/" + erin + "/keys", key: testAdminKey, body: map[string]any{"role": "root"}, wantStatus: 400, wantField: "role"},
		{name: "issue without body", method: "POST", path: "/v1/users/" + erin + "/keys", key: testAdminKey, wantStatus: 201, check: func(t *testing.T, res apiResponse) {
			var k issuedKeyView
			res.json(t, &k)
			if k.Role != policy.RoleUser || !strings.HasPrefix(k.Secret, "wsp_"+k.KeyID+"_") {
				t.Fatalf("got %+v, want a user key wsp_<key_id>_…", k)
			}
		}},
		{name: "issue for unknown user", method: "POST", path: "/v1/users/u_nobody/keys", key: testAdminKey, wantStatus: 404},
		{name: "list keys shows no secret", method: "GET", path: "/v1/users/" + erin + "/keys", key: testAdminKey, wantStatus: 200, check: func(t *testing.T, res apiResponse) {
			var l struct{ Keys []map[string]any }
			res.json(t, &l)
			if len(l.Keys) != 2 {
				t.Fatalf("keys: got %d, want 2", len(l.Keys))
			}
			for _, k := range l.Keys {
				if len(k) != 4 || k["secret"] != nil || k["hash"] != nil {
					t.Errorf("listed key: got %v, want only key_id, user_id, role, created_at", k)
				}
			}
			secret := erinKey[strings.LastIndexByte(erinKey, '_')+1:]
			if strings.Contains(string(res.Body), secret) {
				t.Errorf("listing holds the secret")
			}
		}},
		{name: "list keys of unknown user", method: "GET", path: "/v1/users/u_nobody/keys", key: testAdminKey, wantStatus: 404},
		{name: "key works before revocation", method: "GET", path: "/v1/users/" + erin, key: erinKey, wantStatus: 200},
		{name: "revoke", method: "DELETE", path: "/v1/users/" + erin + "/keys/" + erinKeyID, key: testAdminKey, wantStatus: 204},
		{name: "revoked key is refused at once", method: "GET", path: "/v1/users/" + erin, key: erinKey, wantStatus: 401, wantCode: "invalid_key"},
		{name: "revoke again", method: "DELETE", path: "/v1/users/" + erin + "/keys/" + erinKeyID, key: testAdminKey, wantStatus: 404},
		{name: "delete user", method: "DELETE", path: "/v1/users/" + frank, key: testAdminKey, wantStatus: 204},
		{name: "deleted user's key is refused", method: "GET", path: "/v1/groups", key: frankAdminKey, wantStatus: 401, wantCode: "invalid_key"},
		{name: "deleted user is gone", method: "GET", path: "/v1/users/" + frank, key: testAdminKey, wantStatus: 404},
		{name: "effective settings of unknown user", method: "GET", path: "/v1/users/u_nobody/effective-settings", key: testAdminKey, wantStatus: 404},
	}
	runAPISteps(t, a, steps)
}
