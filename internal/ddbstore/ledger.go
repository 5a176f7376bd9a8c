package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
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
	return ddbkit.Sleep(ctx, time.Millisecond+rand.N(ceiling))
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

// readLedger reads a budget's ledger: its shards (one strongly consistent Query of the
// budget's partition for the sort keys beginning LEDGER) merged into one. A zero BudgetLedger
// (Version 0) when there is none. The limit is the one the shard written last carries.
// Concurrent reads of one budget in this process share a Query that started after each of them
// was called (freshCalls): the caller must not change the Shards it returns.
func (s *Store) readLedger(ctx context.Context, budget string) (lifecycle.BudgetLedger, error) {
	return s.ledgers.do(ctx, budget, func(ctx context.Context) (lifecycle.BudgetLedger, error) {
		return s.queryLedger(ctx, budget)
	})
}

// queryLedger is readLedger's Query.
func (s *Store) queryLedger(ctx context.Context, budget string) (lifecycle.BudgetLedger, error) {
	in, err := ddbkit.PrefixQuery(budgetPKPrefix+budget, ledgerSK, nil)
	if err != nil {
		return lifecycle.BudgetLedger{}, err
	}
	in.ConsistentRead = aws.Bool(true)
	var (
		out     lifecycle.BudgetLedger
		latest  int64 = -1
		ledgers []usage.Ledger
	)
	err = s.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var rec ledgerRecord
		if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
			return fmt.Errorf("decode ledger: %w", err)
		}
		idx, ok := ledgerShardIndex(rec.SK)
		if !ok {
			return nil
		}
		bl, err := rec.ledger()
		if err != nil {
			return err
		}
		if rec.UpdatedAtMs > latest {
			latest, out.Budget = rec.UpdatedAtMs, bl.Budget
		}
		out.Version += bl.Version
		if !bl.DueAt.IsZero() && (out.DueAt.IsZero() || bl.DueAt.Before(out.DueAt)) {
			out.DueAt = bl.DueAt
		}
		out.Shards = append(out.Shards, lifecycle.LedgerShard{Index: idx, Ledger: bl.Ledger, Version: bl.Version, DueAt: bl.DueAt})
		ledgers = append(ledgers, bl.Ledger)
		return nil
	})
	if err != nil {
		return lifecycle.BudgetLedger{}, err
	}
	out.Ledger = usage.Merge(out.Budget.Interval, 0, ledgers...)
	return out, nil
}

// ledgerShards is how many shards the ledger of budget is written in: per_group budgets, shared
// by up to a whole directory of users, are spread over LedgerShards items so that concurrent
// starts and ends mostly write different items; a per_user budget is one item.
func ledgerShards(budget string) int {
	if strings.HasPrefix(budget, usage.GroupKeyPrefix) {
		return LedgerShards
	}
	return 1
}

// LedgerShards is how many items a per_group budget's ledger is spread over. It must not
// shrink: an end finds its session's shard by the session id modulo it (and falls back on
// any shard with sessions open, so growing it is safe).
const LedgerShards = 16

// ledgerShardOf is the shard a session of budget is charged to.
func ledgerShardOf(budget, sessionID string) int {
	k := ledgerShards(budget)
	if k == 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(sessionID))
	return int(h.Sum32() % uint32(k))
}

// ledgerShardKey is the key of shard i of budget's ledger: LEDGER for shard 0 (the whole
// ledger of an unsharded budget, and the item budgets had before sharding), LEDGER#<i> else.
func ledgerShardKey(budget string, i int) tableKey {
	if i == 0 {
		return budgetLedgerKey(budget)
	}
	return tableKey{PK: budgetPKPrefix + budget, SK: fmt.Sprintf("%s#%d", ledgerSK, i)}
}

// ledgerShardIndex parses a ledger shard's sort key.
func ledgerShardIndex(sk string) (int, bool) {
	if sk == ledgerSK {
		return 0, true
	}
	rest, ok := strings.CutPrefix(sk, ledgerSK+"#")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	return i, err == nil && i > 0
}

// shardOf returns shard i of bl as read (zero ledger, version 0 when it does not exist).
func shardOf(bl lifecycle.BudgetLedger, i int) lifecycle.LedgerShard {
	for _, sh := range bl.Shards {
		if sh.Index == i {
			return sh
		}
	}
	return lifecycle.LedgerShard{Index: i}
}

// endShardOf picks the shard that ends the charge of session sessionID: its own shard when that
// counts open sessions, else the shard counting the most (a session started before its budget
// was sharded is counted in shard 0). The merged ledger is the same whichever shard an end is
// written to; only a shard's own count must not go below zero.
func endShardOf(bl lifecycle.BudgetLedger, budget, sessionID string) lifecycle.LedgerShard {
	own := shardOf(bl, ledgerShardOf(budget, sessionID))
	if own.Ledger.OpenCount > 0 {
		return own
	}
	best := own
	for _, sh := range bl.Shards {
		if sh.Ledger.OpenCount > best.Ledger.OpenCount {
			best = sh
		}
	}
	return best
}

// mergeWith is the budget's merged ledger at nowMs with shard sh replaced by l.
func mergeWith(bl lifecycle.BudgetLedger, iv usage.Interval, idx int, l usage.Ledger, nowMs int64) usage.Ledger {
	ls := []usage.Ledger{l}
	for _, sh := range bl.Shards {
		if sh.Index != idx {
			ls = append(ls, sh.Ledger)
		}
	}
	return usage.Merge(iv, nowMs, ls...)
}

// setAttr adds SET name = v to an update.
func setAttr(u expression.UpdateBuilder, name string, v any) expression.UpdateBuilder {
	return u.Set(expression.Name(name), expression.Value(v))
}

// ledgerHeader is the part of every ledger shard write that describes the budget (its key,
// limit and source group) and when it was written; writeLedger and addToLedger add the counts.
func ledgerHeader(b usage.Budget, nowMs int64) expression.UpdateBuilder {
	var upd expression.UpdateBuilder
	upd = setAttr(upd, ledgerAttrBudget, b.Key)
	upd = setAttr(upd, ledgerAttrLimitType, b.Limit.Type)
	upd = setAttr(upd, ledgerAttrLimitInterval, b.Interval.String())
	upd = setAttr(upd, ledgerAttrLimitHours, b.Limit.Hours)
	upd = setAttr(upd, ledgerAttrLimitMs, b.LimitMs)
	upd = setAttr(upd, ledgerAttrSourceGroup, b.Source.GroupID)
	return setAttr(upd, ledgerAttrUpdatedAt, nowMs)
}

// writeLedger adds the ledger write of docs/design-usage.md section 6 to a transaction, for
// one shard of the budget (section 10; the only one of an unsharded budget): shard idx of budget b gets ledger l as absolute values, version v0+1,
// conditional on the version read (v0; 0: no item); whole is the merged ledger of the budget
// after the write, which gives the deadline. The shard is in the due index at that deadline
// while it counts open sessions (carry) and the budget can run out, and expires by TTL while
// it counts none. It returns the budget's deadline (0: none).
func (tx *txWrites) writeLedger(b usage.Budget, idx int, l usage.Ledger, v0 int64, whole usage.Ledger, carry bool, nowMs int64) int64 {
	due := usage.DeadlineAt(whole, b.Interval, b.LimitMs, nowMs)
	upd := ledgerHeader(b, nowMs)
	upd = setAttr(upd, ledgerAttrWindowStart, l.WindowStart)
	upd = setAttr(upd, ledgerAttrClosed, l.ClosedMs)
	upd = setAttr(upd, ledgerAttrOpenCount, l.OpenCount)
	upd = setAttr(upd, ledgerAttrOpenSinceSum, l.OpenSinceSumMs)
	upd = setAttr(upd, ledgerAttrVersion, v0+1)
	if carry && l.OpenCount > 0 && due != 0 {
		upd = setAttr(upd, attrDueShard, dueShard(b.Key))
		upd = setAttr(upd, attrDueAt, due)
	} else {
		upd = upd.Remove(expression.Name(attrDueShard)).Remove(expression.Name(attrDueAt))
	}
	if exp := usage.ExpiresAt(l, b.Interval); l.OpenCount == 0 && exp != 0 {
		upd = setAttr(upd, tabledef.TTLAttribute, (exp+999)/1000)
	} else {
		upd = upd.Remove(expression.Name(tabledef.TTLAttribute))
	}
	tx.Update(ledgerShardKey(b.Key, idx), upd, versionIs(v0))
	return due
}

// addToLedger adds to a transaction the start of a session on shard sh of budget b as read,
// when the shard is in the window the start is charged in (l, the shard after usage.Start, has
// sh's window) or does not exist (version 0): ADD of the start to the shard's counts,
// conditional on the window only (or on the shard being absent or in that window), so that
// concurrent starts on one shard never fail each other, not even the first ones of a window
// racing to create it (DynamoDB applies the additions one after the other, an addition to an
// absent attribute starting from zero; the sums are the same in any order). The version is added to as well,
// so that a start decided on every shard's version (close to the limit) sees this one. The
// deadline is the whole budget's, computed from what was read (whole): fixDeadline corrects it
// after the commit. It returns that deadline.
func (tx *txWrites) addToLedger(b usage.Budget, idx int, sh lifecycle.LedgerShard, l, whole usage.Ledger, nowMs int64) int64 {
	due := usage.DeadlineAt(whole, b.Interval, b.LimitMs, nowMs)
	add := func(u expression.UpdateBuilder, name string, v int64) expression.UpdateBuilder {
		return u.Add(expression.Name(name), expression.Value(v))
	}
	upd := ledgerHeader(b, nowMs)
	upd = add(upd, ledgerAttrClosed, l.ClosedMs-sh.Ledger.ClosedMs)
	upd = add(upd, ledgerAttrOpenCount, l.OpenCount-sh.Ledger.OpenCount)
	upd = add(upd, ledgerAttrOpenSinceSum, l.OpenSinceSumMs-sh.Ledger.OpenSinceSumMs)
	upd = add(upd, ledgerAttrVersion, 1)
	if due != 0 {
		upd = setAttr(upd, attrDueShard, dueShard(b.Key))
		upd = setAttr(upd, attrDueAt, due)
	}
	upd = upd.Remove(expression.Name(tabledef.TTLAttribute))
	cond := expression.Name(ledgerAttrWindowStart).Equal(expression.Value(l.WindowStart))
	if sh.Version == 0 {
		upd = upd.Set(expression.Name(ledgerAttrWindowStart), expression.Value(l.WindowStart))
		cond = expression.Or(ddbkit.ItemAbsent(), cond)
	}
	tx.Update(ledgerShardKey(b.Key, idx), upd, cond)
	return due
}

// versionIs is the condition that a ledger shard is at version v0 (0: it does not exist).
func versionIs(v0 int64) expression.ConditionBuilder {
	if v0 > 0 {
		return expression.Name(ledgerAttrVersion).Equal(expression.Value(v0))
	}
	return ddbkit.ItemAbsent()
}

// checkOtherShards adds to tx a check that every shard of budget but idx is still as read in bl
// (at its version, or still absent): the start that admits a session close to the limit is then
// decided on the budget's exact usage, as with one ledger item. It returns the index of the
// first check in tx.
func (tx *txWrites) checkOtherShards(bl lifecycle.BudgetLedger, budget string, idx int) int {
	first := len(tx.Items)
	for i := range ledgerShards(budget) {
		if i != idx {
			tx.Check(ledgerShardKey(budget, i), versionIs(shardOf(bl, i).Version))
		}
	}
	return first
}

// ExactStartMarginMs is how close to its limit a sharded budget must be for a start to check
// every shard's version (exact, but serialised like one ledger item) rather than its own shard
// only: with more than this left a start is admitted on its shard alone (docs/design-usage.md,
// section 10, says what that can overshoot by, and why not here).
const ExactStartMarginMs = 10 * 60 * 1000

// fixDeadline is the step that keeps a sharded budget's deadline in the due index right after
// a start or end committed on it: writers of different shards each computed the deadline
// without the others' concurrent writes, so the last to commit reads the shards again and,
// when no shard counting open sessions is due early enough, moves one of them earlier
// (a write that only lowers DueAt, and never on a shard with no session open). Failures are
// logged: the next write or the sweep's reschedule puts it right.
// Concurrent checks of one budget in this process share one that starts after each asked.
// With WithDetachedDeadlineFixes the check runs after the caller has answered.
func (ss *SessionStore) fixDeadline(ctx context.Context, budget string, prefer int, nowMs int64) {
	if ledgerShards(budget) == 1 {
		return
	}
	fix := func(ctx context.Context) {
		_, _ = ss.deadlineFixes.do(ctx, budget, func(ctx context.Context) (struct{}, error) {
			ss.fixDeadlineNow(ctx, budget, prefer, nowMs)
			return struct{}{}, nil
		})
	}
	if !ss.fixesDetached {
		fix(ctx)
		return
	}
	ss.fixesPending.add()
	go func() {
		defer ss.fixesPending.done()
		// The shared check is bounded by freshCallTimeout; the caller's cancellation, which
		// comes with its answer, must not stop it.
		fix(context.WithoutCancel(ctx))
	}()
}

// WaitDeadlineFixes waits until no deadline check started after a call that has answered
// (WithDetachedDeadlineFixes) is under way, or until ctx ends (its error then). A process that
// detaches them calls it before it exits; tests call it before they read a deadline.
func (ss *SessionStore) WaitDeadlineFixes(ctx context.Context) error {
	return ss.fixesPending.wait(ctx)
}

// pending counts work under way and lets callers wait until there is none. Unlike a
// sync.WaitGroup it may be added to while someone waits (new starts keep arriving while a
// test or a shutdown waits for the checks of earlier ones).
type pending struct {
	mu      sync.Mutex
	n       int
	waiters []chan struct{}
}

func (p *pending) add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *pending) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n--; p.n == 0 {
		for _, w := range p.waiters {
			close(w)
		}
		p.waiters = nil
	}
}

// wait returns once nothing is under way, or ctx's error when it ends first.
func (p *pending) wait(ctx context.Context) error {
	p.mu.Lock()
	if p.n == 0 {
		p.mu.Unlock()
		return nil
	}
	w := make(chan struct{})
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fixDeadlineNow is fixDeadline's check, not shared.
func (ss *SessionStore) fixDeadlineNow(ctx context.Context, budget string, prefer int, nowMs int64) {
	bl, err := ss.st.readLedger(ctx, budget)
	if err != nil {
		ss.log.WarnContext(ctx, "re-read of a sharded budget's deadline failed", "budget", budget, "error", err)
		return
	}
	b := bl.Budget
	due := usage.DeadlineAt(bl.Ledger, b.Interval, b.LimitMs, nowMs)
	if due == 0 || bl.Ledger.OpenCount == 0 {
		return
	}
	target := -1
	for _, sh := range bl.Shards {
		if sh.Ledger.OpenCount == 0 {
			continue
		}
		if !sh.DueAt.IsZero() && msOf(sh.DueAt) <= due {
			return // already due in time
		}
		if target < 0 || sh.Index == prefer {
			target = sh.Index
		}
	}
	if target < 0 {
		return
	}
	dueAt := expression.Name(attrDueAt)
	upd := expression.Set(expression.Name(attrDueShard), expression.Value(dueShard(b.Key))).
		Set(dueAt, expression.Value(due))
	cond := expression.And(expression.Name(ledgerAttrOpenCount).GreaterThan(expression.Value(0)),
		expression.Or(dueAt.AttributeNotExists(), dueAt.GreaterThan(expression.Value(due))))
	e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err == nil {
		_, err = ss.st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(ss.st.table), Key: ledgerShardKey(budget, target).Attributes(),
			UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
			ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		})
	}
	var cf *ddbtypes.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &cf) {
		ss.log.WarnContext(ctx, "moving a sharded budget's deadline earlier failed", "budget", budget, "error", err)
	}
}

// rewriteShards rewrites every shard of bl (as read) rolled to nowMs with budget b's limit, in
// one transaction conditional on every shard's version, the budget's exact deadline on one
// shard counting open sessions and on no other. It reports false, writing nothing, when a shard
// changed since bl was read (its writer computed a deadline of its own).
func (ss *SessionStore) rewriteShards(ctx context.Context, bl lifecycle.BudgetLedger, b usage.Budget, nowMs int64) (bool, error) {
	whole := usage.Merge(b.Interval, nowMs, bl.Ledger)
	tx := ss.st.newTx()
	carried := false
	for _, sh := range bl.Shards {
		l, _, _ := usage.Roll(sh.Ledger, b.Interval, whole.WindowStart)
		carry := !carried && l.OpenCount > 0
		carried = carried || carry
		tx.writeLedger(b, sh.Index, l, sh.Version, whole, carry, nowMs)
	}
	err := ss.st.transactWrite(ctx, tx)
	for i := range tx.Items {
		if itemFailed(err, i) {
			return false, nil
		}
	}
	if err != nil {
		return false, ddbkit.StoreError(err)
	}
	return true, nil
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
	_, failed := ddbkit.ConditionFailedAt(err, i)
	return failed
}
