package settings

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// Small, allocation-light helpers over JSON text. They never panic, whatever the input.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// trimSpace returns b without surrounding JSON whitespace.
func trimSpace(b []byte) []byte {
	i := skipSpace(b, 0)
	j := len(b)
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// isNumberStart reports whether a JSON value starting with c is a number.
func isNumberStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }

// scanString returns the index just past the JSON string starting at b[i] (a quote) and whether
// it contains a backslash escape.
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	j := i + 1
	for {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, false, false
		}
		q += j
		if bytes.IndexByte(b[j:q], '\\') < 0 {
			return q + 1, escaped, true
		}
		escaped = true
		for j < q { // walk the escapes: the quote at q may itself be escaped
			if b[j] == '\\' {
				j += 2
			} else {
				j++
			}
		}
		if j == q {
			return q + 1, true, true
		}
	}
}

// skipValue returns the index just past the JSON value starting at b[i]. It checks the nesting
// of objects and arrays and the ends of strings, not the full grammar.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end, _, ok := scanString(b, i)
		return end, ok
	case '{', '[':
		// Strings inside a container are mostly short keys and words, which stepping over byte
		// by byte does faster than the two bytes.IndexByte calls of scanString; Resolve skips
		// every volume mount of every group this way.
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				for i++; i < len(b) && b[i] != '"'; i++ {
					if b[i] == '\\' {
						i++ // the escaped byte, which may be a quote
					}
				}
				if i >= len(b) {
					return 0, false
				}
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
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

// member is one key and value of a JSON object: key decoded, rawKey and val as they appear in
// the text.
type member struct {
	key    string
	rawKey []byte
	val    []byte
}

// scanObject splits the JSON object b into its members, in document order, without decoding
// the values. ok is false when b is not an object.
func scanObject(b []byte) ([]member, bool) {
	var members []member
	badKey := false
	ok := eachMember(b, func(key, val span, escaped bool) {
		m := member{rawKey: b[key.start:key.end], val: b[val.start:val.end]}
		if !escaped {
			m.key = string(b[key.start+1 : key.end-1])
		} else if json.Unmarshal(m.rawKey, &m.key) != nil {
			badKey = true
		}
		members = append(members, m)
	})
	if !ok || badKey {
		return nil, false
	}
	return members, true
}

// span is the byte range start:end of a JSON text.
type span struct{ start, end int }

// eachMember calls fn with the spans of the quoted key and of the value of every member of the
// JSON object b, in document order, and whether the key contains escapes. It reports whether b
// is an object; when it is not, fn may have been called for the members before the fault.
func eachMember(b []byte, fn func(key, val span, escaped bool)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, escaped, ok := scanString(b, i)
		if !ok {
			return false
		}
		key := span{i, end}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		start := i
		if i, ok = skipValue(b, i); !ok {
			return false
		}
		fn(key, span{start, i}, escaped)
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// wholeResult classifies a JSON number literal for whole-number settings.
type wholeResult int

const (
	wholeOK         wholeResult = iota
	wholeFractional             // has a non-zero fractional part
	wholeTooLarge               // more than 18 integer digits
	wholeNotNumber              // not a JSON number literal
)

// maxWholeDigits keeps whole numbers well inside int64.
const maxWholeDigits = 18

// parseWhole reads a JSON number literal exactly (no float rounding): 2, 2.0, 2.00 and 2e0
// are the whole number 2; 2.5 and 1.0000000000000000001 are fractional.
func parseWhole(lit []byte) (int64, wholeResult) {
	i := 0
	neg := false
	if i < len(lit) && lit[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
		i++
	}
	intDigits := lit[intStart:i]
	if len(intDigits) == 0 {
		return 0, wholeNotNumber
	}
	var fracDigits []byte
	if i < len(lit) && lit[i] == '.' {
		i++
		fs := i
		for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
			i++
		}
		fracDigits = lit[fs:i]
		if len(fracDigits) == 0 {
			return 0, wholeNotNumber
		}
	}
	exp := 0
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		expNeg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			expNeg = lit[i] == '-'
			i++
		}
		es := i
		for i < len(lit) && lit[i] >= '0' && lit[i] <= '9' {
			if exp < 1_000_000 { // saturate: far beyond any digit count we accept
				exp = exp*10 + int(lit[i]-'0')
			}
			i++
		}
		if i == es {
			return 0, wholeNotNumber
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(lit) {
		return 0, wholeNotNumber
	}
	n := len(intDigits) + len(fracDigits)
	digit := func(p int) byte {
		if p < len(intDigits) {
			return intDigits[p] - '0'
		}
		return fracDigits[p-len(intDigits)] - '0'
	}
	// The digit at position p weighs 10^(pointExp + n-1-p).
	pointExp := exp - len(fracDigits)
	first, last := -1, -1
	for p := 0; p < n; p++ {
		if digit(p) != 0 {
			if first < 0 {
				first = p
			}
			last = p
		}
	}
	if first < 0 {
		return 0, wholeOK
	}
	if pointExp+n-1-last < 0 {
		return 0, wholeFractional
	}
	if pointExp+n-1-first >= maxWholeDigits {
		return 0, wholeTooLarge
	}
	var v int64
	for p := first; p < n && pointExp+n-1-p >= 0; p++ {
		v = v*10 + int64(digit(p))
	}
	for e := pointExp; e > 0; e-- {
		v *= 10
	}
	if neg {
		v = -v
	}
	return v, wholeOK
}

// parseFloat reads a JSON number literal; ok is false for non-numbers and values beyond float64.
func parseFloat(lit []byte) (float64, bool) {
	if len(lit) == 0 || !isNumberStart(lit[0]) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// encode marshals v as compact JSON without HTML escaping.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encodeFloat renders f as encoding/json does.
func encodeFloat(f float64) []byte {
	b, err := json.Marshal(f)
	if err != nil { // only for NaN and Inf, which callers have excluded
		return []byte("0")
	}
	return b
}

// describe renders a JSON value for an error message: `string "true"`, `number 2.5`, `null`,
// `an object`.
func describe(raw []byte) string {
	v := trimSpace(raw)
	if len(v) == 0 {
		return "nothing"
	}
	if !utf8.Valid(v) || !json.Valid(v) {
		return "invalid JSON"
	}
	switch c := v[0]; {
	case c == 'n':
		return "null"
	case c == 't' || c == 'f':
		return "boolean " + string(v)
	case c == '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "a string"
		}
		return "string " + strconv.Quote(truncate(s, 60))
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	default:
		return "number " + truncate(string(v), 40)
	}
}

// truncate shortens s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
