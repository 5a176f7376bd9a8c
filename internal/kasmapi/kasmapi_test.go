package kasmapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/devkeys"
	"wspolicy/internal/httpapi"
	"wspolicy/internal/kasmapi"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
)

const admin = "test-admin-key"

type env struct {
	t     *testing.T
	tb    *ddbtest.Table
	clock *policy.FixedClock
	h     http.Handler
	kh    *kasmapi.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	tb := ddbtest.NewTable(t)
	clock := &policy.FixedClock{T: time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)}
	store := ddbstore.Open(tb.Client, tb.Name, ddbstore.WithClock(clock)).Directory()
	if err := store.EnsureAllUsers(context.Background(), clock.Now(), settings.AllUsersValues()); err != nil {
		t.Fatal(err)
	}
	ss := ddbstore.Open(tb.Client, tb.Name).Sessions()
	svc := sessions.New(sessions.Config{Store: ss, Directory: store, Clock: clock, Workspaces: store})
	parts := kasmapi.Wire(store, svc, clock)
	h := httpapi.New(httpapi.Config{Directory: store, Clock: clock, AdminKey: admin, Sessions: svc,
		Workspaces: parts.Workspaces, DevKeys: parts.DevKeys, Kasm: parts.Kasm})
	return &env{t: t, tb: tb, clock: clock, h: h, kh: parts.Kasm}
}

// v1 calls the native API with the admin key.
func (e *env) v1(method, path, body string, want int) map[string]any {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, rec.Code, rec.Body, want)
	}
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return out
}

// kasm sends a raw JSON body as a Kasm client would.
func (e *env) kasm(call, raw string) (int, map[string]any) {
	e.t.Helper()
	req := httptest.NewRequest("POST", call, strings.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("%s: not JSON: %s", call, b)
	}
	return rec.Code, out
}

func creds(key, secret, rest string) string {
	if rest == "" {
		return `{"api_key": "` + key + `", "api_key_secret": "` + secret + `"}`
	}
	return `{"api_key": "` + key + `", "api_key_secret": "` + secret + `", ` + rest + `}`
}

func (e *env) devKey(perms string) (string, string) {
	e.t.Helper()
	k := e.v1("POST", "/v1/developer-keys", `{"name": "ci", "permissions": `+perms+`}`, 201)
	return k["api_key"].(string), k["api_key_secret"].(string)
}

func TestKasmClientTour(t *testing.T) {
	e := newEnv(t)
	e.v1("POST", "/v1/workspaces", `{"workspace_id": "chrome", "image_id": "kasmweb/chrome:1.16", "friendly_name": "Chrome", "session_time_limit": 0}`, 201)
	e.v1("POST", "/v1/workspaces", `{"workspace_id": "terminal", "image_id": "kasmweb/terminal:1.16", "friendly_name": "Terminal"}`, 201)
	g := e.v1("POST", "/v1/groups", `{"name": "browsers", "priority": 10}`, 201)["group_id"].(string)
	e.v1("PUT", "/v1/groups/"+g+"/workspaces/chrome", ``, 200)
	key, secret := e.devKey(`["all"]`)

	st, out := e.kasm("/api/public/create_user", creds(key, secret, `"target_user": {"username": "alice@example.com"}`))
	if st != 200 {
		t.Fatalf("create_user: %d %v", st, out)
	}
	user := out["user"].(map[string]any)
	uid := user["user_id"].(string)
	if st, out = e.kasm("/api/public/add_user_group", creds(key, secret, `"target_user": {"user_id": "`+uid+`"}, "target_group": {"group_id": "`+g+`"}`)); st != 200 || len(out) != 0 {
		t.Fatalf("add_user_group: %d %v", st, out)
	}
	// The workspace not allowed to any of alice's groups is refused, saying which.
	st, out = e.kasm("/api/public/request_kasm", creds(key, secret, `"user_id": "`+uid+`", "image_id": "terminal"`))
	if st != 200 || !strings.Contains(out["error_message"].(string), "not allowed") {
		t.Fatalf("request_kasm of terminal: %d %v", st, out)
	}
	st, out = e.kasm("/api/public/request_kasm", creds(key, secret, `"user_id": "`+uid+`", "image_id": "chrome"`))
	if st != 200 || out["kasm_id"] == nil || out["status"] != "starting" || out["username"] != "alice@example.com" {
		t.Fatalf("request_kasm: %d %v", st, out)
	}
	kasmID := out["kasm_id"].(string)
	if !strings.HasPrefix(out["kasm_url"].(string), "/#/connect/kasm/"+kasmID+"/"+uid+"/") {
		t.Errorf("kasm_url %v", out["kasm_url"])
	}
	status := func() map[string]any {
		st, out := e.kasm("/api/public/get_kasm_status", creds(key, secret, `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`"`))
		if st != 200 || out["kasm"] == nil {
			t.Fatalf("get_kasm_status: %d %v", st, out)
		}
		return out["kasm"].(map[string]any)
	}
	k := status()
	if k["operational_status"] != "running" || k["image"].(map[string]any)["friendly_name"] != "Chrome" {
		t.Errorf("kasm %v", k)
	}
	exp0 := k["expiration_date"].(string)
	if _, err := time.Parse("2006-01-02 15:04:05.000000", exp0); err != nil {
		t.Errorf("expiration_date %q is not Kasm's date form: %v", exp0, err)
	}
	e.clock.Advance(5 * time.Second)
	e.tb.ResetCalls()
	st, out = e.kasm("/api/public/keepalive", creds(key, secret, `"kasm_id": "`+kasmID+`"`))
	if st != 200 || out["usage_reached"] != false {
		t.Fatalf("keepalive: %d %v", st, out)
	}
	kasmCalls := e.tb.Calls()
	if exp1 := status()["expiration_date"].(string); exp1 <= exp0 {
		t.Errorf("expiration_date %s did not move past %s", exp1, exp0)
	}
	// The same keepalive through /v1 costs the same DynamoDB requests.
	e.tb.ResetCalls()
	e.v1("POST", "/v1/sessions/"+kasmID+"/keepalive", `{}`, 200)
	if native := e.tb.Calls(); kasmCalls != native || kasmCalls != 1 {
		t.Errorf("a Kasm keepalive made %d DynamoDB requests, a native one %d; want 1 each", kasmCalls, native)
	}
	st, out = e.kasm("/api/public/get_kasms", creds(key, secret, ""))
	if st != 200 || len(out["kasms"].([]any)) != 1 || out["kasms"].([]any)[0].(map[string]any)["user"].(map[string]any)["username"] != "alice@example.com" {
		t.Fatalf("get_kasms: %d %v", st, out)
	}
	if st, out = e.kasm("/api/public/destroy_kasm", creds(key, secret, `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`"`)); st != 200 || len(out) != 0 {
		t.Fatalf("destroy_kasm: %d %v", st, out)
	}
	st, out = e.kasm("/api/public/get_kasm_status", creds(key, secret, `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`"`))
	if st != 200 || out["error_message"] != "Could not find requested Kasm." {
		t.Fatalf("get_kasm_status after destroy: %d %v", st, out)
	}
	st, out = e.kasm("/api/public/keepalive", creds(key, secret, `"kasm_id": "`+kasmID+`"`))
	if st != 200 || !strings.Contains(out["error_message"].(string), "scheduled to be deleted") {
		t.Fatalf("keepalive after destroy: %d %v", st, out)
	}

	// The error rows of the contract.
	rows := []struct {
		name, call, body string
		status           int
		msg              string
	}{
		{"no credentials", "/api/public/get_kasms", `{}`, 400, "Invalid Request"},
		{"unknown key", "/api/public/get_kasms", creds("dk_nosuchkey00000000", "x", ""), 403, "Access Denied"},
		{"wrong secret", "/api/public/get_kasms", creds(key, "wrong", ""), 403, "Access Denied"},
		{"missing required field", "/api/public/get_kasm_status", creds(key, secret, ""), 400, "Invalid Request: Missing required parameters"},
		{"unknown user_id", "/api/public/request_kasm", creds(key, secret, `"user_id": "u_nobody"`), 400, "Invalid user_id (u_nobody)"},
		{"needs a live desktop", "/api/public/get_kasm_screenshot", creds(key, secret, `"kasm_id": "x"`), 200, "Requested Kasm does not support feature"},
	}
	for _, r := range rows {
		st, out := e.kasm(r.call, r.body)
		if st != r.status || out["error_message"] != r.msg {
			t.Errorf("%s: %d %v, want %d %q", r.name, st, out, r.status, r.msg)
		}
	}
	// A key without sessions_modify: 401 Unauthorized.
	vk, vs := e.devKey(`["sessions_view", "users_auth_session"]`)
	if st, out := e.kasm("/api/public/request_kasm", creds(vk, vs, `"user_id": "`+uid+`", "image_id": "chrome"`)); st != 401 || out["error_message"] != "Unauthorized" {
		t.Errorf("key without sessions_modify: %d %v", st, out)
	}
	// An expired key: 401 Access has expired.
	exp := e.v1("POST", "/v1/developer-keys", `{"name": "short", "permissions": ["all"], "expires_at": "2026-12-05T08:00:00Z"}`, 201)
	e.clock.Advance(2 * time.Hour)
	if st, out := e.kasm("/api/public/get_kasms", creds(exp["api_key"].(string), exp["api_key_secret"].(string), "")); st != 401 || out["error_message"] != "Access has expired" {
		t.Errorf("expired key: %d %v", st, out)
	}
}

func TestKasmGroupSettingsConvertText(t *testing.T) {
	e := newEnv(t)
	g := e.v1("POST", "/v1/groups", `{"name": "g", "priority": 10}`, 201)["group_id"].(string)
	key, secret := e.devKey(`["groups_view", "group_settings_modify"]`)
	for _, c := range []struct{ name, value, want string }{
		{"allow_kasm_delete", "false", "false"},
		{"keepalive_expiration", "3600", "3600"},
		{"run_config", `{"hostname": "kasm"}`, `{"hostname":"kasm"}`},
	} {
		st, out := e.kasm("/api/admin/update_settings_group", creds(key, secret, `"target_group": {"group_id": "`+g+`"}, "target_setting": {"group_setting_id": "`+c.name+`", "value": `+mustQuote(c.value)+`}`))
		if st != 200 {
			t.Fatalf("%s: %d %v", c.name, st, out)
		}
		got := e.v1("GET", "/v1/groups/"+g+"/settings", "", 200)
		raw, _ := json.Marshal(got["settings"].(map[string]any)[c.name])
		if !bytes.Equal(raw, []byte(c.want)) {
			t.Errorf("%s stored as %s, want %s", c.name, raw, c.want)
		}
	}
	st, out := e.kasm("/api/admin/update_settings_group", creds(key, secret, `"target_group": {"group_id": "`+g+`"}, "target_setting": {"group_setting_id": "keepalive_expiration", "value": "soon"}`))
	if st != 400 || !strings.HasPrefix(out["error_message"].(string), "Invalid setting value") {
		t.Errorf("bad text value: %d %v", st, out)
	}
	st, out = e.kasm("/api/admin/get_settings_group", creds(key, secret, `"target_group": {"group_id": "`+g+`"}`))
	if st != 200 || len(out["settings"].([]any)) != 3 {
		t.Errorf("get_settings_group: %d %v", st, out)
	}
	if st, out = e.kasm("/api/admin/delete_settings_group", creds(key, secret, `"target_group": {"group_id": "`+g+`"}, "target_setting": {"group_setting_id": "run_config"}`)); st != 200 {
		t.Errorf("delete_settings_group: %d %v", st, out)
	}
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The seed's rules at a native start: the group's run_config overrides the workspace's, the
// workspace's web_filter_policy wins, allow_persistent_profile only with a profile path, the
// time limit is the smaller non-zero one and the session says whose; refusals say which.
func TestWorkspaceRulesAtStart(t *testing.T) {
	e := newEnv(t)
	e.v1("POST", "/v1/workspaces", `{"workspace_id": "desk", "image_id": "kasmweb/desktop:1.16", "container": false, "session_time_limit": 600, "web_filter_policy": "wf-workspace", "run_config": {"hostname": "ws", "shm_size": "1g"}}`, 201)
	g := e.v1("POST", "/v1/groups", `{"name": "g", "priority": 10}`, 201)["group_id"].(string)
	e.v1("PATCH", "/v1/groups/"+g+"/settings", `{"set": {"run_config": {"hostname": "grp"}, "allow_persistent_profile": true, "session_time_limit": 300, "web_filter_policy": "wf-group"}}`, 200)
	u := e.v1("POST", "/v1/users", `{"username": "bob"}`, 201)["user_id"].(string)
	// Not allowed yet: 403 saying which.
	out := e.v1("POST", "/v1/sessions", `{"user_id": "`+u+`", "image_id": "desk"}`, 403)
	if out["error"].(map[string]any)["code"] != "workspace_not_allowed" {
		t.Errorf("not allowed: %v", out)
	}
	out = e.v1("POST", "/v1/sessions", `{"user_id": "`+u+`", "image_id": "nosuch"}`, 403)
	if out["error"].(map[string]any)["code"] != "workspace_not_found" {
		t.Errorf("unknown: %v", out)
	}
	e.v1("PUT", "/v1/groups/"+g+"/workspaces/desk", ``, 200)
	e.v1("PUT", "/v1/groups/"+g+"/members/"+u, ``, 204)
	s := e.v1("POST", "/v1/sessions", `{"user_id": "`+u+`", "image_id": "desk", "container": true}`, 201)
	if s["container"] != false || s["time_limit_source"] != "user" {
		t.Errorf("session: container %v, time_limit_source %v", s["container"], s["time_limit_source"])
	}
	l := s["launch"].(map[string]any)
	rc := l["run_config"].(map[string]any)
	if rc["hostname"] != "grp" || rc["shm_size"] != "1g" || l["web_filter_policy"] != "wf-workspace" || l["allow_persistent_profile"] != false {
		t.Errorf("launch: %v", l)
	}
	if tl := l["session_time_limit"].(map[string]any); tl["seconds"] != float64(300) || tl["source"] != "user" {
		t.Errorf("session_time_limit %v", tl)
	}
	e.v1("PATCH", "/v1/workspaces/desk", `{"enabled": false}`, 200)
	out = e.v1("POST", "/v1/sessions", `{"user_id": "`+u+`", "image_id": "desk"}`, 403)
	if out["error"].(map[string]any)["code"] != "workspace_disabled" {
		t.Errorf("disabled: %v", out)
	}
}

// exec_command_kasm becomes an exec_command session event for the provisioning layer, as the
// native POST /v1/sessions/{id}/exec does; Kasm's answer is the kasm and no output.
func TestKasmExecCommandIsASessionEvent(t *testing.T) {
	e := newEnv(t)
	e.v1("POST", "/v1/workspaces", `{"workspace_id": "chrome", "image_id": "kasmweb/chrome:1.16"}`, 201)
	e.v1("POST", "/v1/workspaces", `{"workspace_id": "rdp", "image_id": "windows-rdp", "container": false}`, 201)
	e.v1("PUT", "/v1/groups/"+policy.AllUsersGroupID+"/workspaces/chrome", ``, 200)
	e.v1("PUT", "/v1/groups/"+policy.AllUsersGroupID+"/workspaces/rdp", ``, 200)
	uid := e.v1("POST", "/v1/users", `{"username": "carol"}`, 201)["user_id"].(string)
	key, secret := e.devKey(`["sessions_modify", "sessions_view", "users_auth_session"]`)
	start := func(image string) string {
		st, out := e.kasm("/api/public/request_kasm", creds(key, secret, `"user_id": "`+uid+`", "image_id": "`+image+`"`))
		if st != 200 || out["kasm_id"] == nil {
			t.Fatalf("request_kasm %s: %d %v", image, st, out)
		}
		return out["kasm_id"].(string)
	}
	kasmID := start("chrome")
	exec := `"kasm_id": "` + kasmID + `", "user_id": "` + uid + `", "exec_config": {"cmd": "bash -c 'echo hi > /tmp/x'", "workdir": "/home/kasm-user", "environment": {"GREETING": "hi"}, "privileged": false, "user": "kasm-user"}`
	st, out := e.kasm("/api/public/exec_command_kasm", creds(key, secret, exec))
	if st != 200 || out["kasm"] == nil || out["current_time"] == nil || out["kasm"].(map[string]any)["kasm_id"] != kasmID {
		t.Fatalf("exec_command_kasm: %d %v", st, out)
	}
	evs := e.v1("GET", "/v1/sessions/"+kasmID+"/events", "", 200)["events"].([]any)
	last := evs[len(evs)-1].(map[string]any)
	d, _ := last["detail"].(map[string]any)
	if last["type"] != "exec_command" || last["actor"] != "user:"+uid || last["status_after"] != "running" ||
		d["cmd"] != "bash -c 'echo hi > /tmp/x'" || d["workdir"] != "/home/kasm-user" || d["environment"].(map[string]any)["GREETING"] != "hi" {
		t.Errorf("last event %v", last)
	}
	// The native call writes the same event and answers 202.
	n := e.v1("POST", "/v1/sessions/"+kasmID+"/exec", `{"cmd": "true"}`, 202)
	if ev := n["event"].(map[string]any); ev["type"] != "exec_command" || ev["actor"] != "admin" || n["session"].(map[string]any)["status"] != "running" {
		t.Errorf("native exec: %v", n)
	}
	e.v1("POST", "/v1/sessions/"+kasmID+"/exec", `{"workdir": "/"}`, 400)

	rdp := start("rdp")
	rows := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"no exec_config", `"kasm_id": "` + kasmID + `"`, 400, "Invalid Request: Missing required parameters"},
		{"no cmd", `"kasm_id": "` + kasmID + `", "exec_config": {"workdir": "/"}`, 400, "Invalid Request: Missing required parameters"},
		{"unknown kasm", `"kasm_id": "s_nosuch", "exec_config": {"cmd": "true"}`, 200, "Could not find requested Kasm."},
		{"another user's kasm", `"kasm_id": "` + kasmID + `", "user_id": "` + e.v1("POST", "/v1/users", `{"username": "dave"}`, 201)["user_id"].(string) + `", "exec_config": {"cmd": "true"}`, 200, "Could not find requested Kasm."},
		{"not a container", `"kasm_id": "` + rdp + `", "exec_config": {"cmd": "true"}`, 200, "Requested Kasm does not support feature"},
	}
	for _, r := range rows {
		if st, out := e.kasm("/api/public/exec_command_kasm", creds(key, secret, r.body)); st != r.status || out["error_message"] != r.msg {
			t.Errorf("%s: %d %v, want %d %q", r.name, st, out, r.status, r.msg)
		}
	}
	e.v1("POST", "/v1/sessions/"+kasmID+"/pause", ``, 200)
	if st, out := e.kasm("/api/public/exec_command_kasm", creds(key, secret, `"kasm_id": "`+kasmID+`", "exec_config": {"cmd": "true"}`)); st != 200 || out["error_message"] != "Kasm ("+kasmID+") is not running." {
		t.Errorf("paused: %d %v", st, out)
	}
	e.v1("DELETE", "/v1/sessions/"+kasmID, ``, 200)
	if st, out := e.kasm("/api/public/exec_command_kasm", creds(key, secret, `"kasm_id": "`+kasmID+`", "exec_config": {"cmd": "true"}`)); st != 200 || out["error_message"] != "Kasm ("+kasmID+") is currently scheduled to be deleted." {
		t.Errorf("deleted: %d %v", st, out)
	}
	// Least privilege: sessions_view alone may not run commands.
	vk, vs := e.devKey(`["sessions_view"]`)
	if st, out := e.kasm("/api/public/exec_command_kasm", creds(vk, vs, `"kasm_id": "`+rdp+`", "exec_config": {"cmd": "true"}`)); st != 401 || out["error_message"] != "Unauthorized" {
		t.Errorf("sessions_view key: %d %v", st, out)
	}
}

// The Kasm profile and attributes live on the user item: create_user and update_user keep
// the profile fields, update_user renames in one transaction (usernames stay unique), and
// default_image is honoured at launch: the user's attribute, then the groups', then Kasm's
// "No Default Image Found".
func TestKasmUserProfileAndAttributes(t *testing.T) {
	e := newEnv(t)
	e.v1("POST", "/v1/workspaces", `{"workspace_id": "chrome", "image_id": "kasmweb/chrome:1.16"}`, 201)
	e.v1("POST", "/v1/workspaces", `{"workspace_id": "term", "image_id": "kasmweb/terminal:1.16"}`, 201)
	e.v1("PUT", "/v1/groups/"+policy.AllUsersGroupID+"/workspaces/chrome", ``, 200)
	e.v1("PUT", "/v1/groups/"+policy.AllUsersGroupID+"/workspaces/term", ``, 200)
	key, secret := e.devKey(`["users_view", "users_create", "users_modify", "sessions_modify", "sessions_view", "users_auth_session"]`)
	call := func(name, rest string, want int) map[string]any {
		t.Helper()
		st, out := e.kasm("/api/public/"+name, creds(key, secret, rest))
		if st != want {
			t.Fatalf("%s: %d %v, want %d", name, st, out, want)
		}
		return out
	}
	u := call("create_user", `"target_user": {"username": "bob@example.com", "first_name": "Bob", "last_name": "Williams", "phone": "123-456-7890", "organization": "example", "password": "x", "locked": false}`, 200)["user"].(map[string]any)
	uid := u["user_id"].(string)
	if u["first_name"] != "Bob" || u["organization"] != "example" || u["notes"] != nil {
		t.Errorf("create_user: %v", u)
	}
	call("create_user", `"target_user": {"username": "taken@example.com"}`, 200)

	// update_user: fields it carries change, the others stay; a rename is one transaction.
	u = call("update_user", `"target_user": {"user_id": "`+uid+`", "username": "robert@example.com", "notes": "vip", "phone": null}`, 200)["user"].(map[string]any)
	if u["username"] != "robert@example.com" || u["notes"] != "vip" || u["phone"] != nil || u["first_name"] != "Bob" {
		t.Errorf("update_user: %v", u)
	}
	if out := call("update_user", `"target_user": {"user_id": "`+uid+`", "username": "TAKEN@example.com"}`, 400); out["error_message"] != "Username already exists" {
		t.Errorf("rename onto a taken name: %v", out)
	}
	// The old name is free again, the new one is held: create_user sees both.
	call("create_user", `"target_user": {"username": "bob@example.com"}`, 200)
	if out := call("create_user", `"target_user": {"username": "Robert@Example.com"}`, 400); out["error_message"] != "Username already exists" {
		t.Errorf("create over the new name: %v", out)
	}
	got := call("get_user", `"target_user": {"username": "robert@example.com"}`, 200)["user"].(map[string]any)
	if got["user_id"] != uid || got["notes"] != "vip" || got["last_name"] != "Williams" {
		t.Errorf("get_user by the new name: %v", got)
	}
	var listed map[string]any
	for _, x := range call("get_users", ``, 200)["users"].([]any) {
		if x.(map[string]any)["user_id"] == uid {
			listed = x.(map[string]any)
		}
	}
	if listed == nil || listed["first_name"] != "Bob" || listed["username"] != "robert@example.com" {
		t.Errorf("get_users: %v", listed)
	}

	// default_image: no attribute and no group default → Kasm's refusal.
	if out := call("request_kasm", `"user_id": "`+uid+`"`, 200); out["error_message"] != "No Default Image Found" {
		t.Errorf("no default image: %v", out)
	}
	e.v1("PATCH", "/v1/groups/"+policy.AllUsersGroupID+"/settings", `{"set": {"default_image": "term"}}`, 200)
	a := call("get_attributes", `"target_user": {"user_id": "`+uid+`"}`, 200)["user_attributes"].(map[string]any)
	if a["default_image"] != nil || a["user_id"] != uid || a["show_tips"] != nil {
		t.Errorf("get_attributes before: %v", a)
	}
	start := func() string {
		t.Helper()
		out := call("request_kasm", `"user_id": "`+uid+`"`, 200)
		id, _ := out["kasm_id"].(string)
		if id == "" {
			t.Fatalf("request_kasm: %v", out)
		}
		k := call("get_kasm_status", `"kasm_id": "`+id+`"`, 200)["kasm"].(map[string]any)
		call("destroy_kasm", `"kasm_id": "`+id+`"`, 200)
		return k["image_id"].(string)
	}
	if img := start(); img != "term" {
		t.Errorf("group default: launched %q, want term", img)
	}
	call("update_user_attributes", `"target_user_attributes": {"user_id": "`+uid+`", "default_image": "chrome", "show_tips": true, "theme": "Dark", "ssh_public_key": "ssh-ed25519 AAAA bob", "user_attributes_id": "ignored"}`, 200)
	a = call("get_attributes", `"target_user": {"user_id": "`+uid+`"}`, 200)["user_attributes"].(map[string]any)
	if a["default_image"] != "chrome" || a["show_tips"] != true || a["theme"] != "Dark" || a["ssh_public_key"] != "ssh-ed25519 AAAA bob" || a["auto_login_kasm"] != nil {
		t.Errorf("get_attributes after: %v", a)
	}
	if img := start(); img != "chrome" {
		t.Errorf("user attribute: launched %q, want chrome (it wins over the group's)", img)
	}
	// The profile survived the attribute update and the attributes survive a profile update.
	call("update_user", `"target_user": {"user_id": "`+uid+`", "organization": "other"}`, 200)
	if got := call("get_user", `"target_user": {"user_id": "`+uid+`"}`, 200)["user"].(map[string]any); got["first_name"] != "Bob" || got["organization"] != "other" {
		t.Errorf("profile after attribute update: %v", got)
	}
	call("update_user_attributes", `"target_user_attributes": {"user_id": "`+uid+`", "default_image": null, "theme": null}`, 200)
	a = call("get_attributes", `"target_user": {"user_id": "`+uid+`"}`, 200)["user_attributes"].(map[string]any)
	if a["default_image"] != nil || a["theme"] != nil || a["show_tips"] != true {
		t.Errorf("cleared: %v", a)
	}
	for _, r := range []struct{ name, rest, msg string }{
		{"unknown attribute", `"target_user_attributes": {"user_id": "` + uid + `", "favourite_colour": "blue"}`, "Invalid attribute (favourite_colour)"},
		{"bool attribute", `"target_user_attributes": {"user_id": "` + uid + `", "show_tips": "maybe"}`, "Invalid attribute (show_tips): true or false"},
		{"unknown user", `"target_user_attributes": {"user_id": "u_nobody"}`, "Invalid user_id (u_nobody)"},
		{"no user", `"target_user_attributes": {}`, "Invalid Request: Missing required parameters"},
	} {
		if st, out := e.kasm("/api/public/update_user_attributes", creds(key, secret, r.rest)); st != 400 || out["error_message"] != r.msg {
			t.Errorf("%s: %d %v, want 400 %q", r.name, st, out, r.msg)
		}
	}
	if st, out := e.kasm("/api/public/update_user_attributes", creds(key, secret, `"target_user_attributes": {"user_id": "`+uid+`", "default_image": "bad id with spaces"}`)); st != 400 || !strings.HasPrefix(out["error_message"].(string), "Invalid default_image") {
		t.Errorf("bad default_image: %d %v", st, out)
	}
	// The /v1 user view is unchanged by the profile.
	v := e.v1("GET", "/v1/users/"+uid, "", 200)
	if _, ok := v["first_name"]; ok || v["username"] != "robert@example.com" {
		t.Errorf("/v1 user: %v", v)
	}
	// Least privilege: users_view may read attributes, not change them.
	vk, vs := e.devKey(`["users_view"]`)
	if st, out := e.kasm("/api/public/update_user_attributes", creds(vk, vs, `"target_user_attributes": {"user_id": "`+uid+`", "theme": "x"}`)); st != 401 || out["error_message"] != "Unauthorized" {
		t.Errorf("users_view key: %d %v", st, out)
	}
}

// Every call of NotSupported answers Kasm's own not-supported error (200, the key still
// checked), and docs/kasm-compat.md has a row for it saying so; every implemented call has a
// row saying supported or forwarded.
func TestKasmNotSupportedCalls(t *testing.T) {
	e := newEnv(t)
	key, secret := e.devKey(`["sessions_view"]`)
	raw, err := os.ReadFile("../../docs/kasm-compat.md")
	if err != nil {
		t.Fatal(err)
	}
	rowOf := func(call string) string {
		word := regexp.MustCompile(`(^|[^a-z_/])` + regexp.QuoteMeta(call) + `([^a-z_]|$)`)
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "| ") && word.MatchString(strings.SplitN(line, "|", 3)[1]) {
				return line
			}
		}
		return ""
	}
	for _, name := range kasmapi.NotSupported {
		if st, out := e.kasm("/api/public/"+name, creds(key, secret, `"kasm_id": "x", "user_id": "u_x"`)); st != 200 || out["error_message"] != "Requested Kasm does not support feature" {
			t.Errorf("%s: %d %v", name, st, out)
		}
		if st, out := e.kasm("/api/public/"+name, creds(key, "wrong", "")); st != 403 || out["error_message"] != "Access Denied" {
			t.Errorf("%s with a wrong secret: %d %v", name, st, out)
		}
		if row := rowOf(name); !strings.Contains(row, "| not supported |") {
			t.Errorf("docs/kasm-compat.md: no \"not supported\" row for %s (found %q)", name, row)
		}
	}
	for _, call := range e.kh.Calls() {
		name := strings.TrimPrefix(call, "public/")
		if row := rowOf(name); !strings.Contains(row, "| supported") && !strings.Contains(row, "| forwarded") {
			t.Errorf("docs/kasm-compat.md: no supported/forwarded row for %s (found %q)", call, row)
		}
	}
	if st, out := e.kasm("/api/public/no_such_call", creds(key, secret, "")); st != 404 || out["error_message"] != "Not Found" {
		t.Errorf("unknown call: %d %v", st, out)
	}
}

// Least privilege: for every implemented call, a key holding every permission but the ones
// the call needs gets 401 Unauthorized, and a key holding only those does not; acting as a
// user (a body user_id) needs users_auth_session besides.
func TestKasmLeastPrivilege(t *testing.T) {
	e := newEnv(t)
	uid := e.v1("POST", "/v1/users", `{"username": "erin"}`, 201)["user_id"].(string)
	keys := map[string][2]string{}
	keyFor := func(perms []string) (string, string) {
		t.Helper()
		slices.Sort(perms)
		id := strings.Join(perms, ",")
		if k, ok := keys[id]; ok {
			return k[0], k[1]
		}
		raw, _ := json.Marshal(perms)
		k, s := e.devKey(string(raw))
		keys[id] = [2]string{k, s}
		return k, s
	}
	for _, call := range e.kh.Calls() {
		need := e.kh.Permissions(call)
		var others []string
		for _, p := range devkeys.Permissions {
			if !slices.Contains(need, p) {
				others = append(others, p)
			}
		}
		path := "/api/" + call
		k, s := keyFor(others)
		if st, out := e.kasm(path, creds(k, s, "")); st != 401 || out["error_message"] != "Unauthorized" {
			t.Errorf("%s with every permission but %v: %d %v, want 401", call, need, st, out)
		}
		for _, p := range need {
			k, s := keyFor([]string{p})
			if st, out := e.kasm(path, creds(k, s, "")); st == 401 || st == 403 {
				t.Errorf("%s with only %s: %d %v", call, p, st, out)
			}
			// Acting as a user needs users_auth_session too.
			if st, out := e.kasm(path, creds(k, s, `"user_id": "`+uid+`"`)); p != devkeys.PermUsersAuthSession && (st != 401 || out["error_message"] != "Unauthorized") {
				t.Errorf("%s with only %s and a user_id: %d %v, want 401", call, p, st, out)
			}
			k, s = keyFor([]string{p, devkeys.PermUsersAuthSession})
			if st, out := e.kasm(path, creds(k, s, `"user_id": "`+uid+`"`)); st == 401 || st == 403 {
				t.Errorf("%s with %s and users_auth_session and a user_id: %d %v", call, p, st, out)
			}
		}
	}
}
