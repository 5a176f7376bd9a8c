package ddbstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
)

// RemovedKind says what kind of item a TTL deletion removed.
type RemovedKind string

// The kinds of items that carry a TTL, and everything else.
const (
	// RemovedSession is a session item (TTL set when it was deleted).
	RemovedSession RemovedKind = "session"
	// RemovedLaunch is a session's launch item (its client_settings and launch; TTL set with
	// the session's when it was deleted).
	RemovedLaunch RemovedKind = "launch"
	// RemovedEvent is a session event (TTL 90 days after it happened).
	RemovedEvent RemovedKind = "event"
	// RemovedLedger is a budget's ledger (TTL only while no session is open on it).
	RemovedLedger RemovedKind = "ledger"
	// RemovedOther is any other item.
	RemovedOther RemovedKind = "other"
)

// RemovedItem is an item removed by DynamoDB's TTL process, decoded from its old image.
type RemovedItem struct {
	Kind RemovedKind
	PK   string
	SK   string
	// Session is the session as it was (RemovedSession).
	Session lifecycle.Session
	// Budget and OpenCount are the ledger's budget key and open sessions (RemovedLedger).
	Budget    string
	OpenCount int64
}

// DecodeRemoved decodes the old image of an item the stream reports removed by TTL.
func DecodeRemoved(old map[string]ddbtypes.AttributeValue) (RemovedItem, error) {
	var keys tableKey
	if err := attributevalue.UnmarshalMap(old, &keys); err != nil {
		return RemovedItem{}, fmt.Errorf("decode removed item keys: %w", err)
	}
	it := RemovedItem{Kind: RemovedOther, PK: keys.PK, SK: keys.SK}
	switch {
	case strings.HasPrefix(keys.PK, sessionPKPrefix) && keys.SK == sessionSK:
		var rec sessionRecord
		if err := attributevalue.UnmarshalMap(old, &rec); err != nil {
			return RemovedItem{}, fmt.Errorf("decode removed session %s: %w", keys.PK, err)
		}
		it.Kind, it.Session = RemovedSession, rec.session()
	case strings.HasPrefix(keys.PK, sessionPKPrefix) && keys.SK == sessionLaunchSK:
		it.Kind = RemovedLaunch
	case strings.HasPrefix(keys.PK, sessionPKPrefix) && strings.HasPrefix(keys.SK, sessionEventSKPrefix):
		it.Kind = RemovedEvent
	case strings.HasPrefix(keys.PK, budgetPKPrefix) && strings.HasPrefix(keys.SK, ledgerSK):
		var rec ledgerRecord
		if err := attributevalue.UnmarshalMap(old, &rec); err != nil {
			return RemovedItem{}, fmt.Errorf("decode removed ledger %s: %w", keys.PK, err)
		}
		it.Kind, it.Budget, it.OpenCount = RemovedLedger, rec.Budget, rec.OpenCount
	}
	return it, nil
}

// FinaliseRemovedSession records the end of session s, whose item was removed while it was not
// deleted, in one transaction: its final event ended (which must follow s's last event: seq
// s.EventSeq+1), the deletion of its launch item (which has no TTL while the session lives),
// the decrement of its user's active_sessions with the session's removal from session_ids
// (the decrement skipped when the count is 0, both when the user is gone) and, for a session charged to a budget, the end of its charge at ended.At
// with the removal of its membership item (skipped when the ledger no longer counts it). The
// event's key makes it happen once: it reports false, writing nothing, when the event exists
// already (finalised before).
func (ss *SessionStore) FinaliseRemovedSession(ctx context.Context, s lifecycle.Session, ended lifecycle.Event) (bool, error) {
	if ended.SessionID != s.ID || ended.Seq != s.EventSeq+1 {
		return false, fmt.Errorf("finalise session %s: event %s does not follow its last event %d", s.ID, ended.EventID, s.EventSeq)
	}
	userStep, charged := userEndDecrement, s.Budget != ""
	c := lifecycle.Change{Before: s, At: ended.At}
	races := ss.ledgerRaces(s.Budget)
	for {
		tx := ss.st.newTx()
		tx.Put(newEventRecord(ended), ddbkit.ItemAbsent())
		tx.Delete(sessionLaunchKey(s.ID), expression.ConditionBuilder{})
		userItem, ledgerItem, memberItem := -1, -1, -1
		if userStep != userEndNone {
			userItem = len(tx.Items)
			addUserEnd(tx, s.UserID, s.ID, userStep)
		}
		if charged {
			var err error
			if ledgerItem, memberItem, err = ss.addEndCharge(ctx, tx, c); err != nil {
				return false, fmt.Errorf("finalise session %s: %w", s.ID, err)
			}
		}
		err := ss.st.transactWrite(ctx, tx)
		switch {
		case err == nil:
			if ledgerItem >= 0 {
				ss.fixDeadline(ctx, s.Budget, -1, msOf(ended.At))
			}
			return true, nil
		case itemFailed(err, 0):
			return false, nil
		case userItem >= 0 && itemFailed(err, userItem):
			userStep--
			continue
		case memberItem >= 0 && itemFailed(err, memberItem):
			charged = false
			continue
		case ledgerItem >= 0 && itemFailed(err, ledgerItem):
			if err := races.lost(ctx); err != nil {
				return false, err
			}
			continue
		}
		return false, fmt.Errorf("finalise session %s: %w", s.ID, ddbkit.StoreError(err))
	}
}
