// Package sessions is the session service the HTTP API and the sweeps call: it resolves a
// user's settings when a session starts or a user acts, applies the lifecycle rules, and
// writes through a store. It knows no AWS type.
package sessions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"
	"unicode"

	"wspolicy/internal/countdown"
	"wspolicy/internal/directory"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/metrics"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
	"wspolicy/internal/usage"
	"wspolicy/internal/workspaces"
)

// Store keeps sessions, their events and the budgets' ledgers; ddbstore.SessionStore
// implements it.
type Store interface {
	StartCharged(ctx context.Context, s lifecycle.Session, created lifecycle.Event, b usage.Budget) (lifecycle.Session, error)
	GetSession(ctx context.Context, sessionID string) (lifecycle.Session, error)
	ListSessions(ctx context.Context, f lifecycle.ListFilter) (lifecycle.Page, error)
	KeepaliveStore
	Events(ctx context.Context, sessionID string) ([]lifecycle.Event, error)
	StorageMappingStore
}

// Config holds what a Service needs.
type Config struct {
	Store Store
	// Directory is where the service reads users and their groups: the directory service.
	Directory directory.UsersAndGroups
	Clock     policy.Clock
	// NewID makes session ids; nil means policy.NewID("s").
	NewID func() string
	// Countdowns runs the time-limit countdowns: started when a time-limited session starts,
	// stopped when a user or an administrator deletes it earlier. Nil means none (the sweep
	// still deletes time-limited sessions at their limit, within one sweep period).
	Countdowns countdown.Timer
	// Logger receives countdown failures (which do not fail the request); nil discards.
	Logger *slog.Logger
	// Workspaces is the Workspaces registry (issue 15): once any workspace is registered, a
	// start names one the user may launch. Nil means image ids are free strings.
	Workspaces WorkspaceReader
}

// Service runs the session lifecycle.
type Service struct {
	store Store
	dir   directory.UsersAndGroups
	clock policy.Clock
	newID func() string

	countdowns countdown.Timer
	log        *slog.Logger
	workspaces WorkspaceReader
}

// New returns a Service; a nil Clock is the system clock.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, dir: cfg.Directory, clock: cfg.Clock, newID: cfg.NewID,
		countdowns: cfg.Countdowns, log: cfg.Logger, workspaces: cfg.Workspaces}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.clock == nil {
		s.clock = policy.SystemClock{}
	}
	if s.newID == nil {
		s.newID = func() string { return policy.NewID("s") }
	}
	return s
}

// maxIdleSeconds caps a reported idle time (a year is idle enough for any idle_disconnect).
const maxIdleSeconds = 366 * 24 * 3600

// maxImageIDLength bounds an image id.
const maxImageIDLength = 256

// Session is a session as the API shows it. Times are RFC 3339 UTC; time_limit_expires_at
// and expiration_reason are null when there is none. client_settings and launch are present
// on a single session (start, get, actions) and left out of listings, which read indexes that
// do not hold them.
type Session struct {
	SessionID          string     `json:"session_id"`
	UserID             string     `json:"user_id"`
	ImageID            string     `json:"image_id"`
	Status             string     `json:"status"`
	Container          bool       `json:"container"`
	Connected          bool       `json:"connected"`
	CreatedAt          time.Time  `json:"created_at"`
	ExpiresAt          time.Time  `json:"expires_at"`
	KeepaliveInterval  int64      `json:"keepalive_interval"`
	ExpirationAction   string     `json:"expiration_action"`
	TimeLimitExpiresAt *time.Time `json:"time_limit_expires_at"`
	LastKeepaliveAt    time.Time  `json:"last_keepalive_at"`
	ExpirationReason   *string    `json:"expiration_reason"`
	// TimeLimitSource says whose session_time_limit applied ("workspace" or "user") to a
	// session of a registered workspace that has one; absent otherwise and in listings.
	TimeLimitSource string          `json:"time_limit_source,omitempty"`
	ClientSettings  json.RawMessage `json:"client_settings,omitempty"`
	Launch          json.RawMessage `json:"launch,omitempty"`
}

// View renders a stored session for the API. expiration_action is the action that applies to
// this session (delete for a non-container session whatever the setting says).
func View(s lifecycle.Session) Session {
	v := Session{
		SessionID:          s.ID,
		UserID:             s.UserID,
		ImageID:            s.ImageID,
		Status:             string(s.Status),
		Container:          s.Container,
		Connected:          s.Connected,
		CreatedAt:          s.CreatedAt.UTC(),
		ExpiresAt:          s.ExpiresAt.UTC(),
		KeepaliveInterval:  int64(s.Lifetime.KeepaliveInterval / time.Second),
		ExpirationAction:   string(s.EffectiveAction()),
		TimeLimitExpiresAt: optionalTime(s.TimeLimitAt),
		LastKeepaliveAt:    s.LastKeepaliveAt.UTC(),
		ClientSettings:     s.ClientSettings,
		Launch:             s.Launch,
	}
	if s.ExpirationReason != "" {
		r := s.ExpirationReason
		v.ExpirationReason = &r
	}
	v.TimeLimitSource = timeLimitSource(s.Launch)
	return v
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// Page is one page of a session listing.
type Page struct {
	Sessions      []Session `json:"sessions"`
	NextPageToken string    `json:"next_page_token,omitempty"`
}

// KeepaliveResponse is what a keepalive answers.
type KeepaliveResponse struct {
	ExpiresAt          time.Time  `json:"expires_at"`
	KeepaliveInterval  int64      `json:"keepalive_interval"`
	UsageReached       bool       `json:"usage_reached"`
	Disconnect         bool       `json:"disconnect"`
	TimeLimitExpiresAt *time.Time `json:"time_limit_expires_at"`
}

// ResolveUser reads a user's groups (two round trips) and resolves their effective settings.
func ResolveUser(ctx context.Context, dir directory.Users, userID string) (settings.Resolution, error) {
	_, groups, err := dir.UserWithGroups(ctx, userID)
	if err != nil {
		return settings.Resolution{}, err
	}
	return settings.ResolveGroups(groups), nil
}

func validImageID(id string) bool {
	if id == "" || len(id) > maxImageIDLength || strings.TrimSpace(id) != id {
		return false
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Start starts a session of image imageID for a user (StartOrReuse without reuse).
func (s *Service) Start(ctx context.Context, userID, imageID string, container bool) (Session, error) {
	sess, _, err := s.StartOrReuse(ctx, StartRequest{UserID: userID, ImageID: imageID, Container: container})
	return sess, err
}

// StartOrReuse starts a session for req.UserID with the settings in force for them now: the
// user with their storage mappings (one Query), then their groups (one BatchGetItem). An
// empty ImageID means the user's own default_image (a Kasm user attribute), else their
// groups' effective default_image (400 no_default_image when both are empty). With
// Reuse, the user's live session of that image, if any, is returned instead (reused true; two
// more requests — the listing of the user's sessions and a read of the one picked, with its
// launch configuration — and no charge, no max_kasms_per_user check).
// The user's max_kasms_per_user is enforced exactly: 409 max_sessions_reached. Unknown user:
// 404 user_not_found. The session is charged to the budget of the user's effective
// usage_limit (see BudgetOf); when that is used up in the current window the start is
// refused with 403 usage_limit_reached, and when concurrent starts and ends on the budget
// keep winning the race for its ledger, 503 retry_later. The session and its created event
// carry the user's effective client settings and launch configuration (launch.ClientSettings,
// launch.BuildLaunch).
func (s *Service) StartOrReuse(ctx context.Context, req StartRequest) (Session, bool, error) {
	userID, imageID := req.UserID, req.ImageID
	if userID == "" {
		return Session{}, false, policy.FieldErrorf("user_id", policy.CodeMissingUserID, "user_id is required")
	}
	if !policy.ValidID(userID) {
		return Session{}, false, policy.Errorf(policy.KindNotFound, policy.CodeUserNotFound, "user %s not found", userID)
	}
	if imageID != "" && !validImageID(imageID) {
		return Session{}, false, policy.FieldErrorf("image_id", policy.CodeInvalidImageID, "image_id must be 1 to %d printable characters without surrounding spaces", maxImageIDLength)
	}
	in, err := s.readStartInputs(ctx, userID)
	if err != nil {
		return Session{}, false, fmt.Errorf("start session: %w", err)
	}
	r := in.res
	if imageID == "" {
		// The user's own default_image (a Kasm user attribute) wins over their groups'.
		if imageID = in.user.Profile.DefaultImage; imageID == "" {
			imageID = r.DefaultImage()
		}
		if imageID == "" {
			return Session{}, false, policy.FieldErrorf("image_id", policy.CodeNoDefaultImage, "image_id is required: user %s has no default_image", userID)
		}
	}
	ws, err := s.workspaceFor(ctx, imageID, in)
	if err != nil {
		return Session{}, false, err
	}
	container := req.Container
	lt := lifecycle.LifetimeFrom(r)
	if ws != nil {
		container = ws.Container
		secs, _ := workspaces.EffectiveTimeLimit(ws.SessionTimeLimit, r.SessionTimeLimit())
		lt.TimeLimit = time.Duration(secs) * time.Second
	}
	if req.Reuse {
		live, ok, err := s.liveSessionOf(ctx, userID, imageID)
		if err != nil {
			return Session{}, false, fmt.Errorf("start session: %w", err)
		}
		if ok {
			return View(live), true, nil
		}
	}
	b, err := BudgetOf(userID, r)
	if err != nil {
		return Session{}, false, fmt.Errorf("start session: %w", err)
	}
	ns, created := lifecycle.NewSession(s.newID(), userID, imageID, container, lt, s.clock.Now())
	if err := attachLaunch(&ns, &created, in, ws); err != nil {
		return Session{}, false, err
	}
	if ns, err = s.store.StartCharged(ctx, ns, created, b); err != nil {
		return Session{}, false, err
	}
	s.startCountdown(ctx, ns)
	return View(ns), false, nil
}

// BudgetOf is the budget a new session of userID is charged to under their effective settings
// r: per_user → the user's own budget, per_group → the budget of the group the usage_limit
// comes from, {} → none (not Limited).
func BudgetOf(userID string, r settings.Resolution) (usage.Budget, error) {
	lim, src := r.UsageLimit()
	var from usage.Source
	if src.Kind == settings.SourceKindGroup && src.Group != nil {
		from = usage.Source{GroupID: src.Group.ID, Name: src.Group.Name, Priority: src.Group.Priority}
	}
	return usage.NewBudget(userID, usage.Limit(lim), from)
}

// Usage reports the budget a new session of userID would be charged to and how its figures
// are derived (GET /v1/users/{user_id}/usage): the effective usage_limit and its source group,
// the window, hours used and remaining, from the budget's ledger as of now. Administrators may
// read anyone's, a user only their own (403 forbidden). Unknown user: 404 user_not_found. It
// reads the user's groups (two round trips) and the ledger (one), and writes nothing.
func (s *Service) Usage(ctx context.Context, actor lifecycle.Actor, userID string) (usage.Report, error) {
	if !actor.Admin && (actor.UserID == "" || actor.UserID != userID) {
		return usage.Report{}, policy.Errorf(policy.KindForbidden, policy.CodeForbidden, "a user may read only their own usage")
	}
	if !policy.ValidID(userID) {
		return usage.Report{}, policy.Errorf(policy.KindNotFound, policy.CodeUserNotFound, "user %s not found", userID)
	}
	r, err := ResolveUser(ctx, s.dir, userID)
	if err != nil {
		return usage.Report{}, fmt.Errorf("usage of user %s: %w", userID, err)
	}
	b, err := BudgetOf(userID, r)
	if err != nil {
		return usage.Report{}, fmt.Errorf("usage of user %s: %w", userID, err)
	}
	var l usage.Ledger
	if b.Limited() {
		bl, err := s.store.GetLedger(ctx, b.Key)
		if err != nil {
			return usage.Report{}, err
		}
		l = bl.Ledger
	}
	rep := usage.Derive(b, l, lifecycle.Millis(s.clock.Now()).UnixMilli())
	own, err := s.ownUsage(ctx, userID, b, rep)
	if err != nil {
		return usage.Report{}, fmt.Errorf("usage of user %s: %w", userID, err)
	}
	rep.Own = &own
	return rep, nil
}

// ownUsagePages bounds the listing ownUsage reads: a user with more sessions than this (most
// of them deleted) gets figures from the newest pages only.
const ownUsagePages = 20

// ownUsage is the user's own part of rep: their sessions that are not deleted, and the time in
// rep's window of those charged to budget b. It reads the user's session listing.
func (s *Service) ownUsage(ctx context.Context, userID string, b usage.Budget, rep usage.Report) (usage.Own, error) {
	var own usage.Own
	var openMs int64
	asOf := rep.AsOf.UnixMilli()
	var from int64
	if rep.WindowStart != nil {
		from = rep.WindowStart.UnixMilli()
	}
	f := lifecycle.ListFilter{UserID: userID, Limit: lifecycle.MaxPageSize}
	for range ownUsagePages {
		p, err := s.store.ListSessions(ctx, f)
		if err != nil {
			return usage.Own{}, err
		}
		for _, c := range p.Sessions {
			if c.Status == lifecycle.StatusDeleted {
				continue
			}
			own.OpenSessions++
			if b.Limited() && c.Budget == b.Key {
				openMs += max(0, asOf-max(from, c.CreatedAt.UnixMilli()))
			}
		}
		if p.NextPageToken == "" {
			break
		}
		f.PageToken = p.NextPageToken
	}
	if b.Limited() {
		h := float64(openMs) / usage.MsPerHour
		own.HoursOpen = &h
		if rep.Limit.Type == usage.PerUser {
			own.HoursUsed = rep.HoursUsed
		}
	}
	return own, nil
}

// Get returns a session; a user may read only their own (403 not_session_owner).
func (s *Service) Get(ctx context.Context, actor lifecycle.Actor, sessionID string) (Session, error) {
	cur, err := s.store.GetSession(ctx, sessionID)
	if err != nil {
		return Session{}, err
	}
	if err := checkOwner(actor, cur.UserID, sessionID); err != nil {
		return Session{}, err
	}
	return View(cur), nil
}

func checkOwner(actor lifecycle.Actor, owner, sessionID string) error {
	if actor.Admin || (actor.UserID != "" && actor.UserID == owner) {
		return nil
	}
	return policy.Errorf(policy.KindForbidden, policy.CodeNotSessionOwner, "session %s belongs to another user", sessionID)
}

// List lists sessions (see lifecycle.ListFilter). A user lists only their own: an empty
// UserID means theirs, another user's id is 403. Listed sessions carry no client_settings or
// launch (Get returns them).
func (s *Service) List(ctx context.Context, actor lifecycle.Actor, f lifecycle.ListFilter) (Page, error) {
	if !actor.Admin {
		if f.UserID == "" {
			f.UserID = actor.UserID
		}
		if f.UserID != actor.UserID || actor.UserID == "" {
			return Page{}, policy.Errorf(policy.KindForbidden, policy.CodeForbidden, "a user may list only their own sessions")
		}
	}
	p, err := s.store.ListSessions(ctx, f)
	if err != nil {
		return Page{}, err
	}
	out := Page{Sessions: make([]Session, 0, len(p.Sessions)), NextPageToken: p.NextPageToken}
	for _, sess := range p.Sessions {
		out.Sessions = append(out.Sessions, View(sess))
	}
	return out, nil
}

// Events returns a session's event history, oldest first; a user may read only their own.
func (s *Service) Events(ctx context.Context, actor lifecycle.Actor, sessionID string) ([]lifecycle.Event, error) {
	evs, err := s.store.Events(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	if err := checkOwner(actor, evs[0].UserID, sessionID); err != nil {
		return nil, err
	}
	return evs, nil
}

// Keepalive keeps a session alive (RunKeepalive: one conditional write in steady state, no
// settings read).
// idleSeconds is how long the user has been idle, nil when the client does not say; reaching
// idle_disconnect marks the session disconnected without extending it. A user may keep alive
// only their own sessions. Deleted: 410 session_deleted; paused or stopped: 409
// session_not_running.
func (s *Service) Keepalive(ctx context.Context, actor lifecycle.Actor, sessionID string, idleSeconds *float64) (KeepaliveResponse, error) {
	var idle time.Duration
	if idleSeconds != nil {
		f := *idleSeconds
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return KeepaliveResponse{}, policy.FieldErrorf("idle_seconds", policy.CodeInvalidIdleSeconds, "idle_seconds must be a number of seconds ≥ 0")
		}
		idle = time.Duration(min(f, maxIdleSeconds) * float64(time.Second))
	}
	owner := ""
	if !actor.Admin {
		if actor.UserID == "" {
			return KeepaliveResponse{}, checkOwner(actor, "", sessionID)
		}
		owner = actor.UserID
	}
	r, err := RunKeepalive(ctx, s.store, sessionID, owner, s.clock.Now(), idle)
	if err != nil {
		return KeepaliveResponse{}, err
	}
	metrics.Count(metrics.Keepalives, 1)
	return KeepaliveResponse{
		ExpiresAt:          r.ExpiresAt.UTC(),
		KeepaliveInterval:  int64(r.KeepaliveInterval / time.Second),
		UsageReached:       r.UsageReached,
		Disconnect:         r.Disconnect,
		TimeLimitExpiresAt: optionalTime(r.TimeLimitAt),
	}, nil
}

// Pause pauses a running container session (user: needs allow_kasm_pause).
func (s *Service) Pause(ctx context.Context, actor lifecycle.Actor, sessionID string) (Session, error) {
	return s.act(ctx, actor, sessionID, lifecycle.OpPause)
}

// Stop stops a running or paused container session (user: needs allow_kasm_stop).
func (s *Service) Stop(ctx context.Context, actor lifecycle.Actor, sessionID string) (Session, error) {
	return s.act(ctx, actor, sessionID, lifecycle.OpStop)
}

// Resume runs a paused or stopped session again and re-arms its expiry with the owner's
// current lifetime settings.
func (s *Service) Resume(ctx context.Context, actor lifecycle.Actor, sessionID string) (Session, error) {
	return s.act(ctx, actor, sessionID, lifecycle.OpResume)
}

// Delete deletes a session (user: needs allow_kasm_delete) and frees its max_kasms_per_user slot.
func (s *Service) Delete(ctx context.Context, actor lifecycle.Actor, sessionID string) (Session, error) {
	return s.act(ctx, actor, sessionID, lifecycle.OpDelete)
}

// act reads the session, decides with lifecycle.Act and writes the change guarded by what it
// read; when somebody else changed the session first it reads and decides again. Asking for
// the state the session is already in returns it unchanged.
func (s *Service) act(ctx context.Context, actor lifecycle.Actor, sessionID string, op lifecycle.Op) (Session, error) {
	return lifecycle.Retry("session "+sessionID, 0, func() (Session, error) {
		cur, err := s.store.GetSession(ctx, sessionID)
		if err != nil {
			return Session{}, err
		}
		var perms lifecycle.Permissions
		if cur.Status != lifecycle.StatusDeleted && lifecycle.NeedsPermissions(op, actor) && actor.UserID == cur.UserID {
			r, err := ResolveUser(ctx, s.dir, actor.UserID)
			if err != nil {
				return Session{}, fmt.Errorf("%s session %s: %w", op, sessionID, err)
			}
			perms = lifecycle.PermissionsFrom(r)
		}
		now := s.clock.Now()
		base := cur
		if op == lifecycle.OpResume && cur.Status != lifecycle.StatusDeleted && cur.Status != lifecycle.StatusRunning &&
			checkOwner(actor, cur.UserID, sessionID) == nil {
			// Resume picks up the owner's current lifetime settings.
			if r, err := ResolveUser(ctx, s.dir, cur.UserID); err == nil {
				if rc := lifecycle.Resync(cur, lifecycle.LifetimeFrom(r), lifecycle.Millis(now).UnixMilli()); !rc.None() {
					base = rc.After
				}
			} else if !policy.IsKind(err, policy.KindNotFound) {
				return Session{}, fmt.Errorf("resume session %s: %w", sessionID, err)
			}
		}
		c, err := lifecycle.Act(base, op, actor, perms, now)
		if err != nil {
			return Session{}, err
		}
		if c.None() {
			return View(cur), nil
		}
		c.Before = cur // the guard is what was read; the write includes any new lifetime settings
		if err := s.store.Transition(ctx, c); err != nil {
			return Session{}, err // session_changed: Retry reads and decides again
		}
		s.stopCountdown(ctx, c)
		return View(c.After), nil
	})
}

// EndSessionsOf deletes every session of userID that is not deleted yet, as an administrator
// would one by one (event deleted, reason admin_deleted; each charged until then), and
// reports how many it ended. DELETE /v1/users/{user_id} calls it once the user is deleted, so
// a deleted user's sessions end at once instead of running until their keepalives expire. It
// finds them through the user's listing (an eventually consistent index): a session started
// in the last moments before the user was deleted may be missed, and then ends by its
// keepalive expiry or time limit like any other.
func (s *Service) EndSessionsOf(ctx context.Context, userID string) (int, error) {
	ended := 0
	f := lifecycle.ListFilter{UserID: userID, Limit: lifecycle.MaxPageSize}
	for {
		p, err := s.store.ListSessions(ctx, f)
		if err != nil {
			return ended, fmt.Errorf("end the sessions of user %s: %w", userID, err)
		}
		for _, c := range p.Sessions {
			if c.Status == lifecycle.StatusDeleted {
				continue
			}
			after, err := s.act(ctx, lifecycle.AdminActor(), c.ID, lifecycle.OpDelete)
			switch {
			case policy.IsKind(err, policy.KindNotFound), policy.IsKind(err, policy.KindGone):
				continue // gone meanwhile
			case err != nil:
				return ended, fmt.Errorf("end the sessions of user %s: %w", userID, err)
			case after.Status == string(lifecycle.StatusDeleted):
				ended++
			}
		}
		if p.NextPageToken == "" {
			return ended, nil
		}
		f.PageToken = p.NextPageToken
	}
}
