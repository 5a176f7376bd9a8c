package ddbstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/devkeys"
	"wspolicy/internal/policy"
)

// Key layout of the developer keys (issue 15):
//
//	item                 PK                      SK
//	key by hash          DEVKEY#<hash>           DEVKEY
//	key listing copy     DEVKEYS                 DEVKEY#<key_id>
//
// Only the hash of api_key:api_key_secret is stored.
const (
	devKeyPKPrefix   = "DEVKEY#"
	devKeySK         = "DEVKEY"
	devKeysPK        = "DEVKEYS"
	devKeyListPrefix = "DEVKEY#"
)

var _ devkeys.Store = (*Store)(nil)

type devKeyRecord struct {
	PK          string     `dynamodbav:"PK"`
	SK          string     `dynamodbav:"SK"`
	KeyID       string     `dynamodbav:"key_id"`
	Name        string     `dynamodbav:"name"`
	Permissions []string   `dynamodbav:"permissions"`
	ExpiresAt   *time.Time `dynamodbav:"expires_at,omitempty"`
	CreatedAt   time.Time  `dynamodbav:"created_at"`
	Hash        string     `dynamodbav:"hash"`
}

func newDevKeyRecord(k tableKey, d devkeys.Key) devKeyRecord {
	return devKeyRecord{PK: k.PK, SK: k.SK, KeyID: d.KeyID, Name: d.Name, Permissions: d.Permissions,
		ExpiresAt: d.ExpiresAt, CreatedAt: d.CreatedAt.UTC(), Hash: d.Hash}
}

func (r devKeyRecord) key() devkeys.Key {
	return devkeys.Key{KeyID: r.KeyID, Name: r.Name, Permissions: r.Permissions, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt, Hash: r.Hash}
}

func devKeyHashKey(hash string) tableKey { return tableKey{PK: devKeyPKPrefix + hash, SK: devKeySK} }
func devKeyListKey(id string) tableKey   { return tableKey{PK: devKeysPK, SK: devKeyListPrefix + id} }

func errDevKeyNotFound(id string) error {
	return policy.Errorf(policy.KindNotFound, policy.CodeDeveloperKeyNotFound, "developer key %s not found", id)
}

// PutDevKey stores a key under its hash and in the listing, in one transaction.
func (s *Store) PutDevKey(ctx context.Context, k devkeys.Key) error {
	if !policy.ValidID(k.KeyID) || k.Hash == "" || len(k.Hash) > maxKeyHashLength {
		return policy.FieldErrorf("key_id", policy.CodeInvalidID, "invalid developer key")
	}
	tx := s.newTx()
	tx.Put(newDevKeyRecord(devKeyHashKey(k.Hash), k), ddbkit.ItemAbsent())
	tx.Put(newDevKeyRecord(devKeyListKey(k.KeyID), k), ddbkit.ItemAbsent())
	if err := s.transactWrite(ctx, tx); err != nil {
		return fmt.Errorf("store developer key %s: %w", k.KeyID, ddbkit.StoreError(err))
	}
	return nil
}

// DevKeyByHash finds a key by hash (eventually consistent; callers cache).
func (s *Store) DevKeyByHash(ctx context.Context, hash string) (devkeys.Key, bool, error) {
	if hash == "" || len(hash) > maxKeyHashLength {
		return devkeys.Key{}, false, nil
	}
	var rec devKeyRecord
	found, err := s.kt.GetRecord(ctx, devKeyHashKey(hash), false, &rec)
	if err != nil || !found {
		return devkeys.Key{}, false, err
	}
	return rec.key(), true, nil
}

// ListDevKeys lists every developer key, by key id.
func (s *Store) ListDevKeys(ctx context.Context) ([]devkeys.Key, error) {
	in, err := ddbkit.PrefixQuery(devKeysPK, devKeyListPrefix, nil)
	if err != nil {
		return nil, err
	}
	out := []devkeys.Key{}
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var r devKeyRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode developer key: %w", err)
		}
		out = append(out, r.key())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list developer keys: %w", err)
	}
	return out, nil
}

// RevokeDevKey deletes both copies of a key in one transaction.
func (s *Store) RevokeDevKey(ctx context.Context, keyID string) error {
	var rec devKeyRecord
	found, err := s.kt.GetRecord(ctx, devKeyListKey(keyID), true, &rec)
	if err != nil {
		return err
	}
	if !found {
		return errDevKeyNotFound(keyID)
	}
	tx := s.newTx()
	tx.Delete(devKeyListKey(keyID), ddbkit.ItemExists())
	tx.Delete(devKeyHashKey(rec.Hash), expression.ConditionBuilder{})
	err = s.transactWrite(ctx, tx)
	if _, failed := ddbkit.ConditionFailedAt(err, 0); failed {
		return errDevKeyNotFound(keyID)
	}
	return ddbkit.StoreError(err)
}
