package settings

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// set builds a group's settings from name/JSON pairs.
func set(kv ...string) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = json.RawMessage(kv[i+1])
	}
	return m
}

func groupSource(id, name string, prio int) Source {
	return Source{Kind: SourceKindGroup, Group: &SourceGroup{ID: id, Name: name, Priority: prio}}
}

var defaultSource = Source{Kind: SourceKindDefault}

func TestResolveLowest(t *testing.T) {
	allUsers := GroupInput{ID: "all-users", Name: "All Users", Priority: 1000, Settings: set(
		"allow_kasm_audio", "true", "max_kasms_per_user", "5", "keepalive_expiration_action", `"delete"`)}
	tests := []struct {
		name    string
		groups  []GroupInput
		setting string
		want    string
		source  Source
	}{
		{name: "no groups: catalog default", groups: nil, setting: "max_kasms_per_user", want: "2", source: defaultSource},
		{name: "only All Users", groups: []GroupInput{allUsers}, setting: "max_kasms_per_user", want: "5", source: groupSource("all-users", "All Users", 1000)},
		{name: "lower priority number wins", setting: "max_kasms_per_user", want: "1", source: groupSource("g-eng", "Engineering", 10),
			groups: []GroupInput{allUsers, {ID: "g-ops", Name: "Ops", Priority: 50, Settings: set("max_kasms_per_user", "3")}, {ID: "g-eng", Name: "Engineering", Priority: 10, Settings: set("max_kasms_per_user", "1")}}},
		{name: "group that does not set it is skipped", setting: "allow_kasm_audio", want: "true", source: groupSource("all-users", "All Users", 1000),
			groups: []GroupInput{allUsers, {ID: "g-eng", Name: "Engineering", Priority: 10, Settings: set("max_kasms_per_user", "1")}}},
		{name: "lower group may turn a permission off", setting: "allow_kasm_audio", want: "false", source: groupSource("g-kiosk", "Kiosk", 5),
			groups: []GroupInput{allUsers, {ID: "g-kiosk", Name: "Kiosk", Priority: 5, Settings: set("allow_kasm_audio", "false")}}},
		{name: "group setting nothing", setting: "idle_disconnect", want: "20", source: defaultSource,
			groups: []GroupInput{{ID: "g-empty", Name: "Empty", Priority: 1, Settings: nil}}},
		{name: "setting unknown to the catalog ignored", setting: "allow_kasm_audio", want: "false", source: defaultSource,
			groups: []GroupInput{{ID: "g-old", Name: "Old", Priority: 1, Settings: set("retired_setting", "true")}}},
		{name: "empty stored value counts as unset", setting: "max_kasms_per_user", want: "5", source: groupSource("all-users", "All Users", 1000),
			groups: []GroupInput{allUsers, {ID: "g-x", Name: "X", Priority: 1, Settings: map[string]json.RawMessage{"max_kasms_per_user": nil}}}},
		{name: "tie broken by smaller id", setting: "max_kasms_per_user", want: "7", source: groupSource("g-a", "A", 10),
			groups: []GroupInput{{ID: "g-b", Name: "B", Priority: 10, Settings: set("max_kasms_per_user", "9")}, {ID: "g-a", Name: "A", Priority: 10, Settings: set("max_kasms_per_user", "7")}}},
		{name: "group property resolved like the others", setting: "auto_add_local_users", want: "true", source: groupSource("g-a", "A", 10),
			groups: []GroupInput{{ID: "g-a", Name: "A", Priority: 10, Settings: set("auto_add_local_users", "true")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.groups)
			e, ok := r.Settings[tt.setting]
			if !ok {
				t.Fatalf("%s missing from the resolution", tt.setting)
			}
			if string(e.Value) != tt.want {
				t.Errorf("%s: got %s, want %s", tt.setting, e.Value, tt.want)
			}
			if !reflect.DeepEqual(e.Source, tt.source) {
				t.Errorf("%s source: got %+v (group %+v), want %+v (group %+v)", tt.setting, e.Source, e.Source.Group, tt.source, tt.source.Group)
			}
		})
	}
}

func TestResolveEverySettingPresent(t *testing.T) {
	for _, tt := range []struct {
		name   string
		groups []GroupInput
	}{
		{"no groups", nil},
		{"one group", []GroupInput{{ID: "g", Name: "G", Priority: 1, Settings: set("allow_kasm_audio", "true")}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.groups)
			if got, want := len(r.Settings), len(Catalog()); got != want {
				t.Errorf("got %d settings, want %d", got, want)
			}
			for _, s := range Catalog() {
				e, ok := r.Settings[s.Name]
				if !ok {
					t.Errorf("%s missing", s.Name)
					continue
				}
				if got, err := Validate(s.Name, e.Value); err != nil || string(got) != string(e.Value) {
					t.Errorf("%s: effective value %s is not canonical: %s, %v", s.Name, e.Value, got, err)
				}
			}
			if r.Warnings == nil {
				t.Errorf("Warnings: got nil, want an empty list (so it encodes as [])")
			}
		})
	}
}

func TestResolveDefaultsDoNotAliasCatalog(t *testing.T) {
	r := Resolve(nil)
	v := r.Settings["keepalive_interval"].Value
	v[0] = '9'
	_ = append(r.Settings["keepalive_expiration_action"].Value, "garbage"...)
	if s, _ := Lookup("keepalive_interval"); string(s.Default) != "300" {
		t.Errorf("catalog default after modifying a resolved value: got %s, want 300", s.Default)
	}
	if got := string(Resolve(nil).Settings["keepalive_interval"].Value); got != "300" {
		t.Errorf("next resolution: got %s, want 300", got)
	}
	if got := string(r.Settings["keepalive_interval"].Value); got != "900" {
		t.Errorf("own value: got %s, want 900", got)
	}
	if got := string(r.Settings["keepalive_expiration_action"].Value); got != `"delete"` {
		t.Errorf("neighbour after append: got %s, want \"delete\"", got)
	}
}

func TestResolveTies(t *testing.T) {
	tests := []struct {
		name   string
		groups []GroupInput
		want   []Warning // Message checked by substrings below
		msgs   []string
	}{
		{name: "different priorities: no tie", groups: []GroupInput{
			{ID: "a", Name: "A", Priority: 10, Settings: set("max_kasms_per_user", "1")},
			{ID: "b", Name: "B", Priority: 11, Settings: set("max_kasms_per_user", "2")}}},
		{name: "same priority, only one sets it: no tie", groups: []GroupInput{
			{ID: "a", Name: "A", Priority: 10, Settings: set("max_kasms_per_user", "1")},
			{ID: "b", Name: "B", Priority: 10, Settings: set("allow_kasm_audio", "true")}}},
		{name: "same priority, both set it", groups: []GroupInput{
			{ID: "b", Name: "Beta", Priority: 10, Settings: set("max_kasms_per_user", "2", "allow_kasm_audio", "true")},
			{ID: "a", Name: "Alpha", Priority: 10, Settings: set("max_kasms_per_user", "1", "allow_kasm_audio", "true")}},
			want: []Warning{{Code: WarnPriorityTie, Settings: []string{"allow_kasm_audio", "max_kasms_per_user"}, Groups: []string{"a", "b"}}},
			msgs: []string{`groups "a" (Alpha) and "b" (Beta) have the same priority 10 and both set allow_kasm_audio, max_kasms_per_user`, `the value of "a" applies`}},
		{name: "tie below the winner is not reported", groups: []GroupInput{
			{ID: "w", Name: "W", Priority: 1, Settings: set("max_kasms_per_user", "3")},
			{ID: "a", Name: "A", Priority: 10, Settings: set("max_kasms_per_user", "1")},
			{ID: "b", Name: "B", Priority: 10, Settings: set("max_kasms_per_user", "2")}}},
		{name: "three-way tie: one warning per pair", groups: []GroupInput{
			{ID: "c", Name: "C", Priority: 7, Settings: set("require_2fa", "true")},
			{ID: "a", Name: "A", Priority: 7, Settings: set("require_2fa", "true")},
			{ID: "b", Name: "B", Priority: 7, Settings: set("require_2fa", "false")}},
			want: []Warning{
				{Code: WarnPriorityTie, Settings: []string{"require_2fa"}, Groups: []string{"a", "b"}},
				{Code: WarnPriorityTie, Settings: []string{"require_2fa"}, Groups: []string{"a", "c"}}}},
		{name: "same group listed twice is not a tie", groups: []GroupInput{
			{ID: "a", Name: "A", Priority: 7, Settings: set("require_2fa", "true", "volume_mapping", `{"/x":{"bind":"/x","mode":"rw","uid":1,"gid":1,"required":true,"skip_check":false,"timeout":10}}`)},
			{ID: "a", Name: "A", Priority: 7, Settings: set("require_2fa", "true", "volume_mapping", `{"/x":{"bind":"/x","mode":"rw","uid":1,"gid":1,"required":true,"skip_check":false,"timeout":10}}`)}}},
		{name: "volume_mapping: same priority, same host path", groups: []GroupInput{
			{ID: "b", Name: "B", Priority: 5, Settings: set("volume_mapping", `{"/x":{"bind":"/b","mode":"rw","uid":1,"gid":1,"required":true,"skip_check":false,"timeout":10}}`)},
			{ID: "a", Name: "A", Priority: 5, Settings: set("volume_mapping", `{"/x":{"bind":"/a","mode":"rw","uid":1,"gid":1,"required":true,"skip_check":false,"timeout":10}}`)}},
			want: []Warning{{Code: WarnPriorityTie, Settings: []string{"volume_mapping"}, Groups: []string{"a", "b"}}},
			msgs: []string{`volume_mapping host paths "/x"`}},
		{name: "volume_mapping: same priority, different host paths", groups: []GroupInput{
			{ID: "b", Name: "B", Priority: 5, Settings: set("volume_mapping", `{"/y":{"bind":"/b","mode":"rw","uid":1,"gid":1,"required":true,"skip_check":false,"timeout":10}}`)},
			{ID: "a", Name: "A", Priority: 5, Settings: set("volume_mapping", `{"/x":{"bind":"/a","mode":"rw","uid":1,"gid":1,"required":true,"skip_check":false,"timeout":10}}`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.groups)
			var got []Warning
			for _, w := range r.Warnings {
				if w.Code == WarnPriorityTie {
					got = append(got, w)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d tie warnings %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i].Code != tt.want[i].Code || !slices.Equal(got[i].Settings, tt.want[i].Settings) || !slices.Equal(got[i].Groups, tt.want[i].Groups) {
					t.Errorf("warning %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
			for _, m := range tt.msgs {
				if len(got) == 0 || !strings.Contains(got[0].Message, m) {
					t.Errorf("message: got %+v, want it to contain %q", got, m)
				}
			}
		})
	}
}

// mount is a canonical volume_mapping entry binding path bind.
func mount(bind string) string {
	return `{"bind":"` + bind + `","mode":"rw","uid":1000,"gid":1000,"required":true,"skip_check":false,"timeout":10}`
}

func TestResolveVolumeMapping(t *testing.T) {
	tests := []struct {
		name   string
		groups []GroupInput
		want   string
		source Source
	}{
		{name: "none sets it: default", groups: []GroupInput{{ID: "a", Name: "A", Priority: 1}}, want: `{}`, source: defaultSource},
		{name: "one group sets {}", groups: []GroupInput{{ID: "a", Name: "A", Priority: 1, Settings: set("volume_mapping", `{}`)}},
			want: `{}`, source: Source{Kind: SourceKindGroups, Groups: []SourceGroup{{ID: "a", Name: "A", Priority: 1}}}},
		{name: "union, higher precedence wins on the same host path",
			groups: []GroupInput{
				{ID: "ops", Name: "Ops", Priority: 20, Settings: set("volume_mapping", `{"/b":`+mount("/ops-b")+`,"/shared":`+mount("/ops-shared")+`}`)},
				{ID: "all-users", Name: "All Users", Priority: 1000, Settings: set("volume_mapping", `{"/z":`+mount("/all-z")+`,"/shared":`+mount("/all-shared")+`}`)},
				{ID: "eng", Name: "Eng", Priority: 10, Settings: set("volume_mapping", `{"/shared":`+mount("/eng-shared")+`,"/a":`+mount("/eng-a")+`}`)},
			},
			want: `{"/a":` + mount("/eng-a") + `,"/b":` + mount("/ops-b") + `,"/shared":` + mount("/eng-shared") + `,"/z":` + mount("/all-z") + `}`,
			source: Source{Kind: SourceKindGroups, Groups: []SourceGroup{
				{ID: "eng", Name: "Eng", Priority: 10}, {ID: "ops", Name: "Ops", Priority: 20}, {ID: "all-users", Name: "All Users", Priority: 1000}},
				Mounts: map[string]SourceGroup{
					"/a": {ID: "eng", Name: "Eng", Priority: 10}, "/b": {ID: "ops", Name: "Ops", Priority: 20},
					"/shared": {ID: "eng", Name: "Eng", Priority: 10}, "/z": {ID: "all-users", Name: "All Users", Priority: 1000}}}},
		{name: "equal priority: smaller id wins the host path",
			groups: []GroupInput{
				{ID: "g2", Name: "Two", Priority: 5, Settings: set("volume_mapping", `{"/x":`+mount("/two")+`}`)},
				{ID: "g1", Name: "One", Priority: 5, Settings: set("volume_mapping", `{"/x":`+mount("/one")+`}`)},
			},
			want: `{"/x":` + mount("/one") + `}`,
			source: Source{Kind: SourceKindGroups, Groups: []SourceGroup{
				{ID: "g1", Name: "One", Priority: 5}, {ID: "g2", Name: "Two", Priority: 5}},
				Mounts: map[string]SourceGroup{"/x": {ID: "g1", Name: "One", Priority: 5}}}},
		{name: "corrupt stored value ignored",
			groups: []GroupInput{
				{ID: "bad", Name: "Bad", Priority: 1, Settings: set("volume_mapping", `[1,2`)},
				{ID: "ok", Name: "OK", Priority: 2, Settings: set("volume_mapping", `{"/x":`+mount("/ok")+`}`)},
			},
			want: `{"/x":` + mount("/ok") + `}`,
			source: Source{Kind: SourceKindGroups, Groups: []SourceGroup{{ID: "ok", Name: "OK", Priority: 2}},
				Mounts: map[string]SourceGroup{"/x": {ID: "ok", Name: "OK", Priority: 2}}}},
		{name: "escaped host path keys sort by their decoded text",
			groups: []GroupInput{
				{ID: "a", Name: "A", Priority: 1, Settings: set("volume_mapping", `{"/\u0062":`+mount("/b")+`}`)},
				{ID: "b", Name: "B", Priority: 2, Settings: set("volume_mapping", `{"/a":`+mount("/a")+`,"/b":`+mount("/lost")+`}`)},
			},
			want: `{"/a":` + mount("/a") + `,"/\u0062":` + mount("/b") + `}`,
			source: Source{Kind: SourceKindGroups, Groups: []SourceGroup{
				{ID: "a", Name: "A", Priority: 1}, {ID: "b", Name: "B", Priority: 2}},
				Mounts: map[string]SourceGroup{"/a": {ID: "b", Name: "B", Priority: 2}, "/b": {ID: "a", Name: "A", Priority: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.groups)
			e := r.Settings["volume_mapping"]
			if string(e.Value) != tt.want {
				t.Errorf("value:\ngot  %s\nwant %s", e.Value, tt.want)
			}
			if !json.Valid(e.Value) {
				t.Errorf("value %s is not valid JSON", e.Value)
			}
			if !reflect.DeepEqual(e.Source, tt.source) {
				t.Errorf("source: got %+v, want %+v", e.Source, tt.source)
			}
		})
	}
}

func TestResolveRelationWarnings(t *testing.T) {
	tests := []struct {
		name   string
		groups []GroupInput
		want   []Warning
	}{
		{name: "defaults are consistent", groups: nil},
		{name: "effective values from two groups", groups: []GroupInput{
			{ID: "fast", Name: "Fast", Priority: 1, Settings: set("keepalive_expiration", "500")},
			{ID: "all-users", Name: "All Users", Priority: 1000, Settings: set("keepalive_interval", "300")}},
			want: []Warning{{Code: WarnKeepaliveExpiration, Settings: []string{"keepalive_expiration", "keepalive_interval"}, Groups: []string{"fast", "all-users"}}}},
		{name: "idle against default interval", groups: []GroupInput{
			{ID: "g", Name: "G", Priority: 1, Settings: set("idle_disconnect", "5")}},
			want: []Warning{{Code: WarnIdleDisconnect, Settings: []string{"idle_disconnect", "keepalive_interval"}, Groups: []string{"g"}}}},
		{name: "both relations", groups: []GroupInput{
			{ID: "g", Name: "G", Priority: 1, Settings: set("keepalive_interval", "3600")}},
			want: []Warning{
				{Code: WarnKeepaliveExpiration, Settings: []string{"keepalive_expiration", "keepalive_interval"}, Groups: []string{"g"}},
				{Code: WarnIdleDisconnect, Settings: []string{"idle_disconnect", "keepalive_interval"}, Groups: []string{"g"}}}},
		{name: "a time limit with the keepalive defaults", groups: []GroupInput{
			{ID: "g", Name: "G", Priority: 1, Settings: set("session_time_limit", "900")}}},
		{name: "a time limit and a keepalive expiration from another group", groups: []GroupInput{
			{ID: "lab", Name: "Lab", Priority: 5, Settings: set("session_time_limit", "900")},
			{ID: "all-users", Name: "All Users", Priority: 1000, Settings: set("keepalive_expiration", "1800")}},
			want: []Warning{{Code: WarnTimeLimitIgnoresKeepalive,
				Settings: []string{"session_time_limit", "keepalive_expiration", "keepalive_expiration_action"}, Groups: []string{"lab", "all-users"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.groups)
			if len(r.Warnings) != len(tt.want) {
				t.Fatalf("got %d warnings %+v, want %d", len(r.Warnings), r.Warnings, len(tt.want))
			}
			for i, w := range r.Warnings {
				if w.Code != tt.want[i].Code || !slices.Equal(w.Settings, tt.want[i].Settings) || !slices.Equal(w.Groups, tt.want[i].Groups) {
					t.Errorf("warning %d: got %+v, want %+v", i, w, tt.want[i])
				}
			}
		})
	}
}

func TestResolutionAccessors(t *testing.T) {
	r := Resolve([]GroupInput{{ID: "g", Name: "G", Priority: 3, Settings: set(
		"allow_kasm_audio", "true",
		"max_kasms_per_user", "4",
		"idle_disconnect", "2.5",
		"keepalive_expiration_action", `"pause"`,
		"default_image", `"img_1"`,
		"usage_limit", `{"type":"per_group","interval":"monthly","hours":12.5}`,
		"volume_mapping", `{"/nfs/{username}":{"bind":"/home/kasm-user/nfs","mode":"ro","uid":1000,"gid":1001,"required":false,"skip_check":true,"timeout":3}}`,
		"run_config", `{"hostname":"ws","environment":{"A":"1"},"cpus":1.50,"big":12345678901234567890}`,
	)}})
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"Bool set", r.Bool("allow_kasm_audio"), true},
		{"Bool default", r.Bool("allow_kasm_delete"), true},
		{"Bool not a bool", r.Bool("max_kasms_per_user"), false},
		{"Bool unknown", r.Bool("nope"), false},
		{"Int set", r.Int("max_kasms_per_user"), int64(4)},
		{"Int default", r.Int("keepalive_interval"), int64(300)},
		{"Int unknown", r.Int("nope"), int64(0)},
		{"Int of a number", r.Int("idle_disconnect"), int64(2)},
		{"Float set", r.Float("idle_disconnect"), 2.5},
		{"Float of an int", r.Float("keepalive_expiration"), 3600.0},
		{"String enum", r.String("keepalive_expiration_action"), "pause"},
		{"String id", r.String("default_image"), "img_1"},
		{"String default", r.String("web_filter_policy"), ""},
		{"String not a string", r.String("allow_kasm_audio"), ""},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v (%T), want %v (%T)", c.got, c.got, c.want, c.want)
			}
		})
	}
	t.Run("UsageLimit", func(t *testing.T) {
		ul, src := r.UsageLimit()
		if want := (UsageLimit{Type: "per_group", Interval: "monthly", Hours: 12.5}); ul != want {
			t.Errorf("got %+v, want %+v", ul, want)
		}
		if src.Kind != SourceKindGroup || src.Group == nil || src.Group.ID != "g" {
			t.Errorf("source: got %+v, want group g", src)
		}
		ul, src = Resolve(nil).UsageLimit()
		if ul != (UsageLimit{}) || src.Kind != SourceKindDefault {
			t.Errorf("default: got %+v from %+v, want no limit from the default", ul, src)
		}
	})
	t.Run("VolumeMapping", func(t *testing.T) {
		want := map[string]VolumeMount{"/nfs/{username}": {Bind: "/home/kasm-user/nfs", Mode: "ro", UID: 1000, GID: 1001, Required: false, SkipCheck: true, Timeout: 3}}
		if got := r.VolumeMapping(); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if got := Resolve(nil).VolumeMapping(); got == nil || len(got) != 0 {
			t.Errorf("default: got %#v, want an empty map", got)
		}
	})
	t.Run("RunConfig", func(t *testing.T) {
		got := r.RunConfig()
		want := map[string]any{"hostname": "ws", "environment": map[string]any{"A": "1"}, "cpus": json.Number("1.50"), "big": json.Number("12345678901234567890")}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %#v, want %#v", got, want)
		}
		if got := Resolve(nil).RunConfig(); got == nil || len(got) != 0 {
			t.Errorf("default: got %#v, want an empty map", got)
		}
		if got := (Resolution{}).RunConfig(); got == nil {
			t.Errorf("zero Resolution: got nil, want an empty map")
		}
	})
}

func TestResolutionJSON(t *testing.T) {
	r := Resolve([]GroupInput{{ID: "g", Name: "G", Priority: 3, Settings: set("allow_kasm_audio", "true", "volume_mapping", "{}")}})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var back struct {
		Settings map[string]json.RawMessage `json:"settings"`
		Warnings json.RawMessage            `json:"warnings"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	tests := []struct{ name, got, want string }{
		{"group source", string(back.Settings["allow_kasm_audio"]), `{"value":true,"source":{"kind":"group","group":{"group_id":"g","name":"G","priority":3}}}`},
		{"default source", string(back.Settings["allow_kasm_pause"]), `{"value":false,"source":{"kind":"default"}}`},
		{"merged source", string(back.Settings["volume_mapping"]), `{"value":{},"source":{"kind":"groups","groups":[{"group_id":"g","name":"G","priority":3}]}}`},
		{"warnings", string(back.Warnings), `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got  %s\nwant %s", tt.got, tt.want)
			}
		})
	}
}
