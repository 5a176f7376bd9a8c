package settings

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

func TestVolumeCacheIdenticalResults(t *testing.T) {
	tests := []struct {
		name   string
		groups []GroupInput
	}{
		{name: "50 groups", groups: benchGroups(50)},
		{name: "escaped and duplicate keys", groups: []GroupInput{
			{ID: "a", Name: "A", Priority: 1, Settings: map[string]json.RawMessage{"volume_mapping": json.RawMessage(`{"/a\u0062":1,"/ab":2,"/c":3}`)}},
			{ID: "b", Name: "B", Priority: 1, Settings: map[string]json.RawMessage{"volume_mapping": json.RawMessage(`{"/ab":4}`)}}}},
		{name: "not an object", groups: []GroupInput{
			{ID: "a", Name: "A", Priority: 1, Settings: map[string]json.RawMessage{"volume_mapping": json.RawMessage(`{"/a":`)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := Resolve(tt.groups)
			for i := range 3 {
				if got := Resolve(tt.groups); !reflect.DeepEqual(got, first) {
					t.Fatalf("call %d: got %+v, want %+v", i+2, got, first)
				}
			}
			// A fresh copy of the bytes hits the cache and must give the same result.
			copied := make([]GroupInput, len(tt.groups))
			for i, g := range tt.groups {
				g.Settings = map[string]json.RawMessage{"volume_mapping": append(json.RawMessage(nil), g.Settings["volume_mapping"]...)}
				copied[i] = g
			}
			want := first.Settings["volume_mapping"]
			if got := Resolve(copied).Settings["volume_mapping"]; !reflect.DeepEqual(got, want) {
				t.Errorf("copied input: got %s %+v, want %s %+v", got.Value, got.Source, want.Value, want.Source)
			}
		})
	}
}

func TestVolumeCacheBounded(t *testing.T) {
	tests := []struct {
		name   string
		values int
		size   int
	}{
		{name: "many small values", values: 3 * volumeCacheMaxEntries, size: 0},
		{name: "large values", values: 200, size: volumeCacheMaxValue / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &volumeCache{}
			pad := make([]byte, tt.size)
			for i := range pad {
				pad[i] = 'x'
			}
			for i := range tt.values {
				raw := []byte(fmt.Sprintf(`{"/p%d":{"bind":"/b","pad":"%s"}}`, i, pad))
				p := c.parse(raw)
				if want := fmt.Sprintf("/p%d", i); !p.ok || len(p.members) != 1 || p.members[0].host != want {
					t.Fatalf("value %d: got %+v, want one member %q", i, p, want)
				}
				if got := c.len(); got > volumeCacheMaxEntries {
					t.Fatalf("after %d values: got %d entries, want at most %d", i+1, got, volumeCacheMaxEntries)
				}
				c.mu.RLock()
				b := c.bytes
				c.mu.RUnlock()
				if b > volumeCacheMaxBytes {
					t.Fatalf("after %d values: got %d bytes, want at most %d", i+1, b, volumeCacheMaxBytes)
				}
			}
		})
	}
}
