// Package lifecycle holds the rules of a session's life: its states and the actions allowed
// from each, the lifetime settings a session keeps from its start, what a keepalive may do, and
// what the sweep must do with a session at a given time. It is pure Go: no I/O, time passed in.
package lifecycle

import (
	"encoding/json"
	"time"

	"wspolicy/internal/settings"
)

// Status is the state of a session.
type Status string

// The session states.
const (
	StatusRunning Status = "running"
	StatusPaused  Status = "paused"
	StatusStopped Status = "stopped"
	StatusDeleted Status = "deleted"
)

// Valid reports whether s is one of the four states.
func (s Status) Valid() bool {
	switch s {
	case StatusRunning, StatusPaused, StatusStopped, StatusDeleted:
		return true
	}
	return false
}

// Action is a keepalive_expiration_action.
type Action string

// The keepalive expiration actions.
const (
	ActionDelete Action = "delete"
	ActionStop   Action = "stop"
	ActionPause  Action = "pause"
)

// WarningLead is how long before a session time limit the warning is due, unless half the limit
// is shorter.
const WarningLead = 300 * time.Second

// FinishedRetention is how long a deleted session (and its events) stays readable before TTL
// cleans it up.
const FinishedRetention = 7 * 24 * time.Hour

// Lifetime is the snapshot of a user's effective lifetime settings taken when a session starts.
// KeepaliveExpiration, Action, KeepaliveInterval and IdleDisconnect stay on the session and a
// settings re-sync may replace them; TimeLimit is fixed at start; MaxSessions only gates the start.
type Lifetime struct {
	KeepaliveExpiration time.Duration
	Action              Action
	KeepaliveInterval   time.Duration
	IdleDisconnect      time.Duration
	TimeLimit           time.Duration
	MaxSessions         int64
}

// LifetimeFrom takes the lifetime snapshot from a user's effective settings. Values outside the
// catalog's range (which validation prevents) are clamped to something safe.
func LifetimeFrom(r settings.Resolution) Lifetime {
	lt := Lifetime{
		KeepaliveExpiration: time.Duration(r.KeepaliveExpiration()) * time.Second,
		Action:              Action(r.KeepaliveExpirationAction()),
		KeepaliveInterval:   time.Duration(r.KeepaliveInterval()) * time.Second,
		IdleDisconnect:      time.Duration(r.IdleDisconnect() * float64(time.Minute)),
		TimeLimit:           time.Duration(r.SessionTimeLimit()) * time.Second,
		MaxSessions:         r.MaxKasmsPerUser(),
	}
	switch lt.Action {
	case ActionDelete, ActionStop, ActionPause:
	default:
		lt.Action = ActionDelete
	}
	if lt.KeepaliveExpiration < time.Second {
		lt.KeepaliveExpiration = time.Second
	}
	if lt.KeepaliveInterval < time.Second {
		lt.KeepaliveInterval = time.Second
	}
	if lt.IdleDisconnect <= 0 {
		lt.IdleDisconnect = time.Millisecond
	}
	if lt.TimeLimit < 0 {
		lt.TimeLimit = 0
	}
	if lt.MaxSessions < 0 {
		lt.MaxSessions = 0
	}
	return lt
}

// Session is the stored state of one session. Times are UTC with millisecond precision (the
// precision they are stored with); a zero time means "none".
type Session struct {
	ID        string
	UserID    string
	ImageID   string
	Container bool
	Status    Status
	Connected bool

	CreatedAt       time.Time
	LastKeepaliveAt time.Time
	ExpiresAt       time.Time
	// ExpirationReason says why the session last left the running state; "" while running.
	ExpirationReason string

	// Lifetime holds the lifetime settings in force.
	Lifetime Lifetime
	// TimeLimitAt is created + session_time_limit; zero when the session has no time limit.
	TimeLimitAt time.Time
	// TimeLimitWarnAt is when the warning is due; zero when none or already sent.
	TimeLimitWarnAt time.Time
	// UsageDeadline is when the budget the session is charged to runs out (issue 4); zero: none.
	// For a session charged to a budget (Budget set) it is only the keepalive's gate, as of the
	// session's start or last refresh: the budget's ledger, due in the sweep at its own
	// deadline, is what ends the session (see UsageLimitReached).
	UsageDeadline time.Time
	// Budget is the ledger key of that budget, "" when none.
	Budget string
	// SettingsRev orders the lifetime snapshots: the epoch ms of the resolution they came from.
	SettingsRev int64
	// EventSeq is the sequence number of the session's last event.
	EventSeq int64
	// DueAt is when the sweep must look at the session next; zero: not in the due index.
	DueAt time.Time

	ClientSettings json.RawMessage
	Launch         json.RawMessage
}

// TimeLimited reports whether the session has a session time limit.
func (s Session) TimeLimited() bool { return !s.TimeLimitAt.IsZero() }

// EffectiveAction is the keepalive expiration action that applies to this session: stop and
// pause apply to container sessions only, any other session is deleted.
func (s Session) EffectiveAction() Action {
	if !s.Container {
		return ActionDelete
	}
	return s.Lifetime.Action
}

// expiryApplies reports whether keepalive expiry can still change the session: it cannot for a
// time-limited session, nor for one already in (or past) the target state of its action.
func (s Session) expiryApplies() bool {
	if s.Status == StatusDeleted || s.TimeLimited() {
		return false
	}
	switch s.EffectiveAction() {
	case ActionStop:
		return s.Status == StatusRunning || s.Status == StatusPaused
	case ActionPause:
		return s.Status == StatusRunning
	}
	return true
}

// NextDue is when the sweep must next look at the session: the time-limit warning or limit,
// else the keepalive expiry when it still applies, and the usage deadline of a session not
// charged to a budget ledger, whichever comes first. Zero means nothing is due (deleted
// sessions, sessions left in their target state).
func NextDue(s Session) time.Time {
	if s.Status == StatusDeleted {
		return time.Time{}
	}
	var t time.Time
	switch {
	case s.TimeLimited() && !s.TimeLimitWarnAt.IsZero():
		t = s.TimeLimitWarnAt
	case s.TimeLimited():
		t = s.TimeLimitAt
	case s.expiryApplies():
		t = s.ExpiresAt
	}
	if s.usageDeadlineApplies() && (t.IsZero() || s.UsageDeadline.Before(t)) {
		t = s.UsageDeadline
	}
	return t
}

// usageDeadlineApplies reports whether the sweep ends the session at its own usage deadline.
// A session charged to a budget is not: its deadline may be stale in either direction (other
// sessions of the budget started or ended since), so the budget's ledger decides.
func (s Session) usageDeadlineApplies() bool { return !s.UsageDeadline.IsZero() && s.Budget == "" }

// Millis returns t in UTC truncated to the millisecond, the precision sessions are stored with.
func Millis(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// NewSession builds a session that starts now with the lifetime snapshot lt, and its created
// event (sequence 1). A time-limited session expires at its limit; others at now + keepalive
// expiration.
func NewSession(id, userID, imageID string, container bool, lt Lifetime, now time.Time) (Session, Event) {
	now = Millis(now)
	s := Session{
		ID:              id,
		UserID:          userID,
		ImageID:         imageID,
		Container:       container,
		Status:          StatusRunning,
		Connected:       true,
		CreatedAt:       now,
		LastKeepaliveAt: now,
		ExpiresAt:       Millis(now.Add(lt.KeepaliveExpiration)),
		Lifetime:        lt,
		SettingsRev:     now.UnixMilli(),
		EventSeq:        1,
	}
	if lt.TimeLimit > 0 {
		s.TimeLimitAt = Millis(now.Add(lt.TimeLimit))
		s.ExpiresAt = s.TimeLimitAt
		lead := min(WarningLead, lt.TimeLimit/2)
		s.TimeLimitWarnAt = Millis(s.TimeLimitAt.Add(-lead))
	}
	s.DueAt = NextDue(s)
	ev := newEvent(s, 1, EventCreated, "user:"+userID, "started", now, "", StatusRunning)
	return s, ev
}
