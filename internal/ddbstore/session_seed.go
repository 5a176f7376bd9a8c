package ddbstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"wspolicy/internal/lifecycle"
)

// SeedSessions writes the session items of sessions directly, 25 per BatchWriteItem, from
// workers goroutines at once (at least 1): a bulk loader for benchmarks and large tests. The
// items are exactly those StartSession writes (the same record types, due index entry
// included; the launch item only for a session with client settings or a launch
// configuration), but without a created event, without a condition (an existing item is
// overwritten) and without touching the users' active_sessions, which the caller sets with
// Store.SeedUsers when it matters.
func (ss *SessionStore) SeedSessions(ctx context.Context, sessions []lifecycle.Session, workers int) error {
	reqs := make([]ddbtypes.WriteRequest, 0, len(sessions))
	for _, s := range sessions {
		recs := []any{newSessionRecord(s)}
		if len(s.ClientSettings) > 0 || len(s.Launch) > 0 {
			recs = append(recs, newSessionLaunchRecord(s))
		}
		for _, rec := range recs {
			item, err := attributevalue.MarshalMap(rec)
			if err != nil {
				return fmt.Errorf("seed sessions: encode session %s: %w", s.ID, err)
			}
			reqs = append(reqs, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: item}})
		}
	}
	if err := ss.st.batchWriteParallel(ctx, reqs, workers); err != nil {
		return fmt.Errorf("seed sessions: %w", err)
	}
	return nil
}

// batchWriteParallel sends the write requests in batches of 25 from workers goroutines,
// resubmitting what DynamoDB leaves unprocessed after a pause.
func (s *Store) batchWriteParallel(ctx context.Context, reqs []ddbtypes.WriteRequest, workers int) error {
	batches := make(chan []ddbtypes.WriteRequest)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		for start := 0; start < len(reqs); start += maxBatchWriteItems {
			select {
			case batches <- reqs[start:min(start+maxBatchWriteItems, len(reqs))]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range max(workers, 1) {
		g.Go(func() error {
			for batch := range batches {
				if err := s.batchWrite(ctx, batch); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// batchWrite sends one BatchWriteItem of at most 25 requests until nothing is left unprocessed.
func (s *Store) batchWrite(ctx context.Context, reqs []ddbtypes.WriteRequest) error {
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
	return nil
}

// SessionItemKey is the primary key of a session's item, for benchmarks that write the item
// directly to compare with the store's own writes.
func SessionItemKey(sessionID string) map[string]ddbtypes.AttributeValue {
	return sessionKey(sessionID).attributes()
}
