package devidp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

const redirect = "http://127.0.0.1/callback"

func start(t *testing.T, ttl time.Duration) *Provider {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(l, nil, ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// base is the provider's origin (the /dev endpoints live beside /oidc).
func base(p *Provider) string { return strings.TrimSuffix(p.Issuer(), "/oidc") }

// header decodes a JWT's header.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func verifier(t *testing.T, p *Provider) *oidc.IDTokenVerifier {
	t.Helper()
	op, err := oidc.NewProvider(context.Background(), p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	return op.Verifier(&oidc.Config{ClientID: ClientID})
}

func TestPeopleEndpoints(t *testing.T) {
	p := start(t, 0)
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, base(p)+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	status, body := do("GET", "/dev/people", "")
	var list struct {
		People []Person `json:"people"`
	}
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list.People) != len(Seeded()) {
		t.Fatalf("GET /dev/people = %d %s", status, body)
	}
	cases := []struct {
		name, method, path, body string
		want                     int
	}{
		{"remove grace from eng-all", "PUT", "/dev/people/grace/groups", `{"groups": []}`, 200},
		{"unknown person", "PUT", "/dev/people/nobody/groups", `{"groups": []}`, 404},
		{"not JSON", "PUT", "/dev/people/grace/groups", `groups`, 400},
		{"wrong method", "POST", "/dev/people/grace/groups", `{"groups": []}`, 405},
		{"rotate with GET", "GET", "/dev/rotate-key", ``, 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, body := do(c.method, c.path, c.body); got != c.want {
				t.Errorf("%s %s = %d %s, want %d", c.method, c.path, got, body, c.want)
			}
		})
	}
	for _, per := range p.People() {
		if per.Username == "grace" && len(per.Groups) != 0 {
			t.Fatalf("grace's groups after the PUT: %v", per.Groups)
		}
	}
	// The next sign-in carries the new groups.
	tok, err := SignIn(context.Background(), p.Issuer(), "grace", redirect)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := verifier(t, p).Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Groups []string `json:"groups"`
	}
	if err := idt.Claims(&claims); err != nil || len(claims.Groups) != 0 {
		t.Fatalf("groups claim after removal = %v (%v)", claims.Groups, err)
	}
}

func TestPublicClientRefreshAndTTL(t *testing.T) {
	p := start(t, 90*time.Second)
	ctx := context.Background()
	tk, err := SignInTokens(ctx, p.Issuer(), "linus", redirect)
	if err != nil {
		t.Fatal(err)
	}
	if tk.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	v := verifier(t, p)
	idt, err := v.Verify(ctx, tk.IDToken)
	if err != nil {
		t.Fatal(err)
	}
	if got := idt.Expiry.Sub(idt.IssuedAt); got != 90*time.Second {
		t.Errorf("token lifetime = %s, want 90s", got)
	}
	// The refresh grant without a client secret (the console is a public client).
	rt, err := Refresh(ctx, p.Issuer(), tk.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	idt2, err := v.Verify(ctx, rt.IDToken)
	if err != nil || idt2.Subject != idt.Subject {
		t.Fatalf("refreshed token: %v, subject %q want %q", err, idt2.Subject, idt.Subject)
	}
	if _, err := Refresh(ctx, p.Issuer(), "not-a-token"); err == nil {
		t.Fatal("a made-up refresh token was accepted")
	}
}

func TestRotateKeyWithoutRestart(t *testing.T) {
	p := start(t, 0)
	ctx := context.Background()
	v := verifier(t, p) // caches the JWKS at its first verification
	before, err := SignIn(ctx, p.Issuer(), "ada", redirect)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, before); err != nil {
		t.Fatal(err)
	}
	oldKid := header(t, before)["kid"]
	res, err := http.Post(base(p)+"/dev/rotate-key", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rot struct {
		Kid string `json:"kid"`
	}
	_ = json.NewDecoder(res.Body).Decode(&rot)
	res.Body.Close()
	if res.StatusCode != 200 || rot.Kid == "" || rot.Kid == oldKid {
		t.Fatalf("rotate: %d kid %q (old %v)", res.StatusCode, rot.Kid, oldKid)
	}
	after, err := SignIn(ctx, p.Issuer(), "ada", redirect)
	if err != nil {
		t.Fatal(err)
	}
	if got := header(t, after)["kid"]; got != rot.Kid {
		t.Fatalf("token after rotation signed by %v, want %s", got, rot.Kid)
	}
	// The JWKS publishes both keys; the same verifier (no restart) accepts both tokens.
	res, err = http.Get(p.Issuer() + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	_ = json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.Kid)
	}
	if !slices.Contains(kids, rot.Kid) || !slices.Contains(kids, oldKid.(string)) {
		t.Fatalf("JWKS kids = %v, want the new %s and the old %v", kids, rot.Kid, oldKid)
	}
	for name, tok := range map[string]string{"new key": after, "old key": before} {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
