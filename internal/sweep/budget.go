package sweep

import (
	"context"
	"fmt"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
	"wspolicy/internal/settings"
	"wspolicy/internal/usage"
)

// Action names and reasons of budget work in a report.
const (
	actionRepair             = "repair"
	reasonBudgetNotExhausted = "budget_not_exhausted"
	reasonSessionEnded       = "session_ended"
	reasonUsageLimitChanged  = "usage_limit_changed"
)

// handleBudget decides on a budget ledger found in the due index (docs/design-usage.md, section
// 6). The index is eventually consistent, so the ledger is read again first. Not exhausted
// (the limit was raised, or the window rolled over): its deadline is rewritten. Exhausted:
// memberships whose session has already ended are repaired first (which may leave the budget
// not exhausted after all), then every session charged to the budget is ended with reason
// usage_limit_reached. The cost grows with the budget's open sessions, never with all budgets.
func (r *run) handleBudget(ctx context.Context, due lifecycle.BudgetLedger) {
	r.update(func(rep *Report) { rep.Budgets++ })
	key := due.Budget.Key
	bl, err := r.store.GetLedger(ctx, key)
	if err != nil {
		r.fail(err)
		return
	}
	if !bl.Exists() {
		return
	}
	if !r.exhausted(bl) {
		r.rescheduleBudget(ctx, bl)
		return
	}
	members, err := r.store.BudgetMembers(ctx, key)
	if err != nil {
		r.fail(err)
		return
	}
	r.update(func(rep *Report) { rep.ItemsRead += len(members) })
	var live []lifecycle.Session
	repaired := 0
	for _, m := range members {
		s, err := r.store.GetSession(ctx, m.SessionID)
		switch {
		case err == nil && s.Status != lifecycle.StatusDeleted:
			live = append(live, s)
			continue
		case err != nil && !policy.IsKind(err, policy.KindNotFound):
			r.fail(err)
			continue
		}
		if !r.opts.DryRun {
			ok, err := r.store.RepairMembership(ctx, key, m, r.now)
			if err != nil {
				r.fail(err)
				continue
			}
			if !ok {
				continue
			}
		}
		repaired++
		r.record(Action{SessionID: m.SessionID, UserID: m.UserID, Budget: key, Action: actionRepair, Reason: reasonSessionEnded})
		r.update(func(rep *Report) { rep.Repaired++ })
	}
	if repaired > 0 && !r.opts.DryRun {
		// The repaired sessions were charged only until they ended: read the ledger again.
		if bl, err = r.store.GetLedger(ctx, key); err != nil {
			r.fail(err)
			return
		}
		if !bl.Exists() {
			return
		}
		if !r.exhausted(bl) {
			r.rescheduleBudget(ctx, bl)
			return
		}
	}
	r.update(func(rep *Report) { rep.ExhaustedBudgets++ })
	for _, s := range live {
		r.endForUsage(ctx, key, s)
	}
}

func (r *run) exhausted(bl lifecycle.BudgetLedger) bool {
	return usage.Exhausted(bl.Ledger, bl.Budget.Interval, bl.Budget.LimitMs, r.now.UnixMilli())
}

// rescheduleBudget moves a ledger that is not exhausted to its new deadline.
func (r *run) rescheduleBudget(ctx context.Context, bl lifecycle.BudgetLedger) {
	if !r.opts.DryRun {
		ok, err := r.store.RescheduleLedger(ctx, bl, r.now)
		if err != nil {
			r.fail(err)
			return
		}
		if !ok {
			return
		}
	}
	r.record(Action{Budget: bl.Budget.Key, Action: string(lifecycle.OutcomeReschedule), Reason: reasonBudgetNotExhausted})
	r.update(func(rep *Report) { rep.Rescheduled++ })
}

// endForUsage deletes session s of an exhausted budget (usage_limit_reached, then deleted),
// which ends its charge in the ledger in the same transaction. When the session changed first
// (a keepalive, an action) it is read and ended again (lifecycle.Retry); a session deleted
// meanwhile is skipped.
func (r *run) endForUsage(ctx context.Context, budget string, s lifecycle.Session) {
	var readErr error // a failed read again, reported as it is
	read := false
	c, err := lifecycle.Retry("session "+s.ID, 0, func() (lifecycle.Change, error) {
		if read {
			if s, readErr = r.store.GetSession(ctx, s.ID); readErr != nil {
				return lifecycle.Change{}, readErr
			}
		}
		read = true
		c := lifecycle.UsageLimitReached(s, r.now)
		if c.None() || r.opts.DryRun {
			return c, nil
		}
		return c, r.store.Transition(ctx, c) // session_changed: Retry reads and decides again
	})
	switch {
	case readErr != nil:
		r.fail(readErr)
	case policy.IsKind(err, policy.KindNotFound), err == nil && c.None():
		r.update(func(rep *Report) { rep.Skipped++ })
	case err != nil:
		r.fail(fmt.Errorf("end session %s of exhausted budget %s: %w", s.ID, budget, err))
	default:
		r.record(Action{SessionID: s.ID, UserID: s.UserID, Budget: budget, Action: string(c.Outcome), Reason: c.Reason})
		r.update(func(rep *Report) { rep.Deleted++ })
	}
}

// resyncBudget puts the usage_limit now in force for userID (resolved as res) on the ledger of
// the budget their new sessions go to, once per budget and run (docs/design-usage.md, section
// 7): changed hours move the ledger's deadline at once. A changed type or interval is another
// budget: sessions already charged to the old one finish under its last limit.
func (r *run) resyncBudget(ctx context.Context, userID string, res settings.Resolution) error {
	b, err := sessions.BudgetOf(userID, res)
	if err != nil {
		return fmt.Errorf("re-sync the budget of user %s: %w", userID, err)
	}
	if !b.Limited() || !r.firstResyncOf(b.Key) {
		return nil
	}
	if r.opts.DryRun {
		bl, err := r.store.GetLedger(ctx, b.Key)
		if err != nil || !bl.Exists() || bl.SameLimit(b) {
			return err
		}
	} else {
		changed, err := r.store.ApplyBudgetLimit(ctx, b, r.now)
		if err != nil || !changed {
			return err
		}
	}
	r.record(Action{UserID: userID, Budget: b.Key, Action: string(lifecycle.OutcomeResync), Reason: reasonUsageLimitChanged})
	r.update(func(rep *Report) { rep.ResyncedBudgets++ })
	return nil
}

// firstResyncOf reports whether this run's re-sync has not yet seen to budget key, and notes
// that it now has (the users are re-synced in parallel).
func (r *run) firstResyncOf(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.budgetsResynced[key] {
		return false
	}
	if r.budgetsResynced == nil {
		r.budgetsResynced = map[string]bool{}
	}
	r.budgetsResynced[key] = true
	return true
}
