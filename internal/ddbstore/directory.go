package ddbstore

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
)

// Limits the directory enforces besides those of package policy (policy/limits.go).
const (
	// MaxSettingsPerChange is the most settings one ChangeSettings may set or unset: the group
	// item, the re-sync marker and one history item per setting must fit DynamoDB's 100-item
	// transaction.
	MaxSettingsPerChange = ddbkit.MaxTransactItems - 2
	// MinGroupPriority and MaxGroupPriority bound a group's priority (policy's limits).
	MinGroupPriority = policy.MinGroupPriority
	MaxGroupPriority = policy.MaxGroupPriority
)

// allUsersDescription is the description EnsureAllUsers gives the built-in group.
const allUsersDescription = "Every user is a member of this group."

var settingNamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// validateName is the store's defensive check of a group name or username, with policy's
// limits: a name by policy.NameProblem (no control, format or other invisible characters), so
// that its uniqueness key (policy.NameKey) tells apart exactly the names people can tell apart.
func validateName(field, name string) error {
	if field == "username" {
		return policy.ValidateUsername(name)
	}
	_, err := policy.ValidateGroupName(name)
	return err
}

func validatePriority(p int) error {
	return policy.ValidateGroupPriority(p)
}

func validateSettingValue(name string, v json.RawMessage) error {
	if !settingNamePattern.MatchString(name) {
		return policy.FieldErrorf(name, policy.CodeUnknownSetting, "%q is not a setting name", name)
	}
	if !json.Valid(v) {
		return policy.FieldErrorf(name, policy.CodeInvalidValue, "the value of %s is not JSON", name)
	}
	return nil
}

// settingPath addresses one setting in the group item's settings map. Setting names contain
// dots (control_panel.…), so the name is one map key, not a path.
func settingPath(name string) expression.NameBuilder {
	return expression.Name(groupAttrSettings).AppendName(expression.NameNoDotSplit(name))
}

// groupIsLive is the condition that a group exists and is not being deleted.
func groupIsLive() expression.ConditionBuilder {
	return expression.Name(groupAttrVersion).AttributeExists().
		And(expression.Name(groupAttrDeleting).AttributeNotExists())
}

// groupAtVersion is the condition that a live group is still at the version read.
func groupAtVersion(v int64) expression.ConditionBuilder {
	return expression.Name(groupAttrVersion).Equal(expression.Value(v)).
		And(expression.Name(groupAttrDeleting).AttributeNotExists())
}

// nameHeldBy is the condition that a name reservation is absent or held by ownerID.
func nameHeldBy(ownerID string) expression.ConditionBuilder {
	return ddbkit.ItemAbsent().Or(expression.Name(nameAttrOwnerID).Equal(expression.Value(ownerID)))
}

// liveGroup reads a group with a consistent read; a missing or deleting group is not found.
func (s *Store) liveGroup(ctx context.Context, id string) (groupRecord, error) {
	if !policy.ValidID(id) {
		return groupRecord{}, errGroupNotFound(id)
	}
	var rec groupRecord
	found, err := s.kt.GetRecord(ctx, groupKey(id), true, &rec)
	if err != nil {
		return groupRecord{}, err
	}
	if !found || !rec.live() {
		return groupRecord{}, errGroupNotFound(id)
	}
	return rec, nil
}

// EnsureAllUsers creates the built-in All Users group with the given settings unless it exists.
// It is idempotent: an existing group is left exactly as it is.
func (s *Store) EnsureAllUsers(ctx context.Context, at time.Time, settings map[string]json.RawMessage) error {
	for name, v := range settings {
		if err := validateSettingValue(name, v); err != nil {
			return fmt.Errorf("create the All Users group: %w", err)
		}
	}
	// Every cold start of the api function calls this: once the group exists, one read
	// answers it instead of a transaction that is bound to be cancelled.
	if _, err := s.GetGroup(ctx, policy.AllUsersGroupID); err == nil {
		return nil
	} else if !policy.IsKind(err, policy.KindNotFound) {
		return fmt.Errorf("create the All Users group: %w", err)
	}
	at = at.UTC()
	rec := newGroupRecord(policy.Group{
		ID: policy.AllUsersGroupID, Name: policy.AllUsersGroupName, Priority: policy.AllUsersPriority,
		Description: allUsersDescription, Settings: settings, Version: 1, CreatedAt: at, UpdatedAt: at,
	})
	// An update, not a put: the item may already hold the member count of users created first.
	upd := expression.Set(expression.Name(attrGSI1PK), expression.Value(rec.GSI1PK)).
		Set(expression.Name(attrGSI1SK), expression.Value(rec.GSI1SK)).
		Set(expression.Name(groupAttrID), expression.Value(rec.ID)).
		Set(expression.Name(groupAttrName), expression.Value(rec.Name)).
		Set(expression.Name(groupAttrPriority), expression.Value(rec.Priority)).
		Set(expression.Name(groupAttrDescription), expression.Value(rec.Description)).
		Set(expression.Name(groupAttrVersion), expression.Value(rec.Version)).
		Set(expression.Name(groupAttrSettings), expression.Value(rec.Settings)).
		Set(expression.Name(groupAttrCreatedAt), expression.Value(rec.CreatedAt)).
		Set(expression.Name(groupAttrUpdatedAt), expression.Value(rec.UpdatedAt)).
		Set(expression.Name(groupAttrMemberCount),
			expression.Name(groupAttrMemberCount).IfNotExists(expression.Value(0)))
	tx := s.newTx()
	tx.Update(groupKey(rec.ID), upd, expression.Name(groupAttrVersion).AttributeNotExists())
	tx.Put(newNameRecord(groupNameKey(rec.Name), rec.ID, rec.Name), ddbkit.ItemAbsent())
	err := s.transactWrite(ctx, tx)
	if _, exists := ddbkit.ConditionFailedAt(err, 0); err == nil || exists {
		return nil
	}
	if _, taken := ddbkit.ConditionFailedAt(err, 1); taken {
		return fmt.Errorf("create the All Users group: %w", errGroupNameTaken(rec.Name))
	}
	return fmt.Errorf("create the All Users group: %w", ddbkit.StoreError(err))
}

// CreateGroup creates a group with version 1. An empty ID gets a new one, priority 0 becomes
// policy.DefaultGroupPriority, a zero CreatedAt the store clock's time. The name must not be
// taken by another group, ignoring case and surrounding spaces.
func (s *Store) CreateGroup(ctx context.Context, g policy.Group) (policy.Group, error) {
	out, err := s.createGroup(ctx, g)
	if err != nil {
		return policy.Group{}, fmt.Errorf("create group %q: %w", g.Name, err)
	}
	return out, nil
}

func (s *Store) createGroup(ctx context.Context, g policy.Group) (policy.Group, error) {
	if g.ID == "" {
		g.ID = policy.NewID("g")
	}
	if !policy.ValidID(g.ID) {
		return policy.Group{}, policy.FieldErrorf("group_id", policy.CodeInvalidID, "%q is not a valid group id", g.ID)
	}
	if g.ID == policy.AllUsersGroupID {
		return policy.Group{}, policy.Errorf(policy.KindConflict, policy.CodeGroupIDTaken, "group %s already exists", g.ID)
	}
	if g.Priority == 0 {
		g.Priority = policy.DefaultGroupPriority
	}
	if err := validateName("name", g.Name); err != nil {
		return policy.Group{}, err
	}
	if err := validatePriority(g.Priority); err != nil {
		return policy.Group{}, err
	}
	for name, v := range g.Settings {
		if err := validateSettingValue(name, v); err != nil {
			return policy.Group{}, err
		}
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	g.UpdatedAt, g.Version, g.MemberCount = g.CreatedAt, 1, 0
	rec := newGroupRecord(g)
	tx := s.newTx()
	tx.Put(rec, ddbkit.ItemAbsent())
	tx.Put(newNameRecord(groupNameKey(g.Name), g.ID, g.Name), ddbkit.ItemAbsent())
	err := s.transactWrite(ctx, tx)
	if err == nil {
		return rec.group(), nil
	}
	if _, taken := ddbkit.ConditionFailedAt(err, 1); taken {
		return policy.Group{}, errGroupNameTaken(g.Name)
	}
	if _, taken := ddbkit.ConditionFailedAt(err, 0); taken {
		return policy.Group{}, policy.Errorf(policy.KindConflict, policy.CodeGroupIDTaken, "group %s already exists", g.ID)
	}
	return policy.Group{}, ddbkit.StoreError(err)
}

// GetGroup reads a group (strongly consistent).
func (s *Store) GetGroup(ctx context.Context, id string) (policy.Group, error) {
	rec, err := s.liveGroup(ctx, id)
	if err != nil {
		return policy.Group{}, fmt.Errorf("get group %s: %w", id, err)
	}
	return rec.group(), nil
}

// ListGroups lists every group, ordered by id.
func (s *Store) ListGroups(ctx context.Context) ([]policy.Group, error) {
	in, err := ddbkit.KeyQuery(tabledef.ByOwner, expression.Key(attrGSI1PK).Equal(expression.Value(groupsIndexPK)), nil)
	if err != nil {
		return nil, err
	}
	groups := []policy.Group{}
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var rec groupRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode group: %w", err)
		}
		if rec.live() {
			groups = append(groups, rec.group())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return groups, nil
}

// UpdateGroup changes a group's name, priority or description. A patch that changes nothing
// writes nothing and returns the group as it is.
func (s *Store) UpdateGroup(ctx context.Context, id string, p policy.GroupPatch, ifVersion int64, at time.Time) (policy.Group, error) {
	g, err := s.updateGroup(ctx, id, p, ifVersion, at)
	if err != nil {
		return policy.Group{}, fmt.Errorf("update group %s: %w", id, err)
	}
	return g, nil
}

func (s *Store) updateGroup(ctx context.Context, id string, p policy.GroupPatch, ifVersion int64, at time.Time) (policy.Group, error) {
	if p.Name != nil {
		if err := validateName("name", *p.Name); err != nil {
			return policy.Group{}, err
		}
	}
	if p.Priority != nil {
		if err := validatePriority(*p.Priority); err != nil {
			return policy.Group{}, err
		}
	}
	for attempt := 1; attempt <= maxRaceAttempts; attempt++ {
		rec, err := s.liveGroup(ctx, id)
		if err != nil {
			return policy.Group{}, err
		}
		if ifVersion != 0 && rec.Version != ifVersion {
			return policy.Group{}, errVersionMismatch(id, ifVersion, rec.Version)
		}
		next := rec
		if p.Name != nil {
			next.Name = *p.Name
		}
		if p.Priority != nil {
			next.Priority = *p.Priority
		}
		if p.Description != nil {
			next.Description = *p.Description
		}
		if next.Name == rec.Name && next.Priority == rec.Priority && next.Description == rec.Description {
			return rec.group(), nil
		}
		next.Version++
		next.UpdatedAt = at.UTC()
		upd := expression.Set(expression.Name(groupAttrName), expression.Value(next.Name)).
			Set(expression.Name(groupAttrPriority), expression.Value(next.Priority)).
			Set(expression.Name(groupAttrDescription), expression.Value(next.Description)).
			Set(expression.Name(groupAttrVersion), expression.Value(next.Version)).
			Set(expression.Name(groupAttrUpdatedAt), expression.Value(next.UpdatedAt))
		tx := s.newTx()
		tx.Update(groupKey(id), upd, groupAtVersion(rec.Version))
		renamed := groupNameKey(next.Name) != groupNameKey(rec.Name)
		if renamed {
			tx.Delete(groupNameKey(rec.Name), nameHeldBy(id))
			if k, ok := legacyNameKey(groupNamePKPrefix, groupNameSK, rec.Name, groupNameKey(next.Name)); ok {
				tx.Delete(k, nameHeldBy(id))
			}
			tx.Put(newNameRecord(groupNameKey(next.Name), id, next.Name), ddbkit.ItemAbsent())
		}
		if next.Priority != rec.Priority {
			tx.addResyncMarker(lifecycle.ResyncGroup, id, next.UpdatedAt)
		}
		err = s.transactWrite(ctx, tx)
		if err == nil {
			return next.group(), nil
		}
		if old, failed := ddbkit.ConditionFailedAt(err, 0); failed {
			if err := s.lostGroupRace(id, old, ifVersion); err != nil {
				return policy.Group{}, err
			}
			continue
		}
		if _, taken := ddbkit.ConditionFailedAt(err, 2); renamed && taken {
			return policy.Group{}, errGroupNameTaken(next.Name)
		}
		return policy.Group{}, ddbkit.StoreError(err)
	}
	return policy.Group{}, retryLater("group " + id)
}

// lostGroupRace explains a failed version condition from the group's old image: the group is
// gone, or the version the caller pinned is stale. It returns nil when the caller pinned no
// version and may read again and retry.
func (s *Store) lostGroupRace(id string, old map[string]ddbtypes.AttributeValue, ifVersion int64) error {
	var cur groupRecord
	found, err := ddbkit.DecodeOld(old, &cur)
	if err != nil {
		return err
	}
	if !found || !cur.live() {
		return errGroupNotFound(id)
	}
	if ifVersion != 0 {
		return errVersionMismatch(id, ifVersion, cur.Version)
	}
	return nil
}

// settingChange is one setting's change; empty Old or New means not set.
type settingChange struct {
	Name, Old, New string
}

// diffSettings returns the changes c makes to settings, ordered by setting name. Setting a
// value equal to the current one (up to JSON whitespace) and unsetting an unset setting are
// not changes.
func diffSettings(settings map[string]string, c policy.SettingsChange) []settingChange {
	var changes []settingChange
	for name, v := range c.Set {
		old, ok := settings[name]
		if ok && sameJSON(old, string(v)) {
			continue
		}
		changes = append(changes, settingChange{Name: name, Old: old, New: string(v)})
	}
	seen := map[string]bool{}
	for _, name := range c.Unset {
		old, ok := settings[name]
		if !ok || seen[name] {
			continue
		}
		seen[name] = true
		changes = append(changes, settingChange{Name: name, Old: old})
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Name < changes[j].Name })
	return changes
}

func validateSettingsChange(c policy.SettingsChange) error {
	if n := len(c.Set) + len(c.Unset); n > MaxSettingsPerChange {
		return policy.Errorf(policy.KindInvalid, policy.CodeTooManyChanges,
			"one change may set or unset at most %d settings, got %d", MaxSettingsPerChange, n)
	}
	for name, v := range c.Set {
		if err := validateSettingValue(name, v); err != nil {
			return err
		}
	}
	for _, name := range c.Unset {
		if !settingNamePattern.MatchString(name) {
			return policy.FieldErrorf(name, policy.CodeUnknownSetting, "%q is not a setting name", name)
		}
		if _, ok := c.Set[name]; ok {
			return policy.FieldErrorf(name, policy.CodeSetAndUnset, "%s is both set and unset", name)
		}
	}
	return nil
}

// ChangeSettings sets and unsets settings of a group in one transaction with one history item
// per setting changed (actor, time, old and new value). The old values are those of the
// version the write is conditioned on, so the history is exact. A change that changes nothing
// writes nothing and keeps the version.
func (s *Store) ChangeSettings(ctx context.Context, id string, c policy.SettingsChange, ifVersion int64, actor string, at time.Time) (policy.Group, error) {
	g, err := s.changeSettings(ctx, id, c, ifVersion, actor, at)
	if err != nil {
		return policy.Group{}, fmt.Errorf("change settings of group %s: %w", id, err)
	}
	return g, nil
}

func (s *Store) changeSettings(ctx context.Context, id string, c policy.SettingsChange, ifVersion int64, actor string, at time.Time) (policy.Group, error) {
	if err := validateSettingsChange(c); err != nil {
		return policy.Group{}, err
	}
	at = at.UTC()
	for attempt := 1; attempt <= maxRaceAttempts; attempt++ {
		rec, err := s.liveGroup(ctx, id)
		if err != nil {
			return policy.Group{}, err
		}
		if ifVersion != 0 && rec.Version != ifVersion {
			return policy.Group{}, errVersionMismatch(id, ifVersion, rec.Version)
		}
		changes := diffSettings(rec.Settings, c)
		if len(changes) == 0 {
			return rec.group(), nil
		}
		next := rec
		next.Settings = make(map[string]string, len(rec.Settings)+len(changes))
		for name, v := range rec.Settings {
			next.Settings[name] = v
		}
		next.Version++
		next.UpdatedAt = at
		upd := expression.Set(expression.Name(groupAttrVersion), expression.Value(next.Version)).
			Set(expression.Name(groupAttrUpdatedAt), expression.Value(at))
		for _, ch := range changes {
			if ch.New == "" {
				delete(next.Settings, ch.Name)
				upd = upd.Remove(settingPath(ch.Name))
			} else {
				next.Settings[ch.Name] = ch.New
				upd = upd.Set(settingPath(ch.Name), expression.Value(ch.New))
			}
		}
		tx := s.newTx()
		tx.Update(groupKey(id), upd, groupAtVersion(rec.Version))
		for i, ch := range changes {
			k := groupHistoryKey(id, next.Version, i)
			tx.Put(historyRecord{
				PK: k.PK, SK: k.SK, GroupID: id, Version: next.Version, At: at, Actor: actor,
				Setting: ch.Name, Old: ch.Old, New: ch.New,
			}, ddbkit.ItemAbsent())
		}
		tx.addResyncMarker(lifecycle.ResyncGroup, id, at)
		err = s.transactWrite(ctx, tx)
		if err == nil {
			return next.group(), nil
		}
		if old, failed := ddbkit.ConditionFailedAt(err, 0); failed {
			if err := s.lostGroupRace(id, old, ifVersion); err != nil {
				return policy.Group{}, err
			}
			continue
		}
		return policy.Group{}, ddbkit.StoreError(err)
	}
	return policy.Group{}, retryLater("group " + id)
}

// History lists a group's settings changes, newest first.
func (s *Store) History(ctx context.Context, groupID string) ([]policy.HistoryEntry, error) {
	entries, err := s.history(ctx, groupID)
	if err != nil {
		return nil, fmt.Errorf("history of group %s: %w", groupID, err)
	}
	return entries, nil
}

func (s *Store) history(ctx context.Context, groupID string) ([]policy.HistoryEntry, error) {
	if !policy.ValidID(groupID) {
		return nil, errGroupNotFound(groupID)
	}
	in, err := ddbkit.PrefixQuery(groupKey(groupID).PK, groupHistSKPrefix, nil)
	if err != nil {
		return nil, err
	}
	in.ScanIndexForward = aws.Bool(false)
	entries := []policy.HistoryEntry{}
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var rec historyRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode history: %w", err)
		}
		entries = append(entries, rec.entry())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		// An empty history needs the group's existence checked to tell "none yet" from 404.
		if _, err := s.liveGroup(ctx, groupID); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// DeleteGroup deletes a group, its memberships (on both sides), its name and its history.
// All Users cannot be deleted.
//
// This is not one transaction for a large group. The group is first marked deleting (under
// ifVersion), which hides it from reads and blocks new memberships and settings changes; then
// its memberships go in transactions of 33 that update both sides (and leave each member a
// re-sync marker); then its history; then the group and its name together. Each step is consistent on its own, and calling DeleteGroup
// again after a failure completes a deletion that was started (ifVersion is no longer checked).
func (s *Store) DeleteGroup(ctx context.Context, id string, ifVersion int64) error {
	if err := s.deleteGroup(ctx, id, ifVersion); err != nil {
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	return nil
}

func (s *Store) deleteGroup(ctx context.Context, id string, ifVersion int64) error {
	if id == policy.AllUsersGroupID {
		return policy.Errorf(policy.KindConflict, policy.CodeBuiltinGroup, "All Users cannot be deleted")
	}
	if err := s.markGroupDeleting(ctx, id, ifVersion); err != nil {
		return err
	}
	if err := s.removeAllMembers(ctx, id); err != nil {
		return err
	}
	if err := s.deleteGroupHistory(ctx, id); err != nil {
		return err
	}
	var rec groupRecord
	found, err := s.kt.GetRecord(ctx, groupKey(id), true, &rec)
	if err != nil || !found {
		return err // a concurrent DeleteGroup finished first
	}
	tx := s.newTx()
	tx.Delete(groupKey(id), expression.Name(groupAttrDeleting).AttributeExists())
	tx.Delete(groupNameKey(rec.Name), nameHeldBy(id))
	if k, ok := legacyNameKey(groupNamePKPrefix, groupNameSK, rec.Name); ok {
		tx.Delete(k, nameHeldBy(id))
	}
	err = s.transactWrite(ctx, tx)
	if old, failed := ddbkit.ConditionFailedAt(err, 0); failed && len(old) == 0 {
		return nil // a concurrent DeleteGroup finished first
	}
	return ddbkit.StoreError(err)
}

// deleteGroupHistory deletes every history item of a group marked deleting (no new ones can
// appear: settings changes need a live group).
func (s *Store) deleteGroupHistory(ctx context.Context, id string) error {
	return s.kt.DeleteUnderPrefix(ctx, groupKey(id).PK, groupHistSKPrefix)
}

// markGroupDeleting flags a live group as being deleted, under ifVersion. A group already
// flagged is left as it is, so that a retried deletion continues.
func (s *Store) markGroupDeleting(ctx context.Context, id string, ifVersion int64) error {
	if !policy.ValidID(id) {
		return errGroupNotFound(id)
	}
	for attempt := 1; attempt <= maxRaceAttempts; attempt++ {
		var rec groupRecord
		found, err := s.kt.GetRecord(ctx, groupKey(id), true, &rec)
		if err != nil {
			return err
		}
		if !found || rec.Version == 0 {
			return errGroupNotFound(id)
		}
		if rec.Deleting {
			return nil
		}
		if ifVersion != 0 && rec.Version != ifVersion {
			return errVersionMismatch(id, ifVersion, rec.Version)
		}
		tx := s.newTx()
		tx.Update(groupKey(id),
			expression.Set(expression.Name(groupAttrDeleting), expression.Value(true)).
				Set(expression.Name(groupAttrVersion), expression.Value(rec.Version+1)),
			groupAtVersion(rec.Version))
		err = s.transactWrite(ctx, tx)
		if err == nil {
			return nil
		}
		if old, failed := ddbkit.ConditionFailedAt(err, 0); failed {
			var cur groupRecord
			if found, err := ddbkit.DecodeOld(old, &cur); err != nil || (found && cur.Deleting) {
				return err
			}
			if err := s.lostGroupRace(id, old, ifVersion); err != nil {
				return err
			}
			continue
		}
		return ddbkit.StoreError(err)
	}
	return retryLater("group " + id)
}

// groupMembersPerTx is how many memberships one transaction removes when a group is deleted:
// three items each (the user's set, the membership, the user's re-sync marker).
const groupMembersPerTx = ddbkit.MaxTransactItems / 3

// removeAllMembers removes every membership of a group marked deleting, both directions.
func (s *Store) removeAllMembers(ctx context.Context, groupID string) error {
	goneUsers := map[string]bool{} // membership items whose user item no longer exists
	at := s.now()
	for pass := 1; pass <= maxRaceAttempts; pass++ {
		members, err := s.memberIDs(ctx, groupID, true)
		if err != nil {
			return err
		}
		clean := true
		for start := 0; start < len(members); start += groupMembersPerTx {
			chunk := members[start:min(start+groupMembersPerTx, len(members))]
			tx := s.newTx()
			userAt := map[int]string{} // transaction item index → user id
			for _, uid := range chunk {
				if !goneUsers[uid] {
					userAt[len(tx.Items)] = uid
					tx.Update(userKey(uid),
						expression.Delete(expression.Name(userAttrGroups), stringSet(groupID)),
						ddbkit.ItemExists())
					tx.addResyncMarker(lifecycle.ResyncUser, uid, at)
				}
				tx.Delete(groupMemberKey(groupID, uid), expression.ConditionBuilder{})
			}
			err := s.transactWrite(ctx, tx)
			if err == nil {
				continue
			}
			if _, ok := ddbkit.CancellationReasons(err); !ok {
				return ddbkit.StoreError(err)
			}
			clean = false
			for i, uid := range userAt {
				if old, failed := ddbkit.ConditionFailedAt(err, i); failed && len(old) == 0 {
					goneUsers[uid] = true
				}
			}
		}
		if clean {
			return nil
		}
	}
	return retryLater("the members of group " + groupID)
}

// memberIDs lists the ids of a group's explicit members, in id order.
func (s *Store) memberIDs(ctx context.Context, groupID string, consistent bool) ([]string, error) {
	in, err := ddbkit.PrefixQuery(groupKey(groupID).PK, groupMemberSKPrefix,
		ddbkit.Projection(memberAttrUserID))
	if err != nil {
		return nil, err
	}
	in.ConsistentRead = aws.Bool(consistent)
	var ids []string
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var m memberRecord
		if err := attributevalue.UnmarshalMap(item, &m); err != nil {
			return fmt.Errorf("decode membership: %w", err)
		}
		ids = append(ids, m.UserID)
		return nil
	})
	return ids, err
}

// stringSet is a DynamoDB string set value, for ADD and DELETE on a set attribute.
func stringSet(values ...string) expression.ValueBuilder {
	return expression.Value(&ddbtypes.AttributeValueMemberSS{Value: values})
}
