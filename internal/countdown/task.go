package countdown

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
)

// EarlyTolerance is how early an action may fire and still be done: an action at most this
// much before its due time (clock skew between the timer and the task, or Step Functions
// truncating wait timestamps to the second) is decided as at its due time. An action that
// fires earlier fails with a *NotDueError, which the state machine and InProcess retry.
const EarlyTolerance = time.Second

// NotDueErrorName is the error name Step Functions sees when the task function returns a
// *NotDueError (aws-lambda-go names an error after its type); the definition retries it.
const NotDueErrorName = "NotDueError"

// NotDueError is the task's answer to an action that fired more than EarlyTolerance before it
// is due. It is returned unwrapped so that the Lambda runtime reports its type name.
type NotDueError struct {
	SessionID string
	Action    string
	Due       time.Time
	Now       time.Time
}

// Error describes how early the action fired.
func (e *NotDueError) Error() string {
	return fmt.Sprintf("countdown %s of session %s fired %v before it is due at %s",
		e.Action, e.SessionID, e.Due.Sub(e.Now), e.Due.UTC().Format(time.RFC3339Nano))
}

// Sessions is what the task needs of the session store; ddbstore.SessionStore implements it.
type Sessions interface {
	GetSession(ctx context.Context, sessionID string) (lifecycle.Session, error)
	Transition(ctx context.Context, c lifecycle.Change) error
}

// Outcomes of a task run that changed nothing.
const (
	OutcomeAlreadyWarned   = "already_warned"
	OutcomeAlreadyDeleted  = "already_deleted"
	OutcomeNotFound        = "session_not_found"
	OutcomeNotTimeLimited  = "not_time_limited"
	OutcomeNothingToChange = "nothing_to_change"
)

// Result is what a task run did.
type Result struct {
	SessionID string `json:"session_id"`
	Action    string `json:"action"`
	// Outcome is the change made ("warn" or "delete", see lifecycle.Outcome) or why nothing
	// was: already_warned, already_deleted, session_not_found, not_time_limited,
	// nothing_to_change.
	Outcome string `json:"outcome"`
	// Reason is the change's reason (time_limit_warning, time_limit_reached, or
	// usage_limit_reached when the usage deadline passed first).
	Reason string `json:"reason,omitempty"`
}

// Task does what a countdown fires: "warn" records the time_limit_warning event once, "expire"
// deletes the session with reason time_limit_reached. Both are idempotent: an action repeated
// (a retried invocation, a countdown started twice, the sweep having acted first) writes
// nothing more and succeeds.
type Task struct {
	store Sessions
	clock policy.Clock
	log   *slog.Logger
}

// NewTask returns a Task on store. A nil clock is the system clock; a nil logger discards.
func NewTask(store Sessions, clock policy.Clock, logger *slog.Logger) *Task {
	if clock == nil {
		clock = policy.SystemClock{}
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Task{store: store, clock: clock, log: logger}
}

// Handle is the task function's handler: it runs the action of a state machine's payload.
func (t *Task) Handle(ctx context.Context, p TaskPayload) (Result, error) {
	return t.Run(ctx, p.Action, p.SessionID)
}

// Fire runs an action for InProcess (its fire function).
func (t *Task) Fire(ctx context.Context, sessionID, action string) error {
	_, err := t.Run(ctx, action, sessionID)
	return err
}

// Run does action ("warn" or "expire") for a session. It reads the session, decides with
// lifecycle.DecideAs as the countdown actor and writes the change guarded like the sweep's;
// when somebody changed the session in between it reads and decides again (lifecycle.Retry;
// after MaxRaceAttempts, KindUnavailable "retry_later"). The session's own
// warning and limit times are the truth (the payload's copies are not needed). An action that
// fires more than EarlyTolerance early returns a *NotDueError.
func (t *Task) Run(ctx context.Context, action, sessionID string) (Result, error) {
	res := Result{SessionID: sessionID, Action: action}
	if action != ActionWarn && action != ActionExpire {
		return res, fmt.Errorf("countdown task: unknown action %q (want %q or %q)", action, ActionWarn, ActionExpire)
	}
	return lifecycle.Retry("session "+sessionID, 0, func() (Result, error) {
		s, err := t.store.GetSession(ctx, sessionID)
		if policy.IsKind(err, policy.KindNotFound) {
			// Gone for good (cleaned up after deletion): nothing left to do.
			return t.done(ctx, res, OutcomeNotFound, ""), nil
		}
		if err != nil {
			return res, fmt.Errorf("countdown %s of session %s: %w", action, sessionID, err)
		}
		var due time.Time
		switch {
		case s.Status == lifecycle.StatusDeleted:
			return t.done(ctx, res, OutcomeAlreadyDeleted, ""), nil
		case !s.TimeLimited():
			return t.done(ctx, res, OutcomeNotTimeLimited, ""), nil
		case action == ActionWarn && s.TimeLimitWarnAt.IsZero():
			return t.done(ctx, res, OutcomeAlreadyWarned, ""), nil
		case action == ActionWarn:
			due = s.TimeLimitWarnAt
		default:
			due = s.TimeLimitAt
		}
		now := lifecycle.Millis(t.clock.Now())
		if now.Before(due) {
			if due.Sub(now) > EarlyTolerance {
				return res, &NotDueError{SessionID: sessionID, Action: action, Due: due, Now: now}
			}
			now = due
		}
		c := lifecycle.DecideAs(s, now, lifecycle.ActorCountdown)
		if c.Outcome != lifecycle.OutcomeWarn && c.Outcome != lifecycle.OutcomeDelete {
			// Only the due time would move (the sweep does that); the countdown changes nothing.
			return t.done(ctx, res, OutcomeNothingToChange, ""), nil
		}
		err = t.store.Transition(ctx, c)
		switch {
		case err == nil:
			// Drift: how late (or, within EarlyTolerance, how early) the action came.
			metrics.Millis(metrics.CountdownDrift, t.clock.Now().Sub(due), metrics.Dim{Name: metrics.DimAction, Value: action})
			return t.done(ctx, res, string(c.Outcome), c.Reason), nil
		case policy.IsKind(err, policy.KindNotFound):
			return t.done(ctx, res, OutcomeNotFound, ""), nil
		case policy.CodeOf(err) == policy.CodeSessionChanged:
			return res, err // somebody changed the session in between: Retry reads and decides again
		}
		return res, fmt.Errorf("countdown %s of session %s: %w", action, sessionID, err)
	})
}

func (t *Task) done(ctx context.Context, res Result, outcome, reason string) Result {
	res.Outcome, res.Reason = outcome, reason
	t.log.LogAttrs(ctx, slog.LevelInfo, "countdown task",
		slog.String("session_id", res.SessionID), slog.String("action", res.Action),
		slog.String("outcome", outcome), slog.String("reason", reason))
	return res
}
