// Package countdown runs session time-limit countdowns: when a time-limited session starts, a
// countdown is started that emits the warning at warning time and deletes the session at its
// limit; it is stopped when the session ends earlier. Two Timers implement it: sfntimer.StepFunctions (a
// standard state machine execution per session, see Definition) and InProcess (timers in the
// process, for the local run). Both end up in a Task, which applies the same guarded change as
// the sweep (lifecycle.DecideAs with lifecycle.ActorCountdown), so whichever acts first wins
// and the other does nothing. The sweep remains the backstop for any countdown that was
// missed.
//
// Choices worth knowing:
//   - A countdown keeps no item of its own. Its state is the execution, named after the session
//     (ExecutionName) so that Stop derives the ARN without a read, and the session's own
//     time_limit_warn_at_ms (zeroed once the warning is written) and time_limit_at_ms, which the
//     Task reads: the payload's times are informational.
//   - Timing: the Step Functions input carries the times in RFC 3339 with milliseconds; Step
//     Functions truncates wait timestamps to the second, and clocks differ a little, so an
//     action that arrives at most EarlyTolerance (1 s) early is decided as at its due time (the
//     event then carries the due time). One that arrives earlier fails with NotDueError, which
//     the definition retries after 1, 2, 4 and 8 s and InProcess retries when it is due.
//   - A warning that keeps failing is caught and the countdown goes on to the limit; a warning
//     found only after the limit is not sent (the session is deleted instead), as in the sweep.
//   - InProcess timers die with the process: after a restart of the local run, the sweep (every
//     SWEEP_INTERVAL) deletes time-limited sessions started before it.
//   - Who stops countdowns: the session service (user and admin deletions), the sweep through
//     sweep.StopCountdowns (sessions of exhausted budgets) and the TTL finaliser; a change made
//     for the time limit itself stops nothing (see Stops).
package countdown

import (
	"context"
	"fmt"
	"time"

	"wspolicy/internal/lifecycle"
)

// Timer starts and stops the time-limit countdown of sessions.
type Timer interface {
	// Start arms the countdown of a session: the warning at warnAt (none when warnAt is zero or
	// not before limitAt) and the expiry at limitAt. Starting a session's countdown again is
	// harmless.
	Start(ctx context.Context, sessionID string, warnAt, limitAt time.Time) error
	// Stop cancels a session's countdown; stopping one that does not exist (any more) succeeds.
	Stop(ctx context.Context, sessionID string) error
}

// StartFor starts the countdown of session s when it is time-limited; otherwise it does nothing.
func StartFor(ctx context.Context, t Timer, s lifecycle.Session) error {
	if t == nil || !s.TimeLimited() || s.Status == lifecycle.StatusDeleted {
		return nil
	}
	if err := t.Start(ctx, s.ID, s.TimeLimitWarnAt, s.TimeLimitAt); err != nil {
		return fmt.Errorf("start countdown of session %s: %w", s.ID, err)
	}
	return nil
}

// Stops reports whether change c ends a time-limited session for another reason than its time
// limit, so that its countdown has nothing left to do. (A change made for the time limit is
// the countdown's own, or the sweep's catch-up, after which the countdown finds the session
// deleted and does nothing.)
func Stops(c lifecycle.Change) bool {
	return c.Ends() && c.Before.TimeLimited() && c.Reason != lifecycle.ReasonTimeLimitReached
}

// StopAfter stops the countdown of the session change c ended when Stops(c); otherwise it does
// nothing. Call it after the change was written.
func StopAfter(ctx context.Context, t Timer, c lifecycle.Change) error {
	if t == nil || !Stops(c) {
		return nil
	}
	if err := t.Stop(ctx, c.Before.ID); err != nil {
		return fmt.Errorf("stop countdown of session %s: %w", c.Before.ID, err)
	}
	return nil
}
