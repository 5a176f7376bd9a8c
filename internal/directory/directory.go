// Package directory is the directory service: groups, users, memberships, auto-add, user
// deletion and effective settings. It validates with policy's limits, decides, and writes
// through its Store (ddbstore implements it); it imports no AWS package.
package directory

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Store is the storage the directory service writes through (ddbstore.Store implements it).
type Store interface {
	CreateGroup(ctx context.Context, g policy.Group) (policy.Group, error)
	GetGroup(ctx context.Context, id string) (policy.Group, error)
	ListGroups(ctx context.Context) ([]policy.Group, error)
	UpdateGroup(ctx context.Context, id string, p policy.GroupPatch, ifVersion int64, at time.Time) (policy.Group, error)
	DeleteGroup(ctx context.Context, id string, ifVersion int64) error
	ChangeSettings(ctx context.Context, id string, c policy.SettingsChange, ifVersion int64, actor string, at time.Time) (policy.Group, error)
	History(ctx context.Context, groupID string) ([]policy.HistoryEntry, error)

	AddMember(ctx context.Context, groupID, userID string, at time.Time) error
	RemoveMember(ctx context.Context, groupID, userID string, at time.Time) error
	ListMembers(ctx context.Context, groupID string) ([]policy.User, error)

	CreateUser(ctx context.Context, u policy.User) (policy.User, error)
	GetUser(ctx context.Context, id string) (policy.User, error)
	ListUsers(ctx context.Context) ([]policy.User, error)
	DeleteUser(ctx context.Context, id string) error
	UserWithGroups(ctx context.Context, userID string) (policy.User, []policy.Group, error)
	GroupsOfUser(ctx context.Context, u policy.User) ([]policy.Group, error)
}

// VersionedMembers is a store whose membership writes can be conditioned on the group's
// version (ddbstore.Store): saving a previewed membership change with If-Match.
type VersionedMembers interface {
	AddMemberIfVersion(ctx context.Context, groupID, userID string, ifVersion int64, at time.Time) error
	RemoveMemberIfVersion(ctx context.Context, groupID, userID string, ifVersion int64, at time.Time) error
}

// Users reads a user with the groups they belong to (All Users included): what the session
// service reads of the directory. Service implements it.
type Users interface {
	UserWithGroups(ctx context.Context, userID string) (policy.User, []policy.Group, error)
}

// UsersAndGroups adds the read of the groups of a user read elsewhere (u.GroupIDs, All Users
// included): a session start reads the user item with the user's storage mappings, then this.
// Service implements it.
type UsersAndGroups interface {
	Users
	GroupsOfUser(ctx context.Context, u policy.User) ([]policy.Group, error)
}

var _ UsersAndGroups = (*Service)(nil)

// SessionEnder ends every session of a user (sessions.Service implements it).
type SessionEnder interface {
	EndSessionsOf(ctx context.Context, userID string) (int, error)
}

// Service owns the rules of groups, users and memberships.
type Service struct {
	store    Store
	clock    policy.Clock
	sessions SessionEnder
}

// New returns the directory service over store. clock nil means the system clock.
func New(store Store, clock policy.Clock) *Service {
	if clock == nil {
		clock = policy.SystemClock{}
	}
	return &Service{store: store, clock: clock}
}

// WithSessions returns the service with the session ender that DeleteUser uses; nil leaves
// sessions alone.
func (s *Service) WithSessions(e SessionEnder) *Service {
	c := *s
	c.sessions = e
	return &c
}

// Store returns the store the service writes through.
func (s *Service) Store() Store { return s.store }

func (s *Service) now() time.Time { return s.clock.Now().UTC() }

// NewGroup is what a new group is made of; a nil Priority is policy.DefaultGroupPriority.
type NewGroup struct {
	Name        string
	Priority    *int
	Description string
}

// CreateGroup validates and creates a group (name trimmed) with no settings.
func (s *Service) CreateGroup(ctx context.Context, in NewGroup) (policy.Group, error) {
	name, err := policy.ValidateGroupName(in.Name)
	if err != nil {
		return policy.Group{}, err
	}
	p := policy.GroupPatch{Priority: in.Priority, Description: &in.Description}
	if _, err := p.Validate(); err != nil {
		return policy.Group{}, err
	}
	now := s.now()
	g := policy.Group{
		ID:          policy.NewID("g"),
		Name:        name,
		Priority:    policy.DefaultGroupPriority,
		Description: in.Description,
		Settings:    map[string]json.RawMessage{},
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if in.Priority != nil {
		g.Priority = *in.Priority
	}
	return s.store.CreateGroup(ctx, g)
}

// GetGroup returns a group.
func (s *Service) GetGroup(ctx context.Context, id string) (policy.Group, error) {
	return s.store.GetGroup(ctx, id)
}

// ListGroups returns every group in priority order (ties by id), never nil.
func (s *Service) ListGroups(ctx context.Context) ([]policy.Group, error) {
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(groups, byPriority)
	if groups == nil {
		groups = []policy.Group{}
	}
	return groups, nil
}

func byPriority(a, b policy.Group) int {
	if a.Priority != b.Priority {
		return a.Priority - b.Priority
	}
	return strings.Compare(a.ID, b.ID)
}

// UpdateGroup validates a patch (at least one field) and applies it at ifVersion (0: any).
// It returns the group as it was before too (the zero Group when that read failed), for
// GroupWarnings.
func (s *Service) UpdateGroup(ctx context.Context, id string, p policy.GroupPatch, ifVersion int64) (after, before policy.Group, err error) {
	if p.Name == nil && p.Priority == nil && p.Description == nil {
		return policy.Group{}, policy.Group{}, policy.Errorf(policy.KindInvalid, policy.CodeEmptyPatch, "give at least one of name, priority, description")
	}
	if p, err = p.Validate(); err != nil {
		return policy.Group{}, policy.Group{}, err
	}
	// What the group was, for the advice on what changed (a failed read only drops it).
	before, _ = s.store.GetGroup(ctx, id)
	after, err = s.store.UpdateGroup(ctx, id, p, ifVersion, s.now())
	if err != nil {
		return policy.Group{}, policy.Group{}, err
	}
	if before.ID == "" {
		before = after
	}
	return after, before, nil
}

// DeleteGroup deletes a group at ifVersion (0: any); All Users cannot be deleted.
func (s *Service) DeleteGroup(ctx context.Context, id string, ifVersion int64) error {
	if id == policy.AllUsersGroupID {
		return policy.Errorf(policy.KindConflict, policy.CodeBuiltinGroup, "the All Users group cannot be deleted")
	}
	return s.store.DeleteGroup(ctx, id, ifVersion)
}

// ChangeSettings writes an already validated settings change at ifVersion (0: any).
func (s *Service) ChangeSettings(ctx context.Context, id string, c policy.SettingsChange, ifVersion int64, actor string) (policy.Group, error) {
	return s.store.ChangeSettings(ctx, id, c, ifVersion, actor, s.now())
}

// UnsetSetting removes one setting of a group. A setting the group does not set is not there
// to delete: not found, and no new version; when ifVersion names another version the store
// answers a precondition failure as for any stale write.
func (s *Service) UnsetSetting(ctx context.Context, id, name string, ifVersion int64, actor string) (policy.Group, error) {
	g, err := s.store.GetGroup(ctx, id)
	if err != nil {
		return policy.Group{}, err
	}
	if _, set := g.Settings[name]; !set && (ifVersion == 0 || ifVersion == g.Version) {
		return policy.Group{}, policy.Errorf(policy.KindNotFound, policy.CodeSettingNotSet, "group %s does not set %s: there is nothing to delete", id, name)
	}
	return s.ChangeSettings(ctx, id, policy.SettingsChange{Unset: []string{name}}, ifVersion, actor)
}

// History returns a group's settings history.
func (s *Service) History(ctx context.Context, groupID string) ([]policy.HistoryEntry, error) {
	return s.store.History(ctx, groupID)
}

// ListMembers returns a group's members in username order, All Users first in their groups.
func (s *Service) ListMembers(ctx context.Context, groupID string) ([]policy.User, error) {
	members, err := s.store.ListMembers(ctx, groupID)
	if err != nil {
		return nil, err
	}
	return Views(members), nil
}

// MembershipsVersioned reports whether membership writes can be conditioned on the group's
// version (If-Match).
func (s *Service) MembershipsVersioned() bool {
	_, ok := s.store.(VersionedMembers)
	return ok
}

// AddMember makes the user a member of the group; ifVersion (0: any) conditions the write on
// the group's version. Adding to All Users changes nothing but still fails for an unknown user.
func (s *Service) AddMember(ctx context.Context, groupID, userID string, ifVersion int64) error {
	if ifVersion != 0 {
		if vm, ok := s.store.(VersionedMembers); ok {
			return vm.AddMemberIfVersion(ctx, groupID, userID, ifVersion, s.now())
		}
	}
	return s.store.AddMember(ctx, groupID, userID, s.now())
}

// RemoveMember ends the user's membership of the group; the membership of All Users cannot
// end.
func (s *Service) RemoveMember(ctx context.Context, groupID, userID string, ifVersion int64) error {
	if groupID == policy.AllUsersGroupID {
		return policy.Errorf(policy.KindConflict, policy.CodeAllUsersMembership, "every user is a member of All Users; that membership cannot be removed")
	}
	if ifVersion != 0 {
		if vm, ok := s.store.(VersionedMembers); ok {
			return vm.RemoveMemberIfVersion(ctx, groupID, userID, ifVersion, s.now())
		}
	}
	return s.store.RemoveMember(ctx, groupID, userID, s.now())
}

// AutoAddGroups lists the groups whose auto_add_local_users is true (All Users aside): a new
// user joins them in the same write that creates the user.
func (s *Service) AutoAddGroups(ctx context.Context) ([]string, error) {
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, g := range groups {
		var on bool
		if raw, ok := g.Settings[settings.NameAutoAddLocalUsers]; ok && json.Unmarshal(raw, &on) == nil && on && g.ID != policy.AllUsersGroupID {
			ids = append(ids, g.ID)
		}
	}
	return ids, nil
}

// CreateUser creates a user with the given username and profile, a member of the auto-add
// groups. The username is checked by policy.ValidateUsername; callers with a stricter rule
// (POST /v1/users: policy.ValidateLocalUsername) check it first.
func (s *Service) CreateUser(ctx context.Context, username string, profile policy.UserProfile) (policy.User, error) {
	if err := policy.ValidateUsername(username); err != nil {
		return policy.User{}, err
	}
	groups, err := s.AutoAddGroups(ctx)
	if err != nil {
		return policy.User{}, err
	}
	return s.store.CreateUser(ctx, policy.User{
		ID:        policy.NewID("u"),
		Username:  username,
		GroupIDs:  groups,
		CreatedAt: s.now(),
		Profile:   profile,
	})
}

// CreateSignInUser creates the user of a person signing in through an identity provider for
// the first time: not a local user, so auto_add_local_users does not apply (as in Kasm); the
// IdP's group mappings give the memberships.
func (s *Service) CreateSignInUser(ctx context.Context, username string) (policy.User, error) {
	if err := policy.ValidateUsername(username); err != nil {
		return policy.User{}, err
	}
	return s.store.CreateUser(ctx, policy.User{ID: policy.NewID("u"), Username: username, CreatedAt: s.now()})
}

// GetUser returns a user as the API shows it (View).
func (s *Service) GetUser(ctx context.Context, id string) (policy.User, error) {
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return policy.User{}, err
	}
	return View(u), nil
}

// ListUsers returns every user (View) in username order.
func (s *Service) ListUsers(ctx context.Context) ([]policy.User, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	return Views(users), nil
}

// DeleteUser deletes the user (memberships, keys, storage mappings), then ends their
// sessions: once the user is marked deleting no session of theirs can start. A retry after a
// deletion whose sessions could not all be ended ends the rest and succeeds; for a user that
// neither exists nor has sessions left it is not found. forget, when not nil, runs once the
// user is gone or was not there (the caller's key cache).
func (s *Service) DeleteUser(ctx context.Context, id string, forget func()) error {
	err := s.store.DeleteUser(ctx, id)
	if err != nil && !policy.IsKind(err, policy.KindNotFound) {
		return err
	}
	if forget != nil {
		forget()
	}
	ended := 0
	if s.sessions != nil && policy.ValidID(id) {
		n, endErr := s.sessions.EndSessionsOf(ctx, id)
		if endErr != nil {
			return endErr
		}
		ended = n
	}
	if err != nil && ended == 0 {
		return err
	}
	return nil
}

// Effective is a user's effective settings: the user, their groups (All Users included) and
// the resolution over them.
type Effective struct {
	User       policy.User
	Groups     []policy.Group
	Resolution settings.Resolution
}

// UserWithGroups returns the user and every group they belong to (All Users included).
func (s *Service) UserWithGroups(ctx context.Context, userID string) (policy.User, []policy.Group, error) {
	return s.store.UserWithGroups(ctx, userID)
}

// GroupsOfUser returns every group of a user already read (All Users included), by priority.
func (s *Service) GroupsOfUser(ctx context.Context, u policy.User) ([]policy.Group, error) {
	return s.store.GroupsOfUser(ctx, u)
}

// EffectiveSettings resolves the user's settings from their groups (settings.ResolveGroups).
func (s *Service) EffectiveSettings(ctx context.Context, userID string) (Effective, error) {
	u, groups, err := s.UserWithGroups(ctx, userID)
	if err != nil {
		return Effective{}, err
	}
	return Effective{User: u, Groups: groups, Resolution: settings.ResolveGroups(groups)}, nil
}

// View is a user as the API shows it: groups always lists All Users first, then the explicit
// memberships in order.
func View(u policy.User) policy.User {
	groups := make([]string, 0, len(u.GroupIDs)+1)
	groups = append(groups, policy.AllUsersGroupID)
	for _, id := range u.GroupIDs {
		if id != policy.AllUsersGroupID {
			groups = append(groups, id)
		}
	}
	slices.Sort(groups[1:])
	u.GroupIDs = slices.Compact(groups)
	return u
}

// Views is View of each user, in username order (ties by id).
func Views(us []policy.User) []policy.User {
	out := make([]policy.User, 0, len(us))
	for _, u := range us {
		out = append(out, View(u))
	}
	slices.SortFunc(out, func(a, b policy.User) int {
		if c := strings.Compare(a.Username, b.Username); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}
