package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Limits on group fields.
const (
	maxGroupNameLen        = 128
	maxGroupDescriptionLen = 1024
	minGroupPriority       = 1
	maxGroupPriority       = 4095
)

// groupRoutes are the routes of groups, their settings, history and members.
func (s *server) groupRoutes() []route {
	return []route{
		{"POST /v1/groups", accessAdmin, s.handleCreateGroup},
		{"GET /v1/groups", accessAdmin, s.handleListGroups},
		{"GET /v1/groups/{group_id}", accessAdmin, s.handleGetGroup},
		{"PATCH /v1/groups/{group_id}", accessAdmin, s.handlePatchGroup},
		{"DELETE /v1/groups/{group_id}", accessAdmin, s.handleDeleteGroup},
		{"GET /v1/groups/{group_id}/settings", accessAdmin, s.handleGetGroupSettings},
		{"PATCH /v1/groups/{group_id}/settings", accessAdmin, s.handlePatchGroupSettings},
		{"PUT /v1/groups/{group_id}/settings/{name}", accessAdmin, s.handlePutGroupSetting},
		{"DELETE /v1/groups/{group_id}/settings/{name}", accessAdmin, s.handleDeleteGroupSetting},
		{"GET /v1/groups/{group_id}/history", accessAdmin, s.handleGroupHistory},
		{"GET /v1/groups/{group_id}/members", accessAdmin, s.handleListMembers},
		{"PUT /v1/groups/{group_id}/members/{user_id}", accessAdmin, s.handleAddMember},
		{"DELETE /v1/groups/{group_id}/members/{user_id}", accessAdmin, s.handleRemoveMember},
	}
}

// groupFields is the body of POST and PATCH /v1/groups. A null field counts as absent.
type groupFields struct {
	Name        *string `json:"name"`
	Priority    *int    `json:"priority"`
	Description *string `json:"description"`
}

// check validates the fields that are present and trims the name.
func (f *groupFields) check() error {
	if f.Name != nil {
		name := strings.TrimSpace(*f.Name)
		switch {
		case name == "":
			return policy.FieldErrorf("name", policy.CodeInvalidName, "name must not be empty")
		case utf8.RuneCountInString(name) > maxGroupNameLen:
			return policy.FieldErrorf("name", policy.CodeInvalidName, "name must be at most %d characters", maxGroupNameLen)
		case policy.NameProblem(name) != "":
			return policy.FieldErrorf("name", policy.CodeInvalidName, "name %s", policy.NameProblem(name))
		}
		f.Name = &name
	}
	if f.Priority != nil && (*f.Priority < minGroupPriority || *f.Priority > maxGroupPriority) {
		return policy.FieldErrorf("priority", policy.CodeInvalidPriority, "priority must be a whole number from %d to %d (lower wins)", minGroupPriority, maxGroupPriority)
	}
	if f.Description != nil && utf8.RuneCountInString(*f.Description) > maxGroupDescriptionLen {
		return policy.FieldErrorf("description", policy.CodeInvalidDescription, "description must be at most %d characters", maxGroupDescriptionLen)
	}
	return nil
}

func (s *server) handleCreateGroup(w http.ResponseWriter, r *http.Request) error {
	var f groupFields
	if err := decodeJSONBody(w, r, &f, true); err != nil {
		return err
	}
	if f.Name == nil {
		return policy.FieldErrorf("name", policy.CodeInvalidName, "name is required")
	}
	if err := f.check(); err != nil {
		return err
	}
	now := s.now()
	g := policy.Group{
		ID:        policy.NewID("g"),
		Name:      *f.Name,
		Priority:  policy.DefaultGroupPriority,
		Settings:  map[string]json.RawMessage{},
		CreatedAt: now,
		UpdatedAt: now,
	}
	if f.Priority != nil {
		g.Priority = *f.Priority
	}
	if f.Description != nil {
		g.Description = *f.Description
	}
	created, err := s.dir.CreateGroup(r.Context(), g)
	if err != nil {
		return err
	}
	w.Header().Set("Location", groupPath(created.ID))
	setVersionHeader(w, created.Version)
	writeJSON(w, http.StatusCreated, groupWriteView{created, s.groupWarnings(r, created, policy.Group{})})
	return nil
}

// Warning codes of a group's name and priority, answered by POST and PATCH /v1/groups.
const (
	// warnGroupPriorityTie: another group has the same priority; for a user in both, the group
	// with the smaller id wins each setting both set.
	warnGroupPriorityTie = "group_priority_tie"
	// warnAllUsersPrecedence: All Users now takes precedence over groups it did not before.
	warnAllUsersPrecedence = "all_users_precedence"
	// warnBelowAllUsers: the group's priority number is above All Users', so All Users' values
	// win over this group's for every setting both set.
	warnBelowAllUsers = "overridden_by_all_users"
	// warnAllUsersRenamed: the built-in group was renamed; it stays the group of every user.
	warnAllUsersRenamed = "all_users_renamed"
)

// groupWriteView is the answer of a group's creation or change: the group and advice about
// its name and priority (the write succeeded either way).
type groupWriteView struct {
	policy.Group
	Warnings []settings.Warning `json:"warnings"`
}

// groupWarnings advises about g as just written (before is the group before a change, the zero
// Group for a creation): priority ties with other groups, All Users taking precedence over
// groups (or over g), and a renamed All Users. A failed listing only drops the advice.
func (s *server) groupWarnings(r *http.Request, g, before policy.Group) []settings.Warning {
	out := []settings.Warning{}
	all, err := s.dir.ListGroups(r.Context())
	if err != nil {
		return out
	}
	slices.SortFunc(all, func(a, b policy.Group) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return strings.Compare(a.ID, b.ID)
	})
	isAllUsers := g.ID == policy.AllUsersGroupID
	var allUsers *policy.Group
	var tied, overridden []policy.Group
	for i, o := range all {
		switch {
		case o.ID == g.ID:
			continue
		case o.ID == policy.AllUsersGroupID:
			allUsers = &all[i]
		}
		if o.Priority == g.Priority {
			tied = append(tied, o)
		}
		if isAllUsers && before.ID != "" && o.Priority > g.Priority && o.Priority <= before.Priority {
			overridden = append(overridden, o)
		}
	}
	names := func(gs []policy.Group) string {
		var b strings.Builder
		for i, o := range gs {
			if i == 5 {
				fmt.Fprintf(&b, " and %d more", len(gs)-i)
				break
			}
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q (%s)", o.Name, o.ID)
		}
		return b.String()
	}
	ids := func(gs []policy.Group) []string {
		out := []string{g.ID}
		for _, o := range gs {
			out = append(out, o.ID)
		}
		return out
	}
	if len(tied) > 0 && g.Priority != before.Priority {
		out = append(out, settings.Warning{Code: warnGroupPriorityTie, Groups: ids(tied), Message: fmt.Sprintf(
			"priority %d is also the priority of %s: for a user in both, the group with the smaller id wins each setting both set; give each group a priority of its own",
			g.Priority, names(tied))})
	}
	if len(overridden) > 0 {
		out = append(out, settings.Warning{Code: warnAllUsersPrecedence, Groups: ids(overridden), Message: fmt.Sprintf(
			"All Users now has priority %d and takes precedence over %s: every user gets All Users' value of each setting it sets, whatever those groups say",
			g.Priority, names(overridden))})
	}
	if !isAllUsers && allUsers != nil && g.Priority > allUsers.Priority && (before.ID == "" || before.Priority <= allUsers.Priority) {
		out = append(out, settings.Warning{Code: warnBelowAllUsers, Groups: []string{g.ID, allUsers.ID}, Message: fmt.Sprintf(
			"priority %d is a larger number than All Users' %d, so All Users' values win over this group's for every setting both set; use a priority below %d for the group to take precedence",
			g.Priority, allUsers.Priority, allUsers.Priority)})
	}
	if isAllUsers && before.ID != "" && g.Name != before.Name {
		out = append(out, settings.Warning{Code: warnAllUsersRenamed, Groups: []string{g.ID}, Message: fmt.Sprintf(
			"the built-in All Users group is now named %q: it is still the group every user belongs to (id %s), and it cannot be deleted",
			g.Name, g.ID)})
	}
	return out
}

func (s *server) handleListGroups(w http.ResponseWriter, r *http.Request) error {
	groups, err := s.dir.ListGroups(r.Context())
	if err != nil {
		return err
	}
	slices.SortFunc(groups, func(a, b policy.Group) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return strings.Compare(a.ID, b.ID)
	})
	if groups == nil {
		groups = []policy.Group{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups})
	return nil
}

func (s *server) handleGetGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.dir.GetGroup(r.Context(), r.PathValue("group_id"))
	if err != nil {
		return err
	}
	setVersionHeader(w, g.Version)
	writeJSON(w, http.StatusOK, g)
	return nil
}

func (s *server) handlePatchGroup(w http.ResponseWriter, r *http.Request) error {
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	var f groupFields
	if err := decodeJSONBody(w, r, &f, true); err != nil {
		return err
	}
	if f.Name == nil && f.Priority == nil && f.Description == nil {
		return policy.Errorf(policy.KindInvalid, policy.CodeEmptyPatch, "give at least one of name, priority, description")
	}
	if err := f.check(); err != nil {
		return err
	}
	// What the group was, for the advice on what changed (a failed read only drops it).
	before, _ := s.dir.GetGroup(r.Context(), r.PathValue("group_id"))
	patch := policy.GroupPatch{Name: f.Name, Priority: f.Priority, Description: f.Description}
	g, err := s.dir.UpdateGroup(r.Context(), r.PathValue("group_id"), patch, version, s.now())
	if err != nil {
		return err
	}
	if before.ID == "" {
		before = g
	}
	setVersionHeader(w, g.Version)
	writeJSON(w, http.StatusOK, groupWriteView{g, s.groupWarnings(r, g, before)})
	return nil
}

func (s *server) handleDeleteGroup(w http.ResponseWriter, r *http.Request) error {
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	id := r.PathValue("group_id")
	if id == policy.AllUsersGroupID {
		return errBuiltinGroup()
	}
	if err := s.dir.DeleteGroup(r.Context(), id, version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func errBuiltinGroup() error {
	return policy.Errorf(policy.KindConflict, policy.CodeBuiltinGroup, "the All Users group cannot be deleted")
}

// groupSettingsView is the answer to every read or write of a group's settings. Warnings are
// the relation warnings of the group's settings as they now stand.
type groupSettingsView struct {
	GroupID  string                     `json:"group_id"`
	Settings map[string]json.RawMessage `json:"settings"`
	Version  int64                      `json:"version"`
	Warnings []settings.Warning         `json:"warnings"`
}

func writeGroupSettings(w http.ResponseWriter, g policy.Group) {
	values := g.Settings
	if values == nil {
		values = map[string]json.RawMessage{}
	}
	warnings := settings.RelationWarnings(func(name string) (json.RawMessage, bool) {
		v, ok := values[name]
		return v, ok
	})
	if warnings == nil {
		warnings = []settings.Warning{}
	}
	setVersionHeader(w, g.Version)
	writeJSON(w, http.StatusOK, groupSettingsView{GroupID: g.ID, Settings: values, Version: g.Version, Warnings: warnings})
}

func (s *server) handleGetGroupSettings(w http.ResponseWriter, r *http.Request) error {
	g, err := s.dir.GetGroup(r.Context(), r.PathValue("group_id"))
	if err != nil {
		return err
	}
	writeGroupSettings(w, g)
	return nil
}

// settingValueBody is the body of PUT /v1/groups/{group_id}/settings/{name}.
type settingValueBody struct {
	Value json.RawMessage `json:"value"`
}

func (s *server) handlePutGroupSetting(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := knownSetting(name); err != nil {
		return err
	}
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	var body settingValueBody
	if err := decodeJSONBody(w, r, &body, true); err != nil {
		return err
	}
	if body.Value == nil {
		return policy.FieldErrorf("value", policy.CodeValueRequired, "give the new value of %s as {\"value\": ...}", name)
	}
	value, err := settings.Validate(name, body.Value)
	if err != nil {
		return err
	}
	change := policy.SettingsChange{Set: map[string]json.RawMessage{name: value}}
	return s.changeSettings(w, r, change, version)
}

func (s *server) handleDeleteGroupSetting(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := knownSetting(name); err != nil {
		return err
	}
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	// A setting the group does not set is not there to delete: 404, and no new version. When
	// If-Match names another version the store answers 412 as for any stale write.
	id := r.PathValue("group_id")
	g, err := s.dir.GetGroup(r.Context(), id)
	if err != nil {
		return err
	}
	if _, set := g.Settings[name]; !set && (version == 0 || version == g.Version) {
		return policy.Errorf(policy.KindNotFound, policy.CodeSettingNotSet, "group %s does not set %s: there is nothing to delete", id, name)
	}
	return s.changeSettings(w, r, policy.SettingsChange{Unset: []string{name}}, version)
}

// settingsPatchBody is the body of PATCH /v1/groups/{group_id}/settings.
type settingsPatchBody struct {
	Set   map[string]json.RawMessage `json:"set"`
	Unset []string                   `json:"unset"`
}

func (s *server) handlePatchGroupSettings(w http.ResponseWriter, r *http.Request) error {
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	var body settingsPatchBody
	if err := decodeJSONBody(w, r, &body, true); err != nil {
		return err
	}
	change, err := checkSettingsPatch(body)
	if err != nil {
		return err
	}
	return s.changeSettings(w, r, change, version)
}

// checkSettingsPatch validates every value and name of a patch, in name order, before anything
// is written: the first problem fails the whole patch.
func checkSettingsPatch(body settingsPatchBody) (policy.SettingsChange, error) {
	if len(body.Set) == 0 && len(body.Unset) == 0 {
		return policy.SettingsChange{}, policy.Errorf(policy.KindInvalid, policy.CodeEmptyPatch, "give settings to change in \"set\" and/or \"unset\"")
	}
	change := policy.SettingsChange{Set: make(map[string]json.RawMessage, len(body.Set))}
	names := make([]string, 0, len(body.Set))
	for name := range body.Set {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := knownSetting(name); err != nil {
			return policy.SettingsChange{}, err
		}
		raw := body.Set[name]
		if raw == nil {
			raw = json.RawMessage("null")
		}
		value, err := settings.Validate(name, raw)
		if err != nil {
			return policy.SettingsChange{}, err
		}
		change.Set[name] = value
	}
	unset := slices.Clone(body.Unset)
	slices.Sort(unset)
	for _, name := range slices.Compact(unset) {
		if err := knownSetting(name); err != nil {
			return policy.SettingsChange{}, err
		}
		if _, both := body.Set[name]; both {
			return policy.SettingsChange{}, policy.FieldErrorf(name, policy.CodeSetAndUnset, "%s is both set and unset", name)
		}
		change.Unset = append(change.Unset, name)
	}
	return change, nil
}

// changeSettings writes a validated change and answers with the group's settings.
func (s *server) changeSettings(w http.ResponseWriter, r *http.Request, change policy.SettingsChange, version int64) error {
	g, err := s.dir.ChangeSettings(r.Context(), r.PathValue("group_id"), change, version, callerOf(r).actor(), s.now())
	if err != nil {
		return err
	}
	writeGroupSettings(w, g)
	return nil
}

// knownSetting fails with a 400 naming the setting when the catalog does not have it.
func knownSetting(name string) error {
	if _, ok := settings.Lookup(name); !ok {
		return policy.FieldErrorf(name, policy.CodeUnknownSetting, "unknown setting %q: see GET /v1/settings", truncateForMessage(name, 80))
	}
	return nil
}

// truncateForMessage shortens s for an error message.
func truncateForMessage(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func (s *server) handleGroupHistory(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("group_id")
	entries, err := s.dir.History(r.Context(), id)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []policy.HistoryEntry{}
	}
	writeJSON(w, http.StatusOK, struct {
		GroupID string                `json:"group_id"`
		History []policy.HistoryEntry `json:"history"`
	}{id, entries})
	return nil
}

func (s *server) handleListMembers(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("group_id")
	members, err := s.dir.ListMembers(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		GroupID string        `json:"group_id"`
		Members []policy.User `json:"members"`
	}{id, userViews(members)})
	return nil
}

// errIfMatchUnsupported refuses If-Match where the write is not versioned, rather than
// silently ignoring a precondition the client relies on.
func errIfMatchUnsupported(r *http.Request) error {
	if r.Header.Get("If-Match") != "" {
		return policy.FieldErrorf("If-Match", policy.CodeIfMatchUnsupported, "membership changes are not versioned: send them without If-Match")
	}
	return nil
}

func (s *server) handleAddMember(w http.ResponseWriter, r *http.Request) error {
	version, err := s.memberIfMatch(r)
	if err != nil {
		return err
	}
	// Adding to All Users changes nothing but still answers 404 for an unknown user.
	if version != 0 {
		err = s.dir.(versionedMembers).AddMemberIfVersion(r.Context(), r.PathValue("group_id"), r.PathValue("user_id"), version, s.now())
	} else {
		err = s.dir.AddMember(r.Context(), r.PathValue("group_id"), r.PathValue("user_id"), s.now())
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) handleRemoveMember(w http.ResponseWriter, r *http.Request) error {
	version, err := s.memberIfMatch(r)
	if err != nil {
		return err
	}
	groupID, userID := r.PathValue("group_id"), r.PathValue("user_id")
	if groupID == policy.AllUsersGroupID {
		return policy.Errorf(policy.KindConflict, policy.CodeAllUsersMembership, "every user is a member of All Users; that membership cannot be removed")
	}
	if version != 0 {
		err = s.dir.(versionedMembers).RemoveMemberIfVersion(r.Context(), groupID, userID, version, s.now())
	} else {
		err = s.dir.RemoveMember(r.Context(), groupID, userID, s.now())
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
