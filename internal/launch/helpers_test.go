package launch

import (
	"encoding/json"
	"testing"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// allUsers is the built-in group with the "All Users" values of the catalog.
func allUsers(t *testing.T) settings.GroupInput {
	t.Helper()
	g := settings.GroupInput{ID: policy.AllUsersGroupID, Name: policy.AllUsersGroupName, Priority: policy.AllUsersPriority,
		Settings: map[string]json.RawMessage{}}
	for _, s := range settings.Catalog() {
		if s.AllUsers != nil {
			g.Settings[s.Name] = s.AllUsers
		}
	}
	return g
}

// group builds a group whose settings are given as JSON text, validated like an API write.
func group(t *testing.T, id string, priority int, values map[string]string) settings.GroupInput {
	t.Helper()
	g := settings.GroupInput{ID: id, Name: id, Priority: priority, Settings: map[string]json.RawMessage{}}
	for name, v := range values {
		canon, err := settings.Validate(name, json.RawMessage(v))
		if err != nil {
			t.Fatalf("group %s: setting %s = %s: %v", id, name, v, err)
		}
		g.Settings[name] = canon
	}
	return g
}

// resolve resolves a user who is in All Users and the given groups.
func resolve(t *testing.T, groups ...settings.GroupInput) settings.Resolution {
	t.Helper()
	return settings.Resolve(append([]settings.GroupInput{allUsers(t)}, groups...))
}

// mount builds an expected Mount with the volume_mapping defaults (required, timeout 10).
func mount(hostPath, bind, mode string, uid, gid int64, source string) Mount {
	return Mount{HostPath: hostPath, Source: source, VolumeMount: settings.VolumeMount{
		Bind: bind, Mode: mode, UID: uid, GID: gid, Required: true, Timeout: settings.DefaultVolumeTimeout}}
}

// mapping builds a stored storage mapping by parsing body as the API would.
func mapping(t *testing.T, id, userID string, body string) StorageMapping {
	t.Helper()
	sm, err := ParseStorageMapping(json.RawMessage(body))
	if err != nil {
		t.Fatalf("mapping %s: %v", id, err)
	}
	sm.ID, sm.UserID = id, userID
	return sm
}
