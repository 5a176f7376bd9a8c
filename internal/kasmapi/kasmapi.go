// Package kasmapi speaks Kasm Workspaces' Developer API (POST /api/public/<call> and
// /api/admin/<call>, credentials in the body, Kasm's field names, dates, statuses and error
// texts) over the same services the /v1 API calls: sessions, the directory, usage and the
// Workspaces registry. Limits, permissions, usage, time limits and session events are those
// of the native API because the calls are the native services' calls.
package kasmapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"wspolicy/internal/devkeys"
	"wspolicy/internal/directory"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/workspaces"
)

// Kasm's error texts.
const (
	msgInvalidRequest   = "Invalid Request"
	msgAccessDenied     = "Access Denied"
	msgUnauthorized     = "Unauthorized"
	msgExpired          = "Access has expired"
	msgMissingParams    = "Invalid Request: Missing required parameters"
	msgKasmNotFound     = "Could not find requested Kasm."
	msgNotSupported     = "Requested Kasm does not support feature"
	msgNoDefaultImage   = "No Default Image Found"
	maxBodyBytes        = 1 << 20
	kasmDateLayout      = "2006-01-02 15:04:05.000000"
	serverIDPlaceholder = "wspolicy"
)

// Config is what the adapter needs.
type Config struct {
	Directory  policy.Directory
	Sessions   *sessions.Service
	Workspaces *workspaces.Service
	Keys       *devkeys.Service
	// Users renames users and keeps their Kasm profiles; nil answers update_user and
	// update_user_attributes with 503.
	Users Users
	Clock policy.Clock
}

// Handler serves the Kasm Developer API.
type Handler struct {
	cfg   Config
	dir   *directory.Service
	calls map[string]call
}

// call is one endpoint: the permissions it needs (any one of perms) and its function.
type call struct {
	perms []string
	fn    func(ctx context.Context, k devkeys.Key, b body) (int, any)
}

// NotSupported lists the Kasm Developer API calls wspolicy answers with Kasm's own
// "Requested Kasm does not support feature" (HTTP 200, the key still checked): those that need
// a live desktop, and those of Kasm features wspolicy does not have. docs/kasm-compat.md
// lists each with the reason (TestKasmNotSupportedCalls walks both).
var NotSupported = []string{
	// need the running desktop (KasmVNC) or its agent
	"get_kasm_frame_stats", "get_kasm_bottleneck_stats", "get_kasm_screenshot", "get_rdp_client_connection_info",
	// session sharing and its permissions
	"join_kasm", "request_kasm_join", "get_session_permissions", "set_session_permissions",
	"set_all_session_permissions", "delete_session_permissions", "delete_all_session_permissions",
	// session staging
	"get_staging_configs", "get_staging_config", "create_staging_config", "update_staging_config", "delete_staging_config",
	"get_staged_kasms", "create_staged_kasm", "update_staged_kasm", "delete_staged_kasm",
	// session casting
	"get_cast_configs", "get_cast_config", "create_cast_config", "update_cast_config", "delete_cast_config",
	// recordings and history
	"get_session_recordings", "get_sessions_recordings", "get_session_history",
	// sign-in tokens
	"get_login", "logout_user",
	// image and group administration (the /v1 API does it)
	"create_image", "update_image", "delete_image", "create_group", "update_group", "delete_group",
	// agents, zones, usage detail
	"get_servers", "get_zones", "get_usage_details",
}

// Permissions are the permissions a call needs (any one of them); nil for a call it does not
// implement. A body user_id needs users_auth_session besides.
func (h *Handler) Permissions(call string) []string { return slices.Clone(h.calls[call].perms) }

// Calls lists the calls the adapter implements, as "public/<name>" and "admin/<name>", sorted.
func (h *Handler) Calls() []string {
	out := make([]string, 0, len(h.calls))
	for name := range h.calls {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// New builds the handler.
func New(cfg Config) *Handler {
	if cfg.Clock == nil {
		cfg.Clock = policy.SystemClock{}
	}
	h := &Handler{cfg: cfg, dir: directory.New(cfg.Directory, cfg.Clock)}
	if cfg.Sessions != nil {
		h.dir = h.dir.WithSessions(cfg.Sessions)
	}
	h.calls = map[string]call{
		"public/request_kasm":           {[]string{devkeys.PermSessionsModify}, h.requestKasm},
		"public/get_kasm_status":        {[]string{devkeys.PermSessionsView}, h.getKasmStatus},
		"public/keepalive":              {[]string{devkeys.PermSessionsModify}, h.keepalive},
		"public/destroy_kasm":           {[]string{devkeys.PermSessionsModify, devkeys.PermSessionsDelete}, h.action(lifecycle.OpDelete)},
		"public/pause_kasm":             {[]string{devkeys.PermSessionsModify}, h.action(lifecycle.OpPause)},
		"public/stop_kasm":              {[]string{devkeys.PermSessionsModify}, h.action(lifecycle.OpStop)},
		"public/resume_kasm":            {[]string{devkeys.PermSessionsModify}, h.action(lifecycle.OpResume)},
		"public/get_kasms":              {[]string{devkeys.PermSessionsView}, h.getKasms},
		"public/exec_command_kasm":      {[]string{devkeys.PermSessionsModify}, h.execCommand},
		"public/get_user":               {[]string{devkeys.PermUsersView}, h.getUser},
		"public/get_users":              {[]string{devkeys.PermUsersView}, h.getUsers},
		"public/create_user":            {[]string{devkeys.PermUsersCreate}, h.createUser},
		"public/update_user":            {[]string{devkeys.PermUsersModify}, h.updateUser},
		"public/delete_user":            {[]string{devkeys.PermUsersDelete}, h.deleteUser},
		"public/get_attributes":         {[]string{devkeys.PermUsersView}, h.getAttributes},
		"public/update_user_attributes": {[]string{devkeys.PermUsersModify}, h.updateUserAttributes},
		"public/add_user_group":         {[]string{devkeys.PermUsersModify, devkeys.PermGroupsModify}, h.userGroup(true)},
		"public/remove_user_group":      {[]string{devkeys.PermUsersModify, devkeys.PermGroupsModify}, h.userGroup(false)},
		"public/get_groups":             {[]string{devkeys.PermGroupsView}, h.getGroups},
		"public/get_images":             {[]string{devkeys.PermImagesView}, h.getImages},
		"public/get_usage_summary":      {[]string{devkeys.PermUsersView}, h.getUsageSummary},
		"admin/get_settings_group":      {[]string{devkeys.PermGroupsView, devkeys.PermGroupSettingsModify}, h.getSettingsGroup},
		"admin/add_settings_group":      {[]string{devkeys.PermGroupSettingsModify}, h.setSettingGroup},
		"admin/update_settings_group":   {[]string{devkeys.PermGroupSettingsModify}, h.setSettingGroup},
		"admin/delete_settings_group":   {[]string{devkeys.PermGroupSettingsModify}, h.deleteSettingGroup},
	}
	return h
}

// body is a decoded request body.
type body map[string]json.RawMessage

func (b body) str(name string) string {
	var s string
	if raw, ok := b[name]; ok {
		if json.Unmarshal(raw, &s) != nil {
			var n json.Number
			if json.Unmarshal(raw, &n) == nil {
				return n.String()
			}
		}
	}
	return strings.TrimSpace(s)
}

func (b body) obj(name string) body {
	var o body
	if raw, ok := b[name]; ok {
		_ = json.Unmarshal(raw, &o)
	}
	return o
}

func (b body) boolean(name string) bool {
	var v bool
	if raw, ok := b[name]; ok {
		if json.Unmarshal(raw, &v) != nil {
			s := strings.ToLower(b.str(name))
			v = s == "true" || s == "1"
		}
	}
	return v
}

func errMsg(status int, msg string) (int, any) {
	return status, map[string]string{"error_message": msg}
}

// ServeHTTP authenticates the body's credentials and dispatches the call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, v := h.serve(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) serve(r *http.Request) (int, any) {
	name := path.Base(path.Dir(r.URL.Path)) + "/" + path.Base(r.URL.Path)
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil || len(raw) > maxBodyBytes {
		return errMsg(http.StatusBadRequest, msgInvalidRequest)
	}
	var b body
	if len(strings.TrimSpace(string(raw))) > 0 && json.Unmarshal(raw, &b) != nil {
		return errMsg(http.StatusBadRequest, msgInvalidRequest)
	}
	if b == nil {
		b = body{}
	}
	apiKey, secret := b.str("api_key"), b.str("api_key_secret")
	if apiKey == "" {
		apiKey = r.Header.Get("api-key")
	}
	if secret == "" {
		secret = r.Header.Get("api-key-secret")
	}
	if apiKey == "" || secret == "" {
		return errMsg(http.StatusBadRequest, msgInvalidRequest)
	}
	k, found, err := h.cfg.Keys.Verify(r.Context(), apiKey, secret)
	if err != nil {
		return errMsg(http.StatusServiceUnavailable, "Service Unavailable")
	}
	if !found {
		return errMsg(http.StatusForbidden, msgAccessDenied)
	}
	if k.Expired(h.cfg.Clock.Now()) {
		return errMsg(http.StatusUnauthorized, msgExpired)
	}
	c, ok := h.calls[name]
	if !ok {
		if slices.Contains(NotSupported, path.Base(r.URL.Path)) {
			return errMsg(http.StatusOK, msgNotSupported)
		}
		return errMsg(http.StatusNotFound, "Not Found")
	}
	if !slices.ContainsFunc(c.perms, k.Has) {
		return errMsg(http.StatusUnauthorized, msgUnauthorized)
	}
	// Acting as another user (a body user_id) needs Users Auth Session, as in Kasm.
	if b.str("user_id") != "" && !k.Has(devkeys.PermUsersAuthSession) {
		return errMsg(http.StatusUnauthorized, msgUnauthorized)
	}
	return c.fn(r.Context(), k, b)
}

// date is Kasm's date form: naive UTC, Python's str(datetime).
func date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(kasmDateLayout)
}

func (h *Handler) now() string { return h.cfg.Clock.Now().UTC().Format(kasmDateLayout) }

// actingUser checks a body's user_id: the user must exist (400 "Invalid user_id (…)").
func (h *Handler) actingUser(ctx context.Context, userID string) (policy.User, int, any) {
	u, err := h.cfg.Directory.GetUser(ctx, userID)
	if err != nil {
		if policy.IsKind(err, policy.KindNotFound) {
			s, v := errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid user_id (%s)", userID))
			return policy.User{}, s, v
		}
		s, v := internalError(err)
		return policy.User{}, s, v
	}
	return u, 0, nil
}

func internalError(err error) (int, any) {
	if policy.IsKind(err, policy.KindUnavailable) {
		return errMsg(http.StatusServiceUnavailable, "Service Unavailable")
	}
	if policy.IsKind(err, policy.KindInvalid) {
		return errMsg(http.StatusBadRequest, err.Error())
	}
	return errMsg(http.StatusInternalServerError, "Internal Error")
}

func kasmURL(kasmID, userID, token string) string {
	return fmt.Sprintf("/#/connect/kasm/%s/%s/%s", kasmID, userID, token)
}

// sessionToken is the token of a session's kasm_url: wspolicy has no separate session token,
// so it is the session id (a client only passes it back in the URL).
func sessionToken(s sessions.Session) string { return s.SessionID }

func (h *Handler) requestKasm(ctx context.Context, k devkeys.Key, b body) (int, any) {
	userID := b.str("user_id")
	if userID == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	if !k.Has(devkeys.PermUsersAuthSession) {
		return errMsg(http.StatusUnauthorized, msgUnauthorized)
	}
	u, st, v := h.actingUser(ctx, userID)
	if st != 0 {
		return st, v
	}
	sess, _, err := h.cfg.Sessions.StartOrReuse(ctx, sessions.StartRequest{UserID: userID, ImageID: b.str("image_id"), Container: true})
	if err != nil {
		switch policy.CodeOf(err) {
		case policy.CodeMaxSessionsReached:
			return errMsg(http.StatusOK, fmt.Sprintf("Kasm limit exceeded for user: (%s)", u.Username))
		case policy.CodeUsageLimitReached:
			return errMsg(http.StatusOK, fmt.Sprintf("Usage limit exceeded for user: (%s)", u.Username))
		case "no_default_image":
			return errMsg(http.StatusOK, msgNoDefaultImage)
		case policy.CodeWorkspaceNotFound, policy.CodeWorkspaceDisabled, policy.CodeWorkspaceNotAllowed, policy.CodeInvalidImageID:
			return errMsg(http.StatusOK, messageOf(err))
		case policy.CodeUserNotFound:
			return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid user_id (%s)", userID))
		}
		return internalError(err)
	}
	return http.StatusOK, map[string]any{
		"kasm_id": sess.SessionID, "status": "starting", "user_id": userID, "username": u.Username,
		"session_token": sessionToken(sess), "kasm_url": kasmURL(sess.SessionID, userID, sessionToken(sess)),
		"share_id": nil,
	}
}

// kasmObject renders a session in Kasm's kasm shape.
func (h *Handler) kasmObject(ctx context.Context, s sessions.Session) map[string]any {
	img := map[string]any{"image_id": s.ImageID, "name": s.ImageID, "friendly_name": s.ImageID,
		"image_src": "", "session_time_limit": nil, "categories": []string{}, "image_type": "Container"}
	cores, memory := any(nil), any(nil)
	if h.cfg.Workspaces != nil {
		if w, err := h.cfg.Workspaces.Get(ctx, s.ImageID); err == nil {
			img["name"], img["friendly_name"], img["categories"] = w.ImageID, w.FriendlyName, w.Categories
			if w.SessionTimeLimit > 0 {
				img["session_time_limit"] = w.SessionTimeLimit
			}
			cores, memory = w.Cores, w.Memory
		}
	}
	if !s.Container {
		img["image_type"] = "Server"
	}
	var cs any
	if len(s.ClientSettings) > 0 {
		cs = s.ClientSettings
	}
	return map[string]any{
		"kasm_id": s.SessionID, "user_id": s.UserID, "image_id": s.ImageID, "server_id": serverIDPlaceholder,
		"start_date": date(s.CreatedAt), "created_date": date(s.CreatedAt),
		"keepalive_date": date(s.LastKeepaliveAt), "expiration_date": date(s.ExpiresAt),
		"operational_status": s.Status, "operational_message": "", "operational_progress": 100,
		"container_id": nil, "container_ip": nil, "hostname": nil, "host": nil, "port": nil, "port_map": map[string]any{},
		"token": sessionToken(s), "view_only_token": nil, "share_id": nil,
		"cores": cores, "memory": memory, "gpus": 0,
		"is_persistent_profile": false, "persistent_profile_mode": nil,
		"client_settings": cs, "image": img,
	}
}

// sessionFor reads a session for a call that names kasm_id (and maybe user_id): found false
// when it does not exist, is deleted, or belongs to another user than user_id.
func (h *Handler) sessionFor(ctx context.Context, b body) (sessions.Session, bool, error) {
	id := b.str("kasm_id")
	actor := lifecycle.AdminActor()
	if u := b.str("user_id"); u != "" {
		actor = lifecycle.UserActor(u)
	}
	s, err := h.cfg.Sessions.Get(ctx, actor, id)
	switch {
	case policy.IsKind(err, policy.KindNotFound), policy.IsKind(err, policy.KindForbidden), policy.IsKind(err, policy.KindGone), policy.IsKind(err, policy.KindInvalid):
		return sessions.Session{}, false, nil
	case err != nil:
		return sessions.Session{}, false, err
	}
	return s, s.Status != string(lifecycle.StatusDeleted), nil
}

func (h *Handler) getKasmStatus(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	if b.str("kasm_id") == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	s, found, err := h.sessionFor(ctx, b)
	if err != nil {
		return internalError(err)
	}
	if !found {
		return errMsg(http.StatusOK, msgKasmNotFound)
	}
	return http.StatusOK, map[string]any{
		"kasm": h.kasmObject(ctx, s), "current_time": h.now(),
		"kasm_url": kasmURL(s.SessionID, s.UserID, sessionToken(s)),
	}
}

func (h *Handler) keepalive(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	id := b.str("kasm_id")
	if id == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	// With a user_id, as that user: the same single conditional write, owner included.
	actor := lifecycle.AdminActor()
	if u := b.str("user_id"); u != "" {
		actor = lifecycle.UserActor(u)
	}
	r, err := h.cfg.Sessions.Keepalive(ctx, actor, id, nil)
	switch {
	case policy.IsKind(err, policy.KindGone):
		return errMsg(http.StatusOK, fmt.Sprintf("Kasm (%s) is currently scheduled to be deleted. Can not honor keepalive request", id))
	case policy.IsKind(err, policy.KindNotFound), policy.IsKind(err, policy.KindForbidden):
		return errMsg(http.StatusOK, msgKasmNotFound)
	case policy.IsKind(err, policy.KindConflict):
		return errMsg(http.StatusOK, fmt.Sprintf("Kasm (%s) is not running. Can not honor keepalive request", id))
	case err != nil:
		return internalError(err)
	}
	if r.UsageReached {
		return http.StatusOK, map[string]any{"usage_reached": true}
	}
	if r.TimeLimitExpiresAt != nil {
		return http.StatusOK, map[string]any{}
	}
	return http.StatusOK, map[string]any{"usage_reached": false}
}

// action is destroy/pause/stop/resume: for the user of user_id (their permissions, such as
// allow_kasm_delete, apply) unless the key has Sessions Delete (destroy) — then as an admin.
func (h *Handler) action(op lifecycle.Op) func(ctx context.Context, k devkeys.Key, b body) (int, any) {
	return func(ctx context.Context, k devkeys.Key, b body) (int, any) {
		id := b.str("kasm_id")
		if id == "" {
			return errMsg(http.StatusBadRequest, msgMissingParams)
		}
		if op == lifecycle.OpDelete && !k.Has(devkeys.PermSessionsModify) && !k.Has(devkeys.PermSessionsDelete) {
			return errMsg(http.StatusUnauthorized, msgUnauthorized)
		}
		actor := lifecycle.AdminActor()
		if u := b.str("user_id"); u != "" && !(op == lifecycle.OpDelete && k.Has(devkeys.PermSessionsDelete)) {
			actor = lifecycle.UserActor(u)
		}
		var err error
		switch op {
		case lifecycle.OpDelete:
			_, err = h.cfg.Sessions.Delete(ctx, actor, id)
		case lifecycle.OpPause:
			_, err = h.cfg.Sessions.Pause(ctx, actor, id)
		case lifecycle.OpStop:
			_, err = h.cfg.Sessions.Stop(ctx, actor, id)
		case lifecycle.OpResume:
			_, err = h.cfg.Sessions.Resume(ctx, actor, id)
		}
		switch {
		case err == nil:
			return http.StatusOK, map[string]any{}
		case policy.IsKind(err, policy.KindNotFound):
			return errMsg(http.StatusOK, msgKasmNotFound)
		case policy.IsKind(err, policy.KindGone):
			return errMsg(http.StatusOK, fmt.Sprintf("Kasm (%s) is currently scheduled to be deleted.", id))
		case policy.IsKind(err, policy.KindForbidden), policy.IsKind(err, policy.KindConflict):
			return errMsg(http.StatusOK, messageOf(err))
		}
		return internalError(err)
	}
}

// execCommand forwards exec_config to the provisioning layer as an exec_command session
// event (wspolicy runs no containers): as the user of user_id when given, else as an
// administrator. Kasm answers the kasm and no output; so does wspolicy.
func (h *Handler) execCommand(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	id := b.str("kasm_id")
	raw, ok := b["exec_config"]
	if id == "" || !ok {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	var cfg lifecycle.ExecConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return errMsg(http.StatusBadRequest, msgInvalidRequest+": exec_config: "+err.Error())
	}
	if cfg.Cmd == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	actor := lifecycle.AdminActor()
	if u := b.str("user_id"); u != "" {
		actor = lifecycle.UserActor(u)
	}
	sess, _, err := h.cfg.Sessions.Exec(ctx, actor, id, cfg)
	switch {
	case err == nil:
		return http.StatusOK, map[string]any{"kasm": h.kasmObject(ctx, sess), "current_time": h.now()}
	case policy.IsKind(err, policy.KindNotFound), policy.IsKind(err, policy.KindForbidden):
		return errMsg(http.StatusOK, msgKasmNotFound)
	case policy.IsKind(err, policy.KindGone):
		return errMsg(http.StatusOK, fmt.Sprintf("Kasm (%s) is currently scheduled to be deleted.", id))
	case policy.CodeOf(err) == policy.CodeUnsupportedType:
		return errMsg(http.StatusOK, msgNotSupported)
	case policy.IsKind(err, policy.KindConflict):
		return errMsg(http.StatusOK, fmt.Sprintf("Kasm (%s) is not running.", id))
	case policy.IsKind(err, policy.KindInvalid):
		return errMsg(http.StatusBadRequest, msgInvalidRequest+": "+messageOf(err))
	}
	return internalError(err)
}

func (h *Handler) getKasms(ctx context.Context, _ devkeys.Key, _ body) (int, any) {
	users, err := h.cfg.Directory.ListUsers(ctx)
	if err != nil {
		return internalError(err)
	}
	names := map[string]string{}
	for _, u := range users {
		names[u.ID] = u.Username
	}
	out := []map[string]any{}
	f := lifecycle.ListFilter{Limit: lifecycle.MaxPageSize}
	for {
		p, err := h.cfg.Sessions.List(ctx, lifecycle.AdminActor(), f)
		if err != nil {
			return internalError(err)
		}
		for _, s := range p.Sessions {
			if s.Status == string(lifecycle.StatusDeleted) {
				continue
			}
			o := h.kasmObject(ctx, s)
			o["user"] = map[string]any{"username": names[s.UserID]}
			o["server"] = map[string]any{"hostname": nil, "port": nil, "provider": "wspolicy", "zone_name": "default"}
			out = append(out, o)
		}
		if p.NextPageToken == "" {
			break
		}
		f.PageToken = p.NextPageToken
	}
	return http.StatusOK, map[string]any{"kasms": out, "current_time": h.now()}
}

// targetUser finds the user of target_user {user_id | username} (400 when absent or unknown).
func (h *Handler) targetUser(ctx context.Context, b body) (policy.User, int, any) {
	t := b.obj("target_user")
	id, name := t.str("user_id"), t.str("username")
	if id == "" && name == "" {
		s, v := errMsg(http.StatusBadRequest, msgMissingParams)
		return policy.User{}, s, v
	}
	if id != "" {
		return h.actingUser(ctx, id)
	}
	users, err := h.cfg.Directory.ListUsers(ctx)
	if err != nil {
		s, v := internalError(err)
		return policy.User{}, s, v
	}
	for _, u := range users {
		if policy.NameKey(u.Username) == policy.NameKey(name) {
			return h.actingUser(ctx, u.ID) // the listing holds no profile: read the user
		}
	}
	s, v := errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid username (%s)", name))
	return policy.User{}, s, v
}

func (h *Handler) deleteUser(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	u, st, v := h.targetUser(ctx, b)
	if st != 0 {
		return st, v
	}
	if !b.boolean("force") {
		p, err := h.cfg.Sessions.List(ctx, lifecycle.AdminActor(), lifecycle.ListFilter{UserID: u.ID, Limit: lifecycle.MaxPageSize})
		if err != nil {
			return internalError(err)
		}
		for _, s := range p.Sessions {
			if s.Status != string(lifecycle.StatusDeleted) {
				return errMsg(http.StatusBadRequest, "Unable to delete user. The user has active sessions. Use force to delete anyway")
			}
		}
	}
	// The directory service deletes the user and ends their sessions; the user was found above,
	// so not found means a concurrent deletion finished first.
	if err := h.dir.DeleteUser(ctx, u.ID, nil); err != nil && !policy.IsKind(err, policy.KindNotFound) {
		return internalError(err)
	}
	return http.StatusOK, map[string]any{}
}

func (h *Handler) userGroup(add bool) func(ctx context.Context, k devkeys.Key, b body) (int, any) {
	return func(ctx context.Context, _ devkeys.Key, b body) (int, any) {
		u, st, v := h.targetUser(ctx, b)
		if st != 0 {
			return st, v
		}
		gid := b.obj("target_group").str("group_id")
		if gid == "" {
			return errMsg(http.StatusBadRequest, msgMissingParams)
		}
		var err error
		if add {
			err = h.dir.AddMember(ctx, gid, u.ID, 0)
		} else {
			err = h.dir.RemoveMember(ctx, gid, u.ID, 0)
		}
		switch {
		case err == nil:
			return http.StatusOK, map[string]any{}
		case policy.CodeOf(err) == policy.CodeGroupNotFound:
			return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid group_id (%s)", gid))
		case policy.IsKind(err, policy.KindNotFound), policy.IsKind(err, policy.KindInvalid), policy.IsKind(err, policy.KindConflict), policy.IsKind(err, policy.KindForbidden):
			return errMsg(http.StatusBadRequest, messageOf(err))
		}
		return internalError(err)
	}
}

func (h *Handler) getGroups(ctx context.Context, _ devkeys.Key, _ body) (int, any) {
	gs, err := h.cfg.Directory.ListGroups(ctx)
	if err != nil {
		return internalError(err)
	}
	out := make([]map[string]any, 0, len(gs))
	for _, g := range gs {
		out = append(out, map[string]any{"group_id": g.ID, "name": g.Name, "description": g.Description,
			"priority": g.Priority, "is_system": g.ID == policy.AllUsersGroupID})
	}
	return http.StatusOK, map[string]any{"groups": out}
}

func (h *Handler) getImages(ctx context.Context, _ devkeys.Key, _ body) (int, any) {
	if h.cfg.Workspaces == nil {
		return http.StatusOK, map[string]any{"images": []any{}}
	}
	ws, err := h.cfg.Workspaces.List(ctx)
	if err != nil {
		return internalError(err)
	}
	out := make([]map[string]any, 0, len(ws))
	for _, w := range ws {
		var limit any
		if w.SessionTimeLimit > 0 {
			limit = w.SessionTimeLimit
		}
		typ := "Container"
		if !w.Container {
			typ = "Server"
		}
		out = append(out, map[string]any{"image_id": w.WorkspaceID, "name": w.ImageID, "friendly_name": w.FriendlyName,
			"description": w.Description, "image_src": "", "enabled": w.Enabled, "available": w.Enabled,
			"cores": w.Cores, "memory": w.Memory, "session_time_limit": limit, "categories": w.Categories,
			"image_type": typ, "run_config": w.RunConfig, "persistent_profile_path": w.PersistentProfilePath})
	}
	return http.StatusOK, map[string]any{"images": out}
}

func (h *Handler) getUsageSummary(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	userID := b.str("user_id")
	if userID == "" {
		userID = b.obj("target_user").str("user_id")
	}
	if userID == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	if _, st, v := h.actingUser(ctx, userID); st != 0 {
		return st, v
	}
	rep, err := h.cfg.Sessions.Usage(ctx, lifecycle.AdminActor(), userID)
	if err != nil {
		return internalError(err)
	}
	limited := rep.HoursRemaining != nil
	o := map[string]any{"usage_limit": limited, "usage_limit_remaining": nil, "usage_limit_type": nil,
		"usage_limit_interval": nil, "usage_limit_hours": nil, "usage_limit_start_date": nil, "usage_limit_next_start_date": nil}
	if limited {
		o["usage_limit_remaining"] = *rep.HoursRemaining
		o["usage_limit_type"] = rep.Limit.Type
		o["usage_limit_interval"] = rep.Limit.Interval
		o["usage_limit_hours"] = rep.Limit.Hours
		if rep.WindowStart != nil {
			o["usage_limit_start_date"] = date(*rep.WindowStart)
		}
		if rep.WindowEnd != nil {
			o["usage_limit_next_start_date"] = date(*rep.WindowEnd)
		}
	}
	return http.StatusOK, o
}

// settingRows renders a group's settings in Kasm's shape: values as text.
func settingRows(g policy.Group) []map[string]any {
	out := []map[string]any{}
	names := make([]string, 0, len(g.Settings))
	for n := range g.Settings {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		st, _ := settings.Lookup(n)
		out = append(out, map[string]any{"group_setting_id": n, "group_id": g.ID, "name": n,
			"value": textValue(g.Settings[n]), "description": st.Description, "value_type": string(st.Type)})
	}
	return out
}

// textValue is a JSON value as Kasm's text: strings bare, everything else as JSON text.
func textValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// FromText converts a Kasm text value to JSON with the catalog's type of the setting.
func FromText(name, text string) (json.RawMessage, error) {
	st, ok := settings.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown setting %q", name)
	}
	t := strings.TrimSpace(text)
	switch st.Type {
	case settings.TypeBool:
		b, err := strconv.ParseBool(strings.ToLower(t))
		if err != nil {
			return nil, fmt.Errorf("%s takes true or false, not %q", name, text)
		}
		return json.Marshal(b)
	case settings.TypeInt, settings.TypeNumber:
		if _, err := strconv.ParseFloat(t, 64); err != nil {
			return nil, fmt.Errorf("%s takes a number, not %q", name, text)
		}
		return json.RawMessage(t), nil
	case settings.TypeObject:
		if !json.Valid([]byte(t)) {
			return nil, fmt.Errorf("%s takes JSON text", name)
		}
		return json.RawMessage(t), nil
	}
	return json.Marshal(text)
}

func (h *Handler) targetGroup(ctx context.Context, b body) (policy.Group, int, any) {
	gid := b.obj("target_group").str("group_id")
	if gid == "" {
		s, v := errMsg(http.StatusBadRequest, msgMissingParams)
		return policy.Group{}, s, v
	}
	g, err := h.cfg.Directory.GetGroup(ctx, gid)
	if err != nil {
		if policy.IsKind(err, policy.KindNotFound) {
			s, v := errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid group_id (%s)", gid))
			return policy.Group{}, s, v
		}
		s, v := internalError(err)
		return policy.Group{}, s, v
	}
	return g, 0, nil
}

func (h *Handler) getSettingsGroup(ctx context.Context, _ devkeys.Key, b body) (int, any) {
	g, st, v := h.targetGroup(ctx, b)
	if st != 0 {
		return st, v
	}
	return http.StatusOK, map[string]any{"settings": settingRows(g)}
}

// settingNameOf is the setting a target_setting names: Kasm's group_setting_id, or name.
func settingNameOf(ts body) string {
	if name := ts.str("group_setting_id"); name != "" {
		return name
	}
	return ts.str("name")
}

func (h *Handler) setSettingGroup(ctx context.Context, k devkeys.Key, b body) (int, any) {
	g, st, v := h.targetGroup(ctx, b)
	if st != 0 {
		return st, v
	}
	ts := b.obj("target_setting")
	name := settingNameOf(ts)
	if name == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	raw, ok := ts["value"]
	if !ok {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	val := raw
	var text string
	if json.Unmarshal(raw, &text) == nil {
		conv, err := FromText(name, text)
		if err != nil {
			return errMsg(http.StatusBadRequest, "Invalid setting value: "+err.Error())
		}
		val = conv
	}
	valid, err := settings.Validate(name, val)
	if err != nil {
		return errMsg(http.StatusBadRequest, "Invalid setting value: "+messageOf(err))
	}
	g, err = h.dir.ChangeSettings(ctx, g.ID, policy.SettingsChange{Set: map[string]json.RawMessage{name: valid}}, 0, "developer_key:"+k.KeyID)
	if err != nil {
		if policy.IsKind(err, policy.KindInvalid) || policy.IsKind(err, policy.KindNotFound) {
			return errMsg(http.StatusBadRequest, messageOf(err))
		}
		return internalError(err)
	}
	return http.StatusOK, map[string]any{"settings": settingRows(g)}
}

func (h *Handler) deleteSettingGroup(ctx context.Context, k devkeys.Key, b body) (int, any) {
	g, st, v := h.targetGroup(ctx, b)
	if st != 0 {
		return st, v
	}
	ts := b.obj("target_setting")
	name := settingNameOf(ts)
	if name == "" {
		return errMsg(http.StatusBadRequest, msgMissingParams)
	}
	if _, ok := g.Settings[name]; !ok {
		return errMsg(http.StatusBadRequest, fmt.Sprintf("Invalid group_setting_id (%s)", name))
	}
	_, err := h.dir.ChangeSettings(ctx, g.ID, policy.SettingsChange{Unset: []string{name}}, 0, "developer_key:"+k.KeyID)
	if err != nil {
		return internalError(err)
	}
	return http.StatusOK, map[string]any{}
}

// messageOf is the message of the first *policy.Error in err's chain, else err's text.
func messageOf(err error) string {
	var pe *policy.Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return err.Error()
}
