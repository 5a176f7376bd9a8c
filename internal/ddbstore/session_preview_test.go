package ddbstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/bench/seed"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

// sessionIDsOf reads the session_ids a user item lists.
func sessionIDsOf(t *testing.T, env sessionEnv, userID string) []string {
	t.Helper()
	out, err := env.tb.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(env.tb.Name), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"PK": &ddbtypes.AttributeValueMemberS{Value: "USER#" + userID},
			"SK": &ddbtypes.AttributeValueMemberS{Value: "USER"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) == 0 {
		t.Fatalf("user item %s not found", userID)
	}
	ss, _ := out.Item["session_ids"].(*ddbtypes.AttributeValueMemberSS)
	if ss == nil {
		return nil
	}
	ids := slices.Clone(ss.Value)
	slices.Sort(ids)
	return ids
}

func sessionIDsIn(ss []lifecycle.Session) []string {
	var ids []string
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestSessionIDsFollowStartsAndEnds checks that the user item's session_ids lists exactly the
// sessions not deleted — added by the start, kept by stop, removed by the delete and by the
// finalisation of a removed session — and that SessionsOfUsers reads them with BatchGetItem
// only (2 requests for 3 users), falling back to the user index for a user item that counts
// more sessions than it lists.
func TestSessionIDsFollowStartsAndEnds(t *testing.T) {
	env := newSessionEnv(t, "u1", "u2", "u3")
	ctx := context.Background()
	lt := testLifetime()
	s1 := env.start(t, "s1", "u1", true, lt, st0)
	s2 := env.start(t, "s2", "u1", true, lt, st0)
	env.start(t, "s3", "u2", true, lt, st0)
	s4 := env.start(t, "s4", "u2", true, lt, st0)
	if got := sessionIDsOf(t, env, "u1"); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("after the starts: u1 session_ids = %v", got)
	}
	stop, _ := lifecycle.Act(s2, lifecycle.OpStop, lifecycle.AdminActor(), lifecycle.Permissions{}, st0.Add(time.Second))
	del, _ := lifecycle.Act(s1, lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, st0.Add(time.Second))
	for _, c := range []lifecycle.Change{stop, del} {
		if err := env.ss.Transition(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := sessionIDsOf(t, env, "u1"); !slices.Equal(got, []string{"s2"}) {
		t.Errorf("after stop s2 and delete s1: u1 session_ids = %v, want [s2]", got)
	}
	ended := lifecycle.Event{EventID: "e-s4-end", SessionID: "s4", UserID: "u2", Seq: s4.EventSeq + 1,
		Type: lifecycle.EventDeleted, Actor: "system", At: st0.Add(time.Second), StatusBefore: s4.Status, StatusAfter: lifecycle.StatusDeleted}
	if ok, err := env.ss.FinaliseRemovedSession(ctx, s4, ended); err != nil || !ok {
		t.Fatalf("finalise s4: %v %v", ok, err)
	}
	if got := sessionIDsOf(t, env, "u2"); !slices.Equal(got, []string{"s3"}) {
		t.Errorf("after s4 finalised: u2 session_ids = %v, want [s3]", got)
	}

	env.tb.ResetCalls()
	got, err := env.ss.SessionsOfUsers(ctx, []string{"u1", "u2", "u3"})
	if err != nil {
		t.Fatal(err)
	}
	if calls := env.tb.Calls(); calls != 2 {
		t.Errorf("SessionsOfUsers sent %d requests, want 2 (users, sessions)", calls)
	}
	if ids := sessionIDsIn(got["u1"]); !slices.Equal(ids, []string{"s2"}) {
		t.Errorf("u1 sessions = %v, want [s2]", ids)
	}
	if ids := sessionIDsIn(got["u2"]); !slices.Equal(ids, []string{"s3"}) {
		t.Errorf("u2 sessions = %v, want [s3]", ids)
	}
	if len(got["u3"]) != 0 {
		t.Errorf("u3 sessions = %v, want none", got["u3"])
	}

	// A user item written before session_ids (it counts a session it does not list): the user
	// index finds the session. One whose count is 0 but lists a session: ending it still
	// removes it from the list.
	legacy, _ := lifecycle.NewSession("s5", "u_legacy", "img", true, lt, st0)
	zero, _ := lifecycle.NewSession("s6", "u_zero", "img", true, lt, st0)
	if err := env.seed().Users(ctx, []seed.User{
		{User: policy.User{ID: "u_legacy", Username: "u_legacy", CreatedAt: st0}, ActiveSessions: 1},
		{User: policy.User{ID: "u_zero", Username: "u_zero", CreatedAt: st0}, SessionIDs: []string{"s6"}},
	}, 1); err != nil {
		t.Fatal(err)
	}
	if err := env.seed().Sessions(ctx, []lifecycle.Session{legacy, zero}, 1); err != nil {
		t.Fatal(err)
	}
	got, err = env.ss.SessionsOfUsers(ctx, []string{"u_legacy", "u_zero"})
	if err != nil {
		t.Fatal(err)
	}
	if ids := sessionIDsIn(got["u_legacy"]); !slices.Equal(ids, []string{"s5"}) {
		t.Errorf("legacy user's sessions = %v, want [s5]", ids)
	}
	if ids := sessionIDsIn(got["u_zero"]); !slices.Equal(ids, []string{"s6"}) {
		t.Errorf("u_zero sessions = %v, want [s6]", ids)
	}
	del6, _ := lifecycle.Act(zero, lifecycle.OpDelete, lifecycle.AdminActor(), lifecycle.Permissions{}, st0.Add(time.Second))
	if err := env.ss.Transition(ctx, del6); err != nil {
		t.Fatal(err)
	}
	if ids := sessionIDsOf(t, env, "u_zero"); len(ids) != 0 {
		t.Errorf("after deleting s6 with a count of 0: session_ids = %v, want none", ids)
	}
}
