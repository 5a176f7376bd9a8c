package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"wspolicy/internal/policy"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

// maxJSONDepth bounds the nesting of a request body. No request needs more than a handful of
// levels (a volume_mapping PUT is four deep); the bound keeps hostile input away from recursive
// validators and from DynamoDB's own nesting limit of 32.
const maxJSONDepth = 20

// decodeJSONBody reads the request body into dst, a pointer to a struct. The body must be one
// JSON object of at most maxBodyBytes, nested at most maxJSONDepth deep, sent as
// application/json (or with no Content-Type), with no fields dst does not know. When required is
// false an empty body leaves dst untouched. Every failure is a 400 that says what is wrong and,
// where it can, names the field.
func decodeJSONBody(w http.ResponseWriter, r *http.Request, dst any, required bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return policy.Errorf(policy.KindInvalid, policy.CodeBodyTooLarge, "request body is larger than %d bytes", maxBodyBytes)
		}
		return policy.Errorf(policy.KindInvalid, policy.CodeInvalidBody, "could not read the request body")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		if required {
			return policy.Errorf(policy.KindInvalid, policy.CodeBodyRequired, "a JSON object body is required")
		}
		return nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return policy.Errorf(policy.KindInvalid, policy.CodeUnsupportedMediaType, "send the body as Content-Type: application/json")
		}
	}
	if !utf8.Valid(body) {
		return policy.Errorf(policy.KindInvalid, policy.CodeInvalidBody, "the request body is not valid UTF-8")
	}
	if body[0] != '{' {
		return policy.Errorf(policy.KindInvalid, policy.CodeInvalidBody, "the request body must be a JSON object")
	}
	if jsonTooDeep(body, maxJSONDepth) {
		return policy.Errorf(policy.KindInvalid, policy.CodeBodyTooDeep, "the request body is nested more than %d levels deep", maxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return policy.Errorf(policy.KindInvalid, policy.CodeInvalidBody, "the request body must hold exactly one JSON value")
	}
	return nil
}

// decodeError turns an encoding/json error into a 400 that names the field when it can.
func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return policy.Errorf(policy.KindInvalid, policy.CodeMalformedJSON, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return policy.Errorf(policy.KindInvalid, policy.CodeMalformedJSON, "malformed JSON: unexpected end of body")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return policy.Errorf(policy.KindInvalid, policy.CodeInvalidBody, "the request body must be a JSON object")
		}
		return policy.FieldErrorf(field, policy.CodeInvalidType, "%s must be %s, not %s", field, jsonTypeName(typ.Type), typ.Value)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return policy.FieldErrorf(name, policy.CodeUnknownField, "unknown field %q", name)
	}
	return policy.Errorf(policy.KindInvalid, policy.CodeInvalidBody, "the request body could not be read as JSON")
}

// jsonTypeName describes a Go type the way an API client thinks of JSON.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "a different type"
	}
}

// jsonTooDeep reports whether the JSON text b nests objects and arrays more than max deep.
// It only counts brackets outside strings; syntax errors are left to the decoder.
func jsonTooDeep(b []byte, max int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return true
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return false
}

// ifMatchVersion reads the If-Match header of a group write: absent or "*" means any version
// (0); otherwise it must be one positive version number, bare or quoted as the ETag is.
func ifMatchVersion(r *http.Request) (int64, error) {
	values := r.Header.Values("If-Match")
	if len(values) == 0 {
		return 0, nil
	}
	bad := policy.FieldErrorf("If-Match", policy.CodeInvalidIfMatch, "If-Match must be one group version, such as 3 or \"3\"")
	if len(values) > 1 {
		return 0, bad
	}
	v := strings.TrimSpace(values[0])
	if v == "*" {
		return 0, nil
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if v == "" || len(v) > 18 || strings.Trim(v, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, bad
	}
	return n, nil
}

// setVersionHeader sends a group's version as its ETag.
func setVersionHeader(w http.ResponseWriter, version int64) {
	w.Header().Set("ETag", fmt.Sprintf("%q", strconv.FormatInt(version, 10)))
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	// Messages quote values like ">= 0": no HTML escaping (the response is JSON with nosniff,
	// never HTML), so people and tools read them as written.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	b := []byte(`{"error":{"code":"` + policy.CodeInternal + `","message":"internal error"}}` + "\n")
	if err := enc.Encode(v); err == nil {
		b = buf.Bytes()
	} else {
		status = http.StatusInternalServerError
	}
	writeJSONBytes(w, status, b) // Encode ends the value with a newline
}

// writeJSONBytes answers status with b, a JSON value, and writeJSON's headers.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
