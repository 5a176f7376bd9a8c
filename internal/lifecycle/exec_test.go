package lifecycle

import (
	"encoding/json"
	"strings"
	"testing"

	"wspolicy/internal/policy"
)

func TestExec(t *testing.T) {
	cmd := ExecConfig{Cmd: "echo hi", Workdir: "/tmp", Environment: map[string]string{"A": "1"}, User: "root"}
	tests := []struct {
		name     string
		s        Session
		actor    Actor
		cfg      ExecConfig
		wantCode string
	}{
		{"admin on a running container session", session(), AdminActor(), cmd, ""},
		{"owner", session(), UserActor("u1"), cmd, ""},
		{"another user", session(), UserActor("u2"), cmd, policy.CodeNotSessionOwner},
		{"deleted", session(status(StatusDeleted)), AdminActor(), cmd, policy.CodeSessionDeleted},
		{"paused", session(status(StatusPaused)), AdminActor(), cmd, policy.CodeSessionNotRunning},
		{"not a container", session(nonContainer), AdminActor(), cmd, policy.CodeUnsupportedType},
		{"no cmd", session(), AdminActor(), ExecConfig{Workdir: "/"}, policy.CodeRequired},
		{"too large", session(), AdminActor(), ExecConfig{Cmd: strings.Repeat("x", MaxExecConfigBytes)}, policy.CodeInvalidField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Exec(tc.s, tc.actor, tc.cfg, t0)
			code := ""
			if err != nil {
				code = policy.CodeOf(err)
			}
			if code != tc.wantCode {
				t.Fatalf("code %q, want %q (%v)", code, tc.wantCode, err)
			}
			if tc.wantCode != "" {
				return
			}
			if c.Outcome != OutcomeExec || c.Guard != GuardSeq || len(c.Events) != 1 {
				t.Fatalf("change %+v: want one event, OutcomeExec, GuardSeq", c)
			}
			e := c.Events[0]
			if e.Type != EventExecCommand || e.StatusBefore != StatusRunning || e.StatusAfter != StatusRunning || e.Seq != tc.s.EventSeq+1 {
				t.Errorf("event %+v", e)
			}
			if c.After.Status != c.Before.Status || c.After.ExpiresAt != c.Before.ExpiresAt || c.After.DueAt != c.Before.DueAt {
				t.Errorf("exec changed more than the event sequence: before %+v after %+v", c.Before, c.After)
			}
			var got ExecConfig
			if err := json.Unmarshal(e.Detail, &got); err != nil || got.Cmd != cmd.Cmd || got.Environment["A"] != "1" {
				t.Errorf("detail %s: %v", e.Detail, err)
			}
			if want := tc.actor.kind() + "_exec_command"; e.Reason != want || e.Actor != tc.actor.String() {
				t.Errorf("reason %q actor %q, want %q %q", e.Reason, e.Actor, want, tc.actor.String())
			}
		})
	}
}
