package sweep

import (
	"context"
	"io"
	"log/slog"

	"wspolicy/internal/countdown"
	"wspolicy/internal/lifecycle"
)

// StopCountdowns returns store with a Transition that also stops the time-limit countdown of
// each time-limited session a change ends before its limit (an exhausted usage budget, say),
// so that no countdown is left waiting on a deleted session. A failed stop is logged and
// otherwise ignored: the countdown then finds the session deleted and does nothing. Every
// other method is store's own. A nil timer returns store unchanged; a nil logger discards.
func StopCountdowns(store Store, timer countdown.Timer, logger *slog.Logger) Store {
	if timer == nil {
		return store
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return countdownStopper{Store: store, timer: timer, log: logger}
}

type countdownStopper struct {
	Store
	timer countdown.Timer
	log   *slog.Logger
}

// Transition writes the change, then stops the countdown it made pointless.
func (s countdownStopper) Transition(ctx context.Context, c lifecycle.Change) error {
	if err := s.Store.Transition(ctx, c); err != nil {
		return err
	}
	if err := countdown.StopAfter(ctx, s.timer, c); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "countdown not stopped; it will find the session deleted",
			slog.String("session_id", c.Before.ID), slog.String("error", err.Error()))
	}
	return nil
}

// TransitionAll writes the changes (in groups when the store is a GroupWriter, else one by
// one), then stops the countdowns the applied ones made pointless.
func (s countdownStopper) TransitionAll(ctx context.Context, cs []lifecycle.Change) []error {
	var errs []error
	if gw, ok := s.Store.(GroupWriter); ok {
		errs = gw.TransitionAll(ctx, cs)
	} else {
		errs = make([]error, len(cs))
		for i, c := range cs {
			errs[i] = s.Store.Transition(ctx, c)
		}
	}
	for i, c := range cs {
		if errs[i] != nil {
			continue
		}
		if err := countdown.StopAfter(ctx, s.timer, c); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "countdown not stopped; it will find the session deleted",
				slog.String("session_id", c.Before.ID), slog.String("error", err.Error()))
		}
	}
	return errs
}
