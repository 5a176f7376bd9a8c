package launch

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

func TestBuildLaunchMounts(t *testing.T) {
	alice := policy.User{ID: "u_alice", Username: "alice"}
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	homeMapping := `{"/srv/home/{username}": {"bind": "/home/kasm-user/home", "mode": "rw", "uid": 1000, "gid": 1000}}`
	sharedMapping := `{"/srv/shared": {"bind": "/shared", "mode": "ro", "uid": 0, "gid": 0},
		"/srv/home/{username}": {"bind": "/home/kasm-user/ignored", "mode": "ro", "uid": 1, "gid": 1}}`
	projects := mapping(t, "m_projects", "u_alice", `{"host_path": "/data/{user_id}/projects", "bind": "/home/kasm-user/projects", "mode": "rw", "uid": 1000, "gid": 1000}`)
	projects.CreatedAt = t0

	tests := []struct {
		name     string
		groups   []settings.GroupInput
		user     policy.User
		mappings []StorageMapping
		want     []Mount
	}{
		{
			name: "two groups merged plus the user's read-only mapping with names filled in",
			groups: []settings.GroupInput{
				group(t, "engineering", 10, map[string]string{"volume_mapping": homeMapping, "read_only_user_storage_mapping": "true"}),
				group(t, "shared", 20, map[string]string{"volume_mapping": sharedMapping}),
			},
			user:     alice,
			mappings: []StorageMapping{projects},
			want: []Mount{
				mount("/srv/home/alice", "/home/kasm-user/home", "rw", 1000, 1000, "group:engineering"),
				mount("/data/u_alice/projects", "/home/kasm-user/projects", "ro", 1000, 1000, "user_mapping:m_projects"),
				mount("/srv/shared", "/shared", "ro", 0, 0, "group:shared"),
			},
		},
		{
			name:     "one group's mapping names that group",
			groups:   []settings.GroupInput{group(t, "engineering", 10, map[string]string{"volume_mapping": homeMapping})},
			user:     alice,
			mappings: nil,
			want:     []Mount{mount("/srv/home/alice", "/home/kasm-user/home", "rw", 1000, 1000, "group:engineering")},
		},
		{
			name: "permission withdrawn leaves the user's mappings out",
			groups: []settings.GroupInput{
				group(t, "engineering", 10, map[string]string{"volume_mapping": homeMapping, "allow_user_storage_mapping": "false"}),
			},
			user:     alice,
			mappings: []StorageMapping{projects},
			want:     []Mount{mount("/srv/home/alice", "/home/kasm-user/home", "rw", 1000, 1000, "group:engineering")},
		},
		{
			name:     "read_only false keeps the user's mode",
			groups:   nil, // All Users: allowed, not read-only
			user:     alice,
			mappings: []StorageMapping{projects},
			want:     []Mount{mount("/data/u_alice/projects", "/home/kasm-user/projects", "rw", 1000, 1000, "user_mapping:m_projects")},
		},
		{
			name:   "read_only true forces ro even on a rw mapping",
			groups: []settings.GroupInput{group(t, "locked", 5, map[string]string{"read_only_user_storage_mapping": "true"})},
			user:   alice,
			mappings: []StorageMapping{
				mapping(t, "m_rw", "u_alice", `{"host_path": "/data/rw", "bind": "/rw", "mode": "rw", "uid": 1, "gid": 2, "required": false, "skip_check": true, "timeout": 2.5}`),
			},
			want: []Mount{{HostPath: "/data/rw", Source: "user_mapping:m_rw", VolumeMount: settings.VolumeMount{
				Bind: "/rw", Mode: "ro", UID: 1, GID: 2, Required: false, SkipCheck: true, Timeout: 2.5}}},
		},
		{
			name:   "user mapping on a group's host path: the group wins",
			groups: []settings.GroupInput{group(t, "engineering", 10, map[string]string{"volume_mapping": homeMapping})},
			user:   alice,
			mappings: []StorageMapping{
				mapping(t, "m_home", "u_alice", `{"host_path": "/srv/home/alice", "bind": "/mine", "mode": "rw", "uid": 0, "gid": 0}`),
			},
			want: []Mount{mount("/srv/home/alice", "/home/kasm-user/home", "rw", 1000, 1000, "group:engineering")},
		},
		{
			name:   "user mapping on a group's bind: the group wins",
			groups: []settings.GroupInput{group(t, "engineering", 10, map[string]string{"volume_mapping": homeMapping})},
			user:   alice,
			mappings: []StorageMapping{
				mapping(t, "m_bind", "u_alice", `{"host_path": "/elsewhere", "bind": "/home/kasm-user/home", "mode": "rw", "uid": 0, "gid": 0}`),
			},
			want: []Mount{mount("/srv/home/alice", "/home/kasm-user/home", "rw", 1000, 1000, "group:engineering")},
		},
		{
			name:   "two user mappings on one bind: the older wins",
			groups: nil,
			user:   alice,
			mappings: func() []StorageMapping {
				newer := mapping(t, "m_a", "u_alice", `{"host_path": "/newer", "bind": "/x", "mode": "rw", "uid": 0, "gid": 0}`)
				newer.CreatedAt = t0.Add(time.Hour)
				older := mapping(t, "m_b", "u_alice", `{"host_path": "/older", "bind": "/x", "mode": "rw", "uid": 0, "gid": 0}`)
				older.CreatedAt = t0
				return []StorageMapping{newer, older}
			}(),
			want: []Mount{mount("/older", "/x", "rw", 0, 0, "user_mapping:m_b")},
		},
		{
			name:   "another user's mapping is ignored",
			groups: nil,
			user:   alice,
			mappings: []StorageMapping{
				mapping(t, "m_bob", "u_bob", `{"host_path": "/data/bob", "bind": "/bob", "mode": "rw", "uid": 0, "gid": 0}`),
			},
			want: []Mount{},
		},
		{
			name:     "no mappings anywhere gives an empty list",
			groups:   nil,
			user:     alice,
			mappings: nil,
			want:     []Mount{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BuildLaunch(resolve(t, tc.groups...), tc.user, tc.mappings, "img_1").Mounts
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("mounts:\n got %s\nwant %s", asJSON(t, got), asJSON(t, tc.want))
			}
		})
	}
}

func TestBuildLaunchEnvironment(t *testing.T) {
	alice := policy.User{ID: "u_alice", Username: "alice/../x"}
	tests := []struct {
		name   string
		groups []settings.GroupInput
		want   map[string]string
	}{
		{"off by default", nil, map[string]string{}},
		{"exposed", []settings.GroupInput{group(t, "g", 10, map[string]string{"expose_user_environment_vars": "true"})},
			map[string]string{"KASM_USER": "alice/../x", "KASM_USER_ID": "u_alice"}},
		{"turned off by a higher-precedence group", []settings.GroupInput{
			group(t, "off", 5, map[string]string{"expose_user_environment_vars": "false"}),
			group(t, "on", 10, map[string]string{"expose_user_environment_vars": "true"}),
		}, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BuildLaunch(resolve(t, tc.groups...), alice, nil, "img_1").Environment
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("environment = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBuildLaunchPassThrough(t *testing.T) {
	runConfig := `{"hostname": "{username}-box", "environment": {"LANG": "de_DE.UTF-8"}, "shm_size": 1073741824, "security_opt": ["seccomp=unconfined"]}`
	r := resolve(t,
		group(t, "engineering", 10, map[string]string{
			"run_config":        runConfig,
			"web_filter_policy": `"wf_strict"`,
			"inject_ssh_keys":   "true",
		}),
		group(t, "other", 20, map[string]string{"run_config": `{"hostname": "loser"}`, "allow_persistent_profile": "false"}),
	)
	got := BuildLaunch(r, policy.User{ID: "u_1", Username: "alice"}, nil, "img_42")
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"image id", got.ImageID, "img_42"},
		{"web filter policy", got.WebFilterPolicy, "wf_strict"},
		{"inject ssh keys", got.InjectSSHKeys, true},
		{"persistent profile: a group overrides All Users", got.AllowPersistentProfile, false},
		{"run_config hostname: tokens left as they are", got.RunConfig["hostname"], "{username}-box"},
		{"run_config nested map untouched", got.RunConfig["environment"], map[string]any{"LANG": "de_DE.UTF-8"}},
		{"run_config number untouched", got.RunConfig["shm_size"], json.Number("1073741824")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"image_id":"img_42","run_config":{"environment":{"LANG":"de_DE.UTF-8"},"hostname":"{username}-box","security_opt":["seccomp=unconfined"],"shm_size":1073741824},"volume_mappings":[],"environment":{},"web_filter_policy":"wf_strict","inject_ssh_keys":true,"allow_persistent_profile":false}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
}

func TestBuildLaunchMountJSON(t *testing.T) {
	r := resolve(t, group(t, "g", 10, map[string]string{
		"volume_mapping": `{"/srv/{user_id}": {"bind": "/home/{username}", "mode": "rw", "uid": 1000, "gid": 1000}}`}))
	got, err := json.Marshal(BuildLaunch(r, policy.User{ID: "u_1", Username: "alice"}, nil, "img").Mounts)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"host_path":"/srv/u_1","bind":"/home/alice","mode":"rw","uid":1000,"gid":1000,"required":true,"skip_check":false,"timeout":10,"source":"group:g"}]`
	if string(got) != want {
		t.Errorf("mounts JSON:\n got %s\nwant %s", got, want)
	}
}

func TestSubstitution(t *testing.T) {
	tests := []struct {
		name     string
		username string
		userID   string
		want     string // the host path "/home/{username}/{user_id}" after substitution
	}{
		{"plain name", "alice", "u_1", "/home/alice/u_1"},
		{"dots inside a name are kept", "john.doe", "u_1", "/home/john.doe/u_1"},
		{"email-like name", "j.doe@example.com", "u_1", "/home/j.doe@example.com/u_1"},
		{"non-ASCII name", "zoë", "u_1", "/home/zoë/u_1"},
		{"slash", "a/b", "u_1", "/home/a%2Fb/u_1"},
		{"parent traversal", "../../etc", "u_1", "/home/%2E.%2F..%2Fetc/u_1"},
		{"dot-dot alone", "..", "u_1", "/home/%2E./u_1"},
		{"single dot", ".", "u_1", "/home/%2E/u_1"},
		{"hidden-file name", ".ssh", "u_1", "/home/%2Essh/u_1"},
		{"empty name", "", "u_1", "/home/%/u_1"},
		{"backslash", `a\..\b`, "u_1", "/home/a%5C..%5Cb/u_1"},
		{"docker -v separator", "a:/etc:rw", "u_1", "/home/a%3A%2Fetc%3Arw/u_1"},
		{"docker --mount separator", "a,target=/etc", "u_1", "/home/a%2Ctarget=%2Fetc/u_1"},
		{"percent is escaped so escapes stay unique", "a%2Fb", "u_1", "/home/a%252Fb/u_1"},
		{"token inside a name is not substituted again", "{user_id}", "u_1", "/home/%7Buser_id%7D/u_1"},
		{"control characters", "a\x00b\nc", "u_1", "/home/a%00b%0Ac/u_1"},
		{"invalid UTF-8", "a\xffb", "u_1", "/home/a%FFb/u_1"},
		{"hostile user id", "alice", "../root", "/home/alice/%2E.%2Froot"},
	}
	seen := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := resolve(t, group(t, "g", 10, map[string]string{
				"volume_mapping": `{"/home/{username}/{user_id}": {"bind": "/mnt/{username}", "mode": "rw", "uid": 0, "gid": 0}}`}))
			ms := BuildLaunch(r, policy.User{ID: tc.userID, Username: tc.username}, nil, "img").Mounts
			if len(ms) != 1 {
				t.Fatalf("got %d mounts, want 1", len(ms))
			}
			got := ms[0].HostPath
			if got != tc.want {
				t.Errorf("host path = %q, want %q", got, tc.want)
			}
			for _, p := range []string{ms[0].HostPath, ms[0].Bind} {
				segs := strings.Split(p, "/")
				if want := strings.Count("/home/{username}/{user_id}", "/") + 1; p == ms[0].HostPath && len(segs) != want {
					t.Errorf("%q has %d segments, want %d: the name added a separator", p, len(segs), want)
				}
				for _, s := range segs[1:] {
					if s == "." || s == ".." || s == "" {
						t.Errorf("%q has the segment %q", p, s)
					}
				}
				if strings.ContainsAny(p, ":,{}\\") {
					t.Errorf("%q contains a character that breaks a docker mount spec or a token", p)
				}
			}
			if other, dup := seen[got]; dup {
				t.Errorf("%q and %q both give %q: the escape must be injective", other, tc.username, got)
			}
			seen[got] = tc.username
		})
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
