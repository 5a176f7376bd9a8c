package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wspolicy/internal/policy"
)

// keyRoutes are the routes of API keys. Only admins issue, list and revoke keys.
func (s *server) keyRoutes() []route {
	return []route{
		{"POST /v1/users/{user_id}/keys", accessAdmin, s.handleIssueKey},
		{"GET /v1/users/{user_id}/keys", accessAdmin, s.handleListKeys},
		{"DELETE /v1/users/{user_id}/keys/{key_id}", accessAdmin, s.handleRevokeKey},
	}
}

// issueKeyBody is the optional body of POST /v1/users/{user_id}/keys.
type issueKeyBody struct {
	Role *policy.Role `json:"role"`
	Name *string      `json:"name"`
}

// maxKeyNameLen bounds the label of a key.
const maxKeyNameLen = 64

// issuedKeyView is the one answer that carries a key's secret.
type issuedKeyView struct {
	KeyID     string      `json:"key_id"`
	UserID    string      `json:"user_id"`
	Role      policy.Role `json:"role"`
	Name      string      `json:"name,omitempty"`
	Secret    string      `json:"secret"`
	CreatedAt time.Time   `json:"created_at"`
}

func (s *server) handleIssueKey(w http.ResponseWriter, r *http.Request) error {
	var body issueKeyBody
	if err := decodeJSONBody(w, r, &body, false); err != nil {
		return err
	}
	role := policy.RoleUser
	if body.Role != nil {
		role = *body.Role
	}
	if role != policy.RoleUser && role != policy.RoleAdmin {
		return policy.FieldErrorf("role", policy.CodeInvalidRole, "role must be \"user\" or \"admin\"")
	}
	var name string
	if body.Name != nil {
		name = strings.TrimSpace(*body.Name)
		switch {
		case utf8.RuneCountInString(name) > maxKeyNameLen:
			return policy.FieldErrorf("name", policy.CodeInvalidName, "name must be at most %d characters", maxKeyNameLen)
		case strings.IndexFunc(name, unicode.IsControl) >= 0:
			return policy.FieldErrorf("name", policy.CodeInvalidName, "name must not contain control characters")
		}
	}
	userID := r.PathValue("user_id")
	keyID, token := newKeyToken()
	k := policy.APIKey{ID: keyID, UserID: userID, Role: role, Name: name, Hash: hashKeyToken(token), CreatedAt: s.now()}
	if err := s.dir.PutKey(r.Context(), k); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, issuedKeyView{KeyID: k.ID, UserID: k.UserID, Role: k.Role, Name: k.Name, Secret: token, CreatedAt: k.CreatedAt})
	return nil
}

func (s *server) handleListKeys(w http.ResponseWriter, r *http.Request) error {
	userID := r.PathValue("user_id")
	keys, err := s.dir.ListKeys(r.Context(), userID)
	if err != nil {
		return err
	}
	// policy.APIKey never marshals its hash; copy anyway so nothing but the listed fields leaves.
	out := make([]policy.APIKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, policy.APIKey{ID: k.ID, UserID: k.UserID, Role: k.Role, Name: k.Name, CreatedAt: k.CreatedAt})
	}
	slices.SortFunc(out, func(a, b policy.APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	writeJSON(w, http.StatusOK, struct {
		UserID string          `json:"user_id"`
		Keys   []policy.APIKey `json:"keys"`
	}{userID, out})
	return nil
}

func (s *server) handleRevokeKey(w http.ResponseWriter, r *http.Request) error {
	userID, keyID := r.PathValue("user_id"), r.PathValue("key_id")
	if err := s.dir.RevokeKey(r.Context(), userID, keyID); err != nil {
		return err
	}
	s.auth.forget(func(k policy.APIKey) bool { return k.ID == keyID })
	w.WriteHeader(http.StatusNoContent)
	return nil
}
