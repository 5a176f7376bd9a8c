package devkeys

import (
	"context"
	"testing"
	"time"

	"wspolicy/internal/policy"
)

type memStore struct {
	keys  map[string]Key
	reads int
}

func (m *memStore) PutDevKey(_ context.Context, k Key) error { m.keys[k.Hash] = k; return nil }
func (m *memStore) DevKeyByHash(_ context.Context, h string) (Key, bool, error) {
	m.reads++
	k, ok := m.keys[h]
	return k, ok, nil
}
func (m *memStore) ListDevKeys(context.Context) ([]Key, error) { return nil, nil }
func (m *memStore) RevokeDevKey(_ context.Context, id string) error {
	for h, k := range m.keys {
		if k.KeyID == id {
			delete(m.keys, h)
		}
	}
	return nil
}

func TestCreateVerifyCacheRevoke(t *testing.T) {
	st := &memStore{keys: map[string]Key{}}
	clock := &policy.FixedClock{T: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)}
	s := New(st, clock, 0)
	ctx := context.Background()
	if _, err := s.Create(ctx, "x", []string{"nope"}, nil); !policy.IsKind(err, policy.KindInvalid) {
		t.Fatalf("unknown permission: %v", err)
	}
	if _, err := s.Create(ctx, "x", nil, nil); !policy.IsKind(err, policy.KindInvalid) {
		t.Fatalf("no permission: %v", err)
	}
	c, err := s.Create(ctx, "ci", []string{PermSessionsView}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, stored := range st.keys {
		if stored.Hash == c.APIKeySecret || stored.Hash != Hash(c.APIKey, c.APIKeySecret) {
			t.Fatalf("stored hash %q", stored.Hash)
		}
	}
	for range 3 {
		k, ok, err := s.Verify(ctx, c.APIKey, c.APIKeySecret)
		if err != nil || !ok || !k.Has(PermSessionsView) || k.Has(PermSessionsModify) {
			t.Fatalf("verify: %v %v %+v", ok, err, k)
		}
	}
	if st.reads != 1 {
		t.Errorf("3 verifications read the store %d times, want 1 (cached)", st.reads)
	}
	if _, ok, _ := s.Verify(ctx, c.APIKey, "wrong"); ok {
		t.Error("a wrong secret verified")
	}
	if err := s.Revoke(ctx, c.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Verify(ctx, c.APIKey, c.APIKeySecret); ok {
		t.Error("a revoked key still verifies in the process that revoked it")
	}
	all := Key{Permissions: []string{PermAll}}
	for _, p := range Permissions {
		if !all.Has(p) {
			t.Errorf("all lacks %s", p)
		}
	}
}
