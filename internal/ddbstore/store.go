package ddbstore

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

	"wspolicy/internal/policy"
)

// Store keeps the service's data in one DynamoDB table. It implements policy.Directory.
type Store struct {
	db    *dynamodb.Client
	table string
	clock policy.Clock
}

var _ policy.Directory = (*Store)(nil)

// Bounds of the store's retry loops.
const (
	// maxRaceAttempts bounds read-then-conditional-write loops that lost a race to another
	// writer (only when the caller did not pin a version).
	maxRaceAttempts = 5
	// maxCollisionAttempts bounds resubmissions of a transaction that collided with another.
	maxCollisionAttempts = 4
	// maxTransactItems is DynamoDB's limit on the items of one transaction.
	maxTransactItems = 100
	// maxBatchGetKeys and maxBatchWriteItems are DynamoDB's limits on one batch request.
	maxBatchGetKeys    = 100
	maxBatchWriteItems = 25
)

// pause waits before attempt n (n ≥ 1) of a retry loop: exponential with jitter, from ~10 ms.
func pause(ctx context.Context, n int) error {
	base := 10 * time.Millisecond << min(n-1, 6)
	return sleep(ctx, base/2+rand.N(base))
}

// sleep waits for d, or until ctx is done (then its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// getRecord reads one item into out and reports whether it exists.
func (s *Store) getRecord(ctx context.Context, k tableKey, consistent bool, out any) (bool, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: k.attributes(), ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return false, storeError(err)
	}
	if res.Item == nil {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return false, fmt.Errorf("decode %s/%s: %w", k.PK, k.SK, err)
	}
	return true, nil
}

// queryEach runs a query to its last page and calls fn with every item.
func (s *Store) queryEach(ctx context.Context, in *dynamodb.QueryInput, fn func(map[string]ddbtypes.AttributeValue) error) error {
	in.TableName = aws.String(s.table)
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return storeError(err)
		}
		for _, item := range page.Items {
			if err := fn(item); err != nil {
				return err
			}
		}
	}
	return nil
}

// keyQuery builds a query on the table (index "") or an index from a key condition and an
// optional projection.
func keyQuery(index string, kc expression.KeyConditionBuilder, proj *expression.ProjectionBuilder) (*dynamodb.QueryInput, error) {
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

// partitionPrefixQuery selects the items of partition pk whose sort key starts with prefix.
func partitionPrefixQuery(pk, prefix string, proj *expression.ProjectionBuilder) (*dynamodb.QueryInput, error) {
	return keyQuery("", expression.Key(attrPK).Equal(expression.Value(pk)).
		And(expression.Key(attrSK).BeginsWith(prefix)), proj)
}

// batchGet reads the given keys, up to 100 per request, and calls fn with every item found.
// Keys DynamoDB leaves unprocessed (under throttling) are asked for again after a pause.
func (s *Store) batchGet(ctx context.Context, keys []tableKey, consistent bool, fn func(map[string]ddbtypes.AttributeValue) error) error {
	for start := 0; start < len(keys); start += maxBatchGetKeys {
		chunk := keys[start:min(start+maxBatchGetKeys, len(keys))]
		req := &ddbtypes.KeysAndAttributes{ConsistentRead: aws.Bool(consistent)}
		for _, k := range chunk {
			req.Keys = append(req.Keys, k.attributes())
		}
		for attempt := 0; len(req.Keys) > 0; attempt++ {
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return err
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: map[string]ddbtypes.KeysAndAttributes{s.table: *req},
			})
			if err != nil {
				return storeError(err)
			}
			for _, item := range res.Responses[s.table] {
				if err := fn(item); err != nil {
					return err
				}
			}
			next, ok := res.UnprocessedKeys[s.table]
			if !ok {
				break
			}
			req = &next
		}
	}
	return nil
}

// batchDelete deletes the given items without conditions, 25 per request, resubmitting what
// DynamoDB leaves unprocessed.
func (s *Store) batchDelete(ctx context.Context, keys []tableKey) error {
	for start := 0; start < len(keys); start += maxBatchWriteItems {
		var reqs []ddbtypes.WriteRequest
		for _, k := range keys[start:min(start+maxBatchWriteItems, len(keys))] {
			reqs = append(reqs, ddbtypes.WriteRequest{DeleteRequest: &ddbtypes.DeleteRequest{Key: k.attributes()}})
		}
		for attempt := 0; len(reqs) > 0; attempt++ {
			if attempt > 0 {
				if err := pause(ctx, attempt); err != nil {
					return err
				}
			}
			res, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]ddbtypes.WriteRequest{s.table: reqs},
			})
			if err != nil {
				return storeError(err)
			}
			reqs = res.UnprocessedItems[s.table]
		}
	}
	return nil
}

// deleteUnderPrefix deletes every item of partition pk whose sort key begins with prefix: one
// consistent keys-only Query (paged), then BatchWriteItem deletes of 25. For item kinds that
// can no longer be added while it runs (their owner is marked deleting).
func (s *Store) deleteUnderPrefix(ctx context.Context, pk, prefix string) error {
	in, err := partitionPrefixQuery(pk, prefix, projectionOf(attrPK, attrSK))
	if err != nil {
		return err
	}
	in.ConsistentRead = aws.Bool(true)
	var keys []tableKey
	err = s.queryEach(ctx, in, func(item map[string]ddbtypes.AttributeValue) error {
		var k tableKey
		if err := attributevalue.UnmarshalMap(item, &k); err != nil {
			return fmt.Errorf("decode the key of a %s item: %w", prefix, err)
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return err
	}
	return s.batchDelete(ctx, keys)
}

// transactWrite runs a transaction, resubmitting it when it was cancelled only because it
// collided with another transaction on the same items (or was throttled). The error of a
// cancelled transaction is returned unmapped so the caller can read its reasons.
func (s *Store) transactWrite(ctx context.Context, tx *txWrites) error {
	if tx.err != nil {
		return tx.err
	}
	if len(tx.items) > maxTransactItems {
		return fmt.Errorf("transaction of %d items exceeds %d", len(tx.items), maxTransactItems)
	}
	// One idempotency token for every submission of these items: when DynamoDB applied the
	// transaction but its answer was lost, the SDK's retry or our resubmission is then answered
	// with success instead of running it again and failing on its own writes.
	in := &dynamodb.TransactWriteItemsInput{TransactItems: tx.items, ClientRequestToken: aws.String(clientRequestToken())}
	for attempt := 1; ; attempt++ {
		_, err := s.db.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		reasons, cancelled := cancellationReasons(err)
		if !cancelled || !transactionCollided(reasons) || attempt == maxCollisionAttempts {
			return err
		}
		if err := pause(ctx, attempt); err != nil {
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

// txWrites collects the items of one TransactWriteItems call. Every conditional item asks for
// the item's old image on failure, so callers can tell "missing" from "changed" without a read.
// The first error building an item is kept and returned by transactWrite.
type txWrites struct {
	table string
	items []ddbtypes.TransactWriteItem
	err   error
}

func (s *Store) newTx() *txWrites { return &txWrites{table: s.table} }

func (tx *txWrites) fail(err error) {
	if tx.err == nil {
		tx.err = err
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

// put adds a Put of rec (a record struct) under cond (which may be unset).
func (tx *txWrites) put(rec any, cond expression.ConditionBuilder) {
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		tx.fail(fmt.Errorf("encode %T: %w", rec, err))
		return
	}
	p := &ddbtypes.Put{TableName: aws.String(tx.table), Item: item}
	e, ok, err := conditionExpr(cond)
	if err != nil {
		tx.fail(fmt.Errorf("build condition: %w", err))
		return
	}
	if ok {
		p.ConditionExpression = e.Condition()
		p.ExpressionAttributeNames = e.Names()
		p.ExpressionAttributeValues = e.Values()
		p.ReturnValuesOnConditionCheckFailure = ddbtypes.ReturnValuesOnConditionCheckFailureAllOld
	}
	tx.items = append(tx.items, ddbtypes.TransactWriteItem{Put: p})
}

// update adds an Update of the item at k under cond (which may be unset).
func (tx *txWrites) update(k tableKey, upd expression.UpdateBuilder, cond expression.ConditionBuilder) {
	b := expression.NewBuilder().WithUpdate(upd)
	if cond.IsSet() {
		b = b.WithCondition(cond)
	}
	e, err := b.Build()
	if err != nil {
		tx.fail(fmt.Errorf("build update of %s/%s: %w", k.PK, k.SK, err))
		return
	}
	u := &ddbtypes.Update{
		TableName: aws.String(tx.table), Key: k.attributes(),
		UpdateExpression:          e.Update(),
		ConditionExpression:       e.Condition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	}
	if cond.IsSet() {
		u.ReturnValuesOnConditionCheckFailure = ddbtypes.ReturnValuesOnConditionCheckFailureAllOld
	}
	tx.items = append(tx.items, ddbtypes.TransactWriteItem{Update: u})
}

// delete adds a Delete of the item at k under cond (which may be unset).
func (tx *txWrites) delete(k tableKey, cond expression.ConditionBuilder) {
	d := &ddbtypes.Delete{TableName: aws.String(tx.table), Key: k.attributes()}
	e, ok, err := conditionExpr(cond)
	if err != nil {
		tx.fail(fmt.Errorf("build condition: %w", err))
		return
	}
	if ok {
		d.ConditionExpression = e.Condition()
		d.ExpressionAttributeNames = e.Names()
		d.ExpressionAttributeValues = e.Values()
		d.ReturnValuesOnConditionCheckFailure = ddbtypes.ReturnValuesOnConditionCheckFailureAllOld
	}
	tx.items = append(tx.items, ddbtypes.TransactWriteItem{Delete: d})
}

// check adds a ConditionCheck of the item at k.
func (tx *txWrites) check(k tableKey, cond expression.ConditionBuilder) {
	e, _, err := conditionExpr(cond)
	if err != nil {
		tx.fail(fmt.Errorf("build condition: %w", err))
		return
	}
	tx.items = append(tx.items, ddbtypes.TransactWriteItem{ConditionCheck: &ddbtypes.ConditionCheck{
		TableName: aws.String(tx.table), Key: k.attributes(),
		ConditionExpression:                 e.Condition(),
		ExpressionAttributeNames:            e.Names(),
		ExpressionAttributeValues:           e.Values(),
		ReturnValuesOnConditionCheckFailure: ddbtypes.ReturnValuesOnConditionCheckFailureAllOld,
	}})
}

// allOf joins conditions with AND; unset conditions are skipped.
func allOf(conds ...expression.ConditionBuilder) expression.ConditionBuilder {
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

// itemExists is the condition that the item being written already exists.
func itemExists() expression.ConditionBuilder {
	return expression.AttributeExists(expression.Name(attrPK))
}

// itemAbsent is the condition that the item being written does not exist yet.
func itemAbsent() expression.ConditionBuilder {
	return expression.AttributeNotExists(expression.Name(attrPK))
}

// decodeOld decodes the old image of an item returned with a failed condition; it reports
// false when the item did not exist.
func decodeOld(item map[string]ddbtypes.AttributeValue, out any) (bool, error) {
	if len(item) == 0 {
		return false, nil
	}
	if err := attributevalue.UnmarshalMap(item, out); err != nil {
		return false, fmt.Errorf("decode old image: %w", err)
	}
	return true, nil
}

// now returns the store clock's time in UTC.
func (s *Store) now() time.Time { return s.clock.Now().UTC() }
