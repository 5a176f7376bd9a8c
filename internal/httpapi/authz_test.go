package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"wspolicy/internal/policy"
)

// TestAuthorizationMatrix sends every route with every kind of caller — no key, a malformed
// key, a revoked key, a user key on its own resources, a user key on another user's, an admin
// key — and asserts the exact status. Every route of the table must appear here.
func TestAuthorizationMatrix(t *testing.T) {
	a := newSessionAPITest(t)
	group := a.createGroup("Matrix", 42)
	owner := a.createUser("owner")
	other := a.createUser("other")
	_, ownerKey := a.issueKey(owner, policy.RoleUser)
	revokedID, revokedKey := a.issueKey(owner, policy.RoleUser)
	mustAPIStatus(t, "revoke", a.do("DELETE", "/v1/users/"+owner+"/keys/"+revokedID, testAdminKey, nil), http.StatusNoContent)
	spareKeyID, _ := a.issueKey(other, policy.RoleUser)
	ownerSession := a.sessStart(testAdminKey, map[string]any{"user_id": owner, "image_id": "img"}).SessionID
	otherSession := a.sessStart(testAdminKey, map[string]any{"user_id": other, "image_id": "img"}).SessionID
	ownerMapping, otherMapping := a.storageMapping(owner, "/m"), a.storageMapping(other, "/m")
	mustAPIStatus(t, "workspace", a.do("POST", "/v1/workspaces", testAdminKey, map[string]any{"workspace_id": "ws-matrix", "image_id": "kasmweb/chrome:1.16"}), http.StatusCreated)
	devKey := a.do("POST", "/v1/developer-keys", testAdminKey, map[string]any{"name": "matrix", "permissions": []string{"all"}})
	mustAPIStatus(t, "developer key", devKey, http.StatusCreated)
	devKeyID := strings.Split(strings.Split(string(devKey.Body), `"key_id":"`)[1], `"`)[0]

	// {user} is the owner's id for the "own" caller and the other user's for everyone else;
	// {session} likewise one of their sessions. The session rows run in an order in which
	// each action is allowed: pause, stop, resume, keepalive, delete.
	routes := []struct {
		pattern   string // the route table entry this row covers
		path      string
		body      any
		wantAdmin int // the status of this request with an admin key (and any caller it allows)
		wantOwn   int // with the owner's key on their own {user}; 0 = same rule as wantAdmin
	}{
		{"GET /v1/health", "/v1/health", nil, 200, 0},
		{"GET /v1/openapi.json", "/v1/openapi.json", nil, 200, 0},
		{"GET /v1/settings", "/v1/settings", nil, 200, 0},
		{"POST /v1/groups", "/v1/groups", map[string]any{"name": "Created by matrix"}, 201, 0},
		{"GET /v1/groups", "/v1/groups", nil, 200, 0},
		{"GET /v1/groups/{group_id}", "/v1/groups/" + group, nil, 200, 0},
		{"PATCH /v1/groups/{group_id}", "/v1/groups/" + group, map[string]any{"description": "patched"}, 200, 0},
		{"GET /v1/groups/{group_id}/settings", "/v1/groups/" + group + "/settings", nil, 200, 0},
		{"PATCH /v1/groups/{group_id}/settings", "/v1/groups/" + group + "/settings", map[string]any{"set": map[string]any{"allow_kasm_audio": true}}, 200, 0},
		{"PUT /v1/groups/{group_id}/settings/{name}", "/v1/groups/" + group + "/settings/keepalive_interval", map[string]any{"value": 100}, 200, 0},
		{"DELETE /v1/groups/{group_id}/settings/{name}", "/v1/groups/" + group + "/settings/keepalive_interval", nil, 200, 0},
		{"GET /v1/groups/{group_id}/history", "/v1/groups/" + group + "/history", nil, 200, 0},
		{"POST /v1/groups/{group_id}/preview", "/v1/groups/" + group + "/preview", map[string]any{"kind": "settings", "set": map[string]any{"keepalive_interval": 120}}, 200, 0},
		// OIDC is not configured here: the mapping routes answer 409 sso_disabled to an admin.
		{"GET /v1/auth/oidc", "/v1/auth/oidc", nil, 200, 0},
		{"GET /v1/groups/{group_id}/sso-mappings", "/v1/groups/" + group + "/sso-mappings", nil, 409, 0},
		{"PUT /v1/groups/{group_id}/sso-mappings", "/v1/groups/" + group + "/sso-mappings", map[string]any{"idp_groups": []string{"eng-all"}}, 409, 0},
		{"PUT /v1/groups/{group_id}/members/{user_id}", "/v1/groups/" + group + "/members/{user}", nil, 204, 0},
		{"GET /v1/groups/{group_id}/members", "/v1/groups/" + group + "/members", nil, 200, 0},
		{"DELETE /v1/groups/{group_id}/members/{user_id}", "/v1/groups/" + group + "/members/{user}", nil, 204, 0},
		{"POST /v1/users", "/v1/users", map[string]any{"username": "created-by-matrix"}, 201, 0},
		{"GET /v1/users", "/v1/users", nil, 200, 0},
		{"GET /v1/users/{user_id}", "/v1/users/{user}", nil, 200, 200},
		{"GET /v1/users/{user_id}/effective-settings", "/v1/users/{user}/effective-settings", nil, 200, 200},
		{"POST /v1/users/{user_id}/keys", "/v1/users/{user}/keys", nil, 201, 0},
		{"GET /v1/users/{user_id}/keys", "/v1/users/{user}/keys", nil, 200, 0},
		{"DELETE /v1/users/{user_id}/keys/{key_id}", "/v1/users/{user}/keys/" + spareKeyID, nil, 204, 0},
		{"POST /v1/users/{user_id}/storage-mappings", "/v1/users/{user}/storage-mappings", map[string]any{"host_path": "/h/{username}", "bind": "/b", "mode": "rw", "uid": 1, "gid": 1}, 201, 201},
		{"GET /v1/users/{user_id}/storage-mappings", "/v1/users/{user}/storage-mappings", nil, 200, 200},
		{"DELETE /v1/users/{user_id}/storage-mappings/{mapping_id}", "/v1/users/{user}/storage-mappings/{mapping}", nil, 204, 204},
		{"GET /v1/users/{user_id}/usage", "/v1/users/{user}/usage", nil, 200, 200},
		{"GET /v1/me", "/v1/me", nil, 200, 0},
		{"GET /v1/limits", "/v1/limits", nil, 200, 0},
		{"POST /v1/sessions", "/v1/sessions", `{"user_id": "{user}", "image_id": "img"}`, 201, 201},
		{"GET /v1/sessions", "/v1/sessions?user_id={user}", nil, 200, 200},
		{"GET /v1/sessions/{session_id}", "/v1/sessions/{session}", nil, 200, 200},
		{"GET /v1/sessions/{session_id}/events", "/v1/sessions/{session}/events", nil, 200, 200},
		{"POST /v1/sessions/{session_id}/pause", "/v1/sessions/{session}/pause", nil, 200, 200},
		{"POST /v1/sessions/{session_id}/stop", "/v1/sessions/{session}/stop", nil, 200, 200},
		{"POST /v1/sessions/{session_id}/resume", "/v1/sessions/{session}/resume", nil, 200, 200},
		{"POST /v1/sessions/{session_id}/exec", "/v1/sessions/{session}/exec", map[string]any{"cmd": "echo hi"}, 202, 202},
		{"POST /v1/sessions/{session_id}/keepalive", "/v1/sessions/{session}/keepalive", map[string]any{"idle_seconds": 1}, 200, 200},
		{"DELETE /v1/sessions/{session_id}", "/v1/sessions/{session}", nil, 200, 200},
		{"POST /v1/sweeps", "/v1/sweeps", map[string]any{"dry_run": true}, 200, 0},
		{"GET /v1/metrics", "/v1/metrics", nil, 200, 0},
		{"POST /v1/workspaces", "/v1/workspaces", map[string]any{"image_id": "kasmweb/terminal:1.16"}, 201, 0},
		{"GET /v1/workspaces", "/v1/workspaces", nil, 200, 0},
		{"GET /v1/workspaces/{workspace_id}", "/v1/workspaces/ws-matrix", nil, 200, 0},
		{"PATCH /v1/workspaces/{workspace_id}", "/v1/workspaces/ws-matrix", map[string]any{"description": "patched"}, 200, 0},
		{"PUT /v1/groups/{group_id}/workspaces/{workspace_id}", "/v1/groups/" + group + "/workspaces/ws-matrix", nil, 200, 0},
		{"GET /v1/users/{user_id}/workspaces", "/v1/users/{user}/workspaces", nil, 200, 200},
		{"DELETE /v1/groups/{group_id}/workspaces/{workspace_id}", "/v1/groups/" + group + "/workspaces/ws-matrix", nil, 200, 0},
		{"DELETE /v1/workspaces/{workspace_id}", "/v1/workspaces/ws-matrix", nil, 204, 0},
		{"POST /v1/developer-keys", "/v1/developer-keys", map[string]any{"name": "m", "permissions": []string{"sessions_view"}}, 201, 0},
		{"GET /v1/developer-keys", "/v1/developer-keys", nil, 200, 0},
		{"DELETE /v1/developer-keys/{key_id}", "/v1/developer-keys/" + devKeyID, nil, 204, 0},
		{"POST /api/public/{call}", "/api/public/get_kasms", map[string]any{}, 400, 0},
		{"POST /api/admin/{call}", "/api/admin/get_settings_group", map[string]any{}, 400, 0},
		{"DELETE /v1/groups/{group_id}", "/v1/groups/" + group, nil, 204, 0},
		{"DELETE /v1/users/{user_id}", "/v1/users/{user}", nil, 204, 0},
	}

	s := newServer(Config{Directory: &keyDirectory{}})
	covered := map[string]bool{}
	for _, r := range routes {
		covered[r.pattern] = true
	}
	accessOf := map[string]access{}
	for _, rt := range s.routes {
		accessOf[rt.pattern] = rt.access
		if !covered[rt.pattern] {
			t.Errorf("route %q is missing from the authorization matrix", rt.pattern)
		}
	}

	callers := []struct {
		name string
		key  string
		own  bool
	}{
		{"no key", "", false},
		{"malformed key", "wsp_k_x_not-hex", false},
		{"revoked key", revokedKey, false},
		{"user key on own", ownerKey, true},
		{"user key on other's", ownerKey, false},
		{"admin key", testAdminKey, false},
	}
	for _, r := range routes {
		acc, ok := accessOf[r.pattern]
		if !ok {
			t.Errorf("matrix row %q is not a route", r.pattern)
			continue
		}
		method, _, _ := strings.Cut(r.pattern, " ")
		for _, c := range callers {
			t.Run(r.pattern+"/"+c.name, func(t *testing.T) {
				user, session, mapping := other, otherSession, otherMapping
				if c.own {
					user, session, mapping = owner, ownerSession, ownerMapping
				}
				path := strings.NewReplacer("{user}", user, "{session}", session, "{mapping}", mapping).Replace(r.path)
				body := r.body
				if b, ok := body.(string); ok {
					body = strings.ReplaceAll(b, "{user}", user)
				}
				want := r.wantAdmin
				switch {
				case acc == accessPublic:
				case c.key == "":
					want = http.StatusUnauthorized
				case c.key != ownerKey && c.key != testAdminKey:
					want = http.StatusUnauthorized
				case c.key == testAdminKey, acc == accessAnyKey:
				case (acc == accessSelfUser || acc == accessOwner) && c.own:
					want = r.wantOwn
				default:
					want = http.StatusForbidden
				}
				res := a.do(method, path, c.key, body)
				if res.Status != want {
					t.Fatalf("%s %s as %s: got %d %s, want %d", method, path, c.name, res.Status, res.Body, want)
				}
			})
		}
	}
}
