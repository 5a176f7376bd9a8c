package lifecycle

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func lifetime() Lifetime {
	return Lifetime{
		KeepaliveExpiration: time.Hour,
		Action:              ActionDelete,
		KeepaliveInterval:   5 * time.Minute,
		IdleDisconnect:      20 * time.Minute,
		MaxSessions:         5,
	}
}

// session returns a running session started at t0 and changed by opts.
func session(opts ...func(*Session)) Session {
	s, _ := NewSession("s1", "u1", "img", true, lifetime(), t0)
	for _, o := range opts {
		o(&s)
	}
	return s
}

func status(st Status) func(*Session) { return func(s *Session) { s.Status = st } }
func action(a Action) func(*Session)  { return func(s *Session) { s.Lifetime.Action = a } }
func nonContainer(s *Session)         { s.Container = false }
func timeLimit(d time.Duration) func(*Session) {
	return func(s *Session) {
		lt := s.Lifetime
		lt.TimeLimit = d
		*s, _ = NewSession(s.ID, s.UserID, s.ImageID, s.Container, lt, s.CreatedAt)
	}
}
func usageDeadline(t time.Time) func(*Session) {
	return func(s *Session) { s.UsageDeadline = t; s.DueAt = NextDue(*s) }
}

func TestLifetimeFrom(t *testing.T) {
	group := func(kv ...string) []settings.GroupInput {
		g := settings.GroupInput{ID: "g", Name: "g", Priority: 10, Settings: map[string]json.RawMessage{}}
		for i := 0; i < len(kv); i += 2 {
			g.Settings[kv[i]] = json.RawMessage(kv[i+1])
		}
		return []settings.GroupInput{g}
	}
	tests := []struct {
		name   string
		groups []settings.GroupInput
		want   Lifetime
	}{
		{"catalog defaults", nil, Lifetime{
			KeepaliveExpiration: 3600 * time.Second, Action: ActionDelete, KeepaliveInterval: 300 * time.Second,
			IdleDisconnect: 20 * time.Minute, TimeLimit: 0, MaxSessions: 2,
		}},
		{"group values, idle minutes to seconds", group(
			"keepalive_expiration", "2", "keepalive_expiration_action", `"stop"`, "keepalive_interval", "1",
			"idle_disconnect", "0.5", "session_time_limit", "3", "max_kasms_per_user", "5"),
			Lifetime{KeepaliveExpiration: 2 * time.Second, Action: ActionStop, KeepaliveInterval: time.Second,
				IdleDisconnect: 30 * time.Second, TimeLimit: 3 * time.Second, MaxSessions: 5}},
		{"pause and zero max", group("keepalive_expiration_action", `"pause"`, "max_kasms_per_user", "0"),
			Lifetime{KeepaliveExpiration: time.Hour, Action: ActionPause, KeepaliveInterval: 5 * time.Minute,
				IdleDisconnect: 20 * time.Minute, MaxSessions: 0}},
		{"unknown action falls back to delete", group("keepalive_expiration_action", `"explode"`),
			Lifetime{KeepaliveExpiration: time.Hour, Action: ActionDelete, KeepaliveInterval: 5 * time.Minute,
				IdleDisconnect: 20 * time.Minute, MaxSessions: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := LifetimeFrom(settings.Resolve(tc.groups))
			if got != tc.want {
				t.Errorf("LifetimeFrom() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNewSession(t *testing.T) {
	tests := []struct {
		name                          string
		timeLimit                     time.Duration
		wantExpires, wantLimit, wantW time.Time
		wantDue                       time.Time
	}{
		{"no time limit", 0, t0.Add(time.Hour), time.Time{}, time.Time{}, t0.Add(time.Hour)},
		{"long limit warns 300 s before", 2 * time.Hour, t0.Add(2 * time.Hour), t0.Add(2 * time.Hour),
			t0.Add(2*time.Hour - 300*time.Second), t0.Add(2*time.Hour - 300*time.Second)},
		{"short limit warns at half", 3 * time.Second, t0.Add(3 * time.Second), t0.Add(3 * time.Second),
			t0.Add(1500 * time.Millisecond), t0.Add(1500 * time.Millisecond)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lt := lifetime()
			lt.TimeLimit = tc.timeLimit
			s, ev := NewSession("s1", "u1", "img", false, lt, t0.Add(123456*time.Nanosecond))
			if s.Status != StatusRunning || !s.Connected || s.EventSeq != 1 {
				t.Errorf("status, connected, seq = %s, %v, %d; want running, true, 1", s.Status, s.Connected, s.EventSeq)
			}
			if !s.CreatedAt.Equal(t0) {
				t.Errorf("CreatedAt = %v, want %v (millisecond precision)", s.CreatedAt, t0)
			}
			for _, c := range []struct {
				what      string
				got, want time.Time
			}{{"ExpiresAt", s.ExpiresAt, tc.wantExpires}, {"TimeLimitAt", s.TimeLimitAt, tc.wantLimit},
				{"TimeLimitWarnAt", s.TimeLimitWarnAt, tc.wantW}, {"DueAt", s.DueAt, tc.wantDue}} {
				if !c.got.Equal(c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
			if ev.Type != EventCreated || ev.Seq != 1 || ev.EventID != "s1:1" || ev.StatusAfter != StatusRunning {
				t.Errorf("created event = %+v", ev)
			}
		})
	}
}

func TestNextDue(t *testing.T) {
	exp := t0.Add(time.Hour)
	tests := []struct {
		name string
		s    Session
		want time.Time
	}{
		{"running: its expiry", session(), exp},
		{"deleted: nothing", session(status(StatusDeleted)), time.Time{}},
		{"paused, delete: expiry", session(status(StatusPaused)), exp},
		{"stopped, delete: expiry", session(status(StatusStopped)), exp},
		{"paused, stop: expiry", session(status(StatusPaused), action(ActionStop)), exp},
		{"stopped, stop: nothing", session(status(StatusStopped), action(ActionStop)), time.Time{}},
		{"paused, pause: nothing", session(status(StatusPaused), action(ActionPause)), time.Time{}},
		{"stopped, pause: nothing", session(status(StatusStopped), action(ActionPause)), time.Time{}},
		{"stopped non-container, stop means delete: expiry", session(status(StatusStopped), action(ActionStop), nonContainer), exp},
		{"time limit: the warning first", session(timeLimit(2 * time.Hour)), t0.Add(2*time.Hour - 300*time.Second)},
		{"time limit, warning sent: the limit", session(timeLimit(2*time.Hour), func(s *Session) { s.TimeLimitWarnAt = time.Time{} }), t0.Add(2 * time.Hour)},
		{"stopped time-limited: still the limit", session(timeLimit(2*time.Hour), status(StatusStopped), action(ActionStop)), t0.Add(2*time.Hour - 300*time.Second)},
		{"usage deadline earlier", session(usageDeadline(t0.Add(time.Minute))), t0.Add(time.Minute)},
		{"usage deadline later", session(usageDeadline(t0.Add(2 * time.Hour))), exp},
		{"usage deadline on a stopped session left alone", session(status(StatusStopped), action(ActionStop), usageDeadline(t0.Add(2*time.Hour))), t0.Add(2 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextDue(tc.s); !got.Equal(tc.want) {
				t.Errorf("NextDue() = %v, want %v", got, tc.want)
			}
		})
	}
}

func eventTypes(c Change) []EventType {
	var out []EventType
	for _, e := range c.Events {
		out = append(out, e.Type)
	}
	return out
}

func sameTypes(a, b []EventType) bool {
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

func TestDecide(t *testing.T) {
	expired := t0.Add(time.Hour)
	before := t0.Add(time.Hour - time.Millisecond)
	tests := []struct {
		name       string
		s          Session
		now        time.Time
		want       Outcome
		wantStatus Status
		wantEvents []EventType
		wantReason string
		wantDue    time.Time
	}{
		{"not yet expired", session(), before, OutcomeNone, StatusRunning, nil, "", expired},
		{"expired, delete", session(), expired, OutcomeDelete, StatusDeleted,
			[]EventType{EventKeepaliveExpired, EventDeleted}, ReasonKeepaliveExpired, time.Time{}},
		{"expired container, stop", session(action(ActionStop)), expired, OutcomeStop, StatusStopped,
			[]EventType{EventKeepaliveExpired, EventStopped}, ReasonKeepaliveExpired, time.Time{}},
		{"expired container, pause", session(action(ActionPause)), expired, OutcomePause, StatusPaused,
			[]EventType{EventKeepaliveExpired, EventPaused}, ReasonKeepaliveExpired, time.Time{}},
		{"expired non-container, stop deletes", session(action(ActionStop), nonContainer), expired, OutcomeDelete, StatusDeleted,
			[]EventType{EventKeepaliveExpired, EventDeleted}, ReasonKeepaliveExpired, time.Time{}},
		{"expired non-container, pause deletes", session(action(ActionPause), nonContainer), expired, OutcomeDelete, StatusDeleted,
			[]EventType{EventKeepaliveExpired, EventDeleted}, ReasonKeepaliveExpired, time.Time{}},
		{"stop applies to a paused container session", session(action(ActionStop), status(StatusPaused)), expired, OutcomeStop, StatusStopped,
			[]EventType{EventKeepaliveExpired, EventStopped}, ReasonKeepaliveExpired, time.Time{}},
		{"already stopped, stop: left alone, leaves the index", session(action(ActionStop), status(StatusStopped)), expired,
			OutcomeLeaveAlone, StatusStopped, nil, "already_stopped", time.Time{}},
		{"already paused, pause: left alone", session(action(ActionPause), status(StatusPaused)), expired,
			OutcomeLeaveAlone, StatusPaused, nil, "already_paused", time.Time{}},
		{"stopped is past pause: left alone", session(action(ActionPause), status(StatusStopped)), expired,
			OutcomeLeaveAlone, StatusStopped, nil, "already_stopped", time.Time{}},
		{"stopped, delete: deleted", session(status(StatusStopped)), expired, OutcomeDelete, StatusDeleted,
			[]EventType{EventKeepaliveExpired, EventDeleted}, ReasonKeepaliveExpired, time.Time{}},
		{"deleted in the index: leaves it", session(status(StatusDeleted)), expired, OutcomeLeaveAlone, StatusDeleted, nil, "nothing_due", time.Time{}},
		{"time-limited, keepalive expiry ignored", session(timeLimit(2 * time.Hour)), expired, OutcomeNone, StatusRunning, nil, "",
			t0.Add(2*time.Hour - 300*time.Second)},
		{"time-limit warning due", session(timeLimit(2 * time.Hour)), t0.Add(2*time.Hour - 300*time.Second), OutcomeWarn, StatusRunning,
			[]EventType{EventTimeLimitWarning}, ReasonTimeLimitWarning, t0.Add(2 * time.Hour)},
		{"time limit reached", session(timeLimit(2*time.Hour), func(s *Session) { s.TimeLimitWarnAt = time.Time{} }), t0.Add(2 * time.Hour),
			OutcomeDelete, StatusDeleted, []EventType{EventTimeLimitReached, EventDeleted}, ReasonTimeLimitReached, time.Time{}},
		{"time limit caught up late: no stale warning", session(timeLimit(2 * time.Hour)), t0.Add(3 * time.Hour),
			OutcomeDelete, StatusDeleted, []EventType{EventTimeLimitReached, EventDeleted}, ReasonTimeLimitReached, time.Time{}},
		{"time limit deletes a stopped session", session(timeLimit(2*time.Hour), status(StatusStopped)), t0.Add(2 * time.Hour),
			OutcomeDelete, StatusDeleted, []EventType{EventTimeLimitReached, EventDeleted}, ReasonTimeLimitReached, time.Time{}},
		{"usage deadline passed", session(usageDeadline(t0.Add(time.Minute))), t0.Add(time.Minute),
			OutcomeDelete, StatusDeleted, []EventType{EventUsageLimitReached, EventDeleted}, ReasonUsageLimitReached, time.Time{}},
		{"usage deadline deletes a session left alone", session(action(ActionStop), status(StatusStopped), usageDeadline(t0.Add(2*time.Hour))),
			t0.Add(2 * time.Hour), OutcomeDelete, StatusDeleted, []EventType{EventUsageLimitReached, EventDeleted}, ReasonUsageLimitReached, time.Time{}},
		{"due time behind the expiry: rescheduled", session(func(s *Session) { s.DueAt = t0 }), t0.Add(time.Minute),
			OutcomeReschedule, StatusRunning, nil, "not_due", expired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Decide(tc.s, tc.now)
			if c.Outcome != tc.want || c.Reason != tc.wantReason {
				t.Fatalf("outcome, reason = %q, %q; want %q, %q", c.Outcome, c.Reason, tc.want, tc.wantReason)
			}
			if c.After.Status != tc.wantStatus {
				t.Errorf("status after = %s, want %s", c.After.Status, tc.wantStatus)
			}
			if got := eventTypes(c); !sameTypes(got, tc.wantEvents) {
				t.Errorf("events = %v, want %v", got, tc.wantEvents)
			}
			if !c.After.DueAt.Equal(tc.wantDue) {
				t.Errorf("due after = %v, want %v", c.After.DueAt, tc.wantDue)
			}
			if c.Guard != GuardObserved {
				t.Errorf("guard = %v, want GuardObserved", c.Guard)
			}
			if got, want := c.After.EventSeq, tc.s.EventSeq+int64(len(c.Events)); got != want {
				t.Errorf("event seq after = %d, want %d", got, want)
			}
			for i, e := range c.Events {
				if e.Seq != tc.s.EventSeq+int64(i)+1 || e.Actor != ActorSweep || !e.At.Equal(tc.now) {
					t.Errorf("event %d = %+v, want seq %d by %s at %v", i, e, tc.s.EventSeq+int64(i)+1, ActorSweep, tc.now)
				}
			}
			if c.After.Status == StatusDeleted && tc.s.Status != StatusDeleted {
				if !c.Ends() || !c.TTL().Equal(tc.now.Add(FinishedRetention)) {
					t.Errorf("Ends, TTL = %v, %v; want true, %v", c.Ends(), c.TTL(), tc.now.Add(FinishedRetention))
				}
			}
		})
	}
}

func TestDecideAs(t *testing.T) {
	c := DecideAs(session(timeLimit(time.Hour)), t0.Add(time.Hour), ActorCountdown)
	if c.Outcome != OutcomeDelete || len(c.Events) != 2 || c.Events[0].Actor != ActorCountdown || c.Events[1].Actor != ActorCountdown {
		t.Errorf("DecideAs() = %q with events %+v, want a delete by %s", c.Outcome, c.Events, ActorCountdown)
	}
}

// TestDecideNotAgain checks that a session a sweep changed is not changed again by a later sweep.
func TestDecideNotAgain(t *testing.T) {
	for _, a := range []Action{ActionDelete, ActionStop, ActionPause} {
		t.Run(string(a), func(t *testing.T) {
			c := Decide(session(action(a)), t0.Add(time.Hour))
			if c.None() {
				t.Fatalf("first sweep did nothing")
			}
			for _, later := range []time.Duration{time.Hour, 48 * time.Hour} {
				if again := Decide(c.After, t0.Add(time.Hour+later)); !again.None() {
					t.Errorf("later sweep = %q %q, want nothing", again.Outcome, again.Reason)
				}
			}
		})
	}
}

func TestAct(t *testing.T) {
	all := Permissions{Pause: true, Stop: true, Delete: true}
	now := t0.Add(10 * time.Minute)
	tests := []struct {
		name       string
		s          Session
		op         Op
		actor      Actor
		perms      Permissions
		wantKind   policy.Kind
		wantCode   string
		wantField  string
		want       Outcome
		wantStatus Status
		wantEvent  EventType
	}{
		{"user pauses own running session", session(), OpPause, UserActor("u1"), all, "", "", "", OutcomePause, StatusPaused, EventPaused},
		{"user stops a running session", session(), OpStop, UserActor("u1"), all, "", "", "", OutcomeStop, StatusStopped, EventStopped},
		{"user stops a paused session", session(status(StatusPaused)), OpStop, UserActor("u1"), all, "", "", "", OutcomeStop, StatusStopped, EventStopped},
		{"user resumes a paused session", session(status(StatusPaused)), OpResume, UserActor("u1"), Permissions{}, "", "", "", OutcomeResume, StatusRunning, EventResumed},
		{"user resumes a stopped session", session(status(StatusStopped)), OpResume, UserActor("u1"), Permissions{}, "", "", "", OutcomeResume, StatusRunning, EventResumed},
		{"user deletes", session(), OpDelete, UserActor("u1"), all, "", "", "", OutcomeDelete, StatusDeleted, EventDeleted},
		{"user deletes a stopped non-container session", session(status(StatusStopped), nonContainer), OpDelete, UserActor("u1"), all, "", "", "", OutcomeDelete, StatusDeleted, EventDeleted},
		{"admin deletes without permissions", session(), OpDelete, AdminActor(), Permissions{}, "", "", "", OutcomeDelete, StatusDeleted, EventDeleted},
		{"admin pauses another user's session", session(), OpPause, AdminActor(), Permissions{}, "", "", "", OutcomePause, StatusPaused, EventPaused},
		{"pause without allow_kasm_pause", session(), OpPause, UserActor("u1"), Permissions{Stop: true, Delete: true},
			policy.KindForbidden, policy.CodePermissionDenied, "allow_kasm_pause", "", "", ""},
		{"stop without allow_kasm_stop", session(), OpStop, UserActor("u1"), Permissions{Pause: true, Delete: true},
			policy.KindForbidden, policy.CodePermissionDenied, "allow_kasm_stop", "", "", ""},
		{"delete without allow_kasm_delete", session(), OpDelete, UserActor("u1"), Permissions{Pause: true, Stop: true},
			policy.KindForbidden, policy.CodePermissionDenied, "allow_kasm_delete", "", "", ""},
		{"another user's session", session(), OpDelete, UserActor("u2"), all, policy.KindForbidden, policy.CodeNotSessionOwner, "", "", "", ""},
		{"resume of another user's session", session(status(StatusPaused)), OpResume, UserActor("u2"), all, policy.KindForbidden, policy.CodeNotSessionOwner, "", "", "", ""},
		{"pause a non-container session", session(nonContainer), OpPause, UserActor("u1"), all, policy.KindConflict, policy.CodeUnsupportedType, "container", "", "", ""},
		{"admin stops a non-container session", session(nonContainer), OpStop, AdminActor(), all, policy.KindConflict, policy.CodeUnsupportedType, "container", "", "", ""},
		{"pause a stopped session", session(status(StatusStopped)), OpPause, UserActor("u1"), all, policy.KindConflict, policy.CodeInvalidTransition, "", "", "", ""},
		{"act on a deleted session", session(status(StatusDeleted)), OpDelete, UserActor("u1"), all, policy.KindGone, policy.CodeSessionDeleted, "", "", "", ""},
		{"resume a deleted session", session(status(StatusDeleted)), OpResume, AdminActor(), all, policy.KindGone, policy.CodeSessionDeleted, "", "", "", ""},
		{"unknown action", session(), Op("explode"), AdminActor(), all, policy.KindInvalid, "invalid_action", "", "", "", ""},
		{"pause a paused session: nothing", session(status(StatusPaused)), OpPause, UserActor("u1"), all, "", "", "", OutcomeNone, StatusPaused, ""},
		{"stop a stopped session: nothing", session(status(StatusStopped)), OpStop, UserActor("u1"), all, "", "", "", OutcomeNone, StatusStopped, ""},
		{"resume a running session: nothing", session(), OpResume, UserActor("u1"), all, "", "", "", OutcomeNone, StatusRunning, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Act(tc.s, tc.op, tc.actor, tc.perms, now)
			if tc.wantKind != "" {
				var pe *policy.Error
				if err == nil {
					t.Fatalf("Act() = %q, want a %s error", c.Outcome, tc.wantKind)
				}
				pe, _ = err.(*policy.Error)
				if pe == nil || pe.Kind != tc.wantKind || pe.Code != tc.wantCode || pe.Field != tc.wantField {
					t.Fatalf("Act() error = %#v, want kind %s code %s field %q", err, tc.wantKind, tc.wantCode, tc.wantField)
				}
				if tc.wantField != "" && !strings.Contains(pe.Message, tc.wantField) {
					t.Errorf("message %q does not name %s", pe.Message, tc.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("Act() error = %v", err)
			}
			if c.Outcome != tc.want || c.After.Status != tc.wantStatus {
				t.Fatalf("outcome, status = %q, %s; want %q, %s", c.Outcome, c.After.Status, tc.want, tc.wantStatus)
			}
			if tc.want == OutcomeNone {
				if len(c.Events) != 0 {
					t.Errorf("events = %v, want none", eventTypes(c))
				}
				return
			}
			if c.Guard != GuardSeq {
				t.Errorf("guard = %v, want GuardSeq", c.Guard)
			}
			if len(c.Events) != 1 || c.Events[0].Type != tc.wantEvent || c.Events[0].Actor != tc.actor.String() ||
				c.Events[0].StatusBefore != tc.s.Status || c.Events[0].StatusAfter != tc.wantStatus {
				t.Errorf("events = %+v, want one %s by %s", c.Events, tc.wantEvent, tc.actor)
			}
			wantReason := map[bool]string{true: "admin_", false: "user_"}[tc.actor.Admin] + pastTense[tc.op]
			if c.Reason != wantReason || c.Events[0].Reason != wantReason {
				t.Errorf("reason = %q, want %q", c.Reason, wantReason)
			}
			if tc.wantStatus == StatusRunning {
				if !c.After.ExpiresAt.Equal(now.Add(time.Hour)) || !c.After.DueAt.Equal(now.Add(time.Hour)) || !c.After.Connected || c.After.ExpirationReason != "" {
					t.Errorf("resumed: expires %v due %v connected %v reason %q; want re-armed to %v, connected, no reason",
						c.After.ExpiresAt, c.After.DueAt, c.After.Connected, c.After.ExpirationReason, now.Add(time.Hour))
				}
			} else if c.After.Connected || c.After.ExpirationReason != wantReason {
				t.Errorf("connected, reason = %v, %q; want false, %q", c.After.Connected, c.After.ExpirationReason, wantReason)
			}
		})
	}
}

func TestActResumeTimeLimited(t *testing.T) {
	s := session(timeLimit(2*time.Hour), status(StatusStopped))
	c, err := Act(s, OpResume, UserActor("u1"), Permissions{}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !c.After.ExpiresAt.Equal(s.TimeLimitAt) || !c.After.DueAt.Equal(s.TimeLimitWarnAt) {
		t.Errorf("expires, due = %v, %v; want the limit %v and the warning %v", c.After.ExpiresAt, c.After.DueAt, s.TimeLimitAt, s.TimeLimitWarnAt)
	}
}

func TestJudgeKeepalive(t *testing.T) {
	now := t0.Add(time.Minute)
	tests := []struct {
		name  string
		s     Session
		found bool
		user  string
		idle  time.Duration
		want  KeepaliveVerdict
		code  string
	}{
		{"running", session(), true, "", 0, KeepaliveExtend, ""},
		{"running, its owner", session(), true, "u1", 0, KeepaliveExtend, ""},
		{"another user's", session(), true, "u2", 0, KeepaliveNotOwner, policy.CodeNotSessionOwner},
		{"another user's deleted session", session(status(StatusDeleted)), true, "u2", 0, KeepaliveNotOwner, policy.CodeNotSessionOwner},
		{"running, a little idle", session(), true, "", 19 * time.Minute, KeepaliveExtend, ""},
		{"missing", Session{}, false, "", 0, KeepaliveMissing, policy.CodeSessionNotFound},
		{"deleted", session(status(StatusDeleted)), true, "", 0, KeepaliveGone, policy.CodeSessionDeleted},
		{"paused", session(status(StatusPaused)), true, "", 0, KeepaliveNotRunning, policy.CodeSessionNotRunning},
		{"stopped", session(status(StatusStopped)), true, "", 0, KeepaliveNotRunning, policy.CodeSessionNotRunning},
		{"usage reached", session(usageDeadline(now)), true, "", 0, KeepaliveUsageReached, ""},
		{"usage not yet reached", session(usageDeadline(now.Add(time.Millisecond))), true, "", 0, KeepaliveExtend, ""},
		{"idle exactly the limit", session(), true, "", 20 * time.Minute, KeepaliveIdle, ""},
		{"idle and time-limited", session(timeLimit(time.Hour)), true, "", time.Hour, KeepaliveIdle, ""},
		{"time-limited", session(timeLimit(time.Hour)), true, "", 0, KeepaliveTimeLimited, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := JudgeKeepalive(tc.s, tc.found, tc.user, now, tc.idle)
			if got != tc.want {
				t.Fatalf("JudgeKeepalive() = %d, want %d", got, tc.want)
			}
			if code := policy.CodeOf(got.Err("s1")); (tc.code == "" && got.Err("s1") != nil) || (tc.code != "" && code != tc.code) {
				t.Errorf("Err() code = %q, want %q", code, tc.code)
			}
			r := got.Result(tc.s)
			if r.UsageReached != (tc.want == KeepaliveUsageReached) || r.Disconnect != (tc.want == KeepaliveIdle) {
				t.Errorf("Result() = %+v", r)
			}
		})
	}
}

func TestDisconnect(t *testing.T) {
	now := t0.Add(time.Minute)
	tests := []struct {
		name string
		s    Session
		want Outcome
	}{
		{"connected", session(), OutcomeDisconnect},
		{"already disconnected", session(func(s *Session) { s.Connected = false }), OutcomeNone},
		{"paused", session(status(StatusPaused)), OutcomeNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Disconnect(tc.s, now)
			if c.Outcome != tc.want {
				t.Fatalf("outcome = %q, want %q", c.Outcome, tc.want)
			}
			if tc.want == OutcomeNone {
				return
			}
			if c.After.Connected || !c.After.ExpiresAt.Equal(tc.s.ExpiresAt) || !c.After.DueAt.Equal(tc.s.DueAt) {
				t.Errorf("after = connected %v expires %v due %v; want disconnected, expiry unchanged", c.After.Connected, c.After.ExpiresAt, c.After.DueAt)
			}
			if got := eventTypes(c); !sameTypes(got, []EventType{EventDisconnected}) || c.Guard != GuardSeq {
				t.Errorf("events, guard = %v, %v", got, c.Guard)
			}
		})
	}
}

func TestExtend(t *testing.T) {
	now := t0.Add(30 * time.Minute)
	tests := []struct {
		name        string
		s           Session
		wantExpires time.Time
		wantDue     time.Time
	}{
		{"plain", session(func(s *Session) { s.Connected = false }), now.Add(time.Hour), now.Add(time.Hour)},
		{"time-limited keeps the limit", session(timeLimit(2 * time.Hour)), t0.Add(2 * time.Hour), t0.Add(2*time.Hour - 300*time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Extend(tc.s, now)
			if !got.ExpiresAt.Equal(tc.wantExpires) || !got.DueAt.Equal(tc.wantDue) || !got.Connected || !got.LastKeepaliveAt.Equal(now) {
				t.Errorf("Extend() = expires %v due %v connected %v last %v; want %v %v true %v",
					got.ExpiresAt, got.DueAt, got.Connected, got.LastKeepaliveAt, tc.wantExpires, tc.wantDue, now)
			}
		})
	}
}

func TestResync(t *testing.T) {
	rev := t0.Add(time.Minute).UnixMilli()
	shorter := lifetime()
	shorter.KeepaliveExpiration = 10 * time.Minute
	toDelete := lifetime()
	toDelete.Action = ActionDelete
	tests := []struct {
		name        string
		s           Session
		lt          Lifetime
		rev         int64
		wantChanged bool
		wantExpires time.Time
		wantDue     time.Time
	}{
		{"shorter expiration recomputed from the last keepalive", session(), shorter, rev, true, t0.Add(10 * time.Minute), t0.Add(10 * time.Minute)},
		{"same settings: nothing", session(), lifetime(), rev, false, t0.Add(time.Hour), t0.Add(time.Hour)},
		{"older revision: nothing", session(), shorter, t0.UnixMilli() - 1, false, t0.Add(time.Hour), t0.Add(time.Hour)},
		{"deleted: nothing", session(status(StatusDeleted)), shorter, rev, false, t0.Add(time.Hour), t0.Add(time.Hour)},
		{"stopped, action becomes delete: due again", session(action(ActionStop), status(StatusStopped), func(s *Session) { s.DueAt = time.Time{} }),
			toDelete, rev, true, t0.Add(time.Hour), t0.Add(time.Hour)},
		{"time-limited keeps its limit", session(timeLimit(2 * time.Hour)), shorter, rev, true, t0.Add(2 * time.Hour), t0.Add(2*time.Hour - 300*time.Second)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Resync(tc.s, tc.lt, tc.rev)
			got, changed := c.After, !c.None()
			if changed && (c.Guard != GuardSeq || len(c.Events) != 0) {
				t.Errorf("guard, events = %v, %d; want GuardSeq and no event", c.Guard, len(c.Events))
			}
			if changed != tc.wantChanged {
				t.Fatalf("changed = %v, want %v", changed, tc.wantChanged)
			}
			if !changed {
				got = tc.s
			}
			if !got.ExpiresAt.Equal(tc.wantExpires) || !got.DueAt.Equal(tc.wantDue) {
				t.Errorf("expires, due = %v, %v; want %v, %v", got.ExpiresAt, got.DueAt, tc.wantExpires, tc.wantDue)
			}
			if changed && (got.SettingsRev != tc.rev || got.Lifetime.KeepaliveExpiration != tc.lt.KeepaliveExpiration || got.Lifetime.Action != tc.lt.Action) {
				t.Errorf("after = rev %d lifetime %+v, want rev %d lifetime %+v", got.SettingsRev, got.Lifetime, tc.rev, tc.lt)
			}
			if got.TimeLimitAt != tc.s.TimeLimitAt {
				t.Errorf("time limit changed: %v, want %v", got.TimeLimitAt, tc.s.TimeLimitAt)
			}
		})
	}
}

func TestActorString(t *testing.T) {
	tests := []struct {
		name string
		a    Actor
		want string
	}{{"admin", AdminActor(), "admin"}, {"user", UserActor("u1"), "user:u1"}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
