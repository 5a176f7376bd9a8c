package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestForgedPageTokensOnEveryListing is the first probe of issue 21: a page token made up by
// a caller (wrong attribute types, a sort key outside the listing's range, another user's
// partition, oversized keys) is a 400 invalid_page_token naming page_token on every listing,
// never a 500.
func TestForgedPageTokensOnEveryListing(t *testing.T) {
	a := newSessionAPITest(t)
	alice, aliceKey := a.sessUser("alice", map[string]any{"max_kasms_per_user": 5})
	bob := a.createUser("bob")
	for range 2 {
		a.sessStart(aliceKey, map[string]any{"image_id": "img"})
	}
	tok := func(j string) string { return base64.RawURLEncoding.EncodeToString([]byte(j)) }
	long := strings.Repeat("x", 3000)
	forged := map[string]string{
		"number for a string":      tok(`{"PK":{"t":"N","v":"1"},"SK":{"t":"S","v":"SESSION"}}`),
		"sort key out of range":    tok(`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#` + alice + `"},"GSI1SK":{"t":"S","v":"A"}}`),
		"another user's partition": tok(`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#` + bob + `"},"GSI1SK":{"t":"S","v":"SESSION#x"}}`),
		"oversized key":            tok(`{"PK":{"t":"S","v":"` + long + `"},"SK":{"t":"S","v":"SESSION"}}`),
		"empty key":                tok(`{"PK":{"t":"S","v":""},"SK":{"t":"S","v":"SESSION"}}`),
		"binary attribute":         tok(`{"PK":{"t":"B","v":"AA=="},"SK":{"t":"S","v":"SESSION"}}`),
		"not json":                 tok(`{`),
		"not base64":               "***",
	}
	listings := []struct{ name, key, query string }{
		{"admin, every session", testAdminKey, ""},
		{"admin, one user", testAdminKey, "&user_id=" + alice},
		{"user, own sessions", aliceKey, ""},
		{"user, own paused sessions", aliceKey, "&status=paused"},
	}
	for _, l := range listings {
		for name, token := range forged {
			t.Run(l.name+"/"+name, func(t *testing.T) {
				res := a.do("GET", "/v1/sessions?limit=1&page_token="+url.QueryEscape(token)+l.query, l.key, nil)
				if res.Status != http.StatusBadRequest || res.errorCode() != "invalid_page_token" || res.errorField() != "page_token" {
					t.Fatalf("got %d %s, want 400 invalid_page_token naming page_token", res.Status, res.Body)
				}
			})
		}
	}
	if strings.Contains(a.logs.String(), `"level":"ERROR"`) {
		t.Fatalf("forged tokens logged an error:\n%s", a.logs)
	}
}

// TestLookAlikeGroupNames is the third probe of issue 21: invisible characters are refused
// with a 400 naming the field, and compatibility or case variants of a name are taken.
func TestLookAlikeGroupNames(t *testing.T) {
	a := newAPITest(t)
	g := a.createGroup("Engineering", 10)
	for _, name := range []string{"Engineering\u200b", "\u200bEngineering", "Engi\u2060neering", "Engineering\ufeff", "Eng\u202eineering", "Engineering\u3164"} {
		res := a.do("POST", "/v1/groups", testAdminKey, map[string]any{"name": name, "priority": 11})
		if res.Status != http.StatusBadRequest || res.errorCode() != "invalid_name" || res.errorField() != "name" {
			t.Errorf("create %+q: got %d %s, want 400 invalid_name", name, res.Status, res.Body)
		}
		res = a.do("PATCH", "/v1/groups/"+g, testAdminKey, map[string]any{"name": name})
		if res.Status != http.StatusBadRequest || res.errorCode() != "invalid_name" {
			t.Errorf("rename to %+q: got %d %s, want 400 invalid_name", name, res.Status, res.Body)
		}
	}
	for _, name := range []string{"ENGINEERING", "Ｅｎｇｉｎｅｅｒｉｎｇ", "engineering\u00a0"} {
		res := a.do("POST", "/v1/groups", testAdminKey, map[string]any{"name": name, "priority": 11})
		if res.Status != http.StatusConflict || res.errorCode() != "group_name_taken" {
			t.Errorf("create %+q: got %d %s, want 409 group_name_taken", name, res.Status, res.Body)
		}
	}
	res := a.do("GET", "/v1/groups", testAdminKey, nil)
	var list struct {
		Groups []struct{ Name string } `json:"groups"`
	}
	res.json(t, &list)
	if len(list.Groups) != 2 { // All Users and Engineering
		t.Fatalf("groups after the probes: %+v", list.Groups)
	}
}

// TestPathAliasesThroughTheAPI is the second probe of issue 21 end to end: a group mounts
// /srv/share read-only, user mappings are allowed read-write; a user mapping of /srv/share
// through an alias, or on the group's bind through an alias, is stored canonical and left out
// of the session's launch.
func TestPathAliasesThroughTheAPI(t *testing.T) {
	a := newSessionAPITest(t)
	alice, aliceKey := a.sessUser("alice", map[string]any{
		"volume_mapping":                 map[string]any{"/srv/share": map[string]any{"bind": "/home/kasm-user/share", "mode": "ro", "uid": 0, "gid": 0}},
		"allow_user_storage_mapping":     true,
		"read_only_user_storage_mapping": false,
		"max_user_storage_mappings":      10,
		"max_kasms_per_user":             5,
	})
	mappings := []map[string]any{
		{"host_path": "/srv/share/", "bind": "/home/kasm-user/a"},
		{"host_path": "/srv//share", "bind": "/home/kasm-user/b"},
		{"host_path": "/srv/./share", "bind": "/home/kasm-user/c"},
		{"host_path": "/srv/share/sub", "bind": "/home/kasm-user/d"},
		{"host_path": "/data/e", "bind": "/home/kasm-user/share/"},
		{"host_path": "/data/f", "bind": "/home/kasm-user//share/inner"},
	}
	for _, m := range mappings {
		m["mode"], m["uid"], m["gid"] = "rw", 1000, 1000
		res := a.do("POST", "/v1/users/"+alice+"/storage-mappings", aliceKey, m)
		mustAPIStatus(t, "create mapping", res, http.StatusCreated)
		var got struct{ HostPath, Bind string }
		_ = json.Unmarshal(res.Body, &struct {
			HostPath *string `json:"host_path"`
			Bind     *string `json:"bind"`
		}{&got.HostPath, &got.Bind})
		if strings.Contains(got.HostPath, "//") || strings.Contains(got.HostPath, "/.") || strings.HasSuffix(got.HostPath, "/") ||
			strings.Contains(got.Bind, "//") || strings.HasSuffix(got.Bind, "/") {
			t.Fatalf("mapping %v stored as %q at %q, want canonical", m, got.HostPath, got.Bind)
		}
	}
	s := a.sessStart(aliceKey, map[string]any{"image_id": "img"})
	res := a.do("GET", "/v1/sessions/"+s.SessionID, testAdminKey, nil)
	var view struct {
		Launch struct {
			Mounts []struct {
				HostPath string `json:"host_path"`
				Bind     string `json:"bind"`
				Mode     string `json:"mode"`
				Source   string `json:"source"`
			} `json:"volume_mappings"`
		} `json:"launch"`
	}
	res.json(t, &view)
	if len(view.Launch.Mounts) != 1 || view.Launch.Mounts[0].HostPath != "/srv/share" || view.Launch.Mounts[0].Mode != "ro" {
		t.Fatalf("launch mounts %+v, want only the group's read-only /srv/share", view.Launch.Mounts)
	}
	// The same aliases in one volume_mapping are one host path: refused.
	g := a.createGroup("aliases", 20)
	res = a.do("PUT", "/v1/groups/"+g+"/settings/volume_mapping", testAdminKey, map[string]any{"value": map[string]any{
		"/srv/share":  map[string]any{"bind": "/a", "mode": "ro", "uid": 0, "gid": 0},
		"/srv/share/": map[string]any{"bind": "/b", "mode": "rw", "uid": 0, "gid": 0},
	}})
	if res.Status != http.StatusBadRequest {
		t.Fatalf("volume_mapping with /srv/share twice: got %d %s, want 400", res.Status, res.Body)
	}
}
