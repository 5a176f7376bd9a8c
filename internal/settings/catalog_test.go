package settings

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// specRow is one row of the settings.md catalog table.
type specRow struct {
	name, typ, dflt, allUsers, rule string
}

func readSpecTable(t *testing.T) []specRow {
	t.Helper()
	b, err := os.ReadFile("testdata/settings-table.md")
	if err != nil {
		t.Fatalf("read spec table: %v", err)
	}
	var rows []specRow
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| name ") {
			continue
		}
		cells := strings.Split(line, "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, specRow{name: cells[1], typ: cells[2], dflt: cells[3], allUsers: cells[4], rule: cells[5]})
	}
	return rows
}

var (
	rangeRE = regexp.MustCompile(`^int (\d+)\.\.(\d+)`)
	minRE   = regexp.MustCompile(`^(?:int|number) (≥|>) (\d+)`)
)

func TestCatalogMatchesSpec(t *testing.T) {
	rows := readSpecTable(t)
	cat := Catalog()
	if got, want := len(cat), len(rows); got != want {
		t.Fatalf("catalog has %d settings, settings.md has %d", got, want)
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			s, ok := Lookup(row.name)
			if !ok {
				t.Fatalf("Lookup(%q) not found", row.name)
			}
			if got, want := string(s.Type), strings.Fields(row.typ)[0]; got != want {
				t.Errorf("type: got %q, want %q", got, want)
			}
			wantDefault := row.dflt
			if s.Type == TypeEnum { // settings.md writes enum words bare
				wantDefault = strconv.Quote(wantDefault)
			}
			if got, want := string(s.Default), wantDefault; got != want {
				t.Errorf("default: got %s, want %s", got, want)
			}
			wantAll := row.allUsers
			if wantAll == "—" {
				wantAll = ""
			}
			if got := string(s.AllUsers); got != wantAll {
				t.Errorf("all users: got %q, want %q", got, wantAll)
			}
			if got, want := string(s.Rule), strings.TrimSuffix(row.rule, "*"); got != want {
				t.Errorf("rule: got %q, want %q", got, want)
			}
			if got, want := s.GroupProperty, strings.HasSuffix(row.rule, "*"); got != want {
				t.Errorf("group property: got %v, want %v", got, want)
			}
			if got, want := s.AllowEmpty, strings.Contains(row.typ, `or ""`); got != want {
				t.Errorf("allow empty: got %v, want %v", got, want)
			}
			wantUnit := ""
			for _, u := range []string{UnitSeconds, UnitMinutes} {
				if strings.HasSuffix(row.typ, ", "+u) {
					wantUnit = u
				}
			}
			if s.Unit != wantUnit {
				t.Errorf("unit: got %q, want %q", s.Unit, wantUnit)
			}
			if m := rangeRE.FindStringSubmatch(row.typ); m != nil {
				lo, _ := strconv.ParseFloat(m[1], 64)
				hi, _ := strconv.ParseFloat(m[2], 64)
				if s.Min == nil || *s.Min != lo || s.Max == nil || *s.Max != hi || s.ExclusiveMin {
					t.Errorf("bounds: got min %v max %v exclusive %v, want %v..%v", ptr(s.Min), ptr(s.Max), s.ExclusiveMin, lo, hi)
				}
			}
			if m := minRE.FindStringSubmatch(row.typ); m != nil {
				lo, _ := strconv.ParseFloat(m[2], 64)
				if s.Min == nil || *s.Min != lo || s.ExclusiveMin != (m[1] == ">") {
					t.Errorf("min: got %v exclusive %v, want %s %v", ptr(s.Min), s.ExclusiveMin, m[1], lo)
				}
			}
			if strings.HasPrefix(row.typ, "enum ") {
				want := strings.Split(strings.TrimPrefix(row.typ, "enum "), ", ")
				if !slices.Equal(s.Enum, want) {
					t.Errorf("enum: got %q, want %q", s.Enum, want)
				}
			}
			if s.Type == TypeObject && s.Shape != s.Name {
				t.Errorf("shape: got %q, want %q", s.Shape, s.Name)
			}
			if s.Description == "" || !strings.HasSuffix(s.Description, ".") {
				t.Errorf("description %q: want one sentence", s.Description)
			}
		})
	}
}

func ptr(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func TestCatalogSortedAndLookup(t *testing.T) {
	cat := Catalog()
	if !slices.IsSortedFunc(cat, func(a, b Setting) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("Catalog() is not sorted by name")
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"allow_kasm_audio", true},
		{"control_panel.show_logout", true},
		{"volume_mapping", true},
		{"no_such_setting", false},
		{"", false},
		{"Allow_Kasm_Audio", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := Lookup(tt.name)
			if ok != tt.ok {
				t.Fatalf("Lookup(%q): got ok %v, want %v", tt.name, ok, tt.ok)
			}
			if ok && s.Name != tt.name {
				t.Errorf("Lookup(%q).Name: got %q", tt.name, s.Name)
			}
		})
	}
}

func TestCatalogCopiesDoNotAlias(t *testing.T) {
	cat := Catalog()
	for i := range cat {
		if len(cat[i].Default) > 0 {
			cat[i].Default[0] = 'X'
		}
		cat[i].Enum = append(cat[i].Enum[:0:0], "zzz")
		if cat[i].Min != nil {
			*cat[i].Min = -42
		}
	}
	s, _ := Lookup("keepalive_expiration_action")
	if got, want := string(s.Default), `"delete"`; got != want {
		t.Errorf("default after mutating a copy: got %s, want %s", got, want)
	}
	s, _ = Lookup("keepalive_interval")
	if got := *s.Min; got != 1 {
		t.Errorf("min after mutating a copy: got %v, want 1", got)
	}
	s.Default[0] = 'Y'
	s2, _ := Lookup("keepalive_interval")
	if got, want := string(s2.Default), "300"; got != want {
		t.Errorf("default after mutating a Lookup result: got %s, want %s", got, want)
	}
}

func TestCatalogValuesValidateToThemselves(t *testing.T) {
	for _, s := range Catalog() {
		values := map[string]json.RawMessage{"default": s.Default}
		if s.AllUsers != nil {
			values["all users"] = s.AllUsers
		}
		for which, v := range values {
			t.Run(s.Name+"/"+which, func(t *testing.T) {
				got, err := Validate(s.Name, v)
				if err != nil {
					t.Fatalf("Validate(%s): got error %v", v, err)
				}
				if !bytes.Equal(got, v) {
					t.Errorf("Validate(%s): got %s, want the value unchanged", v, got)
				}
			})
		}
	}
}

func TestClientFacing(t *testing.T) {
	want := []string{
		"allow_kasm_audio", "allow_kasm_clipboard_down", "allow_kasm_clipboard_seamless",
		"allow_kasm_clipboard_up", "allow_kasm_downloads", "allow_kasm_gamepad",
		"allow_kasm_microphone", "allow_kasm_printing", "allow_kasm_sharing", "allow_kasm_uploads",
		"allow_kasm_webcam",
		"control_panel.advanced_settings.show_game_mode",
		"control_panel.advanced_settings.show_ime_input_mode",
		"control_panel.advanced_settings.show_keyboard_controls",
		"control_panel.advanced_settings.show_pointer_lock",
		"control_panel.advanced_settings.show_prefer_local_cursor",
		"control_panel.show_delete_session", "control_panel.show_display_manager",
		"control_panel.show_fullscreen", "control_panel.show_logout",
		"control_panel.show_return_to_workspaces", "control_panel.show_streaming_quality",
		"display_ui_errors", "enable_ui_server_logging", "idle_disconnect",
		"kasm_audio_default_on", "kasm_ime_mode_default_on", "keepalive_interval",
		"lock_sharing_video_mode",
	}
	var got []string
	for _, s := range Catalog() {
		if s.ClientFacing {
			got = append(got, s.Name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("client-facing settings:\ngot  %q\nwant %q", got, want)
	}
}

func TestSettingMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"allow_kasm_audio", `{"name":"allow_kasm_audio","type":"bool","default":false,"all_users_value":true,"rule":"lowest","description":"Streams the session's audio to the user.","constraints":{}}`},
		{"keepalive_interval", `{"name":"keepalive_interval","type":"int","default":300,"all_users_value":null,"rule":"lowest","description":"Seconds between the keepalives the client sends while the user is active in a session.","constraints":{"min":1,"max":86400,"unit":"seconds"}}`},
		{"idle_disconnect", `{"name":"idle_disconnect","type":"number","default":20,"all_users_value":null,"rule":"lowest","description":"Minutes of user inactivity after which the session is disconnected; should be longer than keepalive_interval.","constraints":{"min":0,"max":525600,"exclusive_min":true,"unit":"minutes"}}`},
		{"keepalive_expiration_action", `{"name":"keepalive_expiration_action","type":"enum","default":"delete","all_users_value":null,"rule":"lowest","description":"What happens to a session whose keepalive expired: delete, stop (disk kept) or pause (memory kept); stop and pause apply to container sessions only, others are deleted. Not applied to time-limited sessions.","constraints":{"enum":["delete","stop","pause"]}}`},
		{"dashboard_redirect", `{"name":"dashboard_redirect","type":"url","default":"","all_users_value":null,"rule":"lowest","description":"Sends users to this http(s) address instead of the dashboard; \"\" keeps the dashboard.","constraints":{"allow_empty":true}}`},
		{"volume_mapping", `{"name":"volume_mapping","type":"object","default":{},"all_users_value":null,"rule":"merged","description":"Host directories mounted into sessions, keyed by host path and merged across all of a user's groups.","constraints":{"shape":"volume_mapping"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := Lookup(tt.name)
			got, err := json.Marshal(s)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	t.Run("whole catalog", func(t *testing.T) {
		b, err := json.Marshal(Catalog())
		if err != nil {
			t.Fatalf("marshal catalog: %v", err)
		}
		var back []map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal catalog: %v", err)
		}
		if got, want := len(back), len(Catalog()); got != want {
			t.Errorf("got %d entries, want %d", got, want)
		}
	})
}
