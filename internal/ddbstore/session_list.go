package ddbstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
		start, err := decodePageToken(f.PageToken, scanPageShape())
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
			return lifecycle.Page{}, pageTokenError(f.PageToken, err)
		}
		return sessionPage(out.Items, out.LastEvaluatedKey)
	}
	pk := userSessionsPK(f.UserID)
	start, err := decodePageToken(f.PageToken, userPageShape(pk))
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
		return lifecycle.Page{}, pageTokenError(f.PageToken, err)
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
	start, err := decodePageToken(pageToken, duePageShape(name, until))
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
		return nil, fmt.Errorf("due items of shard %d: %w", shard, pageTokenError(pageToken, err))
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
	tok, err := encodePageToken(last)
	if err != nil {
		return lifecycle.Page{}, err
	}
	p.NextPageToken = tok
	return p, nil
}

// pageKey is one attribute of a page token: its DynamoDB type (S or N) and value.
type pageKey struct {
	T string `json:"t"`
	V string `json:"v"`
}

// encodePageToken makes an opaque token of a LastEvaluatedKey; "" when there is none.
func encodePageToken(last map[string]ddbtypes.AttributeValue) (string, error) {
	if len(last) == 0 {
		return "", nil
	}
	m := make(map[string]pageKey, len(last))
	for name, v := range last {
		switch v := v.(type) {
		case *ddbtypes.AttributeValueMemberS:
			m[name] = pageKey{T: "S", V: v.Value}
		case *ddbtypes.AttributeValueMemberN:
			m[name] = pageKey{T: "N", V: v.Value}
		default:
			return "", fmt.Errorf("page key attribute %s has an unexpected type", name)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode page token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Page tokens are not signed: a token only says where a listing the caller may already read
// continues, and the partition a listing is confined to is pinned (a user's token cannot page
// into another user's sessions). What a forged token must not do is reach DynamoDB with a start
// key it refuses (ValidationException: a wrong type, an empty or oversized key, a sort key
// outside the query's range), so decodePageToken checks each attribute against the shape the
// listing's own LastEvaluatedKey has, and pageTokenError maps whatever DynamoDB still refuses
// to the same 400. See the README, "Hostile input".

// The longest key values DynamoDB accepts, in bytes.
const (
	maxPartitionKeyBytes = 2048
	maxSortKeyBytes      = 1024
)

// pageAttr is what one attribute of a page token must be.
type pageAttr struct {
	num    bool   // an N (a whole number from 0 to maxNum) rather than an S
	maxNum int64  // the largest N accepted
	pin    string // the exact S value, "" for any
	prefix string // a prefix every S value has
	max    int    // the most bytes of an S value
}

// scanPageShape is the shape of a token of the paged scan: the table key of whatever item the
// scan evaluated last (any item of the table, not only sessions).
func scanPageShape() map[string]pageAttr {
	return map[string]pageAttr{
		attrPK: {max: maxPartitionKeyBytes},
		attrSK: {max: maxSortKeyBytes},
	}
}

// userPageShape is the shape of a token of the By-owner query of partition pk: a session's
// table key and its index key, whose sort key stays in the query's range (begins_with
// SESSION#).
func userPageShape(pk string) map[string]pageAttr {
	return map[string]pageAttr{
		attrPK:     {prefix: sessionPKPrefix, max: maxPartitionKeyBytes},
		attrSK:     {pin: sessionSK},
		attrGSI1PK: {pin: pk},
		attrGSI1SK: {prefix: userSessionSKPrefix, max: maxSortKeyBytes},
	}
}

// duePageShape is the shape of a token of the Due query of shard name up to until: a due
// item's table key (a session or a budget ledger) and its index key.
func duePageShape(name string, until int64) map[string]pageAttr {
	return map[string]pageAttr{
		attrPK:       {max: maxPartitionKeyBytes},
		attrSK:       {max: maxSortKeyBytes},
		attrDueShard: {pin: name},
		attrDueAt:    {num: true, maxNum: until},
	}
}

// errBadPageToken is the answer to a page token that is not one the listing returned.
func errBadPageToken(cause error) error {
	return &policy.Error{Kind: policy.KindInvalid, Code: policy.CodeInvalidPageToken, Field: "page_token",
		Message: "the page token is not one this listing returned", Err: cause}
}

// pageTokenError is storeError for a listing read with a page token: a ValidationException,
// which only a start key DynamoDB refuses can cause there, is the caller's bad token (400).
func pageTokenError(tok string, err error) error {
	if tok != "" && ddbkit.IsValidation(err) {
		return errBadPageToken(err)
	}
	return ddbkit.StoreError(err)
}

// decodePageToken turns a token back into an ExclusiveStartKey. shape lists the attributes the
// token must have and what each must be (see pageAttr); anything else is a 400 naming
// page_token. nil for "".
func decodePageToken(tok string, shape map[string]pageAttr) (map[string]ddbtypes.AttributeValue, error) {
	if tok == "" {
		return nil, nil
	}
	bad := errBadPageToken(nil)
	if len(tok) > 8192 {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return nil, bad
	}
	var m map[string]pageKey
	if json.Unmarshal(raw, &m) != nil || len(m) != len(shape) {
		return nil, bad
	}
	out := make(map[string]ddbtypes.AttributeValue, len(m))
	for name, want := range shape {
		k, ok := m[name]
		if !ok || k.V == "" {
			return nil, bad
		}
		if want.num {
			n, err := strconv.ParseInt(k.V, 10, 64)
			if k.T != "N" || err != nil || n < 0 || n > want.maxNum || strconv.FormatInt(n, 10) != k.V {
				return nil, bad
			}
			out[name] = &ddbtypes.AttributeValueMemberN{Value: k.V}
			continue
		}
		switch {
		case k.T != "S", !utf8.ValidString(k.V),
			want.pin != "" && k.V != want.pin,
			want.pin == "" && (len(k.V) > want.max || !strings.HasPrefix(k.V, want.prefix) || k.V == want.prefix):
			return nil, bad
		}
		out[name] = &ddbtypes.AttributeValueMemberS{Value: k.V}
	}
	return out, nil
}

// DueShards is how many shards the due index spreads its entries over (tabledef.DueShards):
// DueItems and DueSessions take a shard from 0 to DueShards()-1.
func (ss *SessionStore) DueShards() int { return tabledef.DueShards }
