package sessions

import (
	"context"
	"encoding/json"
	"fmt"

	"wspolicy/internal/launch"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// StorageMappingStore keeps users' own storage mappings; ddbstore.SessionStore implements it.
type StorageMappingStore interface {
	// CreateStorageMapping stores m as one more mapping of m.UserID, at most max of them
	// (exact under concurrency), and returns it with its id.
	CreateStorageMapping(ctx context.Context, m launch.StorageMapping, max int64) (launch.StorageMapping, error)
	// StorageMappings lists a user's mappings, oldest first (404 for an unknown user).
	StorageMappings(ctx context.Context, userID string) ([]launch.StorageMapping, error)
	// UserWithStorageMappings reads a live user and their mappings, oldest first, in one
	// request (404 for an unknown user): what a start reads of the user.
	UserWithStorageMappings(ctx context.Context, userID string) (policy.User, []launch.StorageMapping, error)
	// DeleteStorageMapping removes one of a user's mappings.
	DeleteStorageMapping(ctx context.Context, userID, mappingID string) error
}

// checkSelf lets administrators act on any user's resources and a user on their own only.
func checkSelf(actor lifecycle.Actor, userID, what string) error {
	if actor.Admin || (actor.UserID != "" && actor.UserID == userID) {
		return nil
	}
	return policy.Errorf(policy.KindForbidden, policy.CodeForbidden, "a user may manage only their own %s", what)
}

// RegisterStorageMapping registers a storage mapping for userID from body, a JSON object
// {"host_path", "bind", "mode", "uid", "gid"} plus the optional fields of a volume_mapping
// entry, validated like one (400 invalid_storage_mapping naming the field). A user may
// register only their own, administrators anyone's (403 forbidden). The user's effective
// allow_user_storage_mapping must be true (403 permission_denied) and they may have at most
// max_user_storage_mappings mappings (409 max_user_storage_mappings_reached, exact under
// concurrent registrations). Unknown user: 404 user_not_found. It reads the user's groups
// (two round trips) and writes one transaction.
func (s *Service) RegisterStorageMapping(ctx context.Context, actor lifecycle.Actor, userID string, body json.RawMessage) (launch.StorageMapping, error) {
	if err := checkSelf(actor, userID, "storage mappings"); err != nil {
		return launch.StorageMapping{}, err
	}
	if !policy.ValidID(userID) {
		return launch.StorageMapping{}, policy.Errorf(policy.KindNotFound, policy.CodeUserNotFound, "user %s not found", userID)
	}
	m, err := launch.ParseStorageMapping(body)
	if err != nil {
		return launch.StorageMapping{}, err
	}
	_, groups, err := s.dir.UserWithGroups(ctx, userID)
	if err != nil {
		return launch.StorageMapping{}, fmt.Errorf("register storage mapping: %w", err)
	}
	r := resolveGroups(groups)
	if err := launch.CheckStorageMappingAllowed(r, 0); err != nil {
		return launch.StorageMapping{}, err
	}
	m.UserID, m.CreatedAt = userID, lifecycle.Millis(s.clock.Now())
	return s.store.CreateStorageMapping(ctx, m, r.MaxUserStorageMappings())
}

// StorageMappings lists a user's storage mappings, oldest first (one request). Every
// registered mapping is listed, also while allow_user_storage_mapping is false; new sessions
// leave them out then. A user may list only their own (403 forbidden); unknown user: 404.
func (s *Service) StorageMappings(ctx context.Context, actor lifecycle.Actor, userID string) ([]launch.StorageMapping, error) {
	if err := checkSelf(actor, userID, "storage mappings"); err != nil {
		return nil, err
	}
	return s.store.StorageMappings(ctx, userID)
}

// DeleteStorageMapping removes one of a user's storage mappings (one transaction, no settings
// read: removing is allowed whatever the settings). A user may delete only their own (403
// forbidden); no such mapping: 404 storage_mapping_not_found. Running sessions keep the
// launch configuration they started with.
func (s *Service) DeleteStorageMapping(ctx context.Context, actor lifecycle.Actor, userID, mappingID string) error {
	if err := checkSelf(actor, userID, "storage mappings"); err != nil {
		return err
	}
	return s.store.DeleteStorageMapping(ctx, userID, mappingID)
}
