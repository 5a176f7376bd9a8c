package lifecycle

import (
	"fmt"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Op is an action a user or administrator asks for on a session.
type Op string

// The session actions.
const (
	OpPause  Op = "pause"
	OpStop   Op = "stop"
	OpResume Op = "resume"
	OpDelete Op = "delete"
)

// Actor is who asks for an action: an administrator, or the user with UserID.
type Actor struct {
	Admin  bool
	UserID string
}

// AdminActor is an administrator.
func AdminActor() Actor { return Actor{Admin: true} }

// UserActor is the user with the given id.
func UserActor(id string) Actor { return Actor{UserID: id} }

// String is the actor as recorded on events: "admin" or "user:<id>".
func (a Actor) String() string {
	if a.Admin {
		return "admin"
	}
	return "user:" + a.UserID
}

func (a Actor) kind() string {
	if a.Admin {
		return "admin"
	}
	return "user"
}

// Permissions are the effective allow_kasm_* settings of the acting user.
type Permissions struct {
	Pause  bool
	Stop   bool
	Delete bool
}

// PermissionsFrom reads allow_kasm_pause, allow_kasm_stop and allow_kasm_delete.
func PermissionsFrom(r settings.Resolution) Permissions {
	return Permissions{
		Pause:  r.AllowKasmPause(),
		Stop:   r.AllowKasmStop(),
		Delete: r.AllowKasmDelete(),
	}
}

// setting is the allow_kasm_* setting op needs, "" for resume.
func (op Op) setting() string {
	switch op {
	case OpPause:
		return settings.NameAllowKasmPause
	case OpStop:
		return settings.NameAllowKasmStop
	case OpDelete:
		return settings.NameAllowKasmDelete
	}
	return ""
}

func (p Permissions) allows(op Op) bool {
	switch op {
	case OpPause:
		return p.Pause
	case OpStop:
		return p.Stop
	case OpDelete:
		return p.Delete
	}
	return true
}

var pastTense = map[Op]string{OpPause: "paused", OpStop: "stopped", OpResume: "resumed", OpDelete: "deleted"}

// NeedsPermissions reports whether op by actor needs the actor's effective permissions, so a
// caller can skip reading them for administrators and resumes.
func NeedsPermissions(op Op, actor Actor) bool { return !actor.Admin && op.setting() != "" }

// Act decides a user or administrator action on session s at now. perms are the acting user's
// current effective permissions (ignored for administrators). Checks, in order: the session is
// not deleted (410 session_deleted); a user acts only on their own sessions (403
// not_session_owner); the user's allow_kasm_* (403 permission_denied naming the setting);
// pause and stop need a container session (409 unsupported_for_session_type); the transition
// exists from the current state (409 invalid_transition: pausing a stopped session). Asking for
// the state the session is already in is not an error: the change is OutcomeNone.
//
// Transitions: pause running→paused; stop running|paused→stopped; resume paused|stopped→running
// (re-arms expiry: expires_at = now + keepalive_expiration, or the time limit); delete any→deleted.
func Act(s Session, op Op, actor Actor, perms Permissions, now time.Time) (Change, error) {
	if pastTense[op] == "" {
		return Change{}, policy.Errorf(policy.KindInvalid, policy.CodeInvalidAction, "unknown session action %q", op)
	}
	if s.Status == StatusDeleted {
		return Change{}, policy.Errorf(policy.KindGone, policy.CodeSessionDeleted, "session %s is deleted", s.ID)
	}
	if !actor.Admin {
		if actor.UserID == "" || actor.UserID != s.UserID {
			return Change{}, policy.Errorf(policy.KindForbidden, policy.CodeNotSessionOwner, "session %s belongs to another user", s.ID)
		}
		if !perms.allows(op) {
			name := op.setting()
			return Change{}, &policy.Error{Kind: policy.KindForbidden, Code: policy.CodePermissionDenied, Field: name,
				Message: fmt.Sprintf("%s is false for this user: they may not %s sessions", name, op)}
		}
	}
	if (op == OpPause || op == OpStop) && !s.Container {
		return Change{}, &policy.Error{Kind: policy.KindConflict, Code: policy.CodeUnsupportedType, Field: "container",
			Message: fmt.Sprintf("only container sessions can be %s; session %s is not one", pastTense[op], s.ID)}
	}
	b := begin(s, GuardSeq, actor.String(), now)
	reason := actor.kind() + "_" + pastTense[op]
	switch op {
	case OpPause:
		switch s.Status {
		case StatusPaused:
			return b.c, nil
		case StatusStopped:
			return Change{}, policy.Errorf(policy.KindConflict, policy.CodeInvalidTransition, "session %s is stopped; resume it before pausing", s.ID)
		}
		b.move(StatusPaused, "", EventPaused, reason)
		return b.finish(OutcomePause, reason), nil
	case OpStop:
		if s.Status == StatusStopped {
			return b.c, nil
		}
		b.move(StatusStopped, "", EventStopped, reason)
		return b.finish(OutcomeStop, reason), nil
	case OpResume:
		if s.Status == StatusRunning {
			return b.c, nil
		}
		b.c.After.LastKeepaliveAt = b.now
		if s.TimeLimited() {
			b.c.After.ExpiresAt = s.TimeLimitAt
		} else {
			b.c.After.ExpiresAt = Millis(b.now.Add(s.Lifetime.KeepaliveExpiration))
		}
		b.move(StatusRunning, "", EventResumed, reason)
		return b.finish(OutcomeResume, reason), nil
	default:
		b.move(StatusDeleted, "", EventDeleted, reason)
		return b.finish(OutcomeDelete, reason), nil
	}
}
