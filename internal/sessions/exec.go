package sessions

import (
	"context"

	"wspolicy/internal/lifecycle"
)

// Exec asks the provisioning layer to run cfg in a session's container: it writes one
// exec_command event (lifecycle.Exec) in the same guarded transaction as any action, so the
// publisher delivers it like every other session event. It answers the session and the event.
// wspolicy runs no containers and never sees the command's output.
func (s *Service) Exec(ctx context.Context, actor lifecycle.Actor, sessionID string, cfg lifecycle.ExecConfig) (Session, lifecycle.Event, error) {
	if err := cfg.Validate(); err != nil {
		return Session{}, lifecycle.Event{}, err
	}
	var ev lifecycle.Event
	v, err := lifecycle.Retry("session "+sessionID, 0, func() (Session, error) {
		cur, err := s.store.GetSession(ctx, sessionID)
		if err != nil {
			return Session{}, err
		}
		c, err := lifecycle.Exec(cur, actor, cfg, s.clock.Now())
		if err != nil {
			return Session{}, err
		}
		if err := s.store.Transition(ctx, c); err != nil {
			return Session{}, err // session_changed: Retry reads and decides again
		}
		ev = c.Events[0]
		return View(c.After), nil
	})
	if err != nil {
		return Session{}, lifecycle.Event{}, err
	}
	return v, ev, nil
}
