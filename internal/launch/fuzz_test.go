package launch

import (
	"encoding/json"
	"path"
	"testing"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// FuzzBuildLaunchMounts: whatever the paths of a group's mount and of a user's mapping (as the
// API would store them, or raw as an older write may have), the launch has canonical paths,
// never two mounts at one bind, no user mount beneath, above or at a group bind, and no
// read-write user mount at, beneath or above a read-only group host path (issue 21).
func FuzzBuildLaunchMounts(f *testing.F) {
	f.Add("/srv/share", "/home/kasm-user/share", true, "/srv/share/", "/home/kasm-user/mine", true, false)
	f.Add("/srv/share", "/home/kasm-user/share", true, "/srv//share/sub", "/x", true, false)
	f.Add("/srv/share", "/home/kasm-user/share", false, "/data", "/home/kasm-user/./share/", true, false)
	f.Add("/srv/{username}", "/home/{username}", true, "/srv/alice/.", "/home/alice/x", true, false)
	f.Add("/", "/", true, "/a", "/b", true, true)
	alice := policy.User{ID: "u_alice", Username: "alice"}
	f.Fuzz(func(t *testing.T, gHost, gBind string, gRO bool, uHost, uBind string, uRW, forceRO bool) {
		mode := map[bool]string{true: "ro", false: "rw"}
		entry, _ := json.Marshal(map[string]any{gHost: map[string]any{"bind": gBind, "mode": mode[gRO], "uid": 0, "gid": 0}})
		vm, err := settings.Validate("volume_mapping", entry)
		if err != nil {
			return
		}
		flags := map[bool]string{true: "true", false: "false"}
		in := settings.GroupInput{ID: "g", Name: "g", Priority: 10, Settings: map[string]json.RawMessage{
			"volume_mapping": vm, "allow_user_storage_mapping": json.RawMessage("true"),
			"read_only_user_storage_mapping": json.RawMessage(flags[forceRO]),
		}}
		body, _ := json.Marshal(map[string]any{"host_path": uHost, "bind": uBind, "mode": mode[!uRW], "uid": 0, "gid": 0})
		sm, err := ParseStorageMapping(body)
		if err != nil {
			sm = rawMapping("m1", uHost, uBind, mode[!uRW]) // as an older write may have stored it
		}
		sm.ID, sm.UserID = "m1", alice.ID
		l := BuildLaunch(resolve(t, in), alice, []StorageMapping{sm}, "img")
		binds := map[string]bool{}
		var group []Mount
		for _, m := range l.Mounts {
			if m.HostPath != path.Clean(m.HostPath) || m.Bind != path.Clean(m.Bind) {
				t.Fatalf("mount %q at %q is not canonical", m.HostPath, m.Bind)
			}
			if binds[m.Bind] {
				t.Fatalf("two mounts at %q: %v", m.Bind, mountSources(l))
			}
			binds[m.Bind] = true
			if m.Source != "user_mapping:m1" {
				group = append(group, m)
			}
		}
		for _, m := range l.Mounts {
			if m.Source != "user_mapping:m1" {
				continue
			}
			for _, g := range group {
				if overlaps(m.Bind, g.Bind) || m.HostPath == g.HostPath || (g.Mode == "ro" && m.Mode != "ro" && overlaps(m.HostPath, g.HostPath)) {
					t.Fatalf("user mount %s→%s %s kept beside group mount %s→%s %s", m.HostPath, m.Bind, m.Mode, g.HostPath, g.Bind, g.Mode)
				}
			}
		}
	})
}
