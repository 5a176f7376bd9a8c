package launch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// StorageMapping is a mount a user registered for their own sessions: a volume_mapping entry
// that belongs to one user. ID, UserID and CreatedAt are assigned by whoever stores it.
type StorageMapping struct {
	ID       string `json:"mapping_id"`
	UserID   string `json:"user_id"`
	HostPath string `json:"host_path"`
	settings.VolumeMount
	CreatedAt time.Time `json:"created_at"`
}

// mountFields are the fields of a storage-mapping body besides host_path, in the order
// settings.VolumeMount declares them.
var mountFields = []string{"bind", "mode", "uid", "gid", "required", "skip_check", "timeout"}

// ParseStorageMapping reads the body of a new storage mapping — {"host_path", "bind", "mode",
// "uid", "gid"} plus the optional required, skip_check and timeout — and validates it exactly
// like a volume_mapping entry (settings.ValidateVolumeEntry), filling the same defaults. Unknown
// or repeated fields are rejected. Errors are *policy.Error of kind invalid, code
// invalid_storage_mapping, with Field naming the offending field. host_path and bind come back
// canonical (settings.CanonicalPath). The result has no ID, UserID or CreatedAt.
func ParseStorageMapping(raw json.RawMessage) (StorageMapping, error) {
	if len(raw) > settings.MaxValueBytes {
		return StorageMapping{}, invalidMapping("", "a storage mapping must be at most %d bytes of JSON, got %d bytes", settings.MaxValueBytes, len(raw))
	}
	if !utf8.Valid(raw) {
		return StorageMapping{}, invalidMapping("", "a storage mapping must be UTF-8 JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return StorageMapping{}, notAnObject()
	}
	var (
		hostPath    string
		hasHostPath bool
		seen        = make(map[string]bool, len(mountFields)+1)
		mount       bytes.Buffer // the object without host_path, for ValidateVolumeEntry
	)
	mount.WriteByte('{')
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return StorageMapping{}, notAnObject()
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return StorageMapping{}, notAnObject()
		}
		if !isMappingField(key) {
			return StorageMapping{}, invalidMapping(truncate(key, 64), "unknown field %q; the fields are host_path, bind, mode, uid, gid, required, skip_check and timeout", truncate(key, 64))
		}
		if seen[key] {
			return StorageMapping{}, invalidMapping(key, "%s is given twice", key)
		}
		seen[key] = true
		if key == "host_path" {
			if len(val) == 0 || val[0] != '"' || json.Unmarshal(val, &hostPath) != nil {
				return StorageMapping{}, invalidMapping("host_path", `host_path must be an absolute path string (start with "/")`)
			}
			hasHostPath = true
			continue
		}
		if mount.Len() > 1 {
			mount.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		mount.Write(k)
		mount.WriteByte(':')
		mount.Write(val)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return StorageMapping{}, notAnObject()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return StorageMapping{}, notAnObject()
	}
	mount.WriteByte('}')
	if !hasHostPath {
		return StorageMapping{}, invalidMapping("host_path", "host_path is required (a storage mapping has host_path, bind, mode, uid and gid)")
	}
	vm, err := settings.ValidateVolumeEntry(hostPath, mount.Bytes())
	if err != nil {
		return StorageMapping{}, err
	}
	// Stored canonical (settings.CanonicalPath): "/srv/share/" is "/srv/share".
	hostPath, _ = settings.CanonicalPath(hostPath)
	return StorageMapping{HostPath: hostPath, VolumeMount: vm}, nil
}

func isMappingField(key string) bool {
	if key == "host_path" {
		return true
	}
	for _, f := range mountFields {
		if key == f {
			return true
		}
	}
	return false
}

func invalidMapping(field, format string, args ...any) error {
	return &policy.Error{Kind: policy.KindInvalid, Code: policy.CodeInvalidStorageMapping, Field: field, Message: fmt.Sprintf(format, args...)}
}

func notAnObject() error {
	return invalidMapping("", "a storage mapping must be one JSON object with host_path, bind, mode, uid and gid")
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// CheckStorageMappingAllowed reports whether a user whose effective settings are r and who has
// existing storage mappings already may register one more: a 403 (permission_denied, Field
// allow_user_storage_mapping) while allow_user_storage_mapping is false, a 409
// (max_user_storage_mappings_reached, Field max_user_storage_mappings) when existing is at or
// beyond max_user_storage_mappings, else nil.
func CheckStorageMappingAllowed(r settings.Resolution, existing int) error {
	if !r.AllowUserStorageMapping() {
		return &policy.Error{Kind: policy.KindForbidden, Code: policy.CodePermissionDenied, Field: settings.NameAllowUserStorageMapping,
			Message: "storage mappings are not allowed: allow_user_storage_mapping is false for this user"}
	}
	limit := r.MaxUserStorageMappings()
	if int64(existing) >= limit {
		return &policy.Error{Kind: policy.KindConflict, Code: policy.CodeMaxStorageMappings, Field: settings.NameMaxUserStorageMappings,
			Message: fmt.Sprintf("the user already has %d storage mappings and max_user_storage_mappings is %d", existing, limit)}
	}
	return nil
}
