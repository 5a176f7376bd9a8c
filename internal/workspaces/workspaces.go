// Package workspaces is the registry of Workspaces (Kasm's name for launchable images): what
// an administrator registers, which groups may launch each one, and the rules a session start
// applies with them. It knows no AWS type; storage is behind Store.
package workspaces

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Bounds of a workspace's fields.
const (
	MaxImageIDLength     = 256
	MaxFriendlyName      = 256
	MaxDescription       = 4096
	MaxCategories        = 32
	MaxCategoryLength    = 64
	MaxProfilePathLength = 1024
	MaxCores             = 1024
	MaxMemoryBytes       = 1 << 50
	// MaxSessionTimeLimit is the largest session_time_limit (seconds), as the catalog's.
	MaxSessionTimeLimit = 100 * 365 * 24 * 3600
)

// Workspace is a registered launchable image. WorkspaceID is what a session's image_id, a
// user's default_image and the /go flow name; ImageID is the container image it runs.
type Workspace struct {
	WorkspaceID           string          `json:"workspace_id"`
	ImageID               string          `json:"image_id"`
	FriendlyName          string          `json:"friendly_name"`
	Description           string          `json:"description"`
	Enabled               bool            `json:"enabled"`
	Container             bool            `json:"container"`
	Categories            []string        `json:"categories"`
	Cores                 float64         `json:"cores"`
	Memory                int64           `json:"memory"`
	SessionTimeLimit      int64           `json:"session_time_limit"`
	RunConfig             json.RawMessage `json:"run_config"`
	WebFilterPolicy       string          `json:"web_filter_policy"`
	PersistentProfilePath string          `json:"persistent_profile_path"`
	// Groups are the ids of the groups allowed to launch it.
	Groups    []string  `json:"groups"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store keeps workspaces; ddbstore.Store implements it.
type Store interface {
	// CreateWorkspace stores a new workspace (409 workspace_exists when the id is taken) and
	// marks the registry in use.
	CreateWorkspace(ctx context.Context, w Workspace) error
	// GetWorkspace reads one (404 workspace_not_found).
	GetWorkspace(ctx context.Context, id string) (Workspace, error)
	// ListWorkspaces lists every workspace.
	ListWorkspaces(ctx context.Context) ([]Workspace, error)
	// PutWorkspace replaces a workspace at version ifVersion (412 on a mismatch, 404 when gone).
	PutWorkspace(ctx context.Context, w Workspace, ifVersion int64) error
	// DeleteWorkspace deletes one (404 when absent).
	DeleteWorkspace(ctx context.Context, id string) error
	// SetWorkspaceGroup allows (allow true) or disallows a group to launch a workspace; the
	// group must exist to be allowed.
	SetWorkspaceGroup(ctx context.Context, workspaceID, groupID string, allow bool, at time.Time) (Workspace, error)
	// WorkspaceForStart reads a workspace and whether the registry is in use (any workspace
	// was ever registered) in one round trip; found is false when the workspace is absent.
	WorkspaceForStart(ctx context.Context, id string) (w Workspace, found, registryInUse bool, err error)
}

// ErrNotFound is the error of an unknown workspace.
func ErrNotFound(id string) error {
	return policy.Errorf(policy.KindNotFound, policy.CodeWorkspaceNotFound, "workspace %s not found", id)
}

// Fields is a create or update body: nil fields are left alone on update, defaulted on create.
type Fields struct {
	WorkspaceID           *string          `json:"workspace_id"`
	ImageID               *string          `json:"image_id"`
	FriendlyName          *string          `json:"friendly_name"`
	Description           *string          `json:"description"`
	Enabled               *bool            `json:"enabled"`
	Container             *bool            `json:"container"`
	Categories            *[]string        `json:"categories"`
	Cores                 *float64         `json:"cores"`
	Memory                *int64           `json:"memory"`
	SessionTimeLimit      *int64           `json:"session_time_limit"`
	RunConfig             *json.RawMessage `json:"run_config"`
	WebFilterPolicy       *string          `json:"web_filter_policy"`
	PersistentProfilePath *string          `json:"persistent_profile_path"`
}

// Service is the registry's logic over a Store.
type Service struct {
	store Store
	clock policy.Clock
}

// New returns a Service; a nil clock is the system clock.
func New(store Store, clock policy.Clock) *Service {
	if clock == nil {
		clock = policy.SystemClock{}
	}
	return &Service{store: store, clock: clock}
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// apply copies the set fields of f onto w and checks the result.
func apply(w *Workspace, f Fields) error {
	if f.ImageID != nil {
		w.ImageID = *f.ImageID
	}
	if f.FriendlyName != nil {
		w.FriendlyName = *f.FriendlyName
	}
	if f.Description != nil {
		w.Description = *f.Description
	}
	if f.Enabled != nil {
		w.Enabled = *f.Enabled
	}
	if f.Container != nil {
		w.Container = *f.Container
	}
	if f.Categories != nil {
		w.Categories = slices.Clone(*f.Categories)
	}
	if f.Cores != nil {
		w.Cores = *f.Cores
	}
	if f.Memory != nil {
		w.Memory = *f.Memory
	}
	if f.SessionTimeLimit != nil {
		w.SessionTimeLimit = *f.SessionTimeLimit
	}
	if f.RunConfig != nil {
		w.RunConfig = *f.RunConfig
	}
	if f.WebFilterPolicy != nil {
		w.WebFilterPolicy = *f.WebFilterPolicy
	}
	if f.PersistentProfilePath != nil {
		w.PersistentProfilePath = *f.PersistentProfilePath
	}
	return check(w)
}

func check(w *Workspace) error {
	switch {
	case w.ImageID == "" || len(w.ImageID) > MaxImageIDLength || strings.TrimSpace(w.ImageID) != w.ImageID || !printable(w.ImageID):
		return policy.FieldErrorf("image_id", policy.CodeInvalidImageID, "image_id must be 1 to %d printable characters without surrounding spaces (a container image such as kasmweb/chrome:1.16)", MaxImageIDLength)
	case len(w.FriendlyName) > MaxFriendlyName || !printable(w.FriendlyName):
		return policy.FieldErrorf("friendly_name", policy.CodeInvalidFriendlyName, "friendly_name must be at most %d printable characters", MaxFriendlyName)
	case len(w.Description) > MaxDescription:
		return policy.FieldErrorf("description", policy.CodeInvalidDescription, "description must be at most %d bytes", MaxDescription)
	case len(w.Categories) > MaxCategories:
		return policy.FieldErrorf("categories", policy.CodeInvalidCategories, "categories holds at most %d names", MaxCategories)
	case w.Cores < 0 || w.Cores > MaxCores:
		return policy.FieldErrorf("cores", policy.CodeInvalidCores, "cores must be between 0 and %d", MaxCores)
	case w.Memory < 0 || w.Memory > MaxMemoryBytes:
		return policy.FieldErrorf("memory", policy.CodeInvalidMemory, "memory must be a number of bytes between 0 and %d", int64(MaxMemoryBytes))
	case w.SessionTimeLimit < 0 || w.SessionTimeLimit > MaxSessionTimeLimit:
		return policy.FieldErrorf("session_time_limit", policy.CodeInvalidSessionTimeLimit, "session_time_limit must be seconds between 0 (none) and %d", MaxSessionTimeLimit)
	case len(w.PersistentProfilePath) > MaxProfilePathLength || !printable(w.PersistentProfilePath):
		return policy.FieldErrorf("persistent_profile_path", policy.CodeInvalidPersistentProfilePath, "persistent_profile_path must be at most %d printable characters", MaxProfilePathLength)
	}
	for _, c := range w.Categories {
		if c == "" || len(c) > MaxCategoryLength || !printable(c) {
			return policy.FieldErrorf("categories", policy.CodeInvalidCategories, "each category must be 1 to %d printable characters", MaxCategoryLength)
		}
	}
	if w.FriendlyName == "" {
		w.FriendlyName = w.ImageID
	}
	if w.Categories == nil {
		w.Categories = []string{}
	}
	if w.Groups == nil {
		w.Groups = []string{}
	}
	if len(w.RunConfig) == 0 || string(w.RunConfig) == "null" {
		w.RunConfig = json.RawMessage(`{}`)
	} else {
		v, err := settings.Validate("run_config", w.RunConfig)
		if err != nil {
			return policy.FieldErrorf("run_config", policy.CodeInvalidRunConfig, "%s", strings.TrimPrefix(err.Error(), "run_config: "))
		}
		w.RunConfig = v
	}
	if w.WebFilterPolicy != "" {
		if _, err := settings.Validate("web_filter_policy", mustJSON(w.WebFilterPolicy)); err != nil {
			return policy.FieldErrorf("web_filter_policy", policy.CodeInvalidWebFilterPolicy, "web_filter_policy must be a policy id: %v", err)
		}
	}
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Create registers a workspace. image_id is required; workspace_id may be chosen (a valid id)
// or is generated; enabled defaults to true, container to true.
func (s *Service) Create(ctx context.Context, f Fields) (Workspace, error) {
	now := s.clock.Now().UTC()
	w := Workspace{Enabled: true, Container: true, Version: 1, CreatedAt: now, UpdatedAt: now}
	if f.WorkspaceID != nil {
		if !policy.ValidID(*f.WorkspaceID) {
			return Workspace{}, policy.FieldErrorf("workspace_id", policy.CodeInvalidID, "workspace_id must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
		}
		w.WorkspaceID = *f.WorkspaceID
	} else {
		w.WorkspaceID = policy.NewID("w")
	}
	if f.ImageID == nil {
		return Workspace{}, policy.FieldErrorf("image_id", policy.CodeInvalidImageID, "image_id is required")
	}
	if err := apply(&w, f); err != nil {
		return Workspace{}, err
	}
	if err := s.store.CreateWorkspace(ctx, w); err != nil {
		return Workspace{}, err
	}
	return w, nil
}

// Get reads a workspace.
func (s *Service) Get(ctx context.Context, id string) (Workspace, error) {
	if !policy.ValidID(id) {
		return Workspace{}, ErrNotFound(id)
	}
	return s.store.GetWorkspace(ctx, id)
}

// List lists every workspace by friendly name, then id.
func (s *Service) List(ctx context.Context) ([]Workspace, error) {
	ws, err := s.store.ListWorkspaces(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ws, func(a, b Workspace) int {
		if c := strings.Compare(strings.ToLower(a.FriendlyName), strings.ToLower(b.FriendlyName)); c != 0 {
			return c
		}
		return strings.Compare(a.WorkspaceID, b.WorkspaceID)
	})
	return ws, nil
}

// Update changes the set fields of a workspace (workspace_id cannot change). ifVersion 0
// means any version.
func (s *Service) Update(ctx context.Context, id string, f Fields, ifVersion int64) (Workspace, error) {
	if f.WorkspaceID != nil && *f.WorkspaceID != id {
		return Workspace{}, policy.FieldErrorf("workspace_id", policy.CodeImmutableField, "workspace_id cannot change")
	}
	for attempt := 0; attempt < 5; attempt++ {
		w, err := s.Get(ctx, id)
		if err != nil {
			return Workspace{}, err
		}
		if ifVersion != 0 && w.Version != ifVersion {
			return Workspace{}, policy.Errorf(policy.KindPrecondition, policy.CodeVersionMismatch, "workspace %s is at version %d, not %d", id, w.Version, ifVersion)
		}
		read := w.Version
		if err := apply(&w, f); err != nil {
			return Workspace{}, err
		}
		w.Version++
		w.UpdatedAt = s.clock.Now().UTC()
		err = s.store.PutWorkspace(ctx, w, read)
		if err == nil {
			return w, nil
		}
		if !policy.IsKind(err, policy.KindPrecondition) || ifVersion != 0 {
			return Workspace{}, err
		}
	}
	return Workspace{}, policy.Errorf(policy.KindUnavailable, policy.CodeRetryLater, "workspace %s kept changing concurrently, retry later", id)
}

// Delete deletes a workspace; sessions already started keep running.
func (s *Service) Delete(ctx context.Context, id string) error {
	if !policy.ValidID(id) {
		return ErrNotFound(id)
	}
	return s.store.DeleteWorkspace(ctx, id)
}

// Allow lets a group launch a workspace; Disallow takes that back.
func (s *Service) Allow(ctx context.Context, workspaceID, groupID string) (Workspace, error) {
	return s.store.SetWorkspaceGroup(ctx, workspaceID, groupID, true, s.clock.Now().UTC())
}

// Disallow stops a group from launching a workspace.
func (s *Service) Disallow(ctx context.Context, workspaceID, groupID string) (Workspace, error) {
	return s.store.SetWorkspaceGroup(ctx, workspaceID, groupID, false, s.clock.Now().UTC())
}

// LaunchableBy lists the enabled workspaces one of groupIDs may launch.
func (s *Service) LaunchableBy(ctx context.Context, groupIDs []string) ([]Workspace, error) {
	all, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	out := []Workspace{}
	for _, w := range all {
		if w.Enabled && AllowedTo(w, groupIDs) != "" {
			out = append(out, w)
		}
	}
	return out, nil
}

// AllowedTo returns the first of groupIDs allowed to launch w, "" when none is.
func AllowedTo(w Workspace, groupIDs []string) string {
	for _, g := range groupIDs {
		if slices.Contains(w.Groups, g) {
			return g
		}
	}
	return ""
}

// CheckStart is the rule a session start applies: the workspace exists, is enabled and is
// allowed to one of the user's groups; each refusal is a 403 (404 for an unknown one) that
// says which.
func CheckStart(w Workspace, found bool, id, userID string, groupIDs []string) error {
	switch {
	case !found:
		return policy.Errorf(policy.KindForbidden, policy.CodeWorkspaceNotFound, "workspace %s is not registered: an administrator registers it with POST /v1/workspaces", id)
	case !w.Enabled:
		return policy.Errorf(policy.KindForbidden, policy.CodeWorkspaceDisabled, "workspace %s is disabled", id)
	case AllowedTo(w, groupIDs) == "":
		return policy.Errorf(policy.KindForbidden, policy.CodeWorkspaceNotAllowed, "workspace %s is not allowed to any group of user %s (allowed groups: %s)", id, userID, groupList(w.Groups))
	}
	return nil
}

func groupList(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// Time-limit sources.
const (
	LimitSourceWorkspace = "workspace"
	LimitSourceUser      = "user"
)

// EffectiveTimeLimit is the smaller non-zero of the workspace's and the user's
// session_time_limit (seconds), and which one applied ("" when neither sets one). On a tie
// the workspace's applies.
func EffectiveTimeLimit(workspace, user int64) (int64, string) {
	switch {
	case workspace > 0 && (user <= 0 || workspace <= user):
		return workspace, LimitSourceWorkspace
	case user > 0:
		return user, LimitSourceUser
	}
	return 0, ""
}

// MergeRunConfig is the run_config of a session of w for a user whose groups' effective
// run_config is group: the workspace's keys, with the group's overriding them.
func MergeRunConfig(w Workspace, group map[string]any) map[string]any {
	out := map[string]any{}
	if len(w.RunConfig) > 0 {
		var base map[string]any
		if err := json.Unmarshal(w.RunConfig, &base); err == nil {
			for k, v := range base {
				out[k] = v
			}
		}
	}
	for k, v := range group {
		out[k] = v
	}
	return out
}

// String is a short description for logs.
func (w Workspace) String() string { return fmt.Sprintf("%s (%s)", w.WorkspaceID, w.ImageID) }
