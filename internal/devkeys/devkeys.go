// Package devkeys is the Developer API keys of the Kasm-compatible API (issue 15): a key id
// (api_key) and a secret (api_key_secret) shown once, only the hash of both stored, a set of
// Kasm permissions and an optional expiry. Verified keys are cached like the /v1 API keys, so
// a Kasm call costs no more DynamoDB work than the native one. It knows no AWS type.
package devkeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"wspolicy/internal/policy"
)

// The permissions, snake_case forms of Kasm's names; PermAll grants every one.
const (
	PermAll                 = "all"
	PermUsersView           = "users_view"
	PermUsersCreate         = "users_create"
	PermUsersModify         = "users_modify"
	PermUsersDelete         = "users_delete"
	PermUsersAuthSession    = "users_auth_session"
	PermSessionsView        = "sessions_view"
	PermSessionsModify      = "sessions_modify"
	PermSessionsDelete      = "sessions_delete"
	PermImagesView          = "images_view"
	PermGroupsView          = "groups_view"
	PermGroupsModify        = "groups_modify"
	PermGroupSettingsModify = "group_settings_modify"
)

// Permissions lists every permission but "all".
var Permissions = []string{PermUsersView, PermUsersCreate, PermUsersModify, PermUsersDelete,
	PermUsersAuthSession, PermSessionsView, PermSessionsModify, PermSessionsDelete,
	PermImagesView, PermGroupsView, PermGroupsModify, PermGroupSettingsModify}

// Key is a stored developer key.
type Key struct {
	KeyID       string     `json:"key_id"`
	Name        string     `json:"name"`
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	Hash        string     `json:"-"`
}

// Has reports whether the key grants perm.
func (k Key) Has(perm string) bool {
	return slices.Contains(k.Permissions, PermAll) || slices.Contains(k.Permissions, perm)
}

// Expired reports whether the key has expired at now.
func (k Key) Expired(now time.Time) bool { return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) }

// Store keeps developer keys; ddbstore.Store implements it.
type Store interface {
	PutDevKey(ctx context.Context, k Key) error
	DevKeyByHash(ctx context.Context, hash string) (Key, bool, error)
	ListDevKeys(ctx context.Context) ([]Key, error)
	RevokeDevKey(ctx context.Context, keyID string) error
}

// Created is the answer of a creation: the only time the secret is shown.
type Created struct {
	Key
	APIKey       string `json:"api_key"`
	APIKeySecret string `json:"api_key_secret"`
}

// Service issues, lists, revokes and verifies developer keys.
type Service struct {
	store   Store
	clock   policy.Clock
	cache   *cache
	lookups singleflight.Group
}

// New returns a Service caching verified keys for ttl (0: 30s; capped at 60s; negative: no
// cache).
func New(store Store, clock policy.Clock, ttl time.Duration) *Service {
	if clock == nil {
		clock = policy.SystemClock{}
	}
	switch {
	case ttl == 0:
		ttl = 30 * time.Second
	case ttl > time.Minute:
		ttl = time.Minute
	case ttl < 0:
		ttl = 0
	}
	return &Service{store: store, clock: clock, cache: &cache{ttl: ttl, entries: map[string]cacheEntry{}}}
}

// Hash is the stored form of a key id and secret.
func Hash(apiKey, secret string) string {
	sum := sha256.Sum256([]byte(apiKey + ":" + secret))
	return hex.EncodeToString(sum[:])
}

// Create issues a key. Permissions must be known names (or "all"), at least one; a given
// expires_at must be in the future.
func (s *Service) Create(ctx context.Context, name string, perms []string, expiresAt *time.Time) (Created, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 128 {
		return Created{}, policy.FieldErrorf("name", policy.CodeInvalidName, "name must be 1 to 128 characters")
	}
	if len(perms) == 0 {
		return Created{}, policy.FieldErrorf("permissions", policy.CodeInvalidPermissions, "permissions must list at least one of %q or %q", strings.Join(Permissions, ", "), PermAll)
	}
	var ps []string
	for _, p := range perms {
		if p != PermAll && !slices.Contains(Permissions, p) {
			return Created{}, policy.FieldErrorf("permissions", policy.CodeInvalidPermissions, "unknown permission %q: use %s or %s", p, strings.Join(Permissions, ", "), PermAll)
		}
		if !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	now := s.clock.Now().UTC()
	if expiresAt != nil {
		e := expiresAt.UTC()
		if !e.After(now) {
			return Created{}, policy.FieldErrorf("expires_at", policy.CodeInvalidExpiresAt, "expires_at must be in the future")
		}
		expiresAt = &e
	}
	id := policy.NewID("dk")
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	sec := hex.EncodeToString(secret)
	k := Key{KeyID: id, Name: name, Permissions: ps, ExpiresAt: expiresAt, CreatedAt: now, Hash: Hash(id, sec)}
	if err := s.store.PutDevKey(ctx, k); err != nil {
		return Created{}, err
	}
	return Created{Key: k, APIKey: id, APIKeySecret: sec}, nil
}

// List lists the keys (never a secret).
func (s *Service) List(ctx context.Context) ([]Key, error) { return s.store.ListDevKeys(ctx) }

// Revoke deletes a key; this process forgets it at once, others within the cache TTL.
func (s *Service) Revoke(ctx context.Context, keyID string) error {
	if !policy.ValidID(keyID) {
		return policy.Errorf(policy.KindNotFound, policy.CodeDeveloperKeyNotFound, "developer key %s not found", keyID)
	}
	if err := s.store.RevokeDevKey(ctx, keyID); err != nil {
		return err
	}
	s.cache.forget(keyID)
	return nil
}

// Verify finds the key of an api_key and secret: found false for an unknown key or a wrong
// secret. A verified key is cached (and unknown ones for at most 5s): steady traffic adds no
// read.
func (s *Service) Verify(ctx context.Context, apiKey, secret string) (Key, bool, error) {
	if apiKey == "" || secret == "" || len(apiKey) > 128 || len(secret) > 256 {
		return Key{}, false, nil
	}
	h := Hash(apiKey, secret)
	now := s.clock.Now()
	if e, ok := s.cache.get(h, now); ok {
		return e.key, e.found, nil
	}
	v, err, _ := s.lookups.Do(h, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		k, found, err := s.store.DevKeyByHash(ctx, h)
		if err != nil {
			return nil, err
		}
		found = found && k.KeyID == apiKey
		e := cacheEntry{key: k, found: found}
		s.cache.put(h, e, s.clock.Now())
		return e, nil
	})
	if err != nil {
		return Key{}, false, err
	}
	e := v.(cacheEntry)
	return e.key, e.found, nil
}

type cacheEntry struct {
	key     Key
	found   bool
	expires time.Time
}

type cache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]cacheEntry
}

const cacheMax = 10000

func (c *cache) get(h string, now time.Time) (cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[h]
	if !ok || !now.Before(e.expires) {
		delete(c.entries, h)
		return cacheEntry{}, false
	}
	return e, true
}

func (c *cache) put(h string, e cacheEntry, now time.Time) {
	ttl := c.ttl
	if !e.found {
		ttl = min(ttl, 5*time.Second)
	}
	if ttl <= 0 {
		return
	}
	e.expires = now.Add(ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= cacheMax {
		clear(c.entries)
	}
	c.entries[h] = e
}

func (c *cache) forget(keyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, e := range c.entries {
		if e.key.KeyID == keyID {
			delete(c.entries, h)
		}
	}
}
