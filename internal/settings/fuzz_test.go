package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"wspolicy/internal/policy"
)

// FuzzValidate checks that Validate never panics, fails only with an invalid-input
// *policy.Error, and that every value it accepts is valid JSON that re-validates to the same
// canonical bytes.
func FuzzValidate(f *testing.F) {
	for _, s := range Catalog() {
		f.Add(s.Name, []byte(s.Default))
		if s.AllUsers != nil {
			f.Add(s.Name, []byte(s.AllUsers))
		}
	}
	f.Add("keepalive_interval", []byte("2.0e1"))
	f.Add("idle_disconnect", []byte("-0.0"))
	f.Add("usage_limit", []byte(`{"type":"per_user","interval":"daily","hours":1e-3}`))
	f.Add("volume_mapping", []byte(`{"/a/{username}":{"bind":"/b","mode":"ro","uid":1e3,"gid":0,"timeout":0.5}}`))
	f.Add("run_config", []byte(`{"environment":{"A":"\u00e9"},"x":[1,{"y":null}]}`))
	f.Add("dashboard_redirect", []byte(`"https://example.com/?q=<&>"`))
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		got, err := Validate(name, raw)
		if err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) || pe.Kind != policy.KindInvalid || pe.Field != name || pe.Message == "" {
				t.Fatalf("Validate(%q, %q): error %#v is not an invalid-input policy.Error naming the setting", name, raw, err)
			}
			return
		}
		if !json.Valid(got) {
			t.Fatalf("Validate(%q, %q): accepted value %q is not valid JSON", name, raw, got)
		}
		again, err := Validate(name, got)
		if err != nil {
			t.Fatalf("Validate(%q, %q) = %q, which re-validates with error %v", name, raw, got, err)
		}
		if !bytes.Equal(again, got) {
			t.Fatalf("Validate(%q, %q) = %q, which re-validates to %q", name, raw, got, again)
		}
	})
}

// FuzzResolveVolumeMapping checks that merging any stored volume_mapping values never panics,
// and that merging two valid values gives a valid, canonical value.
func FuzzResolveVolumeMapping(f *testing.F) {
	f.Add([]byte(`{"/x":`+mount("/a")+`}`), []byte(`{"/x":`+mount("/b")+`,"/y":`+mount("/c")+`}`))
	f.Add([]byte(`{}`), []byte(`{"/\u0078":`+mount("/b")+`}`))
	f.Add([]byte(`{"a":[1,"}"]}`), []byte(`{"b":"{"`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		r := Resolve([]GroupInput{
			{ID: "a", Name: "A", Priority: 1, Settings: map[string]json.RawMessage{"volume_mapping": a}},
			{ID: "b", Name: "B", Priority: 1, Settings: map[string]json.RawMessage{"volume_mapping": b}},
		})
		_ = r.VolumeMapping()
		ca, errA := Validate("volume_mapping", a)
		cb, errB := Validate("volume_mapping", b)
		if errA != nil || errB != nil {
			return
		}
		r = Resolve([]GroupInput{
			{ID: "a", Name: "A", Priority: 1, Settings: map[string]json.RawMessage{"volume_mapping": ca}},
			{ID: "b", Name: "B", Priority: 2, Settings: map[string]json.RawMessage{"volume_mapping": cb}},
		})
		merged := r.Settings["volume_mapping"].Value
		again, err := Validate("volume_mapping", merged)
		if err != nil || !bytes.Equal(again, merged) {
			t.Fatalf("merge of %s and %s = %s: re-validates to %s, %v", ca, cb, merged, again, err)
		}
		want := r.VolumeMapping()
		for k := range Resolve([]GroupInput{{ID: "b", Priority: 1, Settings: map[string]json.RawMessage{"volume_mapping": cb}}}).VolumeMapping() {
			if _, ok := want[k]; !ok {
				t.Fatalf("host path %q of b missing from the merge %s", k, merged)
			}
		}
	})
}
