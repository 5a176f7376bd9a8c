package preview_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/httpapi"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/preview"
	"wspolicy/internal/sweep"
)

const adminKey = "walkthrough-admin-key-0123456789abcdef"

type apiClient struct {
	t   *testing.T
	url string
}

// do sends a request with the admin key and decodes the answer into out; it returns the status
// and the ETag.
func (c apiClient) do(method, path string, body any, ifMatch int64, out any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if ifMatch != 0 {
		req.Header.Set("If-Match", fmt.Sprintf(`"%d"`, ifMatch))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	if res.StatusCode >= 300 && out != nil {
		c.t.Logf("%s %s: %d %s", method, path, res.StatusCode, raw)
	}
	return res.StatusCode, res.Header.Get("ETag")
}

// TestWalkthrough is the "done means", tried as a new user would through the API: a group
// with members and running sessions; preview a lower keepalive_expiration and see exactly the
// sessions that then expire at the next sweep after saving; preview removing a member and see
// their effective values fall back to the next group.
func TestWalkthrough(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Directory: e.dir, Clock: e.clock, AdminKey: adminKey,
		Sessions: e.svc, Preview: e.preview}))
	defer srv.Close()
	api := apiClient{t: t, url: srv.URL}

	// Two groups: Engineering (priority 10, keepalive_expiration 1 h) and Contractors (priority
	// 20, 30 min). Alice and Bob are engineers; Carol is both.
	var eng, con policy.Group
	if st, _ := api.do("POST", "/v1/groups", map[string]any{"name": "Engineering", "priority": 10}, 0, &eng); st != 201 {
		t.Fatalf("create Engineering: %d", st)
	}
	if st, _ := api.do("POST", "/v1/groups", map[string]any{"name": "Contractors", "priority": 20}, 0, &con); st != 201 {
		t.Fatalf("create Contractors: %d", st)
	}
	api.do("PUT", "/v1/groups/"+eng.ID+"/settings/keepalive_expiration", map[string]any{"value": 3600}, 0, nil)
	api.do("PUT", "/v1/groups/"+con.ID+"/settings/keepalive_expiration", map[string]any{"value": 1800}, 0, nil)
	users := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol"} {
		var u policy.User
		if st, _ := api.do("POST", "/v1/users", map[string]any{"username": name}, 0, &u); st != 201 {
			t.Fatalf("create %s: %d", name, st)
		}
		users[name] = u.ID
		api.do("PUT", "/v1/groups/"+eng.ID+"/members/"+u.ID, nil, 0, nil)
	}
	api.do("PUT", "/v1/groups/"+con.ID+"/members/"+users["carol"], nil, 0, nil)
	must(t, sweepAt(e, t0)) // the membership changes' re-sync markers

	// Each starts a session at t0; Alice keeps hers alive at t0+10 min; it is now t0+20 min.
	sess := map[string]string{}
	for name, id := range users {
		s, err := e.svc.Start(ctx, id, "img", true)
		must(t, err)
		sess[name] = s.SessionID
	}
	e.clock.Set(t0.Add(10 * time.Minute))
	_, err := e.svc.Keepalive(ctx, lifecycle.UserActor(users["alice"]), sess["alice"], nil)
	must(t, err)
	now := t0.Add(20 * time.Minute)
	e.clock.Set(now)

	// Preview keepalive_expiration 900 s (15 min) on Engineering.
	var p preview.Result
	st, etag := api.do("POST", "/v1/groups/"+eng.ID+"/preview", map[string]any{"kind": "settings", "set": map[string]any{"keepalive_expiration": 900}}, 0, &p)
	if st != 200 || etag != fmt.Sprintf(`"%d"`, p.Version) {
		t.Fatalf("preview: %d, ETag %s, version %d", st, etag, p.Version)
	}
	t.Logf("preview: %+v", p.Summary)
	if p.Summary.Users != 3 || p.Summary.Deleted != 2 || p.Summary.ExpiryChanged != 3 {
		t.Fatalf("summary %+v: want 3 users, 3 expiries moved, 2 sessions deleted at the next sweep", p.Summary)
	}
	previewed := map[string]preview.SessionEffect{}
	for _, u := range p.Users {
		if len(u.Settings) != 1 || u.Settings[0].Name != "keepalive_expiration" || string(u.Settings[0].New.Value) != "900" {
			t.Errorf("%s: settings %+v", u.Username, u.Settings)
		}
		for _, s := range u.Sessions {
			previewed[s.SessionID] = s
		}
	}
	if a := previewed[sess["alice"]]; a.NextSweep != "" || !a.NewExpiresAt.Equal(t0.Add(25*time.Minute)) {
		t.Errorf("alice: %+v, want a new expiry at t0+25 min and nothing at the next sweep", a)
	}
	var expected []string
	for _, name := range []string{"bob", "carol"} {
		if s := previewed[sess[name]]; s.NextSweep != lifecycle.OutcomeDelete || !slices.Contains(s.Effects, preview.EffectDelete) {
			t.Errorf("%s: %+v, want deleted at the next sweep", name, s)
		}
		expected = append(expected, sess[name])
	}

	// Save with the previewed version, then the next sweep ends exactly those sessions.
	if st, _ := api.do("PUT", "/v1/groups/"+eng.ID+"/settings/keepalive_expiration", map[string]any{"value": 900}, p.Version, &struct{}{}); st != 200 {
		t.Fatalf("save: %d", st)
	}
	rep, err := e.sweeper.Run(ctx, sweep.Options{Now: now})
	must(t, err)
	var ended []string
	for _, a := range rep.Actions {
		if a.Action == string(lifecycle.OutcomeDelete) {
			ended = append(ended, a.SessionID)
		}
	}
	slices.Sort(ended)
	slices.Sort(expected)
	if !slices.Equal(ended, expected) {
		t.Fatalf("the sweep deleted %v; the preview said %v", ended, expected)
	}
	// The same version again is now stale.
	if st, _ := api.do("PUT", "/v1/groups/"+eng.ID+"/settings/keepalive_expiration", map[string]any{"value": 600}, p.Version, nil); st != 412 {
		t.Errorf("save with the old version: %d, want 412", st)
	}

	// Preview removing Carol from Engineering: her keepalive_expiration falls back to Contractors.
	var rm preview.Result
	if st, _ := api.do("POST", "/v1/groups/"+eng.ID+"/preview", map[string]any{"kind": "remove_member", "user_id": users["carol"]}, 0, &rm); st != 200 {
		t.Fatalf("preview removal: %d", st)
	}
	if len(rm.Users) != 1 || rm.Users[0].UserID != users["carol"] {
		t.Fatalf("removal affects %+v, want carol", rm.Users)
	}
	var ka *preview.SettingChange
	for i, c := range rm.Users[0].Settings {
		if c.Name == "keepalive_expiration" {
			ka = &rm.Users[0].Settings[i]
		}
	}
	if ka == nil || string(ka.Old.Value) != "900" || ka.Old.Source.Group.ID != eng.ID ||
		string(ka.New.Value) != "1800" || ka.New.Source.Group.ID != con.ID {
		t.Fatalf("carol's keepalive_expiration: %+v, want 900 from Engineering → 1800 from Contractors", ka)
	}
	if st, _ := api.do("DELETE", "/v1/groups/"+eng.ID+"/members/"+users["carol"], nil, rm.Version, nil); st != 204 {
		t.Fatalf("remove carol with If-Match %d: %d", rm.Version, st)
	}
	var eff struct {
		Settings map[string]struct {
			Value  json.RawMessage
			Source struct {
				Group struct {
					ID string `json:"group_id"`
				}
			}
		}
	}
	api.do("GET", "/v1/users/"+users["carol"]+"/effective-settings", nil, 0, &eff)
	if got := eff.Settings["keepalive_expiration"]; strings.TrimSpace(string(got.Value)) != "1800" || got.Source.Group.ID != con.ID {
		t.Fatalf("carol after saving: %+v, want 1800 from Contractors", got)
	}
	// Bad previews are clear 4xx answers, never a 500.
	for _, bad := range []struct {
		body any
		want int
	}{
		{map[string]any{"kind": "nope"}, 400},
		{map[string]any{"kind": "settings", "set": map[string]any{"no_such_setting": 1}}, 400},
		{map[string]any{"kind": "settings", "set": map[string]any{"keepalive_expiration": 0}}, 400},
		{map[string]any{"kind": "priority", "priority": 0}, 400},
		{map[string]any{"kind": "priority"}, 400},
		{map[string]any{"kind": "add_member"}, 400},
		{map[string]any{"kind": "add_member", "user_id": "u_nobody"}, 404},
		{map[string]any{"kind": "remove_member", "user_id": users["carol"]}, 404},
		{map[string]any{"kind": "settings", "set": map[string]any{"keepalive_expiration": 60}, "page_token": "garbage"}, 400},
		{map[string]any{"kind": "settings", "set": map[string]any{"keepalive_expiration": 60}, "limit": 0}, 400},
		{map[string]any{"kind": "settings", "set": map[string]any{"keepalive_expiration": 60}, "extra": 1}, 400},
	} {
		if st, _ := api.do("POST", "/v1/groups/"+eng.ID+"/preview", bad.body, 0, nil); st != bad.want {
			t.Errorf("preview %v: %d, want %d", bad.body, st, bad.want)
		}
	}
	if st, _ := api.do("POST", "/v1/groups/g_nope/preview", map[string]any{"kind": "priority", "priority": 5}, 0, nil); st != 404 {
		t.Errorf("preview of an unknown group: %d, want 404", st)
	}
	if st, _ := api.do("POST", "/v1/groups/"+eng.ID+"/preview", map[string]any{"kind": "priority", "priority": 5}, rm.Version, nil); st != 412 {
		t.Errorf("preview with a stale If-Match: %d, want 412", st)
	}
	// A membership write with a stale version is a 412 and writes nothing.
	if st, _ := api.do("PUT", "/v1/groups/"+eng.ID+"/members/"+users["carol"], nil, rm.Version, nil); st != 412 {
		t.Errorf("add with a stale version: %d, want 412", st)
	}
}

func sweepAt(e *env, at time.Time) error {
	rep, err := e.sweeper.Run(context.Background(), sweep.Options{Now: at})
	if err == nil && len(rep.Errors) > 0 {
		err = fmt.Errorf("sweep: %v", rep.Errors)
	}
	return err
}
