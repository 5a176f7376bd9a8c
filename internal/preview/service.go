package preview

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// Page sizes of the preview's user list.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Directory is what the preview reads of the directory; ddbstore.Store implements it.
type Directory interface {
	GetGroup(ctx context.Context, id string) (policy.Group, error)
	// ListMembers lists a group's members with their explicit groups (All Users: every user).
	ListMembers(ctx context.Context, groupID string) ([]policy.User, error)
	GetUser(ctx context.Context, id string) (policy.User, error)
	// GroupsByID reads the live groups among ids, batched (100 keys a request).
	GroupsByID(ctx context.Context, ids []string) ([]policy.Group, error)
}

// Sessions is what the preview reads of the session store; ddbstore.SessionStore implements it.
type Sessions interface {
	ListSessions(ctx context.Context, f lifecycle.ListFilter) (lifecycle.Page, error)
	GetLedger(ctx context.Context, budget string) (lifecycle.BudgetLedger, error)
}

// bulkSessions is a Sessions that lists the live sessions of many users at once, batched across
// users (ddbstore.SessionStore.SessionsOfUsers: BatchGetItem of the user items, whose
// session_ids list them, then of the sessions).
type bulkSessions interface {
	SessionsOfUsers(ctx context.Context, userIDs []string) (map[string][]lifecycle.Session, error)
}

// Service computes previews.
type Service struct {
	dir      Directory
	sessions Sessions
	clock    policy.Clock
	// Workers bounds the session listings read at once; 0 means 8.
	Workers int
}

// New returns a Service; a nil clock is the system clock. A nil Sessions previews settings only.
func New(dir Directory, ss Sessions, clock policy.Clock) *Service {
	if clock == nil {
		clock = policy.SystemClock{}
	}
	return &Service{dir: dir, sessions: ss, clock: clock}
}

// UserEffect is one user whose effective settings the change changes.
type UserEffect struct {
	UserID   string          `json:"user_id"`
	Username string          `json:"username"`
	Settings []SettingChange `json:"settings"`
	// Warnings are the relation warnings of the user's effective settings that the change raises.
	Warnings []settings.Warning `json:"warnings"`
	Sessions []SessionEffect    `json:"sessions"`
}

// WarningCount is a warning the change raises and how many users get it.
type WarningCount struct {
	settings.Warning
	Users int `json:"users"`
}

// Summary counts the whole preview (every page).
type Summary struct {
	Users          int `json:"users_affected"`
	Sessions       int `json:"sessions_affected"`
	ExpiryChanged  int `json:"sessions_expiry_changed"`
	Stopped        int `json:"sessions_stopped_at_next_sweep"`
	Paused         int `json:"sessions_paused_at_next_sweep"`
	Deleted        int `json:"sessions_deleted_at_next_sweep"`
	UsageExhausted int `json:"sessions_usage_limit_exhausted"`
	PermissionLost int `json:"sessions_permission_withdrawn"`
	// MembersRead is how many users the preview examined (the group's members, or the one user).
	MembersRead int `json:"members_examined"`
}

// Result is a preview: the summary, one page of affected users, and the warnings.
type Result struct {
	GroupID string `json:"group_id"`
	// Version is the group's version the preview was computed against: saving with
	// If-Match: "<version>" saves exactly this change or answers 412.
	Version     int64     `json:"version"`
	Change      Change    `json:"change"`
	EvaluatedAt time.Time `json:"evaluated_at"`
	Summary     Summary   `json:"summary"`
	// Users is one page of the affected users, ordered by user id.
	Users         []UserEffect `json:"users"`
	NextPageToken string       `json:"next_page_token,omitempty"`
	// GroupWarnings are the relation warnings of the group's own settings the change raises.
	GroupWarnings []settings.Warning `json:"group_warnings"`
	// Warnings are the relation warnings of members' effective settings the change raises.
	Warnings []WarningCount `json:"warnings"`
	Notes    []string       `json:"notes"`
}

// Page selects a page of the user list.
type Page struct {
	Limit int
	Token string
	// IfVersion, when not 0, is the version the caller previews against (If-Match): a group at
	// another version is KindPrecondition version_mismatch, as the write would answer.
	IfVersion int64
}

type pageToken struct {
	Version int64 `json:"v"`
	Offset  int   `json:"o"`
	At      int64 `json:"t"`
}

func decodeToken(tok string) (pageToken, error) {
	var p pageToken
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || json.Unmarshal(raw, &p) != nil || p.Offset < 0 || p.Version < 1 {
		return pageToken{}, policy.FieldErrorf("page_token", policy.CodeInvalidPageToken, "page_token is not one this preview issued")
	}
	return p, nil
}

func encodeToken(p pageToken) string {
	raw, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// Preview computes what change c of group groupID would do. Reads: the group (one strongly
// consistent GetItem); the affected users — the group's members (a query of its membership
// items and a BatchGetItem per 100 users; All Users: the users' index), or the one user of a
// membership change; every group of those users once, batched (GroupsByID); the sessions of
// each user whose lifetime values, permissions or usage_limit change (when the store can,
// SessionsOfUsers: those users' items, which list their live sessions, then the sessions, 100
// per BatchGetItem); and the ledger of each budget whose limit changes. Nothing is written.
func (s *Service) Preview(ctx context.Context, groupID string, c Change, page Page) (Result, error) {
	limit := page.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	var tok pageToken
	if page.Token != "" {
		var err error
		if tok, err = decodeToken(page.Token); err != nil {
			return Result{}, err
		}
	}
	g, err := s.dir.GetGroup(ctx, groupID)
	if err != nil {
		return Result{}, err
	}
	if page.IfVersion != 0 && page.IfVersion != g.Version {
		return Result{}, policy.Errorf(policy.KindPrecondition, policy.CodeVersionMismatch,
			"group %s is at version %d, not %d", groupID, g.Version, page.IfVersion)
	}
	if page.Token != "" && tok.Version != g.Version {
		return Result{}, policy.Errorf(policy.KindPrecondition, policy.CodePreviewStale,
			"group %s changed since this preview (version %d, now %d): preview again", groupID, tok.Version, g.Version)
	}
	now := lifecycle.Millis(s.clock.Now())
	if page.Token != "" {
		now = time.UnixMilli(tok.At).UTC() // every page is of the same moment
	}
	users, err := s.affectedUsers(ctx, g, c)
	if err != nil {
		return Result{}, err
	}
	groups, err := s.groupsOf(ctx, users)
	if err != nil {
		return Result{}, err
	}
	all, err := s.compute(ctx, g, c, users, groups, now)
	if err != nil {
		return Result{}, err
	}
	all.EvaluatedAt = now
	all.Summary.MembersRead = len(users)
	start := min(tok.Offset, len(all.Users))
	end := min(start+limit, len(all.Users))
	page1 := all.Users[start:end]
	if end < len(all.Users) {
		all.NextPageToken = encodeToken(pageToken{Version: g.Version, Offset: end, At: now.UnixMilli()})
	}
	all.Users = slices.Clone(page1)
	return all, nil
}

// affectedUsers lists the users whose groups the change touches.
func (s *Service) affectedUsers(ctx context.Context, g policy.Group, c Change) ([]policy.User, error) {
	switch c.Kind {
	case KindAddMember, KindRemoveMember:
		if c.Kind == KindRemoveMember && g.ID == policy.AllUsersGroupID {
			return nil, policy.Errorf(policy.KindConflict, policy.CodeAllUsersMembership,
				"every user is a member of All Users; that membership cannot be removed")
		}
		u, err := s.dir.GetUser(ctx, c.UserID)
		if err != nil {
			return nil, err
		}
		member := g.ID == policy.AllUsersGroupID || slices.Contains(u.GroupIDs, g.ID)
		if c.Kind == KindRemoveMember && !member {
			return nil, policy.Errorf(policy.KindNotFound, policy.CodeNotAMember, "user %s is not a member of group %s", u.ID, g.ID)
		}
		if c.Kind == KindAddMember && member {
			return nil, nil // adding again changes nothing
		}
		return []policy.User{u}, nil
	case KindSettings, KindPriority:
		return s.dir.ListMembers(ctx, g.ID)
	}
	return nil, policy.Errorf(policy.KindInvalid, policy.CodeInvalidChange, "unknown change kind %q", c.Kind)
}

// groupsOf reads every group of users once.
func (s *Service) groupsOf(ctx context.Context, users []policy.User) (map[string]policy.Group, error) {
	seen := map[string]bool{policy.AllUsersGroupID: true}
	ids := []string{policy.AllUsersGroupID}
	for _, u := range users {
		for _, id := range u.GroupIDs {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	list, err := s.dir.GroupsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]policy.Group, len(list))
	for _, g := range list {
		out[g.ID] = g
	}
	return out, nil
}

// userWork is one affected user's resolutions.
type userWork struct {
	user          policy.User
	before, after settings.Resolution
	changes       []SettingChange
	needsSessions bool
	budget        string // budget exhausted by the change, "" for none
	sessions      []lifecycle.Session
}

// compute resolves every user before and after, reads the sessions it needs and assembles the
// result (all users, not yet paged).
func (s *Service) compute(ctx context.Context, g policy.Group, c Change, users []policy.User, groups map[string]policy.Group, now time.Time) (Result, error) {
	res := Result{GroupID: g.ID, Version: g.Version, Change: c, Users: []UserEffect{}, Warnings: []WarningCount{}, Notes: []string{}}
	after := ApplyToGroup(g, c)
	res.GroupWarnings = NewWarnings(groupRelationWarnings(g), groupRelationWarnings(after))
	if res.GroupWarnings == nil {
		res.GroupWarnings = []settings.Warning{}
	}
	if c.Kind == KindSettings && (slices.Contains(c.Settings.Unset, "session_time_limit") || c.Settings.Set["session_time_limit"] != nil) {
		res.Notes = append(res.Notes, "session_time_limit is fixed when a session starts: the change applies to sessions started after it is saved")
	}
	var work []*userWork
	for _, u := range users {
		gb, ga := UserGroups(u, groups, g, c)
		w := &userWork{user: u, before: settings.ResolveGroups(gb), after: settings.ResolveGroups(ga)}
		w.changes = DiffSettings(w.before, w.after)
		if len(w.changes) == 0 {
			continue
		}
		w.needsSessions = s.sessions != nil && NeedsSessions(w.before, w.after)
		work = append(work, w)
	}
	if err := s.readSessions(ctx, work, now); err != nil {
		return Result{}, err
	}
	warnAt := map[string]int{}
	for _, w := range work {
		ue := UserEffect{UserID: w.user.ID, Username: w.user.Username, Settings: w.changes,
			Warnings: NewWarnings(w.before.Warnings, w.after.Warnings), Sessions: []SessionEffect{}}
		if ue.Warnings == nil {
			ue.Warnings = []settings.Warning{}
		}
		for _, wn := range ue.Warnings {
			key := wn.Code + "\x00" + wn.Message
			if i, ok := warnAt[key]; ok {
				res.Warnings[i].Users++
			} else {
				warnAt[key] = len(res.Warnings)
				res.Warnings = append(res.Warnings, WarningCount{Warning: wn, Users: 1})
			}
		}
		if w.needsSessions {
			ue.Sessions = append(ue.Sessions, SessionEffects(w.sessions, w.before, w.after, w.budget, now)...)
		}
		res.Summary.Users++
		for _, se := range ue.Sessions {
			res.Summary.Sessions++
			for _, e := range se.Effects {
				switch e {
				case EffectExpiry:
					res.Summary.ExpiryChanged++
				case EffectStop:
					res.Summary.Stopped++
				case EffectPause:
					res.Summary.Paused++
				case EffectDelete:
					res.Summary.Deleted++
				case EffectUsageExhausted:
					res.Summary.UsageExhausted++
				case EffectPermissionWithdrawn:
					res.Summary.PermissionLost++
				}
			}
		}
		res.Users = append(res.Users, ue)
	}
	slices.SortFunc(res.Users, func(a, b UserEffect) int {
		switch {
		case a.UserID < b.UserID:
			return -1
		case a.UserID > b.UserID:
			return 1
		}
		return 0
	})
	return res, nil
}

// groupRelationWarnings is what a write of the group's settings answers as its warnings.
func groupRelationWarnings(g policy.Group) []settings.Warning {
	return settings.RelationWarnings(func(name string) (json.RawMessage, bool) {
		v, ok := g.Settings[name]
		return v, ok
	})
}

// readSessions lists the sessions of every user that needs them, Workers at once, and reads the
// ledger of each budget whose limit changes.
func (s *Service) readSessions(ctx context.Context, work []*userWork, now time.Time) error {
	var todo []*userWork
	for _, w := range work {
		if w.needsSessions {
			todo = append(todo, w)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	workers := s.Workers
	if workers <= 0 {
		workers = 8
	}
	jobs := make(chan *userWork)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		ledgers  = map[string]lifecycle.BudgetLedger{}
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	ledger := func(key string) (lifecycle.BudgetLedger, bool) {
		mu.Lock()
		bl, ok := ledgers[key]
		mu.Unlock()
		if ok {
			return bl, true
		}
		bl, err := s.sessions.GetLedger(ctx, key)
		if err != nil {
			fail(fmt.Errorf("preview: ledger %s: %w", key, err))
			return lifecycle.BudgetLedger{}, false
		}
		mu.Lock()
		ledgers[key] = bl
		mu.Unlock()
		return bl, true
	}
	bulk, isBulk := s.sessions.(bulkSessions)
	if isBulk {
		ids := make([]string, len(todo))
		for i, w := range todo {
			ids[i] = w.user.ID
		}
		byUser, err := bulk.SessionsOfUsers(ctx, ids)
		if err != nil {
			return fmt.Errorf("preview: %w", err)
		}
		for _, w := range todo {
			w.sessions = byUser[w.user.ID]
		}
	}
	for range min(workers, len(todo)) {
		wg.Go(func() {
			for w := range jobs {
				f := lifecycle.ListFilter{UserID: w.user.ID, Limit: lifecycle.MaxPageSize}
				for !isBulk {
					p, err := s.sessions.ListSessions(ctx, f)
					if err != nil {
						fail(fmt.Errorf("preview: sessions of user %s: %w", w.user.ID, err))
						break
					}
					w.sessions = append(w.sessions, p.Sessions...)
					if f.PageToken = p.NextPageToken; f.PageToken == "" {
						break
					}
				}
				if !sameJSON(w.before.Settings["usage_limit"].Value, w.after.Settings["usage_limit"].Value) ||
					!sameSource(w.before.Settings["usage_limit"].Source, w.after.Settings["usage_limit"].Source) {
					if key, exhausted := ExhaustedBudget(w.user.ID, w.after, ledger, now); exhausted {
						w.budget = key
					}
				}
			}
		})
	}
	for _, w := range todo {
		if ctx.Err() != nil {
			break
		}
		jobs <- w
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
