package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/workspaces"
)

// kasmRoutes are the routes of issue 15: the Workspaces registry, its group access, the
// developer keys, the user's launchable workspaces and the Kasm Developer API (which
// authenticates its own credentials, in the body).
func (s *server) kasmRoutes() []route {
	return []route{
		{"POST /v1/workspaces", accessAdmin, s.handleCreateWorkspace},
		{"GET /v1/workspaces", accessAdmin, s.handleListWorkspaces},
		{"GET /v1/workspaces/{workspace_id}", accessAdmin, s.handleGetWorkspace},
		{"PATCH /v1/workspaces/{workspace_id}", accessAdmin, s.handlePatchWorkspace},
		{"DELETE /v1/workspaces/{workspace_id}", accessAdmin, s.handleDeleteWorkspace},
		{"PUT /v1/groups/{group_id}/workspaces/{workspace_id}", accessAdmin, s.handleAllowWorkspace},
		{"DELETE /v1/groups/{group_id}/workspaces/{workspace_id}", accessAdmin, s.handleDisallowWorkspace},
		{"GET /v1/users/{user_id}/workspaces", accessSelfUser, s.handleUserWorkspaces},
		{"POST /v1/developer-keys", accessAdmin, s.handleCreateDevKey},
		{"GET /v1/developer-keys", accessAdmin, s.handleListDevKeys},
		{"DELETE /v1/developer-keys/{key_id}", accessAdmin, s.handleRevokeDevKey},
		{"POST /api/public/{call}", accessPublic, s.handleKasm},
		{"POST /api/admin/{call}", accessPublic, s.handleKasm},
	}
}

func (s *server) workspaceService() (*workspaces.Service, error) {
	if s.workspaces == nil {
		return nil, policy.Errorf(policy.KindUnavailable, policy.CodeWorkspacesUnavailable, "this server runs without the Workspaces registry")
	}
	return s.workspaces, nil
}

func (s *server) handleCreateWorkspace(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.workspaceService()
	if err != nil {
		return err
	}
	var f workspaces.Fields
	if err := decodeJSONBody(w, r, &f, true); err != nil {
		return err
	}
	ws, err := svc.Create(r.Context(), f)
	if err != nil {
		return err
	}
	w.Header().Set("Location", pathPrefixV1+"/workspaces/"+ws.WorkspaceID)
	writeJSON(w, http.StatusCreated, ws)
	return nil
}

func (s *server) handleListWorkspaces(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.workspaceService()
	if err != nil {
		return err
	}
	ws, err := svc.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"workspaces": ws})
	return nil
}

func (s *server) handleGetWorkspace(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.workspaceService()
	if err != nil {
		return err
	}
	ws, err := svc.Get(r.Context(), r.PathValue("workspace_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ws)
	return nil
}

func (s *server) handlePatchWorkspace(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.workspaceService()
	if err != nil {
		return err
	}
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	var f workspaces.Fields
	if err := decodeJSONBody(w, r, &f, true); err != nil {
		return err
	}
	ws, err := svc.Update(r.Context(), r.PathValue("workspace_id"), f, version)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ws)
	return nil
}

func (s *server) handleDeleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.workspaceService()
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), r.PathValue("workspace_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) handleAllowWorkspace(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.workspaceService()
	if err != nil {
		return err
	}
	ws, err := svc.Allow(r.Context(), r.PathValue("workspace_id"), r.PathValue("group_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ws)
	return nil
}

func (s *server) handleDisallowWorkspace(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.workspaceService()
	if err != nil {
		return err
	}
	ws, err := svc.Disallow(r.Context(), r.PathValue("workspace_id"), r.PathValue("group_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ws)
	return nil
}

// launchableView is a workspace as a user's picker shows it.
type launchableView struct {
	WorkspaceID  string   `json:"workspace_id"`
	FriendlyName string   `json:"friendly_name"`
	Description  string   `json:"description"`
	Categories   []string `json:"categories"`
}

// handleUserWorkspaces lists the workspaces the user may launch (the dashboard's picker).
func (s *server) handleUserWorkspaces(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.workspaceService()
	if err != nil {
		return err
	}
	_, groups, err := s.directory.UserWithGroups(r.Context(), r.PathValue("user_id"))
	if err != nil {
		return err
	}
	ids := []string{policy.AllUsersGroupID}
	for _, g := range groups {
		ids = append(ids, g.ID)
	}
	ws, err := svc.LaunchableBy(r.Context(), ids)
	if err != nil {
		return err
	}
	out := make([]launchableView, 0, len(ws))
	for _, x := range ws {
		out = append(out, launchableView{x.WorkspaceID, x.FriendlyName, x.Description, x.Categories})
	}
	writeJSON(w, http.StatusOK, map[string]any{"workspaces": out})
	return nil
}

// createDevKeyBody is the body of POST /v1/developer-keys.
type createDevKeyBody struct {
	Name        string     `json:"name"`
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

func (s *server) handleCreateDevKey(w http.ResponseWriter, r *http.Request) error {
	if s.devKeys == nil {
		return policy.Errorf(policy.KindUnavailable, policy.CodeDevKeysUnavailable, "this server runs without developer keys")
	}
	var body createDevKeyBody
	if err := decodeJSONBody(w, r, &body, true); err != nil {
		return err
	}
	k, err := s.devKeys.Create(r.Context(), body.Name, body.Permissions, body.ExpiresAt)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (s *server) handleListDevKeys(w http.ResponseWriter, r *http.Request) error {
	if s.devKeys == nil {
		return policy.Errorf(policy.KindUnavailable, policy.CodeDevKeysUnavailable, "this server runs without developer keys")
	}
	ks, err := s.devKeys.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"developer_keys": ks})
	return nil
}

func (s *server) handleRevokeDevKey(w http.ResponseWriter, r *http.Request) error {
	if s.devKeys == nil {
		return policy.Errorf(policy.KindUnavailable, policy.CodeDevKeysUnavailable, "this server runs without developer keys")
	}
	if err := s.devKeys.Revoke(r.Context(), r.PathValue("key_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleKasm hands a Kasm Developer API call to the adapter, which authenticates the
// credentials of the body and answers in Kasm's shapes.
func (s *server) handleKasm(w http.ResponseWriter, r *http.Request) error {
	if s.kasm == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"error_message": "Service Unavailable"})
		return nil
	}
	s.kasm.ServeHTTP(w, r)
	return nil
}
