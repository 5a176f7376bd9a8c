package sso

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Identity is what a verified ID token says about a person.
type Identity struct {
	Issuer   string
	Subject  string
	Username string
	Groups   []string
	Admin    bool
	Expiry   time.Time
}

// ErrInvalidToken is returned for every token that does not verify (bad signature, alg none,
// expired, wrong issuer or audience, malformed).
var ErrInvalidToken = errors.New("the token is not valid")

// discoveryTimeout bounds the fetch of the provider's discovery document.
const discoveryTimeout = 10 * time.Second

// Verifier verifies ID tokens of the configured issuer. Discovery happens on first use (and is
// retried on the next token while the provider is unreachable); go-oidc's remote key set
// caches the JWKS and re-fetches it when a token carries a key id it does not know, so a
// provider's key rotation needs no restart.
type Verifier struct {
	cfg Config
	now func() time.Time

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	ends     Endpoints
}

// Endpoints are the provider's endpoints the console uses, from its discovery document.
type Endpoints struct {
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	EndSession    string `json:"end_session_endpoint,omitempty"`
}

// Endpoints returns the provider's endpoints, discovering it if no token has yet: the console
// reads them from the API, so the browser need not fetch the discovery document itself (some
// providers do not allow it cross-origin).
func (v *Verifier) Endpoints(ctx context.Context) (Endpoints, error) {
	if _, err := v.idVerifier(ctx); err != nil {
		return Endpoints{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.ends, nil
}

// NewVerifier returns a verifier for cfg; now is the clock expiry is checked against
// (nil: time.Now).
func NewVerifier(cfg Config, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{cfg: cfg.withDefaults(), now: now}
}

// Config returns the verifier's configuration.
func (v *Verifier) Config() Config { return v.cfg }

func (v *Verifier) idVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	// The provider (and its key set) outlives this request: it must not be tied to the
	// request's context.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(dctx, nil), v.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover OIDC issuer %s: %w", v.cfg.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&extra) // optional: a provider without RP-initiated logout has none
	v.ends = Endpoints{Authorization: p.Endpoint().AuthURL, Token: p.Endpoint().TokenURL, EndSession: extra.EndSession}
	v.verifier = p.VerifierContext(context.WithoutCancel(ctx), &oidc.Config{
		ClientID:             v.cfg.Audience,
		SupportedSigningAlgs: []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256},
		Now:                  v.now,
	})
	return v.verifier, nil
}

// LooksLikeJWT reports whether a bearer token has the shape of a JWT (three dot-separated
// parts), so API keys never reach the verifier.
func LooksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "ey")
}

// Verify checks a raw ID token and returns the identity it carries. A token that does not
// verify is ErrInvalidToken (wrapped); a provider that cannot be reached is another error.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	iv, err := v.idVerifier(ctx)
	if err != nil {
		return Identity{}, err
	}
	tok, err := iv.Verify(ctx, raw)
	if err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return Identity{}, fmt.Errorf("%w: expired at %s", ErrInvalidToken, exp.Expiry.UTC().Format(time.RFC3339))
		}
		if strings.Contains(err.Error(), "fetching keys") {
			return Identity{}, fmt.Errorf("verify token: %w", err)
		}
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	id := Identity{Issuer: tok.Issuer, Subject: tok.Subject, Expiry: tok.Expiry,
		Groups: stringList(claims[v.cfg.GroupsClaim])}
	for _, c := range []string{v.cfg.UsernameClaim, "email"} {
		if s, ok := claims[c].(string); ok && strings.TrimSpace(s) != "" {
			id.Username = strings.TrimSpace(s)
			break
		}
	}
	if id.Username == "" {
		id.Username = tok.Subject
	}
	if v.cfg.AdminGroup != "" {
		for _, g := range id.Groups {
			if g == v.cfg.AdminGroup {
				id.Admin = true
			}
		}
	}
	if id.Subject == "" {
		return Identity{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	return id, nil
}

// stringList reads a groups claim: a JSON list of strings, or one string of names separated
// by commas or spaces.
func stringList(v any) []string {
	var out []string
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	case string:
		out = strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == ' ' })
	}
	return out
}
