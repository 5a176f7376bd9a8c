package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbwire"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
	"wspolicy/internal/usage"
)

// SessionStore keeps sessions, their events (the outbox) and re-sync markers in the table.
// It shares the table and the helpers of Store, and adds an in-process cache of time-limited
// session ids (immutable) that lets their keepalives take one write, and one of where the
// sessions this process keeps alive are in the Due index (see dueHints).
type SessionStore struct {
	st          *Store
	timeLimited *idSet
	dueHints    *dueHints
	// keepaliveTokens names each keepalive call, so that its write, applied but retried after
	// a lost answer, knows it was applied (keepaliveToken).
	keepaliveTokens *tokenSource
	log             *slog.Logger
	// ledgerPatience bounds the retries of a write racing for a budget's ledger.
	ledgerPatience time.Duration
	// keepaliveWire, when set, sends the keepalive's UpdateItem (WithKeepaliveWire).
	keepaliveWire *ddbwire.Client
	// deadlineFixes shares concurrent deadline checks of one budget (fixDeadline).
	deadlineFixes freshCalls[string, struct{}]
	// fixesDetached runs those checks after the call answers (WithDetachedDeadlineFixes);
	// fixesPending counts the ones under way.
	fixesDetached bool
	fixesPending  pending
}

// maxStartAttempts bounds resubmissions of a start transaction that collided with others on
// the user's session count (each attempt already resubmits collisions itself).
const maxStartAttempts = 6

func errSessionNotFound(id string) *policy.Error {
	return policy.Errorf(policy.KindNotFound, policy.CodeSessionNotFound, "session %s not found", id)
}

// errSessionChanged is the answer to a change whose guard failed: the session was changed (or
// deleted for good) by somebody else after it was read.
func errSessionChanged(id string, old map[string]ddbtypes.AttributeValue) error {
	if len(old) == 0 {
		return errSessionNotFound(id)
	}
	return policy.Errorf(policy.KindConflict, policy.CodeSessionChanged, "session %s changed concurrently", id)
}

// StartCharged writes a new session, its launch item (s.ClientSettings and s.Launch) and its
// created event in one transaction with the increment of the user's active_sessions, which
// must stay within s.Lifetime.MaxSessions: a full user gets KindConflict
// "max_sessions_reached", a missing user KindNotFound "user_not_found".
// The session is charged to budget b (nothing is charged when b is
// not Limited): in the same transaction it charges the session to b's ledger from
// s.CreatedAt and adds the session to the budget's members — 5 items however many sessions
// share the budget, plus one read of the ledger. A budget exhausted at s.CreatedAt refuses
// the start with KindForbidden "usage_limit_reached". Concurrent starts and ends on the budget
// make it re-read the ledger and try again (with jitter); when they keep winning it gives up
// with KindUnavailable "retry_later". It returns the session as written: Budget b.Key and
// UsageDeadline the budget's deadline (zero when it cannot run out with the sessions open).
func (ss *SessionStore) StartCharged(ctx context.Context, s lifecycle.Session, created lifecycle.Event, b usage.Budget) (lifecycle.Session, error) {
	s, err := ss.startSession(ctx, s, created, b)
	if err != nil {
		return lifecycle.Session{}, fmt.Errorf("start session for user %s: %w", s.UserID, err)
	}
	return s, nil
}

func errMaxSessions(userID string, max int64) *policy.Error {
	return policy.Errorf(policy.KindConflict, policy.CodeMaxSessionsReached,
		"user %s already has %d sessions, the most max_kasms_per_user allows", userID, max)
}

// Items of the start transaction, by index.
const (
	startItemUser = iota
	startItemSession
	startItemEvent
	startItemLaunch
	startItemLedger
	startItemMember
)

func (ss *SessionStore) startSession(ctx context.Context, s lifecycle.Session, created lifecycle.Event, b usage.Budget) (lifecycle.Session, error) {
	max := s.Lifetime.MaxSessions
	if max <= 0 {
		return s, errMaxSessions(s.UserID, 0)
	}
	active := expression.Name(userAttrActiveSessions)
	ambiguous := false
	races := ss.ledgerRaces(b.Key)
	shardIdx := 0
	for attempt := 1; ; {
		tx := ss.st.newTx()
		tx.Update(userKey(s.UserID),
			expression.Add(active, expression.Value(1)).Add(expression.Name(userAttrSessionIDs), stringSet(s.ID)),
			ddbkit.AllOf(userIsLive(), expression.Or(active.AttributeNotExists(), active.LessThan(expression.Value(max)))))
		var ledgerTx *txWrites
		if b.Limited() {
			// The ledger part is built first: the session carries the deadline it gives.
			cur, err := ss.st.readLedger(ctx, b.Key)
			if err != nil {
				return s, err
			}
			now := msOf(s.CreatedAt)
			if usage.Exhausted(cur.Ledger, b.Interval, b.LimitMs, now) {
				return s, errUsageLimitReached(s.UserID, b, now)
			}
			// The session is charged to its own shard of the ledger (the only one of an
			// unsharded budget); the deadline is the whole budget's.
			shardIdx = ledgerShardOf(b.Key, s.ID)
			sh := shardOf(cur, shardIdx)
			l := usage.Start(sh.Ledger, b.Interval, now)
			whole := mergeWith(cur, b.Interval, shardIdx, l, now)
			exact := ledgerShards(b.Key) == 1 || usage.Remaining(cur.Ledger, b.Interval, b.LimitMs, now) < ExactStartMarginMs
			ledgerTx = ss.st.newTx()
			var d int64
			if !exact && (sh.Version == 0 || sh.Ledger.WindowStart == l.WindowStart) {
				// Far from the limit, the shard absent or in the start's window: added to
				// (an absent shard is created by the addition, so that the starts that find
				// it absent at once do not race to create it).
				d = ledgerTx.addToLedger(b, shardIdx, sh, l, whole, now)
			} else {
				d = ledgerTx.writeLedger(b, shardIdx, l, sh.Version, whole, true, now)
			}
			s.Budget, s.UsageDeadline = b.Key, timeOfMs(d)
			s.DueAt = lifecycle.NextDue(s)
			ledgerTx.Put(newBudgetMemberRecord(b.Key, s), ddbkit.ItemAbsent())
			if exact && ledgerShards(b.Key) > 1 {
				// Close to the limit: decided on every shard as read, exactly.
				ledgerTx.checkOtherShards(cur, b.Key, shardIdx)
			}
		}
		tx.Put(newSessionRecord(s), ddbkit.ItemAbsent())
		tx.Put(newEventRecord(created), ddbkit.ItemAbsent())
		// No condition of its own: the session's guards the transaction, and a launch item
		// left behind by an earlier session of the same id is replaced.
		tx.Put(newSessionLaunchRecord(s), expression.ConditionBuilder{})
		if ledgerTx != nil {
			tx.Items = append(tx.Items, ledgerTx.Items...)
			tx.Fail(ledgerTx.Err)
		}
		err := ss.st.transactWrite(ctx, tx)
		if err == nil {
			if ledgerTx != nil {
				ss.fixDeadline(ctx, b.Key, shardIdx, msOf(s.CreatedAt))
			}
			return s, nil
		}
		oldSession, sessionExists := ddbkit.ConditionFailedAt(err, startItemSession)
		if sessionExists && ambiguous && sameStart(oldSession, s) {
			// An earlier attempt was applied but its answer was lost (the resubmission
			// carries a new token because the items were rebuilt): the session is ours,
			// and it is what makes the user and ledger conditions fail now.
			return s, nil
		}
		if old, failed := ddbkit.ConditionFailedAt(err, startItemUser); failed {
			var u activeSessionsRecord
			found, derr := ddbkit.DecodeOld(old, &u)
			switch {
			case derr != nil:
				return s, derr
			case !found || u.UserID == "" || u.Deleting:
				return s, errUserNotFound(s.UserID)
			}
			return s, errMaxSessions(s.UserID, max)
		}
		_, memberExists := ddbkit.ConditionFailedAt(err, startItemMember)
		if sessionExists || (ledgerTx != nil && memberExists) {
			return s, policy.Errorf(policy.KindConflict, policy.CodeSessionExists, "session %s exists already", s.ID)
		}
		raced := false
		if ledgerTx != nil {
			for i := startItemLedger; i < len(tx.Items); i++ {
				raced = raced || (i != startItemMember && itemFailed(err, i))
			}
		}
		if raced {
			// Only the ledger's version changed: a concurrent start or end on the budget. The
			// next attempt reads it again after the pause: the old image the failure returned
			// would be stale by then, and a start retrying with it lost to fresher writers
			// fifteen times in a row (a 1.3 s p99 with only four callers).
			if err := races.lost(ctx); err != nil {
				return s, err
			}
			continue
		}
		if err = ddbkit.StoreError(err); !policy.IsKind(err, policy.KindUnavailable) || attempt == maxStartAttempts {
			return s, err
		}
		ambiguous = true // the transaction may have been applied although it answered an error
		if err := ddbkit.Pause(ctx, attempt); err != nil {
			return s, err
		}
		attempt++
	}
}

// sameStart reports whether the stored session item old is the one this start writes: same
// user, image and creation time. Session ids are random, so that is our own earlier attempt.
func sameStart(old map[string]ddbtypes.AttributeValue, s lifecycle.Session) bool {
	var r sessionRecord
	found, err := ddbkit.DecodeOld(old, &r)
	return err == nil && found && r.SessionID == s.ID && r.UserID == s.UserID &&
		r.ImageID == s.ImageID && r.CreatedAtMs == msOf(s.CreatedAt)
}

// GetSession reads a session with its client settings and launch configuration (strongly
// consistent): one Query of the session's partition for the sort keys beginning "SESSION",
// which are the session item and its launch item (with a full launch configuration about
// 3.2 KB together: one read unit).
// KindNotFound "session_not_found" when there is no session item.
func (ss *SessionStore) GetSession(ctx context.Context, sessionID string) (lifecycle.Session, error) {
	s, err := ss.getSession(ctx, sessionID)
	if err != nil {
		return lifecycle.Session{}, fmt.Errorf("get session %s: %w", sessionID, err)
	}
	return s, nil
}

func (ss *SessionStore) getSession(ctx context.Context, sessionID string) (lifecycle.Session, error) {
	if !policy.ValidID(sessionID) {
		return lifecycle.Session{}, errSessionNotFound(sessionID)
	}
	in, err := ddbkit.PrefixQuery(sessionKey(sessionID).PK, sessionSK, nil)
	if err != nil {
		return lifecycle.Session{}, err
	}
	in.ConsistentRead = aws.Bool(true)
	var (
		rec   sessionRecord
		docs  sessionLaunchRecord
		found bool
	)
	err = ss.st.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		sk, _ := item[attrSK].(*ddbtypes.AttributeValueMemberS)
		switch {
		case sk == nil:
		case sk.Value == sessionSK:
			found = true
			if err := attributevalue.UnmarshalMap(item, &rec); err != nil {
				return fmt.Errorf("decode session: %w", err)
			}
		case sk.Value == sessionLaunchSK:
			if err := attributevalue.UnmarshalMap(item, &docs); err != nil {
				return fmt.Errorf("decode launch item: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return lifecycle.Session{}, err
	}
	if !found {
		return lifecycle.Session{}, errSessionNotFound(sessionID)
	}
	s := rec.session()
	docs.addTo(&s)
	return s, nil
}

// Events returns a session's events in order; KindNotFound "session_not_found" when it has
// none (every session has its created event).
func (ss *SessionStore) Events(ctx context.Context, sessionID string) ([]lifecycle.Event, error) {
	if !policy.ValidID(sessionID) {
		return nil, errSessionNotFound(sessionID)
	}
	in, err := ddbkit.PrefixQuery(sessionKey(sessionID).PK, sessionEventSKPrefix, nil)
	if err != nil {
		return nil, err
	}
	in.ConsistentRead = aws.Bool(true)
	var out []lifecycle.Event
	err = ss.st.kt.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var r eventRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode event: %w", err)
		}
		out = append(out, r.event())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events of session %s: %w", sessionID, err)
	}
	if len(out) == 0 {
		return nil, errSessionNotFound(sessionID)
	}
	return out, nil
}

// Transition applies a change exactly once: one conditional write of the session (guarded by
// what was observed, see lifecycle.Guard), the change's events as new items, and — when the
// session becomes deleted — the session's TTL on its launch item too, the decrement of the
// user's active_sessions (with the session's removal from its session_ids) and, for a session
// charged to a budget, the end of its charge in the budget's ledger (charged until c.At) and
// the removal of its membership item, all in one transaction (a single UpdateItem when there
// is no event and no deletion). A failed guard is KindConflict "session_changed" (somebody
// else acted first), or KindNotFound when the session is gone. A change with OutcomeNone
// writes nothing. When only the ledger's version changed (a concurrent start or end on the
// budget) the ledger is read again and the transaction retried; when that keeps happening,
// KindUnavailable "retry_later" and nothing is written.
func (ss *SessionStore) Transition(ctx context.Context, c lifecycle.Change) error {
	if c.None() {
		return nil
	}
	if err := ss.transition(ctx, c); err != nil {
		return fmt.Errorf("%s session %s: %w", c.Outcome, c.Before.ID, err)
	}
	return nil
}

func (ss *SessionStore) transition(ctx context.Context, c lifecycle.Change) error {
	id := c.Before.ID
	upd := changeUpdate(c)
	cond := guardCondition(c)
	if len(c.Events) == 0 && !c.Ends() {
		return ss.updateSession(ctx, id, upd, cond)
	}
	userStep := userEndNone
	if c.Ends() {
		userStep = userEndDecrement
	}
	charged := c.Ends() && c.Before.Budget != ""
	races := ss.ledgerRaces(c.Before.Budget)
	for {
		tx := ss.st.newTx()
		userItem := addTransition(tx, c, upd, cond, userStep)
		ledgerItem, memberItem := -1, -1
		if charged {
			var err error
			if ledgerItem, memberItem, err = ss.addEndCharge(ctx, tx, c); err != nil {
				return err
			}
		}
		err := ss.st.transactWrite(ctx, tx)
		if err == nil {
			if ledgerItem >= 0 {
				ss.fixDeadline(ctx, c.Before.Budget, -1, msOf(c.At))
			}
			return nil
		}
		if old, failed := ddbkit.ConditionFailedAt(err, 0); failed {
			return errSessionChanged(id, old)
		}
		if userItem >= 0 && itemFailed(err, userItem) {
			// The count is already 0 (it never goes negative), or the user is gone: the
			// session ends all the same.
			userStep--
			continue
		}
		if memberItem >= 0 && itemFailed(err, memberItem) {
			// The ledger does not count the session (a repair ended it there already).
			charged = false
			continue
		}
		if ledgerItem >= 0 && itemFailed(err, ledgerItem) {
			if err := races.lost(ctx); err != nil {
				return err
			}
			continue
		}
		for i := range c.Events {
			if _, failed := ddbkit.ConditionFailedAt(err, i+1); failed {
				return fmt.Errorf("event %d of session %s exists already although the session is at %d", c.Events[i].Seq, id, c.Before.EventSeq)
			}
		}
		return ddbkit.StoreError(err)
	}
}

// addTransition adds to tx the items of change c that are not about a budget: the session's
// write (upd under cond), its events and, when it ends, its launch item's TTL and the user
// item's step of userStep. It returns the index of the user item in tx (-1: none).
func addTransition(tx *txWrites, c lifecycle.Change, upd expression.UpdateBuilder, cond expression.ConditionBuilder, userStep int) int {
	id := c.Before.ID
	tx.Update(sessionKey(id), upd, cond)
	for _, e := range c.Events {
		tx.Put(newEventRecord(e), ddbkit.ItemAbsent())
	}
	if c.Ends() {
		// The launch item expires with the session. Unconditional, so that it never fails
		// the transaction: for a session that has none (seeded without documents) it leaves
		// a key-and-TTL stub that expires with the session.
		tx.Update(sessionLaunchKey(id), expression.Set(expression.Name(tabledef.TTLAttribute),
			expression.Value(ttlOf(c.TTL()))), expression.ConditionBuilder{})
	}
	if userStep == userEndNone {
		return -1
	}
	userItem := len(tx.Items)
	addUserEnd(tx, c.Before.UserID, id, userStep)
	return userItem
}

// updateSession runs one conditional UpdateItem on a session.
func (ss *SessionStore) updateSession(ctx context.Context, id string, upd expression.UpdateBuilder, cond expression.ConditionBuilder) error {
	e, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("build update of session %s: %w", id, err)
	}
	_, err = ss.st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(ss.st.table), Key: sessionKey(id).Attributes(),
		UpdateExpression: e.Update(), ConditionExpression: e.Condition(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var cf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		return errSessionChanged(id, cf.Item)
	}
	return ddbkit.StoreError(err)
}

// guardCondition is the condition of a change: the session exists and its status, event
// sequence and settings revision are as observed; for sweeps also its due time and its expiry
// (a keepalive that landed first moved the expiry, and leaves the due time where it was), for
// actions its last keepalive.
func guardCondition(c lifecycle.Change) expression.ConditionBuilder {
	b := c.Before
	cond := ddbkit.AllOf(ddbkit.ItemExists(),
		expression.Name(sessAttrStatus).Equal(expression.Value(string(b.Status))),
		expression.Name(sessAttrEventSeq).Equal(expression.Value(b.EventSeq)),
		expression.Name(sessAttrSettingsRev).Equal(expression.Value(b.SettingsRev)))
	switch c.Guard {
	case lifecycle.GuardObserved:
		cond = cond.And(expression.Name(sessAttrExpiresAt).Equal(expression.Value(msOf(b.ExpiresAt))))
		if b.DueAt.IsZero() {
			return cond.And(expression.Name(attrDueAt).AttributeNotExists())
		}
		return cond.And(expression.Name(attrDueAt).Equal(expression.Value(msOf(b.DueAt))))
	default:
		return cond.And(expression.Name(sessAttrLastKeepalive).Equal(expression.Value(msOf(b.LastKeepaliveAt))))
	}
}

// changeUpdate writes the attributes the change alters (and only those, so that attributes a
// concurrent keepalive wrote and the guard does not cover survive), the due index entry, and
// the TTL when the session becomes deleted.
func changeUpdate(c lifecycle.Change) expression.UpdateBuilder {
	before, after := newSessionRecord(c.Before), newSessionRecord(c.After)
	var upd expression.UpdateBuilder
	set := func(name string, changed bool, v any) {
		if changed {
			upd = upd.Set(expression.Name(name), expression.Value(v))
		}
	}
	set(sessAttrStatus, before.Status != after.Status, after.Status)
	set(sessAttrConnected, before.Connected != after.Connected, after.Connected)
	set(sessAttrLastKeepalive, before.LastKeepaliveAtMs != after.LastKeepaliveAtMs, after.LastKeepaliveAtMs)
	set(sessAttrExpiresAt, before.ExpiresAtMs != after.ExpiresAtMs, after.ExpiresAtMs)
	set(sessAttrReason, before.ExpirationReason != after.ExpirationReason, after.ExpirationReason)
	set(sessAttrTimeLimitWarnAt, before.TimeLimitWarnMs != after.TimeLimitWarnMs, after.TimeLimitWarnMs)
	set(sessAttrUsageDeadline, before.UsageDeadlineMs != after.UsageDeadlineMs, after.UsageDeadlineMs)
	set(sessAttrKaMs, before.KaMs != after.KaMs, after.KaMs)
	set(sessAttrKaAction, before.KaAction != after.KaAction, after.KaAction)
	set(sessAttrKaInterval, before.KaIntervalS != after.KaIntervalS, after.KaIntervalS)
	set(sessAttrIdleDisconnect, before.IdleDisconnectS != after.IdleDisconnectS, after.IdleDisconnectS)
	set(sessAttrSettingsRev, before.SettingsRev != after.SettingsRev, after.SettingsRev)
	set(sessAttrEventSeq, before.EventSeq != after.EventSeq, after.EventSeq)
	if after.DueAt == 0 {
		upd = upd.Remove(expression.Name(attrDueAt)).Remove(expression.Name(attrDueShard))
	} else {
		upd = upd.Set(expression.Name(attrDueAt), expression.Value(after.DueAt)).
			Set(expression.Name(attrDueShard), expression.Value(after.DueShard))
	}
	if ttl := c.TTL(); !ttl.IsZero() {
		upd = upd.Set(expression.Name(tabledef.TTLAttribute), expression.Value(ttlOf(ttl)))
	}
	return upd
}

// The user-item part of a session's end, from the whole to nothing: each step is tried when the
// one before failed its condition.
const (
	userEndNone      = iota // the user is gone: nothing
	userEndRemoveID         // the count is 0 already: the session leaves session_ids only
	userEndDecrement        // active_sessions - 1 and the session leaves session_ids
)

// addUserEnd adds to tx the update of the user item of a session that ends: step
// userEndDecrement decrements active_sessions (never below 0) and removes the session from
// session_ids; userEndRemoveID only removes it (when the user item exists).
func addUserEnd(tx *txWrites, userID, sessionID string, step int) {
	ids := expression.Name(userAttrSessionIDs)
	switch step {
	case userEndDecrement:
		active := expression.Name(userAttrActiveSessions)
		tx.Update(userKey(userID), expression.Set(active, active.Minus(expression.Value(1))).Delete(ids, stringSet(sessionID)),
			active.GreaterThan(expression.Value(0)))
	case userEndRemoveID:
		tx.Update(userKey(userID), expression.Delete(ids, stringSet(sessionID)), ddbkit.ItemExists())
	}
}
