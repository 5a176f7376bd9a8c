package settings

import (
	"bytes"
	"testing"
)

func TestAllUsersValues(t *testing.T) {
	got := AllUsersValues()
	tests := []struct {
		name    string
		want    string
		wantSet bool
	}{
		{name: "max_kasms_per_user", want: "5", wantSet: true},
		{name: "allow_kasm_audio", want: "true", wantSet: true},
		{name: "read_only_user_storage_mapping", want: "false", wantSet: true},
		{name: "keepalive_interval", wantSet: false},
		{name: "require_2fa", wantSet: false},
		{name: "no_such_setting", wantSet: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := got[tt.name]
			if ok != tt.wantSet {
				t.Fatalf("present: got %v, want %v (value %s)", ok, tt.wantSet, v)
			}
			if ok && string(v) != tt.want {
				t.Errorf("value: got %s, want %s", v, tt.want)
			}
		})
	}
}

func TestAllUsersValuesIsTheAllUsersColumn(t *testing.T) {
	got := AllUsersValues()
	want := 0
	for _, s := range Catalog() {
		if s.AllUsers == nil {
			if v, ok := got[s.Name]; ok {
				t.Errorf("%s: got %s, want no value (the catalog has none)", s.Name, v)
			}
			continue
		}
		want++
		if !bytes.Equal(got[s.Name], s.AllUsers) {
			t.Errorf("%s: got %s, want %s", s.Name, got[s.Name], s.AllUsers)
		}
	}
	if len(got) != want {
		t.Errorf("size: got %d values, want %d", len(got), want)
	}
}

func TestAllUsersValuesSharesNoMemory(t *testing.T) {
	first := AllUsersValues()
	first["max_kasms_per_user"][0] = '9'
	first["injected"] = []byte("1")
	second := AllUsersValues()
	if got, want := string(second["max_kasms_per_user"]), "5"; got != want {
		t.Errorf("max_kasms_per_user after mutating an earlier result: got %s, want %s", got, want)
	}
	if _, ok := second["injected"]; ok {
		t.Errorf("a key added to an earlier result: got it in a later one, want a fresh map")
	}
}
