package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wspolicy/internal/policy"
)

// keyDirectory is a Directory that only knows keys and counts KeyByHash calls; any other
// method panics (through the nil embedded interface), so these tests prove auth reads nothing
// else.
type keyDirectory struct {
	policy.Directory
	mu      sync.Mutex
	keys    map[string]policy.APIKey
	lookups atomic.Int64
	fail    error
	delay   time.Duration
}

func (d *keyDirectory) KeyByHash(ctx context.Context, hash string) (policy.APIKey, error) {
	d.lookups.Add(1)
	time.Sleep(d.delay)
	if d.fail != nil {
		return policy.APIKey{}, d.fail
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	k, ok := d.keys[hash]
	if !ok {
		return policy.APIKey{}, policy.Errorf(policy.KindNotFound, "key_not_found", "no such key")
	}
	return k, nil
}

func (d *keyDirectory) add(role policy.Role, userID string) (policy.APIKey, string) {
	id, token := newKeyToken()
	k := policy.APIKey{ID: id, UserID: userID, Role: role, Hash: hashKeyToken(token)}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.keys[k.Hash] = k
	return k, token
}

func (d *keyDirectory) remove(k policy.APIKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.keys, k.Hash)
}

func TestParseKeyToken(t *testing.T) {
	id, good := newKeyToken()
	secret := good[strings.LastIndexByte(good, '_')+1:]
	tests := []struct {
		name   string
		token  string
		wantID string
		wantOK bool
	}{
		{name: "issued", token: good, wantID: id, wantOK: true},
		{name: "no prefix", token: strings.TrimPrefix(good, keyTokenPrefix), wantOK: false},
		{name: "upper-case secret", token: keyTokenPrefix + id + "_" + strings.ToUpper(secret), wantOK: false},
		{name: "short secret", token: keyTokenPrefix + id + "_" + secret[:63], wantOK: false},
		{name: "non-hex secret", token: keyTokenPrefix + id + "_" + strings.Repeat("g", 64), wantOK: false},
		{name: "key id without k_", token: keyTokenPrefix + "u_abc_" + secret, wantOK: false},
		{name: "key id with slash", token: keyTokenPrefix + "k_a/b_" + secret, wantOK: false},
		{name: "no separator", token: keyTokenPrefix + secret, wantOK: false},
		{name: "empty", token: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotID, ok := parseKeyToken(tt.token)
			if ok != tt.wantOK || (ok && gotID != tt.wantID) {
				t.Fatalf("parseKeyToken(%q): got %q, %v; want %q, %v", tt.token, gotID, ok, tt.wantID, tt.wantOK)
			}
		})
	}
}

func TestNewKeyTokenIsUniqueAndHashed(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, token := newKeyToken()
		if seen[token] {
			t.Fatalf("newKeyToken repeated %q", token)
		}
		seen[token] = true
		if got, ok := parseKeyToken(token); !ok || got != id {
			t.Fatalf("parseKeyToken(newKeyToken()): got %q, %v; want %q, true", got, ok, id)
		}
		if h := hashKeyToken(token); len(h) != 64 || strings.Contains(h, token) {
			t.Fatalf("hashKeyToken: got %q, want 64 hex characters", h)
		}
	}
}

func TestAuthenticate(t *testing.T) {
	clock := &policy.FixedClock{T: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := &keyDirectory{keys: map[string]policy.APIKey{}}
	userKey, userToken := dir.add(policy.RoleUser, "u_1")
	adminKey, adminToken := dir.add(policy.RoleAdmin, "u_2")
	_, unknownToken := newKeyToken()
	a := newKeyAuth(dir, clock, "bootstrap-secret", 30*time.Second)

	tests := []struct {
		name        string
		header      string
		wantCode    string
		want        caller
		wantLookups int64
	}{
		{name: "no header", header: "", wantCode: "missing_key"},
		{name: "basic scheme", header: "Basic " + userToken, wantCode: "invalid_key"},
		{name: "bearer without token", header: "Bearer ", wantCode: "invalid_key"},
		{name: "malformed token", header: "Bearer nope", wantCode: "invalid_key"},
		{name: "oversized token", header: "Bearer " + strings.Repeat("a", 1000), wantCode: "invalid_key"},
		{name: "bootstrap admin", header: "Bearer bootstrap-secret", want: caller{Role: policy.RoleAdmin, KeyID: bootstrapKeyID}},
		{name: "bootstrap admin prefix is not enough", header: "Bearer bootstrap-secre", wantCode: "invalid_key"},
		{name: "lower-case scheme", header: "bearer bootstrap-secret", want: caller{Role: policy.RoleAdmin, KeyID: bootstrapKeyID}},
		{name: "user key", header: "Bearer " + userToken, want: caller{Role: policy.RoleUser, UserID: "u_1", KeyID: userKey.ID}, wantLookups: 1},
		{name: "user key again is cached", header: "Bearer " + userToken, want: caller{Role: policy.RoleUser, UserID: "u_1", KeyID: userKey.ID}},
		{name: "issued admin key", header: "Bearer " + adminToken, want: caller{Role: policy.RoleAdmin, UserID: "u_2", KeyID: adminKey.ID}, wantLookups: 1},
		{name: "unknown key", header: "Bearer " + unknownToken, wantCode: "invalid_key", wantLookups: 1},
		{name: "unknown key again is cached", header: "Bearer " + unknownToken, wantCode: "invalid_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/v1/settings", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			before := dir.lookups.Load()
			got, err := a.authenticate(context.Background(), r)
			if n := dir.lookups.Load() - before; n != tt.wantLookups {
				t.Errorf("database lookups: got %d, want %d", n, tt.wantLookups)
			}
			if tt.wantCode != "" {
				if policy.KindOf(err) != policy.KindUnauthorized || policy.CodeOf(err) != tt.wantCode {
					t.Fatalf("authenticate: got %+v, %v; want 401 %s", got, err, tt.wantCode)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("authenticate: got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestAuthenticateRevocationAndTTL(t *testing.T) {
	clock := &policy.FixedClock{T: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := &keyDirectory{keys: map[string]policy.APIKey{}}
	k, token := dir.add(policy.RoleUser, "u_1")
	a := newKeyAuth(dir, clock, "", 45*time.Second)
	auth := func() error {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		_, err := a.authenticate(context.Background(), r)
		return err
	}
	if err := auth(); err != nil {
		t.Fatalf("fresh key: got %v, want ok", err)
	}
	dir.remove(k) // revoked by another instance: this one still trusts its cache …
	clock.Advance(44 * time.Second)
	if err := auth(); err != nil {
		t.Fatalf("revoked key inside TTL: got %v, want ok (cached)", err)
	}
	clock.Advance(time.Second) // … until the TTL ends
	if err := auth(); policy.CodeOf(err) != "invalid_key" {
		t.Fatalf("revoked key after TTL: got %v, want invalid_key", err)
	}

	k2, token2 := dir.add(policy.RoleUser, "u_1")
	token = token2
	if err := auth(); err != nil {
		t.Fatalf("second key: got %v, want ok", err)
	}
	dir.remove(k2)
	a.forget(func(c policy.APIKey) bool { return c.ID == k2.ID }) // revoked through this instance
	if err := auth(); policy.CodeOf(err) != "invalid_key" {
		t.Fatalf("key revoked here: got %v, want invalid_key at once", err)
	}
}

func TestAuthenticateStoreFailureIsNotCached(t *testing.T) {
	clock := &policy.FixedClock{T: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := &keyDirectory{keys: map[string]policy.APIKey{}, fail: policy.Errorf(policy.KindUnavailable, "throttled", "slow down")}
	_, token := dir.add(policy.RoleUser, "u_1")
	a := newKeyAuth(dir, clock, "", 0)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	if _, err := a.authenticate(context.Background(), r); policy.KindOf(err) != policy.KindUnavailable {
		t.Fatalf("store unavailable: got %v, want unavailable", err)
	}
	dir.fail = nil
	if _, err := a.authenticate(context.Background(), r); err != nil {
		t.Fatalf("store back: got %v, want ok", err)
	}
}

func TestAuthenticateConcurrentMissesShareOneRead(t *testing.T) {
	dir := &keyDirectory{keys: map[string]policy.APIKey{}, delay: 50 * time.Millisecond}
	_, token := dir.add(policy.RoleUser, "u_1")
	a := newKeyAuth(dir, policy.SystemClock{}, "", 0)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			if _, err := a.authenticate(context.Background(), r); err != nil {
				t.Errorf("authenticate: %v", err)
			}
		})
	}
	wg.Wait()
	if got := dir.lookups.Load(); got != 1 {
		t.Fatalf("database lookups for 20 concurrent requests: got %d, want 1", got)
	}
}

func TestKeyCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		ttl       time.Duration
		found     bool
		age       time.Duration
		wantFound bool
	}{
		{name: "default ttl keeps 29s", ttl: 0, found: true, age: 29 * time.Second, wantFound: true},
		{name: "default ttl drops at 30s", ttl: 0, found: true, age: 30 * time.Second, wantFound: false},
		{name: "ttl capped at 60s", ttl: time.Hour, found: true, age: 60 * time.Second, wantFound: false},
		{name: "negative result kept 4s", ttl: 0, found: false, age: 4 * time.Second, wantFound: true},
		{name: "negative result dropped at 5s", ttl: 0, found: false, age: 5 * time.Second, wantFound: false},
		{name: "disabled", ttl: -1, found: true, age: 0, wantFound: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newKeyCache(tt.ttl, 10)
			c.put("h", keyCacheEntry{found: tt.found}, now)
			_, ok := c.get("h", now.Add(tt.age))
			if ok != tt.wantFound {
				t.Fatalf("get after %v: got %v, want %v", tt.age, ok, tt.wantFound)
			}
		})
	}
}

func TestKeyCacheIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newKeyCache(time.Minute, 100)
	for i := range 1000 {
		c.put(strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), keyCacheEntry{found: true}, now)
		if n := c.len(); n > 100 {
			t.Fatalf("after %d puts: %d entries, want at most 100", i+1, n)
		}
	}
}
