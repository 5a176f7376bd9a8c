package settings

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"wspolicy/internal/policy"
)

func TestValidate(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name    string
		setting string
		raw     string
		want    string   // canonical value when valid
		wantErr []string // substrings of the error message when invalid
		code    string   // error code; invalid_setting_value when empty
	}{
		// unknown names and general JSON
		{name: "unknown setting", setting: "allow_kasm_teleport", raw: `true`, wantErr: []string{`unknown setting "allow_kasm_teleport"`}, code: policy.CodeUnknownSetting},
		{name: "empty name", setting: "", raw: `true`, wantErr: []string{`unknown setting ""`}, code: policy.CodeUnknownSetting},
		{name: "empty body", setting: "allow_kasm_audio", raw: ``, wantErr: []string{"allow_kasm_audio must be a JSON boolean (true or false), got nothing"}},
		{name: "invalid json", setting: "allow_kasm_audio", raw: `tru`, wantErr: []string{"got invalid JSON"}},
		{name: "invalid utf8", setting: "default_image", raw: "\"a\xffb\"", wantErr: []string{"default_image must be an id string", "got invalid JSON"}},
		{name: "two values", setting: "allow_kasm_audio", raw: `true false`, wantErr: []string{"got invalid JSON"}},
		{name: "too large", setting: "run_config", raw: `{"a":"` + long(MaxValueBytes) + `"}`, wantErr: []string{"run_config must be at most 16384 bytes of JSON"}},

		// bool
		{name: "bool true", setting: "allow_kasm_audio", raw: `true`, want: `true`},
		{name: "bool false with spaces", setting: "allow_kasm_audio", raw: " \n false\t", want: `false`},
		{name: "bool as string", setting: "allow_kasm_audio", raw: `"true"`, wantErr: []string{`allow_kasm_audio must be a JSON boolean (true or false), got string "true"`}},
		{name: "bool as number", setting: "allow_kasm_audio", raw: `1`, wantErr: []string{"got number 1"}},
		{name: "bool null", setting: "allow_kasm_audio", raw: `null`, wantErr: []string{"got null"}},
		{name: "bool array", setting: "allow_kasm_audio", raw: `[true]`, wantErr: []string{"got an array"}},
		{name: "bool dotted name", setting: "control_panel.show_logout", raw: `true`, want: `true`},

		// int
		{name: "int in range", setting: "keepalive_interval", raw: `300`, want: `300`},
		{name: "int lower bound", setting: "keepalive_interval", raw: `1`, want: `1`},
		{name: "int upper bound", setting: "keepalive_interval", raw: `86400`, want: `86400`},
		{name: "int below min", setting: "keepalive_interval", raw: `0`, wantErr: []string{"keepalive_interval must be a whole number from 1 to 86400 (seconds), got number 0"}},
		{name: "int above max", setting: "keepalive_interval", raw: `86401`, wantErr: []string{"from 1 to 86400", "got number 86401"}},
		{name: "int fraction", setting: "max_kasms_per_user", raw: `2.5`, wantErr: []string{"max_kasms_per_user must be a whole number >= 0, got number 2.5"}},
		{name: "int tiny fraction", setting: "max_kasms_per_user", raw: `1.0000000000000000001`, wantErr: []string{"whole number"}},
		{name: "int written 2.0", setting: "max_kasms_per_user", raw: `2.0`, want: `2`},
		{name: "int written 2.000", setting: "max_kasms_per_user", raw: `2.000`, want: `2`},
		{name: "int exponent", setting: "keepalive_interval", raw: `3e2`, want: `300`},
		{name: "int fraction with exponent", setting: "keepalive_interval", raw: `0.5e1`, want: `5`},
		{name: "int negative exponent fraction", setting: "keepalive_interval", raw: `25e-1`, wantErr: []string{"got number 25e-1"}},
		{name: "int exponent out of range", setting: "keepalive_interval", raw: `1e5`, wantErr: []string{"from 1 to 86400"}},
		{name: "int negative", setting: "chat_history_messages", raw: `-1`, wantErr: []string{"chat_history_messages must be a whole number >= 0, got number -1"}},
		{name: "int negative zero", setting: "chat_history_messages", raw: `-0`, want: `0`},
		{name: "int as string", setting: "keepalive_interval", raw: `"300"`, wantErr: []string{`got string "300"`}},
		{name: "int huge", setting: "max_kasms_per_user", raw: `1e30`, wantErr: []string{"at most 9007199254740991"}},
		{name: "int largest safe", setting: "max_kasms_per_user", raw: `9007199254740991`, want: `9007199254740991`},
		{name: "int beyond safe", setting: "max_kasms_per_user", raw: `9007199254740992`, wantErr: []string{"at most 9007199254740991"}},
		{name: "int huge exponent", setting: "max_kasms_per_user", raw: `1e999999999999`, wantErr: []string{"at most 9007199254740991"}},
		{name: "int tiny exponent", setting: "max_kasms_per_user", raw: `1e-999999999999`, wantErr: []string{"whole number"}},
		{name: "int zero with exponent", setting: "session_time_limit", raw: `0e7`, want: `0`},
		{name: "session time limit max", setting: "session_time_limit", raw: `31536000`, want: `31536000`},
		{name: "keepalive expiration zero", setting: "keepalive_expiration", raw: `0`, wantErr: []string{"keepalive_expiration must be a whole number from 1 to 31536000 (seconds)"}},

		// number
		{name: "number whole", setting: "idle_disconnect", raw: `20`, want: `20`},
		{name: "number decimal", setting: "idle_disconnect", raw: `0.5`, want: `0.5`},
		{name: "number written 20.0", setting: "idle_disconnect", raw: `20.0`, want: `20`},
		{name: "number exponent", setting: "idle_disconnect", raw: `1E1`, want: `10`},
		{name: "number zero", setting: "idle_disconnect", raw: `0`, wantErr: []string{"idle_disconnect must be a number > 0 and <= 525600 (minutes), got number 0"}},
		{name: "number negative", setting: "idle_disconnect", raw: `-5`, wantErr: []string{"got number -5"}},
		{name: "number max", setting: "idle_disconnect", raw: `525600`, want: `525600`},
		{name: "number above max", setting: "idle_disconnect", raw: `525600.5`, wantErr: []string{"<= 525600"}},
		{name: "number overflow", setting: "idle_disconnect", raw: `1e400`, wantErr: []string{"got number 1e400"}},
		{name: "number as string", setting: "idle_disconnect", raw: `"20"`, wantErr: []string{`got string "20"`}},
		{name: "number bool", setting: "idle_disconnect", raw: `true`, wantErr: []string{"got boolean true"}},

		// enum
		{name: "enum delete", setting: "keepalive_expiration_action", raw: `"delete"`, want: `"delete"`},
		{name: "enum stop", setting: "keepalive_expiration_action", raw: `"stop"`, want: `"stop"`},
		{name: "enum pause", setting: "keepalive_expiration_action", raw: `"pause"`, want: `"pause"`},
		{name: "enum escaped", setting: "keepalive_expiration_action", raw: `"\u0070ause"`, want: `"pause"`},
		{name: "enum unknown word", setting: "keepalive_expiration_action", raw: `"destroy"`, wantErr: []string{`keepalive_expiration_action must be one of the strings "delete", "stop", "pause", got string "destroy"`}},
		{name: "enum wrong case", setting: "keepalive_expiration_action", raw: `"Delete"`, wantErr: []string{`got string "Delete"`}},
		{name: "enum number", setting: "keepalive_expiration_action", raw: `1`, wantErr: []string{"got number 1"}},

		// url
		{name: "url empty", setting: "dashboard_redirect", raw: `""`, want: `""`},
		{name: "url https", setting: "dashboard_redirect", raw: `"https://intranet.example.com/start?a=1&b=<2>"`, want: `"https://intranet.example.com/start?a=1&b=<2>"`},
		{name: "url http with port", setting: "dashboard_redirect", raw: `"http://10.0.0.1:8080/"`, want: `"http://10.0.0.1:8080/"`},
		{name: "url upper-case scheme", setting: "dashboard_redirect", raw: `"HTTPS://EXAMPLE.COM"`, want: `"HTTPS://EXAMPLE.COM"`},
		{name: "url ftp", setting: "dashboard_redirect", raw: `"ftp://example.com"`, wantErr: []string{`dashboard_redirect must be an absolute http(s) URL string, or "" for none, got string "ftp://example.com"`}},
		{name: "url relative", setting: "dashboard_redirect", raw: `"example.com/start"`, wantErr: []string{"absolute http(s) URL"}},
		{name: "url no host", setting: "dashboard_redirect", raw: `"https://"`, wantErr: []string{"absolute http(s) URL"}},
		{name: "url javascript", setting: "dashboard_redirect", raw: `"javascript:alert(1)"`, wantErr: []string{"absolute http(s) URL"}},
		{name: "url with space", setting: "dashboard_redirect", raw: `"https://exa mple.com"`, wantErr: []string{"absolute http(s) URL"}},
		{name: "url too long", setting: "dashboard_redirect", raw: `"https://example.com/` + long(MaxURLLength) + `"`, wantErr: []string{"absolute http(s) URL"}},
		{name: "url not a string", setting: "dashboard_redirect", raw: `{"url":"https://example.com"}`, wantErr: []string{"got an object"}},

		// id
		{name: "id empty", setting: "default_image", raw: `""`, want: `""`},
		{name: "id opaque", setting: "default_image", raw: `"img_7k3/ä b"`, want: `"img_7k3/ä b"`},
		{name: "id max length", setting: "web_filter_policy", raw: `"` + long(MaxIDLength) + `"`, want: `"` + long(MaxIDLength) + `"`},
		{name: "id too long", setting: "web_filter_policy", raw: `"` + long(MaxIDLength+1) + `"`, wantErr: []string{"web_filter_policy must be an id string of at most 256 characters"}},
		{name: "id control character", setting: "default_image", raw: `"a\nb"`, wantErr: []string{"default_image must be an id string"}},
		{name: "id number", setting: "default_image", raw: `42`, wantErr: []string{"got number 42"}},

		// usage_limit
		{name: "usage none", setting: "usage_limit", raw: ` { } `, want: `{}`},
		{name: "usage full", setting: "usage_limit", raw: `{"hours": 10, "interval": "weekly", "type": "per_group"}`, want: `{"type":"per_group","interval":"weekly","hours":10}`},
		{name: "usage decimal hours", setting: "usage_limit", raw: `{"type":"per_user","interval":"total","hours":1.5}`, want: `{"type":"per_user","interval":"total","hours":1.5}`},
		{name: "usage hours as string", setting: "usage_limit", raw: `{"type":"per_user","interval":"daily","hours":"5"}`, wantErr: []string{`usage_limit.hours must be a number > 0 and <= 876600, got string "5"`}},
		{name: "usage hours zero", setting: "usage_limit", raw: `{"type":"per_user","interval":"daily","hours":0}`, wantErr: []string{"usage_limit.hours must be a number > 0"}},
		{name: "usage hours negative", setting: "usage_limit", raw: `{"type":"per_user","interval":"daily","hours":-1}`, wantErr: []string{"usage_limit.hours must be a number > 0"}},
		{name: "usage unknown type", setting: "usage_limit", raw: `{"type":"per_org","interval":"daily","hours":1}`, wantErr: []string{`usage_limit.type must be one of "per_user", "per_group", got string "per_org"`}},
		{name: "usage unknown interval", setting: "usage_limit", raw: `{"type":"per_user","interval":"hourly","hours":1}`, wantErr: []string{`usage_limit.interval must be one of "daily", "weekly", "monthly", "total", got string "hourly"`}},
		{name: "usage missing hours", setting: "usage_limit", raw: `{"type":"per_user","interval":"daily"}`, wantErr: []string{"usage_limit.hours is required"}},
		{name: "usage extra key", setting: "usage_limit", raw: `{"type":"per_user","interval":"daily","hours":1,"note":"x"}`, wantErr: []string{`usage_limit has an unknown key "note"`}},
		{name: "usage duplicate key", setting: "usage_limit", raw: `{"type":"per_user","type":"per_group","interval":"daily","hours":1}`, wantErr: []string{`usage_limit has the key "type" twice`}},
		{name: "usage array", setting: "usage_limit", raw: `[]`, wantErr: []string{"usage_limit must be {} or an object with exactly the keys type", "got an array"}},
		{name: "usage null", setting: "usage_limit", raw: `null`, wantErr: []string{"got null"}},

		// volume_mapping
		{name: "volumes none", setting: "volume_mapping", raw: `{}`, want: `{}`},
		{name: "volumes defaults filled", setting: "volume_mapping", raw: `{"/mnt/share": {"bind": "/share", "mode": "ro", "uid": 1000, "gid": 1000}}`,
			want: `{"/mnt/share":{"bind":"/share","mode":"ro","uid":1000,"gid":1000,"required":true,"skip_check":false,"timeout":10}}`},
		{name: "volumes full and sorted", setting: "volume_mapping", raw: `{"/z":{"bind":"/z","mode":"rw","uid":0,"gid":0.0,"required":false,"skip_check":true,"timeout":2.5},"/a&b":{"bind":"/home/{username}/a","mode":"ro","uid":1,"gid":2}}`,
			want: `{"/a&b":{"bind":"/home/{username}/a","mode":"ro","uid":1,"gid":2,"required":true,"skip_check":false,"timeout":10},"/z":{"bind":"/z","mode":"rw","uid":0,"gid":0,"required":false,"skip_check":true,"timeout":2.5}}`},
		{name: "volumes tokens", setting: "volume_mapping", raw: `{"/srv/{user_id}/{username}":{"bind":"/data/{username}","mode":"rw","uid":1000,"gid":1000}}`,
			want: `{"/srv/{user_id}/{username}":{"bind":"/data/{username}","mode":"rw","uid":1000,"gid":1000,"required":true,"skip_check":false,"timeout":10}}`},
		{name: "volumes relative host path", setting: "volume_mapping", raw: `{"srv":{"bind":"/s","mode":"rw","uid":1,"gid":1}}`, wantErr: []string{`volume_mapping host path "srv" must be an absolute path (start with "/")`}},
		{name: "volumes relative bind", setting: "volume_mapping", raw: `{"/srv":{"bind":"s","mode":"rw","uid":1,"gid":1}}`, wantErr: []string{`volume_mapping["/srv"].bind must be an absolute path (start with "/"), got string "s"`}},
		{name: "volumes dot-dot bind", setting: "volume_mapping", raw: `{"/srv":{"bind":"/a/../etc","mode":"rw","uid":1,"gid":1}}`, wantErr: []string{`volume_mapping["/srv"].bind must not contain ".." segments`}},
		{name: "volumes dot-dot host", setting: "volume_mapping", raw: `{"/srv/..":{"bind":"/a","mode":"rw","uid":1,"gid":1}}`, wantErr: []string{`host path "/srv/.." must not contain ".." segments`}},
		{name: "volumes unknown token", setting: "volume_mapping", raw: `{"/home/{home}":{"bind":"/a","mode":"rw","uid":1,"gid":1}}`, wantErr: []string{"{username} and {user_id}"}},
		{name: "volumes bind not string", setting: "volume_mapping", raw: `{"/srv":{"bind":7,"mode":"rw","uid":1,"gid":1}}`, wantErr: []string{`volume_mapping["/srv"].bind must be an absolute path string`, "got number 7"}},
		{name: "volumes bad mode", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rwx","uid":1,"gid":1}}`, wantErr: []string{`volume_mapping["/srv"].mode must be "rw" or "ro", got string "rwx"`}},
		{name: "volumes negative uid", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":-1,"gid":1}}`, wantErr: []string{`volume_mapping["/srv"].uid must be a whole number from 0 to 4294967295, got number -1`}},
		{name: "volumes fractional gid", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":1,"gid":1.5}}`, wantErr: []string{`volume_mapping["/srv"].gid must be a whole number`}},
		{name: "volumes uid as string", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":"1000","gid":1}}`, wantErr: []string{`.uid must be a whole number`, `got string "1000"`}},
		{name: "volumes required as string", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":1,"gid":1,"required":"yes"}}`, wantErr: []string{`volume_mapping["/srv"].required must be a JSON boolean (true or false), got string "yes"`}},
		{name: "volumes skip_check number", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":1,"gid":1,"skip_check":0}}`, wantErr: []string{`.skip_check must be a JSON boolean`}},
		{name: "volumes zero timeout", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":1,"gid":1,"timeout":0}}`, wantErr: []string{`volume_mapping["/srv"].timeout must be a number of seconds > 0 and <= 3600, got number 0`}},
		{name: "volumes unknown key", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":1,"gid":1,"owner":"x"}}`, wantErr: []string{`volume_mapping["/srv"] has an unknown key "owner"`}},
		{name: "volumes duplicate key in mount", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","bind":"/t","mode":"rw","uid":1,"gid":1}}`, wantErr: []string{`volume_mapping["/srv"] has the key "bind" twice`}},
		{name: "volumes missing gid", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":1}}`, wantErr: []string{`volume_mapping["/srv"].gid is required`}},
		{name: "volumes mount not object", setting: "volume_mapping", raw: `{"/srv":"/s"}`, wantErr: []string{`volume_mapping["/srv"] must be an object with bind, mode, uid and gid, got string "/s"`}},
		{name: "volumes duplicate host path", setting: "volume_mapping", raw: `{"/srv":{"bind":"/s","mode":"rw","uid":1,"gid":1},"/srv":{"bind":"/t","mode":"rw","uid":1,"gid":1}}`, wantErr: []string{`volume_mapping has the host path "/srv" twice`}},
		{name: "volumes array", setting: "volume_mapping", raw: `[{"/srv":{}}]`, wantErr: []string{"volume_mapping must be an object mapping absolute host paths to mounts", "got an array"}},
		{name: "volumes null", setting: "volume_mapping", raw: `null`, wantErr: []string{"got null"}},

		// run_config
		{name: "run config empty", setting: "run_config", raw: `{}`, want: `{}`},
		{name: "run config compacted untouched", setting: "run_config", raw: `{ "hostname": "ws-<1>", "environment": {"A": "1"}, "security_opt": ["seccomp=unconfined"], "cpus": 1.50 }`,
			want: `{"hostname":"ws-<1>","environment":{"A":"1"},"security_opt":["seccomp=unconfined"],"cpus":1.50}`},
		{name: "run config array", setting: "run_config", raw: `["hostname"]`, wantErr: []string{"run_config must be a JSON object of docker run parameters, got an array"}},
		{name: "run config string", setting: "run_config", raw: `"{}"`, wantErr: []string{`got string "{}"`}},
		{name: "run config null", setting: "run_config", raw: `null`, wantErr: []string{"got null"}},
		{name: "run config duplicate key", setting: "run_config", raw: `{"hostname":"a","hostname":"b"}`, wantErr: []string{`run_config has the key "hostname" twice`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validate(tt.setting, json.RawMessage(tt.raw))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate(%q, %s): got error %v, want %s", tt.setting, tt.raw, err, tt.want)
				}
				if string(got) != tt.want {
					t.Errorf("Validate(%q, %s): got %s, want %s", tt.setting, tt.raw, got, tt.want)
				}
				again, err := Validate(tt.setting, got)
				if err != nil || string(again) != string(got) {
					t.Errorf("re-validating %s: got %s, %v; want the same bytes", got, again, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%q, %s): got %s, want an error containing %q", tt.setting, tt.raw, got, tt.wantErr)
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v: got %T, want *policy.Error", err, err)
			}
			wantCode := tt.code
			if wantCode == "" {
				wantCode = policy.CodeInvalidSettingValue
			}
			if pe.Kind != policy.KindInvalid || pe.Code != wantCode || pe.Field != tt.setting {
				t.Errorf("error kind/code/field: got %s/%s/%q, want invalid/%s/%q", pe.Kind, pe.Code, pe.Field, wantCode, tt.setting)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(pe.Message, w) {
					t.Errorf("message: got %q, want it to contain %q", pe.Message, w)
				}
			}
			if tt.code == "" && !strings.Contains(pe.Message, tt.setting) {
				t.Errorf("message %q does not name the setting %q", pe.Message, tt.setting)
			}
		})
	}
}

func TestValidateVolumeEntry(t *testing.T) {
	tests := []struct {
		name      string
		hostPath  string
		raw       string
		want      VolumeMount
		wantField string
		wantErr   string
	}{
		{name: "minimal", hostPath: "/nfs/{username}", raw: `{"bind":"/home/kasm-user/nfs","mode":"rw","uid":1000,"gid":1000}`,
			want: VolumeMount{Bind: "/home/kasm-user/nfs", Mode: "rw", UID: 1000, GID: 1000, Required: true, Timeout: 10}},
		{name: "all fields", hostPath: "/nfs", raw: `{"bind":"/n","mode":"ro","uid":0,"gid":4294967295,"required":false,"skip_check":true,"timeout":0.5}`,
			want: VolumeMount{Bind: "/n", Mode: "ro", UID: 0, GID: 4294967295, Required: false, SkipCheck: true, Timeout: 0.5}},
		{name: "relative host path", hostPath: "nfs", raw: `{"bind":"/n","mode":"rw","uid":1,"gid":1}`, wantField: "host_path", wantErr: `host_path must be an absolute path (start with "/")`},
		{name: "empty host path", hostPath: "", raw: `{"bind":"/n","mode":"rw","uid":1,"gid":1}`, wantField: "host_path", wantErr: "host_path must be an absolute path"},
		{name: "control character in host path", hostPath: "/a\x00b", raw: `{"bind":"/n","mode":"rw","uid":1,"gid":1}`, wantField: "host_path", wantErr: "control characters"},
		{name: "bad bind", hostPath: "/nfs", raw: `{"bind":"","mode":"rw","uid":1,"gid":1}`, wantField: "bind", wantErr: `bind must be an absolute path (start with "/"), got string ""`},
		{name: "uid too large", hostPath: "/nfs", raw: `{"bind":"/n","mode":"rw","uid":4294967296,"gid":1}`, wantField: "uid", wantErr: "uid must be a whole number from 0 to 4294967295"},
		{name: "host_path inside the body", hostPath: "/nfs", raw: `{"host_path":"/nfs","bind":"/n","mode":"rw","uid":1,"gid":1}`, wantErr: `the mapping has an unknown key "host_path"`},
		{name: "missing mode", hostPath: "/nfs", raw: `{"bind":"/n","uid":1,"gid":1}`, wantField: "mode", wantErr: "mode is required"},
		{name: "not an object", hostPath: "/nfs", raw: `[]`, wantErr: "the mapping must be an object with bind, mode, uid and gid, got an array"},
		{name: "invalid json", hostPath: "/nfs", raw: `{`, wantErr: "the mapping must be a JSON object, got invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateVolumeEntry(tt.hostPath, json.RawMessage(tt.raw))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want %+v", err, tt.want)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("got %v (%T), want a *policy.Error containing %q", err, err, tt.wantErr)
			}
			if pe.Kind != policy.KindInvalid || pe.Code != policy.CodeInvalidStorageMapping || pe.Field != tt.wantField {
				t.Errorf("kind/code/field: got %s/%s/%q, want invalid/%s/%q", pe.Kind, pe.Code, pe.Field, policy.CodeInvalidStorageMapping, tt.wantField)
			}
			if !strings.Contains(pe.Message, tt.wantErr) {
				t.Errorf("message: got %q, want it to contain %q", pe.Message, tt.wantErr)
			}
		})
	}
}

func TestParseWhole(t *testing.T) {
	tests := []struct {
		lit  string
		want int64
		res  wholeResult
	}{
		{"0", 0, wholeOK},
		{"-0.0e5", 0, wholeOK},
		{"7", 7, wholeOK},
		{"-12", -12, wholeOK},
		{"20.0", 20, wholeOK},
		{"1.5e1", 15, wholeOK},
		{"150e-1", 15, wholeOK},
		{"1.25e1", 0, wholeFractional},
		{"0.1", 0, wholeFractional},
		{"999999999999999999", 999999999999999999, wholeOK},
		{"1000000000000000000", 0, wholeTooLarge},
		{"1e17", 100000000000000000, wholeOK},
		{"1e18", 0, wholeTooLarge},
		{"1.", 0, wholeNotNumber},
		{"e5", 0, wholeNotNumber},
		{"1e", 0, wholeNotNumber},
		{"12x", 0, wholeNotNumber},
		{"", 0, wholeNotNumber},
		{"-", 0, wholeNotNumber},
	}
	for _, tt := range tests {
		t.Run(tt.lit, func(t *testing.T) {
			got, res := parseWhole([]byte(tt.lit))
			if got != tt.want || res != tt.res {
				t.Errorf("parseWhole(%q): got %d, %d; want %d, %d", tt.lit, got, res, tt.want, tt.res)
			}
		})
	}
}
