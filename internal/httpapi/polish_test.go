package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"wspolicy/internal/directory"
	"wspolicy/internal/policy"
)

// TestUserKeyOnAdminRouteSaysAdminKeyNeeded: a user key on an administrators' route is told
// that an admin key is needed, not merely that it may not.
func TestUserKeyOnAdminRouteSaysAdminKeyNeeded(t *testing.T) {
	a := newAPITest(t)
	u := a.createUser("plain")
	_, key := a.issueKey(u, policy.RoleUser)
	for _, path := range []string{"/v1/groups", "/v1/users"} {
		res := a.do("GET", path, key, nil)
		mustAPIStatus(t, "GET "+path+" with a user key", res, http.StatusForbidden)
		var body errorBody
		res.json(t, &body)
		if body.Error.Code != "forbidden" || !strings.Contains(body.Error.Message, "needs an admin key") {
			t.Errorf("GET %s: got %+v, want code forbidden and a message that an admin key is needed", path, body.Error)
		}
	}
}

// TestKeyLabels: a key may carry a name, shown when it is issued and in the list; a name too
// long or with control characters is a 400 on the field.
func TestKeyLabels(t *testing.T) {
	a := newAPITest(t)
	u := a.createUser("labelled")
	res := a.do("POST", "/v1/users/"+u+"/keys", testAdminKey, map[string]any{"name": "  laptop "})
	mustAPIStatus(t, "issue a named key", res, http.StatusCreated)
	var issued issuedKeyView
	res.json(t, &issued)
	if issued.Name != "laptop" {
		t.Errorf("issued key name %q, want laptop (trimmed)", issued.Name)
	}
	mustAPIStatus(t, "issue an unnamed key", a.do("POST", "/v1/users/"+u+"/keys", testAdminKey, nil), http.StatusCreated)
	res = a.do("GET", "/v1/users/"+u+"/keys", testAdminKey, nil)
	mustAPIStatus(t, "list keys", res, http.StatusOK)
	var list struct {
		Keys []map[string]any `json:"keys"`
	}
	res.json(t, &list)
	var names []string
	for _, k := range list.Keys {
		if n, ok := k["name"].(string); ok {
			names = append(names, n)
		}
	}
	if len(list.Keys) != 2 || !slices.Equal(names, []string{"laptop"}) {
		t.Errorf("listed keys %+v: want two, one named laptop", list.Keys)
	}
	for _, bad := range []string{strings.Repeat("x", 65), "line\nbreak"} {
		res := a.do("POST", "/v1/users/"+u+"/keys", testAdminKey, map[string]any{"name": bad})
		mustAPIStatus(t, "bad key name", res, http.StatusBadRequest)
		if res.errorField() != "name" {
			t.Errorf("bad name %q: field %q, want name", bad, res.errorField())
		}
	}
}

// TestDeleteUnsetSettingIs404: deleting a setting the group does not set answers 404 and
// leaves the version alone; a stale If-Match still answers 412.
func TestDeleteUnsetSettingIs404(t *testing.T) {
	a := newAPITest(t)
	g := a.createGroup("Sparse", 30)
	before := a.groupSettings(g)
	res := a.do("DELETE", "/v1/groups/"+g+"/settings/keepalive_interval", testAdminKey, nil)
	mustAPIStatus(t, "delete an unset setting", res, http.StatusNotFound)
	if res.errorCode() != "setting_not_set" {
		t.Errorf("code %q, want setting_not_set", res.errorCode())
	}
	if after := a.groupSettings(g); after.Version != before.Version {
		t.Errorf("version moved from %d to %d", before.Version, after.Version)
	}
	mustAPIStatus(t, "delete with a stale version", a.do("DELETE", "/v1/groups/"+g+"/settings/keepalive_interval", testAdminKey, nil,
		withIfMatch(before.Version+5)), http.StatusPreconditionFailed)
	mustAPIStatus(t, "set it", a.do("PUT", "/v1/groups/"+g+"/settings/keepalive_interval", testAdminKey, map[string]any{"value": 120}), http.StatusOK)
	mustAPIStatus(t, "delete it", a.do("DELETE", "/v1/groups/"+g+"/settings/keepalive_interval", testAdminKey, nil), http.StatusOK)
}

// TestGroupPriorityWarnings: creating or re-prioritising a group answers advice about ties,
// about All Users' precedence, and about a renamed All Users.
func TestGroupPriorityWarnings(t *testing.T) {
	a := newAPITest(t)
	codes := func(res apiResponse) []string {
		var v groupWriteView
		res.json(t, &v)
		var out []string
		for _, w := range v.Warnings {
			out = append(out, w.Code)
		}
		return out
	}
	res := a.do("POST", "/v1/groups", testAdminKey, map[string]any{"name": "Engineering", "priority": 10})
	mustAPIStatus(t, "create Engineering", res, http.StatusCreated)
	if c := codes(res); len(c) != 0 {
		t.Errorf("a group with a priority of its own: warnings %q, want none", c)
	}
	var eng policy.Group
	res.json(t, &eng)
	res = a.do("POST", "/v1/groups", testAdminKey, map[string]any{"name": "Lab", "priority": 10})
	mustAPIStatus(t, "create Lab", res, http.StatusCreated)
	if c := codes(res); !slices.Equal(c, []string{directory.WarnGroupPriorityTie}) {
		t.Errorf("a tie: warnings %q, want %s", c, directory.WarnGroupPriorityTie)
	}
	if !strings.Contains(string(res.Body), `\"Engineering\"`) {
		t.Errorf("the tie warning names the other group: %s", res.Body)
	}
	var lab policy.Group
	res.json(t, &lab)
	res = a.do("PATCH", "/v1/groups/"+lab.ID, testAdminKey, map[string]any{"description": "no priority change"})
	mustAPIStatus(t, "describe Lab", res, http.StatusOK)
	if c := codes(res); len(c) != 0 {
		t.Errorf("a change that leaves the priority: warnings %q, want none", c)
	}
	res = a.do("POST", "/v1/groups", testAdminKey, map[string]any{"name": "Late"})
	mustAPIStatus(t, "create Late", res, http.StatusCreated)
	if c := codes(res); !slices.Equal(c, []string{directory.WarnBelowAllUsers}) {
		t.Errorf("the default priority 4095: warnings %q, want %s", c, directory.WarnBelowAllUsers)
	}
	res = a.do("PATCH", "/v1/groups/"+policy.AllUsersGroupID, testAdminKey, map[string]any{"priority": 1, "name": "Everyone"})
	mustAPIStatus(t, "re-prioritise All Users", res, http.StatusOK)
	if c := codes(res); !slices.Equal(c, []string{directory.WarnAllUsersPrecedence, directory.WarnAllUsersRenamed}) {
		t.Errorf("All Users at priority 1 and renamed: warnings %q, want %s and %s", c, directory.WarnAllUsersPrecedence, directory.WarnAllUsersRenamed)
	}
	var v groupWriteView
	res.json(t, &v)
	if !slices.Contains(v.Warnings[0].Groups, eng.ID) || !slices.Contains(v.Warnings[0].Groups, lab.ID) {
		t.Errorf("the precedence warning names the groups now overridden: %+v", v.Warnings[0])
	}
}

// TestVolumeMappingSourcePerMount: the effective volume_mapping says which group supplied
// each host path.
func TestVolumeMappingSourcePerMount(t *testing.T) {
	a := newAPITest(t)
	u := a.createUser("mounted")
	mount := func(bind string) map[string]any {
		return map[string]any{"bind": bind, "mode": "rw", "uid": 1000, "gid": 1000}
	}
	eng := a.createGroup("Engineering", 10)
	lab := a.createGroup("Lab", 20)
	for _, gm := range []struct {
		g  string
		vm map[string]any
	}{
		{eng, map[string]any{"/mnt/eng": mount("/home/kasm-user/eng"), "/mnt/shared": mount("/home/kasm-user/shared")}},
		{lab, map[string]any{"/mnt/lab": mount("/home/kasm-user/lab"), "/mnt/shared": mount("/home/kasm-user/lab-shared")}},
	} {
		mustAPIStatus(t, "set volume_mapping", a.do("PUT", "/v1/groups/"+gm.g+"/settings/volume_mapping", testAdminKey, map[string]any{"value": gm.vm}), http.StatusOK)
		mustAPIStatus(t, "join", a.do("PUT", "/v1/groups/"+gm.g+"/members/"+u, testAdminKey, nil), http.StatusNoContent)
	}
	res := a.do("GET", "/v1/users/"+u+"/effective-settings", testAdminKey, nil)
	mustAPIStatus(t, "effective settings", res, http.StatusOK)
	var eff struct {
		Settings map[string]struct {
			Source struct {
				Mounts map[string]struct {
					ID string `json:"group_id"`
				} `json:"mounts"`
			} `json:"source"`
		} `json:"settings"`
	}
	res.json(t, &eff)
	got := map[string]string{}
	for host, g := range eff.Settings["volume_mapping"].Source.Mounts {
		got[host] = g.ID
	}
	want := map[string]string{"/mnt/eng": eng, "/mnt/lab": lab, "/mnt/shared": eng}
	if b1, b2 := mustJSON(got), mustJSON(want); b1 != b2 {
		t.Errorf("mounts by host path: got %s, want %s", b1, b2)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestLimitsServed: GET /v1/limits answers the limits the service enforces, to any key.
func TestLimitsServed(t *testing.T) {
	a := newAPITest(t)
	u := a.createUser("limits-reader")
	_, key := a.issueKey(u, policy.RoleUser)
	res := a.do("GET", "/v1/limits", key, nil)
	mustAPIStatus(t, "GET /v1/limits", res, http.StatusOK)
	var got map[string]int
	res.json(t, &got)
	want := map[string]int{"group_name_max_chars": 128, "group_description_max_chars": 1024, "group_priority_min": 1,
		"group_priority_max": 4095, "group_priority_default": 4095, "all_users_priority": 1000, "username_max_chars": 128,
		"groups_per_user_max": 99}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %d, want %d", k, got[k], v)
		}
	}
	// A name of 128 characters of two bytes each (256 bytes) is a good name; 129 is not.
	ok := a.do("POST", "/v1/groups", testAdminKey, map[string]any{"name": strings.Repeat("é", 128)})
	mustAPIStatus(t, "a 128-character name", ok, http.StatusCreated)
	bad := a.do("POST", "/v1/groups", testAdminKey, map[string]any{"name": strings.Repeat("é", 129)})
	mustAPIStatus(t, "a 129-character name", bad, http.StatusBadRequest)
}
