package ddbstore

import (
	"bytes"
	"encoding/json"
	"sort"
	"time"

	"wspolicy/internal/policy"
)

// groupRecord is a group item. A group exists when its item has a version: CreateUser and
// DeleteUser keep All Users' member_count with a bare ADD, which may create a stub item
// holding only the count before EnsureAllUsers has run. A group marked deleting is invisible
// to everything but DeleteGroup, which finishes the deletion.
type groupRecord struct {
	PK          string            `dynamodbav:"PK"`
	SK          string            `dynamodbav:"SK"`
	GSI1PK      string            `dynamodbav:"GSI1PK,omitempty"`
	GSI1SK      string            `dynamodbav:"GSI1SK,omitempty"`
	ID          string            `dynamodbav:"group_id"`
	Name        string            `dynamodbav:"name"`
	Priority    int               `dynamodbav:"priority"`
	Description string            `dynamodbav:"description"`
	Version     int64             `dynamodbav:"version"`
	Settings    map[string]string `dynamodbav:"settings"` // setting name → JSON text
	MemberCount int               `dynamodbav:"member_count"`
	Deleting    bool              `dynamodbav:"deleting,omitempty"`
	CreatedAt   time.Time         `dynamodbav:"created_at"`
	UpdatedAt   time.Time         `dynamodbav:"updated_at"`
}

// Group attribute names used in expressions.
const (
	groupAttrName        = "name"
	groupAttrPriority    = "priority"
	groupAttrDescription = "description"
	groupAttrVersion     = "version"
	groupAttrSettings    = "settings"
	groupAttrMemberCount = "member_count"
	groupAttrDeleting    = "deleting"
	groupAttrCreatedAt   = "created_at"
	groupAttrUpdatedAt   = "updated_at"
	groupAttrID          = "group_id"
)

func (r groupRecord) live() bool { return r.Version > 0 && !r.Deleting }

func (r groupRecord) group() policy.Group {
	settings := make(map[string]json.RawMessage, len(r.Settings))
	for name, v := range r.Settings {
		settings[name] = json.RawMessage(v)
	}
	return policy.Group{
		ID:          r.ID,
		Name:        r.Name,
		Priority:    r.Priority,
		Description: r.Description,
		Settings:    settings,
		Version:     r.Version,
		MemberCount: r.MemberCount,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
	}
}

func newGroupRecord(g policy.Group) groupRecord {
	k := groupKey(g.ID)
	settings := make(map[string]string, len(g.Settings))
	for name, v := range g.Settings {
		settings[name] = string(v)
	}
	return groupRecord{
		PK: k.PK, SK: k.SK, GSI1PK: groupsIndexPK, GSI1SK: g.ID,
		ID: g.ID, Name: g.Name, Priority: g.Priority, Description: g.Description,
		Version: g.Version, Settings: settings, MemberCount: g.MemberCount,
		CreatedAt: g.CreatedAt.UTC(), UpdatedAt: g.UpdatedAt.UTC(),
	}
}

// sameJSON reports whether two JSON texts are equal up to insignificant whitespace.
func sameJSON(a, b string) bool {
	if a == b {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, []byte(a)) != nil || json.Compact(&cb, []byte(b)) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// nameRecord reserves a normalised group name or username for the id that holds it.
type nameRecord struct {
	PK      string `dynamodbav:"PK"`
	SK      string `dynamodbav:"SK"`
	OwnerID string `dynamodbav:"owner_id"`
	Name    string `dynamodbav:"name"`
}

const nameAttrOwnerID = "owner_id"

func newNameRecord(k tableKey, ownerID, name string) nameRecord {
	return nameRecord{PK: k.PK, SK: k.SK, OwnerID: ownerID, Name: name}
}

// userRecord is a user item. It is Put only when the user is created; every later write is an
// UpdateItem, so attributes other packages keep on it (active_sessions) survive.
type userRecord struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	GSI1PK    string    `dynamodbav:"GSI1PK,omitempty"`
	GSI1SK    string    `dynamodbav:"GSI1SK,omitempty"`
	ID        string    `dynamodbav:"user_id"`
	Username  string    `dynamodbav:"username"`
	Groups    []string  `dynamodbav:"groups,stringset,omitempty"` // explicit memberships, never All Users
	Deleting  bool      `dynamodbav:"deleting,omitempty"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	// Profile is the Kasm profile and attributes (absent when empty; not in any index).
	Profile *profileRecord `dynamodbav:"profile,omitempty"`
}

// profileRecord is a user's policy.UserProfile; Attributes is a JSON object as text.
type profileRecord struct {
	FirstName    string `dynamodbav:"first_name,omitempty"`
	LastName     string `dynamodbav:"last_name,omitempty"`
	Phone        string `dynamodbav:"phone,omitempty"`
	Organization string `dynamodbav:"organization,omitempty"`
	Notes        string `dynamodbav:"notes,omitempty"`
	DefaultImage string `dynamodbav:"default_image,omitempty"`
	Attributes   string `dynamodbav:"attributes,omitempty"`
}

// newProfileRecord is p as stored; nil when p is empty.
func newProfileRecord(p policy.UserProfile) *profileRecord {
	r := profileRecord{FirstName: p.FirstName, LastName: p.LastName, Phone: p.Phone,
		Organization: p.Organization, Notes: p.Notes, DefaultImage: p.DefaultImage}
	if len(p.Attributes) > 0 {
		b, _ := json.Marshal(p.Attributes)
		r.Attributes = string(b)
	}
	if r == (profileRecord{}) {
		return nil
	}
	return &r
}

// profile is the domain profile of r (empty for nil).
func (r *profileRecord) profile() policy.UserProfile {
	if r == nil {
		return policy.UserProfile{}
	}
	p := policy.UserProfile{FirstName: r.FirstName, LastName: r.LastName, Phone: r.Phone,
		Organization: r.Organization, Notes: r.Notes, DefaultImage: r.DefaultImage}
	if r.Attributes != "" {
		_ = json.Unmarshal([]byte(r.Attributes), &p.Attributes)
	}
	return p
}

// User attribute names used in expressions.
const (
	userAttrGroups   = "groups"
	userAttrDeleting = "deleting"
	userAttrUsername = "username"
	userAttrProfile  = "profile"
)

func (r userRecord) live() bool { return r.ID != "" && !r.Deleting }

// user returns the domain user; All Users comes first, then the explicit groups by id.
func (r userRecord) user() policy.User {
	groups := make([]string, 0, len(r.Groups)+1)
	groups = append(groups, policy.AllUsersGroupID)
	explicit := append([]string(nil), r.Groups...)
	sort.Strings(explicit)
	for _, g := range explicit {
		if g != policy.AllUsersGroupID {
			groups = append(groups, g)
		}
	}
	return policy.User{ID: r.ID, Username: r.Username, GroupIDs: groups, CreatedAt: r.CreatedAt, Profile: r.Profile.profile()}
}

func (r userRecord) hasGroup(groupID string) bool {
	for _, g := range r.Groups {
		if g == groupID {
			return true
		}
	}
	return false
}

// memberRecord is one explicit membership, kept under the group; the user item's groups set is
// the other direction, written in the same transaction.
type memberRecord struct {
	PK      string    `dynamodbav:"PK"`
	SK      string    `dynamodbav:"SK"`
	GroupID string    `dynamodbav:"group_id"`
	UserID  string    `dynamodbav:"user_id"`
	AddedAt time.Time `dynamodbav:"added_at"`
}

const memberAttrUserID = "user_id"

func newMemberRecord(groupID, userID string, at time.Time) memberRecord {
	k := groupMemberKey(groupID, userID)
	return memberRecord{PK: k.PK, SK: k.SK, GroupID: groupID, UserID: userID, AddedAt: at.UTC()}
}

// historyRecord is one settings change of a group. Old and New hold JSON text; empty means the
// setting was not set.
type historyRecord struct {
	PK      string    `dynamodbav:"PK"`
	SK      string    `dynamodbav:"SK"`
	GroupID string    `dynamodbav:"group_id"`
	Version int64     `dynamodbav:"version"`
	At      time.Time `dynamodbav:"at"`
	Actor   string    `dynamodbav:"actor"`
	Setting string    `dynamodbav:"setting"`
	Old     string    `dynamodbav:"old,omitempty"`
	New     string    `dynamodbav:"new,omitempty"`
}

func (r historyRecord) entry() policy.HistoryEntry {
	return policy.HistoryEntry{
		GroupID: r.GroupID, At: r.At, Actor: r.Actor, Setting: r.Setting,
		Old: rawOrNil(r.Old), New: rawOrNil(r.New),
	}
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// apiKeyRecord is written twice per key: under KEY#<hash> for authentication and under the
// user for listing and revocation.
type apiKeyRecord struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	KeyID     string    `dynamodbav:"key_id"`
	UserID    string    `dynamodbav:"user_id"`
	Role      string    `dynamodbav:"role"`
	Name      string    `dynamodbav:"name,omitempty"`
	Hash      string    `dynamodbav:"hash"`
	CreatedAt time.Time `dynamodbav:"created_at"`
}

func newAPIKeyRecord(k tableKey, key policy.APIKey) apiKeyRecord {
	return apiKeyRecord{
		PK: k.PK, SK: k.SK, KeyID: key.ID, UserID: key.UserID, Role: string(key.Role), Name: key.Name,
		Hash: key.Hash, CreatedAt: key.CreatedAt.UTC(),
	}
}

func (r apiKeyRecord) apiKey() policy.APIKey {
	return policy.APIKey{ID: r.KeyID, UserID: r.UserID, Role: policy.Role(r.Role), Name: r.Name, Hash: r.Hash, CreatedAt: r.CreatedAt}
}
