package workspaces

import (
	"encoding/json"
	"testing"

	"wspolicy/internal/policy"
)

func TestEffectiveTimeLimit(t *testing.T) {
	for _, c := range []struct {
		ws, user, want int64
		src            string
	}{
		{0, 0, 0, ""},
		{600, 0, 600, LimitSourceWorkspace},
		{0, 300, 300, LimitSourceUser},
		{600, 300, 300, LimitSourceUser},
		{300, 600, 300, LimitSourceWorkspace},
		{300, 300, 300, LimitSourceWorkspace},
	} {
		got, src := EffectiveTimeLimit(c.ws, c.user)
		if got != c.want || src != c.src {
			t.Errorf("EffectiveTimeLimit(%d, %d) = %d %q, want %d %q", c.ws, c.user, got, src, c.want, c.src)
		}
	}
}

func TestMergeRunConfigGroupWins(t *testing.T) {
	w := Workspace{RunConfig: json.RawMessage(`{"hostname": "ws", "shm_size": "1g"}`)}
	got := MergeRunConfig(w, map[string]any{"hostname": "grp"})
	if got["hostname"] != "grp" || got["shm_size"] != "1g" {
		t.Errorf("MergeRunConfig = %v", got)
	}
}

func TestCheckStartSaysWhich(t *testing.T) {
	w := Workspace{WorkspaceID: "chrome", Enabled: true, Groups: []string{"g1"}}
	for _, c := range []struct {
		name   string
		w      Workspace
		found  bool
		groups []string
		code   string
	}{
		{"unknown", Workspace{}, false, []string{"g1"}, policy.CodeWorkspaceNotFound},
		{"disabled", Workspace{WorkspaceID: "chrome", Groups: []string{"g1"}}, true, []string{"g1"}, policy.CodeWorkspaceDisabled},
		{"not allowed", w, true, []string{"all-users", "g2"}, policy.CodeWorkspaceNotAllowed},
		{"allowed", w, true, []string{"all-users", "g1"}, ""},
	} {
		err := CheckStart(c.w, c.found, "chrome", "u1", c.groups)
		if policy.CodeOf(err) != c.code && !(c.code == "" && err == nil) {
			t.Errorf("%s: %v, want %q", c.name, err, c.code)
		}
		if err != nil && !policy.IsKind(err, policy.KindForbidden) {
			t.Errorf("%s: kind %s, want forbidden", c.name, policy.KindOf(err))
		}
	}
}

func TestApplyChecksFields(t *testing.T) {
	bad := []Fields{
		{ImageID: ptr(" padded ")},
		{ImageID: ptr("img"), Cores: ptr(-1.0)},
		{ImageID: ptr("img"), SessionTimeLimit: ptr(int64(-5))},
		{ImageID: ptr("img"), RunConfig: ptr(json.RawMessage(`[1]`))},
	}
	for i, f := range bad {
		var w Workspace
		if err := apply(&w, f); !policy.IsKind(err, policy.KindInvalid) {
			t.Errorf("case %d: %v, want a 400", i, err)
		}
	}
	var w Workspace
	if err := apply(&w, Fields{ImageID: ptr("kasmweb/chrome:1.16")}); err != nil || w.FriendlyName != "kasmweb/chrome:1.16" || string(w.RunConfig) != "{}" {
		t.Errorf("defaults: %v %+v", err, w)
	}
}

func ptr[T any](v T) *T { return &v }
