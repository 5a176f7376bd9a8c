package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// usernamePattern keeps usernames safe to substitute for {username} in host paths and
// environment variables: letters, digits and . _ @ + -, starting with a letter or digit.
var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)

// autoAddSettingName is the group property that makes every new user a member.
const autoAddSettingName = settings.NameAutoAddLocalUsers

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

// userView is a user as the API shows it: groups always lists All Users first, then the
// explicit memberships in order.
func userView(u policy.User) policy.User {
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

func userViews(us []policy.User) []policy.User {
	out := make([]policy.User, 0, len(us))
	for _, u := range us {
		out = append(out, userView(u))
	}
	slices.SortFunc(out, func(a, b policy.User) int {
		if c := strings.Compare(a.Username, b.Username); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
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
	if !usernamePattern.MatchString(*body.Username) {
		return policy.FieldErrorf("username", policy.CodeInvalidUsername,
			"username must be 1 to 128 letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit")
	}
	groups, err := s.autoAddGroups(r)
	if err != nil {
		return err
	}
	u, err := s.dir.CreateUser(r.Context(), policy.User{
		ID:        policy.NewID("u"),
		Username:  *body.Username,
		GroupIDs:  groups,
		CreatedAt: s.now(),
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", userPath(u.ID))
	writeJSON(w, http.StatusCreated, userView(u))
	return nil
}

// autoAddGroups lists the groups whose auto_add_local_users is true: a new user joins them
// in the same write that creates the user.
func (s *server) autoAddGroups(r *http.Request) ([]string, error) {
	groups, err := s.dir.ListGroups(r.Context())
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, g := range groups {
		var on bool
		if raw, ok := g.Settings[autoAddSettingName]; ok && json.Unmarshal(raw, &on) == nil && on && g.ID != policy.AllUsersGroupID {
			ids = append(ids, g.ID)
		}
	}
	return ids, nil
}

func (s *server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.dir.ListUsers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": userViews(users)})
	return nil
}

func (s *server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	u, err := s.dir.GetUser(r.Context(), r.PathValue("user_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userView(u))
	return nil
}

// handleDeleteUser deletes the user (memberships, keys, storage mappings), then ends their
// sessions: once the user is marked deleting no session of theirs can start. A retry after a
// deletion whose sessions could not all be ended (503) ends the rest and answers 204; for a
// user that neither exists nor has sessions left it is 404.
func (s *server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("user_id")
	err := s.dir.DeleteUser(r.Context(), id)
	if err != nil && !policy.IsKind(err, policy.KindNotFound) {
		return err
	}
	s.auth.forget(func(k policy.APIKey) bool { return k.UserID == id })
	ended := 0
	if s.sessions != nil && policy.ValidID(id) {
		n, endErr := s.sessions.EndSessionsOf(r.Context(), id)
		if endErr != nil {
			return endErr
		}
		ended = n
	}
	if err != nil && ended == 0 {
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
	u, groups, err := s.dir.UserWithGroups(r.Context(), r.PathValue("user_id"))
	if err != nil {
		return err
	}
	res := settings.ResolveGroups(groups)
	view := effectiveSettingsView{UserID: u.ID, Settings: res.Settings, Warnings: res.Warnings}
	if view.Warnings == nil {
		view.Warnings = []settings.Warning{}
	}
	if view.SSOMemberships, err = s.ssoMemberships(r.Context(), u.ID, groups); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}
