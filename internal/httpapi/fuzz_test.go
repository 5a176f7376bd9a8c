package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wspolicy/internal/policy"
)

// FuzzDecodeJSONBody: whatever the body, decoding succeeds or fails with a 400-kind error
// that has a code; it never panics.
func FuzzDecodeJSONBody(f *testing.F) {
	for _, b := range hostileBodies() {
		if len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Add(`{"name":"a","priority":3,"description":"d"}`)
	f.Add(`{"set":{"keepalive_interval":60},"unset":["allow_kasm_audio"]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var dst struct {
			Name     *string        `json:"name"`
			Priority *int           `json:"priority"`
			Set      map[string]any `json:"set"`
			Unset    []string       `json:"unset"`
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		err := decodeJSONBody(httptest.NewRecorder(), r, &dst, true)
		if err != nil && (policy.KindOf(err) != policy.KindInvalid || policy.CodeOf(err) == "") {
			t.Fatalf("decode %q: got %v (kind %s), want a coded invalid error", body, err, policy.KindOf(err))
		}
	})
}

// FuzzPathIDs: any path under /v1 with the bootstrap admin key is answered without a 5xx
// and, when an id is malformed, with a 400 and no call on the directory (whose methods
// would panic here).
func FuzzPathIDs(f *testing.F) {
	for _, p := range []string{"g_1", "a b", "..", "%00", "é", "-x", strings.Repeat("a", 65), "all-users", "x/y"} {
		f.Add(p)
	}
	h := New(Config{Directory: &keyDirectory{}, AdminKey: testAdminKey})
	f.Fuzz(func(t *testing.T, id string) {
		if policy.ValidID(id) {
			return // a well-formed id reaches the directory, which this fuzz target does not have
		}
		for _, tmpl := range []string{"/v1/groups/%s", "/v1/users/%s/effective-settings", "/v1/groups/g_1/members/%s", "/v1/users/u_1/keys/%s"} {
			path := strings.Replace(tmpl, "%s", escapePathSegment(id), 1)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.URL.Path, r.URL.RawPath = strings.Replace(tmpl, "%s", id, 1), path
			r.Header.Set("Authorization", "Bearer "+testAdminKey)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("GET %s: got %d %s", path, w.Code, w.Body)
			}
		}
	})
}

// escapePathSegment percent-encodes everything but unreserved characters.
func escapePathSegment(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
	}
	return b.String()
}
