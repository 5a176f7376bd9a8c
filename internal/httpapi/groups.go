package httpapi

import (
	"encoding/json"
	"net/http"

	"wspolicy/internal/directory"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
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

func (s *server) handleCreateGroup(w http.ResponseWriter, r *http.Request) error {
	var f groupFields
	if err := decodeJSONBody(w, r, &f, true); err != nil {
		return err
	}
	if f.Name == nil {
		return policy.FieldErrorf("name", policy.CodeInvalidName, "name is required")
	}
	in := directory.NewGroup{Name: *f.Name, Priority: f.Priority}
	if f.Description != nil {
		in.Description = *f.Description
	}
	created, err := s.directory.CreateGroup(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", groupPath(created.ID))
	setVersionHeader(w, created.Version)
	writeJSON(w, http.StatusCreated, groupWriteView{created, s.directory.GroupWarnings(r.Context(), created, policy.Group{})})
	return nil
}

// groupWriteView is the answer of a group's creation or change: the group and advice about
// its name and priority (the write succeeded either way).
type groupWriteView struct {
	policy.Group
	Warnings []settings.Warning `json:"warnings"`
}

func (s *server) handleListGroups(w http.ResponseWriter, r *http.Request) error {
	groups, err := s.directory.ListGroups(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups})
	return nil
}

func (s *server) handleGetGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.directory.GetGroup(r.Context(), r.PathValue("group_id"))
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
	patch := policy.GroupPatch{Name: f.Name, Priority: f.Priority, Description: f.Description}
	g, before, err := s.directory.UpdateGroup(r.Context(), r.PathValue("group_id"), patch, version)
	if err != nil {
		return err
	}
	setVersionHeader(w, g.Version)
	writeJSON(w, http.StatusOK, groupWriteView{g, s.directory.GroupWarnings(r.Context(), g, before)})
	return nil
}

func (s *server) handleDeleteGroup(w http.ResponseWriter, r *http.Request) error {
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	if err := s.directory.DeleteGroup(r.Context(), r.PathValue("group_id"), version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
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
	g, err := s.directory.GetGroup(r.Context(), r.PathValue("group_id"))
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
	if err := directory.KnownSetting(name); err != nil {
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
	value, err := directory.CheckSettingValue(name, body.Value)
	if err != nil {
		return err
	}
	change := policy.SettingsChange{Set: map[string]json.RawMessage{name: value}}
	return s.changeSettings(w, r, change, version)
}

func (s *server) handleDeleteGroupSetting(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := directory.KnownSetting(name); err != nil {
		return err
	}
	version, err := ifMatchVersion(r)
	if err != nil {
		return err
	}
	g, err := s.directory.UnsetSetting(r.Context(), r.PathValue("group_id"), name, version, callerOf(r).actor())
	if err != nil {
		return err
	}
	writeGroupSettings(w, g)
	return nil
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
	change, err := directory.CheckSettingsChange(body.Set, body.Unset)
	if err != nil {
		return err
	}
	return s.changeSettings(w, r, change, version)
}

// changeSettings writes a validated change and answers with the group's settings.
func (s *server) changeSettings(w http.ResponseWriter, r *http.Request, change policy.SettingsChange, version int64) error {
	g, err := s.directory.ChangeSettings(r.Context(), r.PathValue("group_id"), change, version, callerOf(r).actor())
	if err != nil {
		return err
	}
	writeGroupSettings(w, g)
	return nil
}

func (s *server) handleGroupHistory(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("group_id")
	entries, err := s.directory.History(r.Context(), id)
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
	members, err := s.directory.ListMembers(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		GroupID string        `json:"group_id"`
		Members []policy.User `json:"members"`
	}{id, members})
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
	if err := s.directory.AddMember(r.Context(), r.PathValue("group_id"), r.PathValue("user_id"), version); err != nil {
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
	if err := s.directory.RemoveMember(r.Context(), r.PathValue("group_id"), r.PathValue("user_id"), version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
