package sessions

import (
	"context"
	"log/slog"

	"wspolicy/internal/countdown"
	"wspolicy/internal/lifecycle"
)

// startCountdown starts the time-limit countdown of a session that was just stored. A failure
// does not fail the start (the session exists already): it is logged, and the sweep deletes
// the session at its limit instead, within one sweep period.
func (s *Service) startCountdown(ctx context.Context, sess lifecycle.Session) {
	if err := countdown.StartFor(ctx, s.countdowns, sess); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "countdown not started; the sweep enforces the time limit",
			slog.String("session_id", sess.ID), slog.String("error", err.Error()))
	}
}

// stopCountdown stops the countdown of a time-limited session that change c just ended before
// its limit. A failure is logged: the countdown then fires on a deleted session and does
// nothing.
func (s *Service) stopCountdown(ctx context.Context, c lifecycle.Change) {
	if err := countdown.StopAfter(ctx, s.countdowns, c); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "countdown not stopped; it will find the session deleted",
			slog.String("session_id", c.Before.ID), slog.String("error", err.Error()))
	}
}
