package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"wspolicy/internal/policy"
	"wspolicy/internal/sso"
)

// An API key is the bearer token "wsp_<key_id>_<secret>": key_id is policy.NewID("k") and the
// secret is 32 random bytes in lower-case hex. Only the SHA-256 (hex) of the whole token is
// stored; the key id in the token lets an operator tell which key a client holds without
// revealing anything that opens it.
const (
	keyTokenPrefix  = "wsp_"
	keySecretBytes  = 32
	maxKeyTokenSize = 256
)

// The bounds of the verified-key cache.
const (
	defaultKeyCacheTTL = 30 * time.Second
	maxKeyCacheTTL     = 60 * time.Second
	negativeKeyTTL     = 5 * time.Second
	keyCacheSize       = 10000
	keyLookupTimeout   = 5 * time.Second
)

// bootstrapKeyID names the ADMIN_API_KEY in logs and as the actor of the changes it makes.
const bootstrapKeyID = "bootstrap"

// caller is who sent a request: the role and owner of the key it presented.
type caller struct {
	Role   policy.Role
	UserID string // empty for the bootstrap admin key
	KeyID  string
}

func (c caller) isAdmin() bool { return c.Role == policy.RoleAdmin }

// actor is how a caller is recorded in settings history: the user the key belongs to, or
// "admin" for the ADMIN_API_KEY.
func (c caller) actor() string {
	if c.UserID == "" {
		return "admin"
	}
	return c.UserID
}

// newKeyToken returns a new key id and its bearer token.
func newKeyToken() (keyID, token string) {
	keyID = policy.NewID("k")
	secret := make([]byte, keySecretBytes)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms
	return keyID, keyTokenPrefix + keyID + "_" + hex.EncodeToString(secret)
}

// hashKeyToken is the stored form of a token: hex SHA-256 of the whole token.
func hashKeyToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// parseKeyToken checks a token's shape without any I/O and returns its key id.
func parseKeyToken(token string) (keyID string, ok bool) {
	rest, ok := strings.CutPrefix(token, keyTokenPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '_')
	if i < 0 {
		return "", false
	}
	keyID, secret := rest[:i], rest[i+1:]
	if !strings.HasPrefix(keyID, "k_") || !policy.ValidID(keyID) || len(secret) != 2*keySecretBytes {
		return "", false
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return keyID, true
}

// bearerToken extracts the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", policy.Errorf(policy.KindUnauthorized, policy.CodeMissingKey, "send an API key as Authorization: Bearer <key>")
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > maxBearerSize {
		return "", errInvalidKey()
	}
	return token, nil
}

func errInvalidKey() error {
	return policy.Errorf(policy.KindUnauthorized, policy.CodeInvalidKey, "the API key is not valid")
}

func errForbidden() error {
	return policy.Errorf(policy.KindForbidden, policy.CodeForbidden, "this key is not allowed to do that")
}

// errAdminKeyRequired refuses a user key on an administrators' route, saying what would do.
func errAdminKeyRequired() error {
	return policy.Errorf(policy.KindForbidden, policy.CodeForbidden,
		"this route needs an admin key; the key sent is a user key (an administrator issues admin keys with POST /v1/users/{user_id}/keys {\"role\": \"admin\"})")
}

// keyAuth verifies bearer tokens: the bootstrap admin key by constant-time comparison, other
// keys by their hash through the Directory, with verified (and briefly, unknown) hashes cached
// so that steady traffic adds no database read.
type keyAuth struct {
	dir       policy.Directory
	clock     policy.Clock
	adminHash []byte // sha256 of ADMIN_API_KEY; nil when there is none
	cache     *keyCache
	lookups   singleflight.Group
	tokens    *tokenAuth // ID tokens of the OIDC issuer; nil when OIDC is off
}

func newKeyAuth(dir policy.Directory, clock policy.Clock, adminKey string, ttl time.Duration) *keyAuth {
	a := &keyAuth{dir: dir, clock: clock, cache: newKeyCache(ttl, keyCacheSize)}
	if adminKey != "" {
		sum := sha256.Sum256([]byte(adminKey))
		a.adminHash = sum[:]
	}
	return a
}

// authenticate identifies the caller of r or fails with 401 (or 503 when the key store is
// unavailable).
func (a *keyAuth) authenticate(ctx context.Context, r *http.Request) (caller, error) {
	token, err := bearerToken(r)
	if err != nil {
		return caller{}, err
	}
	if a.tokens != nil && sso.LooksLikeJWT(token) {
		return a.tokens.authenticate(ctx, token)
	}
	if len(token) > maxKeyTokenSize {
		return caller{}, errInvalidKey()
	}
	sum := sha256.Sum256([]byte(token))
	if a.adminHash != nil && subtle.ConstantTimeCompare(sum[:], a.adminHash) == 1 {
		return caller{Role: policy.RoleAdmin, KeyID: bootstrapKeyID}, nil
	}
	keyID, ok := parseKeyToken(token)
	if !ok {
		return caller{}, errInvalidKey()
	}
	hash := hex.EncodeToString(sum[:])
	k, found, err := a.lookup(ctx, hash)
	if err != nil {
		return caller{}, err
	}
	if !found || k.ID != keyID || subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash)) != 1 {
		return caller{}, errInvalidKey()
	}
	switch k.Role {
	case policy.RoleAdmin, policy.RoleUser:
		return caller{Role: k.Role, UserID: k.UserID, KeyID: k.ID}, nil
	default:
		return caller{}, errInvalidKey()
	}
}

// lookup finds a key by hash, from the cache when it can; concurrent misses for one hash share
// a single database read.
func (a *keyAuth) lookup(ctx context.Context, hash string) (policy.APIKey, bool, error) {
	if e, ok := a.cache.get(hash, a.clock.Now()); ok {
		return e.key, e.found, nil
	}
	v, err, _ := a.lookups.Do(hash, func() (any, error) {
		// The read is shared by every request waiting on it, so one client going away must
		// not cancel it for the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyLookupTimeout)
		defer cancel()
		k, err := a.dir.KeyByHash(ctx, hash)
		switch {
		case err == nil:
			a.cache.put(hash, keyCacheEntry{key: k, found: true}, a.clock.Now())
			return keyCacheEntry{key: k, found: true}, nil
		case policy.IsKind(err, policy.KindNotFound):
			a.cache.put(hash, keyCacheEntry{}, a.clock.Now())
			return keyCacheEntry{}, nil
		default:
			return nil, err
		}
	})
	if err != nil {
		return policy.APIKey{}, false, err
	}
	e := v.(keyCacheEntry)
	return e.key, e.found, nil
}

// forget drops cached keys that match, so a revocation through this process is immediate
// (other processes notice within the cache TTL).
func (a *keyAuth) forget(match func(policy.APIKey) bool) { a.cache.forget(match) }

// keyCache is a bounded map of key hash → verification result with expiry.
type keyCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	negTTL  time.Duration
	max     int
	entries map[string]keyCacheEntry
}

type keyCacheEntry struct {
	key     policy.APIKey
	found   bool
	expires time.Time
}

// newKeyCache makes a cache keeping verified keys for ttl (0: the default 30s, capped at 60s;
// negative: no caching) and unknown keys for at most 5s.
func newKeyCache(ttl time.Duration, max int) *keyCache {
	switch {
	case ttl == 0:
		ttl = defaultKeyCacheTTL
	case ttl > maxKeyCacheTTL:
		ttl = maxKeyCacheTTL
	case ttl < 0:
		ttl = 0
	}
	return &keyCache{ttl: ttl, negTTL: min(ttl, negativeKeyTTL), max: max, entries: map[string]keyCacheEntry{}}
}

func (c *keyCache) get(hash string, now time.Time) (keyCacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok {
		return keyCacheEntry{}, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, hash)
		return keyCacheEntry{}, false
	}
	return e, true
}

func (c *keyCache) put(hash string, e keyCacheEntry, now time.Time) {
	ttl := c.ttl
	if !e.found {
		ttl = c.negTTL
	}
	if ttl <= 0 {
		return
	}
	e.expires = now.Add(ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[hash]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[hash] = e
}

// evict makes room: expired entries first, then arbitrary ones down to 7/8 of the bound.
func (c *keyCache) evict(now time.Time) {
	for h, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, h)
		}
	}
	for h := range c.entries {
		if len(c.entries) < c.max*7/8 {
			break
		}
		delete(c.entries, h)
	}
}

func (c *keyCache) forget(match func(policy.APIKey) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.entries {
		if e.found && match(e.key) {
			delete(c.entries, h)
		}
	}
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
