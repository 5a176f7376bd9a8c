package httpapi

import (
	"net/http"

	"wspolicy/internal/directory"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// userRoutes are the routes of users and their effective settings.
func (s *server) userRoutes() []route {
	return []route{
		{"POST /v1/users", accessAdmin, s.handleCreateUser},
		{"GET /v1/users", accessAdmin, s.handleListUsers},
		{"GET /v1/users/{user_id}", accessSelfUser, s.handleGetUser},
		{"DELETE /v1/users/{user_id}", accessAdmin, s.handleDeleteUser},
		{"GET /v1/users/{user_id}/effective-settings", accessSelfUser, s.handleEffectiveSettings},
	}
}

// createUserBody is the body of POST /v1/users.
type createUserBody struct {
	Username *string `json:"username"`
}

func (s *server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	var body createUserBody
	if err := decodeJSONBody(w, r, &body, true); err != nil {
		return err
	}
	if body.Username == nil {
		return policy.FieldErrorf("username", policy.CodeInvalidUsername, "username is required")
	}
	if err := policy.ValidateLocalUsername(*body.Username); err != nil {
		return err
	}
	u, err := s.directory.CreateUser(r.Context(), *body.Username, policy.UserProfile{})
	if err != nil {
		return err
	}
	w.Header().Set("Location", userPath(u.ID))
	writeJSON(w, http.StatusCreated, directory.View(u))
	return nil
}

func (s *server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.directory.ListUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
	return nil
}

func (s *server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.directory.GetUser(r.Context(), r.PathValue("user_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

// handleDeleteUser deletes the user and ends their sessions (directory.Service.DeleteUser),
// dropping the user's keys from the key cache.
func (s *server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("user_id")
	forget := func() { s.auth.forget(func(k policy.APIKey) bool { return k.UserID == id }) }
	if err := s.directory.DeleteUser(r.Context(), id, forget); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// effectiveSettingsView is the answer of GET /v1/users/{user_id}/effective-settings.
type effectiveSettingsView struct {
	UserID   string                        `json:"user_id"`
	Settings map[string]settings.Effective `json:"settings"`
	Warnings []settings.Warning            `json:"warnings"`
	// SSOMemberships explains the groups the user is in through IdP groups (issue 19).
	SSOMemberships []ssoMembershipView `json:"sso_memberships,omitempty"`
}

func (s *server) handleEffectiveSettings(w http.ResponseWriter, r *http.Request) error {
	e, err := s.directory.EffectiveSettings(r.Context(), r.PathValue("user_id"))
	if err != nil {
		return err
	}
	view := effectiveSettingsView{UserID: e.User.ID, Settings: e.Resolution.Settings, Warnings: e.Resolution.Warnings}
	if view.Warnings == nil {
		view.Warnings = []settings.Warning{}
	}
	if view.SSOMemberships, err = s.ssoMemberships(r.Context(), e.User.ID, e.Groups); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}
