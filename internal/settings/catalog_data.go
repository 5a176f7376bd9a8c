package settings

import "encoding/json"

// noAllUsers marks a setting the All Users group is created without ("—" in settings.md).
const noAllUsers = ""

func num(v float64) *float64 { return &v }

// flag is a bool setting of rule lowest.
func flag(name, def, allUsers, description string) Setting {
	s := Setting{
		Name:        name,
		Type:        TypeBool,
		Rule:        RuleLowest,
		Description: description,
		Default:     json.RawMessage(def),
	}
	if allUsers != noAllUsers {
		s.AllUsers = json.RawMessage(allUsers)
	}
	return s
}

// clientFlag is a bool setting of rule lowest that the client applies.
func clientFlag(name, def, allUsers, description string) Setting {
	s := flag(name, def, allUsers, description)
	s.ClientFacing = true
	return s
}

// catalogData is settings.md as Go data. buildCatalog sorts it.
func catalogData() []Setting {
	return []Setting{
		flag("allow_2fa_self_enrollment", "false", "true",
			"Lets users enrol their own two-factor devices on their profile page."),
		clientFlag("allow_kasm_audio", "false", "true",
			"Streams the session's audio to the user."),
		clientFlag("allow_kasm_clipboard_down", "false", "true",
			"Lets users copy text from the session to their local computer."),
		clientFlag("allow_kasm_clipboard_seamless", "false", "true",
			"Lets users copy and paste without the control panel (Chrome and Chromium-based browsers only)."),
		clientFlag("allow_kasm_clipboard_up", "false", "true",
			"Lets users paste text from their local computer into the session."),
		flag("allow_kasm_delete", "true", "true",
			"Lets users delete their own sessions."),
		clientFlag("allow_kasm_downloads", "false", "true",
			"Lets users download files from the session."),
		clientFlag("allow_kasm_gamepad", "false", "false",
			"Lets users pass their local gamepads through to the session."),
		clientFlag("allow_kasm_microphone", "false", "true",
			"Lets users pass their local microphone through to the session."),
		clientFlag("allow_kasm_webcam", "false", "false",
			"Lets users pass their local webcam through to the session."),
		clientFlag("allow_kasm_printing", "false", "true",
			"Lets users print documents from the session on their local printers."),
		flag("allow_kasm_pause", "false", "true",
			"Lets users pause their own sessions."),
		clientFlag("allow_kasm_sharing", "false", "true",
			"Lets users share access to their session with other users."),
		flag("allow_kasm_stop", "false", "true",
			"Lets users stop their own sessions."),
		clientFlag("allow_kasm_uploads", "false", "true",
			"Lets users upload files to the session."),
		flag("allow_persistent_profile", "false", "true",
			"Allows persistent profiles on workspaces that have them configured."),
		flag("allow_point_of_presence", "false", noAllUsers,
			"Lets users use the point-of-presence features of workspaces that offer them."),
		flag("allow_totp_2fa", "false", "true",
			"Allows TOTP tokens (e.g. Google Authenticator) as a two-factor authentication method."),
		flag("allow_user_storage_mapping", "false", "true",
			"Lets users register their own storage mappings and have them mounted in new sessions."),
		flag("allow_webauthn_2fa", "false", "true",
			"Allows WebAuthn devices (e.g. YubiKeys) as a two-factor authentication method."),
		flag("allow_zone_selection", "false", noAllUsers,
			"Lets users choose the deployment zone when they start a session."),
		func() Setting {
			s := flag("auto_add_local_users", "false", noAllUsers,
				"Group property: every user created is added to each group that has this set to true.")
			s.GroupProperty = true
			return s
		}(),
		flag("auto_login_to_kasm", "false", noAllUsers,
			"Sends users straight into a session of their default workspace after login."),
		{
			Name: "chat_history_messages", Type: TypeInt, Rule: RuleLowest,
			Description: "Number of chat messages shown to a user who joins a shared session; 0 disables chat history.",
			Default:     json.RawMessage("0"),
			Min:         num(0),
		},
		clientFlag("control_panel.advanced_settings.show_game_mode", "false", "true",
			"Shows the game mode option in the advanced menu of the session control panel."),
		clientFlag("control_panel.advanced_settings.show_ime_input_mode", "false", "true",
			"Shows the IME input mode option in the advanced menu of the session control panel."),
		clientFlag("control_panel.advanced_settings.show_keyboard_controls", "false", "true",
			"Shows the keyboard controls option in the advanced menu of the session control panel."),
		clientFlag("control_panel.advanced_settings.show_pointer_lock", "false", "true",
			"Shows the pointer lock option in the advanced menu of the session control panel."),
		clientFlag("control_panel.advanced_settings.show_prefer_local_cursor", "false", "true",
			"Shows the prefer local cursor option in the advanced menu of the session control panel."),
		clientFlag("control_panel.show_fullscreen", "false", "true",
			"Shows the fullscreen option on the session control panel."),
		clientFlag("control_panel.show_delete_session", "false", "true",
			"Shows the delete session option on the session control panel."),
		clientFlag("control_panel.show_display_manager", "true", noAllUsers,
			"Shows the display manager, which adds and removes displays, on the session control panel."),
		clientFlag("control_panel.show_logout", "false", "true",
			"Shows the logout option on the session control panel."),
		clientFlag("control_panel.show_return_to_workspaces", "false", "true",
			"Shows the return to workspaces option on the session control panel."),
		clientFlag("control_panel.show_streaming_quality", "false", "true",
			"Shows the streaming quality option on the session control panel."),
		{
			Name: "dashboard_redirect", Type: TypeURL, Rule: RuleLowest,
			Description: "Sends users to this http(s) address instead of the dashboard; \"\" keeps the dashboard.",
			Default:     json.RawMessage(`""`),
			AllowEmpty:  true,
		},
		{
			Name: "default_image", Type: TypeID, Rule: RuleLowest,
			Description: "Workspace started by the /go flow, by auto_login_to_kasm and when a session start names no image; \"\" means none.",
			Default:     json.RawMessage(`""`),
			AllowEmpty:  true,
		},
		clientFlag("display_ui_errors", "false", noAllUsers,
			"Shows detailed error information in the client browser."),
		clientFlag("enable_ui_server_logging", "true", noAllUsers,
			"Sends log messages from the client browser to the server."),
		flag("expose_user_environment_vars", "false", noAllUsers,
			"Sets the KASM_USER and KASM_USER_ID environment variables inside the session."),
		{
			Name: "idle_disconnect", Type: TypeNumber, Rule: RuleLowest,
			Description: "Minutes of user inactivity after which the session is disconnected; should be longer than keepalive_interval.",
			Default:     json.RawMessage("20"),
			Min:         num(0), ExclusiveMin: true, Max: num(525600),
			Unit:         UnitMinutes,
			ClientFacing: true,
		},
		flag("inject_ssh_keys", "false", noAllUsers,
			"Injects the user's SSH key pair into new sessions."),
		clientFlag("kasm_audio_default_on", "false", "true",
			"Turns audio on when a session starts."),
		clientFlag("kasm_ime_mode_default_on", "false", noAllUsers,
			"Turns IME input mode on when a session starts."),
		{
			Name: "keepalive_expiration", Type: TypeInt, Rule: RuleLowest,
			Description: "Seconds a session lives without a keepalive before keepalive_expiration_action applies; should be at least twice keepalive_interval. Ignored for time-limited sessions (session_time_limit above 0), which end at their time limit.",
			Default:     json.RawMessage("3600"),
			Min:         num(1), Max: num(31536000),
			Unit: UnitSeconds,
		},
		{
			Name: "keepalive_expiration_action", Type: TypeEnum, Rule: RuleLowest,
			Description: "What happens to a session whose keepalive expired: delete, stop (disk kept) or pause (memory kept); stop and pause apply to container sessions only, others are deleted. Not applied to time-limited sessions.",
			Default:     json.RawMessage(`"delete"`),
			Enum:        []string{"delete", "stop", "pause"},
		},
		{
			Name: "keepalive_interval", Type: TypeInt, Rule: RuleLowest,
			Description: "Seconds between the keepalives the client sends while the user is active in a session.",
			Default:     json.RawMessage("300"),
			Min:         num(1), Max: num(86400),
			Unit:         UnitSeconds,
			ClientFacing: true,
		},
		clientFlag("lock_sharing_video_mode", "true", noAllUsers,
			"Locks video to a static 720p resolution while the session is shared."),
		{
			Name: "max_kasms_per_user", Type: TypeInt, Rule: RuleLowest,
			Description: "Maximum number of sessions a user may have at once; 0 means the user may not start sessions.",
			Default:     json.RawMessage("2"),
			AllUsers:    json.RawMessage("5"),
			Min:         num(0),
		},
		{
			Name: "max_user_storage_mappings", Type: TypeInt, Rule: RuleLowest,
			Description: "Maximum number of storage mappings a user may register.",
			Default:     json.RawMessage("2"),
			Min:         num(0),
		},
		flag("read_only_user_storage_mapping", "true", "false",
			"Forces the user's own storage mappings to be mounted read-only."),
		flag("require_2fa", "false", noAllUsers,
			"Requires two-factor authentication; users enrol a device at their next login."),
		{
			Name: "run_config", Type: TypeObject, Rule: RuleLowest,
			Description: "Docker run parameters (e.g. hostname, environment, security_opt) passed to the provisioning layer untouched; not merged across groups.",
			Default:     json.RawMessage("{}"),
			Shape:       ShapeRunConfig,
		},
		{
			Name: "session_time_limit", Type: TypeInt, Rule: RuleLowest,
			Description: "Seconds after its start at which a session is deleted whatever its keepalives; 0 means no limit. A time-limited session ignores keepalive_expiration and keepalive_expiration_action, as in Kasm.",
			Default:     json.RawMessage("0"),
			Min:         num(0), Max: num(31536000),
			Unit: UnitSeconds,
		},
		flag("staged_session_language_and_timezone_preference_override", "false", noAllUsers,
			"Uses a staged session of the workspace even when its language and time zone differ from the user's preference."),
		{
			Name: "usage_limit", Type: TypeObject, Rule: RuleLowest,
			Description: `Hours of session time allowed per window, for each user ("per_user") or shared by the group ("per_group"); {} means no limit.`,
			Default:     json.RawMessage("{}"),
			Shape:       ShapeUsageLimit,
		},
		{
			Name: "volume_mapping", Type: TypeObject, Rule: RuleMerged,
			Description: "Host directories mounted into sessions, keyed by host path and merged across all of a user's groups.",
			Default:     json.RawMessage("{}"),
			Shape:       ShapeVolumeMapping,
		},
		{
			Name: "web_filter_policy", Type: TypeID, Rule: RuleLowest,
			Description: "Web filter policy applied to the user's sessions; \"\" means none.",
			Default:     json.RawMessage(`""`),
			AllowEmpty:  true,
		},
	}
}
