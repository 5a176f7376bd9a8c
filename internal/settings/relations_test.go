package settings

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestRelationWarnings(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]json.RawMessage
		want     []string // warning codes in order
		msgs     []string // substrings of the messages, in order
	}{
		{name: "nothing set", settings: nil},
		{name: "unrelated settings", settings: set("allow_kasm_audio", "true")},
		{name: "interval alone, consistent with defaults", settings: set("keepalive_interval", "300")},
		{name: "interval alone, against defaults", settings: set("keepalive_interval", "2000"),
			want: []string{WarnKeepaliveExpiration, WarnIdleDisconnect},
			msgs: []string{"keepalive_expiration (3600 s, catalog default) should be at least twice keepalive_interval (2000 s)",
				"idle_disconnect (20 minutes = 1200 s, catalog default) should be longer than keepalive_interval (2000 s)"}},
		{name: "expiration below twice the default interval", settings: set("keepalive_expiration", "500"),
			want: []string{WarnKeepaliveExpiration},
			msgs: []string{"keepalive_expiration (500 s) should be at least twice keepalive_interval (300 s, catalog default)"}},
		{name: "expiration exactly twice", settings: set("keepalive_expiration", "600", "keepalive_interval", "300")},
		{name: "expiration one short of twice", settings: set("keepalive_expiration", "599", "keepalive_interval", "300"),
			want: []string{WarnKeepaliveExpiration}, msgs: []string{"keepalive_expiration (599 s)"}},
		{name: "idle equal to interval", settings: set("idle_disconnect", "5", "keepalive_interval", "300"),
			want: []string{WarnIdleDisconnect}, msgs: []string{"idle_disconnect (5 minutes = 300 s) should be longer than keepalive_interval (300 s)"}},
		{name: "idle just longer", settings: set("idle_disconnect", "5.1", "keepalive_interval", "300")},
		{name: "idle fraction against default interval", settings: set("idle_disconnect", "0.5"),
			want: []string{WarnIdleDisconnect}, msgs: []string{"idle_disconnect (0.5 minutes = 30 s)"}},
		{name: "unparseable stored value is skipped", settings: set("keepalive_interval", `"x"`)},
		{name: "time limit alone", settings: set("session_time_limit", "900")},
		{name: "keepalive expiration without a time limit", settings: set("keepalive_expiration", "1800", "session_time_limit", "0")},
		{name: "time limit and keepalive expiration", settings: set("session_time_limit", "900", "keepalive_expiration", "1800"),
			want: []string{WarnTimeLimitIgnoresKeepalive},
			msgs: []string{"session_time_limit (900 s) is above 0, so these sessions end at their time limit and ignore keepalive_expiration (1800 s)"}},
		{name: "time limit and the expiration action", settings: set("session_time_limit", "60", "keepalive_expiration_action", `"stop"`),
			want: []string{WarnTimeLimitIgnoresKeepalive}, msgs: []string{"keepalive_expiration (3600 s, catalog default)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := RelationWarnings(func(name string) (json.RawMessage, bool) {
				v, ok := tt.settings[name]
				return v, ok
			})
			var codes []string
			for _, w := range ws {
				codes = append(codes, w.Code)
				if len(w.Settings) < 2 || w.Groups != nil {
					t.Errorf("warning %+v: want two settings or more and no groups", w)
				}
			}
			if !slices.Equal(codes, tt.want) {
				t.Fatalf("codes: got %q, want %q (%+v)", codes, tt.want, ws)
			}
			for i, m := range tt.msgs {
				if !strings.Contains(ws[i].Message, m) {
					t.Errorf("message %d: got %q, want it to contain %q", i, ws[i].Message, m)
				}
			}
		})
	}
}
