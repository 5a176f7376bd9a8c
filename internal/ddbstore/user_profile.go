package ddbstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/policy"
)

// UpdateUser renames a user and/or replaces their profile (the Kasm API's update_user and
// update_user_attributes) in one transaction: the user item, conditioned on the user being
// live and still named as read, and — on a rename — the old username's item deleted and the
// new one put only if nobody holds it, so usernames stay unique (409 username_taken). A
// concurrent rename or deletion makes it read again and retry. An update that changes
// nothing writes nothing.
func (s *Store) UpdateUser(ctx context.Context, id string, upd policy.UserUpdate) (policy.User, error) {
	u, err := s.updateUser(ctx, id, upd)
	if err != nil {
		return policy.User{}, fmt.Errorf("update user %s: %w", id, err)
	}
	return u, nil
}

func (s *Store) updateUser(ctx context.Context, id string, upd policy.UserUpdate) (policy.User, error) {
	if upd.Username != nil {
		if err := validateName("username", *upd.Username); err != nil {
			return policy.User{}, err
		}
	}
	for attempt := 1; attempt <= maxRaceAttempts; attempt++ {
		rec, err := s.liveUser(ctx, id, true)
		if err != nil {
			return policy.User{}, err
		}
		next := rec
		if upd.Username != nil {
			next.Username = *upd.Username
		}
		if upd.Profile != nil {
			next.Profile = newProfileRecord(*upd.Profile)
		}
		renamed := next.Username != rec.Username
		if !renamed && upd.Profile == nil {
			return rec.user(), nil
		}
		set := expression.Set(expression.Name(userAttrUsername), expression.Value(next.Username))
		if next.Profile == nil {
			set = set.Remove(expression.Name(userAttrProfile))
		} else {
			pv, err := attributevalue.MarshalMap(next.Profile)
			if err != nil {
				return policy.User{}, fmt.Errorf("encode profile: %w", err)
			}
			set = set.Set(expression.Name(userAttrProfile), expression.Value(&ddbtypes.AttributeValueMemberM{Value: pv}))
		}
		cond := ddbkit.AllOf(ddbkit.ItemExists(), expression.Name(userAttrDeleting).AttributeNotExists(),
			expression.Name(userAttrUsername).Equal(expression.Value(rec.Username)))
		tx := s.newTx()
		tx.Update(userKey(id), set, cond)
		newNameAt := -1
		if renamed {
			if usernameKey(next.Username) == usernameKey(rec.Username) {
				// Only the case or spacing changes: the same name item, now spelled anew.
				tx.Put(newNameRecord(usernameKey(next.Username), id, next.Username), nameHeldBy(id))
			} else {
				tx.Delete(usernameKey(rec.Username), nameHeldBy(id))
				if k, ok := legacyNameKey(usernamePKPrefix, usernameSK, rec.Username, usernameKey(next.Username)); ok {
					tx.Delete(k, nameHeldBy(id))
				}
				newNameAt = len(tx.Items)
				tx.Put(newNameRecord(usernameKey(next.Username), id, next.Username), ddbkit.ItemAbsent())
			}
		}
		err = s.transactWrite(ctx, tx)
		if err == nil {
			return next.user(), nil
		}
		if _, failed := ddbkit.ConditionFailedAt(err, 0); failed {
			continue // renamed or deleted concurrently: read again
		}
		if newNameAt >= 0 {
			if _, taken := ddbkit.ConditionFailedAt(err, newNameAt); taken {
				return policy.User{}, errUsernameTaken(next.Username)
			}
		}
		return policy.User{}, ddbkit.StoreError(err)
	}
	return policy.User{}, retryLater("user " + id)
}

// UserProfiles reads the profiles of users (one BatchGetItem per 100, eventually consistent:
// the user listing's index does not copy them). Users not found are left out.
func (s *Store) UserProfiles(ctx context.Context, ids []string) (map[string]policy.UserProfile, error) {
	keys := make([]tableKey, 0, len(ids))
	for _, id := range ids {
		if policy.ValidID(id) {
			keys = append(keys, userKey(id))
		}
	}
	out := make(map[string]policy.UserProfile, len(keys))
	err := s.kt.BatchGet(ctx, keys, false, func(item map[string]ddbtypes.AttributeValue) error {
		var rec userRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode user: %w", err)
		}
		if rec.live() {
			out[rec.ID] = rec.Profile.profile()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read user profiles: %w", err)
	}
	return out, nil
}
