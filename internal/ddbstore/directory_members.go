package ddbstore

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// userIsLive is the condition that a user exists and is not being deleted.
func userIsLive() expression.ConditionBuilder {
	return ddbkit.ItemExists().And(expression.Name(userAttrDeleting).AttributeNotExists())
}

// groupMembershipChange is the group side of adding (+1) or removing (-1) a member: the
// count, and the version, which every write to a group advances.
func groupMembershipChange(delta int, at time.Time) expression.UpdateBuilder {
	return expression.Add(expression.Name(groupAttrMemberCount), expression.Value(delta)).
		Add(expression.Name(groupAttrVersion), expression.Value(1)).
		Set(expression.Name(groupAttrUpdatedAt), expression.Value(at.UTC()))
}

// AddMember makes a user an explicit member of a group, writing the user's groups set, the
// membership item and the group's member_count in one transaction. Adding a member again
// changes nothing. Every user is implicitly a member of All Users, so adding to it only checks
// that the user exists. A user may be in at most policy.MaxGroupsPerUser groups besides All
// Users (KindConflict "too_many_groups").
func (s *Store) AddMember(ctx context.Context, groupID, userID string, at time.Time) error {
	if err := s.addMember(ctx, groupID, userID, 0, at); err != nil {
		return fmt.Errorf("add user %s to group %s: %w", userID, groupID, err)
	}
	return nil
}

func (s *Store) addMember(ctx context.Context, groupID, userID string, ifVersion int64, at time.Time) error {
	if groupID == policy.AllUsersGroupID {
		_, err := s.liveUser(ctx, userID, true)
		return err
	}
	if !policy.ValidID(groupID) {
		return errGroupNotFound(groupID)
	}
	if !policy.ValidID(userID) {
		return errUserNotFound(userID)
	}
	groups := expression.Name(userAttrGroups)
	tx := s.newTx()
	tx.Update(userKey(userID), expression.Add(groups, stringSet(groupID)), ddbkit.AllOf(
		userIsLive(),
		groups.AttributeNotExists().Or(groups.Size().LessThan(expression.Value(policy.MaxGroupsPerUser))),
		expression.Not(groups.Contains(groupID)),
	))
	tx.Put(newMemberRecord(groupID, userID, at), ddbkit.ItemAbsent())
	tx.Update(groupKey(groupID), groupMembershipChange(+1, at), memberGroupCondition(ifVersion))
	tx.addResyncMarker(lifecycle.ResyncUser, userID, at)
	err := s.transactWrite(ctx, tx)
	if err == nil {
		return nil
	}
	if old, failed := ddbkit.ConditionFailedAt(err, 2); failed {
		return s.memberGroupFailed(groupID, old, ifVersion)
	}
	if old, failed := ddbkit.ConditionFailedAt(err, 0); failed {
		var u userRecord
		found, err := ddbkit.DecodeOld(old, &u)
		switch {
		case err != nil:
			return err
		case !found || !u.live():
			return errUserNotFound(userID)
		case u.hasGroup(groupID):
			return nil // already a member
		case len(u.Groups) >= policy.MaxGroupsPerUser:
			return policy.Errorf(policy.KindConflict, policy.CodeTooManyGroups,
				"user %s is already in %d groups, the most allowed", userID, policy.MaxGroupsPerUser)
		}
	}
	return ddbkit.StoreError(err)
}

// RemoveMember ends a user's explicit membership of a group, both directions in one
// transaction. A user who is not a member is KindNotFound "not_a_member"; All Users
// membership cannot be removed (KindConflict "all_users_membership").
func (s *Store) RemoveMember(ctx context.Context, groupID, userID string, at time.Time) error {
	if err := s.removeMember(ctx, groupID, userID, 0, at); err != nil {
		return fmt.Errorf("remove user %s from group %s: %w", userID, groupID, err)
	}
	return nil
}

func (s *Store) removeMember(ctx context.Context, groupID, userID string, ifVersion int64, at time.Time) error {
	if groupID == policy.AllUsersGroupID {
		return policy.Errorf(policy.KindConflict, policy.CodeAllUsersMembership,
			"every user is a member of All Users; that membership cannot be removed")
	}
	if !policy.ValidID(groupID) {
		return errGroupNotFound(groupID)
	}
	if !policy.ValidID(userID) {
		return errUserNotFound(userID)
	}
	groups := expression.Name(userAttrGroups)
	tx := s.newTx()
	tx.Update(userKey(userID), expression.Delete(groups, stringSet(groupID)),
		ddbkit.AllOf(userIsLive(), groups.Contains(groupID)))
	tx.Delete(groupMemberKey(groupID, userID), expression.ConditionBuilder{})
	tx.Update(groupKey(groupID), groupMembershipChange(-1, at), memberGroupCondition(ifVersion))
	tx.addResyncMarker(lifecycle.ResyncUser, userID, at)
	err := s.transactWrite(ctx, tx)
	if err == nil {
		return nil
	}
	if old, failed := ddbkit.ConditionFailedAt(err, 2); failed {
		return s.memberGroupFailed(groupID, old, ifVersion)
	}
	if old, failed := ddbkit.ConditionFailedAt(err, 0); failed {
		var u userRecord
		found, err := ddbkit.DecodeOld(old, &u)
		switch {
		case err != nil:
			return err
		case !found || !u.live():
			return errUserNotFound(userID)
		default:
			return policy.Errorf(policy.KindNotFound, policy.CodeNotAMember,
				"user %s is not a member of group %s", userID, groupID)
		}
	}
	return ddbkit.StoreError(err)
}

// ListMembers lists a group's members, ordered by id. The members of All Users are all users.
func (s *Store) ListMembers(ctx context.Context, groupID string) ([]policy.User, error) {
	users, err := s.listMembers(ctx, groupID)
	if err != nil {
		return nil, fmt.Errorf("list members of group %s: %w", groupID, err)
	}
	return users, nil
}

func (s *Store) listMembers(ctx context.Context, groupID string) ([]policy.User, error) {
	if groupID == policy.AllUsersGroupID {
		return s.listUsers(ctx)
	}
	if _, err := s.liveGroup(ctx, groupID); err != nil {
		return nil, err
	}
	ids, err := s.memberIDs(ctx, groupID, false)
	if err != nil {
		return nil, err
	}
	keys := make([]tableKey, len(ids))
	for i, id := range ids {
		keys[i] = userKey(id)
	}
	users := []policy.User{}
	err = s.kt.BatchGet(ctx, keys, false, func(item map[string]ddbtypes.AttributeValue) error {
		var rec userRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode user: %w", err)
		}
		if rec.live() {
			users = append(users, rec.user())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	return users, nil
}
