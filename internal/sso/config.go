// Package sso signs people in with an OpenID Connect provider: it verifies the provider's ID
// tokens (github.com/coreos/go-oidc: discovery, JWKS fetched, cached and re-fetched when the
// provider rotates its keys), creates the user of a first sign-in (keyed by issuer + subject),
// and keeps the memberships conferred by SSO group mappings in step with the IdP groups of
// each sign-in. It imports no AWS SDK package; storage is behind small interfaces.
package sso

import (
	"net/url"
	"slices"
	"strings"
)

// Config is the OIDC configuration of the API, from the environment (see README "Signing in
// with your identity provider").
type Config struct {
	// Issuer is the provider's issuer URL (OIDC_ISSUER); empty turns OIDC sign-in off.
	Issuer string
	// Audience is the client id tokens must be issued to (OIDC_AUDIENCE, else OIDC_CLIENT_ID).
	Audience string
	// ClientID is the public client the console signs in with (OIDC_CLIENT_ID, else Audience).
	ClientID string
	// UsernameClaim names the claim a new user's username comes from (OIDC_USERNAME_CLAIM,
	// default preferred_username; falls back to email, then the subject).
	UsernameClaim string
	// GroupsClaim names the claim listing the person's IdP groups (OIDC_GROUPS_CLAIM, default
	// groups; Cognito: cognito:groups).
	GroupsClaim string
	// AdminGroup is the IdP group whose members are administrators (OIDC_ADMIN_GROUP); empty:
	// nobody is an administrator through the IdP.
	AdminGroup string
	// Scopes the console asks for (OIDC_SCOPES, default "openid profile email groups").
	Scopes string
	// ProviderOrigins are origins beside the issuer's that the console's browser code calls
	// (OIDC_PROVIDER_ORIGINS, separated by commas or spaces), e.g. the hosted UI domain of a
	// Cognito user pool, whose token endpoint is not on the issuer's origin.
	ProviderOrigins []string
}

// ConfigFromEnv reads the configuration with getenv (os.Getenv).
func ConfigFromEnv(getenv func(string) string) Config {
	c := Config{
		Issuer:        strings.TrimSpace(getenv("OIDC_ISSUER")),
		Audience:      strings.TrimSpace(getenv("OIDC_AUDIENCE")),
		ClientID:      strings.TrimSpace(getenv("OIDC_CLIENT_ID")),
		UsernameClaim: strings.TrimSpace(getenv("OIDC_USERNAME_CLAIM")),
		GroupsClaim:   strings.TrimSpace(getenv("OIDC_GROUPS_CLAIM")),
		AdminGroup:    strings.TrimSpace(getenv("OIDC_ADMIN_GROUP")),
		Scopes:        strings.TrimSpace(getenv("OIDC_SCOPES")),
		ProviderOrigins: strings.FieldsFunc(getenv("OIDC_PROVIDER_ORIGINS"), func(r rune) bool {
			return r == ',' || r == ' '
		}),
	}
	return c.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Audience == "" {
		c.Audience = c.ClientID
	}
	if c.ClientID == "" {
		c.ClientID = c.Audience
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = "preferred_username"
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	if c.Scopes == "" {
		c.Scopes = "openid profile email groups"
	}
	return c
}

// Enabled reports whether OIDC sign-in is configured.
func (c Config) Enabled() bool {
	c = c.withDefaults()
	return c.Issuer != "" && c.Audience != ""
}

// ConnectOrigins are the origins the console may call when OIDC is on (its Content-Security-
// Policy connect-src): the issuer's (discovery, and usually the token endpoint) and the
// ProviderOrigins. Values that are not an http(s) origin are left out, so nothing but an
// origin can reach the header.
func (c Config) ConnectOrigins() []string {
	if !c.Enabled() {
		return nil
	}
	var out []string
	for _, v := range append([]string{c.Issuer}, c.ProviderOrigins...) {
		if o, ok := origin(v); ok && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// origin is scheme://host[:port] of an http(s) URL.
func origin(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		strings.ContainsAny(u.Host, " ;,'\"") {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}
