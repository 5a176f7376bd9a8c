package countdown_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/countdown"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbstore/storetest"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sweep"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// env is a table on DynamoDB Local with users and time-limited sessions.
type env struct {
	tb    *ddbtest.Table
	clock *policy.FixedClock
	dir   *ddbstore.Store
	store *ddbstore.SessionStore
}

func newEnv(t *testing.T, users ...string) env {
	t.Helper()
	se := storetest.New(t, users...)
	e := env{tb: se.TB, clock: &policy.FixedClock{T: t0}, dir: se.Dir, store: se.Sessions}
	return e
}

// start stores a session of user started at `at` with the given time limit (none when 0).
func (e env) start(t *testing.T, id, user string, limit time.Duration, at time.Time) lifecycle.Session {
	t.Helper()
	lt := lifecycle.Lifetime{KeepaliveExpiration: time.Minute, Action: lifecycle.ActionDelete,
		KeepaliveInterval: time.Second, IdleDisconnect: time.Hour, TimeLimit: limit, MaxSessions: 100}
	s, ev := lifecycle.NewSession(id, user, "img", true, lt, at)
	if err := ddbtest.StartSession(context.Background(), e.store, s, ev); err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	return s
}

func (e env) get(t *testing.T, id string) lifecycle.Session {
	t.Helper()
	s, err := e.store.GetSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// events lists a session's event types, space-separated.
func (e env) events(t *testing.T, id string) string {
	t.Helper()
	evs, err := e.store.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range evs {
		types = append(types, string(ev.Type))
	}
	return strings.Join(types, " ")
}

func (e env) lastEvent(t *testing.T, id string) lifecycle.Event {
	t.Helper()
	evs, err := e.store.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return evs[len(evs)-1]
}

// activeSessions reads the user item's active_sessions count.
func (e env) activeSessions(t *testing.T, user string) int64 {
	t.Helper()
	out, err := e.tb.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(e.tb.Name), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "USER#" + user},
			"SK": &ddbtypes.AttributeValueMemberS{Value: "USER"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := out.Item["active_sessions"].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		t.Fatalf("user %s has no active_sessions: %v", user, out.Item)
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTaskActions(t *testing.T) {
	// A 600 s limit started at t0: warning due at t0+300s, limit at t0+600s.
	warnAt, limitAt := t0.Add(300*time.Second), t0.Add(600*time.Second)
	type run struct {
		action string
		at     time.Time
		want   string // outcome
	}
	tests := []struct {
		name       string
		limit      time.Duration
		runs       []run
		wantEvents string
		wantStatus lifecycle.Status
		wantReason string
	}{
		{
			name:  "warn then expire",
			limit: 600 * time.Second,
			runs: []run{
				{countdown.ActionWarn, warnAt, "warn"},
				{countdown.ActionExpire, limitAt, "delete"},
			},
			wantEvents: "created time_limit_warning time_limit_reached deleted",
			wantStatus: lifecycle.StatusDeleted, wantReason: lifecycle.ReasonTimeLimitReached,
		},
		{
			name:  "warn twice writes one warning",
			limit: 600 * time.Second,
			runs: []run{
				{countdown.ActionWarn, warnAt, "warn"},
				{countdown.ActionWarn, warnAt.Add(time.Second), countdown.OutcomeAlreadyWarned},
			},
			wantEvents: "created time_limit_warning",
			wantStatus: lifecycle.StatusRunning,
		},
		{
			name:  "expire twice deletes once",
			limit: 600 * time.Second,
			runs: []run{
				{countdown.ActionWarn, warnAt, "warn"},
				{countdown.ActionExpire, limitAt, "delete"},
				{countdown.ActionExpire, limitAt.Add(time.Second), countdown.OutcomeAlreadyDeleted},
				{countdown.ActionWarn, limitAt.Add(time.Second), countdown.OutcomeAlreadyDeleted},
			},
			wantEvents: "created time_limit_warning time_limit_reached deleted",
			wantStatus: lifecycle.StatusDeleted, wantReason: lifecycle.ReasonTimeLimitReached,
		},
		{
			name:       "expire without the warning (the warn step failed)",
			limit:      600 * time.Second,
			runs:       []run{{countdown.ActionExpire, limitAt, "delete"}},
			wantEvents: "created time_limit_reached deleted",
			wantStatus: lifecycle.StatusDeleted, wantReason: lifecycle.ReasonTimeLimitReached,
		},
		{
			name:       "a warning that arrives after the limit deletes without warning",
			limit:      600 * time.Second,
			runs:       []run{{countdown.ActionWarn, limitAt.Add(2 * time.Second), "delete"}, {countdown.ActionExpire, limitAt.Add(2 * time.Second), countdown.OutcomeAlreadyDeleted}},
			wantEvents: "created time_limit_reached deleted",
			wantStatus: lifecycle.StatusDeleted, wantReason: lifecycle.ReasonTimeLimitReached,
		},
		{
			name:       "expire fired 900 ms early is done as at the limit",
			limit:      600 * time.Second,
			runs:       []run{{countdown.ActionExpire, limitAt.Add(-900 * time.Millisecond), "delete"}},
			wantEvents: "created time_limit_reached deleted",
			wantStatus: lifecycle.StatusDeleted, wantReason: lifecycle.ReasonTimeLimitReached,
		},
		{
			name:       "warn fired 1 s early (the tolerance) is done",
			limit:      600 * time.Second,
			runs:       []run{{countdown.ActionWarn, warnAt.Add(-time.Second), "warn"}},
			wantEvents: "created time_limit_warning",
			wantStatus: lifecycle.StatusRunning,
		},
		{
			name:       "session without a time limit",
			limit:      0,
			runs:       []run{{countdown.ActionExpire, limitAt, countdown.OutcomeNotTimeLimited}},
			wantEvents: "created",
			wantStatus: lifecycle.StatusRunning,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "u1")
			e.start(t, "s1", "u1", tc.limit, t0)
			task := countdown.NewTask(e.store, e.clock, nil)
			for i, r := range tc.runs {
				e.clock.Set(r.at)
				res, err := task.Run(context.Background(), r.action, "s1")
				if err != nil {
					t.Fatalf("run %d (%s): %v", i, r.action, err)
				}
				if res.Outcome != r.want {
					t.Errorf("run %d (%s): outcome %q, want %q", i, r.action, res.Outcome, r.want)
				}
			}
			if got := e.events(t, "s1"); got != tc.wantEvents {
				t.Errorf("events: got %q, want %q", got, tc.wantEvents)
			}
			s := e.get(t, "s1")
			if s.Status != tc.wantStatus || s.ExpirationReason != tc.wantReason {
				t.Errorf("session: got %s %q, want %s %q", s.Status, s.ExpirationReason, tc.wantStatus, tc.wantReason)
			}
			wantActive := int64(1)
			if tc.wantStatus == lifecycle.StatusDeleted {
				wantActive = 0
			}
			if got := e.activeSessions(t, "u1"); got != wantActive {
				t.Errorf("active_sessions: got %d, want %d", got, wantActive)
			}
		})
	}
}

func TestTaskEventsAreTheCountdowns(t *testing.T) {
	e := newEnv(t, "u1")
	e.start(t, "s1", "u1", 600*time.Second, t0)
	task := countdown.NewTask(e.store, e.clock, nil)
	e.clock.Set(t0.Add(600*time.Second - 400*time.Millisecond)) // early, within the tolerance
	if _, err := task.Run(context.Background(), countdown.ActionExpire, "s1"); err != nil {
		t.Fatal(err)
	}
	ev := e.lastEvent(t, "s1")
	if ev.Type != lifecycle.EventDeleted || ev.Actor != lifecycle.ActorCountdown || ev.Reason != lifecycle.ReasonTimeLimitReached {
		t.Errorf("last event: got %s by %s (%s), want deleted by %s (%s)", ev.Type, ev.Actor, ev.Reason, lifecycle.ActorCountdown, lifecycle.ReasonTimeLimitReached)
	}
	if want := t0.Add(600 * time.Second); !ev.At.Equal(want) {
		t.Errorf("event time: got %s, want the limit %s (an early firing is decided as at its due time)", ev.At, want)
	}
}

func TestTaskTooEarly(t *testing.T) {
	tests := []struct {
		name   string
		action string
		at     time.Time
		due    time.Time
	}{
		{name: "warn 5 s early", action: countdown.ActionWarn, at: t0.Add(295 * time.Second), due: t0.Add(300 * time.Second)},
		{name: "expire 1.1 s early", action: countdown.ActionExpire, at: t0.Add(600*time.Second - 1100*time.Millisecond), due: t0.Add(600 * time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "u1")
			e.start(t, "s1", "u1", 600*time.Second, t0)
			e.clock.Set(tc.at)
			_, err := countdown.NewTask(e.store, e.clock, nil).Run(context.Background(), tc.action, "s1")
			var nd *countdown.NotDueError
			if !errors.As(err, &nd) {
				t.Fatalf("error: got %v, want a *NotDueError", err)
			}
			if !nd.Due.Equal(tc.due) || !nd.Now.Equal(tc.at) {
				t.Errorf("NotDueError: got due %s now %s, want due %s now %s", nd.Due, nd.Now, tc.due, tc.at)
			}
			if got, want := e.events(t, "s1"), "created"; got != want {
				t.Errorf("events: got %q, want %q (nothing written)", got, want)
			}
		})
	}
}

// TestNotDueErrorName checks that the Lambda runtime reports a *NotDueError under the name the
// state machine retries (aws-lambda-go names an error after its type).
func TestNotDueErrorName(t *testing.T) {
	if got := reflect.TypeOf(&countdown.NotDueError{}).Elem().Name(); got != countdown.NotDueErrorName {
		t.Errorf("type name: got %q, want NotDueErrorName %q", got, countdown.NotDueErrorName)
	}
}

func TestTaskMissingAndInvalid(t *testing.T) {
	e := newEnv(t, "u1")
	task := countdown.NewTask(e.store, e.clock, nil)
	tests := []struct {
		name        string
		action, id  string
		wantOutcome string
		wantErr     bool
	}{
		{name: "no such session", action: countdown.ActionExpire, id: "s_gone", wantOutcome: countdown.OutcomeNotFound},
		{name: "malformed id", action: countdown.ActionWarn, id: "bad id!", wantOutcome: countdown.OutcomeNotFound},
		{name: "unknown action", action: "explode", id: "s_gone", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := task.Run(context.Background(), tc.action, tc.id)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error: got %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && res.Outcome != tc.wantOutcome {
				t.Errorf("outcome: got %q, want %q", res.Outcome, tc.wantOutcome)
			}
		})
	}
}

// sweepFirst runs a sweep between the task's read and its write, once: the task's guarded
// write then fails and it must read again.
type sweepFirst struct {
	*ddbstore.SessionStore
	sweep func()
	done  bool
}

func (s *sweepFirst) Transition(ctx context.Context, c lifecycle.Change) error {
	if !s.done {
		s.done = true
		s.sweep()
	}
	return s.SessionStore.Transition(ctx, c)
}

func TestTaskLosesToTheSweep(t *testing.T) {
	tests := []struct {
		name        string
		action      string
		at          time.Time
		wantOutcome string
		wantEvents  string
	}{
		{name: "expire after the sweep deleted", action: countdown.ActionExpire, at: t0.Add(600 * time.Second),
			wantOutcome: countdown.OutcomeAlreadyDeleted, wantEvents: "created time_limit_reached deleted"},
		{name: "warn after the sweep warned", action: countdown.ActionWarn, at: t0.Add(300 * time.Second),
			wantOutcome: countdown.OutcomeAlreadyWarned, wantEvents: "created time_limit_warning"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "u1")
			e.start(t, "s1", "u1", 600*time.Second, t0)
			e.clock.Set(tc.at)
			sw := sweep.New(sweep.Config{Store: e.store, Directory: e.dir, Clock: e.clock})
			store := &sweepFirst{SessionStore: e.store, sweep: func() {
				rep, err := sw.Run(context.Background(), sweep.Options{})
				if err != nil || len(rep.Errors) > 0 || rep.Deleted+rep.Warned != 1 {
					t.Errorf("sweep: %+v, %v", rep, err)
				}
			}}
			res, err := countdown.NewTask(store, e.clock, nil).Run(context.Background(), tc.action, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.wantOutcome {
				t.Errorf("outcome: got %q, want %q", res.Outcome, tc.wantOutcome)
			}
			if got := e.events(t, "s1"); got != tc.wantEvents {
				t.Errorf("events: got %q, want %q", got, tc.wantEvents)
			}
		})
	}
}

// TestSweepCatchesMissedCountdown: the countdown never fired (the process holding it
// restarted): the sweep deletes the session after its limit, without a warning it only finds
// late, and the countdown firing late afterwards does nothing.
func TestSweepCatchesMissedCountdown(t *testing.T) {
	e := newEnv(t, "u1")
	e.start(t, "s1", "u1", 600*time.Second, t0)
	e.clock.Set(t0.Add(630 * time.Second))
	sw := sweep.New(sweep.Config{Store: e.store, Directory: e.dir, Clock: e.clock})
	rep, err := sw.Run(context.Background(), sweep.Options{})
	if err != nil || len(rep.Errors) > 0 {
		t.Fatalf("sweep: %v %v", err, rep.Errors)
	}
	if rep.Deleted != 1 || rep.Warned != 0 {
		t.Errorf("sweep: got deleted %d warned %d, want 1 and 0", rep.Deleted, rep.Warned)
	}
	task := countdown.NewTask(e.store, e.clock, nil)
	for _, action := range []string{countdown.ActionWarn, countdown.ActionExpire} {
		res, err := task.Run(context.Background(), action, "s1")
		if err != nil || res.Outcome != countdown.OutcomeAlreadyDeleted {
			t.Errorf("late %s: got %q, %v, want %q", action, res.Outcome, err, countdown.OutcomeAlreadyDeleted)
		}
	}
	if got, want := e.events(t, "s1"), "created time_limit_reached deleted"; got != want {
		t.Errorf("events: got %q, want %q", got, want)
	}
	if got := e.lastEvent(t, "s1").Actor; got != lifecycle.ActorSweep {
		t.Errorf("actor: got %q, want %q", got, lifecycle.ActorSweep)
	}
}
