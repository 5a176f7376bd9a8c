package ddbstore_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbstore/storetest"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

var st0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type sessionEnv struct {
	tb  *ddbtest.Table
	dir *ddbstore.Store
	ss  *ddbstore.SessionStore
}

func newSessionEnv(t testing.TB, users ...string) sessionEnv {
	t.Helper()
	se := storetest.New(t, users...)
	env := sessionEnv{tb: se.TB, dir: se.Dir, ss: se.Sessions}
	se.TB.ResetCalls()
	return env
}

// seed returns the bulk loader of the env's table.
func (env sessionEnv) seed() seed.Loader {
	return seed.Loader{DB: env.tb.Client, Table: env.tb.Name, Dir: env.dir}
}

func testLifetime() lifecycle.Lifetime {
	return lifecycle.Lifetime{
		KeepaliveExpiration: time.Minute, Action: lifecycle.ActionDelete, KeepaliveInterval: 10 * time.Second,
		IdleDisconnect: 5 * time.Minute, MaxSessions: 5,
	}
}

func (env sessionEnv) start(t *testing.T, id, user string, container bool, lt lifecycle.Lifetime, at time.Time) lifecycle.Session {
	t.Helper()
	s, ev := lifecycle.NewSession(id, user, "img", container, lt, at)
	if err := ddbtest.StartSession(context.Background(), env.ss, s, ev); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return s
}

func (env sessionEnv) get(t *testing.T, id string) lifecycle.Session {
	t.Helper()
	s, err := env.ss.GetSession(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return s
}

func (env sessionEnv) eventTypes(t *testing.T, id string) []lifecycle.EventType {
	t.Helper()
	evs, err := env.ss.Events(context.Background(), id)
	if err != nil {
		t.Fatalf("events of %s: %v", id, err)
	}
	var out []lifecycle.EventType
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func wantCode(t *testing.T, err error, kind policy.Kind, code string) {
	t.Helper()
	if !policy.IsKind(err, kind) || policy.CodeOf(err) != code {
		t.Fatalf("error = %v (kind %s, code %s), want kind %s code %s", err, policy.KindOf(err), policy.CodeOf(err), kind, code)
	}
}

func TestStartSessionRoundTrip(t *testing.T) {
	env := newSessionEnv(t, "u1")
	lt := testLifetime()
	lt.TimeLimit = time.Hour
	want, _ := lifecycle.NewSession("s1", "u1", "img", true, lt, st0.Add(123*time.Microsecond))
	want.ClientSettings = []byte(`{"allow_kasm_audio":true}`)
	want.Launch = []byte(`{"image":"img"}`)
	_, created := lifecycle.NewSession("s1", "u1", "img", true, lt, st0)
	if err := ddbtest.StartSession(context.Background(), env.ss, want, created); err != nil {
		t.Fatal(err)
	}
	got := env.get(t, "s1")
	want.Lifetime.MaxSessions = 0 // gates the start only; not kept on the session
	if got.ID != want.ID || got.UserID != want.UserID || got.Status != lifecycle.StatusRunning || !got.Connected ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || !got.DueAt.Equal(want.DueAt) ||
		!got.TimeLimitAt.Equal(want.TimeLimitAt) || !got.TimeLimitWarnAt.Equal(want.TimeLimitWarnAt) ||
		got.Lifetime != want.Lifetime || got.EventSeq != 1 || got.SettingsRev != want.SettingsRev ||
		string(got.ClientSettings) != string(want.ClientSettings) || string(got.Launch) != string(want.Launch) {
		t.Errorf("GetSession() = %+v\nwant %+v", got, want)
	}
	evs, err := env.ss.Events(context.Background(), "s1")
	if err != nil || len(evs) != 1 || evs[0].Type != lifecycle.EventCreated || evs[0].EventID != "s1:1" {
		t.Errorf("Events() = %+v, %v; want one created event s1:1", evs, err)
	}
}

func TestStartSessionRefused(t *testing.T) {
	tests := []struct {
		name string
		user string
		max  int64
		kind policy.Kind
		code string
	}{
		{"unknown user", "nobody", 5, policy.KindNotFound, "user_not_found"},
		{"max_kasms_per_user 0", "u1", 0, policy.KindConflict, policy.CodeMaxSessionsReached},
	}
	env := newSessionEnv(t, "u1")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lt := testLifetime()
			lt.MaxSessions = tc.max
			s, ev := lifecycle.NewSession(policy.NewID("s"), tc.user, "img", true, lt, st0)
			wantCode(t, ddbtest.StartSession(context.Background(), env.ss, s, ev), tc.kind, tc.code)
		})
	}
}

// TestStartSessionMaxExact starts 20 sessions of one user at once with max_kasms_per_user 5:
// exactly 5 start, the others are refused with max_sessions_reached.
func TestStartSessionMaxExact(t *testing.T) {
	env := newSessionEnv(t, "u1")
	const n, max = 20, 5
	lt := testLifetime()
	lt.MaxSessions = max
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, ev := lifecycle.NewSession(policy.NewID("s"), "u1", "img", true, lt, st0)
			errs[i] = ddbtest.StartSession(context.Background(), env.ss, s, ev)
		})
	}
	wg.Wait()
	started := 0
	for _, err := range errs {
		switch {
		case err == nil:
			started++
		case policy.CodeOf(err) == policy.CodeMaxSessionsReached:
		default:
			t.Errorf("start error = %v, want none or max_sessions_reached", err)
		}
	}
	if started != max {
		t.Errorf("started %d sessions, want exactly %d", started, max)
	}
	page, err := env.ss.ListSessions(context.Background(), lifecycle.ListFilter{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Sessions) != max {
		t.Errorf("listed %d sessions, want %d", len(page.Sessions), max)
	}
	// Deleting one frees its slot, exactly one more start succeeds.
	c, err := lifecycle.Act(page.Sessions[0], lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, st0)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.ss.Transition(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	s, ev := lifecycle.NewSession("again", "u1", "img", true, lt, st0)
	if err := ddbtest.StartSession(context.Background(), env.ss, s, ev); err != nil {
		t.Errorf("start after a delete: %v", err)
	}
	s, ev = lifecycle.NewSession("one-too-many", "u1", "img", true, lt, st0)
	wantCode(t, ddbtest.StartSession(context.Background(), env.ss, s, ev), policy.KindConflict, policy.CodeMaxSessionsReached)
}

func TestGetSessionMissing(t *testing.T) {
	env := newSessionEnv(t)
	tests := []struct{ name, id string }{{"no such session", "s404"}, {"malformed id", "#bad id"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.ss.GetSession(context.Background(), tc.id)
			wantCode(t, err, policy.KindNotFound, policy.CodeSessionNotFound)
			_, err = env.ss.Events(context.Background(), tc.id)
			wantCode(t, err, policy.KindNotFound, policy.CodeSessionNotFound)
		})
	}
}

func TestKeepaliveExtends(t *testing.T) {
	env := newSessionEnv(t, "u1")
	env.start(t, "s1", "u1", true, testLifetime(), st0)
	now := st0.Add(40 * time.Second)
	r, err := sessions.RunKeepalive(context.Background(), env.ss, "s1", "", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(time.Minute); !r.ExpiresAt.Equal(want) || r.KeepaliveInterval != 10*time.Second || r.Disconnect || r.UsageReached || !r.TimeLimitAt.IsZero() {
		t.Errorf("Keepalive() = %+v, want expires %v, interval 10s", r, want)
	}
	// The due index entry stays where the start put it (early now): the sweep corrects it.
	s := env.get(t, "s1")
	if !s.ExpiresAt.Equal(now.Add(time.Minute)) || !s.DueAt.Equal(st0.Add(time.Minute)) || !s.LastKeepaliveAt.Equal(now) {
		t.Errorf("stored expires %v due %v last %v; want %v %v %v", s.ExpiresAt, s.DueAt, s.LastKeepaliveAt, now.Add(time.Minute), st0.Add(time.Minute), now)
	}
}

// TestKeepaliveOneRequest checks the hot path: one request per keepalive in steady state, for
// plain and (once its id is cached) time-limited sessions.
func TestKeepaliveOneRequest(t *testing.T) {
	env := newSessionEnv(t, "u1")
	env.start(t, "plain", "u1", true, testLifetime(), st0)
	lt := testLifetime()
	lt.TimeLimit = time.Hour
	env.start(t, "limited", "u1", true, lt, st0)
	tests := []struct {
		name        string
		id          string
		wantExpires time.Time
	}{
		{"plain", "plain", st0.Add(2*time.Second + time.Minute)},
		{"time-limited", "limited", st0.Add(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := sessions.RunKeepalive(context.Background(), env.ss, tc.id, "u1", st0.Add(time.Second), 0); err != nil {
				t.Fatal(err) // warms the time-limited cache
			}
			env.tb.ResetCalls()
			r, err := sessions.RunKeepalive(context.Background(), env.ss, tc.id, "u1", st0.Add(2*time.Second), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := env.tb.Calls(); got != 1 {
				t.Errorf("keepalive took %d requests, want 1", got)
			}
			if !r.ExpiresAt.Equal(tc.wantExpires) {
				t.Errorf("expires = %v, want %v", r.ExpiresAt, tc.wantExpires)
			}
		})
	}
	if s := env.get(t, "limited"); !s.LastKeepaliveAt.Equal(st0.Add(2 * time.Second)) {
		t.Errorf("time-limited last keepalive = %v, want %v", s.LastKeepaliveAt, st0.Add(2*time.Second))
	}
}

func TestKeepaliveIdleDisconnect(t *testing.T) {
	env := newSessionEnv(t, "u1")
	env.start(t, "s1", "u1", true, testLifetime(), st0)
	ctx := context.Background()
	r, err := sessions.RunKeepalive(ctx, env.ss, "s1", "", st0.Add(30*time.Second), 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Disconnect || !r.ExpiresAt.Equal(st0.Add(time.Minute)) {
		t.Errorf("idle keepalive = %+v, want disconnect and expiry unchanged at %v", r, st0.Add(time.Minute))
	}
	s := env.get(t, "s1")
	if s.Connected || !s.ExpiresAt.Equal(st0.Add(time.Minute)) || !s.DueAt.Equal(st0.Add(time.Minute)) {
		t.Errorf("after idle: connected %v expires %v due %v; want false, not extended", s.Connected, s.ExpiresAt, s.DueAt)
	}
	// Still idle: no second event, and only the one failed write; active again: reconnected
	// and extended.
	env.tb.ResetCalls()
	if r, err := sessions.RunKeepalive(ctx, env.ss, "s1", "", st0.Add(40*time.Second), 6*time.Minute); err != nil || !r.Disconnect {
		t.Errorf("second idle keepalive = %+v, %v; want disconnect", r, err)
	}
	if got := env.tb.Calls(); got != 1 {
		t.Errorf("second idle keepalive took %d requests, want 1", got)
	}
	if got, want := env.eventTypes(t, "s1"), []lifecycle.EventType{lifecycle.EventCreated, lifecycle.EventDisconnected}; !equalTypes(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	r, err = sessions.RunKeepalive(ctx, env.ss, "s1", "", st0.Add(50*time.Second), time.Second)
	if err != nil || r.Disconnect || !r.ExpiresAt.Equal(st0.Add(50*time.Second+time.Minute)) {
		t.Errorf("active keepalive = %+v, %v; want extended", r, err)
	}
	if s := env.get(t, "s1"); !s.Connected {
		t.Errorf("connected = false after an active keepalive")
	}
}

func equalTypes(a, b []lifecycle.EventType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestKeepaliveRefused(t *testing.T) {
	env := newSessionEnv(t, "u1")
	ctx := context.Background()
	act := func(id string, op lifecycle.Op) {
		c, err := lifecycle.Act(env.get(t, id), op, lifecycle.AdminActor(), lifecycle.Permissions{}, st0)
		if err != nil {
			t.Fatal(err)
		}
		if err := env.ss.Transition(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	env.start(t, "deleted", "u1", true, testLifetime(), st0)
	act("deleted", lifecycle.OpDelete)
	env.start(t, "paused", "u1", true, testLifetime(), st0)
	act("paused", lifecycle.OpPause)
	env.start(t, "running", "u1", true, testLifetime(), st0)
	tests := []struct {
		name string
		id   string
		user string
		kind policy.Kind
		code string
	}{
		{"deleted", "deleted", "", policy.KindGone, policy.CodeSessionDeleted},
		{"deleted, by its user", "deleted", "u1", policy.KindGone, policy.CodeSessionDeleted},
		{"missing", "nope", "", policy.KindNotFound, policy.CodeSessionNotFound},
		{"paused", "paused", "", policy.KindConflict, policy.CodeSessionNotRunning},
		{"another user's", "running", "u2", policy.KindForbidden, policy.CodeNotSessionOwner},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sessions.RunKeepalive(ctx, env.ss, tc.id, tc.user, st0.Add(time.Second), 0)
			wantCode(t, err, tc.kind, tc.code)
		})
	}
}

func TestKeepaliveUsageReached(t *testing.T) {
	env := newSessionEnv(t, "u1")
	s, ev := lifecycle.NewSession("s1", "u1", "img", true, testLifetime(), st0)
	s.UsageDeadline = st0.Add(30 * time.Second)
	s.DueAt = lifecycle.NextDue(s)
	if err := ddbtest.StartSession(context.Background(), env.ss, s, ev); err != nil {
		t.Fatal(err)
	}
	r, err := sessions.RunKeepalive(context.Background(), env.ss, "s1", "", st0.Add(10*time.Second), 0)
	if err != nil || r.UsageReached {
		t.Fatalf("keepalive before the deadline = %+v, %v", r, err)
	}
	r, err = sessions.RunKeepalive(context.Background(), env.ss, "s1", "", st0.Add(30*time.Second), 0)
	if err != nil || !r.UsageReached || !r.ExpiresAt.Equal(st0.Add(10*time.Second+time.Minute)) {
		t.Errorf("keepalive at the deadline = %+v, %v; want usage_reached, not extended", r, err)
	}
}

func TestTransitionGuards(t *testing.T) {
	env := newSessionEnv(t, "u1")
	ctx := context.Background()
	lt := testLifetime()
	lt.Action = lifecycle.ActionStop
	s := env.start(t, "s1", "u1", true, lt, st0)

	// A sweep decision taken before a keepalive loses to it.
	due := lifecycle.Decide(s, st0.Add(time.Minute))
	if _, err := sessions.RunKeepalive(ctx, env.ss, "s1", "", st0.Add(59*time.Second), 0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, env.ss.Transition(ctx, due), policy.KindConflict, policy.CodeSessionChanged)

	// An action decided before another action loses to it.
	cur := env.get(t, "s1")
	pause, _ := lifecycle.Act(cur, lifecycle.OpPause, lifecycle.AdminActor(), lifecycle.Permissions{}, st0.Add(time.Minute))
	stop, _ := lifecycle.Act(cur, lifecycle.OpStop, lifecycle.AdminActor(), lifecycle.Permissions{}, st0.Add(time.Minute))
	if err := env.ss.Transition(ctx, stop); err != nil {
		t.Fatal(err)
	}
	wantCode(t, env.ss.Transition(ctx, pause), policy.KindConflict, policy.CodeSessionChanged)

	// Stopped with action stop: the sweep leaves it and removes it from the due index.
	cur = env.get(t, "s1")
	if cur.Status != lifecycle.StatusStopped || !cur.DueAt.IsZero() {
		t.Errorf("after stop: status %s due %v, want stopped and not due", cur.Status, cur.DueAt)
	}
	if got, want := env.eventTypes(t, "s1"), []lifecycle.EventType{lifecycle.EventCreated, lifecycle.EventStopped}; !equalTypes(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	// A change of a session that no longer exists is not found.
	ghost := lifecycle.Decide(cur, st0)
	ghost.Before.ID = "ghost"
	ghost.Outcome = lifecycle.OutcomeReschedule
	wantCode(t, env.ss.Transition(ctx, ghost), policy.KindNotFound, policy.CodeSessionNotFound)
}

// TestDeleteOfDeletedUserSession checks that a session whose user is gone can still be deleted.
func TestDeleteOfDeletedUserSession(t *testing.T) {
	env := newSessionEnv(t, "u1")
	ctx := context.Background()
	s := env.start(t, "s1", "u1", true, testLifetime(), st0)
	if err := env.dir.DeleteUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	c, _ := lifecycle.Act(s, lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, st0)
	if err := env.ss.Transition(ctx, c); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := env.get(t, "s1"); got.Status != lifecycle.StatusDeleted {
		t.Errorf("status = %s, want deleted", got.Status)
	}
}

func TestListSessions(t *testing.T) {
	env := newSessionEnv(t, "u1", "u2")
	ctx := context.Background()
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		env.start(t, id, "u1", true, testLifetime(), st0.Add(time.Duration(i)*time.Second))
	}
	env.start(t, "other", "u2", true, testLifetime(), st0)
	c, _ := lifecycle.Act(env.get(t, "b"), lifecycle.OpPause, lifecycle.AdminActor(), lifecycle.Permissions{}, st0)
	if err := env.ss.Transition(ctx, c); err != nil {
		t.Fatal(err)
	}
	all := func(f lifecycle.ListFilter) []string {
		t.Helper()
		var ids []string
		for range 20 {
			p, err := env.ss.ListSessions(ctx, f)
			if err != nil {
				t.Fatalf("ListSessions(%+v): %v", f, err)
			}
			for _, s := range p.Sessions {
				ids = append(ids, s.ID)
			}
			if p.NextPageToken == "" {
				return ids
			}
			f.PageToken = p.NextPageToken
		}
		t.Fatalf("listing did not end")
		return nil
	}
	tests := []struct {
		name string
		f    lifecycle.ListFilter
		want []string
	}{
		{"a user's sessions, oldest first", lifecycle.ListFilter{UserID: "u1"}, []string{"a", "b", "c", "d", "e"}},
		{"in pages of two", lifecycle.ListFilter{UserID: "u1", Limit: 2}, []string{"a", "b", "c", "d", "e"}},
		{"paused only", lifecycle.ListFilter{UserID: "u1", Status: lifecycle.StatusPaused}, []string{"b"}},
		{"another user", lifecycle.ListFilter{UserID: "u2"}, []string{"other"}},
		{"unknown user", lifecycle.ListFilter{UserID: "u3"}, nil},
		{"everyone's running sessions in pages", lifecycle.ListFilter{Status: lifecycle.StatusRunning, Limit: 3}, []string{"a", "c", "d", "e", "other"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := all(tc.f)
			if tc.f.UserID == "" {
				sortStrings(got)
			}
			if !equalStrings(got, tc.want) {
				t.Errorf("listed %v, want %v", got, tc.want)
			}
		})
	}
	// A token of one user's listing does not page into another user's.
	p, err := env.ss.ListSessions(ctx, lifecycle.ListFilter{UserID: "u1", Limit: 1})
	if err != nil || p.NextPageToken == "" {
		t.Fatalf("first page: %+v, %v", p, err)
	}
	bad := []struct {
		name string
		f    lifecycle.ListFilter
		code string
	}{
		{"token of another listing", lifecycle.ListFilter{UserID: "u2", PageToken: p.NextPageToken}, "invalid_page_token"},
		{"garbage token", lifecycle.ListFilter{UserID: "u1", PageToken: "%%%"}, "invalid_page_token"},
		{"user token on the admin listing", lifecycle.ListFilter{PageToken: p.NextPageToken}, "invalid_page_token"},
		{"bad status", lifecycle.ListFilter{UserID: "u1", Status: "sleeping"}, "invalid_status"},
		{"bad limit", lifecycle.ListFilter{UserID: "u1", Limit: 1000}, "invalid_limit"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.ss.ListSessions(ctx, tc.f)
			wantCode(t, err, policy.KindInvalid, tc.code)
		})
	}
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDueSessions(t *testing.T) {
	env := newSessionEnv(t, "u1")
	ctx := context.Background()
	lt := testLifetime()
	lt.MaxSessions = 100
	var due []string
	for i := range 12 {
		id := policy.NewID("s")
		at := st0
		if i%3 == 0 {
			at = st0.Add(time.Hour) // not due yet at st0 + 1 minute
		} else {
			due = append(due, id)
		}
		env.start(t, id, "u1", true, lt, at)
	}
	env.tb.ResetCalls()
	var got []string
	for shard := range 16 {
		tok := ""
		for {
			p, err := env.ss.DueSessions(ctx, st0.Add(time.Minute), shard, tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range p.Sessions {
				got = append(got, s.ID)
			}
			if tok = p.NextPageToken; tok == "" {
				break
			}
		}
	}
	sortStrings(got)
	sortStrings(due)
	if !equalStrings(got, due) {
		t.Errorf("due sessions = %v, want %v", got, due)
	}
	if calls := env.tb.Calls(); calls > 16+int64(len(due)) {
		t.Errorf("reading the due index took %d requests", calls)
	}
	if _, err := env.ss.DueSessions(ctx, st0, 16, ""); err == nil {
		t.Errorf("shard 16 accepted")
	}
}

// TestResyncTransition writes a re-sync (lifecycle.Resync) as the sweep does: guarded like an
// action, so a change decided on a read older than a keepalive fails, and one decided again on
// a fresh read applies. (The sweep's re-read and retry: internal/sweep, TestResyncRetries.)
func TestResyncTransition(t *testing.T) {
	env := newSessionEnv(t, "u1")
	ctx := context.Background()
	s := env.start(t, "s1", "u1", true, testLifetime(), st0)
	if _, err := sessions.RunKeepalive(ctx, env.ss, "s1", "", st0.Add(10*time.Second), 0); err != nil {
		t.Fatal(err)
	}
	lt := testLifetime()
	lt.KeepaliveExpiration = 20 * time.Second
	lt.Action = lifecycle.ActionStop
	rev := st0.Add(time.Minute).UnixMilli()
	wantCode(t, env.ss.Transition(ctx, lifecycle.Resync(s, lt, rev)), policy.KindConflict, policy.CodeSessionChanged)
	if err := env.ss.Transition(ctx, lifecycle.Resync(env.get(t, "s1"), lt, rev)); err != nil {
		t.Fatalf("re-sync on a fresh read: %v", err)
	}
	got := env.get(t, "s1")
	if got.Lifetime.KeepaliveExpiration != 20*time.Second || got.Lifetime.Action != lifecycle.ActionStop ||
		!got.ExpiresAt.Equal(st0.Add(30*time.Second)) || !got.DueAt.Equal(st0.Add(30*time.Second)) {
		t.Errorf("after re-sync: %+v, expires %v due %v; want 20s stop, expiring at %v", got.Lifetime, got.ExpiresAt, got.DueAt, st0.Add(30*time.Second))
	}
	// The next keepalive uses the new expiration.
	if r, err := sessions.RunKeepalive(ctx, env.ss, "s1", "", st0.Add(40*time.Second), 0); err != nil || !r.ExpiresAt.Equal(st0.Add(60*time.Second)) {
		t.Errorf("keepalive after re-sync = %+v, %v; want expiry %v", r, err, st0.Add(60*time.Second))
	}
}

func TestResyncMarkers(t *testing.T) {
	env := newSessionEnv(t)
	ctx := context.Background()
	marks := []lifecycle.ResyncMarker{
		{Kind: lifecycle.ResyncGroup, ID: "g1", At: st0.Add(time.Second)},
		{Kind: lifecycle.ResyncUser, ID: "u1", At: st0},
	}
	for _, m := range marks {
		if err := env.ss.MarkResync(ctx, m.Kind, m.ID, m.At); err != nil {
			t.Fatal(err)
		}
	}
	got, err := env.ss.ResyncMarkers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got, []lifecycle.ResyncMarker{marks[1], marks[0]}) {
		t.Fatalf("ResyncMarkers() = %+v, want oldest first %+v", got, []lifecycle.ResyncMarker{marks[1], marks[0]})
	}
	if err := env.ss.DeleteResyncMarker(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.ss.ResyncMarkers(ctx); len(got) != 1 || !reflect.DeepEqual(got[0], marks[0]) {
		t.Errorf("after delete: %+v, want %+v", got, marks[:1])
	}
}
