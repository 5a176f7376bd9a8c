package ddbstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/launch"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Users' own storage mappings (issue 8) live in the user's partition, next to the user item:
//
//	item                 PK                  SK
//	storage mapping      USER#<uid>          MAPPING#<mapping_id>
//
// The user item (owned by the directory code, only ever updated here) counts them in
// storage_mappings, changed in the same transaction as the mapping item, so that
// max_user_storage_mappings is exact under concurrent registrations. "MAPPING#" sorts between
// the user's API keys ("KEY#") and the user item ("USER"), so one Query of SK between
// "MAPPING#" and "USER" reads a user's mappings and the user item together.
const (
	userMappingSKPrefix     = "MAPPING#"
	userAttrStorageMappings = "storage_mappings"
)

// maxMappingAttempts bounds resubmissions of a mapping transaction that kept colliding with
// concurrent writes to the user item (each attempt already resubmits collisions itself).
const maxMappingAttempts = 6

// userMappingKey is the key of one of a user's storage mappings.
func userMappingKey(userID, mappingID string) tableKey {
	return tableKey{PK: userPKPrefix + userID, SK: userMappingSKPrefix + mappingID}
}

// storageMappingRecord is a storage mapping item. Host path and bind are stored as registered,
// with their {username}/{user_id} tokens: they are substituted when a session is launched.
type storageMappingRecord struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	MappingID string    `dynamodbav:"mapping_id"`
	UserID    string    `dynamodbav:"user_id"`
	HostPath  string    `dynamodbav:"host_path"`
	Bind      string    `dynamodbav:"bind"`
	Mode      string    `dynamodbav:"mode"`
	UID       int64     `dynamodbav:"uid"`
	GID       int64     `dynamodbav:"gid"`
	Required  bool      `dynamodbav:"required"`
	SkipCheck bool      `dynamodbav:"skip_check"`
	Timeout   float64   `dynamodbav:"timeout"`
	CreatedAt time.Time `dynamodbav:"created_at"`
}

func newStorageMappingRecord(m launch.StorageMapping) storageMappingRecord {
	k := userMappingKey(m.UserID, m.ID)
	return storageMappingRecord{
		PK: k.PK, SK: k.SK, MappingID: m.ID, UserID: m.UserID, HostPath: m.HostPath,
		Bind: m.Bind, Mode: m.Mode, UID: m.UID, GID: m.GID, Required: m.Required, SkipCheck: m.SkipCheck,
		Timeout: m.Timeout, CreatedAt: m.CreatedAt.UTC(),
	}
}

// same reports whether r and o are the same mapping item (times compared as instants).
func (r storageMappingRecord) same(o storageMappingRecord) bool {
	rt, ot := r.CreatedAt, o.CreatedAt
	r.CreatedAt, o.CreatedAt = time.Time{}, time.Time{}
	return r == o && rt.Equal(ot)
}

func (r storageMappingRecord) mapping() launch.StorageMapping {
	return launch.StorageMapping{
		ID: r.MappingID, UserID: r.UserID, HostPath: r.HostPath, CreatedAt: r.CreatedAt,
		VolumeMount: settings.VolumeMount{Bind: r.Bind, Mode: r.Mode, UID: r.UID, GID: r.GID,
			Required: r.Required, SkipCheck: r.SkipCheck, Timeout: r.Timeout},
	}
}

// mappingCountRecord reads the mapping count off a user item's old image.
type mappingCountRecord struct {
	UserID          string `dynamodbav:"user_id"`
	Deleting        bool   `dynamodbav:"deleting"`
	StorageMappings int64  `dynamodbav:"storage_mappings"`
}

func errMappingNotFound(userID, mappingID string) *policy.Error {
	return policy.Errorf(policy.KindNotFound, policy.CodeStorageMappingNotFound, "user %s has no storage mapping %s", userID, mappingID)
}

func errMaxMappings(userID string, have, max int64) *policy.Error {
	return &policy.Error{Kind: policy.KindConflict, Code: policy.CodeMaxStorageMappings, Field: settings.NameMaxUserStorageMappings,
		Message: fmt.Sprintf("user %s already has %d storage mappings and max_user_storage_mappings is %d", userID, have, max)}
}

// CreateStorageMapping stores m (ParseStorageMapping's result with UserID set) as one more of
// its user's storage mappings, allowing at most max of them: one transaction of the mapping
// item and `ADD storage_mappings 1` on the user item under `storage_mappings < max`, so the
// limit holds exactly however many registrations run at once. An empty m.ID gets a new id, a
// zero m.CreatedAt the store clock's time. A missing user (or one being deleted) is
// KindNotFound user_not_found; a full one KindConflict max_user_storage_mappings_reached (max
// ≤ 0 without a write). Transactions that keep colliding end in KindUnavailable retry_later.
// Whether the user may register mappings at all (allow_user_storage_mapping) is the caller's
// to check. It returns the mapping as stored.
func (ss *SessionStore) CreateStorageMapping(ctx context.Context, m launch.StorageMapping, max int64) (launch.StorageMapping, error) {
	out, err := ss.createStorageMapping(ctx, m, max)
	if err != nil {
		return launch.StorageMapping{}, fmt.Errorf("create storage mapping of user %s: %w", m.UserID, err)
	}
	return out, nil
}

func (ss *SessionStore) createStorageMapping(ctx context.Context, m launch.StorageMapping, max int64) (launch.StorageMapping, error) {
	if !policy.ValidID(m.UserID) {
		return launch.StorageMapping{}, errUserNotFound(m.UserID)
	}
	if m.ID == "" {
		m.ID = policy.NewID("m")
	}
	if !policy.ValidID(m.ID) {
		return launch.StorageMapping{}, policy.FieldErrorf("mapping_id", policy.CodeInvalidID, "%q is not a valid mapping id", m.ID)
	}
	if max <= 0 {
		return launch.StorageMapping{}, errMaxMappings(m.UserID, 0, max)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = ss.st.now()
	}
	m.CreatedAt = m.CreatedAt.UTC()
	count := expression.Name(userAttrStorageMappings)
	rec := newStorageMappingRecord(m)
	// One transaction, resubmitted as it is: the same items (and whatever idempotency token
	// txWrites carries) every time.
	tx := ss.st.newTx()
	tx.Update(userKey(m.UserID), expression.Add(count, expression.Value(1)),
		ddbkit.AllOf(userIsLive(), expression.Or(count.AttributeNotExists(), count.LessThan(expression.Value(max)))))
	tx.Put(rec, ddbkit.ItemAbsent())
	for attempt := 1; ; attempt++ {
		err := ss.st.transactWrite(ctx, tx)
		if err == nil {
			return m, nil
		}
		if old, exists := ddbkit.ConditionFailedAt(err, 1); exists {
			// The mapping is there already. When it is this very mapping (ids are random), an
			// earlier submission whose answer was lost wrote it: that is success, and the
			// user's count was incremented with it, once.
			var cur storageMappingRecord
			if found, derr := ddbkit.DecodeOld(old, &cur); derr == nil && found && cur.same(rec) {
				return m, nil
			}
			return launch.StorageMapping{}, policy.Errorf(policy.KindConflict, policy.CodeStorageMappingExists, "storage mapping %s exists already", m.ID)
		}
		if old, failed := ddbkit.ConditionFailedAt(err, 0); failed {
			var u mappingCountRecord
			found, derr := ddbkit.DecodeOld(old, &u)
			switch {
			case derr != nil:
				return launch.StorageMapping{}, derr
			case !found || u.UserID == "" || u.Deleting:
				return launch.StorageMapping{}, errUserNotFound(m.UserID)
			}
			return launch.StorageMapping{}, errMaxMappings(m.UserID, u.StorageMappings, max)
		}
		if err = ddbkit.StoreError(err); !policy.IsKind(err, policy.KindUnavailable) || attempt == maxMappingAttempts {
			return launch.StorageMapping{}, err
		}
		if err := ddbkit.Pause(ctx, attempt); err != nil {
			return launch.StorageMapping{}, err
		}
	}
}

// StorageMappings returns a user's storage mappings, oldest first, in one strongly consistent
// Query that also reads the user item: a missing user (or one being deleted) is KindNotFound
// user_not_found. Every stored mapping is returned, also while the user's
// allow_user_storage_mapping is false (launch.BuildLaunch leaves them out then).
func (ss *SessionStore) StorageMappings(ctx context.Context, userID string) ([]launch.StorageMapping, error) {
	_, out, err := ss.userAndMappings(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("storage mappings of user %s: %w", userID, err)
	}
	return out, nil
}

// UserWithStorageMappings reads a live user and their storage mappings, oldest first, in one
// strongly consistent Query of the user's partition (the user item sorts right after the
// mappings): what a session start reads of the user. KindNotFound "user_not_found" for a user
// that does not exist or is being deleted.
func (ss *SessionStore) UserWithStorageMappings(ctx context.Context, userID string) (policy.User, []launch.StorageMapping, error) {
	rec, out, err := ss.userAndMappings(ctx, userID)
	if err != nil {
		return policy.User{}, nil, fmt.Errorf("user %s with storage mappings: %w", userID, err)
	}
	return rec.user(), out, nil
}

// userAndMappings is the Query of UserWithStorageMappings and StorageMappings.
func (ss *SessionStore) userAndMappings(ctx context.Context, userID string) (userRecord, []launch.StorageMapping, error) {
	var user userRecord
	if !policy.ValidID(userID) {
		return user, nil, errUserNotFound(userID)
	}
	pk := userPKPrefix + userID
	in, err := ddbkit.KeyQuery("", expression.Key(attrPK).Equal(expression.Value(pk)).
		And(expression.Key(attrSK).Between(expression.Value(userMappingSKPrefix), expression.Value(userSK))), nil)
	if err != nil {
		return user, nil, err
	}
	in.ConsistentRead = aws.Bool(true)
	out := []launch.StorageMapping{}
	live := false
	err = ss.st.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		sk, _ := item[attrSK].(*ddbtypes.AttributeValueMemberS)
		switch {
		case sk == nil:
		case sk.Value == userSK:
			if err := attributevalue.UnmarshalMap(item, &user); err != nil {
				return fmt.Errorf("decode user: %w", err)
			}
			live = user.live()
		case strings.HasPrefix(sk.Value, userMappingSKPrefix):
			var r storageMappingRecord
			if err := attributevalue.UnmarshalMap(item, &r); err != nil {
				return fmt.Errorf("decode storage mapping: %w", err)
			}
			out = append(out, r.mapping())
		}
		return nil
	})
	if err != nil {
		return user, nil, err
	}
	if !live {
		return user, nil, errUserNotFound(userID)
	}
	sortMappings(out)
	return user, out, nil
}

// sortMappings orders mappings by creation time, then id: the order in which BuildLaunch
// lets an older mapping win over a newer one at the same bind.
func sortMappings(ms []launch.StorageMapping) {
	slices.SortFunc(ms, func(a, b launch.StorageMapping) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}

// DeleteStorageMapping removes one of a user's storage mappings and gives its place back
// (storage_mappings - 1, in the same transaction). KindNotFound storage_mapping_not_found when
// the user has no such mapping. The count never goes below 0, and a mapping of a user being
// deleted is removed all the same.
func (ss *SessionStore) DeleteStorageMapping(ctx context.Context, userID, mappingID string) error {
	if err := ss.deleteStorageMapping(ctx, userID, mappingID); err != nil {
		return fmt.Errorf("delete storage mapping %s of user %s: %w", mappingID, userID, err)
	}
	return nil
}

func (ss *SessionStore) deleteStorageMapping(ctx context.Context, userID, mappingID string) error {
	if !policy.ValidID(userID) || !policy.ValidID(mappingID) {
		return errMappingNotFound(userID, mappingID)
	}
	count := expression.Name(userAttrStorageMappings)
	build := func(decrement bool) *txWrites {
		tx := ss.st.newTx()
		tx.Delete(userMappingKey(userID, mappingID), ddbkit.ItemExists())
		if decrement {
			tx.Update(userKey(userID), expression.Add(count, expression.Value(-1)),
				ddbkit.AllOf(userIsLive(), count.GreaterThan(expression.Value(0))))
		}
		return tx
	}
	decrement := true
	tx := build(decrement) // resubmitted as it is until its items change
	for attempt := 1; ; attempt++ {
		err := ss.st.transactWrite(ctx, tx)
		if err == nil {
			return nil
		}
		if _, failed := ddbkit.ConditionFailedAt(err, 0); failed {
			return errMappingNotFound(userID, mappingID)
		}
		if _, failed := ddbkit.ConditionFailedAt(err, 1); failed && decrement {
			// The user is being deleted or gone, or the count is already 0: the mapping goes
			// all the same.
			decrement = false
			tx = build(decrement)
			continue
		}
		if err = ddbkit.StoreError(err); !policy.IsKind(err, policy.KindUnavailable) || attempt == maxMappingAttempts {
			return err
		}
		if err := ddbkit.Pause(ctx, attempt); err != nil {
			return err
		}
	}
}

// deleteUserMappings removes every storage mapping of a user (used by DeleteUser, after the
// user is marked deleting, which blocks new ones): one keys-only Query of the user's
// partition, then BatchWriteItem deletes of 25. The user item's count goes with the user.
func (s *Store) deleteUserMappings(ctx context.Context, userID string) error {
	if err := s.kt.DeleteUnderPrefix(ctx, userKey(userID).PK, userMappingSKPrefix); err != nil {
		return fmt.Errorf("storage mappings of user %s: %w", userID, err)
	}
	return nil
}
