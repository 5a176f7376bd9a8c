package ddbstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
)

// duePageSize is how many due sessions one page of DueSessions holds.
const duePageSize = 100

// ListSessions lists sessions: a user's (the GSI1 partition USER#<uid>, oldest first) or,
// without UserID, every session (a paged scan of the table for administrators: its cost grows
// with the table, which is why the API lets callers filter by user). An optional status
// filter applies after the page is read, so a page may hold fewer than Limit sessions.
// Index reads are eventually consistent: a session started a moment ago may be missing.
func (ss *SessionStore) ListSessions(ctx context.Context, f lifecycle.ListFilter) (lifecycle.Page, error) {
	p, err := ss.listSessions(ctx, f)
	if err != nil {
		return lifecycle.Page{}, fmt.Errorf("list sessions: %w", err)
	}
	return p, nil
}

func (ss *SessionStore) listSessions(ctx context.Context, f lifecycle.ListFilter) (lifecycle.Page, error) {
	limit := f.Limit
	switch {
	case limit == 0:
		limit = lifecycle.DefaultPageSize
	case limit < 0 || limit > lifecycle.MaxPageSize:
		return lifecycle.Page{}, policy.FieldErrorf("limit", policy.CodeInvalidLimit, "limit must be between 1 and %d", lifecycle.MaxPageSize)
	}
	if f.Status != "" && !f.Status.Valid() {
		return lifecycle.Page{}, policy.FieldErrorf("status", policy.CodeInvalidStatus, "status must be running, paused, stopped or deleted")
	}
	if f.UserID != "" && !policy.ValidID(f.UserID) {
		return lifecycle.Page{Sessions: []lifecycle.Session{}}, nil // no such user, no sessions
	}
	var filter expression.ConditionBuilder
	if f.Status != "" {
		filter = expression.Name(sessAttrStatus).Equal(expression.Value(string(f.Status)))
	}
	if f.UserID == "" {
		start, err := ddbkit.DecodePageToken(f.PageToken, scanPageShape())
		if err != nil {
			return lifecycle.Page{}, err
		}
		filter = ddbkit.AllOf(expression.Name(attrSK).Equal(expression.Value(sessionSK)), filter)
		e, err := expression.NewBuilder().WithFilter(filter).Build()
		if err != nil {
			return lifecycle.Page{}, fmt.Errorf("build scan: %w", err)
		}
		out, err := ss.st.db.Scan(ctx, &dynamodb.ScanInput{
			TableName: aws.String(ss.st.table), FilterExpression: e.Filter(),
			ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
			Limit: aws.Int32(int32(limit)), ExclusiveStartKey: start,
		})
		if err != nil {
			return lifecycle.Page{}, ddbkit.PageTokenError(f.PageToken, err)
		}
		return sessionPage(out.Items, out.LastEvaluatedKey)
	}
	pk := userSessionsPK(f.UserID)
	start, err := ddbkit.DecodePageToken(f.PageToken, userPageShape(pk))
	if err != nil {
		return lifecycle.Page{}, err
	}
	b := expression.NewBuilder().WithKeyCondition(expression.Key(attrGSI1PK).Equal(expression.Value(pk)).
		And(expression.Key(attrGSI1SK).BeginsWith(userSessionSKPrefix)))
	if filter.IsSet() {
		b = b.WithFilter(filter)
	}
	e, err := b.Build()
	if err != nil {
		return lifecycle.Page{}, fmt.Errorf("build query: %w", err)
	}
	out, err := ss.st.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(ss.st.table), IndexName: aws.String(tabledef.ByOwner),
		KeyConditionExpression: e.KeyCondition(), FilterExpression: e.Filter(),
		ExpressionAttributeNames: e.Names(), ExpressionAttributeValues: e.Values(),
		Limit: aws.Int32(int32(limit)), ExclusiveStartKey: start,
	})
	if err != nil {
		return lifecycle.Page{}, ddbkit.PageTokenError(f.PageToken, err)
	}
	items, err := ss.st.tableItems(ctx, out.Items, string(f.Status)) // the index copies only some attributes
	if err != nil {
		return lifecycle.Page{}, err
	}
	return sessionPage(items, out.LastEvaluatedKey)
}

// DueSessions returns one page of the sessions of due shard shard (0 ≤ shard <
// tabledef.DueShards) whose due index entry is at or before now: the keys from the sparse,
// keys-only Due index (eventually consistent), the sessions from the table (strongly
// consistent). An entry may be early (a keepalive extends a session without moving it): the
// sweep then reschedules it; every change the sweep makes is guarded. Only due sessions are read; due budget ledgers on the page are left out (DueItems
// returns both). pageToken continues where the previous page stopped.
func (ss *SessionStore) DueSessions(ctx context.Context, now time.Time, shard int, pageToken string) (lifecycle.Page, error) {
	out, err := ss.dueQuery(ctx, now, shard, pageToken)
	if err != nil {
		return lifecycle.Page{}, err
	}
	items := out.Items[:0:0]
	for _, item := range out.Items {
		if !isBudgetItem(item) {
			items = append(items, item)
		}
	}
	return sessionPage(items, out.LastEvaluatedKey)
}

// dueQuery reads one page of due shard shard up to now (zero: everything in the shard).
func (ss *SessionStore) dueQuery(ctx context.Context, now time.Time, shard int, pageToken string) (*dynamodb.QueryOutput, error) {
	if shard < 0 || shard >= tabledef.DueShards {
		return nil, fmt.Errorf("due shard %d out of range", shard)
	}
	name := dueShardName(shard)
	until := int64(math.MaxInt64)
	if !now.IsZero() {
		until = now.UnixMilli()
	}
	start, err := ddbkit.DecodePageToken(pageToken, duePageShape(name, until))
	if err != nil {
		return nil, err
	}
	out, err := ss.st.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(ss.st.table),
		IndexName:              aws.String(tabledef.ByDue),
		KeyConditionExpression: aws.String("#shard = :shard AND #due <= :until"),
		ExpressionAttributeNames: map[string]string{
			"#shard": attrDueShard, "#due": attrDueAt,
		},
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":shard": &ddbtypes.AttributeValueMemberS{Value: name},
			":until": &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(until, 10)},
		},
		Limit:             aws.Int32(duePageSize),
		ExclusiveStartKey: start,
	})
	if err != nil {
		return nil, fmt.Errorf("due items of shard %d: %w", shard, ddbkit.PageTokenError(pageToken, err))
	}
	// The index holds keys only: the items themselves, as they are now.
	if out.Items, err = ss.st.tableItems(ctx, out.Items, ""); err != nil {
		return nil, fmt.Errorf("due items of shard %d: %w", shard, err)
	}
	return out, nil
}

func sessionPage(items []map[string]ddbtypes.AttributeValue, last map[string]ddbtypes.AttributeValue) (lifecycle.Page, error) {
	p := lifecycle.Page{Sessions: make([]lifecycle.Session, 0, len(items))}
	for _, item := range items {
		var r sessionRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return lifecycle.Page{}, fmt.Errorf("decode session: %w", err)
		}
		p.Sessions = append(p.Sessions, r.session())
	}
	tok, err := ddbkit.EncodePageToken(last)
	if err != nil {
		return lifecycle.Page{}, err
	}
	p.NextPageToken = tok
	return p, nil
}

// scanPageShape is the shape of a token of the paged scan: the table key of whatever item the
// scan evaluated last (any item of the table, not only sessions).
func scanPageShape() map[string]ddbkit.PageAttr {
	return map[string]ddbkit.PageAttr{
		attrPK: {Max: ddbkit.MaxPartitionKeyBytes},
		attrSK: {Max: ddbkit.MaxSortKeyBytes},
	}
}

// userPageShape is the shape of a token of the By-owner query of partition pk: a session's
// table key and its index key, whose sort key stays in the query's range (begins_with
// SESSION#).
func userPageShape(pk string) map[string]ddbkit.PageAttr {
	return map[string]ddbkit.PageAttr{
		attrPK:     {Prefix: sessionPKPrefix, Max: ddbkit.MaxPartitionKeyBytes},
		attrSK:     {Pin: sessionSK},
		attrGSI1PK: {Pin: pk},
		attrGSI1SK: {Prefix: userSessionSKPrefix, Max: ddbkit.MaxSortKeyBytes},
	}
}

// duePageShape is the shape of a token of the Due query of shard name up to until: a due
// item's table key (a session or a budget ledger) and its index key.
func duePageShape(name string, until int64) map[string]ddbkit.PageAttr {
	return map[string]ddbkit.PageAttr{
		attrPK:       {Max: ddbkit.MaxPartitionKeyBytes},
		attrSK:       {Max: ddbkit.MaxSortKeyBytes},
		attrDueShard: {Pin: name},
		attrDueAt:    {Num: true, MaxNum: until},
	}
}

// DueShards is how many shards the due index spreads its entries over (tabledef.DueShards):
// DueItems and DueSessions take a shard from 0 to DueShards()-1.
func (ss *SessionStore) DueShards() int { return tabledef.DueShards }
