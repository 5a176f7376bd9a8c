package sessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbstore/storetest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type env struct {
	clock *policy.FixedClock
	dir   *ddbstore.Store
	store *ddbstore.SessionStore
	svc   *sessions.Service
}

// newEnv builds the service on a fresh table with All Users holding allUsers settings (JSON
// values by name).
func newEnv(t *testing.T, allUsers map[string]string) env {
	t.Helper()
	se := storetest.New(t)
	clock := &policy.FixedClock{T: t0}
	e := env{clock: clock, dir: se.Dir, store: se.Sessions}
	if err := e.dir.EnsureAllUsers(context.Background(), t0, raw(allUsers)); err != nil {
		t.Fatal(err)
	}
	e.svc = sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: clock})
	return e
}

func raw(m map[string]string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = json.RawMessage(v)
	}
	return out
}

// user creates a user in a new group of priority 10 holding the given settings.
func (e env) user(t *testing.T, id string, groupSettings map[string]string) {
	t.Helper()
	ctx := context.Background()
	var groups []string
	if len(groupSettings) > 0 {
		g, err := e.dir.CreateGroup(ctx, policy.Group{ID: "g-" + id, Name: "group of " + id, Priority: 10})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.dir.ChangeSettings(ctx, g.ID, policy.SettingsChange{Set: raw(groupSettings)}, 0, "admin", t0); err != nil {
			t.Fatal(err)
		}
		groups = []string{g.ID}
	}
	if _, err := e.dir.CreateUser(ctx, policy.User{ID: id, Username: id, GroupIDs: groups}); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, kind policy.Kind, code, field string) {
	t.Helper()
	var pe *policy.Error
	if err == nil {
		t.Fatalf("no error, want %s %s", kind, code)
	}
	if !errors.As(err, &pe) || pe.Kind != kind || pe.Code != code || pe.Field != field {
		t.Fatalf("error = %v, want kind %s code %s field %q", err, kind, code, field)
	}
}

func TestStartUsesEffectiveSettings(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "5"})
	e.user(t, "u1", map[string]string{
		"keepalive_expiration": "120", "keepalive_expiration_action": `"stop"`, "keepalive_interval": "30",
		"idle_disconnect": "2", "session_time_limit": "0",
	})
	s, err := e.svc.Start(context.Background(), "u1", "img", true)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "running" || !s.Connected || s.KeepaliveInterval != 30 || s.ExpirationAction != "stop" ||
		!s.ExpiresAt.Equal(t0.Add(120*time.Second)) || s.TimeLimitExpiresAt != nil || s.ExpirationReason != nil {
		t.Errorf("Start() = %+v", s)
	}
	stored, err := e.store.GetSession(context.Background(), s.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Lifetime.IdleDisconnect != 2*time.Minute || stored.Lifetime.KeepaliveExpiration != 2*time.Minute {
		t.Errorf("stored lifetime = %+v, want idle 2m and expiration 2m", stored.Lifetime)
	}
}

func TestSessionJSON(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "5"})
	e.user(t, "u1", map[string]string{"session_time_limit": "3600", "keepalive_expiration_action": `"pause"`})
	e.clock.Set(t0.Add(1500 * time.Millisecond))
	s, err := e.svc.Start(context.Background(), "u1", "img", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		want  any
	}{
		{"session_id", s.SessionID}, {"user_id", "u1"}, {"image_id", "img"}, {"status", "running"},
		{"container", false}, {"connected", true}, {"created_at", "2026-03-01T12:00:01.5Z"},
		{"expires_at", "2026-03-01T13:00:01.5Z"}, {"keepalive_interval", float64(300)},
		{"expiration_action", "delete"}, {"time_limit_expires_at", "2026-03-01T13:00:01.5Z"},
		{"last_keepalive_at", "2026-03-01T12:00:01.5Z"}, {"expiration_reason", nil},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			got, ok := m[tc.field]
			if !ok {
				t.Fatalf("field %s missing from %s", tc.field, b)
			}
			if got != tc.want {
				t.Errorf("%s = %#v, want %#v", tc.field, got, tc.want)
			}
		})
	}
}

func TestStartRefused(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "5"})
	e.user(t, "u1", nil)
	e.user(t, "withimage", map[string]string{"default_image": `"desktop"`})
	ctx := context.Background()
	for i := range 5 {
		if _, err := e.svc.Start(ctx, "u1", "img", true); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
	}
	tests := []struct {
		name, user, image string
		kind              policy.Kind
		code, field       string
	}{
		{"the sixth session of a user limited to 5", "u1", "img", policy.KindConflict, policy.CodeMaxSessionsReached, ""},
		{"unknown user", "nobody", "img", policy.KindNotFound, "user_not_found", ""},
		{"no user", "", "img", policy.KindInvalid, "missing_user_id", "user_id"},
		{"no image and no default_image", "u1", "", policy.KindInvalid, "no_default_image", "image_id"},
		{"image id with a control character", "u1", "a\x00b", policy.KindInvalid, "invalid_image_id", "image_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Start(ctx, tc.user, tc.image, true)
			wantErr(t, err, tc.kind, tc.code, tc.field)
		})
	}
	s, err := e.svc.Start(ctx, "withimage", "", true)
	if err != nil || s.ImageID != "desktop" {
		t.Errorf("start with default_image = %+v, %v; want image desktop", s, err)
	}
}

func TestActions(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "10"})
	e.user(t, "may", map[string]string{"allow_kasm_pause": "true", "allow_kasm_stop": "true", "allow_kasm_delete": "true"})
	e.user(t, "maynot", map[string]string{"allow_kasm_pause": "false", "allow_kasm_stop": "false", "allow_kasm_delete": "false"})
	ctx := context.Background()
	start := func(user string, container bool) string {
		s, err := e.svc.Start(ctx, user, "img", container)
		if err != nil {
			t.Fatal(err)
		}
		return s.SessionID
	}
	type call func(context.Context, lifecycle.Actor, string) (sessions.Session, error)
	tests := []struct {
		name        string
		owner       string
		container   bool
		actor       lifecycle.Actor
		do          call
		kind        policy.Kind
		code, field string
		wantStatus  string
	}{
		{"user pauses", "may", true, lifecycle.UserActor("may"), e.svc.Pause, "", "", "", "paused"},
		{"user stops", "may", true, lifecycle.UserActor("may"), e.svc.Stop, "", "", "", "stopped"},
		{"user deletes", "may", true, lifecycle.UserActor("may"), e.svc.Delete, "", "", "", "deleted"},
		{"pause without allow_kasm_pause", "maynot", true, lifecycle.UserActor("maynot"), e.svc.Pause, policy.KindForbidden, "permission_denied", "allow_kasm_pause", ""},
		{"stop without allow_kasm_stop", "maynot", true, lifecycle.UserActor("maynot"), e.svc.Stop, policy.KindForbidden, "permission_denied", "allow_kasm_stop", ""},
		{"delete without allow_kasm_delete", "maynot", true, lifecycle.UserActor("maynot"), e.svc.Delete, policy.KindForbidden, "permission_denied", "allow_kasm_delete", ""},
		{"admin deletes what the user may not", "maynot", true, lifecycle.AdminActor(), e.svc.Delete, "", "", "", "deleted"},
		{"another user's session", "maynot", true, lifecycle.UserActor("may"), e.svc.Delete, policy.KindForbidden, "not_session_owner", "", ""},
		{"pause a non-container session", "may", false, lifecycle.UserActor("may"), e.svc.Pause, policy.KindConflict, "unsupported_for_session_type", "container", ""},
		{"admin stops a non-container session", "may", false, lifecycle.AdminActor(), e.svc.Stop, policy.KindConflict, "unsupported_for_session_type", "container", ""},
		{"resume a running session changes nothing", "maynot", true, lifecycle.UserActor("maynot"), e.svc.Resume, "", "", "", "running"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := start(tc.owner, tc.container)
			s, err := tc.do(ctx, tc.actor, id)
			if tc.kind != "" {
				wantErr(t, err, tc.kind, tc.code, tc.field)
				if tc.field != "" && !strings.Contains(err.Error(), tc.field) {
					t.Errorf("message %q does not name %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != tc.wantStatus {
				t.Errorf("status = %s, want %s", s.Status, tc.wantStatus)
			}
		})
	}
}

func TestResumePicksUpCurrentSettings(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "5"})
	e.user(t, "u1", map[string]string{"keepalive_expiration": "60", "allow_kasm_pause": "true"})
	ctx := context.Background()
	s, err := e.svc.Start(ctx, "u1", "img", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Pause(ctx, lifecycle.UserActor("u1"), s.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.ChangeSettings(ctx, "g-u1", policy.SettingsChange{Set: raw(map[string]string{"keepalive_expiration": "600", "keepalive_interval": "20"})}, 0, "admin", t0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Second)
	got, err := e.svc.Resume(ctx, lifecycle.UserActor("u1"), s.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "running" || !got.ExpiresAt.Equal(t0.Add(610*time.Second)) || got.KeepaliveInterval != 20 || !got.Connected {
		t.Errorf("resumed = %+v; want running, expiring at %v with interval 20", got, t0.Add(610*time.Second))
	}
	evs, err := e.svc.Events(ctx, lifecycle.UserActor("u1"), s.SessionID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, fmt.Sprintf("%s/%s", ev.Type, ev.Actor))
	}
	if want := "created/user:u1 paused/user:u1 resumed/user:u1"; strings.Join(types, " ") != want {
		t.Errorf("events = %v, want %s", types, want)
	}
}

func TestKeepaliveService(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "5"})
	e.user(t, "u1", map[string]string{"keepalive_expiration": "60", "idle_disconnect": "1", "keepalive_interval": "15"})
	e.user(t, "u2", nil)
	ctx := context.Background()
	s, err := e.svc.Start(ctx, "u1", "img", true)
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	e.clock.Advance(20 * time.Second)
	tests := []struct {
		name           string
		actor          lifecycle.Actor
		idle           *float64
		kind           policy.Kind
		code           string
		wantDisconnect bool
		wantExpires    time.Time
	}{
		{"no idle report", lifecycle.UserActor("u1"), nil, "", "", false, t0.Add(80 * time.Second)},
		{"a little idle", lifecycle.UserActor("u1"), f(59.5), "", "", false, t0.Add(80 * time.Second)},
		{"negative idle", lifecycle.UserActor("u1"), f(-1), policy.KindInvalid, "invalid_idle_seconds", false, time.Time{}},
		{"another user's session", lifecycle.UserActor("u2"), nil, policy.KindForbidden, "not_session_owner", false, time.Time{}},
		{"idle beyond idle_disconnect", lifecycle.UserActor("u1"), f(60), "", "", true, t0.Add(80 * time.Second)},
		{"admin, huge idle", lifecycle.AdminActor(), f(1e300), "", "", true, t0.Add(80 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.svc.Keepalive(ctx, tc.actor, s.SessionID, tc.idle)
			if tc.kind != "" {
				wantErr(t, err, tc.kind, tc.code, map[string]string{"invalid_idle_seconds": "idle_seconds"}[tc.code])
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Disconnect != tc.wantDisconnect || !r.ExpiresAt.Equal(tc.wantExpires) || r.KeepaliveInterval != 15 || r.TimeLimitExpiresAt != nil {
				t.Errorf("Keepalive() = %+v, want disconnect %v expires %v", r, tc.wantDisconnect, tc.wantExpires)
			}
		})
	}
	if _, err := e.svc.Delete(ctx, lifecycle.AdminActor(), s.SessionID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Keepalive(ctx, lifecycle.UserActor("u1"), s.SessionID, nil)
	wantErr(t, err, policy.KindGone, "session_deleted", "")
}

func TestReadAccess(t *testing.T) {
	e := newEnv(t, map[string]string{"max_kasms_per_user": "5"})
	e.user(t, "u1", nil)
	e.user(t, "u2", nil)
	ctx := context.Background()
	s1, err := e.svc.Start(ctx, "u1", "img", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Start(ctx, "u2", "img", true); err != nil {
		t.Fatal(err)
	}
	u1, u2, admin := lifecycle.UserActor("u1"), lifecycle.UserActor("u2"), lifecycle.AdminActor()
	tests := []struct {
		name string
		do   func() error
		code string
	}{
		{"owner reads", func() error { _, err := e.svc.Get(ctx, u1, s1.SessionID); return err }, ""},
		{"admin reads", func() error { _, err := e.svc.Get(ctx, admin, s1.SessionID); return err }, ""},
		{"other user reads", func() error { _, err := e.svc.Get(ctx, u2, s1.SessionID); return err }, "not_session_owner"},
		{"other user reads events", func() error { _, err := e.svc.Events(ctx, u2, s1.SessionID); return err }, "not_session_owner"},
		{"owner reads events", func() error { _, err := e.svc.Events(ctx, u1, s1.SessionID); return err }, ""},
		{"user lists another user's", func() error { _, err := e.svc.List(ctx, u2, lifecycle.ListFilter{UserID: "u1"}); return err }, "forbidden"},
		{"missing session", func() error { _, err := e.svc.Get(ctx, admin, "nope"); return err }, "session_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if got := policy.CodeOf(err); (err == nil) != (tc.code == "") || (err != nil && got != tc.code) {
				t.Errorf("error = %v, want code %q", err, tc.code)
			}
		})
	}
	p, err := e.svc.List(ctx, u1, lifecycle.ListFilter{})
	if err != nil || len(p.Sessions) != 1 || p.Sessions[0].SessionID != s1.SessionID {
		t.Errorf("user's own listing = %+v, %v; want only %s", p, err, s1.SessionID)
	}
	p, err = e.svc.List(ctx, admin, lifecycle.ListFilter{})
	if err != nil || len(p.Sessions) != 2 {
		t.Errorf("admin listing = %+v, %v; want 2 sessions", p, err)
	}
}
