package sessions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/ddbstore/storetest"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/launch"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/publish"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
)

// launchEnv is the session service on a fresh table whose All Users group holds the catalog's
// All Users column (as a fresh install has it), with the table for counting requests.
type launchEnv struct {
	env
	tb *ddbtest.Table
}

func newLaunchEnv(t *testing.T) launchEnv {
	t.Helper()
	se := storetest.New(t)
	tb := se.TB
	clock := &policy.FixedClock{T: t0}
	e := env{clock: clock, dir: se.Dir, store: se.Sessions}
	allUsers := map[string]json.RawMessage{}
	for _, s := range settings.Catalog() {
		if s.AllUsers != nil {
			allUsers[s.Name] = s.AllUsers
		}
	}
	if err := e.dir.EnsureAllUsers(context.Background(), t0, allUsers); err != nil {
		t.Fatal(err)
	}
	e.svc = sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: clock})
	return launchEnv{env: e, tb: tb}
}

// group creates a group holding settings (JSON text by name).
func (e launchEnv) group(t *testing.T, id string, priority int, values map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.dir.CreateGroup(ctx, policy.Group{ID: id, Name: id, Priority: priority}); err != nil {
		t.Fatal(err)
	}
	e.set(t, id, values)
}

// set changes settings of a group (JSON text by name; "" unsets).
func (e launchEnv) set(t *testing.T, groupID string, values map[string]string) {
	t.Helper()
	ch := policy.SettingsChange{Set: map[string]json.RawMessage{}}
	for name, v := range values {
		if v == "" {
			ch.Unset = append(ch.Unset, name)
			continue
		}
		canon, err := settings.Validate(name, json.RawMessage(v))
		if err != nil {
			t.Fatalf("group %s: %s = %s: %v", groupID, name, v, err)
		}
		ch.Set[name] = canon
	}
	if _, err := e.dir.ChangeSettings(context.Background(), groupID, ch, 0, "admin", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// newUser creates a user (username = id) in groups.
func (e launchEnv) newUser(t *testing.T, id string, groups ...string) {
	t.Helper()
	if _, err := e.dir.CreateUser(context.Background(), policy.User{ID: id, Username: id, GroupIDs: groups}); err != nil {
		t.Fatal(err)
	}
}

// decodeLaunch reads a session's launch configuration.
func decodeLaunch(t *testing.T, raw json.RawMessage) launch.Launch {
	t.Helper()
	var l launch.Launch
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatalf("launch %s: %v", raw, err)
	}
	return l
}

// mountLine is a mount as "host_path → bind (mode, source kind)", the part the tests compare.
func mountLine(m launch.Mount) string {
	src, _, _ := strings.Cut(m.Source, ":")
	return fmt.Sprintf("%s → %s (%s, %s)", m.HostPath, m.Bind, m.Mode, src)
}

func mountLines(l launch.Launch) []string {
	out := []string{}
	for _, m := range l.Mounts {
		out = append(out, mountLine(m))
	}
	return out
}

// TestStartLaunchConfiguration starts sessions of users in two groups with their own storage
// mappings and checks what each session gets: client settings with every client-facing
// setting's effective value, and a launch configuration with the merged volume_mapping of
// both groups plus the user's own mappings (only while allowed, read-only when required),
// tokens substituted, the environment only when exposed; the created event carries both.
func TestStartLaunchConfiguration(t *testing.T) {
	e := newLaunchEnv(t)
	ctx := context.Background()
	vol := func(host, bind, mode string) string {
		return fmt.Sprintf(`{%q: {"bind": %q, "mode": %q, "uid": 1000, "gid": 1000}}`, host, bind, mode)
	}
	own := `{"host_path": "/home/{username}/projects", "bind": "/home/kasm-user/projects", "mode": "rw", "uid": 1000, "gid": 1000}`
	ownToo := `{"host_path": "/scratch/{user_id}", "bind": "/scratch", "mode": "rw", "uid": 0, "gid": 0, "required": false}`
	twoGroups := func(first map[string]string) map[string]string {
		out := map[string]string{"volume_mapping": vol("/nfs/{username}", "/home/kasm-user/nfs", "rw"),
			"allow_kasm_audio": "false", "keepalive_interval": "60"}
		for k, v := range first {
			out[k] = v
		}
		return out
	}
	second := map[string]string{"volume_mapping": vol("/shared/{user_id}", "/mnt/shared", "ro"), "allow_kasm_audio": "true",
		"run_config": `{"hostname": "ws-{username}", "environment": {"TZ": "UTC"}}`}
	tests := []struct {
		name        string
		user        string
		first       map[string]string // settings of the user's first group (priority 10)
		mappings    []string          // registered while allowed
		later       map[string]string // then changed on the first group ("" unsets)
		wantMounts  []string
		wantEnv     map[string]string
		wantFilter  string
		wantSSHKeys bool
	}{
		{
			name: "both groups' volumes and the own mapping forced read-only",
			user: "ana",
			first: twoGroups(map[string]string{"read_only_user_storage_mapping": "true",
				"expose_user_environment_vars": "true", "web_filter_policy": `"wf-strict"`, "inject_ssh_keys": "true"}),
			mappings: []string{own},
			wantMounts: []string{
				"/nfs/ana → /home/kasm-user/nfs (rw, group)",
				"/home/ana/projects → /home/kasm-user/projects (ro, user_mapping)",
				"/shared/ana → /mnt/shared (ro, group)",
			},
			wantEnv:     map[string]string{"KASM_USER": "ana", "KASM_USER_ID": "ana"},
			wantFilter:  "wf-strict",
			wantSSHKeys: true,
		},
		{
			name:     "read-only not required keeps the mapping's own mode",
			user:     "ben",
			first:    twoGroups(map[string]string{"read_only_user_storage_mapping": "false"}),
			mappings: []string{own, ownToo},
			wantMounts: []string{
				"/nfs/ben → /home/kasm-user/nfs (rw, group)",
				"/home/ben/projects → /home/kasm-user/projects (rw, user_mapping)",
				"/shared/ben → /mnt/shared (ro, group)",
				"/scratch/ben → /scratch (rw, user_mapping)",
			},
			wantEnv: map[string]string{},
		},
		{
			name:     "permission withdrawn: the mappings stay stored but are left out",
			user:     "cy",
			first:    twoGroups(map[string]string{"expose_user_environment_vars": "false"}),
			mappings: []string{own, ownToo},
			later:    map[string]string{"allow_user_storage_mapping": "false"},
			wantMounts: []string{
				"/nfs/cy → /home/kasm-user/nfs (rw, group)",
				"/shared/cy → /mnt/shared (ro, group)",
			},
			wantEnv: map[string]string{},
		},
		{
			name:     "a mapping at a group's bind is left out",
			user:     "dee",
			first:    twoGroups(nil),
			mappings: []string{`{"host_path": "/mine", "bind": "/mnt/shared", "mode": "rw", "uid": 1, "gid": 1}`},
			wantMounts: []string{
				"/nfs/dee → /home/kasm-user/nfs (rw, group)",
				"/shared/dee → /mnt/shared (ro, group)",
			},
			wantEnv: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g1, g2 := "first-"+tt.user, "second-"+tt.user
			e.group(t, g1, 10, tt.first)
			e.group(t, g2, 20, second)
			e.newUser(t, tt.user, g1, g2)
			for _, body := range tt.mappings {
				if _, err := e.svc.RegisterStorageMapping(ctx, lifecycle.UserActor(tt.user), tt.user, json.RawMessage(body)); err != nil {
					t.Fatalf("register %s: %v", body, err)
				}
			}
			if tt.later != nil {
				e.set(t, g1, tt.later)
				stored, err := e.svc.StorageMappings(ctx, lifecycle.UserActor(tt.user), tt.user)
				if err != nil || len(stored) != len(tt.mappings) {
					t.Fatalf("stored mappings after the change: got %d, %v; want %d", len(stored), err, len(tt.mappings))
				}
			}
			s, err := e.svc.Start(ctx, tt.user, "img", true)
			if err != nil {
				t.Fatal(err)
			}
			l := decodeLaunch(t, s.Launch)
			if got := mountLines(l); !slices.Equal(got, tt.wantMounts) {
				t.Errorf("mounts:\n got %q\nwant %q", got, tt.wantMounts)
			}
			if fmt.Sprint(l.Environment) != fmt.Sprint(tt.wantEnv) {
				t.Errorf("environment: got %v, want %v", l.Environment, tt.wantEnv)
			}
			if l.ImageID != "img" || l.WebFilterPolicy != tt.wantFilter || l.InjectSSHKeys != tt.wantSSHKeys {
				t.Errorf("image %q, web filter %q, ssh keys %v; want img, %q, %v", l.ImageID, l.WebFilterPolicy, l.InjectSSHKeys, tt.wantFilter, tt.wantSSHKeys)
			}
			if rc, _ := json.Marshal(l.RunConfig); string(rc) != `{"environment":{"TZ":"UTC"},"hostname":"ws-{username}"}` {
				t.Errorf("run_config: got %s, want the second group's, untouched", rc)
			}

			// Client settings: every client-facing setting, with the effective value.
			var cs map[string]any
			if err := json.Unmarshal(s.ClientSettings, &cs); err != nil {
				t.Fatal(err)
			}
			for _, def := range settings.Catalog() {
				if _, ok := cs[def.Name]; ok != def.ClientFacing {
					t.Errorf("client_settings has %s: %v, want %v", def.Name, ok, def.ClientFacing)
				}
			}
			for name, want := range map[string]any{"allow_kasm_audio": false, "keepalive_interval": float64(60),
				"idle_disconnect": float64(20), "allow_kasm_clipboard_down": true, "control_panel.show_display_manager": true,
				"allow_kasm_webcam": false, "lock_sharing_video_mode": true} {
				if cs[name] != want {
					t.Errorf("client_settings %s: got %v, want %v", name, cs[name], want)
				}
			}

			// The keepalive-free read and the created event carry the same documents.
			got, err := e.svc.Get(ctx, lifecycle.UserActor(tt.user), s.SessionID)
			if err != nil || string(got.Launch) != string(s.Launch) || string(got.ClientSettings) != string(s.ClientSettings) {
				t.Errorf("Get: launch %s, client settings %s, %v; want those of the start", got.Launch, got.ClientSettings, err)
			}
			evs, err := e.svc.Events(ctx, lifecycle.AdminActor(), s.SessionID)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := publish.MarshalDetail(evs[0])
			if err != nil {
				t.Fatal(err)
			}
			var pub struct {
				Type   string `json:"type"`
				Detail struct {
					ImageID        string          `json:"image_id"`
					Container      bool            `json:"container"`
					ClientSettings json.RawMessage `json:"client_settings"`
					Launch         json.RawMessage `json:"launch"`
				} `json:"detail"`
			}
			if err := json.Unmarshal(doc, &pub); err != nil {
				t.Fatal(err)
			}
			if pub.Type != "created" || pub.Detail.ImageID != "img" || !pub.Detail.Container ||
				string(pub.Detail.Launch) != string(s.Launch) || string(pub.Detail.ClientSettings) != string(s.ClientSettings) {
				t.Errorf("published created event: %s; want image, container, client_settings and launch of the session", doc)
			}
		})
	}
}

// TestStorageMappingRules registers, lists and deletes storage mappings through the service.
func TestStorageMappingRules(t *testing.T) {
	e := newLaunchEnv(t)
	ctx := context.Background()
	e.group(t, "two", 10, map[string]string{"max_user_storage_mappings": "2"})
	e.group(t, "denied", 10, map[string]string{"allow_user_storage_mapping": "false"})
	e.group(t, "none", 10, map[string]string{"max_user_storage_mappings": "0"})
	e.newUser(t, "u1", "two")
	e.newUser(t, "u2", "two")
	e.newUser(t, "nope", "denied")
	e.newUser(t, "zero", "none")
	ok := `{"host_path": "/data/{username}", "bind": "/data", "mode": "rw", "uid": 1000, "gid": 1000}`
	tests := []struct {
		name      string
		actor     lifecycle.Actor
		user      string
		body      string
		kind      policy.Kind
		code      string
		field     string
		wantCount int // u1's mappings afterwards
	}{
		{"own, first", lifecycle.UserActor("u1"), "u1", ok, "", "", "", 1},
		{"admin for the user", lifecycle.AdminActor(), "u1", ok, "", "", "", 2},
		{"beyond max_user_storage_mappings", lifecycle.UserActor("u1"), "u1", ok, policy.KindConflict, policy.CodeMaxStorageMappings, "max_user_storage_mappings", 2},
		{"another user's", lifecycle.UserActor("u2"), "u1", ok, policy.KindForbidden, "forbidden", "", 2},
		{"allow_user_storage_mapping false", lifecycle.UserActor("nope"), "nope", ok, policy.KindForbidden, policy.CodePermissionDenied, "allow_user_storage_mapping", 2},
		{"max 0", lifecycle.UserActor("zero"), "zero", ok, policy.KindConflict, policy.CodeMaxStorageMappings, "max_user_storage_mappings", 2},
		{"unknown user", lifecycle.AdminActor(), "nobody", ok, policy.KindNotFound, "user_not_found", "", 2},
		{"no host_path", lifecycle.UserActor("u2"), "u2", `{"bind": "/data", "mode": "rw", "uid": 1, "gid": 1}`, policy.KindInvalid, policy.CodeInvalidStorageMapping, "host_path", 2},
		{"relative host_path", lifecycle.UserActor("u2"), "u2", `{"host_path": "data", "bind": "/data", "mode": "rw", "uid": 1, "gid": 1}`, policy.KindInvalid, policy.CodeInvalidStorageMapping, "host_path", 2},
		{"relative bind", lifecycle.UserActor("u2"), "u2", `{"host_path": "/d", "bind": "data", "mode": "rw", "uid": 1, "gid": 1}`, policy.KindInvalid, policy.CodeInvalidStorageMapping, "bind", 2},
		{"unknown mode", lifecycle.UserActor("u2"), "u2", `{"host_path": "/d", "bind": "/data", "mode": "rx", "uid": 1, "gid": 1}`, policy.KindInvalid, policy.CodeInvalidStorageMapping, "mode", 2},
		{"negative uid", lifecycle.UserActor("u2"), "u2", `{"host_path": "/d", "bind": "/data", "mode": "ro", "uid": -1, "gid": 1}`, policy.KindInvalid, policy.CodeInvalidStorageMapping, "uid", 2},
		{"no gid", lifecycle.UserActor("u2"), "u2", `{"host_path": "/d", "bind": "/data", "mode": "ro", "uid": 1}`, policy.KindInvalid, policy.CodeInvalidStorageMapping, "gid", 2},
		{"unknown field", lifecycle.UserActor("u2"), "u2", `{"host_path": "/d", "bind": "/data", "mode": "ro", "uid": 1, "gid": 1, "owner": "x"}`, policy.KindInvalid, policy.CodeInvalidStorageMapping, "owner", 2},
		{"not an object", lifecycle.UserActor("u2"), "u2", `["/d"]`, policy.KindInvalid, policy.CodeInvalidStorageMapping, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := e.svc.RegisterStorageMapping(ctx, tt.actor, tt.user, json.RawMessage(tt.body))
			if tt.kind != "" {
				wantErr(t, err, tt.kind, tt.code, tt.field)
			} else if err != nil || m.ID == "" || m.UserID != tt.user || !m.CreatedAt.Equal(t0) {
				t.Fatalf("got %+v, %v; want a stored mapping of %s with an id", m, err, tt.user)
			}
			got, err := e.svc.StorageMappings(ctx, lifecycle.UserActor("u1"), "u1")
			if err != nil || len(got) != tt.wantCount {
				t.Fatalf("u1's mappings: got %d, %v; want %d", len(got), err, tt.wantCount)
			}
		})
	}

	mine, _ := e.svc.StorageMappings(ctx, lifecycle.AdminActor(), "u1")
	deletes := []struct {
		name        string
		actor       lifecycle.Actor
		user, id    string
		kind        policy.Kind
		code        string
		wantCount   int
		registerNow bool // then u1 may register one again
	}{
		{"another user's", lifecycle.UserActor("u2"), "u1", mine[0].ID, policy.KindForbidden, "forbidden", 2, false},
		{"through another user", lifecycle.UserActor("u2"), "u2", mine[0].ID, policy.KindNotFound, "storage_mapping_not_found", 2, false},
		{"own", lifecycle.UserActor("u1"), "u1", mine[0].ID, "", "", 1, true},
		{"own again", lifecycle.UserActor("u1"), "u1", mine[0].ID, policy.KindNotFound, "storage_mapping_not_found", 2, false},
	}
	for _, tt := range deletes {
		t.Run("delete "+tt.name, func(t *testing.T) {
			err := e.svc.DeleteStorageMapping(ctx, tt.actor, tt.user, tt.id)
			if tt.kind != "" {
				wantErr(t, err, tt.kind, tt.code, "")
			} else if err != nil {
				t.Fatal(err)
			}
			if tt.registerNow {
				got, _ := e.svc.StorageMappings(ctx, lifecycle.UserActor("u1"), "u1")
				if len(got) != tt.wantCount {
					t.Fatalf("after delete: %d mappings, want %d", len(got), tt.wantCount)
				}
				if _, err := e.svc.RegisterStorageMapping(ctx, lifecycle.UserActor("u1"), "u1", json.RawMessage(ok)); err != nil {
					t.Fatalf("register into the freed place: %v", err)
				}
			}
		})
	}
	t.Run("list another user's", func(t *testing.T) {
		_, err := e.svc.StorageMappings(ctx, lifecycle.UserActor("u2"), "u1")
		wantErr(t, err, policy.KindForbidden, "forbidden", "")
	})
}

// TestRegisterStorageMappingsConcurrently: concurrent registrations of one user never exceed
// max_user_storage_mappings.
func TestRegisterStorageMappingsConcurrently(t *testing.T) {
	e := newLaunchEnv(t)
	ctx := context.Background()
	e.group(t, "three", 10, map[string]string{"max_user_storage_mappings": "3"})
	e.newUser(t, "u1", "three")
	const n = 10
	codes := make(chan string, n)
	for i := range n {
		go func() {
			body := fmt.Sprintf(`{"host_path": "/d/%d", "bind": "/m/%d", "mode": "rw", "uid": 1, "gid": 1}`, i, i)
			for {
				_, err := e.svc.RegisterStorageMapping(ctx, lifecycle.UserActor("u1"), "u1", json.RawMessage(body))
				if policy.IsKind(err, policy.KindUnavailable) {
					continue // a client retries a 503
				}
				if err == nil {
					codes <- "created"
				} else {
					codes <- policy.CodeOf(err)
				}
				return
			}
		}()
	}
	got := map[string]int{}
	for range n {
		got[<-codes]++
	}
	want := map[string]int{"created": 3, policy.CodeMaxStorageMappings: n - 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("outcomes: got %v, want %v", got, want)
	}
	if stored, _ := e.svc.StorageMappings(ctx, lifecycle.AdminActor(), "u1"); len(stored) != 3 {
		t.Fatalf("stored: got %d, want 3", len(stored))
	}
}

// TestDefaultImageAndReuse covers the /go flow: an omitted image is the effective
// default_image, and reuse returns the user's live session of the image instead of starting
// one, without counting against max_kasms_per_user or the usage limit.
func TestDefaultImageAndReuse(t *testing.T) {
	e := newLaunchEnv(t)
	ctx := context.Background()
	e.group(t, "desk", 10, map[string]string{"default_image": `"desktop"`, "max_kasms_per_user": "1",
		"usage_limit": `{"type": "per_user", "interval": "daily", "hours": 1}`})
	e.group(t, "bare", 10, map[string]string{"max_kasms_per_user": "3"})
	e.newUser(t, "dee", "desk")
	e.newUser(t, "noimg", "bare")
	e.newUser(t, "multi", "bare")

	var first sessions.Session
	tests := []struct {
		name       string
		req        sessions.StartRequest
		kind       policy.Kind
		code       string
		wantImage  string
		wantReused bool
		wantSameAs *sessions.Session // the session it must return
	}{
		{name: "no image starts the default_image", req: sessions.StartRequest{UserID: "dee", Reuse: true, Container: true}, wantImage: "desktop"},
		{name: "reuse returns the live session", req: sessions.StartRequest{UserID: "dee", Reuse: true}, wantImage: "desktop", wantReused: true, wantSameAs: &first},
		{name: "reuse again returns it again", req: sessions.StartRequest{UserID: "dee", ImageID: "desktop", Reuse: true}, wantImage: "desktop", wantReused: true, wantSameAs: &first},
		{name: "without reuse max_kasms_per_user applies", req: sessions.StartRequest{UserID: "dee"}, kind: policy.KindConflict, code: policy.CodeMaxSessionsReached},
		{name: "reuse of another image starts one", req: sessions.StartRequest{UserID: "dee", ImageID: "other", Reuse: true}, kind: policy.KindConflict, code: policy.CodeMaxSessionsReached},
		{name: "no image and no default_image", req: sessions.StartRequest{UserID: "noimg", Reuse: true}, kind: policy.KindInvalid, code: "no_default_image"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Set(t0.Add(time.Duration(i) * time.Minute))
			s, reused, err := e.svc.StartOrReuse(ctx, tt.req)
			if tt.kind != "" {
				field := ""
				if tt.code == "no_default_image" {
					field = "image_id"
				}
				wantErr(t, err, tt.kind, tt.code, field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = s
			}
			if s.ImageID != tt.wantImage || reused != tt.wantReused {
				t.Errorf("got image %q reused %v, want %q and %v", s.ImageID, reused, tt.wantImage, tt.wantReused)
			}
			if tt.wantSameAs != nil && (s.SessionID != tt.wantSameAs.SessionID || string(s.Launch) != string(tt.wantSameAs.Launch)) {
				t.Errorf("got session %s, want %s with its launch configuration", s.SessionID, tt.wantSameAs.SessionID)
			}
		})
	}
	t.Run("reuse charged nothing", func(t *testing.T) {
		r, err := e.svc.Usage(ctx, lifecycle.AdminActor(), "dee")
		if err != nil {
			t.Fatal(err)
		}
		if r.OpenSessions != 1 {
			t.Errorf("budget open sessions: got %d, want 1 (the one started)", r.OpenSessions)
		}
	})

	t.Run("reuse picks a running session over a stopped one and skips deleted ones", func(t *testing.T) {
		start := func(at time.Duration) sessions.Session {
			e.clock.Set(t0.Add(at))
			s, err := e.svc.Start(ctx, "multi", "img", true)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		stopped, running, deleted := start(time.Hour), start(time.Hour+time.Second), start(time.Hour+2*time.Second)
		if _, err := e.svc.Stop(ctx, lifecycle.AdminActor(), stopped.SessionID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Delete(ctx, lifecycle.AdminActor(), deleted.SessionID); err != nil {
			t.Fatal(err)
		}
		s, reused, err := e.svc.StartOrReuse(ctx, sessions.StartRequest{UserID: "multi", ImageID: "img", Reuse: true})
		if err != nil || !reused || s.SessionID != running.SessionID {
			t.Fatalf("got %s reused %v, %v; want the running %s", s.SessionID, reused, err, running.SessionID)
		}
		if _, err := e.svc.Delete(ctx, lifecycle.AdminActor(), running.SessionID); err != nil {
			t.Fatal(err)
		}
		s, reused, err = e.svc.StartOrReuse(ctx, sessions.StartRequest{UserID: "multi", ImageID: "img", Reuse: true})
		if err != nil || !reused || s.SessionID != stopped.SessionID || s.Status != "stopped" {
			t.Fatalf("got %s (%s) reused %v, %v; want the stopped %s as it is", s.SessionID, s.Status, reused, err, stopped.SessionID)
		}
	})
}

// TestStartRequests counts the database requests of a start and of a reuse: the user's
// storage mappings are read with the user item, in one Query, not in a request of their own.
func TestStartRequests(t *testing.T) {
	e := newLaunchEnv(t)
	ctx := context.Background()
	e.group(t, "g", 10, map[string]string{"max_kasms_per_user": "10"})
	e.group(t, "nomap", 10, map[string]string{"allow_user_storage_mapping": "false"})
	e.newUser(t, "u1", "g")
	e.newUser(t, "u2", "nomap")
	if _, err := e.svc.RegisterStorageMapping(ctx, lifecycle.AdminActor(), "u1", json.RawMessage(`{"host_path": "/d", "bind": "/d", "mode": "rw", "uid": 1, "gid": 1}`)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  sessions.StartRequest
		want int64
	}{
		// The user with the mappings (1 Query), their groups (1), the transaction (1).
		{"start", sessions.StartRequest{UserID: "u1", ImageID: "img"}, 3},
		{"start without storage mappings allowed", sessions.StartRequest{UserID: "u2", ImageID: "img"}, 3},
		// The user, mappings and groups as above, then the user's sessions (2: the GSI1 page's
		// keys, then the items, since GSI1 copies nothing a keepalive writes) and the one
		// found, with its launch item (1: listings carry no launch configuration).
		{"reuse", sessions.StartRequest{UserID: "u1", ImageID: "img", Reuse: true}, 5},
		// Reuse that finds nothing starts: 2, the listing (2), the transaction (1).
		{"reuse of a new image", sessions.StartRequest{UserID: "u1", ImageID: "new", Reuse: true}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.tb.ResetCalls()
			begin := time.Now()
			if _, _, err := e.svc.StartOrReuse(ctx, tt.req); err != nil {
				t.Fatal(err)
			}
			took := time.Since(begin)
			if got := e.tb.Calls(); got != tt.want {
				t.Errorf("requests: got %d, want %d", got, tt.want)
			}
			t.Logf("%s: %d requests in %v", tt.name, e.tb.Calls(), took)
		})
	}
}
