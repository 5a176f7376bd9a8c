package httpapi

import (
	"encoding/json"
	"net/http"

	"wspolicy/internal/directory"
	"wspolicy/internal/policy"
	"wspolicy/internal/preview"
)

// previewRoutes is the preview of a group change (issue 20).
func (s *server) previewRoutes() []route {
	return []route{
		{"POST /v1/groups/{group_id}/preview", accessAdmin, s.handlePreview},
	}
}

// previewBody is the body of POST /v1/groups/{group_id}/preview: the change as its write takes
// it (kind settings: set/unset as PATCH .../settings; priority: as PATCH /v1/groups/{id};
// add_member/remove_member: the user), and the page of affected users wanted.
type previewBody struct {
	Kind      string                     `json:"kind"`
	Set       map[string]json.RawMessage `json:"set"`
	Unset     []string                   `json:"unset"`
	Priority  *int                       `json:"priority"`
	UserID    *string                    `json:"user_id"`
	Limit     *int                       `json:"limit"`
	PageToken *string                    `json:"page_token"`
}

// previewChange validates the body exactly as the write it previews validates its own.
func previewChange(b previewBody) (preview.Change, error) {
	c := preview.Change{Kind: b.Kind}
	switch b.Kind {
	case preview.KindSettings:
		sc, err := directory.CheckSettingsChange(b.Set, b.Unset)
		if err != nil {
			return c, err
		}
		c.Settings = sc
	case preview.KindPriority:
		if b.Priority == nil {
			return c, policy.FieldErrorf("priority", policy.CodeInvalidPriority, "priority is required for a priority change")
		}
		if err := policy.ValidateGroupPriority(*b.Priority); err != nil {
			return c, err
		}
		c.Priority = *b.Priority
	case preview.KindAddMember, preview.KindRemoveMember:
		if b.UserID == nil || *b.UserID == "" {
			return c, policy.FieldErrorf("user_id", policy.CodeInvalidUserID, "user_id is required for a membership change")
		}
		c.UserID = *b.UserID
	default:
		return c, policy.FieldErrorf("kind", policy.CodeInvalidKind, "kind must be settings, priority, add_member or remove_member")
	}
	if b.Kind != preview.KindSettings && (b.Set != nil || b.Unset != nil) {
		return c, policy.FieldErrorf("set", policy.CodeInvalidField, "set and unset belong to kind settings")
	}
	if b.Kind != preview.KindPriority && b.Priority != nil {
		return c, policy.FieldErrorf("priority", policy.CodeInvalidField, "priority belongs to kind priority")
	}
	if (b.Kind == preview.KindSettings || b.Kind == preview.KindPriority) && b.UserID != nil {
		return c, policy.FieldErrorf("user_id", policy.CodeInvalidField, "user_id belongs to kinds add_member and remove_member")
	}
	return c, nil
}

func (s *server) handlePreview(w http.ResponseWriter, r *http.Request) error {
	if s.preview == nil {
		return policy.Errorf(policy.KindUnavailable, policy.CodePreviewUnavailable, "the preview is not configured")
	}
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	var body previewBody
	if err := decodeJSONBody(w, r, &body, true); err != nil {
		return err
	}
	c, err := previewChange(body)
	if err != nil {
		return err
	}
	page := preview.Page{IfVersion: version}
	if body.Limit != nil {
		if *body.Limit < 1 || *body.Limit > preview.MaxPageSize {
			return policy.FieldErrorf("limit", policy.CodeInvalidLimit, "limit must be from 1 to %d", preview.MaxPageSize)
		}
		page.Limit = *body.Limit
	}
	if body.PageToken != nil {
		page.Token = *body.PageToken
	}
	id := r.PathValue("group_id")
	res, err := s.preview.Preview(r.Context(), id, c, page)
	if err != nil {
		return err
	}
	if c.Kind == preview.KindPriority {
		// The advice PATCH /v1/groups answers about a priority (ties, All Users' precedence).
		before, err := s.dir.GetGroup(r.Context(), id)
		if err == nil && before.Version == res.Version {
			after := before
			after.Priority = c.Priority
			res.GroupWarnings = append(res.GroupWarnings, s.directory.GroupWarnings(r.Context(), after, before)...)
		}
	}
	setVersionHeader(w, res.Version)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// memberIfMatch is the If-Match version of a membership write: 0 when none is given; refused
// (as before issue 20) by a directory that cannot condition membership writes on it.
func (s *server) memberIfMatch(r *http.Request) (int64, error) {
	if !s.directory.MembershipsVersioned() {
		return 0, errIfMatchUnsupported(r)
	}
	return ifMatchVersion(r)
}
