package lifecycle

import (
	"time"

	"wspolicy/internal/usage"
)

// BudgetLedger is a budget's ledger item as stored (docs/design-usage.md, section 5).
type BudgetLedger struct {
	// Budget is the key and the limit the ledger was last written with (its Source holds only
	// the group id).
	Budget usage.Budget
	// Ledger is the four numbers that meter the budget.
	Ledger usage.Ledger
	// Version is incremented by every write, each conditional on it; 0 means no ledger item.
	Version int64
	// DueAt is when the sweep must look at the ledger (its deadline); zero: not due.
	DueAt time.Time
	// Shards are the items the ledger is stored in (docs/design-usage.md, section 10): Ledger
	// is their merge, Version the sum of theirs and DueAt the earliest of theirs. Empty for a
	// ledger read from the due index (one shard).
	Shards []LedgerShard
}

// LedgerShard is one item of a budget's ledger as stored.
type LedgerShard struct {
	Index   int
	Ledger  usage.Ledger
	Version int64
	DueAt   time.Time
}

// Exists reports whether the ledger item exists.
func (b BudgetLedger) Exists() bool { return b.Version > 0 }

// UsageDeadline is what the ledger says of a session charged to it at now, when the session's
// own usage gate tripped: exhausted when the ledger is (or, defensively, when there is none),
// else the ledger's deadline (zero: it cannot run out with the sessions open).
func (b BudgetLedger) UsageDeadline(now time.Time) (deadline time.Time, exhausted bool) {
	if !b.Exists() {
		return time.Time{}, true
	}
	lim, nowMs := b.Budget, Millis(now).UnixMilli()
	if usage.Exhausted(b.Ledger, lim.Interval, lim.LimitMs, nowMs) {
		return time.Time{}, true
	}
	if d := usage.DeadlineAt(b.Ledger, lim.Interval, lim.LimitMs, nowMs); d != 0 {
		return time.UnixMilli(d).UTC(), false
	}
	return time.Time{}, false
}

// SameLimit reports whether the ledger was written with the limit budget nb gives (the same
// hours, type and source group), so that nothing needs rewriting when settings are re-synced.
func (b BudgetLedger) SameLimit(nb usage.Budget) bool {
	return b.Budget.LimitMs == nb.LimitMs && b.Budget.Limit == nb.Limit && b.Budget.Source.GroupID == nb.Source.GroupID
}

// BudgetMember is a session the ledger of a budget counts as open (a membership item).
type BudgetMember struct {
	SessionID string
	UserID    string
	// Since is the session's created_at: what the ledger charges it from.
	Since time.Time
}

// DuePage is one page of the due index: due sessions and due budget ledgers.
type DuePage struct {
	Sessions      []Session
	Ledgers       []BudgetLedger
	NextPageToken string
}

// UsageLimitReached is the change that ends session s at now because the budget it is charged
// to is exhausted: a usage_limit_reached event, then deleted, from any state (paused and stopped
// time is charged too). It is guarded like a sweep's change. OutcomeNone when s is deleted.
func UsageLimitReached(s Session, now time.Time) Change {
	b := begin(s, GuardObserved, ActorSweep, now)
	if s.Status == StatusDeleted {
		return b.c
	}
	b.move(StatusDeleted, EventUsageLimitReached, EventDeleted, ReasonUsageLimitReached)
	return b.finish(OutcomeDelete, ReasonUsageLimitReached)
}
