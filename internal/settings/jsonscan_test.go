package settings

import (
	"math/rand/v2"
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

// refSkipValue is skipValue as it was before containers stepped over their strings byte by
// byte: every string goes through scanString.
func refSkipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end, _, ok := scanString(b, i)
		return end, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _, ok := scanString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	start := i
	for i < len(b) {
		c := b[i]
		if c == ',' || c == '}' || c == ']' || c == ':' || isSpace(c) || c == '"' || c == '{' || c == '[' {
			break
		}
		i++
	}
	return i, i > start
}

// TestSkipValueMatchesReference compares skipValue with refSkipValue on random text made of
// the bytes that matter to it: brackets, quotes, backslashes.
func TestSkipValueMatchesReference(t *testing.T) {
	const alphabet = `{}[]"\:, a1`
	rng := rand.New(rand.NewPCG(3, 5))
	for range 200_000 {
		b := make([]byte, rng.IntN(24))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		if len(b) > 0 && rng.IntN(2) == 0 {
			b[0] = "{["[rng.IntN(2)]
		}
		gotEnd, gotOK := skipValue(b, 0)
		wantEnd, wantOK := refSkipValue(b, 0)
		if gotEnd != wantEnd || gotOK != wantOK {
			t.Fatalf("skipValue(%q, 0): got %d, %v, want %d, %v", b, gotEnd, gotOK, wantEnd, wantOK)
		}
	}
}
