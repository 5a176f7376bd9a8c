package kasmapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"wspolicy/internal/devkeys"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Users is what the user calls need of the store besides the Directory: renames and profiles
// (ddbstore.Store implements it).
type Users interface {
	UpdateUser(ctx context.Context, id string, upd policy.UserUpdate) (policy.User, error)
	UserProfiles(ctx context.Context, ids []string) (map[string]policy.UserProfile, error)
}

// maxProfileText bounds a profile field or text attribute (ssh_public_key included).
const maxProfileText = 8 << 10

// profileFields are Kasm's user profile fields: their body names and where they live.
var profileFields = []struct {
	name string
	ref  func(*policy.UserProfile) *string
}{
	{"first_name", func(p *policy.UserProfile) *string { return &p.FirstName }},
	{"last_name", func(p *policy.UserProfile) *string { return &p.LastName }},
	{"phone", func(p *policy.UserProfile) *string { return &p.Phone }},
	{"organization", func(p *policy.UserProfile) *string { return &p.Organization }},
	{"notes", func(p *policy.UserProfile) *string { return &p.Notes }},
}

// attributeTypes are the Kasm user attributes wspolicy keeps (besides default_image), with
// their JSON types: "bool" or "string". get_attributes answers each, null when unset.
var attributeTypes = map[string]string{
	"auto_login_kasm": "bool", "show_tips": "bool", "toggle_control_panel": "bool", "chat_sfx": "bool",
	"theme": "string", "preferred_language": "string", "preferred_timezone": "string", "ssh_public_key": "string",
}

// readOnlyAttributes are fields a client sends back from get_attributes that are not
// attributes: ignored by update_user_attributes.
var readOnlyAttributes = map[string]bool{"user_id": true, "user_attributes_id": true, "username": true}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// checkText refuses a profile text that is not UTF-8 or too long.
func checkText(name, v string) error {
	if !utf8.ValidString(v) || len(v) > maxProfileText {
		return fmt.Errorf("%s must be UTF-8 text of at most %d bytes", name, maxProfileText)
	}
	return nil
}

// mergeProfile applies the profile fields t carries to p (a null or "" clears one).
func mergeProfile(p *policy.UserProfile, t body) error {
	for _, f := range profileFields {
		raw, ok := t[f.name]
		if !ok {
			continue
		}
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("%s must be a string", f.name)
		}
		s := ""
		if v != nil {
			s = strings.TrimSpace(*v)
		}
		if err := checkText(f.name, s); err != nil {
			return err
		}
		*f.ref(p) = s
	}
	return nil
}

// groupNames maps every group's id to its name, for user objects.
func (h *Handler) groupNames(ctx context.Context) map[string]string {
	all, _ := h.cfg.Directory.ListGroups(ctx)
	names := make(map[string]string, len(all))
	for _, g := range all {
		names[g.ID] = g.Name
	}
	return names
}

// userObject renders a user in Kasm's shape, with the profile fields it keeps.
func (h *Handler) userObject(ctx context.Context, u policy.User, gname map[string]string, withKasms bool) map[string]any {
	groups := []map[string]any{}
	seen := map[string]bool{}
	for _, id := range append([]string{policy.AllUsersGroupID}, u.GroupIDs...) {
		if seen[id] {
			continue
		}
		seen[id] = true
		groups = append(groups, map[string]any{"group_id": id, "name": gname[id]})
	}
	p := u.Profile
	o := map[string]any{
		"user_id": u.ID, "username": u.Username, "locked": false, "disabled": false,
		"last_session": nil, "groups": groups, "first_name": nullable(p.FirstName), "last_name": nullable(p.LastName),
		"phone": nullable(p.Phone), "organization": nullable(p.Organization), "notes": nullable(p.Notes),
		"created": date(u.CreatedAt), "realm": "local",
	}
	if withKasms {
		kasms := []map[string]any{}
		if pg, err := h.cfg.Sessions.List(ctx, lifecycle.AdminActor(), lifecycle.ListFilter{UserID: u.ID, Limit: lifecycle.MaxPageSize}); err == nil {
			for _, s := range pg.Sessions {
				if s.Status == string(lifecycle.StatusDeleted) {
					continue
				}
				kasms = append(kasms, map[string]any{"kasm_id": s.SessionID, "start_date": date(s.CreatedAt),
					"keepalive_date": date(s.LastKeepaliveAt), "expiration_date": date(s.ExpiresAt),
					"server": map[string]any{"server_id": serverIDPlaceholder, "hostname": nil, "port": nil}})
			}
		}
		o["kasms"] = kasms
	}
	return o
}

func (h *Handler) getUser(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	u, st, v := h.targetUser(ctx, b)
	if st != 0 {
		return st, v
	}
	return http.StatusOK, map[string]any{"user": h.userObject(ctx, u, h.groupNames(ctx), true)}
}

// getUsers lists every user; the profiles come from one batch read per 100 users, since the
// listing's index does not copy them.
func (h *Handler) getUsers(ctx context.Context, _ devkeys.Key, _ body) (int, any) {
	users, err := h.cfg.Directory.ListUsers(ctx)
	if err != nil {
		return internalError(err)
	}
	slices.SortFunc(users, func(a, b policy.User) int { return strings.Compare(a.Username, b.Username) })
	if h.cfg.Users != nil && len(users) > 0 {
		ids := make([]string, len(users))
		for i, u := range users {
			ids[i] = u.ID
		}
		profiles, err := h.cfg.Users.UserProfiles(ctx, ids)
		if err != nil {
			return internalError(err)
		}
		for i := range users {
			users[i].Profile = profiles[users[i].ID]
		}
	}
	gname := h.groupNames(ctx)
	out := make([]map[string]any, 0, len(users))
	for _, u := range users {
		out = append(out, h.userObject(ctx, u, gname, false))
	}
	return http.StatusOK, map[string]any{"users": out}
}

func (h *Handler) createUser(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	t := b.obj("target_user")
	name := t.str("username")
	if name == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	var profile policy.UserProfile
	if err := mergeProfile(&profile, t); err != nil {
		return errMsg(http.StatusBadRequest, msgInvalidRequest+": "+err.Error())
	}
	// The directory service checks the username and adds the auto-add groups.
	u, err := h.dir.CreateUser(ctx, name, profile)
	if err != nil {
		return userWriteError(err, "")
	}
	return http.StatusOK, map[string]any{"user": h.userObject(ctx, u, h.groupNames(ctx), false)}
}

// userWriteError is Kasm's answer to a failed create or update of user id ("" for a create).
func userWriteError(err error, id string) (int, any) {
	switch {
	case policy.IsKind(err, policy.KindConflict):
		return errMsg(http.StatusBadRequest, "Username already exists")
	case policy.IsKind(err, policy.KindInvalid):
		return errMsg(http.StatusBadRequest, "Invalid username: "+messageOf(err))
	case policy.IsKind(err, policy.KindNotFound) && id != "":
		return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid user_id (%s)", id))
	default:
		return internalError(err)
	}
}

// updateUser changes the username (kept unique: the store renames in one transaction) and
// the profile fields target_user carries; the others stay.
func (h *Handler) updateUser(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	u, st, v := h.targetUser(ctx, b)
	if st != 0 {
		return st, v
	}
	t := b.obj("target_user")
	var upd policy.UserUpdate
	if n := t.str("username"); n != "" && t.str("user_id") != "" && n != u.Username {
		upd.Username = &n
	}
	profile := u.Profile
	if err := mergeProfile(&profile, t); err != nil {
		return errMsg(http.StatusBadRequest, msgInvalidRequest+": "+err.Error())
	}
	upd.Profile = &profile
	if h.cfg.Users == nil {
		return errMsg(http.StatusServiceUnavailable, "Service Unavailable")
	}
	id := u.ID
	u, err := h.cfg.Users.UpdateUser(ctx, id, upd)
	if err != nil {
		return userWriteError(err, id)
	}
	return http.StatusOK, map[string]any{"user": h.userObject(ctx, u, h.groupNames(ctx), false)}
}

// getAttributes answers the user's own attributes: default_image is the user's (null when
// they have none; a start then falls back to their groups' default_image).
func (h *Handler) getAttributes(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	u, st, v := h.targetUser(ctx, b)
	if st != 0 {
		return st, v
	}
	attrs := map[string]any{"user_id": u.ID, "default_image": nullable(u.Profile.DefaultImage)}
	for name := range attributeTypes {
		attrs[name] = nil
		if raw, ok := u.Profile.Attributes[name]; ok {
			attrs[name] = raw
		}
	}
	return http.StatusOK, map[string]any{"user_attributes": attrs}
}

// updateUserAttributes sets the attributes target_user_attributes carries (null clears
// one): default_image (a workspace id, checked as the group setting is) and the attributes of
// attributeTypes. An unknown attribute is refused, naming it.
func (h *Handler) updateUserAttributes(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	t := b.obj("target_user_attributes")
	id := t.str("user_id")
	if id == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	u, st, v := h.actingUser(ctx, id)
	if st != 0 {
		return st, v
	}
	p := u.Profile
	attrs := map[string]json.RawMessage{}
	for k, raw := range p.Attributes {
		attrs[k] = raw
	}
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		raw := t[name]
		isNull := strings.TrimSpace(string(raw)) == "null"
		switch typ := attributeTypes[name]; {
		case readOnlyAttributes[name]:
		case name == "default_image":
			if isNull || t.str(name) == "" {
				p.DefaultImage = ""
				continue
			}
			img := t.str(name)
			if _, err := settings.Validate(settings.NameDefaultImage, mustJSON(img)); err != nil {
				return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid default_image (%s): %s", img, messageOf(err)))
			}
			if err := h.checkWorkspace(ctx, img); err != nil {
				return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid default_image (%s): %s", img, err.Error()))
			}
			p.DefaultImage = img
		case typ == "":
			return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid attribute (%s)", name))
		case isNull:
			delete(attrs, name)
		case typ == "bool":
			if !isBool(t, name) {
				return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid attribute (%s): true or false", name))
			}
			attrs[name] = mustJSON(t.boolean(name))
		default:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil || checkText(name, s) != nil {
				return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid attribute (%s): text of at most %d bytes", name, maxProfileText))
			}
			attrs[name] = mustJSON(s)
		}
	}
	p.Attributes = attrs
	if h.cfg.Users == nil {
		return errMsg(http.StatusServiceUnavailable, "Service Unavailable")
	}
	if _, err := h.cfg.Users.UpdateUser(ctx, u.ID, policy.UserUpdate{Profile: &p}); err != nil {
		if policy.IsKind(err, policy.KindNotFound) {
			return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid user_id (%s)", u.ID))
		}
		return internalError(err)
	}
	return http.StatusOK, map[string]any{}
}

// isBool reports whether t's name is a JSON boolean or Kasm's text form of one.
func isBool(t body, name string) bool {
	var v bool
	if json.Unmarshal(t[name], &v) == nil {
		return true
	}
	s := strings.ToLower(t.str(name))
	return s == "true" || s == "false"
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// checkWorkspace refuses a default_image that names no registered workspace once the
// Workspaces registry is in use (before that, image ids are free strings, as at a start).
func (h *Handler) checkWorkspace(ctx context.Context, id string) error {
	if h.cfg.Workspaces == nil {
		return nil
	}
	_, err := h.cfg.Workspaces.Get(ctx, id)
	if err == nil || !policy.IsKind(err, policy.KindNotFound) {
		return err
	}
	ws, err := h.cfg.Workspaces.List(ctx)
	if err != nil || len(ws) == 0 {
		return err
	}
	return fmt.Errorf("no workspace %s is registered", id)
}
