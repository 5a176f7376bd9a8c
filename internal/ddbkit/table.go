package ddbkit

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/tabledef"
)

// Table is one DynamoDB table reached through a client.
type Table struct {
	DB   *dynamodb.Client
	Name string
}

// The table's key attributes.
var (
	attrPK = tabledef.PartitionKey.Name
	attrSK = tabledef.SortKey.Name
)

// Key is the primary key of one item.
type Key struct {
	PK string
	SK string
}

// Attributes returns the key as DynamoDB attributes, for GetItem, Delete and friends.
func (k Key) Attributes() map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		attrPK: &ddbtypes.AttributeValueMemberS{Value: k.PK},
		attrSK: &ddbtypes.AttributeValueMemberS{Value: k.SK},
	}
}

// Projection projects the named top-level attributes.
func Projection(names ...string) *expression.ProjectionBuilder {
	var p expression.ProjectionBuilder
	for _, n := range names {
		p = p.AddNames(expression.Name(n))
	}
	return &p
}

// Bounds of DynamoDB's requests and of the resubmission of transactions.
const (
	// maxCollisionAttempts bounds resubmissions of a transaction that collided with another.
	maxCollisionAttempts = 4
	// MaxTransactItems is DynamoDB's limit on the items of one transaction.
	MaxTransactItems = 100
	// MaxBatchGetKeys and MaxBatchWriteItems are DynamoDB's limits on one batch request.
	MaxBatchGetKeys    = 100
	MaxBatchWriteItems = 25
)

// Pause waits before attempt n (n ≥ 1) of a retry loop: exponential with jitter, from ~10 ms.
func Pause(ctx context.Context, n int) error {
	base := 10 * time.Millisecond << min(n-1, 6)
	return Sleep(ctx, base/2+rand.N(base))
}

// Sleep waits for d, or until ctx is done (then its error).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// GetRecord reads one item into out and reports whether it exists.
func (t Table) GetRecord(ctx context.Context, k Key, consistent bool, out any) (bool, error) {
	res, err := t.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(t.Name), Key: k.Attributes(), ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return false, StoreError(err)
	}
	if res.Item == nil {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", k.PK, k.SK, err)
	}
	return true, nil
}

// QueryEach runs a query to its last page and calls fn with every item.
func (t Table) QueryEach(ctx context.Context, in *dynamodb.QueryInput, fn func(map[string]ddbtypes.AttributeValue) error) error {
	in.TableName = aws.String(t.Name)
	p := dynamodb.NewQueryPaginator(t.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return StoreError(err)
		}
		for _, item := range page.Items {
			if err := fn(item); err != nil {
				return err
			}
		}
	}
	return nil
}

// KeyQuery builds a query on the table (index "") or an index from a key condition and an
// optional projection.
func KeyQuery(index string, kc expression.KeyConditionBuilder, proj *expression.ProjectionBuilder) (*dynamodb.QueryInput, error) {
	b := expression.NewBuilder().WithKeyCondition(kc)
	if proj != nil {
		b = b.WithProjection(*proj)
	}
	e, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("build query: %w", err)
	}
	in := &dynamodb.QueryInput{
		KeyConditionExpression:    e.KeyCondition(),
		ProjectionExpression:      e.Projection(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}
	if index != "" {
		in.IndexName = aws.String(index)
	}
	return in, nil
}

// PrefixQuery selects the items of partition pk whose sort key starts with prefix.
func PrefixQuery(pk, prefix string, proj *expression.ProjectionBuilder) (*dynamodb.QueryInput, error) {
	return KeyQuery("", expression.Key(attrPK).Equal(expression.Value(pk)).
		And(expression.Key(attrSK).BeginsWith(prefix)), proj)
}

// BatchGet reads the given keys, up to 100 per request, and calls fn with every item found.
// Keys DynamoDB leaves unprocessed (under throttling) are asked for again after a Pause.
func (t Table) BatchGet(ctx context.Context, keys []Key, consistent bool, fn func(map[string]ddbtypes.AttributeValue) error) error {
	for start := 0; start < len(keys); start += MaxBatchGetKeys {
		chunk := keys[start:min(start+MaxBatchGetKeys, len(keys))]
		req := &ddbtypes.KeysAndAttributes{ConsistentRead: aws.Bool(consistent)}
		for _, k := range chunk {
			req.Keys = append(req.Keys, k.Attributes())
		}
		for attempt := 0; len(req.Keys) > 0; attempt++ {
			if attempt > 0 {
				if err := Pause(ctx, attempt); err != nil {
					return err
				}
			}
			res, err := t.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]ddbtypes.KeysAndAttributes{t.Name: *req},
			})
			if err != nil {
				return StoreError(err)
			}
			for _, item := range res.Responses[t.Name] {
				if err := fn(item); err != nil {
					return err
				}
			}
			next, ok := res.UnprocessedKeys[t.Name]
			if !ok {
				break
			}
			req = &next
		}
	}
	return nil
}

// BatchDelete deletes the given items without conditions, 25 per request, resubmitting what
// DynamoDB leaves unprocessed.
func (t Table) BatchDelete(ctx context.Context, keys []Key) error {
	for start := 0; start < len(keys); start += MaxBatchWriteItems {
		var reqs []ddbtypes.WriteRequest
		for _, k := range keys[start:min(start+MaxBatchWriteItems, len(keys))] {
			reqs = append(reqs, ddbtypes.WriteRequest{DeleteRequest: &ddbtypes.DeleteRequest{Key: k.Attributes()}})
		}
		for attempt := 0; len(reqs) > 0; attempt++ {
			if attempt > 0 {
				if err := Pause(ctx, attempt); err != nil {
					return err
				}
			}
			res, err := t.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]ddbtypes.WriteRequest{t.Name: reqs},
			})
			if err != nil {
				return StoreError(err)
			}
			reqs = res.UnprocessedItems[t.Name]
		}
	}
	return nil
}

// DeleteUnderPrefix deletes every item of partition pk whose sort key begins with prefix: one
// consistent keys-only Query (paged), then BatchWriteItem deletes of 25. For item kinds that
// can no longer be added while it runs (their owner is marked deleting).
func (t Table) DeleteUnderPrefix(ctx context.Context, pk, prefix string) error {
	in, err := PrefixQuery(pk, prefix, Projection(attrPK, attrSK))
	if err != nil {
		return err
	}
	in.ConsistentRead = aws.Bool(true)
	var keys []Key
	err = t.QueryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var k Key
		if err := attributevalue.UnmarshalMap(item, &k); err != nil {
			return fmt.Errorf("decode the key of a %s item: %w", prefix, err)
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return err
	}
	return t.BatchDelete(ctx, keys)
}

// TransactWrite runs a transaction, resubmitting it when it was cancelled only because it
// collided with another transaction on the same items (or was throttled). The error of a
// cancelled transaction is returned unmapped so the caller can read its reasons.
func (t Table) TransactWrite(ctx context.Context, tx *Tx) error {
	if tx.Err != nil {
		return tx.Err
	}
	if len(tx.Items) > MaxTransactItems {
		return fmt.Errorf("transaction of %d items exceeds %d", len(tx.Items), MaxTransactItems)
	}
	// One idempotency token for every submission of these items: when DynamoDB applied the
	// transaction but its answer was lost, the SDK's retry or our resubmission is then answered
	// with success instead of running it again and failing on its own writes.
	in := &dynamodb.TransactWriteItemsInput{TransactItems: tx.Items, ClientRequestToken: aws.String(clientRequestToken())}
	for attempt := 1; ; attempt++ {
		_, err := t.DB.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		reasons, cancelled := CancellationReasons(err)
		if !cancelled || !TransactionCollided(reasons) || attempt == maxCollisionAttempts {
			return err
		}
		if err := Pause(ctx, attempt); err != nil {
			return err
		}
	}
}

// clientRequestToken returns a random idempotency token for one transaction (at most 36
// characters; DynamoDB keeps it for ten minutes).
func clientRequestToken() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// Tx collects the items of one TransactWriteItems call. Every conditional item asks for
// the item's old image on failure, so callers can tell "missing" from "changed" without a read.
// The first error building an item is kept and returned by TransactWrite.
type Tx struct {
	table string
	// Items are the transaction's items in the order they were added (a cancellation's
	// reasons follow it).
	Items []ddbtypes.TransactWriteItem
	// Err is the first error building an item.
	Err error
}

// NewTx starts a transaction on the table.
func (t Table) NewTx() *Tx { return &Tx{table: t.Name} }

// Fail keeps err as the transaction's error unless it already has one.
func (tx *Tx) Fail(err error) {
	if tx.Err == nil {
		tx.Err = err
	}
}

// conditionExpr builds a condition-only expression; ok is false when cond is unset.
func conditionExpr(cond expression.ConditionBuilder) (e expression.Expression, ok bool, err error) {
	if !cond.IsSet() {
		return expression.Expression{}, false, nil
	}
	e, err = expression.NewBuilder().WithCondition(cond).Build()
	return e, err == nil, err
}

// Put adds a Put of rec (a record struct) under cond (which may be unset).
func (tx *Tx) Put(rec any, cond expression.ConditionBuilder) {
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		tx.Fail(fmt.Errorf("encode %T: %w", rec, err))
		return
	}
	p := &ddbtypes.Put{TableName: aws.String(tx.table), Item: item}
	e, ok, err := conditionExpr(cond)
	if err != nil {
		tx.Fail(fmt.Errorf("build condition: %w", err))
		return
	}
	if ok {
		p.ConditionExpression = e.Condition()
		p.ExpressionAttributeNames = e.Names()
		p.ExpressionAttributeValues = e.Values()
		p.ReturnValuesOnConditionCheckFailure = ddbtypes.ReturnValuesOnConditionCheckFailureAllOld
	}
	tx.Items = append(tx.Items, ddbtypes.TransactWriteItem{Put: p})
}

// Update adds an Update of the item at k under cond (which may be unset).
func (tx *Tx) Update(k Key, upd expression.UpdateBuilder, cond expression.ConditionBuilder) {
	b := expression.NewBuilder().WithUpdate(upd)
	if cond.IsSet() {
		b = b.WithCondition(cond)
	}
	e, err := b.Build()
	if err != nil {
		tx.Fail(fmt.Errorf("build update of %s/%s: %w", k.PK, k.SK, err))
		return
	}
	u := &ddbtypes.Update{
		TableName: aws.String(tx.table), Key: k.Attributes(),
		UpdateExpression:          e.Update(),
		ConditionExpression:       e.Condition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}
	if cond.IsSet() {
		u.ReturnValuesOnConditionCheckFailure = ddbtypes.ReturnValuesOnConditionCheckFailureAllOld
	}
	tx.Items = append(tx.Items, ddbtypes.TransactWriteItem{Update: u})
}

// Delete adds a Delete of the item at k under cond (which may be unset).
func (tx *Tx) Delete(k Key, cond expression.ConditionBuilder) {
	d := &ddbtypes.Delete{TableName: aws.String(tx.table), Key: k.Attributes()}
	e, ok, err := conditionExpr(cond)
	if err != nil {
		tx.Fail(fmt.Errorf("build condition: %w", err))
		return
	}
	if ok {
		d.ConditionExpression = e.Condition()
		d.ExpressionAttributeNames = e.Names()
		d.ExpressionAttributeValues = e.Values()
		d.ReturnValuesOnConditionCheckFailure = ddbtypes.ReturnValuesOnConditionCheckFailureAllOld
	}
	tx.Items = append(tx.Items, ddbtypes.TransactWriteItem{Delete: d})
}

// Check adds a ConditionCheck of the item at k.
func (tx *Tx) Check(k Key, cond expression.ConditionBuilder) {
	e, _, err := conditionExpr(cond)
	if err != nil {
		tx.Fail(fmt.Errorf("build condition: %w", err))
		return
	}
	tx.Items = append(tx.Items, ddbtypes.TransactWriteItem{ConditionCheck: &ddbtypes.ConditionCheck{
		TableName: aws.String(tx.table), Key: k.Attributes(),
		ConditionExpression:                 e.Condition(),
		ExpressionAttributeNames:            e.Names(),
		ExpressionAttributeValues:           e.Values(),
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	}})
}

// AllOf joins conditions with AND; unset conditions are skipped.
func AllOf(conds ...expression.ConditionBuilder) expression.ConditionBuilder {
	var set []expression.ConditionBuilder
	for _, c := range conds {
		if c.IsSet() {
			set = append(set, c)
		}
	}
	switch len(set) {
	case 0:
		return expression.ConditionBuilder{}
	case 1:
		return set[0]
	}
	return expression.And(set[0], set[1], set[2:]...)
}

// ItemExists is the condition that the item being written already exists.
func ItemExists() expression.ConditionBuilder {
	return expression.AttributeExists(expression.Name(attrPK))
}

// ItemAbsent is the condition that the item being written does not exist yet.
func ItemAbsent() expression.ConditionBuilder {
	return expression.AttributeNotExists(expression.Name(attrPK))
}

// DecodeOld decodes the old image of an item returned with a failed condition; it reports
// false when the item did not exist.
func DecodeOld(item map[string]ddbtypes.AttributeValue, out any) (bool, error) {
	if len(item) == 0 {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(item, out); err != nil {
		return false, fmt.Errorf("decode old image: %w", err)
	}
	return true, nil
}
