package launch

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"wspolicy/internal/settings"
)

// behaviourClientSettings is the list of client-facing settings in behaviour.md ("Launch
// configuration and client settings").
var behaviourClientSettings = []string{
	"allow_kasm_audio",
	"allow_kasm_clipboard_down",
	"allow_kasm_clipboard_seamless",
	"allow_kasm_clipboard_up",
	"allow_kasm_downloads",
	"allow_kasm_gamepad",
	"allow_kasm_microphone",
	"allow_kasm_printing",
	"allow_kasm_sharing",
	"allow_kasm_uploads",
	"allow_kasm_webcam",
	"control_panel.advanced_settings.show_game_mode",
	"control_panel.advanced_settings.show_ime_input_mode",
	"control_panel.advanced_settings.show_keyboard_controls",
	"control_panel.advanced_settings.show_pointer_lock",
	"control_panel.advanced_settings.show_prefer_local_cursor",
	"control_panel.show_delete_session",
	"control_panel.show_display_manager",
	"control_panel.show_fullscreen",
	"control_panel.show_logout",
	"control_panel.show_return_to_workspaces",
	"control_panel.show_streaming_quality",
	"display_ui_errors",
	"enable_ui_server_logging",
	"idle_disconnect",
	"kasm_audio_default_on",
	"kasm_ime_mode_default_on",
	"keepalive_interval",
	"lock_sharing_video_mode",
}

func TestClientFacingMatchesBehaviour(t *testing.T) {
	var catalogList, controlPanel []string
	for _, s := range settings.Catalog() {
		if s.ClientFacing {
			catalogList = append(catalogList, s.Name)
		}
		if strings.HasPrefix(s.Name, "control_panel.") {
			controlPanel = append(controlPanel, s.Name)
		}
	}
	slices.Sort(catalogList)
	want := slices.Sorted(slices.Values(behaviourClientSettings))
	if !slices.Equal(catalogList, want) {
		t.Errorf("catalog ClientFacing settings:\n got %v\nwant %v (behaviour.md)", catalogList, want)
	}
	for _, name := range controlPanel {
		if !slices.Contains(want, name) {
			t.Errorf("%s: every control_panel.* setting is client-facing, but it is not in the list", name)
		}
	}
	got := ClientSettings(settings.Resolve(nil))
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range got {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, want) {
		t.Errorf("ClientSettings keys:\n got %v\nwant %v", keys, want)
	}
}

func TestClientSettings(t *testing.T) {
	r := resolve(t,
		group(t, "engineering", 10, map[string]string{
			"allow_kasm_webcam":         "true",
			"allow_kasm_clipboard_down": "false",
			"idle_disconnect":           "45.5",
			"keepalive_interval":        "120",
			"control_panel.show_logout": "false",
			"allow_kasm_delete":         "false",
		}),
		group(t, "contractors", 20, map[string]string{
			"allow_kasm_webcam":       "false",
			"allow_kasm_gamepad":      "true",
			"display_ui_errors":       "true",
			"lock_sharing_video_mode": "false",
			"keepalive_interval":      "60",
		}),
	)
	got := ClientSettings(r)
	tests := []struct {
		name    string
		setting string
		want    any
	}{
		{"higher-precedence group wins", "allow_kasm_webcam", true},
		{"group turns off an All Users permission", "allow_kasm_clipboard_down", false},
		{"only the lower-precedence group sets it", "allow_kasm_gamepad", true},
		{"All Users value when no other group sets it", "allow_kasm_audio", true},
		{"All Users control panel value", "control_panel.show_fullscreen", true},
		{"control panel overridden", "control_panel.show_logout", false},
		{"catalog default when nobody sets it", "control_panel.show_display_manager", true},
		{"catalog default false", "kasm_ime_mode_default_on", false},
		{"ui logging default", "enable_ui_server_logging", true},
		{"ui errors from second group", "display_ui_errors", true},
		{"sharing video mode from second group", "lock_sharing_video_mode", false},
		{"number setting keeps its fraction", "idle_disconnect", 45.5},
		{"int setting is an int64", "keepalive_interval", int64(120)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := got[tc.setting]
			if !ok {
				t.Fatalf("%s missing from client settings", tc.setting)
			}
			if v != tc.want {
				t.Errorf("%s = %#v, want %#v", tc.setting, v, tc.want)
			}
		})
	}
	for _, name := range []string{"allow_kasm_delete", "run_config", "volume_mapping", "max_kasms_per_user", "default_image", "chat_history_messages"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s is in client settings; it is not client-facing", name)
		}
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"control_panel.show_logout":false`, `"idle_disconnect":45.5`, `"keepalive_interval":120`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("JSON %s does not contain %s", b, frag)
		}
	}
}
