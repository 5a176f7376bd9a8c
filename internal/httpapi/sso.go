package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/sso"
)

// SSOPathPrefix prefixes the API's routes for people signed in with an ID token:
// /sso/v1/... is /v1/... for a bearer that is a JWT. On AWS the HTTP API's JWT authorizer
// guards /sso/v1/{proxy+} at the edge (docs/sign-in.md), while /v1/{proxy+} keeps the
// function's own key authentication; the function verifies the token in either case.
const SSOPathPrefix = "/sso"

// ssoPath serves /sso/v1/<rest> as /v1/<rest> when the bearer has the shape of a JWT, as the
// edge does; anything else is refused with 401 (false: answered).
func (s *server) ssoPath(w http.ResponseWriter, r *http.Request, rest string) bool {
	token, err := bearerToken(r)
	if err == nil && !sso.LooksLikeJWT(token) {
		err = errInvalidToken("the /sso routes take an ID token of the identity provider; send API keys to /v1")
	}
	if err != nil {
		writeError(w, r, err)
		return false
	}
	r.URL.Path = "/v1/" + rest
	if r.URL.RawPath != "" {
		r.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, SSOPathPrefix)
	}
	return true
}

// ssoKeyID is the key_id GET /v1/me reports for a caller signed in with an ID token.
const ssoKeyID = "sso"

// maxBearerSize bounds a bearer token: API keys are far shorter, ID tokens with many groups
// are a few KB.
const maxBearerSize = 16 << 10

// The bounds of the verified-token cache: a token is verified and its sign-in synced once,
// then trusted until it expires.
const (
	tokenCacheSize   = 10000
	tokenSignInLimit = 15 * time.Second
)

// tokenAuth authenticates ID tokens of the configured OIDC issuer. The first request with a
// token is the person's sign-in: the user is created or found and their mapped memberships
// synced; later requests with the same token come from the cache until the token expires.
type tokenAuth struct {
	verifier *sso.Verifier
	svc      *sso.Service
	clock    policy.Clock

	mu    sync.Mutex
	cache map[string]tokenEntry
}

type tokenEntry struct {
	caller  caller
	expires time.Time
}

func newTokenAuth(cfg sso.Config, store sso.Store, dir sso.Directory, clock policy.Clock) *tokenAuth {
	return &tokenAuth{
		verifier: sso.NewVerifier(cfg, clock.Now),
		svc:      sso.NewService(store, dir, clock),
		clock:    clock,
		cache:    map[string]tokenEntry{},
	}
}

func errInvalidToken(detail string) error {
	return policy.Errorf(policy.KindUnauthorized, policy.CodeInvalidToken, "the ID token is not valid: %s", detail)
}

func (t *tokenAuth) authenticate(ctx context.Context, token string) (caller, error) {
	h := hashKeyToken(token)
	now := t.clock.Now()
	t.mu.Lock()
	e, ok := t.cache[h]
	t.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.caller, nil
	}
	ctx, cancel := context.WithTimeout(ctx, tokenSignInLimit)
	defer cancel()
	id, err := t.verifier.Verify(ctx, token)
	if errors.Is(err, sso.ErrInvalidToken) {
		return caller{}, errInvalidToken(err.Error())
	}
	if err != nil {
		return caller{}, &policy.Error{Kind: policy.KindUnavailable, Code: policy.CodeIdPUnavailable,
			Message: "the identity provider cannot be reached to verify the token, retry later", Err: err}
	}
	userID, err := t.svc.SignIn(ctx, id)
	if err != nil {
		return caller{}, err
	}
	c := caller{Role: policy.RoleUser, UserID: userID, KeyID: ssoKeyID}
	if id.Admin {
		c.Role = policy.RoleAdmin
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.cache) >= tokenCacheSize {
		for k, e := range t.cache {
			if !now.Before(e.expires) || len(t.cache) >= tokenCacheSize*7/8 {
				delete(t.cache, k)
			}
		}
	}
	t.cache[h] = tokenEntry{caller: c, expires: id.Expiry}
	return c, nil
}

// ssoRoutes are the routes of OIDC sign-in and SSO group mappings.
func (s *server) ssoRoutes() []route {
	return []route{
		{"GET /v1/auth/oidc", accessPublic, s.handleOIDCConfig},
		{"GET /v1/groups/{group_id}/sso-mappings", accessAdmin, s.handleGetSSOMapping},
		{"PUT /v1/groups/{group_id}/sso-mappings", accessAdmin, s.handlePutSSOMapping},
	}
}

// oidcConfigView is the public answer of GET /v1/auth/oidc: what the console needs to sign in.
type oidcConfigView struct {
	Enabled  bool   `json:"enabled"`
	Issuer   string `json:"issuer,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Scopes   string `json:"scopes,omitempty"`
	// The provider's endpoints, when the API could discover them (else the console reads the
	// discovery document itself).
	*sso.Endpoints
}

// oidcDiscoveryWait bounds how long GET /v1/auth/oidc waits for the provider's discovery.
const oidcDiscoveryWait = 3 * time.Second

func (s *server) handleOIDCConfig(w http.ResponseWriter, r *http.Request) error {
	v := oidcConfigView{}
	if s.auth.tokens != nil {
		cfg := s.auth.tokens.verifier.Config()
		v = oidcConfigView{Enabled: true, Issuer: cfg.Issuer, ClientID: cfg.ClientID, Scopes: cfg.Scopes}
		ctx, cancel := context.WithTimeout(r.Context(), oidcDiscoveryWait)
		defer cancel()
		if ends, err := s.auth.tokens.verifier.Endpoints(ctx); err == nil {
			v.Endpoints = &ends
		}
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

type ssoMappingView struct {
	GroupID   string   `json:"group_id"`
	IdPGroups []string `json:"idp_groups"`
}

func (s *server) ssoService() (*sso.Service, error) {
	if s.auth.tokens == nil {
		return nil, policy.Errorf(policy.KindConflict, policy.CodeSSODisabled,
			"OIDC sign-in is not configured (set OIDC_ISSUER and OIDC_CLIENT_ID)")
	}
	return s.auth.tokens.svc, nil
}

func (s *server) handleGetSSOMapping(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	gid := r.PathValue("group_id")
	if _, err := s.dir.GetGroup(r.Context(), gid); err != nil {
		return err
	}
	m, err := svc.Mapping(r.Context(), gid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ssoMappingView{GroupID: gid, IdPGroups: m})
	return nil
}

func (s *server) handlePutSSOMapping(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	var body struct {
		IdPGroups *[]string `json:"idp_groups"`
	}
	if err := decodeJSONBody(w, r, &body, true); err != nil {
		return err
	}
	if body.IdPGroups == nil {
		return policy.FieldErrorf("idp_groups", policy.CodeRequired, "idp_groups is required (an empty list removes the mapping)")
	}
	gid := r.PathValue("group_id")
	m, err := svc.SetMapping(r.Context(), gid, *body.IdPGroups)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ssoMappingView{GroupID: gid, IdPGroups: m})
	return nil
}

// ssoMembershipView explains a membership conferred by the IdP.
type ssoMembershipView struct {
	GroupID     string `json:"group_id"`
	GroupName   string `json:"group_name"`
	IdPGroup    string `json:"idp_group"`
	Explanation string `json:"explanation"`
}

// ssoMemberships explains which of the user's groups come from IdP groups (nil when none or
// when SSO is off); effective settings include it.
func (s *server) ssoMemberships(ctx context.Context, userID string, groups []policy.Group) ([]ssoMembershipView, error) {
	if s.auth.tokens == nil {
		return nil, nil
	}
	ex, err := s.auth.tokens.svc.Explain(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []ssoMembershipView
	for _, e := range ex {
		for _, g := range groups {
			if g.ID == e.GroupID {
				out = append(out, ssoMembershipView{GroupID: g.ID, GroupName: g.Name, IdPGroup: e.IdPGroup,
					Explanation: "member of " + g.Name + " through the IdP group " + e.IdPGroup})
			}
		}
	}
	return out, nil
}
