package launch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// The path aliases of issue 21: each names the same directory as its canonical form.
var pathAliases = map[string]func(p string) string{
	"trailing slash":   func(p string) string { return p + "/" },
	"double slash":     func(p string) string { i := strings.LastIndex(p, "/"); return p[:i] + "/" + p[i:] },
	"dot segment":      func(p string) string { i := strings.LastIndex(p, "/"); return p[:i] + "/." + p[i:] },
	"trailing dot":     func(p string) string { return p + "/." },
	"leading slashes":  func(p string) string { return "/" + p },
	"every form mixed": func(p string) string { return "/./" + strings.ReplaceAll(p, "/", "//") + "/./" },
}

// aliasTestSetup is a group with a read-only mount of /srv/share at /home/kasm-user/share, user
// mappings allowed and not forced read-only.
func aliasTestSetup(t *testing.T, extra map[string]string) settings.Resolution {
	t.Helper()
	values := map[string]string{
		"volume_mapping":                 `{"/srv/share": {"bind": "/home/kasm-user/share", "mode": "ro", "uid": 0, "gid": 0}}`,
		"allow_user_storage_mapping":     "true",
		"read_only_user_storage_mapping": "false",
		"max_user_storage_mappings":      "10",
	}
	for k, v := range extra {
		values[k] = v
	}
	return resolve(t, group(t, "admins", 10, values))
}

// rawMapping is a stored mapping as it may have been written before paths were canonical.
func rawMapping(id, hostPath, bind, mode string) StorageMapping {
	return StorageMapping{ID: id, UserID: "u_alice", HostPath: hostPath, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		VolumeMount: settings.VolumeMount{Bind: bind, Mode: mode, Required: true, Timeout: settings.DefaultVolumeTimeout}}
}

func mountSources(l Launch) []string {
	var out []string
	for _, m := range l.Mounts {
		out = append(out, m.Source+" "+m.HostPath+"→"+m.Bind+" "+m.Mode)
	}
	return out
}

// TestBuildLaunchComparesCanonicalPaths: a user mapping that names the group's read-only host
// path, or its bind, through an alias is left out like the plain path would be (issue 21).
func TestBuildLaunchComparesCanonicalPaths(t *testing.T) {
	alice := policy.User{ID: "u_alice", Username: "alice"}
	r := aliasTestSetup(t, nil)
	for name, alias := range pathAliases {
		t.Run("host path "+name, func(t *testing.T) {
			host := alias("/srv/share")
			l := BuildLaunch(r, alice, []StorageMapping{rawMapping("m1", host, "/home/kasm-user/mine", "rw")}, "img")
			if len(l.Mounts) != 1 || l.Mounts[0].Source != "group:admins" || l.Mounts[0].Mode != "ro" {
				t.Fatalf("user mapping %q beside the group's read-only /srv/share: mounts %v, want only the group's", host, mountSources(l))
			}
		})
		t.Run("bind "+name, func(t *testing.T) {
			bind := alias("/home/kasm-user/share")
			l := BuildLaunch(r, alice, []StorageMapping{rawMapping("m1", "/data/mine", bind, "rw")}, "img")
			if len(l.Mounts) != 1 || l.Mounts[0].Source != "group:admins" {
				t.Fatalf("user bind %q on the group's /home/kasm-user/share: mounts %v, want only the group's", bind, mountSources(l))
			}
		})
		t.Run("older mapping "+name, func(t *testing.T) {
			first := rawMapping("m1", "/data/a", "/home/kasm-user/a", "rw")
			second := rawMapping("m2", alias("/data/a"), "/home/kasm-user/b", "rw")
			second.CreatedAt = first.CreatedAt.Add(time.Second)
			l := BuildLaunch(r, alice, []StorageMapping{second, first}, "img")
			if len(l.Mounts) != 2 || l.Mounts[0].Source != "user_mapping:m1" {
				t.Fatalf("two mappings of one host path: mounts %v, want the group's and m1", mountSources(l))
			}
		})
	}
	// Mounts come out canonical.
	l := BuildLaunch(r, alice, []StorageMapping{rawMapping("m1", "/data//x/./", "/home/kasm-user/x/", "rw")}, "img")
	if got := l.Mounts[1]; got.HostPath != "/data/x" || got.Bind != "/home/kasm-user/x" {
		t.Fatalf("user mount %+v, want /data/x at /home/kasm-user/x", got)
	}
}

// TestBuildLaunchUserMappingBeneathOrAboveAGroupMount is the written rule: a user mapping may
// not re-expose a group's read-only mount read-write from beneath or above its host path, and
// may not land on, beneath or above a group mount's bind.
func TestBuildLaunchUserMappingBeneathOrAboveAGroupMount(t *testing.T) {
	alice := policy.User{ID: "u_alice", Username: "alice"}
	rwGroup := `{"/srv/share": {"bind": "/home/kasm-user/share", "mode": "ro", "uid": 0, "gid": 0},
		"/srv/team": {"bind": "/home/kasm-user/team", "mode": "rw", "uid": 0, "gid": 0}}`
	tests := []struct {
		name, host, bind, mode string
		forceRO                bool
		kept                   bool
	}{
		{"rw beneath a read-only host path", "/srv/share/sub", "/home/kasm-user/x", "rw", false, false},
		{"rw above a read-only host path", "/srv", "/home/kasm-user/x", "rw", false, false},
		{"rw at the root above everything", "/", "/home/kasm-user/x", "rw", false, false},
		{"ro beneath a read-only host path", "/srv/share/sub", "/home/kasm-user/x", "ro", false, true},
		{"rw beneath, forced read-only", "/srv/share/sub", "/home/kasm-user/x", "rw", true, true},
		{"rw beside, a sibling with a common prefix", "/srv/shared", "/home/kasm-user/x", "rw", false, true},
		{"rw beneath a read-write host path", "/srv/team/mine", "/home/kasm-user/x", "rw", false, true},
		{"same host path as a read-write mount", "/srv/team", "/home/kasm-user/x", "ro", false, false},
		{"bind beneath a group bind", "/data/x", "/home/kasm-user/share/x", "rw", false, false},
		{"bind above a group bind", "/data/x", "/home/kasm-user", "rw", false, false},
		{"bind at the root", "/data/x", "/", "ro", false, false},
		{"bind beside a group bind", "/data/x", "/home/kasm-user/shared", "rw", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := aliasTestSetup(t, map[string]string{"volume_mapping": rwGroup, "read_only_user_storage_mapping": map[bool]string{true: "true", false: "false"}[tt.forceRO]})
			l := BuildLaunch(r, alice, []StorageMapping{rawMapping("m1", tt.host, tt.bind, tt.mode)}, "img")
			kept := false
			for _, m := range l.Mounts {
				if m.Source == "user_mapping:m1" {
					kept = true
				}
			}
			if kept != tt.kept || len(l.Mounts) < 2 {
				t.Fatalf("mapping %s at %s (%s): mounts %v, want kept=%v beside both group mounts", tt.host, tt.bind, tt.mode, mountSources(l), tt.kept)
			}
		})
	}
}

// TestPathsAreCanonicalOnWrite: storage mappings and volume_mapping store every alias in its
// canonical form, and two aliases of one host path in one volume_mapping are refused.
func TestPathsAreCanonicalOnWrite(t *testing.T) {
	for name, alias := range pathAliases {
		t.Run(name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"host_path": alias("/srv/share"), "bind": alias("/home/kasm-user/share"), "mode": "rw", "uid": 0, "gid": 0})
			sm, err := ParseStorageMapping(body)
			if err != nil || sm.HostPath != "/srv/share" || sm.Bind != "/home/kasm-user/share" {
				t.Fatalf("ParseStorageMapping(%s) = %q at %q, %v; want /srv/share at /home/kasm-user/share", body, sm.HostPath, sm.Bind, err)
			}
			vmKey, _ := json.Marshal(alias("/srv/share"))
			vmBind, _ := json.Marshal(alias("/mnt/share"))
			got, err := settings.Validate("volume_mapping", json.RawMessage(`{`+string(vmKey)+`: {"bind": `+string(vmBind)+`, "mode": "ro", "uid": 0, "gid": 0}}`))
			if err != nil || !strings.Contains(string(got), `"/srv/share":{"bind":"/mnt/share"`) {
				t.Fatalf("volume_mapping stored as %s, %v; want the canonical paths", got, err)
			}
			_, err = settings.Validate("volume_mapping", json.RawMessage(`{"/srv/share": {"bind": "/a", "mode": "ro", "uid": 0, "gid": 0}, `+string(vmKey)+`: {"bind": "/b", "mode": "rw", "uid": 0, "gid": 0}}`))
			if policy.CodeOf(err) != policy.CodeInvalidSettingValue {
				t.Fatalf("volume_mapping with /srv/share and %s: %v, want %s", vmKey, err, policy.CodeInvalidSettingValue)
			}
		})
	}
	for _, bad := range []string{"/srv/share\u200b", "/srv/\u2060share", "/srv/share\ufeff"} {
		body, _ := json.Marshal(map[string]any{"host_path": bad, "bind": "/b", "mode": "rw", "uid": 0, "gid": 0})
		if _, err := ParseStorageMapping(body); policy.CodeOf(err) != policy.CodeInvalidStorageMapping {
			t.Errorf("host path %+q: %v, want refused", bad, err)
		}
	}
	// Two host paths at one bind (an alias of it) in one volume_mapping: refused.
	_, err := settings.Validate("volume_mapping", json.RawMessage(`{"/a": {"bind": "/mnt/x", "mode": "ro", "uid": 0, "gid": 0}, "/b": {"bind": "/mnt/x/", "mode": "rw", "uid": 0, "gid": 0}}`))
	if policy.CodeOf(err) != policy.CodeInvalidSettingValue {
		t.Fatalf("two mounts at one bind: %v, want refused", err)
	}
}

// TestBuildLaunchGroupMountsCollideCanonically: mounts stored before paths were canonical
// ("/srv/share" and "/srv/share/" in two groups), or two groups' mounts at one bind, give the
// session one mount, the read-only one.
func TestBuildLaunchGroupMountsCollideCanonically(t *testing.T) {
	alice := policy.User{ID: "u_alice", Username: "alice"}
	legacy := func(id string, prio int, vm string) settings.GroupInput {
		return settings.GroupInput{ID: id, Name: id, Priority: prio, Settings: map[string]json.RawMessage{"volume_mapping": json.RawMessage(vm)}}
	}
	for _, tt := range []struct{ name, a, b string }{
		{"same host path", `{"/srv/share/": {"bind": "/mnt/a", "mode": "rw", "uid": 0, "gid": 0}}`, `{"/srv/share": {"bind": "/mnt/b", "mode": "ro", "uid": 0, "gid": 0}}`},
		{"same bind", `{"/srv/a": {"bind": "/mnt/x/", "mode": "rw", "uid": 0, "gid": 0}}`, `{"/srv/b": {"bind": "/mnt//x", "mode": "ro", "uid": 0, "gid": 0}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := BuildLaunch(resolve(t, legacy("g1", 10, tt.a), legacy("g2", 20, tt.b)), alice, nil, "img")
			if len(l.Mounts) != 1 || l.Mounts[0].Mode != "ro" {
				t.Fatalf("mounts %v, want one read-only mount", mountSources(l))
			}
		})
	}
}
