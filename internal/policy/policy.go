package policy

import (
	"context"
	"encoding/json"
	"time"
)

// AllUsersGroupID is the id of the built-in All Users group every user belongs to.
const AllUsersGroupID = "all-users"

// AllUsersGroupName is the name of the built-in group.
const AllUsersGroupName = "All Users"

// AllUsersPriority is the priority the built-in group is created with.
const AllUsersPriority = 1000

// DefaultGroupPriority is the priority of a new group when none is given.
const DefaultGroupPriority = 4095

// MaxGroupsPerUser bounds a user's memberships so that effective settings stay one batch read.
const MaxGroupsPerUser = 99

// Group is a named, prioritised set of settings. Settings values are kept as the JSON the
// administrator sent (already validated against the catalog).
type Group struct {
	ID          string                     `json:"group_id"`
	Name        string                     `json:"name"`
	Priority    int                        `json:"priority"`
	Description string                     `json:"description"`
	Settings    map[string]json.RawMessage `json:"-"`
	Version     int64                      `json:"version"`
	MemberCount int                        `json:"member_count"`
	CreatedAt   time.Time                  `json:"created_at"`
	UpdatedAt   time.Time                  `json:"updated_at"`
}

// GroupPatch changes a group's name, priority or description; nil fields are left alone.
type GroupPatch struct {
	Name        *string
	Priority    *int
	Description *string
}

// User is a person who starts sessions. GroupIDs lists explicit memberships; All Users is
// always included.
type User struct {
	ID        string    `json:"user_id"`
	Username  string    `json:"username"`
	GroupIDs  []string  `json:"groups"`
	CreatedAt time.Time `json:"created_at"`
	// Profile is what the Kasm Developer API keeps on a user; the /v1 views leave it out.
	Profile UserProfile `json:"-"`
}

// UserProfile is what Kasm's Developer API keeps on a user besides the name and groups: the
// profile fields of create_user and update_user and the attributes of get_attributes. An
// empty string is unset.
type UserProfile struct {
	FirstName    string
	LastName     string
	Phone        string
	Organization string
	Notes        string
	// DefaultImage is the workspace a start without image_id launches; it wins over the
	// groups' default_image.
	DefaultImage string
	// Attributes are Kasm's other user attributes (theme, show_tips, …) as JSON values.
	Attributes map[string]json.RawMessage
}

// UserUpdate changes a user: nil fields stay as they are; Profile replaces the whole profile.
type UserUpdate struct {
	Username *string
	Profile  *UserProfile
}

// HistoryEntry records one settings change of a group. Old or New is nil when the setting was
// unset before or after.
type HistoryEntry struct {
	GroupID string          `json:"group_id"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Setting string          `json:"setting"`
	Old     json.RawMessage `json:"old_value"`
	New     json.RawMessage `json:"new_value"`
}

// Role is what a key may do.
type Role string

// The roles of API keys.
const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// APIKey is an issued key. Only the hash of the secret is stored.
type APIKey struct {
	ID        string    `json:"key_id"`
	UserID    string    `json:"user_id"`
	Role      Role      `json:"role"`
	Name      string    `json:"name,omitempty"` // a label chosen at issue ("laptop"); optional
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// SettingsChange is an all-or-nothing edit of a group's settings.
type SettingsChange struct {
	Set   map[string]json.RawMessage
	Unset []string
}

// Directory stores groups, users, memberships, keys and settings history.
// ifVersion 0 means "any version"; a mismatch is KindPrecondition and writes nothing.
type Directory interface {
	CreateGroup(ctx context.Context, g Group) (Group, error)
	GetGroup(ctx context.Context, id string) (Group, error)
	ListGroups(ctx context.Context) ([]Group, error)
	UpdateGroup(ctx context.Context, id string, p GroupPatch, ifVersion int64, at time.Time) (Group, error)
	DeleteGroup(ctx context.Context, id string, ifVersion int64) error
	ChangeSettings(ctx context.Context, id string, c SettingsChange, ifVersion int64, actor string, at time.Time) (Group, error)
	History(ctx context.Context, groupID string) ([]HistoryEntry, error)

	AddMember(ctx context.Context, groupID, userID string, at time.Time) error
	RemoveMember(ctx context.Context, groupID, userID string, at time.Time) error
	ListMembers(ctx context.Context, groupID string) ([]User, error)

	CreateUser(ctx context.Context, u User) (User, error)
	GetUser(ctx context.Context, id string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	DeleteUser(ctx context.Context, id string) error
	// UserWithGroups returns the user and every group they belong to (All Users included)
	// in at most two database round trips.
	UserWithGroups(ctx context.Context, userID string) (User, []Group, error)
	// GroupsOfUser returns the groups of a user already read (u.GroupIDs, All Users included)
	// in one round trip, ordered as UserWithGroups orders them.
	GroupsOfUser(ctx context.Context, u User) ([]Group, error)

	PutKey(ctx context.Context, k APIKey) error
	KeyByHash(ctx context.Context, hash string) (APIKey, error)
	ListKeys(ctx context.Context, userID string) ([]APIKey, error)
	RevokeKey(ctx context.Context, userID, keyID string) error
}
