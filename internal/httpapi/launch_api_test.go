package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"wspolicy/internal/launch"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// storageMapping registers a storage mapping for a user (bind at bind) as the admin and
// returns its id.
func (a *apiTest) storageMapping(userID, bind string) string {
	a.t.Helper()
	res := a.do("POST", "/v1/users/"+userID+"/storage-mappings", testAdminKey,
		map[string]any{"host_path": "/data/{username}" + bind, "bind": bind, "mode": "rw", "uid": 1000, "gid": 1000})
	mustAPIStatus(a.t, "register storage mapping", res, http.StatusCreated)
	var m launch.StorageMapping
	res.json(a.t, &m)
	return m.ID
}

// setSettings patches a group's settings as the admin.
func (a *apiTest) setSettings(groupID string, set map[string]any) {
	a.t.Helper()
	mustAPIStatus(a.t, "set settings", a.do("PATCH", "/v1/groups/"+groupID+"/settings", testAdminKey, map[string]any{"set": set}), http.StatusOK)
}

// sessionMounts lists a session's mounts as "host_path → bind (mode)".
func sessionMounts(t *testing.T, s sessions.Session) []string {
	t.Helper()
	var l launch.Launch
	if err := json.Unmarshal(s.Launch, &l); err != nil {
		t.Fatalf("launch %s: %v", s.Launch, err)
	}
	out := []string{}
	for _, m := range l.Mounts {
		out = append(out, fmt.Sprintf("%s → %s (%s)", m.HostPath, m.Bind, m.Mode))
	}
	return out
}

// TestLaunchConfigurationThroughTheAPI is issue 8's scenario through the API: a user in two
// groups registers a storage mapping with their own key and starts a session whose response
// carries the client settings and a launch configuration merging both groups' volume_mapping
// and the mapping, read-only and with the username filled in; with allow_user_storage_mapping
// withdrawn a registration is 403 and the next session goes without the mapping; the /go flow
// (no image, reuse) returns one session twice.
func TestLaunchConfigurationThroughTheAPI(t *testing.T) {
	a := newSessionAPITest(t)
	eng := a.createGroup("Engineering", 10)
	lab := a.createGroup("Lab", 20)
	a.setSettings(eng, map[string]any{
		"volume_mapping":                 map[string]any{"/nfs/home/{username}": map[string]any{"bind": "/home/kasm-user/nfs", "mode": "rw", "uid": 1000, "gid": 1000}},
		"read_only_user_storage_mapping": true, "expose_user_environment_vars": true, "allow_kasm_downloads": false,
		"default_image": "img-desktop", "max_kasms_per_user": 1, "max_user_storage_mappings": 2,
	})
	a.setSettings(lab, map[string]any{
		"volume_mapping": map[string]any{"/datasets": map[string]any{"bind": "/mnt/datasets", "mode": "ro", "uid": 0, "gid": 0}},
	})
	ana := a.createUser("ana")
	for _, g := range []string{eng, lab} {
		mustAPIStatus(t, "add member", a.do("PUT", "/v1/groups/"+g+"/members/"+ana, testAdminKey, nil), http.StatusNoContent)
	}
	_, key := a.issueKey(ana, policy.RoleUser)
	mappings := "/v1/users/" + ana + "/storage-mappings"
	own := map[string]any{"host_path": "/srv/users/{username}/projects", "bind": "/home/kasm-user/projects", "mode": "rw", "uid": 1000, "gid": 1000}

	var first sessions.Session
	steps := []struct {
		name       string
		do         func() apiResponse
		wantStatus int
		wantCode   string
		wantField  string
		check      func(t *testing.T, res apiResponse)
	}{
		{name: "register an own mapping", wantStatus: 201,
			do: func() apiResponse { return a.do("POST", mappings, key, own) },
			check: func(t *testing.T, res apiResponse) {
				var m launch.StorageMapping
				res.json(t, &m)
				if m.ID == "" || m.UserID != ana || m.HostPath != "/srv/users/{username}/projects" || m.Mode != "rw" {
					t.Errorf("got %s, want the mapping with a mapping_id, as registered", res.Body)
				}
			}},
		{name: "a mapping with a relative bind names the field", wantStatus: 400, wantCode: policy.CodeInvalidStorageMapping, wantField: "bind",
			do: func() apiResponse {
				return a.do("POST", mappings, key, map[string]any{"host_path": "/x", "bind": "x", "mode": "rw", "uid": 1, "gid": 1})
			}},
		{name: "start: client settings and the merged launch configuration", wantStatus: 201,
			do: func() apiResponse { return a.do("POST", "/v1/sessions", key, map[string]any{"image_id": "img-1"}) },
			check: func(t *testing.T, res apiResponse) {
				res.json(t, &first)
				want := []string{
					"/nfs/home/ana → /home/kasm-user/nfs (rw)",
					"/srv/users/ana/projects → /home/kasm-user/projects (ro)",
					"/datasets → /mnt/datasets (ro)",
				}
				if got := sessionMounts(t, first); !slices.Equal(got, want) {
					t.Errorf("mounts: got %q, want %q", got, want)
				}
				var cs map[string]any
				if err := json.Unmarshal(first.ClientSettings, &cs); err != nil {
					t.Fatal(err)
				}
				if cs["allow_kasm_downloads"] != false || cs["allow_kasm_uploads"] != true || cs["keepalive_interval"] != float64(300) {
					t.Errorf("client_settings: got %s, want downloads false (Engineering), uploads true (All Users), keepalive_interval 300", first.ClientSettings)
				}
				var l launch.Launch
				_ = json.Unmarshal(first.Launch, &l)
				if l.Environment["KASM_USER"] != "ana" || l.Environment["KASM_USER_ID"] != ana {
					t.Errorf("environment: got %v, want KASM_USER ana and KASM_USER_ID %s", l.Environment, ana)
				}
			}},
		{name: "the created event carries both", wantStatus: 200,
			do: func() apiResponse { return a.do("GET", "/v1/sessions/"+first.SessionID+"/events", key, nil) },
			check: func(t *testing.T, res apiResponse) {
				var v struct {
					Events []struct {
						Type   string `json:"type"`
						Detail struct {
							ClientSettings json.RawMessage `json:"client_settings"`
							Launch         json.RawMessage `json:"launch"`
						} `json:"detail"`
					} `json:"events"`
				}
				res.json(t, &v)
				if len(v.Events) != 1 || v.Events[0].Type != "created" || string(v.Events[0].Detail.Launch) != string(first.Launch) ||
					string(v.Events[0].Detail.ClientSettings) != string(first.ClientSettings) {
					t.Errorf("events: got %s, want the created event with the session's launch and client_settings", res.Body)
				}
			}},
		{name: "withdraw allow_user_storage_mapping", wantStatus: 200,
			do: func() apiResponse {
				return a.do("PUT", "/v1/groups/"+eng+"/settings/allow_user_storage_mapping", testAdminKey, map[string]any{"value": false})
			}},
		{name: "registering another is 403", wantStatus: 403, wantCode: policy.CodePermissionDenied, wantField: "allow_user_storage_mapping",
			do: func() apiResponse { return a.do("POST", mappings, key, own) }},
		{name: "the earlier mapping stays listed", wantStatus: 200,
			do: func() apiResponse { return a.do("GET", mappings, key, nil) },
			check: func(t *testing.T, res apiResponse) {
				var v storageMappingListView
				if res.json(t, &v); len(v.StorageMappings) != 1 {
					t.Errorf("got %s, want the one mapping", res.Body)
				}
			}},
		{name: "free the session slot", wantStatus: 200,
			do: func() apiResponse { return a.do("DELETE", "/v1/sessions/"+first.SessionID, testAdminKey, nil) }},
		{name: "the /go flow starts the default image without the mapping", wantStatus: 201,
			do: func() apiResponse { return a.do("POST", "/v1/sessions", key, map[string]any{"reuse": true}) },
			check: func(t *testing.T, res apiResponse) {
				res.json(t, &first)
				want := []string{"/nfs/home/ana → /home/kasm-user/nfs (rw)", "/datasets → /mnt/datasets (ro)"}
				if got := sessionMounts(t, first); first.ImageID != "img-desktop" || !slices.Equal(got, want) {
					t.Errorf("got image %s mounts %q, want img-desktop and %q", first.ImageID, got, want)
				}
			}},
		{name: "reuse returns it", wantStatus: 200,
			do: func() apiResponse { return a.do("POST", "/v1/sessions", key, map[string]any{"reuse": true}) },
			check: func(t *testing.T, res apiResponse) {
				var s sessions.Session
				if res.json(t, &s); s.SessionID != first.SessionID {
					t.Errorf("got session %s, want %s", s.SessionID, first.SessionID)
				}
			}},
		{name: "reuse again, at max_kasms_per_user 1, returns it again", wantStatus: 200,
			do: func() apiResponse { return a.do("POST", "/v1/sessions", key, map[string]any{"reuse": true}) },
			check: func(t *testing.T, res apiResponse) {
				var s sessions.Session
				if res.json(t, &s); s.SessionID != first.SessionID {
					t.Errorf("got session %s, want %s", s.SessionID, first.SessionID)
				}
			}},
		{name: "without reuse the maximum applies", wantStatus: 409, wantCode: "max_sessions_reached",
			do: func() apiResponse { return a.do("POST", "/v1/sessions", key, map[string]any{}) }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res := st.do()
			if res.Status != st.wantStatus || res.errorCode() != st.wantCode || res.errorField() != st.wantField {
				t.Fatalf("got %d %s, want %d %q naming %q", res.Status, res.Body, st.wantStatus, st.wantCode, st.wantField)
			}
			if st.check != nil {
				st.check(t, res)
			}
		})
	}
}

// TestStorageMappingRoutes checks the statuses of the storage-mapping routes.
func TestStorageMappingRoutes(t *testing.T) {
	a := newSessionAPITest(t)
	ben, benKey := a.sessUser("ben", map[string]any{"max_user_storage_mappings": 1})
	cy, cyKey := a.sessUser("cy", nil)
	body := map[string]any{"host_path": "/d", "bind": "/d", "mode": "ro", "uid": 0, "gid": 0}
	benMapping := a.storageMapping(ben, "/first")
	tests := []struct {
		name, method, path, key string
		body                    any
		wantStatus              int
		wantCode, wantField     string
	}{
		{"beyond max_user_storage_mappings", "POST", "/v1/users/" + ben + "/storage-mappings", benKey, body, 409, policy.CodeMaxStorageMappings, "max_user_storage_mappings"},
		{"another user's", "POST", "/v1/users/" + ben + "/storage-mappings", cyKey, body, 403, "forbidden", ""},
		{"unknown field", "POST", "/v1/users/" + cy + "/storage-mappings", cyKey, map[string]any{"host_path": "/d", "bind": "/d", "mode": "ro", "uid": 0, "gid": 0, "size": 1}, 400, policy.CodeInvalidStorageMapping, "size"},
		{"no body", "POST", "/v1/users/" + cy + "/storage-mappings", cyKey, nil, 400, "body_required", ""},
		{"unknown user", "POST", "/v1/users/u_nobody/storage-mappings", testAdminKey, body, 404, "user_not_found", ""},
		{"list of an unknown user", "GET", "/v1/users/u_nobody/storage-mappings", testAdminKey, nil, 404, "user_not_found", ""},
		{"delete another user's", "DELETE", "/v1/users/" + ben + "/storage-mappings/" + benMapping, cyKey, nil, 403, "forbidden", ""},
		{"delete through another user", "DELETE", "/v1/users/" + cy + "/storage-mappings/" + benMapping, cyKey, nil, 404, "storage_mapping_not_found", ""},
		{"delete with a malformed id", "DELETE", "/v1/users/" + ben + "/storage-mappings/m%2F1", benKey, nil, 400, "invalid_id", "mapping_id"},
		{"delete own", "DELETE", "/v1/users/" + ben + "/storage-mappings/" + benMapping, benKey, nil, 204, "", ""},
		{"the place is free again", "POST", "/v1/users/" + ben + "/storage-mappings", benKey, body, 201, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.do(tt.method, tt.path, tt.key, tt.body)
			if res.Status != tt.wantStatus || res.errorCode() != tt.wantCode || res.errorField() != tt.wantField {
				t.Fatalf("got %d %s, want %d %q naming %q", res.Status, res.Body, tt.wantStatus, tt.wantCode, tt.wantField)
			}
		})
	}
}

// TestUsageRoute reads GET /v1/users/{user_id}/usage for a user with a limit and one without.
func TestUsageRoute(t *testing.T) {
	a := newSessionAPITest(t)
	limited, limitedKey := a.sessUser("limited", map[string]any{"usage_limit": map[string]any{"type": "per_user", "interval": "daily", "hours": 2}})
	free, freeKey := a.sessUser("free", nil)
	a.sessStart(limitedKey, map[string]any{"image_id": "img"})
	a.clock.Advance(apiSeconds(36 * 60))
	tests := []struct {
		name, user, key string
		wantStatus      int
		check           func(t *testing.T, v map[string]any)
	}{
		{"with a limit, own key", limited, limitedKey, 200, func(t *testing.T, v map[string]any) {
			src, _ := v["source"].(map[string]any)
			if v["user_id"] != limited || v["budget"] != "user#"+limited+"#daily" || v["hours_used"] != 0.6 || v["hours_remaining"] != 1.4 ||
				v["open_sessions"] != float64(1) || v["window_start"] != "2026-03-01T00:00:00Z" || src["name"] != "settings of limited" {
				t.Errorf("got %v, want 0.6 of 2 daily hours used by the one session, from the user's group", v)
			}
		}},
		{"without a limit", free, freeKey, 200, func(t *testing.T, v map[string]any) {
			if v["source"] != "default" || v["hours_used"] != nil || v["window_start"] != nil || v["budget"] != "" {
				t.Errorf("got %v, want no budget, source default and null figures", v)
			}
		}},
		{"admin", free, testAdminKey, 200, nil},
		{"another user's", limited, freeKey, 403, nil},
		{"unknown user", "u_nobody", testAdminKey, 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.do("GET", "/v1/users/"+tt.user+"/usage", tt.key, nil)
			mustAPIStatus(t, "usage", res, tt.wantStatus)
			if tt.check != nil {
				var v map[string]any
				res.json(t, &v)
				tt.check(t, v)
			}
		})
	}
}

// TestAutoAddLocalUsers: a user created lands in every group whose auto_add_local_users is
// true, and in no other.
func TestAutoAddLocalUsers(t *testing.T) {
	a := newAPITest(t)
	var auto []string
	for i, on := range []bool{true, false, true} {
		g := a.createGroup(fmt.Sprintf("auto %d", i), 100+i)
		mustAPIStatus(t, "set auto_add", a.do("PUT", "/v1/groups/"+g+"/settings/auto_add_local_users", testAdminKey, map[string]any{"value": on}), http.StatusOK)
		if on {
			auto = append(auto, g)
		}
	}
	slices.Sort(auto)
	tests := []struct {
		name     string
		username string
	}{
		{"first user", "first"},
		{"second user", "second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := a.do("POST", "/v1/users", testAdminKey, map[string]any{"username": tt.username})
			mustAPIStatus(t, "create user", res, http.StatusCreated)
			var u policy.User
			res.json(t, &u)
			want := append([]string{policy.AllUsersGroupID}, auto...)
			if !slices.Equal(u.GroupIDs, want) {
				t.Errorf("groups: got %v, want %v", u.GroupIDs, want)
			}
			for _, g := range auto {
				res := a.do("GET", "/v1/groups/"+g+"/members", testAdminKey, nil)
				mustAPIStatus(t, "members", res, http.StatusOK)
				var m struct {
					Members []policy.User `json:"members"`
				}
				res.json(t, &m)
				if !slices.ContainsFunc(m.Members, func(x policy.User) bool { return x.ID == u.ID }) {
					t.Errorf("group %s members: got %s, want %s among them", g, res.Body, u.ID)
				}
			}
		})
	}
}
