package sessions

import (
	"context"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// Exec asks the provisioning layer to run cfg in a session's container: it writes one
// exec_command event (lifecycle.Exec) in the same guarded transaction as any action, so the
// publisher delivers it like every other session event. It answers the session and the event.
// wspolicy runs no containers and never sees the command's output.
func (s *Service) Exec(ctx context.Context, actor lifecycle.Actor, sessionID string, cfg lifecycle.ExecConfig) (Session, lifecycle.Event, error) {
	if err := cfg.Validate(); err != nil {
		return Session{}, lifecycle.Event{}, err
	}
	for attempt := 1; attempt <= maxActionAttempts; attempt++ {
		cur, err := s.store.GetSession(ctx, sessionID)
		if err != nil {
			return Session{}, lifecycle.Event{}, err
		}
		c, err := lifecycle.Exec(cur, actor, cfg, s.clock.Now())
		if err != nil {
			return Session{}, lifecycle.Event{}, err
		}
		err = s.store.Transition(ctx, c)
		if err == nil {
			return View(c.After), c.Events[0], nil
		}
		if policy.CodeOf(err) != policy.CodeSessionChanged {
			return Session{}, lifecycle.Event{}, err
		}
	}
	return Session{}, lifecycle.Event{}, policy.Errorf(policy.KindUnavailable, policy.CodeRetryLater, "session %s kept changing concurrently, retry later", sessionID)
}
