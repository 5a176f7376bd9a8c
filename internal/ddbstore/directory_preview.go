package ddbstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/policy"
)

// GroupsByID reads the live groups among ids (issue 20's preview reads every group of a change's
// affected users once): one strongly consistent BatchGetItem per 100 ids, in any order; unknown
// ids, invalid ids and groups being deleted are left out.
func (s *Store) GroupsByID(ctx context.Context, ids []string) ([]policy.Group, error) {
	seen := make(map[string]bool, len(ids))
	keys := make([]tableKey, 0, len(ids))
	for _, id := range ids {
		if policy.ValidID(id) && !seen[id] {
			seen[id] = true
			keys = append(keys, groupKey(id))
		}
	}
	groups, err := s.liveGroups(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	return groups, nil
}

// liveGroups reads the groups at keys (strongly consistent BatchGetItem, 100 keys a request),
// leaving out those missing or being deleted; the order is the table's, not the keys'.
func (s *Store) liveGroups(ctx context.Context, keys []tableKey) ([]policy.Group, error) {
	groups := make([]policy.Group, 0, len(keys))
	err := s.kt.BatchGet(ctx, keys, true, func(item map[string]ddbtypes.AttributeValue) error {
		var g groupRecord
		if err := attributevalue.UnmarshalMap(item, &g); err != nil {
			return fmt.Errorf("decode group: %w", err)
		}
		if g.live() {
			groups = append(groups, g.group())
		}
		return nil
	})
	return groups, err
}

// AddMemberIfVersion is AddMember conditioned on the group's version (If-Match): a group at
// another version is KindPrecondition version_mismatch and nothing is written. ifVersion 0 is
// AddMember. Every membership change advances the group's version.
func (s *Store) AddMemberIfVersion(ctx context.Context, groupID, userID string, ifVersion int64, at time.Time) error {
	if err := s.addMember(ctx, groupID, userID, ifVersion, at); err != nil {
		return fmt.Errorf("add user %s to group %s: %w", userID, groupID, err)
	}
	return nil
}

// RemoveMemberIfVersion is RemoveMember conditioned on the group's version, as AddMemberIfVersion.
func (s *Store) RemoveMemberIfVersion(ctx context.Context, groupID, userID string, ifVersion int64, at time.Time) error {
	if err := s.removeMember(ctx, groupID, userID, ifVersion, at); err != nil {
		return fmt.Errorf("remove user %s from group %s: %w", userID, groupID, err)
	}
	return nil
}

// memberGroupCondition is the group side's condition of a membership change: live, and at
// ifVersion when it is not 0.
func memberGroupCondition(ifVersion int64) expression.ConditionBuilder {
	if ifVersion != 0 {
		return groupAtVersion(ifVersion)
	}
	return groupIsLive()
}

// memberGroupFailed explains a failed group condition of a membership change.
func (s *Store) memberGroupFailed(groupID string, old map[string]ddbtypes.AttributeValue, ifVersion int64) error {
	if ifVersion == 0 {
		return errGroupNotFound(groupID)
	}
	if err := s.lostGroupRace(groupID, old, ifVersion); err != nil {
		return err
	}
	return errGroupNotFound(groupID)
}
