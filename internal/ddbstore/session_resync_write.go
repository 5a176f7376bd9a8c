package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/tabledef"
)

// Write units of a re-sync, as ResyncSession estimates them when DynamoDB does not say: the
// session item alone (under 1 KB, no index key moved), the item and its Due entry moved (the
// index's delete and put), and a guarded transition (Transition) with its entry moved.
const (
	resyncUnitsInPlace  = 1
	resyncUnitsDueMoved = 3
)

// ResyncSession puts the lifetime settings lt, resolved at revision rev, in force on session s
// (as read, possibly eventually consistent) with one conditional UpdateItem, and reports
// whether it wrote and the write units it consumed. It writes nothing when the session already
// carries lt with its expiry in place (a Due entry that is early is left early: the sweep
// corrects it, as after a keepalive). It is for the re-syncs lifecycle.ResyncInPlace admits
// (a running session); the others are guarded transitions (Transition).
//
// The update computes the expiry on the item itself (expires_at_ms = last_keepalive_at_ms +
// the new ka_ms), so a keepalive that lands before or after it is never lost: before, the new
// expiry counts from it; after, it extends with the new ka_ms it finds on the item. The Due
// entry stays where it is when it is at or before the new expiry (the condition checks it on
// the item: 1 write unit, no index key moved) and moves to the new expiry only when that is
// earlier (3 units). The condition also requires the status, event sequence and settings
// revision read, so a session stopped, paused, resumed or acted on meanwhile is never written
// from the old image: it answers KindConflict "session_changed" (KindNotFound when the session
// is gone), and the caller reads and decides again (lifecycle.Retry). One attempt: the store
// offers the write, the sweep runs the loop.
func (ss *SessionStore) ResyncSession(ctx context.Context, s lifecycle.Session, lt lifecycle.Lifetime, rev int64) (bool, float64, error) {
	c := lifecycle.Resync(s, lt, rev)
	if !lifecycle.ResyncWrites(c) {
		return false, 0, nil
	}
	in, estimate, ok := resyncUpdate(ss.st.table, c)
	if !ok {
		return false, 0, fmt.Errorf("re-sync of session %s is a guarded transition, not an update in place", s.ID)
	}
	out, err := ss.st.db.UpdateItem(ctx, in)
	if err == nil {
		if cc := out.ConsumedCapacity; cc != nil && cc.CapacityUnits != nil {
			estimate = *cc.CapacityUnits
		}
		return true, estimate, nil
	}
	var cf *ddbtypes.ConditionalCheckFailedException
	if errors.As(err, &cf) {
		// A failed condition is charged as a write.
		return false, resyncUnitsInPlace, errSessionChanged(s.ID, cf.Item)
	}
	return false, 0, fmt.Errorf("re-sync session %s: %w", s.ID, ddbkit.StoreError(err))
}

// dueMustMove reports whether re-sync c must move the session's Due entry: it is missing or
// later than the new due time.
func dueMustMove(c lifecycle.Change) bool {
	b, a := c.Before, c.After
	return !a.DueAt.IsZero() && (b.DueAt.IsZero() || a.DueAt.Before(b.DueAt))
}

// resyncUpdate is the UpdateItem of re-sync c on a running session, and its write units; false
// when c needs a guarded transition instead (see ResyncSession).
func resyncUpdate(table string, c lifecycle.Change) (*dynamodb.UpdateItemInput, float64, bool) {
	b, a := c.Before, c.After
	move := dueMustMove(c)
	if !lifecycle.ResyncInPlace(c) {
		return nil, 0, false
	}
	before, after := newSessionRecord(b), newSessionRecord(a)
	n := func(v int64) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	names := map[string]string{
		"#pk": attrPK, "#st": sessAttrStatus, "#rev": sessAttrSettingsRev, "#seq": sessAttrEventSeq,
		"#tl": sessAttrTimeLimitAt, "#ud": sessAttrUsageDeadline, "#ka": sessAttrKaMs, "#act": sessAttrKaAction,
		"#ki": sessAttrKaInterval, "#idle": sessAttrIdleDisconnect, "#due": attrDueAt,
	}
	values := map[string]ddbtypes.AttributeValue{
		":running": &ddbtypes.AttributeValueMemberS{Value: string(lifecycle.StatusRunning)},
		":oldrev":  n(before.SettingsRev), ":seq": n(before.EventSeq), ":tl": n(before.TimeLimitAtMs),
		":ud": n(before.UsageDeadlineMs), ":ka": n(after.KaMs),
		":act": &ddbtypes.AttributeValueMemberS{Value: after.KaAction},
		":ki":  n(after.KaIntervalS), ":rev": n(after.SettingsRev),
		":idle": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatFloat(after.IdleDisconnectS, 'f', -1, 64)},
	}
	update := "SET #ka = :ka, #act = :act, #ki = :ki, #idle = :idle, #rev = :rev"
	cond := "attribute_exists(#pk) AND #st = :running AND #rev = :oldrev AND #seq = :seq AND #tl = :tl AND #ud = :ud"
	if !b.TimeLimited() {
		update += ", #exp = #lk + :ka"
		names["#exp"], names["#lk"] = sessAttrExpiresAt, sessAttrLastKeepalive
	}
	units := float64(resyncUnitsInPlace)
	if move {
		// Only a session whose due time is its expiry gets here.
		update += ", #due = #lk + :ka"
		units = resyncUnitsDueMoved
	} else {
		// The entry is at or before the new due time computed from the item read; a keepalive
		// since only moved the expiry later. A keepalive that moved the entry too (dueHints)
		// moved it to the old expiry, possibly past the new one: the condition fails and the
		// item is decided again.
		cond += " AND #due <= :floor"
		values[":floor"] = n(after.DueAt)
	}
	return &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: sessionKey(b.ID).Attributes(),
		UpdateExpression: aws.String(update), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
		ReturnConsumedCapacity:              ddbtypes.ReturnConsumedCapacityTotal,
	}, units, true
}

// resyncPageSize is how many Due entries one page of ResyncPage holds.
const resyncPageSize = 100

// ResyncPage returns one page of the sessions of due shard shard (0 ≤ shard < DueShards),
// whatever their due time: every live session but those left in their keepalive target state.
// It is what the re-sync of every user pages through: the keys from the keys-only Due index,
// the sessions from the table with eventually consistent BatchGetItem (half the read units of
// a strong read; every write ResyncSession makes is conditioned on the item as it is).
// pageToken continues where the previous page stopped.
func (ss *SessionStore) ResyncPage(ctx context.Context, shard int, pageToken string) (lifecycle.Page, error) {
	if shard < 0 || shard >= tabledef.DueShards {
		return lifecycle.Page{}, fmt.Errorf("due shard %d out of range", shard)
	}
	name := dueShardName(shard)
	start, err := ddbkit.DecodePageToken(pageToken, duePageShape(name, int64(^uint64(0)>>1)))
	if err != nil {
		return lifecycle.Page{}, err
	}
	out, err := ss.st.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(ss.st.table),
		IndexName:                 aws.String(tabledef.ByDue),
		KeyConditionExpression:    aws.String("#shard = :shard"),
		ExpressionAttributeNames:  map[string]string{"#shard": attrDueShard},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":shard": &ddbtypes.AttributeValueMemberS{Value: name}},
		Limit:                     aws.Int32(resyncPageSize),
		ExclusiveStartKey:         start,
	})
	if err != nil {
		return lifecycle.Page{}, fmt.Errorf("re-sync page of shard %d: %w", shard, ddbkit.PageTokenError(pageToken, err))
	}
	keys := make([]tableKey, 0, len(out.Items))
	for _, e := range out.Items {
		if isBudgetItem(e) {
			continue
		}
		var k tableKey
		if err := attributevalue.UnmarshalMap(e, &k); err != nil {
			return lifecycle.Page{}, fmt.Errorf("decode a due entry's key: %w", err)
		}
		keys = append(keys, k)
	}
	var items []map[string]ddbtypes.AttributeValue
	err = ss.st.kt.BatchGet(ctx, keys, false, func(item map[string]ddbtypes.AttributeValue) error {
		items = append(items, item)
		return nil
	})
	if err != nil {
		return lifecycle.Page{}, fmt.Errorf("re-sync page of shard %d: %w", shard, err)
	}
	return sessionPage(items, out.LastEvaluatedKey)
}

// resyncParkedPageSize is how many ByOwner entries one page of ResyncParkedPage scans (a Scan's
// limit counts the entries read, before the filter).
const resyncParkedPageSize = 1000

// ResyncParkedPage returns one page of the paused and stopped sessions outside the Due index
// (already in their keepalive target state), which ResyncPage does not reach: a Scan of the
// ByOwner index, which copies each session's status (so only the parked ones leave the index:
// about 0.03 read units per entry scanned), then their items with eventually consistent
// BatchGetItem. A session in the Due index is left out (ResyncPage returns it). pageToken
// continues where the previous page stopped.
func (ss *SessionStore) ResyncParkedPage(ctx context.Context, pageToken string) (lifecycle.Page, error) {
	start, err := ddbkit.DecodePageToken(pageToken, map[string]ddbkit.PageAttr{
		attrPK: {Max: ddbkit.MaxPartitionKeyBytes}, attrSK: {Max: ddbkit.MaxSortKeyBytes},
		attrGSI1PK: {Max: ddbkit.MaxPartitionKeyBytes}, attrGSI1SK: {Max: ddbkit.MaxSortKeyBytes},
	})
	if err != nil {
		return lifecycle.Page{}, err
	}
	out, err := ss.st.db.Scan(ctx, &dynamodb.ScanInput{
		TableName:                aws.String(ss.st.table),
		IndexName:                aws.String(tabledef.ByOwner),
		FilterExpression:         aws.String("begins_with(#sk1, :sess) AND (#st = :paused OR #st = :stopped)"),
		ExpressionAttributeNames: map[string]string{"#sk1": attrGSI1SK, "#st": sessAttrStatus},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":sess":    &ddbtypes.AttributeValueMemberS{Value: userSessionSKPrefix},
			":paused":  &ddbtypes.AttributeValueMemberS{Value: string(lifecycle.StatusPaused)},
			":stopped": &ddbtypes.AttributeValueMemberS{Value: string(lifecycle.StatusStopped)},
		},
		Limit:             aws.Int32(resyncParkedPageSize),
		ExclusiveStartKey: start,
	})
	if err != nil {
		return lifecycle.Page{}, fmt.Errorf("re-sync page of parked sessions: %w", ddbkit.StoreError(err))
	}
	keys := make([]tableKey, 0, len(out.Items))
	for _, e := range out.Items {
		var k tableKey
		if err := attributevalue.UnmarshalMap(e, &k); err != nil {
			return lifecycle.Page{}, fmt.Errorf("decode a parked session's key: %w", err)
		}
		keys = append(keys, k)
	}
	var items []map[string]ddbtypes.AttributeValue
	err = ss.st.kt.BatchGet(ctx, keys, false, func(item map[string]ddbtypes.AttributeValue) error {
		if _, due := item[attrDueAt]; !due {
			items = append(items, item)
		}
		return nil
	})
	if err != nil {
		return lifecycle.Page{}, fmt.Errorf("re-sync page of parked sessions: %w", err)
	}
	return sessionPage(items, out.LastEvaluatedKey)
}
