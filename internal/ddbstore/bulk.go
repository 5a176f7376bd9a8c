package ddbstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// The items of bulk loads (bench/seed): the records the store's own writes put, without their
// conditions and counters, for a loader that writes them in batches.

// Item is one table item as the SDK writes it.
type Item = map[string]ddbtypes.AttributeValue

// seedUserRecord is a user item with the session count and ids the start of a session keeps on it.
type seedUserRecord struct {
	userRecord
	ActiveSessions int64    `dynamodbav:"active_sessions"`
	SessionIDs     []string `dynamodbav:"session_ids,stringset,omitempty"`
}

// UserItems returns the items CreateUser and AddMember write for u (ID, Username and
// CreatedAt must be set; GroupIDs lists the explicit groups): the user item, carrying
// activeSessions and sessionIDs as a session start keeps them, the username reservation and
// one membership per explicit group; and those groups, deduplicated and sorted. The groups'
// member_count is left to AddMemberCount.
func UserItems(u policy.User, activeSessions int64, sessionIDs []string) ([]Item, []string, error) {
	if !policy.ValidID(u.ID) {
		return nil, nil, policy.FieldErrorf("user_id", policy.CodeInvalidID, "%q is not a valid user id", u.ID)
	}
	if err := validateName("username", u.Username); err != nil {
		return nil, nil, err
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
		return nil, nil, policy.Errorf(policy.KindConflict, policy.CodeTooManyGroups, "user %s would be in %d groups, more than %d", u.ID, len(groups), policy.MaxGroupsPerUser)
	}
	sort.Strings(groups)
	created := u.CreatedAt.UTC()
	k := userKey(u.ID)
	recs := []any{
		seedUserRecord{
			userRecord: userRecord{
				PK: k.PK, SK: k.SK, GSI1PK: usersIndexPK, GSI1SK: u.ID,
				ID: u.ID, Username: u.Username, Groups: groups, CreatedAt: created,
			},
			ActiveSessions: activeSessions,
			SessionIDs:     sessionIDs,
		},
		newNameRecord(usernameKey(u.Username), u.ID, u.Username),
	}
	for _, g := range groups {
		recs = append(recs, newMemberRecord(g, u.ID, created))
	}
	items, err := marshalItems(recs)
	return items, groups, err
}

// GroupItems returns the items CreateGroup writes for g (the group and its name reservation),
// with the same checks of id, name, priority and setting values: version 1, no members, and a
// zero CreatedAt the store clock's time.
func (s *Store) GroupItems(g policy.Group) ([]Item, error) {
	if !policy.ValidID(g.ID) || g.ID == policy.AllUsersGroupID {
		return nil, policy.FieldErrorf("group_id", policy.CodeInvalidID, "%q is not a valid group id", g.ID)
	}
	if g.Priority == 0 {
		g.Priority = policy.DefaultGroupPriority
	}
	if err := validateName("name", g.Name); err != nil {
		return nil, err
	}
	if err := validatePriority(g.Priority); err != nil {
		return nil, err
	}
	for name, v := range g.Settings {
		if err := validateSettingValue(name, v); err != nil {
			return nil, err
		}
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	g.UpdatedAt, g.Version, g.MemberCount = g.CreatedAt, 1, 0
	return marshalItems([]any{newGroupRecord(g), newNameRecord(groupNameKey(g.Name), g.ID, g.Name)})
}

// SessionItems returns the items a session start writes for s (the session item, due index
// entry included, and the launch item when s has client settings or a launch configuration),
// without the created event.
func SessionItems(s lifecycle.Session) ([]Item, error) {
	recs := []any{newSessionRecord(s)}
	if len(s.ClientSettings) > 0 || len(s.Launch) > 0 {
		recs = append(recs, newSessionLaunchRecord(s))
	}
	return marshalItems(recs)
}

// SessionItemKey is the primary key of a session's item, for benchmarks that write the item
// directly to compare with the store's own writes.
func SessionItemKey(sessionID string) Item {
	return sessionKey(sessionID).Attributes()
}

// AddMemberCount raises the member_count of group groupID by n, for members whose items were
// loaded in bulk: a bare ADD for All Users (as CreateUser does), otherwise only on a live group
// (KindNotFound if there is none). The group's version is left alone and no re-sync marker is
// written.
func (s *Store) AddMemberCount(ctx context.Context, groupID string, n int) error {
	var cond expression.ConditionBuilder
	if groupID != policy.AllUsersGroupID {
		cond = groupIsLive()
	}
	tx := s.newTx()
	tx.Update(groupKey(groupID), expression.Add(expression.Name(groupAttrMemberCount), expression.Value(n)), cond)
	err := s.transactWrite(ctx, tx)
	if _, failed := ddbkit.ConditionFailedAt(err, 0); failed {
		return errGroupNotFound(groupID)
	}
	if err != nil {
		return fmt.Errorf("count the members of group %s: %w", groupID, ddbkit.StoreError(err))
	}
	return nil
}

func marshalItems(recs []any) ([]Item, error) {
	items := make([]Item, 0, len(recs))
	for _, rec := range recs {
		item, err := attributevalue.MarshalMap(rec)
		if err != nil {
			return nil, fmt.Errorf("encode %T: %w", rec, err)
		}
		items = append(items, item)
	}
	return items, nil
}
