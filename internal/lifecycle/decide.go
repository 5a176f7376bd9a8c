package lifecycle

import "time"

// Decide says what the sweep must do with session s at now. It returns a change with
// OutcomeNone when nothing is to be written. In order:
//   - usage deadline passed (issue 4) of a session not charged to a budget ledger: delete,
//     reason usage_limit_reached (the sweep ends sessions of an exhausted ledger with
//     UsageLimitReached);
//   - time-limited: limit passed: delete, reason time_limit_reached; warning due: record
//     time_limit_warning once (a warning the sweep only finds after the limit is not sent);
//   - otherwise, keepalive expired: the effective action (delete; stop for a running or paused
//     container session; pause for a running one). A session already in or past the target
//     state is left alone and leaves the due index until it is resumed;
//   - nothing due: the due time is corrected when it differs from NextDue.
func Decide(s Session, now time.Time) Change { return DecideAs(s, now, ActorSweep) }

// DecideAs is Decide with the events recorded as done by actor (the countdown task uses
// ActorCountdown).
func DecideAs(s Session, now time.Time, actor string) Change {
	now = Millis(now)
	b := begin(s, GuardObserved, actor, now)
	if s.Status == StatusDeleted {
		return b.reschedule()
	}
	if s.usageDeadlineApplies() && !now.Before(s.UsageDeadline) {
		b.move(StatusDeleted, EventUsageLimitReached, EventDeleted, ReasonUsageLimitReached)
		return b.finish(OutcomeDelete, ReasonUsageLimitReached)
	}
	if s.TimeLimited() {
		if !now.Before(s.TimeLimitAt) {
			b.move(StatusDeleted, EventTimeLimitReached, EventDeleted, ReasonTimeLimitReached)
			return b.finish(OutcomeDelete, ReasonTimeLimitReached)
		}
		if !s.TimeLimitWarnAt.IsZero() && !now.Before(s.TimeLimitWarnAt) {
			b.c.After.TimeLimitWarnAt = time.Time{}
			b.event(EventTimeLimitWarning, ReasonTimeLimitWarning, s.Status, s.Status)
			return b.finish(OutcomeWarn, ReasonTimeLimitWarning)
		}
		return b.reschedule()
	}
	if now.Before(s.ExpiresAt) || !s.expiryApplies() {
		return b.reschedule()
	}
	switch s.EffectiveAction() {
	case ActionStop:
		b.move(StatusStopped, EventKeepaliveExpired, EventStopped, ReasonKeepaliveExpired)
		return b.finish(OutcomeStop, ReasonKeepaliveExpired)
	case ActionPause:
		b.move(StatusPaused, EventKeepaliveExpired, EventPaused, ReasonKeepaliveExpired)
		return b.finish(OutcomePause, ReasonKeepaliveExpired)
	default:
		b.move(StatusDeleted, EventKeepaliveExpired, EventDeleted, ReasonKeepaliveExpired)
		return b.finish(OutcomeDelete, ReasonKeepaliveExpired)
	}
}

// reschedule moves only the due time to NextDue: out of the due index when nothing is due any
// more (OutcomeLeaveAlone), or later (OutcomeReschedule); OutcomeNone when it is already right.
func (b *changeBuilder) reschedule() Change {
	next := NextDue(b.c.Before)
	if next.Equal(b.c.Before.DueAt) {
		return b.c
	}
	b.c.After.DueAt = next
	if next.IsZero() {
		b.c.Outcome, b.c.Reason = OutcomeLeaveAlone, "nothing_due"
		if b.c.Before.Status != StatusDeleted && !b.c.Before.TimeLimited() {
			b.c.Reason = "already_" + string(b.c.Before.Status)
		}
		return b.c
	}
	b.c.Outcome, b.c.Reason = OutcomeReschedule, "not_due"
	return b.c
}
