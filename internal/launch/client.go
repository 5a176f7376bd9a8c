package launch

import "wspolicy/internal/settings"

// ClientSettings returns the effective value of every client-facing setting of r (the catalog
// entries marked ClientFacing: clipboard, audio, microphone, webcam, uploads, downloads,
// printing, gamepad, sharing, every control_panel.*, the audio and IME defaults,
// idle_disconnect, keepalive_interval, lock_sharing_video_mode, display_ui_errors and
// enable_ui_server_logging), keyed by setting name as Kasm clients expect. Values are typed by
// the catalog: bool, int64 for int settings, float64 for number settings.
func ClientSettings(r settings.Resolution) map[string]any {
	out := make(map[string]any, 32)
	for _, s := range settings.Catalog() {
		if !s.ClientFacing {
			continue
		}
		switch s.Type {
		case settings.TypeBool:
			out[s.Name] = r.Bool(s.Name)
		case settings.TypeInt:
			out[s.Name] = r.Int(s.Name)
		case settings.TypeNumber:
			out[s.Name] = r.Float(s.Name)
		default:
			out[s.Name] = r.String(s.Name)
		}
	}
	return out
}
