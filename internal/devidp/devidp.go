// Package devidp is the development OpenID Provider that `make run` starts beside the API: the
// OP of github.com/oauth2-proxy/mockoidc (discovery, JWKS, authorization code with PKCE, RS256
// ID tokens) with a few seeded people and IdP groups, a sign-in page to pick who signs in,
// and an admin endpoint to change a person's IdP groups. It is for local use only: every
// person signs in without a password.
package devidp

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// ClientID is the public client the console signs in with.
const ClientID = "wspolicy-console"

// The IdP groups of the seeded people.
const (
	AdminGroup     = "wspolicy-admins"
	EngineersGroup = "eng-all"
)

// Person is a seeded person of the provider.
type Person struct {
	Subject  string   `json:"sub"`
	Username string   `json:"preferred_username"`
	Email    string   `json:"email"`
	Groups   []string `json:"groups"`
}

// Seeded are the people the provider starts with: an administrator and two engineers.
func Seeded() []Person {
	return []Person{
		{Subject: "idp-0001", Username: "ada", Email: "ada@example.test", Groups: []string{AdminGroup}},
		{Subject: "idp-0002", Username: "grace", Email: "grace@example.test", Groups: []string{EngineersGroup}},
		{Subject: "idp-0003", Username: "linus", Email: "linus@example.test", Groups: []string{EngineersGroup}},
	}
}

// Provider is a running development OP.
type Provider struct {
	m        *mockoidc.MockOIDC
	mu       sync.Mutex // serialises a sign-in's queue-then-authorize of mockoidc's user queue
	keyMu    sync.RWMutex
	retired  []*mockoidc.Keypair // keys rotated out, still published so their tokens verify
	peopleMu sync.Mutex
	people   map[string]*Person // by username
}

// Start runs the provider on l (e.g. 127.0.0.1:8081). Its issuer is http://<addr>/oidc.
// key signs tokens (nil: a new one); ttl is the lifetime of ID and access tokens (0: 10
// minutes); refresh tokens live an hour, or 6 × ttl when that is longer.
func Start(l net.Listener, key *rsa.PrivateKey, ttl time.Duration) (*Provider, error) {
	m, err := mockoidc.NewServer(key)
	if err != nil {
		return nil, err
	}
	m.ClientID = ClientID
	m.CodeChallengeMethodsSupported = []string{"S256"}
	if ttl > 0 {
		m.AccessTTL = ttl
		m.RefreshTTL = max(time.Hour, 6*ttl)
	}
	p := &Provider{m: m, people: map[string]*Person{}}
	for _, s := range Seeded() {
		s := s
		p.people[s.Username] = &s
	}
	// mockoidc's own Start serves its endpoints only; the provider serves them (through the
	// middleware) beside the people admin endpoint, on the mockoidc server so that its issuer
	// and endpoint URLs are this listener's.
	mux := http.NewServeMux()
	for _, ep := range []struct {
		path string
		h    http.HandlerFunc
	}{
		{mockoidc.AuthorizationEndpoint, m.Authorize},
		{mockoidc.TokenEndpoint, m.Token},
		{mockoidc.UserinfoEndpoint, m.Userinfo},
		{mockoidc.JWKSEndpoint, p.jwks},
		{mockoidc.DiscoveryEndpoint, m.Discovery},
	} {
		mux.Handle(ep.path, p.middleware(ep.h))
	}
	mux.HandleFunc("/dev/people", p.handlePeople)
	mux.HandleFunc("/dev/people/{username}/groups", p.handleGroups)
	mux.HandleFunc("/dev/rotate-key", p.handleRotate)
	m.Server = &http.Server{Addr: l.Addr().String(), Handler: cors(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.Server.Serve(l) }()
	return p, nil
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.m.Issuer() }

// ClientSecret is the secret of the client, for tests that act as a confidential client.
func (p *Provider) ClientSecret() string { return p.m.ClientSecret }

// Keypair signs the provider's tokens (tests use it to check key handling).
func (p *Provider) Keypair() *mockoidc.Keypair {
	p.keyMu.RLock()
	defer p.keyMu.RUnlock()
	return p.m.Keypair
}

// TokenTTL is the lifetime of the ID tokens the provider issues.
func (p *Provider) TokenTTL() time.Duration { return p.m.AccessTTL }

// RotateKey makes a new signing key current, without a restart: tokens issued from now on
// carry its key id, and the JWKS publishes it beside the keys rotated out (so tokens they
// signed verify until they expire). A verifier that caches the JWKS must fetch it again when
// it meets the new key id. Refresh tokens signed with a retired key are no longer accepted
// (mockoidc checks them with the current key only): their holders sign in again.
func (p *Provider) RotateKey() (kid string, err error) {
	kp, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		return "", err
	}
	if kid, err = kp.KeyID(); err != nil {
		return "", err
	}
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	p.retired = append(p.retired, p.m.Keypair)
	p.m.Keypair = kp
	return kid, nil
}

// jwks publishes the current key and the retired ones. It runs inside middleware, which
// holds keyMu for reading (a second read lock could deadlock behind a waiting rotation).
func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	kps := append([]*mockoidc.Keypair{p.m.Keypair}, p.retired...)
	type keySet struct {
		Keys []json.RawMessage `json:"keys"`
	}
	set := keySet{Keys: []json.RawMessage{}}
	for _, kp := range kps {
		b, err := kp.JWKS()
		var one keySet
		if err == nil {
			err = json.Unmarshal(b, &one)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		set.Keys = append(set.Keys, one.Keys...)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

// Shutdown stops the provider.
func (p *Provider) Shutdown(ctx context.Context) error { return p.m.Server.Shutdown(ctx) }

// SetGroups replaces a person's IdP groups; it takes effect at their next sign-in.
func (p *Provider) SetGroups(username string, groups []string) error {
	p.peopleMu.Lock()
	defer p.peopleMu.Unlock()
	per, ok := p.people[username]
	if !ok {
		return fmt.Errorf("no person %q", username)
	}
	per.Groups = append([]string{}, groups...)
	return nil
}

// People lists the people, by username.
func (p *Provider) People() []Person {
	p.peopleMu.Lock()
	defer p.peopleMu.Unlock()
	out := make([]Person, 0, len(p.people))
	for _, per := range p.people {
		c := *per
		c.Groups = slices.Clone(per.Groups)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

func (p *Provider) person(username string) (Person, bool) {
	for _, per := range p.People() {
		if per.Username == username {
			return per, true
		}
	}
	return Person{}, false
}

var pickPage = template.Must(template.New("pick").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Development identity provider</title></head>
<body><h1>Development identity provider</h1>
<p>Sign in as (no password: this provider is for local development only):</p>
<ul>{{range .People}}<li><a class="person" data-username="{{.Username}}" href="{{$.Base}}&amp;login={{.Username}}">{{.Username}}</a> — groups: {{range .Groups}}{{.}} {{end}}</li>{{end}}</ul>
</body></html>`))

// middleware adds what mockoidc leaves to its tests: a page to pick the person who signs in
// (?login=<username> on the authorization request), and a public client (the console holds no
// secret: PKCE protects the code, and a refresh token is itself the credential of its grant,
// so the provider fills in its client's secret for those two grants).
func (p *Provider) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The signing key is read by mockoidc's handlers; a rotation waits for them.
		p.keyMu.RLock()
		defer p.keyMu.RUnlock()
		switch r.URL.Path {
		case mockoidc.AuthorizationEndpoint:
			login := r.URL.Query().Get("login")
			if login == "" {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_ = pickPage.Execute(w, map[string]any{"People": p.People(), "Base": r.URL.Path + "?" + r.URL.RawQuery})
				return
			}
			per, ok := p.person(login)
			if !ok {
				http.Error(w, "no such person", http.StatusBadRequest)
				return
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			p.m.QueueUser(&mockoidc.MockUser{Subject: per.Subject, Email: per.Email, EmailVerified: true,
				PreferredUsername: per.Username, Groups: per.Groups})
			next.ServeHTTP(w, r)
			return
		case mockoidc.TokenEndpoint:
			if err := r.ParseForm(); err == nil && r.PostForm.Get("client_secret") == "" &&
				r.PostForm.Get("client_id") == ClientID &&
				(r.PostForm.Get("code_verifier") != "" || r.PostForm.Get("grant_type") == "refresh_token") {
				r.PostForm.Set("client_secret", p.m.ClientSecret)
				r.Form.Set("client_secret", p.m.ClientSecret)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// handleRotate: POST /dev/rotate-key makes a new signing key current (see RotateKey).
func (p *Provider) handleRotate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	kid, err := p.RotateKey()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(map[string]string{"kid": kid})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b.Bytes())
}

// cors lets the console (another origin) call the token, discovery and JWKS endpoints.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Provider) handlePeople(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"people": p.People()})
}

// handleGroups: PUT /dev/people/{username}/groups {"groups": [...]} replaces the person's
// IdP groups (what an IdP administrator does when someone leaves a team).
func (p *Provider) handleGroups(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		http.Error(w, "use PUT", http.StatusMethodNotAllowed)
		return
	}
	var body struct {
		Groups []string `json:"groups"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&body); err != nil {
		http.Error(w, "send {\"groups\": [...]}", http.StatusBadRequest)
		return
	}
	if err := p.SetGroups(r.PathValue("username"), body.Groups); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	per, _ := p.person(r.PathValue("username"))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(per)
}
