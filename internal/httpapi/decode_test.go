package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wspolicy/internal/policy"
)

func TestDecodeJSONBody(t *testing.T) {
	type target struct {
		Name     *string                    `json:"name"`
		Priority *int                       `json:"priority"`
		Set      map[string]json.RawMessage `json:"set"`
		Unset    []string                   `json:"unset"`
	}
	tests := []struct {
		name        string
		body        string
		contentType string
		required    bool
		wantCode    string // "" = success
		wantField   string
	}{
		{name: "object", body: `{"name":"a","priority":3}`, required: true},
		{name: "charset param", body: `{"name":"a"}`, contentType: "application/json; charset=utf-8", required: true},
		{name: "no content type", body: `{"name":"a"}`, contentType: "-", required: true},
		{name: "vendor json", body: `{"name":"a"}`, contentType: "application/merge-patch+json", required: true},
		{name: "empty optional", body: ``, required: false},
		{name: "blank optional", body: "  \n", required: false},
		{name: "empty required", body: ``, required: true, wantCode: "body_required"},
		{name: "form content type", body: `{"name":"a"}`, contentType: "application/x-www-form-urlencoded", required: true, wantCode: "unsupported_media_type"},
		{name: "bad content type", body: `{"name":"a"}`, contentType: ";;;", required: true, wantCode: "unsupported_media_type"},
		{name: "null", body: `null`, required: true, wantCode: "invalid_body"},
		{name: "array", body: `[]`, required: true, wantCode: "invalid_body"},
		{name: "string", body: `"x"`, required: true, wantCode: "invalid_body"},
		{name: "number", body: `5`, required: true, wantCode: "invalid_body"},
		{name: "wrong type", body: `{"name": 5}`, required: true, wantCode: "invalid_type", wantField: "name"},
		{name: "float for int", body: `{"priority": 2.5}`, required: true, wantCode: "invalid_type", wantField: "priority"},
		{name: "string for int", body: `{"priority": "2"}`, required: true, wantCode: "invalid_type", wantField: "priority"},
		{name: "huge number", body: `{"priority": 1e400}`, required: true, wantCode: "invalid_type", wantField: "priority"},
		{name: "array for map", body: `{"set": []}`, required: true, wantCode: "invalid_type", wantField: "set"},
		{name: "object for list", body: `{"unset": {}}`, required: true, wantCode: "invalid_type", wantField: "unset"},
		{name: "number in list", body: `{"unset": [1]}`, required: true, wantCode: "invalid_type", wantField: "unset"},
		{name: "unknown field", body: `{"name":"a","nmae":"b"}`, required: true, wantCode: "unknown_field", wantField: "nmae"},
		{name: "trailing value", body: `{"name":"a"}{"name":"b"}`, required: true, wantCode: "invalid_body"},
		{name: "trailing garbage", body: `{"name":"a"} x`, required: true, wantCode: "invalid_body"},
		{name: "truncated", body: `{"name":"a"`, required: true, wantCode: "malformed_json"},
		{name: "syntax error", body: `{"name":}`, required: true, wantCode: "malformed_json"},
		{name: "single quotes", body: `{'name':'a'}`, required: true, wantCode: "malformed_json"},
		{name: "invalid utf-8", body: "{\"name\":\"\xff\"}", required: true, wantCode: "invalid_body"},
		{name: "too deep", body: `{"set":{"a":` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}}`, required: true, wantCode: "body_too_deep"},
		{name: "brackets in strings do not count", body: `{"name":"` + strings.Repeat("[", 100) + `"}`, required: true},
		{name: "too large", body: `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`, required: true, wantCode: "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader(tt.body))
			switch tt.contentType {
			case "":
				r.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				r.Header.Set("Content-Type", tt.contentType)
			}
			var dst target
			err := decodeJSONBody(httptest.NewRecorder(), r, &dst, tt.required)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("decode: got error %v, want none", err)
				}
				return
			}
			if got := policy.KindOf(err); got != policy.KindInvalid {
				t.Fatalf("decode: got kind %q (%v), want invalid", got, err)
			}
			if got := policy.CodeOf(err); got != tt.wantCode {
				t.Errorf("decode: got code %q (%v), want %q", got, err, tt.wantCode)
			}
			if got := errorFieldOf(err); got != tt.wantField {
				t.Errorf("decode: got field %q, want %q (%v)", got, tt.wantField, err)
			}
		})
	}
}

// errorFieldOf is the Field of the policy error in err's chain, or "".
func errorFieldOf(err error) string {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return pe.Field
	}
	return ""
}

func TestIfMatchVersion(t *testing.T) {
	tests := []struct {
		name    string
		values  []string
		want    int64
		wantErr bool
	}{
		{name: "absent", values: nil, want: 0},
		{name: "any", values: []string{"*"}, want: 0},
		{name: "bare", values: []string{"3"}, want: 3},
		{name: "quoted", values: []string{`"12"`}, want: 12},
		{name: "spaces", values: []string{"  7 "}, want: 7},
		{name: "zero", values: []string{"0"}, wantErr: true},
		{name: "negative", values: []string{"-1"}, wantErr: true},
		{name: "plus sign", values: []string{"+1"}, wantErr: true},
		{name: "word", values: []string{"abc"}, wantErr: true},
		{name: "weak", values: []string{`W/"3"`}, wantErr: true},
		{name: "list", values: []string{"1, 2"}, wantErr: true},
		{name: "two headers", values: []string{"1", "2"}, wantErr: true},
		{name: "empty quotes", values: []string{`""`}, wantErr: true},
		{name: "empty", values: []string{""}, wantErr: true},
		{name: "overflow", values: []string{"99999999999999999999"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPatch, "/v1/groups/g", nil)
			for _, v := range tt.values {
				r.Header.Add("If-Match", v)
			}
			got, err := ifMatchVersion(r)
			if tt.wantErr {
				if policy.CodeOf(err) != "invalid_if_match" {
					t.Fatalf("ifMatchVersion(%q): got %d, %v; want invalid_if_match", tt.values, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ifMatchVersion(%q): got %d, %v; want %d", tt.values, got, err, tt.want)
			}
		})
	}
}

func TestSetVersionHeaderRoundTrips(t *testing.T) {
	w := httptest.NewRecorder()
	setVersionHeader(w, 42)
	if got, want := w.Header().Get("ETag"), `"42"`; got != want {
		t.Fatalf("ETag: got %s, want %s", got, want)
	}
	r := httptest.NewRequest(http.MethodPatch, "/", nil)
	r.Header.Set("If-Match", w.Header().Get("ETag"))
	if got, err := ifMatchVersion(r); err != nil || got != 42 {
		t.Fatalf("If-Match from ETag: got %d, %v; want 42", got, err)
	}
}

func TestJSONTooDeep(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want bool
	}{
		{name: "flat", in: `{"a":1}`, max: 1, want: false},
		{name: "two levels at max one", in: `{"a":[1]}`, max: 1, want: true},
		{name: "siblings do not add up", in: `{"a":[1],"b":[2],"c":{"d":3}}`, max: 2, want: false},
		{name: "escaped quote keeps string open", in: `{"a":"\"[[[["}`, max: 1, want: false},
		{name: "escaped backslash closes string", in: `{"a":"\\","b":[[1]]}`, max: 2, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jsonTooDeep([]byte(tt.in), tt.max); got != tt.want {
				t.Fatalf("jsonTooDeep(%s, %d): got %v, want %v", tt.in, tt.max, got, tt.want)
			}
		})
	}
}
