package settings

import (
	"slices"
	"testing"
)

func TestScanObject(t *testing.T) {
	tests := []struct {
		name string
		in   string
		keys []string
		vals []string
		ok   bool
	}{
		{name: "empty", in: `{}`, ok: true},
		{name: "spaces", in: " { \"a\" :\t1 , \"b\" : [ 2 ] }\n", keys: []string{"a", "b"}, vals: []string{"1", "[ 2 ]"}, ok: true},
		{name: "escaped key", in: `{"\u0061\"":true}`, keys: []string{`a"`}, vals: []string{"true"}, ok: true},
		{name: "braces inside strings", in: `{"a":"\"}","b":[1,{"c":"]"}]}`, keys: []string{"a", "b"}, vals: []string{`"\"}"`, `[1,{"c":"]"}]`}, ok: true},
		{name: "escaped backslash before quote", in: `{"a\\":"x\\"}`, keys: []string{`a\`}, vals: []string{`"x\\"`}, ok: true},
		{name: "trailing comma", in: `{"a":1,}`},
		{name: "missing colon", in: `{"a" 1}`},
		{name: "missing value", in: `{"a":}`},
		{name: "unterminated", in: `{"a":1`},
		{name: "unterminated string", in: `{"a":"x}`},
		{name: "trailing data", in: `{"a":1}x`},
		{name: "array", in: `[]`},
		{name: "empty input", in: ``},
		{name: "unbalanced nesting", in: `{"a":{"b":1}`},
		{name: "bad escape in key", in: `{"\x":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, ok := scanObject([]byte(tt.in))
			if ok != tt.ok {
				t.Fatalf("scanObject(%q): got ok %v, want %v", tt.in, ok, tt.ok)
			}
			var keys, vals []string
			for _, m := range ms {
				keys = append(keys, m.key)
				vals = append(vals, string(m.val))
			}
			if !slices.Equal(keys, tt.keys) || !slices.Equal(vals, tt.vals) {
				t.Errorf("scanObject(%q): got keys %q values %q, want %q %q", tt.in, keys, vals, tt.keys, tt.vals)
			}
		})
	}
}
