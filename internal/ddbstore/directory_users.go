package ddbstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
)

// MaxGroupsOnCreate is the most explicit groups CreateUser can join the new user to: the user,
// the username, the All Users count and two items per group must fit one transaction.
const MaxGroupsOnCreate = (ddbkit.MaxTransactItems - 3) / 2

// liveUser reads a user; a missing user, or one being deleted, is not found.
func (s *Store) liveUser(ctx context.Context, id string, consistent bool) (userRecord, error) {
	if !policy.ValidID(id) {
		return userRecord{}, errUserNotFound(id)
	}
	var rec userRecord
	found, err := s.kt.GetRecord(ctx, userKey(id), consistent, &rec)
	if err != nil {
		return userRecord{}, err
	}
	if !found || !rec.live() {
		return userRecord{}, errUserNotFound(id)
	}
	return rec, nil
}

// allUsersCountChange adds delta to All Users' member_count. It is a bare ADD, without a
// version change (membership of All Users is implicit, not a write to the group) and without
// a condition, so that users can be created before EnsureAllUsers has run.
func allUsersCountChange(delta int) expression.UpdateBuilder {
	return expression.Add(expression.Name(groupAttrMemberCount), expression.Value(delta))
}

// CreateUser creates a user. An empty ID gets a new one and a zero CreatedAt the store clock's
// time. The username must not be taken, ignoring case and surrounding spaces. u.GroupIDs other
// than All Users (at most MaxGroupsOnCreate) become explicit memberships in the same
// transaction, so a user created into groups is never seen without them.
func (s *Store) CreateUser(ctx context.Context, u policy.User) (policy.User, error) {
	out, err := s.createUser(ctx, u)
	if err != nil {
		return policy.User{}, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return out, nil
}

func (s *Store) createUser(ctx context.Context, u policy.User) (policy.User, error) {
	if u.ID == "" {
		u.ID = policy.NewID("u")
	}
	if !policy.ValidID(u.ID) {
		return policy.User{}, policy.FieldErrorf("user_id", policy.CodeInvalidID, "%q is not a valid user id", u.ID)
	}
	if err := validateName("username", u.Username); err != nil {
		return policy.User{}, err
	}
	var groups []string
	seen := map[string]bool{policy.AllUsersGroupID: true}
	for _, g := range u.GroupIDs {
		if seen[g] {
			continue
		}
		seen[g] = true
		if !policy.ValidID(g) {
			return policy.User{}, errGroupNotFound(g)
		}
		groups = append(groups, g)
	}
	if len(groups) > MaxGroupsOnCreate {
		return policy.User{}, policy.FieldErrorf("groups", policy.CodeTooManyGroups,
			"a user can be created in at most %d groups; add the others afterwards", MaxGroupsOnCreate)
	}
	sort.Strings(groups)
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.now()
	}
	k := userKey(u.ID)
	rec := userRecord{
		PK: k.PK, SK: k.SK, GSI1PK: usersIndexPK, GSI1SK: u.ID,
		ID: u.ID, Username: u.Username, Groups: groups, CreatedAt: u.CreatedAt.UTC(),
		Profile: newProfileRecord(u.Profile),
	}
	tx := s.newTx()
	tx.Put(rec, ddbkit.ItemAbsent())
	tx.Put(newNameRecord(usernameKey(u.Username), u.ID, u.Username), ddbkit.ItemAbsent())
	tx.Update(groupKey(policy.AllUsersGroupID), allUsersCountChange(+1), expression.ConditionBuilder{})
	groupAt := map[int]string{} // transaction item index → group id
	for _, g := range groups {
		tx.Put(newMemberRecord(g, u.ID, rec.CreatedAt), ddbkit.ItemAbsent())
		groupAt[len(tx.Items)] = g
		tx.Update(groupKey(g), groupMembershipChange(+1, rec.CreatedAt), groupIsLive())
	}
	err := s.transactWrite(ctx, tx)
	if err == nil {
		return rec.user(), nil
	}
	if _, taken := ddbkit.ConditionFailedAt(err, 1); taken {
		return policy.User{}, errUsernameTaken(u.Username)
	}
	if _, taken := ddbkit.ConditionFailedAt(err, 0); taken {
		return policy.User{}, policy.Errorf(policy.KindConflict, policy.CodeUserIDTaken, "user %s already exists", u.ID)
	}
	for i, g := range groupAt {
		if _, failed := ddbkit.ConditionFailedAt(err, i); failed {
			return policy.User{}, errGroupNotFound(g)
		}
	}
	return policy.User{}, ddbkit.StoreError(err)
}

// GetUser reads a user (strongly consistent).
func (s *Store) GetUser(ctx context.Context, id string) (policy.User, error) {
	rec, err := s.liveUser(ctx, id, true)
	if err != nil {
		return policy.User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return rec.user(), nil
}

// ListUsers lists every user, ordered by id.
func (s *Store) ListUsers(ctx context.Context) ([]policy.User, error) {
	users, err := s.listUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

func (s *Store) listUsers(ctx context.Context) ([]policy.User, error) {
	in, err := ddbkit.KeyQuery(tabledef.ByOwner, expression.Key(attrGSI1PK).Equal(expression.Value(usersIndexPK)), nil)
	if err != nil {
		return nil, err
	}
	users := []policy.User{}
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var rec userRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode user: %w", err)
		}
		if rec.live() {
			users = append(users, rec.user())
		}
		return nil
	})
	return users, err
}

// UserWithGroups returns a user and every live group they belong to, All Users included,
// ordered by priority then id (the order of precedence). It costs two round trips whatever
// the number of groups: a GetItem of the user, then one BatchGetItem of the user's groups and
// All Users (policy.MaxGroupsPerUser + 1 = 100 keys, one request). Only when DynamoDB leaves
// keys unprocessed (throttling) does it ask again for those. Groups deleted concurrently are
// left out. Both reads are strongly consistent, so a change is seen at once.
func (s *Store) UserWithGroups(ctx context.Context, userID string) (policy.User, []policy.Group, error) {
	rec, err := s.liveUser(ctx, userID, true)
	if err != nil {
		return policy.User{}, nil, fmt.Errorf("read user %s with groups: %w", userID, err)
	}
	u := rec.user()
	groups, err := s.GroupsOfUser(ctx, u)
	if err != nil {
		return policy.User{}, nil, err
	}
	return u, groups, nil
}

// GroupsOfUser reads the groups of a user already read (u.GroupIDs; All Users whether listed
// or not) in one BatchGetItem, ordered by priority, then id: UserWithGroups without the read of
// the user, for a caller that read the user item with something else (a session start reads it
// with the user's storage mappings).
//
// Callers of one process that ask for the same set of groups at once share the read
// (freshCalls: each joins a read that starts after it asked, so each still sees every change
// committed before it called). At 9:00 the members of a class, who all belong to All Users and
// the class's group, then send a few BatchGetItems between them rather than one each. Each
// caller gets its own slice and settings maps.
func (s *Store) GroupsOfUser(ctx context.Context, u policy.User) ([]policy.Group, error) {
	ids := []string{policy.AllUsersGroupID}
	for _, g := range u.GroupIDs {
		if g != policy.AllUsersGroupID {
			ids = append(ids, g)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	shared, err := s.groupSets.do(ctx, strings.Join(ids, " "), func(ctx context.Context) ([]policy.Group, error) {
		keys := make([]tableKey, len(ids))
		for i, id := range ids {
			keys[i] = groupKey(id)
		}
		return s.liveGroups(ctx, keys)
	})
	if err != nil {
		return nil, fmt.Errorf("read groups of user %s: %w", u.ID, err)
	}
	groups := make([]policy.Group, len(shared))
	for i, g := range shared {
		g.Settings = maps.Clone(g.Settings)
		groups[i] = g
	}
	sort.Slice(groups, func(i, j int) bool {
		if groups[i].Priority != groups[j].Priority {
			return groups[i].Priority < groups[j].Priority
		}
		return groups[i].ID < groups[j].ID
	})
	return groups, nil
}

// DeleteUser deletes a user, their memberships (on both sides, with the groups' counts), their
// API keys, their storage mappings and their username.
//
// Like DeleteGroup it is not one transaction: the user is first marked deleting, which hides
// them and blocks new memberships, keys and storage mappings; then memberships go in
// transactions of up to 49 groups; then the keys; then the storage mappings; then the user
// and username together. Calling DeleteUser again after a failure completes a deletion that
// was started.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if err := s.deleteUser(ctx, id); err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	return nil
}

func (s *Store) deleteUser(ctx context.Context, id string) error {
	if !policy.ValidID(id) {
		return errUserNotFound(id)
	}
	var rec userRecord
	found, err := s.kt.GetRecord(ctx, userKey(id), true, &rec)
	if err != nil {
		return err
	}
	if !found {
		return errUserNotFound(id)
	}
	if !rec.Deleting {
		tx := s.newTx()
		tx.Update(userKey(id), expression.Set(expression.Name(userAttrDeleting), expression.Value(true)), ddbkit.ItemExists())
		if err := s.transactWrite(ctx, tx); err != nil {
			if _, gone := ddbkit.ConditionFailedAt(err, 0); gone {
				return errUserNotFound(id)
			}
			return ddbkit.StoreError(err)
		}
	}
	if err := s.leaveAllGroups(ctx, id); err != nil {
		return err
	}
	if err := s.deleteUserKeys(ctx, id); err != nil {
		return err
	}
	if err := s.deleteUserMappings(ctx, id); err != nil {
		return err
	}
	tx := s.newTx()
	tx.Delete(userKey(id), expression.Name(userAttrDeleting).AttributeExists())
	tx.Delete(usernameKey(rec.Username), nameHeldBy(id))
	if k, ok := legacyNameKey(usernamePKPrefix, usernameSK, rec.Username); ok {
		tx.Delete(k, nameHeldBy(id))
	}
	tx.Update(groupKey(policy.AllUsersGroupID), allUsersCountChange(-1), expression.ConditionBuilder{})
	err = s.transactWrite(ctx, tx)
	if old, failed := ddbkit.ConditionFailedAt(err, 0); failed && len(old) == 0 {
		return nil // a concurrent DeleteUser finished first
	}
	return ddbkit.StoreError(err)
}

// userGroupsPerTx is how many memberships one transaction of leaveAllGroups removes: the user
// item plus two items per group.
const userGroupsPerTx = (ddbkit.MaxTransactItems - 1) / 2

// leaveAllGroups removes every explicit membership of a user marked deleting. Each
// transaction is conditioned on the user still holding the groups it removes, so a group's
// count is decremented exactly once even when DeleteGroup or RemoveMember run concurrently.
func (s *Store) leaveAllGroups(ctx context.Context, userID string) error {
	goneGroups := map[string]bool{} // groups whose item no longer exists
	for pass := 1; pass <= maxRaceAttempts; pass++ {
		var rec userRecord
		found, err := s.kt.GetRecord(ctx, userKey(userID), true, &rec)
		if err != nil {
			return err
		}
		if !found || len(rec.Groups) == 0 {
			return nil
		}
		clean := true
		for start := 0; start < len(rec.Groups); start += userGroupsPerTx {
			chunk := rec.Groups[start:min(start+userGroupsPerTx, len(rec.Groups))]
			groups := expression.Name(userAttrGroups)
			var holds []expression.ConditionBuilder
			for _, g := range chunk {
				holds = append(holds, groups.Contains(g))
			}
			tx := s.newTx()
			tx.Update(userKey(userID), expression.Delete(groups, stringSet(chunk...)), ddbkit.AllOf(holds...))
			groupAt := map[int]string{}
			for _, g := range chunk {
				tx.Delete(groupMemberKey(g, userID), expression.ConditionBuilder{})
				if !goneGroups[g] {
					groupAt[len(tx.Items)] = g
					tx.Update(groupKey(g), groupMembershipChange(-1, s.now()),
						expression.Name(groupAttrVersion).AttributeExists())
				}
			}
			err := s.transactWrite(ctx, tx)
			if err == nil {
				continue
			}
			if _, ok := ddbkit.CancellationReasons(err); !ok {
				return ddbkit.StoreError(err)
			}
			clean = false
			for i, g := range groupAt {
				if old, failed := ddbkit.ConditionFailedAt(err, i); failed && len(old) == 0 {
					goneGroups[g] = true
				}
			}
		}
		if clean {
			return nil
		}
	}
	return retryLater("the groups of user " + userID)
}
