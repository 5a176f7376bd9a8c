package preview_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/preview"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/sweep"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// env is one table with the directory, the session store and the services saving, the sweep
// and the preview use, on one fixed clock.
type env struct {
	clock   *policy.FixedClock
	dir     *ddbstore.Store
	store   *ddbstore.SessionStore
	svc     *sessions.Service
	sweeper *sweep.Sweeper
	preview *preview.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	tb := ddbtest.NewTable(t)
	e := &env{clock: &policy.FixedClock{T: t0}}
	e.dir = ddbstore.Open(tb.Client, tb.Name, ddbstore.WithClock(e.clock)).Directory()
	e.store = ddbstore.Open(tb.Client, tb.Name).Sessions()
	e.svc = sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: e.clock})
	e.sweeper = sweep.New(sweep.Config{Store: e.store, Directory: e.dir, Clock: e.clock})
	e.preview = preview.New(e.dir, e.store, e.clock)
	if err := e.dir.EnsureAllUsers(context.Background(), t0, settings.AllUsersValues()); err != nil {
		t.Fatal(err)
	}
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func valid(t *testing.T, name, raw string) json.RawMessage {
	t.Helper()
	v, err := settings.Validate(name, json.RawMessage(raw))
	if err != nil {
		t.Fatalf("%s=%s: %v", name, raw, err)
	}
	return v
}

// pool is the settings the random changes draw from: every lifetime value the re-sync applies,
// the permissions, the time limit, and one a session does not care about.
var pool = map[string][]string{
	"keepalive_expiration":        {"30", "90", "240", "3600"},
	"keepalive_expiration_action": {`"delete"`, `"stop"`, `"pause"`},
	"keepalive_interval":          {"10", "60"},
	"idle_disconnect":             {"1", "30"},
	"allow_kasm_stop":             {"true", "false"},
	"allow_kasm_pause":            {"true", "false"},
	"allow_kasm_delete":           {"true", "false"},
	"session_time_limit":          {"0", "600"},
	"allow_kasm_audio":            {"true", "false"},
}

func poolNames() []string {
	var out []string
	for n := range pool {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func randomSettings(t *testing.T, rng *rand.Rand, n int) policy.SettingsChange {
	c := policy.SettingsChange{Set: map[string]json.RawMessage{}}
	names := poolNames()
	for range n {
		name := names[rng.IntN(len(names))]
		vals := pool[name]
		c.Set[name] = valid(t, name, vals[rng.IntN(len(vals))])
	}
	return c
}

// world is a random directory with running sessions, swept once so that nothing is pending.
type world struct {
	groups []string
	users  []string
}

func buildWorld(t *testing.T, e *env, rng *rand.Rand) world {
	ctx := context.Background()
	var w world
	_, err := e.dir.ChangeSettings(ctx, policy.AllUsersGroupID, randomSettings(t, rng, 3), 0, "admin", t0)
	must(t, err)
	for i := range 2 + rng.IntN(3) {
		id := fmt.Sprintf("g%d", i)
		_, err := e.dir.CreateGroup(ctx, policy.Group{ID: id, Name: id, Priority: []int{10, 20, 20, 1500}[rng.IntN(4)]})
		must(t, err)
		_, err = e.dir.ChangeSettings(ctx, id, randomSettings(t, rng, 1+rng.IntN(4)), 0, "admin", t0)
		must(t, err)
		w.groups = append(w.groups, id)
	}
	for i := range 3 + rng.IntN(5) {
		id := fmt.Sprintf("u%d", i)
		var gs []string
		for _, g := range w.groups {
			if rng.IntN(2) == 0 {
				gs = append(gs, g)
			}
		}
		_, err := e.dir.CreateUser(ctx, policy.User{ID: id, Username: id, GroupIDs: gs})
		must(t, err)
		w.users = append(w.users, id)
	}
	// Make sure max_kasms_per_user does not refuse the starts.
	_, err = e.dir.ChangeSettings(ctx, policy.AllUsersGroupID, policy.SettingsChange{Set: map[string]json.RawMessage{"max_kasms_per_user": json.RawMessage("10")}}, 0, "admin", t0)
	must(t, err)
	for _, g := range w.groups {
		_, err := e.dir.ChangeSettings(ctx, g, policy.SettingsChange{Unset: []string{"max_kasms_per_user"}}, 0, "admin", t0)
		must(t, err)
	}
	// Sessions start over the first minute, some are kept alive later.
	var started []sessions.Session
	for _, u := range w.users {
		for range rng.IntN(3) {
			e.clock.Set(t0.Add(time.Duration(rng.IntN(60)) * time.Second))
			s, err := e.svc.Start(ctx, u, "img", rng.IntN(3) > 0)
			must(t, err)
			started = append(started, s)
		}
	}
	for _, s := range started {
		if rng.IntN(2) == 0 {
			e.clock.Set(t0.Add(time.Duration(60+rng.IntN(60)) * time.Second))
			_, _ = e.svc.Keepalive(ctx, lifecycle.UserActor(s.UserID), s.SessionID, nil) // an expired one may refuse
		}
	}
	t1 := t0.Add(150 * time.Second)
	e.clock.Set(t1)
	rep, err := e.sweeper.Run(ctx, sweep.Options{Now: t1})
	must(t, err)
	if len(rep.Errors) > 0 {
		t.Fatalf("setup sweep: %v", rep.Errors)
	}
	return w
}

// randomChange picks a group and a change of it.
func randomChange(t *testing.T, e *env, w world, rng *rand.Rand) (string, preview.Change) {
	ctx := context.Background()
	groups := append([]string{policy.AllUsersGroupID}, w.groups...)
	g := groups[rng.IntN(len(groups))]
	switch k := rng.IntN(4); {
	case k == 0 && g != policy.AllUsersGroupID:
		return g, preview.Change{Kind: preview.KindPriority, Priority: []int{5, 10, 20, 999, 1000, 2000}[rng.IntN(6)]}
	case k == 1 && g != policy.AllUsersGroupID:
		for _, off := range rng.Perm(len(w.users)) {
			u, err := e.dir.GetUser(ctx, w.users[off])
			must(t, err)
			if !slices.Contains(u.GroupIDs, g) {
				return g, preview.Change{Kind: preview.KindAddMember, UserID: u.ID}
			}
		}
	case k == 2 && g != policy.AllUsersGroupID:
		for _, off := range rng.Perm(len(w.users)) {
			u, err := e.dir.GetUser(ctx, w.users[off])
			must(t, err)
			if slices.Contains(u.GroupIDs, g) {
				return g, preview.Change{Kind: preview.KindRemoveMember, UserID: u.ID}
			}
		}
	}
	c := randomSettings(t, rng, 1+rng.IntN(3))
	cur, err := e.dir.GetGroup(ctx, g)
	must(t, err)
	for name := range cur.Settings {
		if _, set := c.Set[name]; !set && name != "max_kasms_per_user" && rng.IntN(3) == 0 {
			c.Unset = append(c.Unset, name)
		}
	}
	return g, preview.Change{Kind: preview.KindSettings, Settings: c}
}

// save writes the change with If-Match version, as the API does.
func save(ctx context.Context, e *env, g string, c preview.Change, version int64) error {
	switch c.Kind {
	case preview.KindSettings:
		_, err := e.dir.ChangeSettings(ctx, g, c.Settings, version, "admin", e.clock.Now())
		return err
	case preview.KindPriority:
		_, err := e.dir.UpdateGroup(ctx, g, policy.GroupPatch{Priority: &c.Priority}, version, e.clock.Now())
		return err
	case preview.KindAddMember:
		return e.dir.AddMemberIfVersion(ctx, g, c.UserID, version, e.clock.Now())
	default:
		return e.dir.RemoveMemberIfVersion(ctx, g, c.UserID, version, e.clock.Now())
	}
}

// effective reads every user's effective settings the way the API and the sweep do.
func effective(t *testing.T, e *env, users []string) map[string]settings.Resolution {
	out := map[string]settings.Resolution{}
	for _, u := range users {
		r, err := sessions.ResolveUser(context.Background(), e.dir, u)
		must(t, err)
		out[u] = r
	}
	return out
}

// liveSessions lists every user's sessions that are not deleted.
func liveSessions(t *testing.T, e *env, users []string) map[string]lifecycle.Session {
	out := map[string]lifecycle.Session{}
	for _, u := range users {
		p, err := e.store.ListSessions(context.Background(), lifecycle.ListFilter{UserID: u, Limit: lifecycle.MaxPageSize})
		must(t, err)
		for _, s := range p.Sessions {
			if s.Status != lifecycle.StatusDeleted {
				out[s.ID] = s
			}
		}
	}
	return out
}

// endings runs a sweep at now and returns what it ended (delete, stop, pause) by session.
func endings(t *testing.T, e *env, now time.Time, dry bool) map[string]lifecycle.Outcome {
	rep, err := e.sweeper.Run(context.Background(), sweep.Options{Now: now, DryRun: dry})
	must(t, err)
	if len(rep.Errors) > 0 {
		t.Fatalf("sweep: %v", rep.Errors)
	}
	out := map[string]lifecycle.Outcome{}
	for _, a := range rep.Actions {
		switch o := lifecycle.Outcome(a.Action); o {
		case lifecycle.OutcomeDelete, lifecycle.OutcomeStop, lifecycle.OutcomePause:
			out[a.SessionID] = o
		}
	}
	return out
}

// allPages reads every page of a preview, checking that the pages agree.
func allPages(t *testing.T, e *env, g string, c preview.Change) preview.Result {
	ctx := context.Background()
	first, err := e.preview.Preview(ctx, g, c, preview.Page{Limit: 2})
	must(t, err)
	all := first
	for tok := first.NextPageToken; tok != ""; {
		p, err := e.preview.Preview(ctx, g, c, preview.Page{Limit: 2, Token: tok})
		must(t, err)
		if p.Summary != first.Summary || p.Version != first.Version || !p.EvaluatedAt.Equal(first.EvaluatedAt) {
			t.Fatalf("page disagrees: %+v vs %+v", p.Summary, first.Summary)
		}
		all.Users = append(all.Users, p.Users...)
		tok = p.NextPageToken
	}
	if len(all.Users) != first.Summary.Users {
		t.Fatalf("pages hold %d users, summary says %d", len(all.Users), first.Summary.Users)
	}
	return all
}

// TestPreviewIsExact applies random changes to random memberships with running sessions and
// checks that the preview is the difference of effective settings, and of what the next sweep
// does to the sessions, before and after actually saving (with If-Match the previewed version).
func TestPreviewIsExact(t *testing.T) {
	for seed := range uint64(24) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 20))
			e := newEnv(t)
			ctx := context.Background()
			w := buildWorld(t, e, rng)
			t2 := t0.Add(150*time.Second + time.Duration(rng.IntN(300))*time.Second)
			e.clock.Set(t2)
			g, c := randomChange(t, e, w, rng)
			t.Logf("change of %s: %+v %v", g, c, c.Settings)

			beforeRes := effective(t, e, w.users)
			beforeSess := liveSessions(t, e, w.users)
			without := endings(t, e, t2, true)
			p := allPages(t, e, g, c)

			t.Logf("preview: %+v", p.Summary)
			must(t, save(ctx, e, g, c, p.Version))
			afterRes := effective(t, e, w.users)
			with := endings(t, e, t2, false)

			// Effective settings: exactly the users and settings that changed.
			byUser := map[string]preview.UserEffect{}
			for _, u := range p.Users {
				byUser[u.UserID] = u
			}
			for _, u := range w.users {
				diff := preview.DiffSettings(beforeRes[u], afterRes[u])
				got := byUser[u].Settings
				if len(diff) != len(got) {
					t.Fatalf("user %s: preview lists %d changed settings, saving changed %d (%v vs %v)", u, len(got), len(diff), names(got), names(diff))
				}
				for i := range diff {
					a, b := diff[i], got[i]
					if a.Name != b.Name || !jsonEq(a.Old, b.Old) || !jsonEq(a.New, b.New) {
						t.Errorf("user %s setting %s: preview %s → %s, saved %s → %s", u, a.Name, js(b.Old), js(b.New), js(a.Old), js(a.New))
					}
				}
				wantWarn := preview.NewWarnings(beforeRes[u].Warnings, afterRes[u].Warnings)
				if len(diff) > 0 && len(wantWarn) != len(byUser[u].Warnings) {
					t.Errorf("user %s: preview warns %v, saving raised %v", u, byUser[u].Warnings, wantWarn)
				}
			}
			// Sessions: the expiry the re-sync wrote, and what the sweep then ended that it would not have.
			effects := map[string]preview.SessionEffect{}
			for _, u := range p.Users {
				for _, s := range u.Sessions {
					effects[s.SessionID] = s
				}
			}
			for id, before := range beforeSess {
				after, err := e.store.GetSession(ctx, id)
				must(t, err)
				eff, listed := effects[id]
				if !after.ExpiresAt.Equal(before.ExpiresAt) != (listed && slices.Contains(eff.Effects, preview.EffectExpiry)) {
					t.Errorf("session %s: expiry %v → %v after saving; preview %+v (listed %v)", id, before.ExpiresAt, after.ExpiresAt, eff, listed)
				}
				if listed && !after.ExpiresAt.Equal(eff.NewExpiresAt) {
					t.Errorf("session %s: preview expiry %v, saved %v", id, eff.NewExpiresAt, after.ExpiresAt)
				}
				changedFate := with[id] != without[id]
				previewFate := listed && (slices.Contains(eff.Effects, preview.EffectStop) ||
					slices.Contains(eff.Effects, preview.EffectPause) || slices.Contains(eff.Effects, preview.EffectDelete))
				if changedFate != previewFate || (listed && eff.NextSweep != with[id]) {
					t.Errorf("session %s: next sweep %q (without the change %q); preview %+v (listed %v)", id, with[id], without[id], eff, listed)
				}
				withdrawn := preview.WithdrawnPermissions(beforeRes[before.UserID], afterRes[before.UserID])
				if (len(withdrawn) > 0) != (listed && slices.Contains(eff.Effects, preview.EffectPermissionWithdrawn)) {
					t.Errorf("session %s: permissions withdrawn %v; preview %+v", id, withdrawn, eff)
				}
			}
			if len(effects) != p.Summary.Sessions {
				t.Errorf("summary counts %d sessions, lists %d", p.Summary.Sessions, len(effects))
			}
			// When saving wrote something, the previewed version is stale: saving it again is a 412.
			cur, err := e.dir.GetGroup(ctx, g)
			must(t, err)
			if cur.Version != p.Version {
				if err := save(ctx, e, g, c, p.Version); !policy.IsKind(err, policy.KindPrecondition) {
					t.Errorf("saving again with If-Match %d (group now at %d): %v, want 412", p.Version, cur.Version, err)
				}
			}
		})
	}
}

func names(cs []preview.SettingChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonEq(a, b settings.Effective) bool {
	var x, y any
	_ = json.Unmarshal([]byte(js(a)), &x)
	_ = json.Unmarshal([]byte(js(b)), &y)
	return js(x) == js(y)
}
