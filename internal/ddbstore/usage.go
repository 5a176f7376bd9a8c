package ddbstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/usage"
)

// addEndCharge adds to tx, the transaction that deletes the session of c, the end of its charge
// in its budget's ledger (charged from its created_at until c.At) and the removal of its
// membership item, and returns their indexes in tx (-1 when none was added). A missing ledger
// cannot happen (a ledger with open sessions has no TTL): it is logged and the session ends
// without a charge.
func (ss *SessionStore) addEndCharge(ctx context.Context, tx *txWrites, c lifecycle.Change) (ledgerItem, memberItem int, err error) {
	s := c.Before
	cur, err := ss.st.readLedger(ctx, s.Budget)
	if err != nil {
		return -1, -1, err
	}
	if !cur.Exists() {
		ss.log.ErrorContext(ctx, "session charged to a budget without a ledger: ended without a charge",
			"session_id", s.ID, "budget", s.Budget)
		tx.Delete(budgetMemberKey(s.Budget, s.ID), expression.ConditionBuilder{})
		return -1, -1, nil
	}
	at := msOf(c.At)
	ledgerItem = len(tx.Items)
	sh := endShardOf(cur, s.Budget, s.ID)
	l := usage.End(sh.Ledger, cur.Budget.Interval, msOf(s.CreatedAt), at)
	tx.writeLedger(cur.Budget, sh.Index, l, sh.Version, mergeWith(cur, cur.Budget.Interval, sh.Index, l, at), true, at)
	memberItem = len(tx.Items)
	tx.Delete(budgetMemberKey(s.Budget, s.ID), ddbkit.ItemExists())
	return ledgerItem, memberItem, nil
}

// GetLedger reads a budget's ledger (strongly consistent); a BudgetLedger with Version 0 when
// there is none (never written, or expired after a window with no session open: both read as
// the zero usage.Ledger).
func (ss *SessionStore) GetLedger(ctx context.Context, budget string) (lifecycle.BudgetLedger, error) {
	bl, err := ss.st.readLedger(ctx, budget)
	if err != nil {
		return lifecycle.BudgetLedger{}, fmt.Errorf("read the ledger of budget %s: %w", budget, err)
	}
	return bl, nil
}

// BudgetMembers lists the sessions a budget's ledger counts as open (one consistent Query of
// the budget's partition, paged).
func (ss *SessionStore) BudgetMembers(ctx context.Context, budget string) ([]lifecycle.BudgetMember, error) {
	in, err := ddbkit.PrefixQuery(budgetPKPrefix+budget, budgetMemberSKPrefix, nil)
	if err != nil {
		return nil, err
	}
	in.ConsistentRead = aws.Bool(true)
	var out []lifecycle.BudgetMember
	err = ss.st.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var r budgetMemberRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode budget member: %w", err)
		}
		out = append(out, r.member())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("members of budget %s: %w", budget, err)
	}
	return out, nil
}

// RescheduleLedger rewrites ledger bl (as read) rolled to now, with its deadline recomputed
// from its stored limit: the sweep's answer to a due ledger that is not exhausted (the limit
// was raised or the window rolled over since the deadline was written). It writes nothing when
// the deadline is already right, and reports false when the ledger changed since it was read
// (whoever changed it wrote an exact deadline).
func (ss *SessionStore) RescheduleLedger(ctx context.Context, bl lifecycle.BudgetLedger, now time.Time) (bool, error) {
	b, nowMs := bl.Budget, msOf(lifecycle.Millis(now))
	l, _, _ := usage.Roll(bl.Ledger, b.Interval, nowMs)
	due := usage.DeadlineAt(l, b.Interval, b.LimitMs, nowMs)
	if l.OpenCount > 0 && due == msOf(bl.DueAt) {
		return false, nil
	}
	switch {
	case len(bl.Shards) == 0 && ledgerShards(b.Key) == 1:
		// Read from the due index: the one item is the whole ledger.
		bl.Shards = []lifecycle.LedgerShard{{Ledger: bl.Ledger, Version: bl.Version, DueAt: bl.DueAt}}
	case len(bl.Shards) == 0:
		// Read from the due index (one shard of several): read every shard.
		var err error
		if bl, err = ss.st.readLedger(ctx, b.Key); err != nil {
			return false, fmt.Errorf("reschedule the ledger of budget %s: %w", b.Key, err)
		}
		b = bl.Budget
	}
	ok, err := ss.rewriteShards(ctx, bl, b, nowMs)
	if err != nil {
		return false, fmt.Errorf("reschedule the ledger of budget %s: %w", b.Key, err)
	}
	return ok, nil
}

// RepairMembership ends, in budget's ledger, the charge of member m whose session is deleted
// or gone although the ledger still counts it open, and deletes the membership item, in one
// transaction. The charge runs until the session's deletion (its TTL tells when), or until now
// when the session item is gone. It reports false, writing nothing, when the session is still
// live (not an orphan) or somebody else ended the charge first.
func (ss *SessionStore) RepairMembership(ctx context.Context, budget string, m lifecycle.BudgetMember, now time.Time) (bool, error) {
	ok, err := ss.repairMembership(ctx, budget, m, msOf(lifecycle.Millis(now)))
	if err != nil {
		return false, fmt.Errorf("repair the membership of session %s in budget %s: %w", m.SessionID, budget, err)
	}
	return ok, nil
}

func (ss *SessionStore) repairMembership(ctx context.Context, budget string, m lifecycle.BudgetMember, nowMs int64) (bool, error) {
	var rec sessionRecord
	found, err := ss.st.kt.GetRecord(ctx, sessionKey(m.SessionID), true, &rec)
	if err != nil {
		return false, err
	}
	since, at := msOf(m.Since), nowMs
	if found {
		if rec.Status != string(lifecycle.StatusDeleted) {
			return false, nil
		}
		if rec.TTL > 0 {
			at = min(at, rec.TTL*1000-lifecycle.FinishedRetention.Milliseconds())
		}
	}
	at = max(at, since)
	races := ss.ledgerRaces(budget)
	for {
		cur, err := ss.st.readLedger(ctx, budget)
		if err != nil {
			return false, err
		}
		tx := ss.st.newTx()
		if cur.Exists() {
			sh := endShardOf(cur, budget, m.SessionID)
			l := usage.End(sh.Ledger, cur.Budget.Interval, since, at)
			tx.writeLedger(cur.Budget, sh.Index, l, sh.Version, mergeWith(cur, cur.Budget.Interval, sh.Index, l, nowMs), true, nowMs)
		}
		tx.Delete(budgetMemberKey(budget, m.SessionID), ddbkit.ItemExists())
		memberItem := len(tx.Items) - 1
		err = ss.st.transactWrite(ctx, tx)
		switch {
		case err == nil:
			if cur.Exists() {
				ss.fixDeadline(ctx, budget, -1, nowMs)
			}
			return true, nil
		case itemFailed(err, memberItem):
			return false, nil
		case cur.Exists() && itemFailed(err, 0):
			if err := races.lost(ctx); err != nil {
				return false, err
			}
			continue
		}
		return false, ddbkit.StoreError(err)
	}
}

// DueItems returns one page of due shard shard (0 ≤ shard < tabledef.DueShards): the sessions
// and budget ledgers due at or before now (eventually consistent, like DueSessions).
func (ss *SessionStore) DueItems(ctx context.Context, now time.Time, shard int, pageToken string) (lifecycle.DuePage, error) {
	out, err := ss.dueQuery(ctx, now, shard, pageToken)
	if err != nil {
		return lifecycle.DuePage{}, err
	}
	var sessions []map[string]ddbtypes.AttributeValue
	var p lifecycle.DuePage
	for _, item := range out.Items {
		if !isBudgetItem(item) {
			sessions = append(sessions, item)
			continue
		}
		var r ledgerRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return lifecycle.DuePage{}, fmt.Errorf("decode ledger: %w", err)
		}
		bl, err := r.ledger()
		if err != nil {
			return lifecycle.DuePage{}, err
		}
		p.Ledgers = append(p.Ledgers, bl)
	}
	sp, err := sessionPage(sessions, out.LastEvaluatedKey)
	if err != nil {
		return lifecycle.DuePage{}, err
	}
	p.Sessions, p.NextPageToken = sp.Sessions, sp.NextPageToken
	return p, nil
}

// ApplyBudgetLimit puts the limit of budget b (as the settings now give it: hours, type,
// source) in force on its ledger, when the ledger exists and was written with another one: the
// deadline is recomputed, so a lowered limit is enforced by the next sweep and a raised one
// lets the sessions run on (docs/design-usage.md, section 7). It reports whether it wrote.
// A missing ledger needs nothing: the next start writes b's limit.
func (ss *SessionStore) ApplyBudgetLimit(ctx context.Context, b usage.Budget, now time.Time) (bool, error) {
	nowMs := msOf(lifecycle.Millis(now))
	races := ss.ledgerRaces(b.Key)
	for {
		cur, err := ss.st.readLedger(ctx, b.Key)
		if err != nil {
			return false, fmt.Errorf("apply the limit of budget %s: %w", b.Key, err)
		}
		if !cur.Exists() || cur.SameLimit(b) {
			return false, nil
		}
		ok, err := ss.rewriteShards(ctx, cur, b, nowMs)
		switch {
		case err != nil:
			return false, fmt.Errorf("apply the limit of budget %s: %w", b.Key, err)
		case ok:
			return true, nil
		}
		if err := races.lost(ctx); err != nil {
			return false, err
		}
	}
}
