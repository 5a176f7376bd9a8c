package sweep_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/sweep"
)

// usageEnv is the sweep env with the session service and groups carrying usage limits.
type usageEnv struct {
	env
	svc *sessions.Service
}

func newUsageEnv(t *testing.T, at time.Time) usageEnv {
	t.Helper()
	e := usageEnv{env: newEnv(t)}
	e.clock.Set(at)
	all := settingsOf("max_kasms_per_user", "5", "keepalive_expiration", "86400", "idle_disconnect", "1440")
	if err := e.dir.EnsureAllUsers(context.Background(), at, all); err != nil {
		t.Fatal(err)
	}
	e.svc = sessions.New(sessions.Config{Store: e.store, Directory: e.dir, Clock: e.clock})
	return e
}

// group creates a group of priority 10 with usage_limit limit (JSON) and users in it.
func (e usageEnv) group(t *testing.T, id, limit string, users ...string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.dir.CreateGroup(ctx, policy.Group{ID: id, Name: id, Priority: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dir.ChangeSettings(ctx, id, policy.SettingsChange{Set: settingsOf("usage_limit", limit)}, 0, "admin", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if _, err := e.dir.CreateUser(ctx, policy.User{ID: u, Username: u, GroupIDs: []string{id}}); err != nil {
			t.Fatal(err)
		}
	}
}

func (e usageEnv) startAt(t *testing.T, user string, at time.Time) string {
	t.Helper()
	e.clock.Set(at)
	s, err := e.svc.Start(context.Background(), user, "img", true)
	if err != nil {
		t.Fatalf("start for %s at %v: %v", user, at, err)
	}
	return s.SessionID
}

// refusedAt checks that user cannot start a session at at: 403 usage_limit_reached.
func (e usageEnv) refusedAt(t *testing.T, user string, at time.Time) {
	t.Helper()
	e.clock.Set(at)
	_, err := e.svc.Start(context.Background(), user, "img", true)
	if policy.CodeOf(err) != policy.CodeUsageLimitReached || !policy.IsKind(err, policy.KindForbidden) {
		t.Errorf("start for %s at %v: %v, want 403 usage_limit_reached", user, at, err)
	}
}

func (e usageEnv) hoursUsed(t *testing.T, user string, at time.Time) float64 {
	t.Helper()
	e.clock.Set(at)
	r, err := e.svc.Usage(context.Background(), lifecycle.AdminActor(), user)
	if err != nil {
		t.Fatal(err)
	}
	if r.HoursUsed == nil {
		t.Fatalf("usage of %s has no hours_used", user)
	}
	return *r.HoursUsed
}

// sweepEvery runs a sweep every period from from to to (inclusive) and returns the reports.
func (e usageEnv) sweepEvery(t *testing.T, from, to time.Time, period time.Duration) []sweep.Report {
	t.Helper()
	var reps []sweep.Report
	sw := e.sweeper(nil)
	for at := from; !at.After(to); at = at.Add(period) {
		e.clock.Set(at)
		reps = append(reps, e.sweep(t, sw, at))
	}
	return reps
}

func deletedIn(reps []sweep.Report) []int {
	var out []int
	for _, r := range reps {
		out = append(out, r.Deleted)
	}
	return out
}

// TestUsagePerUserDaily is issue 4's example: usage_limit per_user daily 0.001 h with a sweep
// every second.
func TestUsagePerUserDaily(t *testing.T) {
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	e := newUsageEnv(t, start)
	e.group(t, "g1", `{"type":"per_user","interval":"daily","hours":0.001}`, "u1", "u2")
	id := e.startAt(t, "u1", start)
	other := e.startAt(t, "u2", start)
	reps := e.sweepEvery(t, start.Add(time.Second), start.Add(5*time.Second), time.Second)
	// Both budgets run out at +3.6 s: the sweep at +4 s deletes both sessions, no earlier.
	if got := fmt.Sprint(deletedIn(reps)); got != "[0 0 0 2 0]" {
		t.Errorf("deleted per sweep = %s, want [0 0 0 2 0]", got)
	}
	for _, sid := range []string{id, other} {
		if got := e.events(t, sid); got != "created usage_limit_reached deleted" {
			t.Errorf("events of %s = %q", sid, got)
		}
		if s := e.get(t, sid); s.Status != lifecycle.StatusDeleted || s.ExpirationReason != lifecycle.ReasonUsageLimitReached {
			t.Errorf("session %s: %s %q, want deleted usage_limit_reached", sid, s.Status, s.ExpirationReason)
		}
	}
	e.refusedAt(t, "u1", start.Add(6*time.Second))
	e.clock.Set(start.Add(6 * time.Second))
	r, err := e.svc.Usage(context.Background(), lifecycle.UserActor("u1"), "u1")
	if err != nil {
		t.Fatal(err)
	}
	// Charged until the deletion: 4 s, that is 0.001 h and at most one sweep period more.
	if *r.HoursUsed < 0.001 || *r.HoursUsed > 0.001+1.0/3600 || *r.HoursRemaining != 0 || !r.Exhausted || r.OpenSessions != 0 {
		t.Errorf("usage = used %v remaining %v exhausted %v open %d; want ~0.001, 0, true, 0", *r.HoursUsed, *r.HoursRemaining, r.Exhausted, r.OpenSessions)
	}
	// The next day's window lets the user start again.
	next := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	e.refusedAt(t, "u1", next.Add(-time.Millisecond))
	e.startAt(t, "u1", next)
	if got := e.hoursUsed(t, "u1", next); got != 0 {
		t.Errorf("hours used at the start of the next day = %v, want 0", got)
	}
}

// TestUsagePerGroupShared: two users of one per_group budget exhaust it together; two sweeps
// at once end each session once.
func TestUsagePerGroupShared(t *testing.T) {
	e := newUsageEnv(t, t0)
	e.group(t, "team", `{"type":"per_group","interval":"daily","hours":0.001}`, "a", "b")
	e.group(t, "others", `{"type":"per_group","interval":"daily","hours":0.001}`, "c")
	ids := []string{e.startAt(t, "a", t0), e.startAt(t, "b", t0.Add(500*time.Millisecond)), e.startAt(t, "a", t0.Add(time.Second))}
	outside := e.startAt(t, "c", t0.Add(time.Second))
	// used(t) = t + (t − 0.5) + (t − 1) reaches 3.6 s at t = 1.7 s.
	if got := e.hoursUsed(t, "b", t0.Add(1699*time.Millisecond)); got >= 0.001 {
		t.Errorf("used at +1.699 s = %v h, want below 0.001", got)
	}
	rep := e.sweep(t, e.sweeper(nil), t0.Add(1699*time.Millisecond))
	if rep.Deleted != 0 {
		t.Errorf("sweep before the deadline deleted %d", rep.Deleted)
	}
	at := t0.Add(1700 * time.Millisecond)
	e.clock.Set(at)
	var wg sync.WaitGroup
	reps := make([]sweep.Report, 2)
	for i := range reps {
		wg.Go(func() { reps[i] = e.sweep(t, e.sweeper(nil), at) })
	}
	wg.Wait()
	if got := reps[0].Deleted + reps[1].Deleted; got != len(ids) {
		t.Errorf("two sweeps deleted %d + %d, want %d in all", reps[0].Deleted, reps[1].Deleted, len(ids))
	}
	for _, id := range ids {
		if got := e.events(t, id); got != "created usage_limit_reached deleted" {
			t.Errorf("events of %s = %q, want one usage end", id, got)
		}
	}
	if s := e.get(t, outside); s.Status != lifecycle.StatusRunning {
		t.Errorf("another group's session is %s, want running", s.Status)
	}
	e.refusedAt(t, "a", at.Add(time.Second))
	e.refusedAt(t, "b", at.Add(time.Second))
	for _, u := range []string{"a", "b"} {
		if got := e.hoursUsed(t, u, at.Add(time.Second)); math.Abs(got-0.001) > 1e-12 {
			t.Errorf("%s: hours used %v, want exactly 0.001 (deleted at the deadline)", u, got)
		}
	}
	bl, err := e.store.GetLedger(context.Background(), "group#team#daily")
	if err != nil || bl.Ledger.OpenCount != 0 || !bl.DueAt.IsZero() || bl.Ledger.ClosedMs != 3600 {
		t.Errorf("ledger = %+v, %v; want closed 3600 ms, nothing open, not due", bl, err)
	}
}

// TestUsageWindows: a used-up budget refuses starts until its window ends (weekly from
// Sunday, monthly from the 1st, total never), through the service and the sweep.
func TestUsageWindows(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		interval              string
		start                 time.Time
		windowStart           time.Time
		windowEnd             time.Time // zero: total
		refusedAt, allowedAt  time.Time // allowedAt zero: never again
		wantHoursAfterRestart float64
	}{
		{"weekly", day(7, 10), day(1, 0), day(8, 0), day(7, 23), day(8, 0), 0},
		{"monthly", time.Date(2026, 2, 27, 10, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), day(1, 0),
			time.Date(2026, 2, 28, 23, 59, 59, 0, time.UTC), day(1, 0), 0},
		{"total", day(1, 10), time.Unix(0, 0).UTC(), time.Time{}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.interval, func(t *testing.T) {
			e := newUsageEnv(t, tc.start)
			e.group(t, "g1", `{"type":"per_user","interval":"`+tc.interval+`","hours":1}`, "u1")
			id := e.startAt(t, "u1", tc.start)
			r, err := e.svc.Usage(context.Background(), lifecycle.AdminActor(), "u1")
			if err != nil {
				t.Fatal(err)
			}
			if !r.WindowStart.Equal(tc.windowStart) || (r.WindowEnd == nil) != tc.windowEnd.IsZero() || (r.WindowEnd != nil && !r.WindowEnd.Equal(tc.windowEnd)) {
				t.Errorf("window = %v to %v, want %v to %v", r.WindowStart, r.WindowEnd, tc.windowStart, tc.windowEnd)
			}
			if r.ExhaustsAt == nil || !r.ExhaustsAt.Equal(tc.start.Add(time.Hour)) {
				t.Errorf("exhausts_at = %v, want %v", r.ExhaustsAt, tc.start.Add(time.Hour))
			}
			if rep := e.sweep(t, e.sweeper(nil), tc.start.Add(time.Hour-time.Millisecond)); rep.Deleted != 0 {
				t.Errorf("deleted %d a millisecond early", rep.Deleted)
			}
			if rep := e.sweep(t, e.sweeper(nil), tc.start.Add(time.Hour)); rep.Deleted != 1 || e.get(t, id).Status != lifecycle.StatusDeleted {
				t.Errorf("sweep at the limit deleted %d", rep.Deleted)
			}
			e.refusedAt(t, "u1", tc.refusedAt)
			if tc.allowedAt.IsZero() {
				return
			}
			e.startAt(t, "u1", tc.allowedAt)
			if got := e.hoursUsed(t, "u1", tc.allowedAt); got != tc.wantHoursAfterRestart {
				t.Errorf("hours used in the new window = %v, want %v", got, tc.wantHoursAfterRestart)
			}
		})
	}
}

// TestUsageAcrossMidnight: a session from 22:45 on a daily 1.5 h budget is charged 1.25 h to
// its first day and runs out at 01:30 the next day.
func TestUsageAcrossMidnight(t *testing.T) {
	start := time.Date(2026, 3, 4, 22, 45, 0, 0, time.UTC)
	midnight := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	e := newUsageEnv(t, start)
	e.group(t, "g1", `{"type":"per_user","interval":"daily","hours":1.5}`, "u1")
	id := e.startAt(t, "u1", start)
	tests := []struct {
		name string
		at   time.Time
		want float64
	}{
		{"first day, before midnight", midnight.Add(-time.Millisecond), 1.25 - 1.0/3_600_000},
		{"second day, at midnight", midnight, 0},
		{"second day, 01:00", midnight.Add(time.Hour), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.hoursUsed(t, "u1", tc.at); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("hours used = %v, want %v", got, tc.want)
			}
		})
	}
	if rep := e.sweep(t, e.sweeper(nil), midnight.Add(90*time.Minute-time.Millisecond)); rep.Deleted != 0 {
		t.Errorf("deleted %d before 01:30", rep.Deleted)
	}
	if rep := e.sweep(t, e.sweeper(nil), midnight.Add(90*time.Minute)); rep.Deleted != 1 || e.events(t, id) != "created usage_limit_reached deleted" {
		t.Errorf("at 01:30: deleted %d, events %q", rep.Deleted, e.events(t, id))
	}
	bl, err := e.store.GetLedger(context.Background(), "user#u1#daily")
	if err != nil || bl.Ledger.WindowStart != midnight.UnixMilli() || bl.Ledger.ClosedMs != (90*time.Minute).Milliseconds() {
		t.Errorf("ledger = %+v, %v; want the second day with 1.5 h closed", bl.Ledger, err)
	}
}

// TestUsagePausedAndStoppedCharged: paused and stopped sessions are charged and ended.
func TestUsagePausedAndStoppedCharged(t *testing.T) {
	e := newUsageEnv(t, t0)
	e.group(t, "g1", `{"type":"per_user","interval":"daily","hours":0.01}`, "p", "s")
	paused, stopped := e.startAt(t, "p", t0), e.startAt(t, "s", t0)
	e.act(t, paused, lifecycle.OpPause, t0.Add(time.Second))
	e.act(t, stopped, lifecycle.OpStop, t0.Add(time.Second))
	if got := e.hoursUsed(t, "p", t0.Add(18*time.Second)); got != 0.005 {
		t.Errorf("paused session after 18 s: %v h, want 0.005", got)
	}
	if rep := e.sweep(t, e.sweeper(nil), t0.Add(36*time.Second)); rep.Deleted != 2 {
		t.Errorf("sweep at 36 s deleted %d, want 2", rep.Deleted)
	}
	tests := []struct{ id, events string }{
		{paused, "created paused usage_limit_reached deleted"},
		{stopped, "created stopped usage_limit_reached deleted"},
	}
	for _, tc := range tests {
		if got := e.events(t, tc.id); got != tc.events {
			t.Errorf("events = %q, want %q", got, tc.events)
		}
	}
	e.refusedAt(t, "p", t0.Add(time.Minute))
}

// corruptSession marks a session deleted at at without touching its budget, as if a write
// had been lost: its membership item is then an orphan.
func (e usageEnv) corruptSession(t *testing.T, id string, at time.Time) {
	t.Helper()
	ttl := at.Add(lifecycle.FinishedRetention).Unix()
	_, err := e.tb.Client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(e.tb.Name),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "SESSION#" + id}, "SK": &ddbtypes.AttributeValueMemberS{Value: "SESSION"},
		},
		UpdateExpression:          aws.String("SET #st = :d, #ttl = :ttl REMOVE DueAt, DueShard"),
		ExpressionAttributeNames:  map[string]string{"#st": "status", "#ttl": "TTL"},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":d": &ddbtypes.AttributeValueMemberS{Value: "deleted"}, ":ttl": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(ttl, 10)}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUsageOrphanRepaired: a budget member whose session was deleted without its charge being
// ended is ended in the ledger at its deletion, which here leaves the budget not exhausted.
func TestUsageOrphanRepaired(t *testing.T) {
	e := newUsageEnv(t, t0)
	e.group(t, "team", `{"type":"per_group","interval":"daily","hours":`+strconv.FormatFloat(60.0/3600, 'f', -1, 64)+`}`, "a", "b")
	live, orphan := e.startAt(t, "a", t0), e.startAt(t, "b", t0)
	e.corruptSession(t, orphan, t0.Add(10*time.Second))
	// The ledger still counts two sessions: due at 30 s. After the repair 10 + 30 = 40 s are
	// used of 60: the repair's write moved the deadline to 50 s.
	dry, err := e.sweeper(nil).Run(context.Background(), sweep.Options{DryRun: true, Now: t0.Add(30 * time.Second)})
	if err != nil || dry.Repaired != 1 || dry.Deleted != 1 {
		t.Errorf("dry run = %+v, %v; want the repair and the delete listed", dry, err)
	}
	rep := e.sweep(t, e.sweeper(nil), t0.Add(30*time.Second))
	if rep.Repaired != 1 || rep.Deleted != 0 || rep.ExhaustedBudgets != 0 || rep.Budgets != 1 {
		t.Errorf("sweep at 30 s = %+v, want 1 repaired, none deleted", rep)
	}
	bl, err := e.store.GetLedger(context.Background(), "group#team#daily")
	if err != nil || bl.Ledger.OpenCount != 1 || bl.Ledger.ClosedMs != 10_000 || !bl.DueAt.Equal(t0.Add(50*time.Second)) {
		t.Errorf("ledger = %+v, %v; want 1 open, 10 s closed, due at +50 s", bl, err)
	}
	if e.get(t, live).Status != lifecycle.StatusRunning {
		t.Errorf("the live session was ended")
	}
	if rep := e.sweep(t, e.sweeper(nil), t0.Add(50*time.Second)); rep.Deleted != 1 || rep.Repaired != 0 {
		t.Errorf("sweep at 50 s = %+v, want the live session deleted", rep)
	}
	ms, err := e.store.BudgetMembers(context.Background(), "group#team#daily")
	if err != nil || len(ms) != 0 {
		t.Errorf("members = %v, %v; want none", ms, err)
	}
}

// TestUsageDryRun lists the sessions of an exhausted budget and changes nothing.
func TestUsageDryRun(t *testing.T) {
	e := newUsageEnv(t, t0)
	e.group(t, "g1", `{"type":"per_user","interval":"daily","hours":0.001}`, "u1")
	id := e.startAt(t, "u1", t0)
	rep, err := e.sweeper(nil).Run(context.Background(), sweep.Options{DryRun: true, Now: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != 1 || len(rep.Actions) != 1 || rep.Actions[0].SessionID != id || rep.Actions[0].Budget != "user#u1#daily" ||
		rep.Actions[0].Reason != lifecycle.ReasonUsageLimitReached {
		t.Errorf("dry run = %+v", rep)
	}
	if s := e.get(t, id); s.Status != lifecycle.StatusRunning || e.events(t, id) != "created" {
		t.Errorf("dry run changed the session: %s %q", s.Status, e.events(t, id))
	}
}

// TestUsageLimitChangedBySettings: lowering the hours of a per_group budget takes effect at
// the next sweep (the re-sync rewrites the ledger's limit and deadline); raising them lets the
// sessions run on; a new interval is a new budget, and running sessions finish under the old.
func TestUsageLimitChangedBySettings(t *testing.T) {
	e := newUsageEnv(t, t0)
	e.group(t, "team", `{"type":"per_group","interval":"daily","hours":1}`, "a", "b")
	ctx := context.Background()
	sw := e.sweeper(nil)
	e.sweep(t, sw, t0) // the markers of the setup
	ids := []string{e.startAt(t, "a", t0), e.startAt(t, "b", t0)}
	set := func(limit string, at time.Time) {
		t.Helper()
		e.clock.Set(at)
		if _, err := e.dir.ChangeSettings(ctx, "team", policy.SettingsChange{Set: settingsOf("usage_limit", limit)}, 0, "admin", at); err != nil {
			t.Fatal(err)
		}
	}
	// Raised to 2 h at 10 min: the ledger's deadline moves from 30 min to 60 min.
	set(`{"type":"per_group","interval":"daily","hours":2}`, t0.Add(10*time.Minute))
	if rep := e.sweep(t, sw, t0.Add(10*time.Minute)); rep.ResyncedBudgets != 1 {
		t.Errorf("re-sync after raising: %+v, want the budget re-synced", rep)
	}
	if rep := e.sweep(t, sw, t0.Add(30*time.Minute)); rep.Deleted != 0 {
		t.Errorf("deleted %d at the old deadline after the limit was raised", rep.Deleted)
	}
	// Lowered to 1.5 h at 40 min: 80 min used, 10 min left for two sessions: due at 45 min.
	set(`{"type":"per_group","interval":"daily","hours":1.5}`, t0.Add(40*time.Minute))
	e.sweep(t, sw, t0.Add(40*time.Minute))
	bl, err := e.store.GetLedger(ctx, "group#team#daily")
	if err != nil || bl.Budget.LimitMs != (90*time.Minute).Milliseconds() || !bl.DueAt.Equal(t0.Add(45*time.Minute)) {
		t.Errorf("ledger after lowering = %+v, %v; want limit 1.5 h due at +45 min", bl, err)
	}
	// A new interval is a new budget: the running sessions stay on the daily one.
	set(`{"type":"per_group","interval":"weekly","hours":10}`, t0.Add(41*time.Minute))
	e.sweep(t, sw, t0.Add(41*time.Minute))
	if rep := e.sweep(t, sw, t0.Add(45*time.Minute)); rep.Deleted != 2 {
		t.Errorf("sweep at 45 min deleted %d, want both sessions (old budget, its last limit)", rep.Deleted)
	}
	for _, id := range ids {
		if got := e.events(t, id); got != "created usage_limit_reached deleted" {
			t.Errorf("events of %s = %q", id, got)
		}
	}
	e.startAt(t, "a", t0.Add(46*time.Minute)) // the weekly budget is untouched
}
