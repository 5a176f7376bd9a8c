package ddbstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
	"wspolicy/internal/tabledef"
	"wspolicy/internal/usage"
)

// Key layout of usage budgets (docs/design-usage.md, section 5).
//
//	item                 PK                  SK                 index keys
//	budget ledger        BUDGET#<key>        LEDGER             Due DUE#<n> / <deadline epoch ms> (only while sessions are open and it can run out)
//	budget membership    BUDGET#<key>        OPEN#<sid>
//
// <key> is the budget key, user#<uid>#<interval> or group#<gid>#<interval>; n is
// fnv32a(<key>) % tabledef.DueShards, as for sessions.
const (
	budgetPKPrefix       = "BUDGET#"
	ledgerSK             = "LEDGER"
	budgetMemberSKPrefix = "OPEN#"
)

// DefaultLedgerPatience is how long a write that keeps losing the race for a budget's ledger
// (to concurrent starts and ends on the same budget) goes on trying before it gives up with
// 503 retry_later: well inside the API function's 29 s timeout, and long enough for a few
// dozen writers racing for one ledger on a slow, loaded database to each get their turn.
// A bound on time, not on attempts: how many attempts that takes depends on how many writers
// race and how fast the database answers, and neither is known in advance.
const DefaultLedgerPatience = 10 * time.Second

// WithLedgerPatience sets how long a write racing for a budget's ledger keeps trying (see
// DefaultLedgerPatience).
func WithLedgerPatience(d time.Duration) SessionOption {
	return func(ss *SessionStore) { ss.ledgerPatience = d }
}

// ledgerRaces paces one write's retries after it lost the race for budget's ledger.
type ledgerRaces struct {
	budget   string
	patience time.Duration
	n        int
	first    time.Time
}

func (ss *SessionStore) ledgerRaces(budget string) *ledgerRaces {
	return &ledgerRaces{budget: budget, patience: ss.ledgerPatience}
}

// lost records a lost race and waits before the next attempt, or answers 503 retry_later
// once the write has been losing for longer than its patience. The winner's transaction is a
// few milliseconds long, so the wait starts under ~10 ms; it grows to at most ~160 ms, with
// full jitter so that the writers racing for one ledger spread out rather than collide again.
func (r *ledgerRaces) lost(ctx context.Context) error {
	now := time.Now()
	if r.n == 0 {
		r.first = now
	}
	r.n++
	if now.Sub(r.first) >= r.patience {
		return retryLater("the ledger of budget " + r.budget)
	}
	ceiling := 10 * time.Millisecond << min(r.n-1, 4)
	return sleep(ctx, time.Millisecond+rand.N(ceiling))
}

func budgetLedgerKey(budget string) tableKey {
	return tableKey{PK: budgetPKPrefix + budget, SK: ledgerSK}
}

func budgetMemberKey(budget, sessionID string) tableKey {
	return tableKey{PK: budgetPKPrefix + budget, SK: budgetMemberSKPrefix + sessionID}
}

// Ledger attribute names used in expressions.
const (
	ledgerAttrBudget        = "budget"
	ledgerAttrLimitType     = "limit_type"
	ledgerAttrLimitInterval = "limit_interval"
	ledgerAttrLimitHours    = "limit_hours"
	ledgerAttrLimitMs       = "limit_ms"
	ledgerAttrSourceGroup   = "source_group_id"
	ledgerAttrWindowStart   = "window_start_ms"
	ledgerAttrClosed        = "closed_ms"
	ledgerAttrOpenCount     = "open_count"
	ledgerAttrOpenSinceSum  = "open_since_sum_ms"
	ledgerAttrVersion       = "version"
	ledgerAttrUpdatedAt     = "updated_at_ms"
)

// ledgerRecord is a budget's ledger item: the limit it was last written with, the four numbers
// of usage.Ledger and the version every write is conditional on. DueShard/DueAt exist while
// sessions are open and the budget can run out; TTL while none is open and the window ends.
type ledgerRecord struct {
	PK       string `dynamodbav:"PK"`
	SK       string `dynamodbav:"SK"`
	DueShard string `dynamodbav:"DueShard,omitempty"`
	DueAt    int64  `dynamodbav:"DueAt,omitempty"`

	Budget         string  `dynamodbav:"budget"`
	LimitType      string  `dynamodbav:"limit_type"`
	LimitInterval  string  `dynamodbav:"limit_interval"`
	LimitHours     float64 `dynamodbav:"limit_hours"`
	LimitMs        int64   `dynamodbav:"limit_ms"`
	SourceGroupID  string  `dynamodbav:"source_group_id"`
	WindowStartMs  int64   `dynamodbav:"window_start_ms"`
	ClosedMs       int64   `dynamodbav:"closed_ms"`
	OpenCount      int64   `dynamodbav:"open_count"`
	OpenSinceSumMs int64   `dynamodbav:"open_since_sum_ms"`
	Version        int64   `dynamodbav:"version"`
	UpdatedAtMs    int64   `dynamodbav:"updated_at_ms"`
	TTL            int64   `dynamodbav:"TTL,omitempty"`
}

// ledger converts the item; a limit_interval this code cannot meter is an error.
func (r ledgerRecord) ledger() (lifecycle.BudgetLedger, error) {
	iv, err := usage.ParseInterval(r.LimitInterval)
	if err != nil {
		return lifecycle.BudgetLedger{}, fmt.Errorf("ledger of budget %s: %w", r.Budget, err)
	}
	return lifecycle.BudgetLedger{
		Budget: usage.Budget{
			Key:      r.Budget,
			Limit:    usage.Limit{Type: r.LimitType, Interval: r.LimitInterval, Hours: r.LimitHours},
			Source:   usage.Source{GroupID: r.SourceGroupID},
			Interval: iv,
			LimitMs:  r.LimitMs,
		},
		Ledger: usage.Ledger{
			WindowStart: r.WindowStartMs, ClosedMs: r.ClosedMs,
			OpenCount: r.OpenCount, OpenSinceSumMs: r.OpenSinceSumMs,
		},
		Version: r.Version,
		DueAt:   timeOfMs(r.DueAt),
	}, nil
}

// budgetMemberRecord is a budget membership item: a session the ledger counts as open.
type budgetMemberRecord struct {
	PK        string `dynamodbav:"PK"`
	SK        string `dynamodbav:"SK"`
	SessionID string `dynamodbav:"session_id"`
	UserID    string `dynamodbav:"user_id"`
	SinceMs   int64  `dynamodbav:"since_ms"`
}

func newBudgetMemberRecord(budget string, s lifecycle.Session) budgetMemberRecord {
	k := budgetMemberKey(budget, s.ID)
	return budgetMemberRecord{PK: k.PK, SK: k.SK, SessionID: s.ID, UserID: s.UserID, SinceMs: msOf(s.CreatedAt)}
}

func (r budgetMemberRecord) member() lifecycle.BudgetMember {
	return lifecycle.BudgetMember{SessionID: r.SessionID, UserID: r.UserID, Since: timeOfMs(r.SinceMs)}
}

// readLedger reads a budget's ledger (strongly consistent); a zero BudgetLedger (Version 0)
// when there is none.
func (s *Store) readLedger(ctx context.Context, budget string) (lifecycle.BudgetLedger, error) {
	var rec ledgerRecord
	found, err := s.getRecord(ctx, budgetLedgerKey(budget), true, &rec)
	if err != nil || !found {
		return lifecycle.BudgetLedger{}, err
	}
	return rec.ledger()
}

// writeLedger adds the ledger write of docs/design-usage.md section 6 to a transaction: budget
// b's limit and ledger l as absolute values, version v0+1, conditional on the version read
// (v0; 0: no item). The item is in the due index at its deadline while sessions are open and
// the budget can run out, and expires by TTL while none is. It returns the deadline (0: none).
func (tx *txWrites) writeLedger(b usage.Budget, l usage.Ledger, v0, nowMs int64) int64 {
	due := usage.DeadlineAt(l, b.Interval, b.LimitMs, nowMs)
	set := func(u expression.UpdateBuilder, name string, v any) expression.UpdateBuilder {
		return u.Set(expression.Name(name), expression.Value(v))
	}
	var upd expression.UpdateBuilder
	upd = set(upd, ledgerAttrBudget, b.Key)
	upd = set(upd, ledgerAttrLimitType, b.Limit.Type)
	upd = set(upd, ledgerAttrLimitInterval, b.Interval.String())
	upd = set(upd, ledgerAttrLimitHours, b.Limit.Hours)
	upd = set(upd, ledgerAttrLimitMs, b.LimitMs)
	upd = set(upd, ledgerAttrSourceGroup, b.Source.GroupID)
	upd = set(upd, ledgerAttrWindowStart, l.WindowStart)
	upd = set(upd, ledgerAttrClosed, l.ClosedMs)
	upd = set(upd, ledgerAttrOpenCount, l.OpenCount)
	upd = set(upd, ledgerAttrOpenSinceSum, l.OpenSinceSumMs)
	upd = set(upd, ledgerAttrVersion, v0+1)
	upd = set(upd, ledgerAttrUpdatedAt, nowMs)
	if l.OpenCount > 0 && due != 0 {
		upd = set(upd, attrDueShard, dueShard(b.Key))
		upd = set(upd, attrDueAt, due)
	} else {
		upd = upd.Remove(expression.Name(attrDueShard)).Remove(expression.Name(attrDueAt))
	}
	if exp := usage.ExpiresAt(l, b.Interval); l.OpenCount == 0 && exp != 0 {
		upd = set(upd, tabledef.TTLAttribute, (exp+999)/1000)
	} else {
		upd = upd.Remove(expression.Name(tabledef.TTLAttribute))
	}
	cond := itemAbsent()
	if v0 > 0 {
		cond = expression.Name(ledgerAttrVersion).Equal(expression.Value(v0))
	}
	tx.update(budgetLedgerKey(b.Key), upd, cond)
	return due
}

// errUsageLimitReached refuses a start on budget b, exhausted at nowMs.
func errUsageLimitReached(userID string, b usage.Budget, nowMs int64) *policy.Error {
	_, end := usage.WindowMs(b.Interval, nowMs)
	until := "for good (interval total)"
	if end != usage.NoEnd {
		until = "until " + timeOfMs(end).Format("2006-01-02T15:04:05Z07:00")
	}
	return &policy.Error{Kind: policy.KindForbidden, Code: policy.CodeUsageLimitReached, Field: settings.NameUsageLimit,
		Message: fmt.Sprintf("user %s has used the %g hours of the %s usage limit (budget %s) %s",
			userID, b.Limit.Hours, b.Interval, b.Key, until)}
}

// isBudgetItem reports whether an item read from the due index is a budget ledger.
func isBudgetItem(item map[string]ddbtypes.AttributeValue) bool {
	pk, ok := item[attrPK].(*ddbtypes.AttributeValueMemberS)
	return ok && strings.HasPrefix(pk.Value, budgetPKPrefix)
}

// itemFailed reports whether item i (≥ 0) of a cancelled transaction failed its condition.
func itemFailed(err error, i int) bool {
	_, failed := conditionFailedAt(err, i)
	return failed
}
