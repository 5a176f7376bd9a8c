package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"wspolicy/internal/devidp"
	"wspolicy/internal/policy"
	"wspolicy/internal/sso"
)

// startIdP runs the development OpenID Provider on a free loopback port.
func startIdP(t *testing.T) *devidp.Provider {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := devidp.Start(l, nil, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p
}

// newSSOTest is the API with OIDC sign-in against a real local provider; the API's clock is
// the real time at the start (the provider signs with the real time).
func newSSOTest(t *testing.T) (*apiTest, *devidp.Provider) {
	t.Helper()
	idp := startIdP(t)
	a := newAPITest(t, func(c *Config) {
		c.OIDC = sso.Config{Issuer: idp.Issuer(), Audience: devidp.ClientID, AdminGroup: devidp.AdminGroup}
		c.SSOStore = c.Directory.(sso.Store)
	})
	a.clock.Set(time.Now().UTC())
	return a, idp
}

func (a *apiTest) clockSet(t time.Time) { a.clock.Set(t) }

func signIn(t *testing.T, idp *devidp.Provider, username string) string {
	t.Helper()
	tok, err := devidp.SignIn(context.Background(), idp.Issuer(), username, "http://127.0.0.1/callback")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type meBody struct {
	Role   string  `json:"role"`
	UserID *string `json:"user_id"`
	KeyID  string  `json:"key_id"`
}

func TestSSOSignInCreatesUsersAndSyncsMappedGroups(t *testing.T) {
	a, idp := newSSOTest(t)
	eng := a.createGroup("Engineering", 10)
	other := a.createGroup("Manual", 20)
	res := a.do("PUT", "/v1/groups/"+eng+"/sso-mappings", testAdminKey, map[string]any{"idp_groups": []string{devidp.EngineersGroup}})
	mustAPIStatus(t, "set mapping", res, http.StatusOK)

	// The public configuration the console reads.
	res = a.do("GET", "/v1/auth/oidc", "", nil)
	mustAPIStatus(t, "oidc config", res, http.StatusOK)
	var cfg oidcConfigView
	res.json(t, &cfg)
	if !cfg.Enabled || cfg.Issuer != idp.Issuer() || cfg.ClientID != devidp.ClientID || cfg.Endpoints == nil ||
		cfg.Authorization != idp.Issuer()+"/authorize" || cfg.Token != idp.Issuer()+"/token" {
		t.Fatalf("oidc config = %s", res.Body)
	}

	// The administrator: role from the IdP group, user created at the first sign-in.
	adminTok := signIn(t, idp, "ada")
	res = a.do("GET", "/v1/me", adminTok, nil)
	mustAPIStatus(t, "me (ada)", res, http.StatusOK)
	var me meBody
	res.json(t, &me)
	if me.Role != "admin" || me.UserID == nil {
		t.Fatalf("ada: %s", res.Body)
	}
	mustAPIStatus(t, "ada lists groups", a.do("GET", "/v1/groups", adminTok, nil), http.StatusOK)

	// A user in eng-all: a member of Engineering through it.
	tok := signIn(t, idp, "grace")
	res = a.do("GET", "/v1/me", tok, nil)
	mustAPIStatus(t, "me (grace)", res, http.StatusOK)
	res.json(t, &me)
	if me.Role != "user" || me.UserID == nil {
		t.Fatalf("grace: %s", res.Body)
	}
	grace := *me.UserID
	mustAPIStatus(t, "grace lists groups", a.do("GET", "/v1/groups", tok, nil), http.StatusForbidden)
	// A manual membership of an unmapped group is left alone by sign-in.
	mustAPIStatus(t, "add to Manual", a.do("PUT", "/v1/groups/"+other+"/members/"+grace, testAdminKey, nil), http.StatusNoContent)

	u, err := a.store.GetUser(context.Background(), grace)
	if err != nil || u.Username != "grace" || !slices.Contains(u.GroupIDs, eng) {
		t.Fatalf("grace after sign-in: %+v %v", u, err)
	}
	res = a.do("GET", "/v1/users/"+grace+"/effective-settings", tok, nil)
	mustAPIStatus(t, "effective settings", res, http.StatusOK)
	if !strings.Contains(string(res.Body), "member of Engineering through the IdP group eng-all") {
		t.Fatalf("effective settings do not explain the membership: %s", res.Body)
	}
	hist := a.do("GET", "/v1/groups/"+eng+"/history", testAdminKey, nil)
	mustAPIStatus(t, "history", hist, http.StatusOK)
	if !strings.Contains(string(hist.Body), `"actor":"sso"`) {
		t.Fatalf("history has no sso entry: %s", hist.Body)
	}

	// The same identity signs in again: the same user.
	tok2 := signIn(t, idp, "grace")
	res = a.do("GET", "/v1/me", tok2, nil)
	res.json(t, &me)
	if *me.UserID != grace {
		t.Fatalf("second sign-in made another user: %s", res.Body)
	}

	// Removed from the IdP group: the next sign-in removes the membership, not the manual one.
	if err := idp.SetGroups("grace", nil); err != nil {
		t.Fatal(err)
	}
	tok3 := signIn(t, idp, "grace")
	mustAPIStatus(t, "me after removal", a.do("GET", "/v1/me", tok3, nil), http.StatusOK)
	u, err = a.store.GetUser(context.Background(), grace)
	if err != nil || slices.Contains(u.GroupIDs, eng) || !slices.Contains(u.GroupIDs, other) {
		t.Fatalf("grace after removal from eng-all: %+v %v", u, err)
	}
	res = a.do("GET", "/v1/users/"+grace+"/effective-settings", tok3, nil)
	if strings.Contains(string(res.Body), "through the IdP group") {
		t.Fatalf("still explained: %s", res.Body)
	}

	// API keys keep working beside tokens.
	_, key := a.issueKey(grace, policy.RoleUser)
	mustAPIStatus(t, "key", a.do("GET", "/v1/me", key, nil), http.StatusOK)
	mustAPIStatus(t, "admin key", a.do("GET", "/v1/groups", testAdminKey, nil), http.StatusOK)
}

func TestSSORefusesBadTokens(t *testing.T) {
	a, idp := newSSOTest(t)
	good := signIn(t, idp, "grace")
	mustAPIStatus(t, "good token", a.do("GET", "/v1/me", good, nil), http.StatusOK)
	parts := strings.Split(good, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// Tampered: the payload grants the admin group, the signature is the original one.
	tampered := map[string]any{}
	for k, v := range claims {
		tampered[k] = v
	}
	tampered["groups"] = []string{devidp.AdminGroup}
	// Wrong audience: a genuine signature of the provider, for another client.
	wrongAud := jwt.MapClaims{}
	for k, v := range claims {
		wrongAud[k] = v
	}
	wrongAud["aud"] = "another-client"
	wrongAudTok, err := idp.Keypair().SignJWT(wrongAud)
	if err != nil {
		t.Fatal(err)
	}
	// Wrong issuer: a genuine token of another provider.
	otherTok := signIn(t, startIdP(t), "grace")

	cases := map[string]string{
		"tampered":       parts[0] + "." + enc(tampered) + "." + parts[2],
		"alg none":       enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + parts[1] + ".",
		"alg none kid":   enc(map[string]any{"alg": "none", "kid": "x"}) + "." + enc(tampered) + ".",
		"wrong audience": wrongAudTok,
		"wrong issuer":   otherTok,
		"garbage":        "eyJ.eyJ.x",
	}
	for name, tok := range cases {
		res := a.do("GET", "/v1/me", tok, nil)
		if res.Status != http.StatusUnauthorized || res.errorCode() != policy.CodeInvalidToken {
			t.Errorf("%s: got %d %s, want 401 %s", name, res.Status, res.Body, policy.CodeInvalidToken)
		}
	}

	// Expired: the same genuine token once its lifetime is over (also past the token cache).
	a.clockSet(time.Now().Add(11 * time.Minute))
	res := a.do("GET", "/v1/me", good, nil)
	if res.Status != http.StatusUnauthorized || !strings.Contains(string(res.Body), "expired") {
		t.Fatalf("expired: got %d %s", res.Status, res.Body)
	}
}

// The provider rotates its signing key while the API runs: the API's verifier has the old
// JWKS cached, meets a token with an unknown key id, fetches the JWKS again and accepts it; a
// renewed token (refresh grant) signs the person in as the same user.
func TestSSOKeyRotationAndRenewalNeedNoRestart(t *testing.T) {
	a, idp := newSSOTest(t)
	ctx := context.Background()
	first, err := devidp.SignInTokens(ctx, idp.Issuer(), "linus", "http://127.0.0.1/callback")
	if err != nil {
		t.Fatal(err)
	}
	res := a.do("GET", "/v1/me", first.IDToken, nil)
	mustAPIStatus(t, "before rotation", res, http.StatusOK)
	var me meBody
	res.json(t, &me)
	if _, err := idp.RotateKey(); err != nil {
		t.Fatal(err)
	}
	after := signIn(t, idp, "grace")
	mustAPIStatus(t, "token of the new key", a.do("GET", "/v1/me", after, nil), http.StatusOK)
	mustAPIStatus(t, "token of the retired key", a.do("GET", "/v1/me", first.IDToken, nil), http.StatusOK)

	// Renewal: refresh tokens signed before a rotation are refused by the provider, so sign in
	// again and renew that sign-in.
	tk, err := devidp.SignInTokens(ctx, idp.Issuer(), "linus", "http://127.0.0.1/callback")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devidp.Refresh(ctx, idp.Issuer(), first.RefreshToken); err == nil {
		t.Error("a refresh token of the retired key was accepted")
	}
	renewed, err := devidp.Refresh(ctx, idp.Issuer(), tk.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	res = a.do("GET", "/v1/me", renewed.IDToken, nil)
	mustAPIStatus(t, "renewed token", res, http.StatusOK)
	var again meBody
	res.json(t, &again)
	if again.UserID == nil || me.UserID == nil || *again.UserID != *me.UserID {
		t.Fatalf("renewed token is another user: %v vs %v", again.UserID, me.UserID)
	}
}

// With OIDC on, the console's page may call the provider's origin (and only it, beside its own).
func TestSSOConsoleCSPAllowsTheProvider(t *testing.T) {
	a, idp := newSSOTest(t)
	res := a.do("GET", "/console/", "", nil)
	mustAPIStatus(t, "console", res, http.StatusOK)
	origin := strings.TrimSuffix(idp.Issuer(), "/oidc")
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' "+origin+";") {
		t.Fatalf("CSP = %q, want connect-src 'self' %s", csp, origin)
	}
}

// /sso/v1/... is /v1/... for ID tokens (the path the AWS JWT authorizer guards); API keys are
// sent to /v1.
func TestSSOPathTakesIDTokensOnly(t *testing.T) {
	a, idp := newSSOTest(t)
	tok := signIn(t, idp, "grace")
	_, key := a.issueKey(a.createUser("keyholder"), policy.RoleUser)
	cases := []struct {
		name, path, bearer string
		want               int
	}{
		{"ID token", "/sso/v1/me", tok, http.StatusOK},
		{"ID token, escaped path", "/sso/v1/users/%75_x/effective-settings", tok, http.StatusForbidden},
		{"API key", "/sso/v1/me", key, http.StatusUnauthorized},
		{"admin key", "/sso/v1/groups", testAdminKey, http.StatusUnauthorized},
		{"no bearer", "/sso/v1/auth/oidc", "", http.StatusUnauthorized},
		{"API key on /v1", "/v1/me", key, http.StatusOK},
		{"ID token on /v1", "/v1/me", tok, http.StatusOK},
		{"not the API", "/sso/other", tok, http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if res := a.do("GET", c.path, c.bearer, nil); res.Status != c.want {
				t.Errorf("GET %s: got %d %s, want %d", c.path, res.Status, res.Body, c.want)
			}
		})
	}
}
