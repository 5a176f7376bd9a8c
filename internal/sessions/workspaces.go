package sessions

import (
	"context"
	"encoding/json"
	"fmt"

	"wspolicy/internal/launch"
	"wspolicy/internal/settings"
	"wspolicy/internal/workspaces"
)

// WorkspaceReader reads the workspace a start names, and whether the registry is in use, in
// one round trip; ddbstore.Store implements it.
type WorkspaceReader interface {
	WorkspaceForStart(ctx context.Context, id string) (w workspaces.Workspace, found, registryInUse bool, err error)
}

// workspaceFor applies the Workspaces registry to a start of imageID: nil (no workspace, the
// image id is a free string) while no registry is configured or no workspace was ever
// registered; otherwise the workspace, which must exist, be enabled and be allowed to one of
// the user's groups (403 workspace_not_found / workspace_disabled / workspace_not_allowed).
func (s *Service) workspaceFor(ctx context.Context, imageID string, in startInputs) (*workspaces.Workspace, error) {
	if s.workspaces == nil {
		return nil, nil
	}
	w, found, inUse, err := s.workspaces.WorkspaceForStart(ctx, imageID)
	if err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	if !inUse {
		return nil, nil
	}
	if err := workspaces.CheckStart(w, found, imageID, in.user.ID, in.groupIDs); err != nil {
		return nil, err
	}
	return &w, nil
}

// applyWorkspace puts the workspace's part of a session's launch configuration on l: the
// group's run_config overrides the workspace's, the workspace's web_filter_policy wins over
// the groups', allow_persistent_profile only holds where the workspace has a profile path,
// and the effective time limit says where it came from.
func applyWorkspace(l *launch.Launch, w workspaces.Workspace, r settings.Resolution) {
	l.RunConfig = workspaces.MergeRunConfig(w, r.RunConfig())
	if w.WebFilterPolicy != "" {
		l.WebFilterPolicy = w.WebFilterPolicy
	}
	l.AllowPersistentProfile = l.AllowPersistentProfile && w.PersistentProfilePath != ""
	l.Workspace = &launch.WorkspaceLaunch{
		WorkspaceID: w.WorkspaceID, Image: w.ImageID, FriendlyName: w.FriendlyName,
		Cores: w.Cores, Memory: w.Memory, PersistentProfilePath: w.PersistentProfilePath,
	}
	if secs, src := workspaces.EffectiveTimeLimit(w.SessionTimeLimit, r.SessionTimeLimit()); secs > 0 {
		l.SessionTimeLimit = &launch.TimeLimit{Seconds: secs, Source: src}
	}
}

// timeLimitSource reads the source of a session's time limit from its launch configuration.
func timeLimitSource(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var l struct {
		SessionTimeLimit *launch.TimeLimit `json:"session_time_limit"`
	}
	if json.Unmarshal(raw, &l) != nil || l.SessionTimeLimit == nil {
		return ""
	}
	return l.SessionTimeLimit.Source
}
