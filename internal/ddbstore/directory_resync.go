package ddbstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/policy"
)

// UsersGroups returns the explicit groups (All Users left out) of each live user of ids, read
// with strongly consistent BatchGetItem, 100 users a request: what the sweep's re-sync of every
// user resolves settings from, instead of a UserWithGroups per user. A user missing or being
// deleted is left out.
func (s *Store) UsersGroups(ctx context.Context, ids []string) (map[string][]string, error) {
	keys := make([]tableKey, 0, len(ids))
	for _, id := range ids {
		if policy.ValidID(id) {
			keys = append(keys, userKey(id))
		}
	}
	out := make(map[string][]string, len(keys))
	err := s.kt.BatchGet(ctx, keys, true, func(item map[string]ddbtypes.AttributeValue) error {
		var rec userRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode user: %w", err)
		}
		if rec.live() {
			out[rec.ID] = rec.Groups
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the groups of %d users: %w", len(keys), err)
	}
	return out, nil
}

// Groups returns the live groups of ids (strongly consistent BatchGetItem); a group missing or
// being deleted is left out.
func (s *Store) Groups(ctx context.Context, ids []string) ([]policy.Group, error) {
	keys := make([]tableKey, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, groupKey(id))
	}
	groups, err := s.liveGroups(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read %d groups: %w", len(keys), err)
	}
	return groups, nil
}
