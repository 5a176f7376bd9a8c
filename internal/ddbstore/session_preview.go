package ddbstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
)

// sessionsOfUsersWorkers is how many user-index queries SessionsOfUsers sends at once.
const sessionsOfUsersWorkers = 8

// SessionsOfUsers lists every session of each of the users (issue 20's preview of a group
// change): one Query of the user index per user (paged; several users at once), then the items
// themselves from the table for all the users together, 100 per strongly consistent
// BatchGetItem — instead of a BatchGetItem per user as ListSessions would need. A user without
// sessions costs the one Query.
func (ss *SessionStore) SessionsOfUsers(ctx context.Context, userIDs []string) (map[string][]lifecycle.Session, error) {
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
		if policy.ValidID(uid) {
			jobs <- uid
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("sessions of %d users: %w", len(userIDs), firstErr)
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
		out[s.UserID] = append(out[s.UserID], s)
	}
	return out, nil
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
			return nil, storeError(err)
		}
		out = append(out, res.Items...)
		if start = res.LastEvaluatedKey; len(start) == 0 {
			return out, nil
		}
	}
}
