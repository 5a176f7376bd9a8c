// Package preview answers "what would this group change do?" before it is saved: which users'
// effective settings change (old value and source → new value and source), which of their live
// sessions change their lifetime and how the next sweep then treats them, which relation
// warnings appear, computed against one version of the group so that saving with If-Match that
// version is the previewed change or a 412.
//
// The computation is the code saving and the sweep run, not a copy of it: effective settings
// come from settings.Resolve, a session's new lifetime from lifecycle.Resync (what the sweep's
// re-sync writes), its fate from lifecycle.Decide (what the sweep's expiry pass decides), the
// budget from sessions.BudgetOf and usage.Exhausted. This file is pure (no I/O); service.go
// reads what it needs through small interfaces and knows no AWS type.
package preview

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/usage"
)

// The kinds of Change.
const (
	KindSettings     = "settings"      // set and/or unset settings of the group
	KindPriority     = "priority"      // give the group another priority
	KindAddMember    = "add_member"    // make a user an explicit member
	KindRemoveMember = "remove_member" // end a user's explicit membership
)

// Change is one change of a group, as the write that saves it takes it (values already
// validated, as the write validates them).
type Change struct {
	Kind     string                `json:"kind"`
	Settings policy.SettingsChange `json:"-"`
	Priority int                   `json:"priority,omitempty"`
	UserID   string                `json:"user_id,omitempty"`
}

// ApplyToGroup returns the group as it is after c (a membership change leaves it as it is).
// Setting a value equal to the stored one up to JSON whitespace keeps the stored one, as the
// store does.
func ApplyToGroup(g policy.Group, c Change) policy.Group {
	switch c.Kind {
	case KindSettings:
		next := maps.Clone(g.Settings)
		if next == nil {
			next = map[string]json.RawMessage{}
		}
		for name, v := range c.Settings.Set {
			if old, ok := next[name]; ok && sameJSON(old, v) {
				continue
			}
			next[name] = v
		}
		for _, name := range c.Settings.Unset {
			delete(next, name)
		}
		g.Settings = next
	case KindPriority:
		g.Priority = c.Priority
	}
	return g
}

// sameJSON reports whether a and b are the same JSON value up to whitespace.
func sameJSON(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// UserGroups returns the groups of user u before and after change c of group target: All Users
// and u's explicit groups found in groups (groups deleted meanwhile are left out, as
// Directory.UserWithGroups leaves them out), target replaced by its changed self, added or
// removed.
func UserGroups(u policy.User, groups map[string]policy.Group, target policy.Group, c Change) (before, after []policy.Group) {
	ids := []string{policy.AllUsersGroupID}
	for _, id := range u.GroupIDs {
		if id != policy.AllUsersGroupID && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	changed := ApplyToGroup(target, c)
	for _, id := range ids {
		g, ok := groups[id]
		if id == target.ID {
			g, ok = target, true
		}
		if !ok {
			continue
		}
		before = append(before, g)
		switch {
		case id == target.ID && c.Kind == KindRemoveMember && id != policy.AllUsersGroupID:
			// gone after
		case id == target.ID:
			after = append(after, changed)
		default:
			after = append(after, g)
		}
	}
	if c.Kind == KindAddMember && !slices.Contains(ids, target.ID) {
		after = append(after, changed)
	}
	return before, after
}

// SettingChange is one effective setting of a user that the change changes.
type SettingChange struct {
	Name string             `json:"name"`
	Old  settings.Effective `json:"old"`
	New  settings.Effective `json:"new"`
}

// DiffSettings lists, by name, the settings whose effective value or source differs between
// two resolutions. Sources are compared by the groups they name (kind, group ids, and for
// volume_mapping the group of each host path), not by those groups' priorities, so a priority
// change that moves no value lists nothing.
func DiffSettings(before, after settings.Resolution) []SettingChange {
	var out []SettingChange
	for _, name := range slices.Sorted(maps.Keys(after.Settings)) {
		o, n := before.Settings[name], after.Settings[name]
		if sameJSON(o.Value, n.Value) && sameSource(o.Source, n.Source) {
			continue
		}
		out = append(out, SettingChange{Name: name, Old: o, New: n})
	}
	return out
}

func sameSource(a, b settings.Source) bool {
	if a.Kind != b.Kind || (a.Group == nil) != (b.Group == nil) || len(a.Groups) != len(b.Groups) || len(a.Mounts) != len(b.Mounts) {
		return false
	}
	if a.Group != nil && a.Group.ID != b.Group.ID {
		return false
	}
	for i := range a.Groups {
		if a.Groups[i].ID != b.Groups[i].ID {
			return false
		}
	}
	for k, g := range a.Mounts {
		if h, ok := b.Mounts[k]; !ok || h.ID != g.ID {
			return false
		}
	}
	return true
}

// NewWarnings returns the warnings of after that before does not have (by code and message).
func NewWarnings(before, after []settings.Warning) []settings.Warning {
	var out []settings.Warning
	for _, w := range after {
		if !slices.ContainsFunc(before, func(o settings.Warning) bool { return o.Code == w.Code && o.Message == w.Message }) {
			out = append(out, w)
		}
	}
	return out
}

// Session effects: how a change alters a live session.
const (
	// EffectExpiry: the keepalive expiry moves (expires_at recomputed from the last keepalive).
	EffectExpiry = "expiry_changed"
	// EffectAction: the keepalive_expiration_action that applies at expiry changes.
	EffectAction = "action_changed"
	// EffectLifetime: keepalive_interval or idle_disconnect changes (the client's cadence).
	EffectLifetime = "lifetime_changed"
	// EffectStop, EffectPause, EffectDelete: the next sweep stops, pauses or deletes the session
	// (keepalive expired under the new settings, or its budget is now exhausted), where without
	// the change it would not.
	EffectStop   = "stopped_at_next_sweep"
	EffectPause  = "paused_at_next_sweep"
	EffectDelete = "deleted_at_next_sweep"
	// EffectUsageExhausted: the budget the session is charged to is exhausted under the new
	// usage_limit, so the next sweep ends it (usage_limit_reached).
	EffectUsageExhausted = "usage_limit_exhausted"
	// EffectPermissionWithdrawn: the owner may no longer pause, stop or delete it themselves.
	EffectPermissionWithdrawn = "permission_withdrawn"
)

// SessionEffect is what the change does to one live session.
type SessionEffect struct {
	SessionID string           `json:"session_id"`
	UserID    string           `json:"user_id"`
	Status    lifecycle.Status `json:"status"`
	Effects   []string         `json:"effects"`
	// OldExpiresAt and NewExpiresAt: the keepalive expiry before and after the re-sync.
	OldExpiresAt time.Time        `json:"old_expires_at"`
	NewExpiresAt time.Time        `json:"new_expires_at"`
	OldAction    lifecycle.Action `json:"old_action"`
	NewAction    lifecycle.Action `json:"new_action"`
	// NextSweep is what a sweep at the preview's time does to the session after the change
	// (delete, stop, pause, or "" for nothing), with its reason; Unchanged is what it would do
	// without the change.
	NextSweep       lifecycle.Outcome `json:"next_sweep"`
	NextSweepReason string            `json:"next_sweep_reason,omitempty"`
	Unchanged       lifecycle.Outcome `json:"next_sweep_without_change"`
	// PermissionsWithdrawn names the allow_kasm_* settings that turn false for the owner.
	PermissionsWithdrawn []string `json:"permissions_withdrawn,omitempty"`
}

// lifetimeChanges reports whether the re-sync of the sweep would write anything different for
// the user's sessions: the lifetime values the re-sync applies.
func lifetimeChanges(before, after settings.Resolution) bool {
	a, b := lifecycle.LifetimeFrom(before), lifecycle.LifetimeFrom(after)
	return a.KeepaliveExpiration != b.KeepaliveExpiration || a.Action != b.Action ||
		a.KeepaliveInterval != b.KeepaliveInterval || a.IdleDisconnect != b.IdleDisconnect
}

// WithdrawnPermissions lists the allow_kasm_* settings true before and false after.
func WithdrawnPermissions(before, after settings.Resolution) []string {
	var out []string
	for _, name := range []string{"allow_kasm_delete", "allow_kasm_pause", "allow_kasm_stop"} {
		if before.Bool(name) && !after.Bool(name) {
			out = append(out, name)
		}
	}
	return out
}

// NeedsSessions reports whether the change can alter a user's sessions: their lifetime values,
// their permissions or their usage_limit change.
func NeedsSessions(before, after settings.Resolution) bool {
	return lifetimeChanges(before, after) || len(WithdrawnPermissions(before, after)) > 0 ||
		!sameJSON(before.Settings[settings.NameUsageLimit].Value, after.Settings[settings.NameUsageLimit].Value) ||
		!sameSource(before.Settings[settings.NameUsageLimit].Source, after.Settings[settings.NameUsageLimit].Source)
}

// SweepOutcome is what the sweep's expiry pass does to s at now: nothing unless s is in the
// due index at or before now, then lifecycle.Decide. Only ending outcomes (delete, stop, pause)
// are reported.
func SweepOutcome(s lifecycle.Session, now time.Time) (lifecycle.Outcome, string) {
	now = lifecycle.Millis(now)
	if s.DueAt.IsZero() || s.DueAt.After(now) {
		return lifecycle.OutcomeNone, ""
	}
	c := lifecycle.Decide(s, now)
	switch c.Outcome {
	case lifecycle.OutcomeDelete, lifecycle.OutcomeStop, lifecycle.OutcomePause:
		return c.Outcome, c.Reason
	}
	return lifecycle.OutcomeNone, ""
}

// ExhaustedBudget says, for a user whose usage_limit changes, which budget the re-sync rewrites
// and whether it is exhausted under the new limit at now: the sweep's resyncBudget writes the new
// limit (lifecycle.BudgetLedger.SameLimit false), which puts the ledger in the due index at its
// new deadline, and the sweep ends every session charged to an exhausted budget. ledger is the
// budget's ledger as read ("" key or a ledger that does not exist: nothing to end).
func ExhaustedBudget(userID string, after settings.Resolution, ledger func(key string) (lifecycle.BudgetLedger, bool), now time.Time) (string, bool) {
	b, err := sessions.BudgetOf(userID, after)
	if err != nil || !b.Limited() {
		return "", false
	}
	bl, ok := ledger(b.Key)
	if !ok || !bl.Exists() || bl.SameLimit(b) {
		return b.Key, false
	}
	wasExhausted := usage.Exhausted(bl.Ledger, bl.Budget.Interval, bl.Budget.LimitMs, lifecycle.Millis(now).UnixMilli())
	return b.Key, !wasExhausted && usage.Exhausted(bl.Ledger, b.Interval, b.LimitMs, lifecycle.Millis(now).UnixMilli())
}

// SessionEffects is what the change does to one user's live sessions: for each, the re-sync the
// sweep would write (lifecycle.Resync with revision now, as the sweep does), what the sweep's
// expiry pass then decides at now compared with what it would decide without the change, the
// permissions withdrawn, and whether the budget it is charged to is now exhausted
// (exhaustedBudget, "" for none). Deleted sessions and sessions the change leaves exactly as
// they are are left out.
func SessionEffects(list []lifecycle.Session, before, after settings.Resolution, exhaustedBudget string, now time.Time) []SessionEffect {
	now = lifecycle.Millis(now)
	withdrawn := WithdrawnPermissions(before, after)
	resync := lifetimeChanges(before, after)
	lt := lifecycle.LifetimeFrom(after)
	var out []SessionEffect
	for _, s := range list {
		if s.Status == lifecycle.StatusDeleted {
			continue
		}
		e := SessionEffect{SessionID: s.ID, UserID: s.UserID, Status: s.Status,
			OldExpiresAt: s.ExpiresAt, NewExpiresAt: s.ExpiresAt,
			OldAction: s.EffectiveAction(), NewAction: s.EffectiveAction(),
			PermissionsWithdrawn: withdrawn}
		e.Unchanged, _ = SweepOutcome(s, now)
		next := s
		if resync {
			if c := lifecycle.Resync(s, lt, now.UnixMilli()); !c.None() {
				next = c.After
			}
		}
		e.NewExpiresAt, e.NewAction = next.ExpiresAt, next.EffectiveAction()
		e.NextSweep, e.NextSweepReason = SweepOutcome(next, now)
		if exhaustedBudget != "" && s.Budget == exhaustedBudget {
			e.NextSweep, e.NextSweepReason = lifecycle.OutcomeDelete, lifecycle.ReasonUsageLimitReached
			e.Effects = append(e.Effects, EffectUsageExhausted)
		}
		if !e.NewExpiresAt.Equal(e.OldExpiresAt) {
			e.Effects = append(e.Effects, EffectExpiry)
		}
		if e.NewAction != e.OldAction {
			e.Effects = append(e.Effects, EffectAction)
		}
		if next.Lifetime.KeepaliveInterval != s.Lifetime.KeepaliveInterval || next.Lifetime.IdleDisconnect != s.Lifetime.IdleDisconnect {
			e.Effects = append(e.Effects, EffectLifetime)
		}
		if e.NextSweep != e.Unchanged {
			switch e.NextSweep {
			case lifecycle.OutcomeStop:
				e.Effects = append(e.Effects, EffectStop)
			case lifecycle.OutcomePause:
				e.Effects = append(e.Effects, EffectPause)
			case lifecycle.OutcomeDelete:
				e.Effects = append(e.Effects, EffectDelete)
			}
		}
		if len(withdrawn) > 0 {
			e.Effects = append(e.Effects, EffectPermissionWithdrawn)
		}
		if len(e.Effects) > 0 {
			out = append(out, e)
		}
	}
	return out
}
