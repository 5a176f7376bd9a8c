package lifecycle

import (
	"time"

	"wspolicy/internal/policy"
)

// KeepaliveVerdict is why a keepalive could not simply extend a session.
type KeepaliveVerdict int

// The keepalive verdicts, in the order they are checked.
const (
	// KeepaliveExtend: the session is running, not time-limited, within its usage budget and
	// not idle: expires_at = now + keepalive_expiration.
	KeepaliveExtend KeepaliveVerdict = iota
	// KeepaliveMissing: no such session (404 session_not_found).
	KeepaliveMissing
	// KeepaliveNotOwner: a user's keepalive on another user's session (403 not_session_owner).
	KeepaliveNotOwner
	// KeepaliveGone: the session is deleted (410 session_deleted).
	KeepaliveGone
	// KeepaliveNotRunning: the session is paused or stopped (409 session_not_running); resume it.
	KeepaliveNotRunning
	// KeepaliveUsageReached: the usage deadline passed: nothing is written, usage_reached.
	KeepaliveUsageReached
	// KeepaliveIdle: idle_seconds reached idle_disconnect: marked disconnected (once), not
	// extended, disconnect: true.
	KeepaliveIdle
	// KeepaliveTimeLimited: the session has a time limit: only last_keepalive_at is written;
	// expires_at stays the limit.
	KeepaliveTimeLimited
)

// JudgeKeepalive classifies a keepalive at now reporting idle idle time, sent for user userID
// ("" for an administrator), given the session as stored (found false: no such session). It is
// the reading of the old item a failed keepalive condition returns.
func JudgeKeepalive(s Session, found bool, userID string, now time.Time, idle time.Duration) KeepaliveVerdict {
	switch {
	case !found:
		return KeepaliveMissing
	case userID != "" && s.UserID != userID:
		return KeepaliveNotOwner
	case s.Status == StatusDeleted:
		return KeepaliveGone
	case s.Status != StatusRunning:
		return KeepaliveNotRunning
	case !s.UsageDeadline.IsZero() && !Millis(now).Before(s.UsageDeadline):
		return KeepaliveUsageReached
	case idle >= s.Lifetime.IdleDisconnect:
		return KeepaliveIdle
	case s.TimeLimited():
		return KeepaliveTimeLimited
	}
	return KeepaliveExtend
}

// Err is the error a verdict answers with, nil when the keepalive has a normal response.
func (v KeepaliveVerdict) Err(sessionID string) error {
	switch v {
	case KeepaliveMissing:
		return policy.Errorf(policy.KindNotFound, policy.CodeSessionNotFound, "no session %s", sessionID)
	case KeepaliveNotOwner:
		return policy.Errorf(policy.KindForbidden, policy.CodeNotSessionOwner, "session %s belongs to another user", sessionID)
	case KeepaliveGone:
		return policy.Errorf(policy.KindGone, policy.CodeSessionDeleted, "session %s is deleted", sessionID)
	case KeepaliveNotRunning:
		return policy.Errorf(policy.KindConflict, policy.CodeSessionNotRunning, "session %s is not running; resume it first", sessionID)
	}
	return nil
}

// Disconnect marks a running, connected session disconnected after the user was idle: one
// disconnected event; expiry is not extended. OutcomeNone when it is already disconnected.
func Disconnect(s Session, now time.Time) Change {
	b := begin(s, GuardSeq, ActorKeepalive, now)
	if !s.Connected || s.Status != StatusRunning {
		return b.c
	}
	b.c.After.Connected = false
	b.event(EventDisconnected, ReasonIdleDisconnect, s.Status, s.Status)
	b.c.Outcome, b.c.Reason = OutcomeDisconnect, ReasonIdleDisconnect
	return b.c
}

// KeepaliveResult is what a keepalive answers.
type KeepaliveResult struct {
	ExpiresAt         time.Time
	KeepaliveInterval time.Duration
	UsageReached      bool
	Disconnect        bool
	// TimeLimitAt is when the session's time limit ends it; zero when none.
	TimeLimitAt time.Time
}

// Result is the keepalive answer for a session in state s (after any write) and verdict v.
func (v KeepaliveVerdict) Result(s Session) KeepaliveResult {
	return KeepaliveResult{
		ExpiresAt:         s.ExpiresAt,
		KeepaliveInterval: s.Lifetime.KeepaliveInterval,
		UsageReached:      v == KeepaliveUsageReached,
		Disconnect:        v == KeepaliveIdle,
		TimeLimitAt:       s.TimeLimitAt,
	}
}

// KeepaliveWrite is one attempt at a keepalive: the store's single conditional write, which
// extends a running session with no time limit, within its usage gate and not idle (or, for a
// time-limited one, records the keepalive only).
type KeepaliveWrite struct {
	SessionID string
	// UserID is the user sending it, "" for an administrator (any session).
	UserID string
	Now    time.Time
	Idle   time.Duration
	// TimeLimited says the session has a time limit (a fact that never changes): the write
	// records the keepalive and leaves the expiry, the limit, where it is.
	TimeLimited bool
	// Refresh, when set, moves the usage gate in the same write, conditional on it being as read.
	Refresh *UsageRefresh
}

// UsageRefresh moves a budgeted session's usage gate (its UsageDeadline) from Old, as read, to
// Deadline, the budget's deadline now (zero: none).
type UsageRefresh struct{ Old, Deadline time.Time }

// KeepaliveWritten is what a keepalive write did: Applied, with the answer; or not, with the
// session as it was when the condition failed (Found false: there is none), for
// JudgeKeepalive.
type KeepaliveWritten struct {
	Applied bool
	Result  KeepaliveResult
	Old     Session
	Found   bool
}

// Extend is the session after a successful keepalive at now (what the keepalive's update
// expression writes).
func Extend(s Session, now time.Time) Session {
	now = Millis(now)
	s.LastKeepaliveAt = now
	s.Connected = true
	if s.TimeLimited() {
		s.ExpiresAt = s.TimeLimitAt
		return s
	}
	s.ExpiresAt = Millis(now.Add(s.Lifetime.KeepaliveExpiration))
	s.DueAt = NextDue(s)
	return s
}

// Resync is the change that puts the lifetime settings lt of revision rev in force on s:
// keepalive expiration (expires_at recomputed from the last keepalive), action, interval and
// idle disconnect; the time limit stays what it was at start. It records no event and is
// guarded like an action (a keepalive that lands first makes it re-read). OutcomeNone when rev
// is not newer than the session's revision, the session is deleted, or nothing differs.
func Resync(s Session, lt Lifetime, rev int64) Change {
	c := Change{Guard: GuardSeq, Before: s, After: s}
	if rev <= s.SettingsRev || s.Status == StatusDeleted {
		return c
	}
	a := &c.After
	a.SettingsRev = rev
	a.Lifetime.KeepaliveExpiration = lt.KeepaliveExpiration
	a.Lifetime.Action = lt.Action
	a.Lifetime.KeepaliveInterval = lt.KeepaliveInterval
	a.Lifetime.IdleDisconnect = lt.IdleDisconnect
	if !s.TimeLimited() {
		a.ExpiresAt = Millis(s.LastKeepaliveAt.Add(lt.KeepaliveExpiration))
	}
	a.DueAt = NextDue(*a)
	if a.Lifetime != s.Lifetime || !a.ExpiresAt.Equal(s.ExpiresAt) || !a.DueAt.Equal(s.DueAt) {
		c.Outcome, c.Reason = OutcomeResync, "settings_changed"
	}
	return c
}
