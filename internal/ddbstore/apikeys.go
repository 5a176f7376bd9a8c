package ddbstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/policy"
)

// maxKeyHashLength bounds the hash of an API key's secret, which is part of a key.
const maxKeyHashLength = 512

// PutKey stores an issued API key for an existing user: under the hash of its secret (for
// KeyByHash) and under the user (for ListKeys and RevokeKey), in one transaction. The caller
// hashes the secret; the store never sees it. A zero CreatedAt gets the store clock's time.
func (s *Store) PutKey(ctx context.Context, k policy.APIKey) error {
	if err := s.putKey(ctx, k); err != nil {
		return fmt.Errorf("store key %s of user %s: %w", k.ID, k.UserID, err)
	}
	return nil
}

func (s *Store) putKey(ctx context.Context, k policy.APIKey) error {
	switch {
	case !policy.ValidID(k.ID):
		return policy.FieldErrorf("key_id", policy.CodeInvalidID, "%q is not a valid key id", k.ID)
	case k.Role != policy.RoleAdmin && k.Role != policy.RoleUser:
		return policy.FieldErrorf("role", policy.CodeInvalidRole, "role must be %q or %q", policy.RoleAdmin, policy.RoleUser)
	case k.Hash == "" || len(k.Hash) > maxKeyHashLength:
		return policy.FieldErrorf("hash", policy.CodeInvalidHash, "the key hash must be 1..%d bytes", maxKeyHashLength)
	case !policy.ValidID(k.UserID):
		return errUserNotFound(k.UserID)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	tx := s.newTx()
	tx.Put(newAPIKeyRecord(apiKeyHashKey(k.Hash), k), ddbkit.ItemAbsent())
	tx.Put(newAPIKeyRecord(userAPIKeyKey(k.UserID, k.ID), k), ddbkit.ItemAbsent())
	tx.Check(userKey(k.UserID), userIsLive())
	err := s.transactWrite(ctx, tx)
	if err == nil {
		return nil
	}
	if _, failed := ddbkit.ConditionFailedAt(err, 2); failed {
		return errUserNotFound(k.UserID)
	}
	if _, taken := ddbkit.ConditionFailedAt(err, 0); taken {
		return policy.Errorf(policy.KindConflict, policy.CodeKeyExists, "a key with this secret already exists")
	}
	if _, taken := ddbkit.ConditionFailedAt(err, 1); taken {
		return policy.Errorf(policy.KindConflict, policy.CodeKeyIDTaken, "user %s already has a key %s", k.UserID, k.ID)
	}
	return ddbkit.StoreError(err)
}

// KeyByHash finds a key by the hash of its secret (an eventually consistent read: callers
// cache verified keys for up to a minute anyway). An unknown hash is KindNotFound
// "key_not_found".
func (s *Store) KeyByHash(ctx context.Context, hash string) (policy.APIKey, error) {
	if hash == "" || len(hash) > maxKeyHashLength {
		return policy.APIKey{}, errKeyNotFound()
	}
	var rec apiKeyRecord
	found, err := s.kt.GetRecord(ctx, apiKeyHashKey(hash), false, &rec)
	if err != nil {
		return policy.APIKey{}, fmt.Errorf("find key by hash: %w", err)
	}
	if !found {
		return policy.APIKey{}, errKeyNotFound()
	}
	return rec.apiKey(), nil
}

// ListKeys lists a user's keys, ordered by key id. Hash is filled in; the secret is never
// stored.
func (s *Store) ListKeys(ctx context.Context, userID string) ([]policy.APIKey, error) {
	keys, err := s.listKeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list keys of user %s: %w", userID, err)
	}
	return keys, nil
}

func (s *Store) listKeys(ctx context.Context, userID string) ([]policy.APIKey, error) {
	if !policy.ValidID(userID) {
		return nil, errUserNotFound(userID)
	}
	recs, err := s.userKeyRecords(ctx, userID)
	if err != nil {
		return nil, err
	}
	keys := make([]policy.APIKey, len(recs))
	for i, r := range recs {
		keys[i] = r.apiKey()
	}
	if len(keys) == 0 {
		// No keys: tell "none yet" from an unknown user.
		if _, err := s.liveUser(ctx, userID, false); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// userKeyRecords reads the listing copies of a user's keys (strongly consistent).
func (s *Store) userKeyRecords(ctx context.Context, userID string) ([]apiKeyRecord, error) {
	in, err := ddbkit.PrefixQuery(userKey(userID).PK, userAPIKeySKPrefix, nil)
	if err != nil {
		return nil, err
	}
	in.ConsistentRead = aws.Bool(true)
	var recs []apiKeyRecord
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var r apiKeyRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode key: %w", err)
		}
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// RevokeKey deletes a user's key, both copies in one transaction. An unknown key (or one
// revoked concurrently) is KindNotFound "key_not_found".
func (s *Store) RevokeKey(ctx context.Context, userID, keyID string) error {
	if err := s.revokeKey(ctx, userID, keyID); err != nil {
		return fmt.Errorf("revoke key %s of user %s: %w", keyID, userID, err)
	}
	return nil
}

func (s *Store) revokeKey(ctx context.Context, userID, keyID string) error {
	if !policy.ValidID(userID) || !policy.ValidID(keyID) {
		return errKeyNotFound()
	}
	var rec apiKeyRecord
	found, err := s.kt.GetRecord(ctx, userAPIKeyKey(userID, keyID), true, &rec)
	if err != nil {
		return err
	}
	if !found {
		return errKeyNotFound()
	}
	tx := s.newTx()
	tx.Delete(userAPIKeyKey(userID, keyID), ddbkit.ItemExists())
	tx.Delete(apiKeyHashKey(rec.Hash), expression.ConditionBuilder{})
	err = s.transactWrite(ctx, tx)
	if _, failed := ddbkit.ConditionFailedAt(err, 0); failed {
		return errKeyNotFound()
	}
	return ddbkit.StoreError(err)
}

// deleteUserKeys revokes every key of a user (used by DeleteUser, after new keys are blocked).
func (s *Store) deleteUserKeys(ctx context.Context, userID string) error {
	recs, err := s.userKeyRecords(ctx, userID)
	if err != nil {
		return err
	}
	// Every hash copy (what authenticates) before any listing copy (what a retry finds the
	// keys by): an interrupted deletion never leaves a usable key that cannot be found.
	keys := make([]tableKey, 0, 2*len(recs))
	for _, r := range recs {
		keys = append(keys, apiKeyHashKey(r.Hash))
	}
	for _, r := range recs {
		keys = append(keys, userAPIKeyKey(userID, r.KeyID))
	}
	return s.kt.BatchDelete(ctx, keys)
}
