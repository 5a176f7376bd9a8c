// Package seed loads users, groups and sessions into the table in bulk, 25 items per
// BatchWriteItem from several goroutines at once, for benchmarks and large tests. The items
// are those the store's own writes put (ddbstore.UserItems, GroupItems, SessionItems), but
// written without conditions: an existing item is overwritten, so seed only ids and names
// that are not in use.
package seed

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// Loader writes to the table of the directory store Dir through DB.
type Loader struct {
	DB    *dynamodb.Client
	Table string
	Dir   *ddbstore.Store
}

// User is one user to load: the user (ID, Username and CreatedAt must be set; GroupIDs lists
// the explicit groups), the number of live sessions its item counts and their ids (seed both
// together, as a session start keeps them).
type User struct {
	policy.User
	ActiveSessions int64
	SessionIDs     []string
}

// Users writes users, their username reservations and their explicit memberships from
// workers goroutines (at least 1). The groups must exist (KindNotFound after the items are
// written otherwise); their member_count (and All Users') is raised by the number of members
// added, one update per group, but their version is left alone and no re-sync marker is
// written. Users keep at most policy.MaxGroupsPerUser explicit groups.
func (l Loader) Users(ctx context.Context, users []User, workers int) error {
	if err := l.users(ctx, users, workers); err != nil {
		return fmt.Errorf("seed users: %w", err)
	}
	return nil
}

func (l Loader) users(ctx context.Context, users []User, workers int) error {
	var items []ddbstore.Item
	added := map[string]int{} // group id → members added
	for _, u := range users {
		its, groups, err := ddbstore.UserItems(u.User, u.ActiveSessions, u.SessionIDs)
		if err != nil {
			return err
		}
		items = append(items, its...)
		for _, g := range groups {
			added[g]++
		}
		added[policy.AllUsersGroupID]++
	}
	if len(users) == 0 {
		return nil
	}
	if err := l.put(ctx, items, workers); err != nil {
		return err
	}
	ids := make([]string, 0, len(added))
	for g := range added {
		ids = append(ids, g)
	}
	sort.Strings(ids)
	for _, g := range ids {
		if err := l.Dir.AddMemberCount(ctx, g, added[g]); err != nil {
			return err
		}
	}
	return nil
}

// Groups writes groups and their name reservations from workers goroutines (at least 1), with
// the checks of CreateGroup: each group gets version 1 and no members; a zero CreatedAt
// becomes the store clock's time.
func (l Loader) Groups(ctx context.Context, groups []policy.Group, workers int) error {
	var items []ddbstore.Item
	for _, g := range groups {
		its, err := l.Dir.GroupItems(g)
		if err != nil {
			return fmt.Errorf("seed groups: %w", err)
		}
		items = append(items, its...)
	}
	if err := l.put(ctx, items, workers); err != nil {
		return fmt.Errorf("seed groups: %w", err)
	}
	return nil
}

// Sessions writes the session items of sessions from workers goroutines (at least 1): due
// index entry and launch item included, but without a created event and without touching the
// users' active_sessions, which the caller sets with Users when it matters.
func (l Loader) Sessions(ctx context.Context, sessions []lifecycle.Session, workers int) error {
	items := make([]ddbstore.Item, 0, len(sessions))
	for _, s := range sessions {
		its, err := ddbstore.SessionItems(s)
		if err != nil {
			return fmt.Errorf("seed sessions: session %s: %w", s.ID, err)
		}
		items = append(items, its...)
	}
	if err := l.put(ctx, items, workers); err != nil {
		return fmt.Errorf("seed sessions: %w", err)
	}
	return nil
}

// put sends the items in batches of 25 from workers goroutines, resubmitting what DynamoDB
// leaves unprocessed after a pause.
func (l Loader) put(ctx context.Context, items []ddbstore.Item, workers int) error {
	batches := make(chan []ddbstore.Item)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		for start := 0; start < len(items); start += ddbkit.MaxBatchWriteItems {
			select {
			case batches <- items[start:min(start+ddbkit.MaxBatchWriteItems, len(items))]:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range max(workers, 1) {
		g.Go(func() error {
			for batch := range batches {
				if err := l.batchWrite(ctx, batch); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// batchWrite sends one BatchWriteItem of at most 25 puts until nothing is left unprocessed.
func (l Loader) batchWrite(ctx context.Context, items []ddbstore.Item) error {
	reqs := make([]ddbtypes.WriteRequest, len(items))
	for i, item := range items {
		reqs[i] = ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: item}}
	}
	for attempt := 0; len(reqs) > 0; attempt++ {
		if attempt > 0 {
			if err := ddbkit.Pause(ctx, attempt); err != nil {
				return err
			}
		}
		res, err := l.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems: map[string][]ddbtypes.WriteRequest{l.Table: reqs},
		})
		if err != nil {
			return err
		}
		reqs = res.UnprocessedItems[l.Table]
	}
	return nil
}
