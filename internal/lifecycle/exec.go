package lifecycle

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"wspolicy/internal/policy"
)

// EventExecCommand asks the provisioning layer to run a command in a session's container
// (Kasm's exec_command_kasm: wspolicy runs no containers itself). It changes no status; its
// detail is the ExecConfig.
const EventExecCommand EventType = "exec_command"

// OutcomeExec records an exec_command event.
const OutcomeExec Outcome = "exec"

// MaxExecConfigBytes bounds the JSON of an ExecConfig, which travels in the event's detail.
const MaxExecConfigBytes = 16 << 10

// ExecConfig is a command to run in a session's container, in Kasm's exec_config shape.
type ExecConfig struct {
	Cmd         string            `json:"cmd"`
	Workdir     string            `json:"workdir,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
	Privileged  bool              `json:"privileged"`
	User        string            `json:"user,omitempty"`
}

// Validate checks an ExecConfig: cmd is required, every string is UTF-8, and the whole is at
// most MaxExecConfigBytes of JSON.
func (c ExecConfig) Validate() error {
	if c.Cmd == "" {
		return policy.FieldErrorf("cmd", policy.CodeRequired, "exec_config.cmd is required")
	}
	texts := []string{c.Cmd, c.Workdir, c.User}
	for k, v := range c.Environment {
		texts = append(texts, k, v)
	}
	for _, t := range texts {
		if !utf8.ValidString(t) {
			return policy.FieldErrorf("exec_config", policy.CodeInvalidField, "exec_config holds text that is not UTF-8")
		}
	}
	if b, _ := json.Marshal(c); len(b) > MaxExecConfigBytes {
		return policy.FieldErrorf("exec_config", policy.CodeInvalidField, "exec_config is larger than %d bytes of JSON", MaxExecConfigBytes)
	}
	return nil
}

// Exec decides a request to run cfg in session s: one exec_command event carrying cfg, for
// the provisioning layer, and no status change. Checks, in order: the session is not deleted
// (410 session_deleted); a user acts only on their own sessions (403 not_session_owner); it is
// a container session (409 unsupported_for_session_type); it is running (409
// session_not_running). The reason is "<user|admin>_exec_command".
func Exec(s Session, actor Actor, cfg ExecConfig, now time.Time) (Change, error) {
	if err := cfg.Validate(); err != nil {
		return Change{}, err
	}
	if s.Status == StatusDeleted {
		return Change{}, policy.Errorf(policy.KindGone, policy.CodeSessionDeleted, "session %s is deleted", s.ID)
	}
	if !actor.Admin && (actor.UserID == "" || actor.UserID != s.UserID) {
		return Change{}, policy.Errorf(policy.KindForbidden, policy.CodeNotSessionOwner, "session %s belongs to another user", s.ID)
	}
	if !s.Container {
		return Change{}, &policy.Error{Kind: policy.KindConflict, Code: policy.CodeUnsupportedType, Field: "container",
			Message: fmt.Sprintf("only container sessions run commands; session %s is not one", s.ID)}
	}
	if s.Status != StatusRunning {
		return Change{}, policy.Errorf(policy.KindConflict, policy.CodeSessionNotRunning, "session %s is %s; resume it first", s.ID, s.Status)
	}
	detail, err := json.Marshal(cfg)
	if err != nil {
		return Change{}, fmt.Errorf("encode exec_config: %w", err)
	}
	reason := actor.kind() + "_" + string(EventExecCommand)
	b := begin(s, GuardSeq, actor.String(), now)
	b.event(EventExecCommand, reason, s.Status, s.Status)
	b.c.Events[len(b.c.Events)-1].Detail = detail
	b.c.Outcome, b.c.Reason = OutcomeExec, reason
	return b.c, nil
}
