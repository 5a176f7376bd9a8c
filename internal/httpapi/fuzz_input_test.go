package httpapi

// Fuzz targets of the public input families (issue 21): page tokens, names, paths of volume
// mappings and storage mappings, and the JSON bodies of every write. Each runs the real API on
// DynamoDB Local and asserts that no input yields a 5xx and that a refused request (4xx)
// leaves every stored item exactly as it was. `make fuzz` runs them for FUZZTIME each; `go
// test` runs their seeds.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/sweep"
)

// fuzzAPI is the API on a table of its own with a group, a user in it with a key, and three
// sessions of that user: what every fuzz target of this file works on.
type fuzzAPI struct {
	h       http.Handler
	tb      *ddbtest.Table
	group   string // "Target", priority 50: volume_mapping mounts /srv/share read-only
	user    string
	userKey string
}

func newFuzzAPI(f *testing.F) *fuzzAPI {
	f.Helper()
	tb := ddbtest.NewTable(f)
	clock := &policy.FixedClock{T: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	store := ddbstore.Open(tb.Client, tb.Name, ddbstore.WithClock(clock)).Directory()
	ctx := context.Background()
	if err := store.EnsureAllUsers(ctx, clock.Now(), settings.AllUsersValues()); err != nil {
		f.Fatal(err)
	}
	ss := ddbstore.Open(tb.Client, tb.Name).Sessions()
	z := &fuzzAPI{tb: tb, h: New(Config{Directory: store, Clock: clock, AdminKey: testAdminKey,
		Sessions: sessions.New(sessions.Config{Store: ss, Directory: store, Clock: clock}),
		Sweeper:  sweep.New(sweep.Config{Store: ss, Directory: store, Clock: clock})})}
	must := func(what string, status int, body []byte, want int) {
		f.Helper()
		if status != want {
			f.Fatalf("%s: got %d %s, want %d", what, status, body, want)
		}
	}
	st, body := z.do("POST", "/v1/groups", testAdminKey, `{"name":"Target","priority":50}`)
	must("create group", st, body, http.StatusCreated)
	z.group = jsonField(body, "group_id")
	st, body = z.do("PATCH", "/v1/groups/"+z.group+"/settings", testAdminKey, `{"set":{
		"volume_mapping":{"/srv/share":{"bind":"/home/kasm-user/share","mode":"ro","uid":0,"gid":0}},
		"allow_user_storage_mapping":true,"read_only_user_storage_mapping":false,
		"max_user_storage_mappings":3,"max_kasms_per_user":10}}`)
	must("group settings", st, body, http.StatusOK)
	st, body = z.do("POST", "/v1/users", testAdminKey, `{"username":"target"}`)
	must("create user", st, body, http.StatusCreated)
	z.user = jsonField(body, "user_id")
	st, body = z.do("PUT", "/v1/groups/"+z.group+"/members/"+z.user, testAdminKey, "")
	must("add member", st, body, http.StatusNoContent)
	st, body = z.do("POST", "/v1/users/"+z.user+"/keys", testAdminKey, `{"role":"user"}`)
	must("issue key", st, body, http.StatusCreated)
	z.userKey = jsonField(body, "secret")
	for i := range 3 {
		st, body = z.do("POST", "/v1/sessions", z.userKey, fmt.Sprintf(`{"image_id":"img%d"}`, i))
		must("start session", st, body, http.StatusCreated)
	}
	return z
}

// jsonField is one string field of a JSON object ("" when absent).
func jsonField(body []byte, name string) string {
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	s, _ := m[name].(string)
	return s
}

// do sends a request; body "" sends none.
func (z *fuzzAPI) do(method, target, key, body string) (int, []byte) {
	var req *http.Request
	if body == "" {
		req = httptest.NewRequest(method, "/", nil)
	} else {
		req = httptest.NewRequest(method, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	req.URL = u
	req.RequestURI = u.RequestURI()
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	w := httptest.NewRecorder()
	z.h.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// snapshot is every item of the table, in a canonical text form.
func (z *fuzzAPI) snapshot(t *testing.T) string {
	t.Helper()
	var lines []string
	var start map[string]ddbtypes.AttributeValue
	for {
		out, err := z.tb.Client.Scan(context.Background(), &dynamodb.ScanInput{
			TableName: aws.String(z.tb.Name), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start})
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		for _, item := range out.Items {
			var m map[string]any
			if err := attributevalue.UnmarshalMap(item, &m); err != nil {
				t.Fatalf("decode item: %v", err)
			}
			b, _ := json.Marshal(m)
			lines = append(lines, string(b))
		}
		if start = out.LastEvaluatedKey; len(start) == 0 {
			break
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// refusedChangesNothing sends the request and fails on a 5xx, or on a 4xx after which the
// table differs. It returns the status and body.
func (z *fuzzAPI) refusedChangesNothing(t *testing.T, method, target, key, body string) (int, []byte) {
	t.Helper()
	before := z.snapshot(t)
	st, res := z.do(method, target, key, body)
	if st >= 500 {
		t.Fatalf("%s %s with %.300q: got %d %s; no input may yield a 5xx", method, target, body, st, res)
	}
	if st >= 400 {
		if jsonField(res, "error") == "" && !strings.Contains(string(res), `"code"`) {
			t.Fatalf("%s %s: got %d %s, want a JSON error with a code", method, target, st, res)
		}
		if after := z.snapshot(t); after != before {
			t.Fatalf("%s %s with %.300q was refused (%d %s) but changed the table:\nbefore:\n%s\nafter:\n%s", method, target, body, st, res, before, after)
		}
	}
	return st, res
}

// pageTokenSeeds are the listings' own tokens (decoded), so that the fuzzer mutates real
// shapes, and made-up ones.
func (z *fuzzAPI) pageTokenSeeds(f *testing.F) {
	for _, q := range []string{"", "&user_id=" + z.user} {
		st, body := z.do("GET", "/v1/sessions?limit=1"+q, testAdminKey, "")
		if tok := jsonField(body, "next_page_token"); st == http.StatusOK && tok != "" {
			raw, _ := base64.RawURLEncoding.DecodeString(tok)
			f.Add(string(raw), false)
			f.Add(tok, true)
		}
	}
	for _, s := range []string{
		`{"PK":{"t":"N","v":"1"},"SK":{"t":"S","v":"SESSION"}}`,
		`{"PK":{"t":"S","v":"SESSION#x"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#` + z.user + `"},"GSI1SK":{"t":"S","v":"A"}}`,
		`{"PK":{"t":"S","v":"` + strings.Repeat("é", 1100) + `"},"SK":{"t":"S","v":"x"}}`,
		`{"a":1}`, `[]`, ``,
	} {
		f.Add(s, false)
	}
	f.Add("%%%", true)
	f.Add(strings.Repeat("A", 9000), true)
}

// FuzzSessionListPageToken: GET /v1/sessions with any page_token, as an administrator (the
// scan, and the query of one user) and as the user (their query, with and without a status
// filter), answers 200 or 400 invalid_page_token naming page_token.
func FuzzSessionListPageToken(f *testing.F) {
	z := newFuzzAPI(f)
	z.pageTokenSeeds(f)
	listings := []struct{ key, query string }{
		{testAdminKey, ""}, {testAdminKey, "&user_id=" + z.user}, {z.userKey, ""}, {z.userKey, "&status=running"},
	}
	f.Fuzz(func(t *testing.T, s string, asIs bool) {
		tok := s
		if !asIs {
			tok = base64.RawURLEncoding.EncodeToString([]byte(s))
		}
		for _, l := range listings {
			st, body := z.do("GET", "/v1/sessions?limit=1&page_token="+url.QueryEscape(tok)+l.query, l.key, "")
			if st == http.StatusOK {
				continue
			}
			var e errorBody
			_ = json.Unmarshal(body, &e)
			if st != http.StatusBadRequest || e.Error.Code != "invalid_page_token" || e.Error.Field != "page_token" {
				t.Fatalf("GET /v1/sessions%s with token %.200q: got %d %s, want 200 or 400 invalid_page_token", l.query, tok, st, body)
			}
		}
	})
}

// FuzzNames: any group name or username is refused with a 4xx that changes nothing, or
// accepted; an accepted name has no invisible character and no other group or user has the
// same normalised name.
func FuzzNames(f *testing.F) {
	z := newFuzzAPI(f)
	for _, s := range []string{"Engineering", "Engineering\u200b", "\u2060Target", "TARGET", "Ｔａｒｇｅｔ", "target\ufeff",
		"a\u00a0b", "Stra\u00dfe", "\ufdfa\ufdfa", "e\u0301", "\x00", " ", "ok name", "\u3164", "x\U000e0001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		b, _ := json.Marshal(name)
		st, res := z.refusedChangesNothing(t, "POST", "/v1/groups", testAdminKey, `{"name":`+string(b)+`,"priority":60}`)
		if st == http.StatusCreated {
			z.checkAcceptedName(t, name, "groups")
			z.do("DELETE", "/v1/groups/"+jsonField(res, "group_id"), testAdminKey, "")
		}
		st, _ = z.refusedChangesNothing(t, "PATCH", "/v1/groups/"+z.group, testAdminKey, `{"name":`+string(b)+`}`)
		if st == http.StatusOK {
			z.checkAcceptedName(t, name, "groups")
			z.do("PATCH", "/v1/groups/"+z.group, testAdminKey, `{"name":"Target"}`)
		}
		st, res = z.refusedChangesNothing(t, "POST", "/v1/users", testAdminKey, `{"username":`+string(b)+`}`)
		if st == http.StatusCreated {
			z.checkAcceptedName(t, name, "users")
			z.do("DELETE", "/v1/users/"+jsonField(res, "user_id"), testAdminKey, "")
		}
	})
}

// checkAcceptedName fails when name has a character NameProblem refuses or when two groups
// (or two users) share a normalised name.
func (z *fuzzAPI) checkAcceptedName(t *testing.T, name, kind string) {
	t.Helper()
	if p := policy.NameProblem(strings.TrimSpace(name)); p != "" {
		t.Fatalf("accepted the name %+q, which %s", name, p)
	}
	st, body := z.do("GET", "/v1/"+kind, testAdminKey, "")
	if st != http.StatusOK {
		t.Fatalf("list %s: %d %s", kind, st, body)
	}
	var list map[string][]map[string]any
	_ = json.Unmarshal(body, &list)
	field := map[string]string{"groups": "name", "users": "username"}[kind]
	seen := map[string]string{}
	for _, item := range list[kind] {
		n, _ := item[field].(string)
		k := policy.NameKey(n)
		if other, dup := seen[k]; dup {
			t.Fatalf("%s %+q and %+q share the normalised name %+q", kind, other, n, k)
		}
		seen[k] = n
	}
}

// FuzzVolumePaths: a storage mapping and a volume_mapping entry with any host path and bind are
// refused without a change or stored with canonical paths.
func FuzzVolumePaths(f *testing.F) {
	z := newFuzzAPI(f)
	for _, p := range [][2]string{
		{"/srv/share/", "/home/kasm-user/share/"}, {"/srv//share", "/home/kasm-user//share"}, {"/srv/./share", "/x/."},
		{"/srv/share/sub", "/home/kasm-user/sub"}, {"/srv", "/home/kasm-user"}, {"/", "/"}, {"relative", "/b"},
		{"/a/../b", "/b"}, {"/a\u200b", "/b"}, {"/{username}/x", "/home/{user_id}"}, {"/{nope}", "/b"}, {"/a\x00", "/b"},
	} {
		f.Add(p[0], p[1], true)
	}
	f.Fuzz(func(t *testing.T, hostPath, bind string, rw bool) {
		mode := map[bool]string{true: "rw", false: "ro"}[rw]
		body, _ := json.Marshal(map[string]any{"host_path": hostPath, "bind": bind, "mode": mode, "uid": 1000, "gid": 1000})
		st, res := z.refusedChangesNothing(t, "POST", "/v1/users/"+z.user+"/storage-mappings", z.userKey, string(body))
		if st == http.StatusCreated {
			var m struct {
				ID       string `json:"mapping_id"`
				HostPath string `json:"host_path"`
				Bind     string `json:"bind"`
			}
			_ = json.Unmarshal(res, &m)
			if m.HostPath != path.Clean(m.HostPath) || m.Bind != path.Clean(m.Bind) {
				t.Fatalf("stored mapping %q at %q: not canonical", m.HostPath, m.Bind)
			}
			z.do("DELETE", "/v1/users/"+z.user+"/storage-mappings/"+m.ID, z.userKey, "")
		}
		entry, _ := json.Marshal(map[string]any{hostPath: map[string]any{"bind": bind, "mode": mode, "uid": 0, "gid": 0}})
		st, res = z.refusedChangesNothing(t, "PUT", "/v1/groups/"+z.group+"/settings/volume_mapping", testAdminKey, `{"value":`+string(entry)+`}`)
		if st == http.StatusOK {
			var vm map[string]settings.VolumeMount
			_ = json.Unmarshal([]byte(jsonRaw(res, "value")), &vm)
			for host, m := range vm {
				if host != path.Clean(host) || m.Bind != path.Clean(m.Bind) {
					t.Fatalf("stored volume_mapping %q at %q: not canonical (%s)", host, m.Bind, res)
				}
			}
		}
	})
}

// jsonRaw is one field of a JSON object as raw JSON ("" when absent).
func jsonRaw(body []byte, name string) string {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(body, &m)
	return string(m[name])
}

// FuzzWriteBodies: any body on any write route is refused with a 4xx that changes nothing, or
// accepted.
func FuzzWriteBodies(f *testing.F) {
	z := newFuzzAPI(f)
	routes := []struct{ method, path, key string }{
		{"POST", "/v1/groups", testAdminKey},
		{"PATCH", "/v1/groups/" + z.group, testAdminKey},
		{"PATCH", "/v1/groups/" + z.group + "/settings", testAdminKey},
		{"PUT", "/v1/groups/" + z.group + "/settings/keepalive_interval", testAdminKey},
		{"PUT", "/v1/groups/" + z.group + "/settings/volume_mapping", testAdminKey},
		{"PUT", "/v1/groups/" + z.group + "/settings/usage_limit", testAdminKey},
		{"PUT", "/v1/groups/" + z.group + "/settings/run_config", testAdminKey},
		{"POST", "/v1/users", testAdminKey},
		{"POST", "/v1/users/" + z.user + "/keys", testAdminKey},
		{"POST", "/v1/users/" + z.user + "/storage-mappings", z.userKey},
		{"POST", "/v1/sessions", z.userKey},
		{"POST", "/v1/sweeps", testAdminKey},
	}
	// Each hostile body once, on routes in turn (TestHostileBodiesNeverYieldA500 sends every
	// pair); sorted so that the seeds do not change from run to run.
	bodies := hostileBodies()
	for i, name := range slices.Sorted(maps.Keys(bodies)) {
		if body := bodies[name]; len(body) < 4096 {
			f.Add(uint8(i%len(routes)), body)
		}
	}
	f.Add(uint8(0), `{"name":"New","priority":70}`)
	f.Add(uint8(2), `{"set":{"keepalive_interval":60},"unset":["allow_kasm_audio"]}`)
	f.Add(uint8(4), `{"value":{"/srv/x/":{"bind":"/mnt/x","mode":"rw","uid":0,"gid":0}}}`)
	f.Add(uint8(9), `{"host_path":"/srv/share/","bind":"/b","mode":"rw","uid":0,"gid":0}`)
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		st, res := z.refusedChangesNothing(t, rt.method, rt.path, rt.key, body)
		if st == http.StatusCreated { // keep the table small: undo creations
			switch {
			case rt.path == "/v1/groups":
				z.do("DELETE", "/v1/groups/"+jsonField(res, "group_id"), testAdminKey, "")
			case rt.path == "/v1/users":
				z.do("DELETE", "/v1/users/"+jsonField(res, "user_id"), testAdminKey, "")
			case strings.HasSuffix(rt.path, "/storage-mappings"):
				z.do("DELETE", rt.path+"/"+jsonField(res, "mapping_id"), z.userKey, "")
			}
		}
	})
}
