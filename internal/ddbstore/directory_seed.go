package ddbstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/policy"
)

// SeedUser is one user for SeedUsers: the user (ID, Username and CreatedAt must be set;
// GroupIDs lists the explicit groups), the number of live sessions its item counts and their
// ids (session_ids; seed both together, as StartSession keeps them).
type SeedUser struct {
	policy.User
	ActiveSessions int64
	SessionIDs     []string
}

// seedUserRecord is a user item with the session count and ids StartSession keeps on it.
type seedUserRecord struct {
	userRecord
	ActiveSessions int64    `dynamodbav:"active_sessions"`
	SessionIDs     []string `dynamodbav:"session_ids,stringset,omitempty"`
}

// SeedUsers writes users, their username reservations and their explicit memberships
// directly, 25 items per BatchWriteItem, from workers goroutines at once (at least 1): a bulk
// loader for benchmarks and large tests. The items are those CreateUser and AddMember write
// (the same record types), without conditions: an existing user or membership is overwritten,
// so seed only ids that are not in use. The groups must exist (KindNotFound after the items are written otherwise); their member_count (and All
// Users') is raised by the number of members added, one update per group, but their version
// is left alone and no re-sync marker is written. Users keep at most
// policy.MaxGroupsPerUser explicit groups.
func (s *Store) SeedUsers(ctx context.Context, users []SeedUser, workers int) error {
	if err := s.seedUsers(ctx, users, workers); err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	return nil
}

func (s *Store) seedUsers(ctx context.Context, users []SeedUser, workers int) error {
	var reqs []ddbtypes.WriteRequest
	put := func(rec any) error {
		item, err := attributevalue.MarshalMap(rec)
		if err != nil {
			return fmt.Errorf("encode %T: %w", rec, err)
		}
		reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: item}})
		return nil
	}
	added := map[string]int{} // group id → members added
	for _, u := range users {
		if !policy.ValidID(u.ID) {
			return policy.FieldErrorf("user_id", policy.CodeInvalidID, "%q is not a valid user id", u.ID)
		}
		if err := validateName("username", u.Username); err != nil {
			return err
		}
		var groups []string
		seen := map[string]bool{policy.AllUsersGroupID: true}
		for _, g := range u.GroupIDs {
			if !seen[g] {
				seen[g] = true
				groups = append(groups, g)
			}
		}
		if len(groups) > policy.MaxGroupsPerUser {
			return policy.Errorf(policy.KindConflict, policy.CodeTooManyGroups, "user %s would be in %d groups, more than %d", u.ID, len(groups), policy.MaxGroupsPerUser)
		}
		sort.Strings(groups)
		created := u.CreatedAt.UTC()
		k := userKey(u.ID)
		rec := seedUserRecord{
			userRecord: userRecord{
				PK: k.PK, SK: k.SK, GSI1PK: usersIndexPK, GSI1SK: u.ID,
				ID: u.ID, Username: u.Username, Groups: groups, CreatedAt: created,
			},
			ActiveSessions: u.ActiveSessions,
			SessionIDs:     u.SessionIDs,
		}
		if err := put(rec); err != nil {
			return err
		}
		if err := put(newNameRecord(usernameKey(u.Username), u.ID, u.Username)); err != nil {
			return err
		}
		for _, g := range groups {
			if err := put(newMemberRecord(g, u.ID, created)); err != nil {
				return err
			}
			added[g]++
		}
		added[policy.AllUsersGroupID]++
	}
	if err := s.batchWriteParallel(ctx, reqs, workers); err != nil {
		return err
	}
	ids := make([]string, 0, len(added))
	for g := range added {
		ids = append(ids, g)
	}
	sort.Strings(ids)
	for _, g := range ids {
		var cond expression.ConditionBuilder // All Users' count is a bare ADD, as in CreateUser
		if g != policy.AllUsersGroupID {
			cond = groupIsLive()
		}
		tx := s.newTx()
		tx.update(groupKey(g), expression.Add(expression.Name(groupAttrMemberCount), expression.Value(added[g])), cond)
		err := s.transactWrite(ctx, tx)
		if _, failed := conditionFailedAt(err, 0); failed {
			return errGroupNotFound(g)
		}
		if err != nil {
			return fmt.Errorf("count the members of group %s: %w", g, storeError(err))
		}
	}
	return nil
}

// SeedGroups writes groups and their name reservations directly, 25 items per
// BatchWriteItem, from workers goroutines at once (at least 1): the bulk counterpart of
// CreateGroup for benchmarks and large tests, with the same record types and checks of ids,
// names, priorities and setting values, but without conditions (seed only ids and names that
// are not in use). Each group gets version 1 and no members; a zero CreatedAt becomes the store
// clock's time.
func (s *Store) SeedGroups(ctx context.Context, groups []policy.Group, workers int) error {
	var reqs []ddbtypes.WriteRequest
	for _, g := range groups {
		if !policy.ValidID(g.ID) || g.ID == policy.AllUsersGroupID {
			return fmt.Errorf("seed groups: %w", policy.FieldErrorf("group_id", policy.CodeInvalidID, "%q is not a valid group id", g.ID))
		}
		if g.Priority == 0 {
			g.Priority = policy.DefaultGroupPriority
		}
		if err := validateName("name", g.Name); err != nil {
			return fmt.Errorf("seed groups: %w", err)
		}
		if err := validatePriority(g.Priority); err != nil {
			return fmt.Errorf("seed groups: %w", err)
		}
		for name, v := range g.Settings {
			if err := validateSettingValue(name, v); err != nil {
				return fmt.Errorf("seed groups: %w", err)
			}
		}
		if g.CreatedAt.IsZero() {
			g.CreatedAt = s.now()
		}
		g.UpdatedAt, g.Version, g.MemberCount = g.CreatedAt, 1, 0
		for _, rec := range []any{newGroupRecord(g), newNameRecord(groupNameKey(g.Name), g.ID, g.Name)} {
			item, err := attributevalue.MarshalMap(rec)
			if err != nil {
				return fmt.Errorf("seed groups: encode %T: %w", rec, err)
			}
			reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: item}})
		}
	}
	if err := s.batchWriteParallel(ctx, reqs, workers); err != nil {
		return fmt.Errorf("seed groups: %w", err)
	}
	return nil
}
