package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"wspolicy/internal/policy"
)

// Limits of values beyond those the catalog states.
const (
	// MaxWholeNumber is the largest whole number accepted where the catalog gives no maximum
	// (2^53-1, exact in a float64 and in JavaScript).
	MaxWholeNumber = 1<<53 - 1
	// MaxURLLength bounds url values, in bytes.
	MaxURLLength = 2048
	// MaxPathLength bounds volume host paths and binds, in bytes.
	MaxPathLength = 4096
	// MaxUsageHours bounds usage_limit.hours (a century of hours).
	MaxUsageHours = 876600
	// MaxVolumeTimeout bounds a volume mount's timeout, in seconds.
	MaxVolumeTimeout = 3600
	// MaxID bounds volume uid and gid (32-bit ids).
	MaxID = 1<<32 - 1
	// DefaultVolumeTimeout is a volume mount's timeout when none is given, in seconds.
	DefaultVolumeTimeout = 10
)

// UsageLimit is the value of usage_limit; the zero value means no limit and encodes as {}.
type UsageLimit struct {
	Type     string  `json:"type,omitempty"`     // "per_user" or "per_group"
	Interval string  `json:"interval,omitempty"` // "daily", "weekly", "monthly" or "total"
	Hours    float64 `json:"hours,omitempty"`    // > 0 when set
}

// VolumeMount is one entry of volume_mapping (and of a user's storage mapping): where a host
// path is mounted in the session and how.
type VolumeMount struct {
	Bind      string  `json:"bind"`
	Mode      string  `json:"mode"` // "rw" or "ro"
	UID       int64   `json:"uid"`
	GID       int64   `json:"gid"`
	Required  bool    `json:"required"`
	SkipCheck bool    `json:"skip_check"`
	Timeout   float64 `json:"timeout"` // seconds
}

// The words of usage_limit and volume mounts.
var (
	usageTypes     = []string{"per_user", "per_group"}
	usageIntervals = []string{"daily", "weekly", "monthly", "total"}
	volumeModes    = []string{"rw", "ro"}
)

func invalidValue(name, format string, args ...any) error {
	return &policy.Error{Kind: policy.KindInvalid, Code: policy.CodeInvalidSettingValue, Field: name, Message: fmt.Sprintf(format, args...)}
}

// Validate checks raw against the catalog entry of the setting called name and returns the
// value as canonical compact JSON (whole numbers without a fraction, objects with defaults
// filled and keys in a fixed order). Errors are *policy.Error of kind invalid with code
// unknown_setting or invalid_setting_value, Field name, and a message naming the setting and
// what it expects.
//
// Whole numbers are judged on their exact decimal value: 2, 2.0 and 2e0 are the int 2 (and
// canonicalise to 2), 2.5 is not an int. null is never valid.
func Validate(name string, raw json.RawMessage) (json.RawMessage, error) {
	s, ok := lookup(name)
	if !ok {
		return nil, &policy.Error{Kind: policy.KindInvalid, Code: policy.CodeUnknownSetting, Field: name,
			Message: fmt.Sprintf("unknown setting %q (GET /v1/settings lists the settings)", truncate(name, 80))}
	}
	if len(raw) > MaxValueBytes {
		return nil, invalidValue(name, "%s must be at most %d bytes of JSON, got %d bytes", name, MaxValueBytes, len(raw))
	}
	v := trimSpace(raw)
	if len(v) == 0 || !utf8.Valid(v) || !json.Valid(v) || v[0] == 'n' {
		return nil, mismatch(s, v)
	}
	switch s.Type {
	case TypeBool:
		if string(v) == "true" || string(v) == "false" {
			return json.RawMessage(string(v)), nil
		}
	case TypeInt:
		return validateInt(s, v)
	case TypeNumber:
		return validateNumber(s, v)
	case TypeString, TypeEnum, TypeURL, TypeID:
		return validateString(s, v)
	case TypeObject:
		switch s.Shape {
		case ShapeUsageLimit:
			return validateUsageLimit(s, v)
		case ShapeVolumeMapping:
			return validateVolumeMapping(s, v)
		case ShapeRunConfig:
			return validateRunConfig(s, v)
		}
	}
	return nil, mismatch(s, v)
}

// mismatch is the error for a value that is not what s expects.
func mismatch(s *Setting, v []byte) error {
	return invalidValue(s.Name, "%s must be %s, got %s", s.Name, expected(s), describe(v))
}

func formatBound(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// expected says in words what a setting accepts.
func expected(s *Setting) string {
	unit := ""
	if s.Unit != "" {
		unit = " (" + s.Unit + ")"
	}
	switch s.Type {
	case TypeBool:
		return "a JSON boolean (true or false)"
	case TypeInt:
		return "a whole number " + boundsText(s) + unit
	case TypeNumber:
		return "a number " + boundsText(s) + unit
	case TypeString:
		return fmt.Sprintf("a JSON string of at most %d characters", MaxIDLength)
	case TypeEnum:
		return "one of the strings " + quoteList(s.Enum)
	case TypeURL:
		if s.AllowEmpty {
			return `an absolute http(s) URL string, or "" for none`
		}
		return "an absolute http(s) URL string"
	case TypeID:
		if s.AllowEmpty {
			return fmt.Sprintf(`an id string of at most %d characters, or "" for none`, MaxIDLength)
		}
		return fmt.Sprintf("a non-empty id string of at most %d characters", MaxIDLength)
	case TypeObject:
		switch s.Shape {
		case ShapeUsageLimit:
			return `{} or an object with exactly the keys type ("per_user" or "per_group"), interval ("daily", "weekly", "monthly" or "total") and hours (a number > 0)`
		case ShapeVolumeMapping:
			return `an object mapping absolute host paths to mounts {"bind", "mode", "uid", "gid", optional "required", "skip_check", "timeout"}`
		case ShapeRunConfig:
			return "a JSON object of docker run parameters"
		}
	}
	return "a valid value"
}

// boundsText renders a setting's numeric bounds: "from 1 to 86400", ">= 0", "> 0 and <= 525600".
func boundsText(s *Setting) string {
	switch {
	case s.Min != nil && s.Max != nil && !s.ExclusiveMin:
		return "from " + formatBound(*s.Min) + " to " + formatBound(*s.Max)
	case s.Min != nil && s.Max != nil:
		return "> " + formatBound(*s.Min) + " and <= " + formatBound(*s.Max)
	case s.Min != nil && s.ExclusiveMin:
		return "> " + formatBound(*s.Min)
	case s.Min != nil:
		return ">= " + formatBound(*s.Min)
	case s.Max != nil:
		return "<= " + formatBound(*s.Max)
	}
	return ""
}

func quoteList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	return strings.Join(q, ", ")
}

func inBounds(s *Setting, f float64) bool {
	if s.Min != nil && (f < *s.Min || (s.ExclusiveMin && f == *s.Min)) {
		return false
	}
	return s.Max == nil || f <= *s.Max
}

func validateInt(s *Setting, v []byte) (json.RawMessage, error) {
	if !isNumberStart(v[0]) {
		return nil, mismatch(s, v)
	}
	n, res := parseWhole(v)
	if res == wholeTooLarge || (res == wholeOK && s.Max == nil && (n > MaxWholeNumber || n < -MaxWholeNumber)) {
		return nil, invalidValue(s.Name, "%s must be %s and at most %d, got %s", s.Name, expected(s), MaxWholeNumber, describe(v))
	}
	if res != wholeOK || !inBounds(s, float64(n)) {
		return nil, mismatch(s, v)
	}
	return strconv.AppendInt(nil, n, 10), nil
}

func validateNumber(s *Setting, v []byte) (json.RawMessage, error) {
	f, ok := parseFloat(v)
	if !ok || !inBounds(s, f) {
		return nil, mismatch(s, v)
	}
	return encodeFloat(f), nil
}

// validateString checks string, enum, url and id values.
func validateString(s *Setting, v []byte) (json.RawMessage, error) {
	if v[0] != '"' {
		return nil, mismatch(s, v)
	}
	var str string
	if err := json.Unmarshal(v, &str); err != nil {
		return nil, mismatch(s, v)
	}
	switch s.Type {
	case TypeEnum:
		if !contains(s.Enum, str) {
			return nil, mismatch(s, v)
		}
	case TypeURL:
		if !(str == "" && s.AllowEmpty) && !validURL(str) {
			return nil, mismatch(s, v)
		}
	case TypeID:
		if str == "" && !s.AllowEmpty || !validID(str) {
			return nil, mismatch(s, v)
		}
	case TypeString:
		if utf8.RuneCountInString(str) > MaxIDLength {
			return nil, mismatch(s, v)
		}
	}
	return encode(str)
}

func contains(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// validURL accepts absolute http and https URLs with a host and without spaces or control
// characters.
func validURL(s string) bool {
	if len(s) > MaxURLLength || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return false
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return (scheme == "http" || scheme == "https") && u.Hostname() != ""
}

// validID accepts opaque ids: at most MaxIDLength characters, no control characters.
func validID(s string) bool {
	return utf8.RuneCountInString(s) <= MaxIDLength && !strings.ContainsFunc(s, unicode.IsControl)
}

func validateUsageLimit(s *Setting, v []byte) (json.RawMessage, error) {
	ms, ok := scanObject(v)
	if !ok {
		return nil, mismatch(s, v)
	}
	if len(ms) == 0 {
		return json.RawMessage("{}"), nil
	}
	var ul UsageLimit
	seen := map[string]bool{}
	for _, m := range ms {
		if seen[m.key] {
			return nil, invalidValue(s.Name, "%s has the key %q twice", s.Name, truncate(m.key, 80))
		}
		seen[m.key] = true
		switch m.key {
		case "type":
			w, ok := stringIn(m.val, usageTypes)
			if !ok {
				return nil, invalidValue(s.Name, "%s.type must be one of %s, got %s", s.Name, quoteList(usageTypes), describe(m.val))
			}
			ul.Type = w
		case "interval":
			w, ok := stringIn(m.val, usageIntervals)
			if !ok {
				return nil, invalidValue(s.Name, "%s.interval must be one of %s, got %s", s.Name, quoteList(usageIntervals), describe(m.val))
			}
			ul.Interval = w
		case "hours":
			f, ok := parseFloat(m.val)
			if !ok || f <= 0 || f > MaxUsageHours {
				return nil, invalidValue(s.Name, "%s.hours must be a number > 0 and <= %d, got %s", s.Name, MaxUsageHours, describe(m.val))
			}
			ul.Hours = f
		default:
			return nil, invalidValue(s.Name, "%s has an unknown key %q; it takes exactly type, interval and hours, or is {} for no limit", s.Name, truncate(m.key, 80))
		}
	}
	for _, k := range []string{"type", "interval", "hours"} {
		if !seen[k] {
			return nil, invalidValue(s.Name, "%s.%s is required: %s is {} for no limit or has all of type, interval and hours", s.Name, k, s.Name)
		}
	}
	return encode(ul)
}

// stringIn decodes a JSON string and reports whether it is one of words.
func stringIn(v []byte, words []string) (string, bool) {
	v = trimSpace(v)
	if len(v) == 0 || v[0] != '"' {
		return "", false
	}
	var w string
	if json.Unmarshal(v, &w) != nil || !contains(words, w) {
		return "", false
	}
	return w, true
}

// problem is what is wrong with one field of a volume mount; field is "" for the mount itself.
type problem struct {
	field string
	text  string
}

func validateVolumeMapping(s *Setting, v []byte) (json.RawMessage, error) {
	ms, ok := scanObject(v)
	if !ok {
		return nil, mismatch(s, v)
	}
	out := make(map[string]VolumeMount, len(ms))
	given := make(map[string]string, len(ms)) // canonical host path → as given
	binds := make(map[string]string, len(ms)) // canonical bind → host path as given
	for _, m := range ms {
		host, reason := CanonicalPath(m.key)
		if reason != "" {
			return nil, invalidValue(s.Name, "%s host path %q %s", s.Name, truncate(m.key, 80), reason)
		}
		if first, dup := given[host]; dup {
			if first == m.key {
				return nil, invalidValue(s.Name, "%s has the host path %q twice", s.Name, truncate(m.key, 80))
			}
			return nil, invalidValue(s.Name, "%s has the host path %q twice: %q and %q are the same path", s.Name, truncate(host, 80), truncate(first, 80), truncate(m.key, 80))
		}
		vm, p := parseVolumeEntry(m.val)
		if p != nil {
			prefix := fmt.Sprintf("%s[%q]", s.Name, truncate(m.key, 80))
			if p.field != "" {
				prefix += "." + p.field
			}
			return nil, invalidValue(s.Name, "%s %s", prefix, p.text)
		}
		if other, dup := binds[vm.Bind]; dup {
			return nil, invalidValue(s.Name, "%s mounts %q and %q at the same bind %q", s.Name, truncate(other, 80), truncate(m.key, 80), truncate(vm.Bind, 80))
		}
		given[host], binds[vm.Bind] = m.key, m.key
		out[host] = vm
	}
	return encode(out)
}

// ValidateVolumeEntry validates one volume mount, as found under hostPath in volume_mapping;
// user storage mappings reuse it (raw holds the mount without host_path). Missing optional
// fields get their defaults: required true, skip_check false, timeout 10. Errors are
// *policy.Error of kind invalid, code invalid_storage_mapping, with Field naming the offending
// field (host_path, bind, mode, uid, gid, required, skip_check or timeout).
func ValidateVolumeEntry(hostPath string, raw json.RawMessage) (VolumeMount, error) {
	fail := func(field, text string) (VolumeMount, error) {
		msg := text
		if field != "" {
			msg = field + " " + text
		}
		return VolumeMount{}, &policy.Error{Kind: policy.KindInvalid, Code: policy.CodeInvalidStorageMapping, Field: field, Message: msg}
	}
	if _, reason := CanonicalPath(hostPath); reason != "" {
		return fail("host_path", reason)
	}
	if len(raw) > MaxValueBytes {
		return fail("", fmt.Sprintf("the mapping must be at most %d bytes of JSON, got %d bytes", MaxValueBytes, len(raw)))
	}
	v := trimSpace(raw)
	if !utf8.Valid(v) || !json.Valid(v) {
		return fail("", "the mapping must be a JSON object, got "+describe(v))
	}
	vm, p := parseVolumeEntry(v)
	if p != nil {
		if p.field == "" {
			return fail("", "the mapping "+p.text)
		}
		return fail(p.field, p.text)
	}
	return vm, nil
}

// parseVolumeEntry checks one mount of valid JSON v and fills the defaults.
func parseVolumeEntry(v []byte) (VolumeMount, *problem) {
	ms, ok := scanObject(v)
	if !ok {
		return VolumeMount{}, &problem{text: "must be an object with bind, mode, uid and gid, got " + describe(v)}
	}
	vm := VolumeMount{Required: true, Timeout: DefaultVolumeTimeout}
	var seen [7]bool
	keys := [7]string{"bind", "mode", "uid", "gid", "required", "skip_check", "timeout"}
	for _, m := range ms {
		k := -1
		for i, name := range keys {
			if m.key == name {
				k = i
			}
		}
		if k < 0 {
			return VolumeMount{}, &problem{text: fmt.Sprintf("has an unknown key %q; the keys are bind, mode, uid, gid, required, skip_check and timeout", truncate(m.key, 80))}
		}
		if seen[k] {
			return VolumeMount{}, &problem{text: fmt.Sprintf("has the key %q twice", m.key)}
		}
		seen[k] = true
		val := trimSpace(m.val)
		bad := func(text string) (VolumeMount, *problem) {
			return VolumeMount{}, &problem{field: m.key, text: text + ", got " + describe(val)}
		}
		switch m.key {
		case "bind":
			var str string
			if len(val) == 0 || val[0] != '"' || json.Unmarshal(val, &str) != nil {
				return bad(`must be an absolute path string (start with "/")`)
			}
			bind, reason := CanonicalPath(str)
			if reason != "" {
				return bad(reason)
			}
			vm.Bind = bind
		case "mode":
			w, ok := stringIn(val, volumeModes)
			if !ok {
				return bad(`must be "rw" or "ro"`)
			}
			vm.Mode = w
		case "uid", "gid":
			var n int64
			res := wholeNotNumber
			if len(val) > 0 && isNumberStart(val[0]) {
				n, res = parseWhole(val)
			}
			if res != wholeOK || n < 0 || n > MaxID {
				return bad(fmt.Sprintf("must be a whole number from 0 to %d", int64(MaxID)))
			}
			if m.key == "uid" {
				vm.UID = n
			} else {
				vm.GID = n
			}
		case "required", "skip_check":
			if string(val) != "true" && string(val) != "false" {
				return bad("must be a JSON boolean (true or false)")
			}
			if m.key == "required" {
				vm.Required = string(val) == "true"
			} else {
				vm.SkipCheck = string(val) == "true"
			}
		case "timeout":
			f, ok := parseFloat(val)
			if !ok || f <= 0 || f > MaxVolumeTimeout {
				return bad(fmt.Sprintf("must be a number of seconds > 0 and <= %d", MaxVolumeTimeout))
			}
			vm.Timeout = f
		}
	}
	for i, name := range keys[:4] {
		if !seen[i] {
			return VolumeMount{}, &problem{field: name, text: "is required (a mount has bind, mode, uid and gid)"}
		}
	}
	return vm, nil
}

// CanonicalPath returns the canonical form of a host path or bind and "", or why p is not an
// acceptable one. Acceptable: absolute, at most MaxPathLength bytes, UTF-8 without control or
// format characters (Unicode Cc and Cf: a zero width space makes a look-alike path), no ".."
// segment, braces only in the tokens {username} and {user_id}. Canonical: path.Clean's form
// — no empty ("//") or "." segment and no trailing "/" — so that "/srv/share/", "/srv//share"
// and "/srv/./share" are all stored, merged and compared as "/srv/share". Every path the
// service stores goes through it (volume_mapping host paths and binds, storage mappings);
// BuildLaunch cleans again after substituting the tokens.
func CanonicalPath(p string) (string, string) {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "", `must be an absolute path (start with "/")`
	case len(p) > MaxPathLength:
		return "", fmt.Sprintf("must be at most %d bytes long", MaxPathLength)
	case !utf8.ValidString(p) || strings.ContainsFunc(p, unicode.IsControl):
		return "", "must not contain control characters"
	case strings.ContainsFunc(p, func(r rune) bool { return unicode.Is(unicode.Cf, r) }):
		return "", "must not contain invisible format characters (Unicode Cf, such as U+200B)"
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", `must not contain ".." segments`
		}
	}
	rest := strings.NewReplacer("{username}", "", "{user_id}", "").Replace(p)
	if strings.ContainsAny(rest, "{}") {
		return "", "may use braces only in the tokens {username} and {user_id}"
	}
	return path.Clean(p), ""
}

func validateRunConfig(s *Setting, v []byte) (json.RawMessage, error) {
	ms, ok := scanObject(v)
	if !ok {
		return nil, mismatch(s, v)
	}
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if seen[m.key] {
			return nil, invalidValue(s.Name, "%s has the key %q twice", s.Name, truncate(m.key, 80))
		}
		seen[m.key] = true
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v); err != nil {
		return nil, mismatch(s, v)
	}
	return buf.Bytes(), nil
}
