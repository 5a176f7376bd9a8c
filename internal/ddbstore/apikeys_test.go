package ddbstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"wspolicy/internal/policy"
)

func dirKeyIDs(keys []policy.APIKey) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return fmt.Sprint(ids)
}

func TestAPIKeys(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	u := dirUser(t, s, "alice")
	other := dirUser(t, s, "bob")
	at := dt0.Add(time.Hour)
	k1 := policy.APIKey{ID: "k1", UserID: u.ID, Role: policy.RoleUser, Hash: "h1", CreatedAt: at}
	k2 := policy.APIKey{ID: "k2", UserID: u.ID, Role: policy.RoleAdmin, Hash: "h2", CreatedAt: at}
	for _, k := range []policy.APIKey{k2, k1} {
		if err := s.PutKey(ctx, k); err != nil {
			t.Fatalf("put %s: %v", k.ID, err)
		}
	}

	t.Run("by hash", func(t *testing.T) {
		got := dirMust[policy.APIKey](t)(s.KeyByHash(ctx, "h2"))
		if got.ID != "k2" || got.UserID != u.ID || got.Role != policy.RoleAdmin || got.Hash != "h2" || !got.CreatedAt.Equal(at) {
			t.Errorf("KeyByHash: got %+v, want %+v", got, k2)
		}
	})
	t.Run("list", func(t *testing.T) {
		keys := dirMust[[]policy.APIKey](t)(s.ListKeys(ctx, u.ID))
		if dirKeyIDs(keys) != "[k1 k2]" || keys[0].Role != policy.RoleUser || keys[0].Hash != "h1" {
			t.Errorf("ListKeys: got %+v", keys)
		}
		if keys := dirMust[[]policy.APIKey](t)(s.ListKeys(ctx, other.ID)); keys == nil || len(keys) != 0 {
			t.Errorf("ListKeys of a user without keys: got %v, want an empty list", keys)
		}
	})

	refused := []struct {
		name string
		k    policy.APIKey
		kind policy.Kind
		code string
	}{
		{"same hash", policy.APIKey{ID: "k3", UserID: other.ID, Role: policy.RoleUser, Hash: "h1"}, policy.KindConflict, "key_exists"},
		{"same id", policy.APIKey{ID: "k1", UserID: u.ID, Role: policy.RoleUser, Hash: "h9"}, policy.KindConflict, "key_id_taken"},
		{"unknown user", policy.APIKey{ID: "k4", UserID: "nobody", Role: policy.RoleUser, Hash: "h4"}, policy.KindNotFound, "user_not_found"},
		{"bad role", policy.APIKey{ID: "k5", UserID: u.ID, Role: "root", Hash: "h5"}, policy.KindInvalid, "invalid_role"},
		{"no hash", policy.APIKey{ID: "k6", UserID: u.ID, Role: policy.RoleUser}, policy.KindInvalid, "invalid_hash"},
		{"hash too long", policy.APIKey{ID: "k6", UserID: u.ID, Role: policy.RoleUser, Hash: strings.Repeat("a", 513)}, policy.KindInvalid, "invalid_hash"},
		{"bad id", policy.APIKey{ID: "", UserID: u.ID, Role: policy.RoleUser, Hash: "h7"}, policy.KindInvalid, "invalid_id"},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			wantDirErr(t, s.PutKey(ctx, tt.k), tt.kind, tt.code)
			if _, err := s.KeyByHash(ctx, tt.k.Hash); tt.k.Hash != "h1" && err == nil {
				t.Errorf("a refused key is findable by its hash")
			}
		})
	}
	if item := dirItem(t, tb, "USER#nobody", "KEY#k4"); item != nil {
		t.Errorf("the listing copy of a refused key was written: %v", item)
	}
	if got := dirKeyIDs(dirMust[[]policy.APIKey](t)(s.ListKeys(ctx, u.ID))); got != "[k1 k2]" {
		t.Errorf("keys after refused puts: got %s, want [k1 k2]", got)
	}

	t.Run("revoke", func(t *testing.T) {
		if err := s.RevokeKey(ctx, u.ID, "k1"); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		_, err := s.KeyByHash(ctx, "h1")
		wantDirErr(t, err, policy.KindNotFound, "key_not_found")
		if got := dirKeyIDs(dirMust[[]policy.APIKey](t)(s.ListKeys(ctx, u.ID))); got != "[k2]" {
			t.Errorf("keys after revoking k1: got %s, want [k2]", got)
		}
		wantDirErr(t, s.RevokeKey(ctx, u.ID, "k1"), policy.KindNotFound, "key_not_found")
		wantDirErr(t, s.RevokeKey(ctx, other.ID, "k2"), policy.KindNotFound, "key_not_found")
		wantDirErr(t, s.RevokeKey(ctx, u.ID, "a#b"), policy.KindNotFound, "key_not_found")
	})
	t.Run("lookups that find nothing", func(t *testing.T) {
		for _, h := range []string{"nope", ""} {
			_, err := s.KeyByHash(ctx, h)
			wantDirErr(t, err, policy.KindNotFound, "key_not_found")
		}
		_, err := s.ListKeys(ctx, "nobody")
		wantDirErr(t, err, policy.KindNotFound, "user_not_found")
	})
}
