package sessions

import (
	"context"
	"fmt"
	"time"

	"wspolicy/internal/lifecycle"
)

// KeepaliveStore is what a keepalive needs of the store: its one conditional write, the
// idle disconnect's transition and, when a budgeted session's usage gate trips, the ledger.
type KeepaliveStore interface {
	// WriteKeepalive sends one keepalive write: applied, or refused with the session as it was.
	WriteKeepalive(ctx context.Context, k lifecycle.KeepaliveWrite) (lifecycle.KeepaliveWritten, error)
	Transition(ctx context.Context, c lifecycle.Change) error
	GetLedger(ctx context.Context, budget string) (lifecycle.BudgetLedger, error)
}

// RunKeepalive records a keepalive at now from a client reporting idle idle time, for the user
// userID ("" when an administrator sends it: any session). In steady state it is the store's
// one conditional write and reads nothing else: the write lets through a running session with
// no time limit, within its usage gate and not idle, and extends it to now + ka_ms. When it is
// refused, the session as it was says why (lifecycle.JudgeKeepalive): missing → KindNotFound,
// another user's → KindForbidden "not_session_owner", deleted → KindGone "session_deleted",
// paused or stopped → KindConflict "session_not_running"; usage gate passed → the budget's
// ledger decides: exhausted → no write, UsageReached, else the write goes again and moves the
// gate to the ledger's deadline; idle → marked disconnected once (a disconnected event),
// Disconnect, no extension; time-limited → a write of last_keepalive_at only (the store
// remembers the session, so that its next keepalives take that write directly). A session that
// changed between the write and what follows is written again (Retry).
func RunKeepalive(ctx context.Context, store KeepaliveStore, sessionID, userID string, now time.Time, idle time.Duration) (lifecycle.KeepaliveResult, error) {
	r, err := runKeepalive(ctx, store, sessionID, userID, now, idle)
	if err != nil {
		return lifecycle.KeepaliveResult{}, fmt.Errorf("keepalive of session %s: %w", sessionID, err)
	}
	return r, nil
}

func runKeepalive(ctx context.Context, store KeepaliveStore, id, userID string, now time.Time, idle time.Duration) (lifecycle.KeepaliveResult, error) {
	now = lifecycle.Millis(now)
	k := lifecycle.KeepaliveWrite{SessionID: id, UserID: userID, Now: now, Idle: idle}
	return lifecycle.Retry("session "+id, 0, func() (lifecycle.KeepaliveResult, error) {
		w, err := store.WriteKeepalive(ctx, k)
		k.Refresh = nil
		if err != nil {
			return lifecycle.KeepaliveResult{}, err
		}
		if w.Applied {
			return w.Result, nil
		}
		old := w.Old
		v := lifecycle.JudgeKeepalive(old, w.Found, userID, now, idle)
		if err := v.Err(id); err != nil {
			return lifecycle.KeepaliveResult{}, err
		}
		if v == lifecycle.KeepaliveUsageReached && old.Budget != "" {
			// The gate is the budget's deadline as of the session's start: other sessions
			// may have ended since. The ledger decides; when it is not exhausted the
			// keepalive goes ahead and moves the gate to the ledger's deadline.
			bl, err := store.GetLedger(ctx, old.Budget)
			if err != nil {
				return lifecycle.KeepaliveResult{}, err
			}
			if d, exhausted := bl.UsageDeadline(now); !exhausted {
				k.Refresh = &lifecycle.UsageRefresh{Old: old.UsageDeadline, Deadline: d}
				old.UsageDeadline = d
				v = lifecycle.JudgeKeepalive(old, w.Found, userID, now, idle)
			}
		}
		switch v {
		case lifecycle.KeepaliveUsageReached:
			return v.Result(old), nil
		case lifecycle.KeepaliveIdle:
			k.Refresh = nil // an idle keepalive extends nothing; the next active one refreshes
			c := lifecycle.Disconnect(old, now)
			if c.None() {
				return v.Result(old), nil // already disconnected: nothing to write
			}
			if err := store.Transition(ctx, c); err != nil {
				return lifecycle.KeepaliveResult{}, err // session_changed: Retry writes again
			}
			return v.Result(c.After), nil
		case lifecycle.KeepaliveTimeLimited:
			k.TimeLimited = true
		}
		// KeepaliveExtend here means the session changed between the write and now.
		return lifecycle.KeepaliveResult{}, lifecycle.LostRace(id)
	})
}
