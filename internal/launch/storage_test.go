package launch

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

func TestParseStorageMapping(t *testing.T) {
	tests := []struct {
		name string
		body string
		want StorageMapping
	}{
		{
			name: "required fields only: defaults filled",
			body: `{"host_path": "/data/{username}", "bind": "/home/kasm-user/data", "mode": "rw", "uid": 1000, "gid": 1000}`,
			want: StorageMapping{HostPath: "/data/{username}", VolumeMount: settings.VolumeMount{
				Bind: "/home/kasm-user/data", Mode: "rw", UID: 1000, GID: 1000, Required: true, Timeout: 10}},
		},
		{
			name: "every field",
			body: `{"timeout": 2.5, "skip_check": true, "required": false, "gid": 0, "uid": 0, "mode": "ro", "bind": "/b", "host_path": "/h"}`,
			want: StorageMapping{HostPath: "/h", VolumeMount: settings.VolumeMount{
				Bind: "/b", Mode: "ro", Required: false, SkipCheck: true, Timeout: 2.5}},
		},
		{
			name: "whole number written with a fraction",
			body: `{"host_path": "/h", "bind": "/b", "mode": "rw", "uid": 1000.0, "gid": 1e3}`,
			want: StorageMapping{HostPath: "/h", VolumeMount: settings.VolumeMount{
				Bind: "/b", Mode: "rw", UID: 1000, GID: 1000, Required: true, Timeout: 10}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStorageMapping(json.RawMessage(tc.body))
			if err != nil {
				t.Fatalf("ParseStorageMapping: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseStorageMappingErrors(t *testing.T) {
	const ok = `"bind": "/b", "mode": "rw", "uid": 1, "gid": 1`
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"host_path missing", `{` + ok + `}`, "host_path"},
		{"host_path relative", `{"host_path": "data", ` + ok + `}`, "host_path"},
		{"host_path not a string", `{"host_path": 7, ` + ok + `}`, "host_path"},
		{"host_path null", `{"host_path": null, ` + ok + `}`, "host_path"},
		{"host_path traversal", `{"host_path": "/data/../etc", ` + ok + `}`, "host_path"},
		{"host_path unknown token", `{"host_path": "/data/{home}", ` + ok + `}`, "host_path"},
		{"host_path twice", `{"host_path": "/a", "host_path": "/b", ` + ok + `}`, "host_path"},
		{"bind missing", `{"host_path": "/h", "mode": "rw", "uid": 1, "gid": 1}`, "bind"},
		{"bind relative", `{"host_path": "/h", "bind": "b", "mode": "rw", "uid": 1, "gid": 1}`, "bind"},
		{"mode unknown word", `{"host_path": "/h", "bind": "/b", "mode": "rx", "uid": 1, "gid": 1}`, "mode"},
		{"mode missing", `{"host_path": "/h", "bind": "/b", "uid": 1, "gid": 1}`, "mode"},
		{"uid negative", `{"host_path": "/h", "bind": "/b", "mode": "rw", "uid": -1, "gid": 1}`, "uid"},
		{"uid fraction", `{"host_path": "/h", "bind": "/b", "mode": "rw", "uid": 1.5, "gid": 1}`, "uid"},
		{"gid as a string", `{"host_path": "/h", "bind": "/b", "mode": "rw", "uid": 1, "gid": "1"}`, "gid"},
		{"gid missing", `{"host_path": "/h", "bind": "/b", "mode": "rw", "uid": 1}`, "gid"},
		{"required not a bool", `{"host_path": "/h", ` + ok + `, "required": "yes"}`, "required"},
		{"skip_check not a bool", `{"host_path": "/h", ` + ok + `, "skip_check": 1}`, "skip_check"},
		{"timeout zero", `{"host_path": "/h", ` + ok + `, "timeout": 0}`, "timeout"},
		{"bind twice", `{"host_path": "/h", ` + ok + `, "bind": "/c"}`, "bind"},
		{"unknown field", `{"host_path": "/h", ` + ok + `, "owner": "bob"}`, "owner"},
		{"mapping_id is assigned, not sent", `{"mapping_id": "m_1", "host_path": "/h", ` + ok + `}`, "mapping_id"},
		{"user_id is assigned, not sent", `{"user_id": "u_2", "host_path": "/h", ` + ok + `}`, "user_id"},
		{"not an object", `[]`, ""},
		{"null", `null`, ""},
		{"empty", ``, ""},
		{"malformed", `{"host_path": `, ""},
		{"trailing value", `{"host_path": "/h", ` + ok + `} {}`, ""},
		{"too large", `{"host_path": "/` + strings.Repeat("a", settings.MaxValueBytes) + `", ` + ok + `}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseStorageMapping(json.RawMessage(tc.body))
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *policy.Error", err)
			}
			if pe.Kind != policy.KindInvalid || pe.Code != policy.CodeInvalidStorageMapping {
				t.Errorf("kind/code = %s/%s, want %s/%s", pe.Kind, pe.Code, policy.KindInvalid, policy.CodeInvalidStorageMapping)
			}
			if pe.Field != tc.field {
				t.Errorf("field = %q, want %q (message %q)", pe.Field, tc.field, pe.Message)
			}
			if pe.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestStorageMappingJSON(t *testing.T) {
	sm := mapping(t, "m_1", "u_1", `{"host_path": "/h", "bind": "/b", "mode": "ro", "uid": 1, "gid": 2}`)
	sm.CreatedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	got, err := json.Marshal(sm)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"mapping_id":"m_1","user_id":"u_1","host_path":"/h","bind":"/b","mode":"ro","uid":1,"gid":2,"required":true,"skip_check":false,"timeout":10,"created_at":"2025-01-02T03:04:05Z"}`
	if string(got) != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
	var back StorageMapping
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, sm) {
		t.Errorf("round trip: got %+v, want %+v", back, sm)
	}
}

func TestCheckStorageMappingAllowed(t *testing.T) {
	tests := []struct {
		name     string
		groups   []settings.GroupInput
		noGroups bool // resolve with no group at all: catalog defaults
		existing int
		kind     policy.Kind // "" = allowed
		code     string
		field    string
	}{
		{name: "allowed below the default max", existing: 1},
		{name: "none yet", existing: 0},
		{name: "at the max", existing: 2, kind: policy.KindConflict, code: policy.CodeMaxStorageMappings, field: "max_user_storage_mappings"},
		{name: "beyond the max (it was lowered)", existing: 5, kind: policy.KindConflict, code: policy.CodeMaxStorageMappings, field: "max_user_storage_mappings"},
		{name: "raised max", groups: []settings.GroupInput{group(t, "g", 10, map[string]string{"max_user_storage_mappings": "10"})}, existing: 9},
		{name: "max zero", groups: []settings.GroupInput{group(t, "g", 10, map[string]string{"max_user_storage_mappings": "0"})}, existing: 0,
			kind: policy.KindConflict, code: policy.CodeMaxStorageMappings, field: "max_user_storage_mappings"},
		{name: "permission withdrawn", groups: []settings.GroupInput{group(t, "g", 10, map[string]string{"allow_user_storage_mapping": "false"})}, existing: 0,
			kind: policy.KindForbidden, code: policy.CodePermissionDenied, field: "allow_user_storage_mapping"},
		{name: "permission withdrawn beats the count", groups: []settings.GroupInput{group(t, "g", 10, map[string]string{"allow_user_storage_mapping": "false"})}, existing: 7,
			kind: policy.KindForbidden, code: policy.CodePermissionDenied, field: "allow_user_storage_mapping"},
		{name: "catalog default is not allowed", noGroups: true, existing: 0,
			kind: policy.KindForbidden, code: policy.CodePermissionDenied, field: "allow_user_storage_mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := settings.Resolve(nil)
			if !tc.noGroups {
				r = resolve(t, tc.groups...)
			}
			err := CheckStorageMappingAllowed(r, tc.existing)
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("error = %v, want nil", err)
				}
				return
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v, want a *policy.Error", err)
			}
			if pe.Kind != tc.kind || pe.Code != tc.code || pe.Field != tc.field {
				t.Errorf("got %s/%s/%s, want %s/%s/%s", pe.Kind, pe.Code, pe.Field, tc.kind, tc.code, tc.field)
			}
		})
	}
}
