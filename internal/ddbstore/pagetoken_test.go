package ddbstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// forgedToken is a page token made by hand: the base64url of its JSON.
func forgedToken(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }

// forgedTokens are tokens a caller can make up: wrong types, empty and oversized keys, sort
// keys outside a listing's range, other partitions, numbers DynamoDB refuses (issue 21).
func forgedTokens() []string {
	long := strings.Repeat("é", 1100) // 2200 bytes
	toks := []string{
		`{"PK":{"t":"N","v":"1"},"SK":{"t":"S","v":"SESSION"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"N","v":"1"}}`,
		`{"PK":{"t":"S","v":"` + long + `"},"SK":{"t":"S","v":"SESSION"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"` + long + `"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"\u0000"}}`,
		`{"PK":{"t":"S","v":"\ud800"},"SK":{"t":"S","v":"SESSION"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#u1"},"GSI1SK":{"t":"N","v":"5"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#u1"},"GSI1SK":{"t":"S","v":"A"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#u1"},"GSI1SK":{"t":"S","v":"SESSION#"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#u1"},"GSI1SK":{"t":"S","v":"SESSION#\uffff"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#u2"},"GSI1SK":{"t":"S","v":"SESSION#x"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"EVENT#1"},"GSI1PK":{"t":"S","v":"USER#u1"},"GSI1SK":{"t":"S","v":"SESSION#x"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#u1"},"GSI1SK":{"t":"S","v":"SESSION#` + long + `"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"DueShard":{"t":"S","v":"DUE#0"},"DueAt":{"t":"N","v":"1e400"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"DueShard":{"t":"S","v":"DUE#0"},"DueAt":{"t":"N","v":"99999999999999999999"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"DueShard":{"t":"S","v":"DUE#0"},"DueAt":{"t":"N","v":"-1"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"DueShard":{"t":"S","v":"DUE#0"},"DueAt":{"t":"N","v":"+5"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"DueShard":{"t":"S","v":"DUE#0"},"DueAt":{"t":"S","v":"5"}}`,
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"DueShard":{"t":"S","v":"DUE#0"},"DueAt":{"t":"N","v":"9223372036854775807"}}`,
		`{"PK":{"t":"B","v":"AA=="},"SK":{"t":"S","v":"SESSION"}}`,
		`{"PK":{"t":"S","v":""},"SK":{"t":"S","v":"SESSION"}}`,
		`{"PK":{"t":"S","v":"x"},"SK":{"t":"S","v":"y"},"x":{"t":"S","v":"z"}}`,
		`{"PK":null,"SK":{"t":"S","v":"y"}}`,
		`[]`, `null`, `{}`, `"x"`,
	}
	out := make([]string, 0, len(toks)+4)
	for _, j := range toks {
		out = append(out, forgedToken(j))
	}
	return append(out, "%%%", "=", strings.Repeat("A", 20000), "eyJhIjoxfQ")
}

// pageListings are every listing of the store that takes a page token.
func pageListings(env sessionEnv) map[string]func(ctx context.Context, tok string) (string, error) {
	now := st0.Add(time.Hour)
	return map[string]func(ctx context.Context, tok string) (string, error){
		"every session (scan)": func(ctx context.Context, tok string) (string, error) {
			p, err := env.ss.ListSessions(ctx, lifecycle.ListFilter{PageToken: tok, Limit: 1})
			return p.NextPageToken, err
		},
		"a user's sessions (query)": func(ctx context.Context, tok string) (string, error) {
			p, err := env.ss.ListSessions(ctx, lifecycle.ListFilter{UserID: "u1", PageToken: tok, Limit: 1})
			return p.NextPageToken, err
		},
		"a user's paused sessions": func(ctx context.Context, tok string) (string, error) {
			p, err := env.ss.ListSessions(ctx, lifecycle.ListFilter{UserID: "u1", Status: lifecycle.StatusPaused, PageToken: tok, Limit: 1})
			return p.NextPageToken, err
		},
		"due sessions": func(ctx context.Context, tok string) (string, error) {
			p, err := env.ss.DueSessions(ctx, now, 0, tok)
			return p.NextPageToken, err
		},
		"due items": func(ctx context.Context, tok string) (string, error) {
			p, err := env.ss.DueItems(ctx, now, 0, tok)
			return p.NextPageToken, err
		},
	}
}

// wantTokenOutcome fails unless err is nil or the page_token 400.
func wantTokenOutcome(t *testing.T, what, tok string, err error) {
	t.Helper()
	if err != nil && (policy.KindOf(err) != policy.KindInvalid || policy.CodeOf(err) != "invalid_page_token" || fieldOf(err) != "page_token") {
		t.Fatalf("%s with token %.200q: %v (kind %s), want a result or invalid_page_token naming page_token", what, tok, err, policy.KindOf(err))
	}
}

func fieldOf(err error) string {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return pe.Field
	}
	return ""
}

// TestForgedPageTokens: every forged token on every listing is a 400 naming page_token (or,
// when it has a listing's exact shape, an ordinary page); never a DynamoDB error.
func TestForgedPageTokens(t *testing.T) {
	env := newSessionEnv(t, "u1", "u2")
	for i := range 3 {
		env.start(t, "s"+string(rune('a'+i)), "u1", true, testLifetime(), st0.Add(time.Duration(i)*time.Second))
	}
	ctx := context.Background()
	for name, list := range pageListings(env) {
		t.Run(name, func(t *testing.T) {
			for _, tok := range forgedTokens() {
				_, err := list(ctx, tok)
				wantTokenOutcome(t, name, tok, err)
			}
		})
	}
	// The probe: a number where the table has a string is refused before DynamoDB.
	_, err := env.ss.ListSessions(ctx, lifecycle.ListFilter{PageToken: forgedToken(`{"PK":{"t":"N","v":"1"},"SK":{"t":"S","v":"SESSION"}}`)})
	wantCode(t, err, policy.KindInvalid, "invalid_page_token")
	// A sort key outside the user's range (before SESSION#) is refused too.
	_, err = env.ss.ListSessions(ctx, lifecycle.ListFilter{UserID: "u1", PageToken: forgedToken(
		`{"PK":{"t":"S","v":"SESSION#s"},"SK":{"t":"S","v":"SESSION"},"GSI1PK":{"t":"S","v":"USER#u1"},"GSI1SK":{"t":"S","v":"A"}}`)})
	wantCode(t, err, policy.KindInvalid, "invalid_page_token")
}

// FuzzPageToken: whatever the token (made of a fuzzed JSON start key, or fuzzed outright),
// every listing answers with a page or the page_token 400, never a DynamoDB error.
func FuzzPageToken(f *testing.F) {
	env := newSessionEnv(f, "u1")
	ctx := context.Background()
	for i := range 3 {
		s, ev := lifecycle.NewSession("s"+string(rune('a'+i)), "u1", "img", true, testLifetime(), st0.Add(time.Duration(i)*time.Second))
		if err := ddbtest.StartSession(ctx, env.ss, s, ev); err != nil {
			f.Fatal(err)
		}
	}
	listings := pageListings(env)
	// The listings' own tokens are seeds, so the fuzzer mutates real shapes.
	for _, list := range listings {
		if tok, err := list(ctx, ""); err == nil && tok != "" {
			raw, _ := base64.RawURLEncoding.DecodeString(tok)
			f.Add(string(raw), false)
		}
	}
	for _, tok := range forgedTokens() {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err == nil {
			f.Add(string(raw), false)
		} else {
			f.Add(tok, true)
		}
	}
	f.Add(`{"PK":{"t":"S","v":"SESSION#sa"},"SK":{"t":"S","v":"SESSION"},"DueShard":{"t":"S","v":"DUE#0"},"DueAt":{"t":"N","v":"1"}}`, false)
	f.Fuzz(func(t *testing.T, s string, asIs bool) {
		tok := s
		if !asIs {
			tok = forgedToken(s)
		}
		for name, list := range listings {
			start := time.Now()
			_, err := list(ctx, tok)
			if d := time.Since(start); d > 10*time.Second { // generous: a loaded machine, not a pathological token
				t.Fatalf("%s with token %.300q took %v", name, tok, d)
			}
			wantTokenOutcome(t, name, tok, err)
		}
	})
}
