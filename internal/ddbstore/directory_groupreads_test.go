package ddbstore_test

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"wspolicy/internal/ddbkit"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/policy"
)

// TestGroupsOfUserSharesReads holds the first read of a class's groups under way while twenty
// members of the class ask for theirs and the class's settings change: the twenty share one
// read started after the first ended, which sees the change; a user of other groups reads
// alone; and each caller's settings are its own to change.
func TestGroupsOfUserSharesReads(t *testing.T) {
	tb := ddbtest.NewTable(t)
	ctx := context.Background()
	var (
		batchGets atomic.Int64
		hold      = make(chan struct{})
		held      = make(chan struct{})
	)
	client, err := ddbkit.NewClient(ctx, tb.Endpoint, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(middleware.InitializeMiddlewareFunc("holdFirstBatchGet",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					if awsmiddleware.GetOperationName(ctx) == "BatchGetItem" && batchGets.Add(1) == 1 {
						close(held)
						<-hold
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.After)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	s := ddbstore.Open(client, tb.Name, ddbstore.WithClock(&policy.FixedClock{T: dt0})).Directory()
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatal(err)
	}
	class := dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{ID: "class", Name: "Class", Priority: 10,
		Settings: map[string]json.RawMessage{"max_kasms_per_user": json.RawMessage("2")}}))
	other := dirGroup(t, s, "Other", 20)
	const members = 20
	users := make([]policy.User, members+1)
	for i := range users {
		users[i] = dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{Username: "u" + string(rune('a'+i)), GroupIDs: []string{class.ID}}))
	}
	loner := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{Username: "loner", GroupIDs: []string{other.ID}}))
	batchGets.Store(0)

	first := make(chan []policy.Group, 1)
	go func() {
		gs, err := s.GroupsOfUser(ctx, users[0])
		if err != nil {
			t.Error(err)
		}
		first <- gs
	}()
	<-held
	results := make([][]policy.Group, members)
	var wg sync.WaitGroup
	for i := range members {
		wg.Go(func() {
			gs, err := s.GroupsOfUser(ctx, users[i+1])
			if err != nil {
				t.Error(err)
			}
			results[i] = gs
		})
	}
	set := []string{policy.AllUsersGroupID, class.ID}
	slices.Sort(set)
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for s.GroupReadsWaiting(set...) != members {
		if wait.Err() != nil || t.Failed() {
			close(hold)
			t.Fatalf("%d of the %d members' reads queued behind the first", s.GroupReadsWaiting(set...), members)
		}
		runtime.Gosched()
	}
	// Committed after the members asked: the read they share starts after the first ends.
	dirMust[policy.Group](t)(s.ChangeSettings(ctx, class.ID, policy.SettingsChange{
		Set: map[string]json.RawMessage{"max_kasms_per_user": json.RawMessage("3")}}, 0, "admin", dt0))
	lonely, err := s.GroupsOfUser(ctx, loner)
	if err != nil {
		t.Fatal(err)
	}
	close(hold)
	<-first
	wg.Wait()

	// The first read, the loner's and one shared by the twenty members.
	if got := batchGets.Load(); got != 3 {
		t.Errorf("BatchGetItem requests: got %d, want 3 (the first, the loner's, one for the twenty)", got)
	}
	if ids := groupIDs(lonely); !slices.Equal(ids, []string{policy.AllUsersGroupID, other.ID}) && !slices.Equal(ids, []string{other.ID, policy.AllUsersGroupID}) {
		t.Errorf("the loner's groups: got %v", ids)
	}
	for i, gs := range results {
		if len(gs) != 2 || gs[0].ID != class.ID || gs[1].ID != policy.AllUsersGroupID {
			t.Fatalf("member %d: groups %v, want the class then All Users (by priority)", i+1, groupIDs(gs))
		}
		if v := string(gs[0].Settings["max_kasms_per_user"]); v != "3" {
			t.Errorf("member %d sees max_kasms_per_user %s, want the change made after it asked (3)", i+1, v)
		}
	}
	results[0][0].Settings["max_kasms_per_user"] = json.RawMessage("99")
	if v := string(results[1][0].Settings["max_kasms_per_user"]); v != "3" {
		t.Errorf("a change to one caller's settings reached another's: %s", v)
	}
}

func groupIDs(gs []policy.Group) []string {
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	return ids
}
