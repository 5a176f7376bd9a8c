package ddbstore

import (
	"context"
	"fmt"
	"sync"

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

// sessionsOfUsersWorkers is how many user-index queries SessionsOfUsers sends at once (for the
// users whose item does not list its sessions).
const sessionsOfUsersWorkers = 8

// sessionIDsRecord reads the live sessions a user item lists.
type sessionIDsRecord struct {
	UserID         string   `dynamodbav:"user_id"`
	ActiveSessions int64    `dynamodbav:"active_sessions"`
	SessionIDs     []string `dynamodbav:"session_ids,stringset,omitempty"`
}

// SessionsOfUsers lists the live sessions (not deleted) of each of the users (issue 20's preview
// of a group change) with BatchGetItem alone, 100 keys a request, strongly consistent: the users'
// items, whose session_ids the transactions that start and end sessions keep, then the sessions
// those list, all users together — about 2 requests per 100 users with a session each, never a
// Scan and no query per user. A user item that counts more sessions than it lists (written
// before session_ids existed) costs one Query of the user index for that user instead.
func (ss *SessionStore) SessionsOfUsers(ctx context.Context, userIDs []string) (map[string][]lifecycle.Session, error) {
	keys := make([]tableKey, 0, len(userIDs))
	for _, uid := range userIDs {
		if policy.ValidID(uid) {
			keys = append(keys, userKey(uid))
		}
	}
	var sessionKeys []tableKey
	var legacy []string
	err := ss.st.kt.BatchGet(ctx, keys, true, func(item map[string]ddbtypes.AttributeValue) error {
		var r sessionIDsRecord
		if err := attributevalue.UnmarshalMap(item, &r); err != nil {
			return fmt.Errorf("decode user item: %w", err)
		}
		if r.ActiveSessions > int64(len(r.SessionIDs)) {
			legacy = append(legacy, r.UserID)
			return nil
		}
		for _, id := range r.SessionIDs {
			sessionKeys = append(sessionKeys, sessionKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sessions of %d users: %w", len(userIDs), err)
	}
	entries, err := ss.legacySessionKeys(ctx, legacy)
	if err != nil {
		return nil, fmt.Errorf("sessions of %d users: %w", len(userIDs), err)
	}
	for _, k := range sessionKeys {
		entries = append(entries, k.Attributes())
	}
	items, err := ss.st.tableItems(ctx, entries, "")
	if err != nil {
		return nil, fmt.Errorf("sessions of %d users: %w", len(userIDs), err)
	}
	page, err := sessionPage(items, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]lifecycle.Session, len(userIDs))
	for _, s := range page.Sessions {
		if s.Status == lifecycle.StatusDeleted {
			continue // ended after its user item was read
		}
		out[s.UserID] = append(out[s.UserID], s)
	}
	return out, nil
}

// legacySessionKeys queries the user index for the sessions of each of userIDs, several at once.
func (ss *SessionStore) legacySessionKeys(ctx context.Context, userIDs []string) ([]map[string]ddbtypes.AttributeValue, error) {
	var (
		mu       sync.Mutex
		entries  []map[string]ddbtypes.AttributeValue
		firstErr error
		wg       sync.WaitGroup
	)
	jobs := make(chan string)
	for range min(sessionsOfUsersWorkers, len(userIDs)) {
		wg.Go(func() {
			for uid := range jobs {
				got, err := ss.userSessionKeys(ctx, uid)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				entries = append(entries, got...)
				mu.Unlock()
			}
		})
	}
	for _, uid := range userIDs {
		jobs <- uid
	}
	close(jobs)
	wg.Wait()
	return entries, firstErr
}

// userSessionKeys pages through the user index for one user's sessions and returns the entries.
func (ss *SessionStore) userSessionKeys(ctx context.Context, userID string) ([]map[string]ddbtypes.AttributeValue, error) {
	e, err := expression.NewBuilder().WithKeyCondition(expression.Key(attrGSI1PK).Equal(expression.Value(userSessionsPK(userID))).
		And(expression.Key(attrGSI1SK).BeginsWith(userSessionSKPrefix))).Build()
	if err != nil {
		return nil, fmt.Errorf("build query: %w", err)
	}
	var out []map[string]ddbtypes.AttributeValue
	var start map[string]ddbtypes.AttributeValue
	for {
		res, err := ss.st.db.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(ss.st.table), IndexName: aws.String(tabledef.ByOwner),
			KeyConditionExpression: e.KeyCondition(), ExpressionAttributeNames: e.Names(),
			ExpressionAttributeValues: e.Values(), ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, ddbkit.StoreError(err)
		}
		out = append(out, res.Items...)
		if start = res.LastEvaluatedKey; len(start) == 0 {
			return out, nil
		}
	}
}
