package kasmapi_test

import (
	"context"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/httpapi"
	"wspolicy/internal/kasmapi"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
)

// kasmDate is Kasm's date form, Python's str(datetime) of a naive UTC time.
var kasmDate = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$`)

// wantKeys fails unless m has every key.
func wantKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: no %q in %v", what, k, m)
		}
	}
}

// wantDates fails unless each key holds a date in Kasm's form.
func wantDates(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if s, _ := m[k].(string); !kasmDate.MatchString(s) {
			t.Errorf("%s: %s = %v, not Kasm's date form", what, k, m[k])
		}
	}
}

// TestKasmEveryCallEndToEnd drives every implemented call through the HTTP handler against
// DynamoDB Local, as a Kasm client would (raw JSON, Kasm's field names), and checks the
// shapes, dates and statuses of the answers; at the end every call of Handler.Calls must
// have answered 200 without error_message at least once.
func TestKasmEveryCallEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.v1("POST", "/v1/workspaces", `{"workspace_id": "chrome", "image_id": "kasmweb/chrome:1.16", "friendly_name": "Chrome", "categories": ["Browsers"], "cores": 2, "memory": 2768000000}`, 201)
	key, secret := e.devKey(`["all"]`)
	ok := map[string]bool{}
	call := func(name, rest string) map[string]any {
		t.Helper()
		path := "/api/public/" + name
		if strings.HasPrefix(name, "admin/") {
			path = "/api/" + name
		}
		st, out := e.kasm(path, creds(key, secret, rest))
		if st != 200 || out["error_message"] != nil {
			t.Fatalf("%s: %d %v", name, st, out)
		}
		if !strings.HasPrefix(name, "admin/") {
			name = "public/" + name
		}
		ok[name] = true
		return out
	}

	groups := call("get_groups", ``)["groups"].([]any)
	if len(groups) != 1 {
		t.Fatalf("get_groups: %v", groups)
	}
	wantKeys(t, "group", groups[0].(map[string]any), "group_id", "name", "description", "priority", "is_system")
	g := e.v1("POST", "/v1/groups", `{"name": "Staff", "priority": 10}`, 201)["group_id"].(string)
	e.v1("PUT", "/v1/groups/"+g+"/workspaces/chrome", ``, 200)

	img := call("get_images", ``)["images"].([]any)[0].(map[string]any)
	wantKeys(t, "image", img, "image_id", "name", "friendly_name", "description", "image_src", "enabled", "available", "cores", "memory", "session_time_limit", "categories", "image_type")
	if img["image_id"] != "chrome" || img["name"] != "kasmweb/chrome:1.16" || img["image_type"] != "Container" {
		t.Errorf("get_images: %v", img)
	}

	u := call("create_user", `"target_user": {"username": "frank@example.com", "first_name": "Frank"}`)["user"].(map[string]any)
	wantKeys(t, "user", u, "user_id", "username", "locked", "disabled", "last_session", "groups", "first_name", "last_name", "phone", "organization", "notes")
	uid := u["user_id"].(string)
	call("add_user_group", `"target_user": {"user_id": "`+uid+`"}, "target_group": {"group_id": "`+g+`"}`)
	call("update_user", `"target_user": {"user_id": "`+uid+`", "last_name": "Lee"}`)
	call("update_user_attributes", `"target_user_attributes": {"user_id": "`+uid+`", "default_image": "chrome"}`)
	if a := call("get_attributes", `"target_user": {"user_id": "`+uid+`"}`)["user_attributes"].(map[string]any); a["default_image"] != "chrome" {
		t.Errorf("get_attributes: %v", a)
	}

	// Sessions: without image_id the user's default_image launches.
	r := call("request_kasm", `"user_id": "`+uid+`", "client_timezone": "UTC", "x_res": 1280, "y_res": 720`)
	wantKeys(t, "request_kasm", r, "kasm_id", "status", "user_id", "username", "session_token", "kasm_url")
	kasmID := r["kasm_id"].(string)
	st := call("get_kasm_status", `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`"`)
	wantDates(t, "get_kasm_status", st, "current_time")
	k := st["kasm"].(map[string]any)
	wantKeys(t, "kasm", k, "kasm_id", "user_id", "image_id", "server_id", "start_date", "created_date", "keepalive_date", "expiration_date",
		"operational_status", "operational_message", "operational_progress", "container_id", "container_ip", "hostname", "host", "port",
		"port_map", "token", "view_only_token", "share_id", "cores", "memory", "gpus", "is_persistent_profile", "persistent_profile_mode",
		"client_settings", "image")
	wantDates(t, "kasm", k, "start_date", "created_date", "keepalive_date", "expiration_date")
	if k["image_id"] != "chrome" || k["image"].(map[string]any)["friendly_name"] != "Chrome" {
		t.Errorf("kasm: %v", k)
	}
	if ka := call("keepalive", `"kasm_id": "`+kasmID+`"`); ka["usage_reached"] != false {
		t.Errorf("keepalive: %v", ka)
	}
	if ka := call("keepalive", `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`"`); ka["usage_reached"] != false {
		t.Errorf("keepalive as the owner: %v", ka)
	}
	other := e.v1("POST", "/v1/users", `{"username": "someone-else"}`, 201)["user_id"].(string)
	if st, out := e.kasm("/api/public/keepalive", creds(key, secret, `"kasm_id": "`+kasmID+`", "user_id": "`+other+`"`)); st != 200 || out["error_message"] != "Could not find requested Kasm." {
		t.Errorf("keepalive as another user: %d %v", st, out)
	}
	call("exec_command_kasm", `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`", "exec_config": {"cmd": "xdotool key ctrl+l"}`)
	call("pause_kasm", `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`"`)
	if s := call("get_kasm_status", `"kasm_id": "`+kasmID+`"`)["kasm"].(map[string]any); s["operational_status"] != "paused" {
		t.Errorf("after pause_kasm: %v", s["operational_status"])
	}
	call("resume_kasm", `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`"`)
	call("stop_kasm", `"kasm_id": "`+kasmID+`"`)
	call("resume_kasm", `"kasm_id": "`+kasmID+`"`)
	ks := call("get_kasms", ``)
	wantDates(t, "get_kasms", ks, "current_time")
	listed := ks["kasms"].([]any)[0].(map[string]any)
	wantKeys(t, "get_kasms kasm", listed, "kasm_id", "user", "server", "expiration_date")
	wantKeys(t, "get_kasms server", listed["server"].(map[string]any), "hostname", "port", "provider", "zone_name")
	gu := call("get_user", `"target_user": {"user_id": "`+uid+`"}`)["user"].(map[string]any)
	if kasms := gu["kasms"].([]any); len(kasms) != 1 || gu["last_name"] != "Lee" || gu["first_name"] != "Frank" {
		t.Errorf("get_user: %v", gu)
	} else {
		wantDates(t, "get_user kasm", kasms[0].(map[string]any), "start_date", "keepalive_date", "expiration_date")
	}
	if len(call("get_users", ``)["users"].([]any)) != 2 {
		t.Errorf("get_users")
	}
	us := call("get_usage_summary", `"user_id": "`+uid+`"`)
	wantKeys(t, "get_usage_summary", us, "usage_limit", "usage_limit_remaining", "usage_limit_type", "usage_limit_interval", "usage_limit_hours", "usage_limit_start_date", "usage_limit_next_start_date")
	call("destroy_kasm", `"kasm_id": "`+kasmID+`", "user_id": "`+uid+`"`)

	// Group settings through the admin API, in Kasm's text values.
	call("admin/add_settings_group", `"target_group": {"group_id": "`+g+`"}, "target_setting": {"name": "max_kasms_per_user", "value": "1"}`)
	call("admin/update_settings_group", `"target_group": {"group_id": "`+g+`"}, "target_setting": {"group_setting_id": "max_kasms_per_user", "value": "2"}`)
	rows := call("admin/get_settings_group", `"target_group": {"group_id": "`+g+`"}`)["settings"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["value"] != "2" || rows[0].(map[string]any)["value_type"] != "int" {
		t.Errorf("get_settings_group: %v", rows)
	}
	call("admin/delete_settings_group", `"target_group": {"group_id": "`+g+`"}, "target_setting": {"group_setting_id": "max_kasms_per_user"}`)

	// Business refusals are 200 with Kasm's texts; bad input to user calls is 400.
	e.v1("PATCH", "/v1/groups/"+g+"/settings", `{"set": {"max_kasms_per_user": 1}}`, 200)
	call("request_kasm", `"user_id": "`+uid+`"`)
	if st, out := e.kasm("/api/public/request_kasm", creds(key, secret, `"user_id": "`+uid+`"`)); st != 200 || out["error_message"] != "Kasm limit exceeded for user: (frank@example.com)" {
		t.Errorf("second request_kasm: %d %v", st, out)
	}
	if st, out := e.kasm("/api/public/delete_user", creds(key, secret, `"target_user": {"user_id": "`+uid+`"}`)); st != 400 || !strings.Contains(out["error_message"].(string), "active sessions") {
		t.Errorf("delete_user without force: %d %v", st, out)
	}
	call("remove_user_group", `"target_user": {"user_id": "`+uid+`"}, "target_group": {"group_id": "`+g+`"}`)
	if st, out := e.kasm("/api/public/remove_user_group", creds(key, secret, `"target_user": {"user_id": "`+uid+`"}, "target_group": {"group_id": "g_nosuch"}`)); st != 400 || out["error_message"] != "Invalid group_id (g_nosuch)" {
		t.Errorf("remove_user_group of an unknown group: %d %v", st, out)
	}
	call("delete_user", `"target_user": {"user_id": "`+uid+`"}, "force": true`)
	if st, out := e.kasm("/api/public/get_user", creds(key, secret, `"target_user": {"user_id": "`+uid+`"}`)); st != 400 || out["error_message"] != "Invalid user_id ("+uid+")" {
		t.Errorf("get_user after delete_user: %d %v", st, out)
	}

	var missed []string
	for _, c := range e.kh.Calls() {
		if !ok[c] {
			missed = append(missed, c)
		}
	}
	sort.Strings(missed)
	if len(missed) > 0 {
		t.Errorf("calls this test did not drive: %v", missed)
	}
}

// TestKasmKeepaliveCostsTheNativeOne measures, with ReturnConsumedCapacity INDEXES on DynamoDB
// Local, that a Kasm keepalive makes the same requests and consumes the same capacity as a
// native one once the key is cached: one UpdateItem, one write unit, nothing in any index.
func TestKasmKeepaliveCostsTheNativeOne(t *testing.T) {
	tb := ddbtest.NewTable(t)
	var (
		mu    sync.Mutex
		ops   []string
		units float64
		index float64
	)
	ctx := context.Background()
	db, err := ddbkit.NewClient(ctx, tb.Endpoint, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("capacity",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if p, ok := in.Parameters.(*dynamodb.UpdateItemInput); ok {
						p.ReturnConsumedCapacity = ddbtypes.ReturnConsumedCapacityIndexes
					}
					out, md, err := next.HandleInitialize(ctx, in)
					mu.Lock()
					defer mu.Unlock()
					ops = append(ops, middleware.GetOperationName(ctx))
					if r, ok := out.Result.(*dynamodb.UpdateItemOutput); ok && r.ConsumedCapacity != nil {
						if c := r.ConsumedCapacity.Table; c != nil && c.CapacityUnits != nil {
							units += *c.CapacityUnits
						}
						for _, c := range r.ConsumedCapacity.GlobalSecondaryIndexes {
							if c.CapacityUnits != nil {
								index += *c.CapacityUnits
							}
						}
					}
					return out, md, err
				}), middleware.Before)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := &policy.FixedClock{T: time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)}
	store := ddbstore.Open(db, tb.Name, ddbstore.WithClock(clock)).Directory()
	if err := store.EnsureAllUsers(ctx, clock.Now(), settings.AllUsersValues()); err != nil {
		t.Fatal(err)
	}
	svc := sessions.New(sessions.Config{Store: ddbstore.Open(db, tb.Name).Sessions(), Directory: store, Clock: clock, Workspaces: store})
	parts := kasmapi.Wire(store, svc, clock)
	e := &env{t: t, tb: tb, clock: clock, kh: parts.Kasm, h: httpapi.New(httpapi.Config{Directory: store, Clock: clock, AdminKey: admin,
		Sessions: svc, Workspaces: parts.Workspaces, DevKeys: parts.DevKeys, Kasm: parts.Kasm})}
	uid := e.v1("POST", "/v1/users", `{"username": "gina"}`, 201)["user_id"].(string)
	id := e.v1("POST", "/v1/sessions", `{"user_id": "`+uid+`", "image_id": "kasmweb/chrome:1.16"}`, 201)["session_id"].(string)
	key, secret := e.devKey(`["sessions_modify"]`)
	measure := func(do func()) ([]string, float64, float64) {
		clock.Advance(time.Second)
		mu.Lock()
		ops, units, index = nil, 0, 0
		mu.Unlock()
		do()
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), ops...), units, index
	}
	kasm := func() {
		if st, out := e.kasm("/api/public/keepalive", creds(key, secret, `"kasm_id": "`+id+`"`)); st != 200 || out["usage_reached"] != false {
			t.Fatalf("kasm keepalive: %d %v", st, out)
		}
	}
	native := func() { e.v1("POST", "/v1/sessions/"+id+"/keepalive", `{}`, 200) }
	kasm() // the first call verifies the key (one read), later ones find it in the cache
	kOps, kUnits, kIndex := measure(kasm)
	nOps, nUnits, nIndex := measure(native)
	t.Logf("Kasm keepalive: %v, %.1f WCU, %.1f index WCU; native: %v, %.1f WCU, %.1f index WCU", kOps, kUnits, kIndex, nOps, nUnits, nIndex)
	if strings.Join(kOps, ",") != "UpdateItem" || strings.Join(nOps, ",") != "UpdateItem" {
		t.Errorf("requests: Kasm %v, native %v; want one UpdateItem each", kOps, nOps)
	}
	if kUnits != nUnits || kUnits != 1 || kIndex != 0 || nIndex != 0 {
		t.Errorf("capacity: Kasm %.1f (+%.1f index), native %.1f (+%.1f index); want 1 and 0 each", kUnits, kIndex, nUnits, nIndex)
	}
}
