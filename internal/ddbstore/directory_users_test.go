package ddbstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/policy"
)

func TestCreateUser(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatal(err)
	}
	g1, g2 := dirGroup(t, s, "G1", 10), dirGroup(t, s, "G2", 20)

	u := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{Username: "Alice"}))
	if u.ID == "" || u.Username != "Alice" || !u.CreatedAt.Equal(dt0) || fmt.Sprint(u.GroupIDs) != fmt.Sprint([]string{policy.AllUsersGroupID}) {
		t.Errorf("created user: got %+v", u)
	}
	if got := dirMust[policy.User](t)(s.GetUser(ctx, u.ID)); got.Username != "Alice" || !got.CreatedAt.Equal(dt0) {
		t.Errorf("read back: got %+v", got)
	}

	withGroups := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{ID: "bob", Username: "bob",
		GroupIDs: []string{g2.ID, policy.AllUsersGroupID, g1.ID, g2.ID}}))
	explicit := []string{g1.ID, g2.ID}
	sort.Strings(explicit) // explicit memberships are listed by id, after All Users
	if want := fmt.Sprint(append([]string{policy.AllUsersGroupID}, explicit...)); fmt.Sprint(withGroups.GroupIDs) != want {
		t.Errorf("groups of a user created into groups: got %v, want %s", withGroups.GroupIDs, want)
	}
	for _, g := range []policy.Group{g1, g2} {
		got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
		if got.MemberCount != 1 || got.Version != 2 {
			t.Errorf("group %s: got member_count %d version %d, want 1 2", g.ID, got.MemberCount, got.Version)
		}
		if members := dirMust[[]policy.User](t)(s.ListMembers(ctx, g.ID)); dirUserIDs(members) != "[bob]" {
			t.Errorf("members of %s: got %s, want [bob]", g.ID, dirUserIDs(members))
		}
	}

	tooMany := make([]string, ddbstore.MaxGroupsOnCreate+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("g", i)
	}
	tests := []struct {
		name string
		u    policy.User
		kind policy.Kind
		code string
	}{
		{"username taken", policy.User{Username: "Alice"}, policy.KindConflict, "username_taken"},
		{"username taken ignoring case and spaces", policy.User{Username: " aLICE "}, policy.KindConflict, "username_taken"},
		{"id taken", policy.User{ID: "bob", Username: "bobby"}, policy.KindConflict, "user_id_taken"},
		{"unknown group", policy.User{Username: "carol", GroupIDs: []string{g1.ID, "nope"}}, policy.KindNotFound, "group_not_found"},
		{"too many groups", policy.User{Username: "carol", GroupIDs: tooMany}, policy.KindInvalid, "too_many_groups"},
		{"empty username", policy.User{Username: ""}, policy.KindInvalid, "invalid_username"},
		{"bad id", policy.User{ID: "-x", Username: "carol"}, policy.KindInvalid, "invalid_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateUser(ctx, tt.u)
			wantDirErr(t, err, tt.kind, tt.code)
		})
	}
	if got := dirUserIDs(dirMust[[]policy.User](t)(s.ListUsers(ctx))); got != fmt.Sprintf("[bob %s]", u.ID) {
		t.Errorf("users after the refused creations: got %s", got)
	}
	if got := dirMust[policy.Group](t)(s.GetGroup(ctx, g1.ID)); got.MemberCount != 1 {
		t.Errorf("G1 after a refused creation into it: got member_count %d, want 1", got.MemberCount)
	}
	if item := dirItem(t, tb, "USERNAME#carol", "USERNAME"); item != nil {
		t.Errorf("the username of a refused creation was reserved: %v", item)
	}
	if got := dirMust[policy.Group](t)(s.GetGroup(ctx, policy.AllUsersGroupID)); got.MemberCount != 2 || got.Version != 1 {
		t.Errorf("All Users: got member_count %d version %d, want 2 1", got.MemberCount, got.Version)
	}
}

func TestGetAndListUsers(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	for _, id := range []string{"c", "a", "b"} {
		dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{ID: id, Username: "user " + id}))
	}
	if got := dirUserIDs(dirMust[[]policy.User](t)(s.ListUsers(ctx))); got != "[a b c]" {
		t.Errorf("ListUsers: got %s, want [a b c]", got)
	}
	for _, id := range []string{"nope", "", "a#b"} {
		_, err := s.GetUser(ctx, id)
		wantDirErr(t, err, policy.KindNotFound, "user_not_found")
	}
}

func TestDeleteUser(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatal(err)
	}
	g1, g2 := dirGroup(t, s, "G1", 10), dirGroup(t, s, "G2", 20)
	u := dirUser(t, s, "Alice")
	stay := dirUser(t, s, "stay")
	for _, g := range []policy.Group{g1, g2} {
		for _, uid := range []string{u.ID, stay.ID} {
			if err := s.AddMember(ctx, g.ID, uid, dt0); err != nil {
				t.Fatal(err)
			}
		}
	}
	key := policy.APIKey{ID: "k1", UserID: u.ID, Role: policy.RoleUser, Hash: "hash-1"}
	if err := s.PutKey(ctx, key); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err := s.GetUser(ctx, u.ID)
	wantDirErr(t, err, policy.KindNotFound, "user_not_found")
	for _, g := range []policy.Group{g1, g2} {
		got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
		if got.MemberCount != 1 {
			t.Errorf("group %s: got member_count %d, want 1", g.ID, got.MemberCount)
		}
		if members := dirUserIDs(dirMust[[]policy.User](t)(s.ListMembers(ctx, g.ID))); members != fmt.Sprintf("[%s]", stay.ID) {
			t.Errorf("members of %s: got %s", g.ID, members)
		}
	}
	if got := dirMust[policy.Group](t)(s.GetGroup(ctx, policy.AllUsersGroupID)); got.MemberCount != 1 {
		t.Errorf("All Users: got member_count %d, want 1", got.MemberCount)
	}
	_, err = s.KeyByHash(ctx, key.Hash)
	wantDirErr(t, err, policy.KindNotFound, "key_not_found")
	if n := dirPartitionSize(t, tb, "USER#"+u.ID); n != 0 {
		t.Errorf("items left under the user: got %d, want 0", n)
	}
	dirUser(t, s, "alice") // the username is free again
	wantDirErr(t, s.DeleteUser(ctx, u.ID), policy.KindNotFound, "user_not_found")
}

// Directory writes to a user item never overwrite attributes the session code keeps on it.
func TestUserItemKeepsActiveSessions(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	u := dirUser(t, s, "alice")
	_, err := tb.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &tb.Name, Key: dirKey("USER#"+u.ID, "USER"),
		UpdateExpression:          aws.String("SET active_sessions = :n"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":n": &ddbtypes.AttributeValueMemberN{Value: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, g.ID, u.ID, dt0); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(ctx, g.ID, u.ID, dt0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutKey(ctx, policy.APIKey{ID: "k", UserID: u.ID, Role: policy.RoleUser, Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	n, _ := dirItem(t, tb, "USER#"+u.ID, "USER")["active_sessions"].(*ddbtypes.AttributeValueMemberN)
	if n == nil || n.Value != "2" {
		t.Errorf("active_sessions after directory writes: got %v, want 2", n)
	}
}

func TestUserWithGroups(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	if err := s.EnsureAllUsers(ctx, dt0, map[string]json.RawMessage{"a": rawJSON("0")}); err != nil {
		t.Fatal(err)
	}
	u := dirUser(t, s, "alice")
	const n = 50
	for i := range n {
		// Priorities 1..25 twice over: ties must be ordered by id.
		g := dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{ID: fmt.Sprintf("g%02d", n-1-i),
			Name: fmt.Sprint("group ", i), Priority: 1 + i%25,
			Settings: map[string]json.RawMessage{"a": rawJSON(fmt.Sprint(i))}}))
		if err := s.AddMember(ctx, g.ID, u.ID, dt0); err != nil {
			t.Fatal(err)
		}
	}
	dirGroup(t, s, "not mine", 1)

	tb.ResetCalls()
	user, groups, err := s.UserWithGroups(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserWithGroups: %v", err)
	}
	if calls := tb.Calls(); calls > 2 {
		t.Errorf("round trips for a user in %d groups: got %d, want at most 2", n, calls)
	}
	if user.ID != u.ID || len(user.GroupIDs) != n+1 {
		t.Errorf("user: got %s with %d groups, want %s with %d", user.ID, len(user.GroupIDs), u.ID, n+1)
	}
	if len(groups) != n+1 {
		t.Fatalf("groups: got %d, want %d (All Users included)", len(groups), n+1)
	}
	for i := 1; i < len(groups); i++ {
		a, b := groups[i-1], groups[i]
		if a.Priority > b.Priority || (a.Priority == b.Priority && a.ID >= b.ID) {
			t.Errorf("groups %d and %d out of precedence order: %s/%d before %s/%d", i-1, i, a.ID, a.Priority, b.ID, b.Priority)
		}
	}
	var sawAllUsers bool
	for _, g := range groups {
		if len(g.Settings) != 1 {
			t.Errorf("group %s: got settings %s, want its one setting", g.ID, dirSettingsJSON(g))
		}
		sawAllUsers = sawAllUsers || g.ID == policy.AllUsersGroupID
	}
	if !sawAllUsers {
		t.Errorf("All Users missing from the user's groups")
	}
}

func TestUserWithGroupsEdges(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	u := dirUser(t, s, "alice")
	g := dirGroup(t, s, "G", 10)
	if err := s.AddMember(ctx, g.ID, u.ID, dt0); err != nil {
		t.Fatal(err)
	}

	t.Run("without All Users yet", func(t *testing.T) {
		_, groups, err := s.UserWithGroups(ctx, u.ID)
		if err != nil || len(groups) != 1 || groups[0].ID != g.ID {
			t.Errorf("got %v, %v; want only %s", groups, err, g.ID)
		}
	})
	t.Run("dangling group id is ignored", func(t *testing.T) {
		_, err := tb.Client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &tb.Name, Key: dirKey("GROUP#"+g.ID, "GROUP")})
		if err != nil {
			t.Fatal(err)
		}
		user, groups, err := s.UserWithGroups(ctx, u.ID)
		if err != nil || len(groups) != 0 || user.ID != u.ID {
			t.Errorf("got %v, %v, %v; want the user and no groups", user, groups, err)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		_, _, err := s.UserWithGroups(ctx, "nobody")
		wantDirErr(t, err, policy.KindNotFound, "user_not_found")
	})
}

func TestStoreClockDefaults(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	explicit := dt0.Add(-time.Hour)
	g := dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{Name: "G", CreatedAt: explicit}))
	u := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{Username: "u", CreatedAt: explicit}))
	if !g.CreatedAt.Equal(explicit) || !u.CreatedAt.Equal(explicit) {
		t.Errorf("explicit creation times: got group %v user %v, want %v", g.CreatedAt, u.CreatedAt, explicit)
	}
	if err := s.PutKey(ctx, policy.APIKey{ID: "k", UserID: u.ID, Role: policy.RoleAdmin, Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	if k := dirMust[policy.APIKey](t)(s.KeyByHash(ctx, "h")); !k.CreatedAt.Equal(dt0) {
		t.Errorf("key created_at from the clock: got %v, want %v", k.CreatedAt, dt0)
	}
}

// A user deletion interrupted after the user was marked is invisible, blocks new memberships
// and keys, and completes on retry.
func TestDeleteUserResumes(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	u := dirUser(t, s, "half")
	if err := s.AddMember(ctx, g.ID, u.ID, dt0); err != nil {
		t.Fatal(err)
	}
	_, err := tb.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &tb.Name, Key: dirKey("USER#"+u.ID, "USER"),
		UpdateExpression:          aws.String("SET deleting = :t"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":t": &ddbtypes.AttributeValueMemberBOOL{Value: true}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.GetUser(ctx, u.ID)
	wantDirErr(t, err, policy.KindNotFound, "user_not_found")
	wantDirErr(t, s.AddMember(ctx, dirGroup(t, s, "H", 10).ID, u.ID, dt0), policy.KindNotFound, "user_not_found")
	wantDirErr(t, s.PutKey(ctx, policy.APIKey{ID: "k", UserID: u.ID, Role: policy.RoleUser, Hash: "h"}), policy.KindNotFound, "user_not_found")
	if users := dirUserIDs(dirMust[[]policy.User](t)(s.ListUsers(ctx))); users != "[]" {
		t.Errorf("ListUsers lists a user being deleted: %s", users)
	}
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("resumed delete: %v", err)
	}
	if got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID)); got.MemberCount != 0 {
		t.Errorf("group's member_count: got %d, want 0", got.MemberCount)
	}
	if n := dirPartitionSize(t, tb, "USER#"+u.ID); n != 0 {
		t.Errorf("items left under the user: got %d, want 0", n)
	}
}

// Deletions of a group with many members and of a user in many groups run over several
// transactions and leave both directions consistent.
func TestDeletesSpanSeveralTransactions(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	big := dirGroup(t, s, "Big", 10)
	var users []policy.User
	for i := range 70 {
		u := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{Username: fmt.Sprint("user", i), GroupIDs: []string{big.ID}}))
		users = append(users, u)
	}
	busy := users[0]
	var groups []policy.Group
	for i := range 60 {
		g := dirGroup(t, s, fmt.Sprint("group", i), 20)
		if err := s.AddMember(ctx, g.ID, busy.ID, dt0); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, g)
	}

	if err := s.DeleteUser(ctx, busy.ID); err != nil {
		t.Fatalf("delete a user in 61 groups: %v", err)
	}
	for _, g := range append(groups, big) {
		want := 0
		if g.ID == big.ID {
			want = 69
		}
		if got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID)); got.MemberCount != want {
			t.Errorf("group %s: got member_count %d, want %d", g.Name, got.MemberCount, want)
		}
	}
	if n := dirPartitionSize(t, tb, "GROUP#"+groups[59].ID); n != 1 {
		t.Errorf("items under a group the user left: got %d, want only the group", n)
	}

	if err := s.DeleteGroup(ctx, big.ID, 0); err != nil {
		t.Fatalf("delete a group of 69: %v", err)
	}
	if n := dirPartitionSize(t, tb, "GROUP#"+big.ID); n != 0 {
		t.Errorf("items left under the group: got %d, want 0", n)
	}
	for _, u := range users[1:] {
		if got := dirMust[policy.User](t)(s.GetUser(ctx, u.ID)); len(got.GroupIDs) != 1 {
			t.Fatalf("groups of %s after the group's deletion: got %v, want only All Users", u.ID, got.GroupIDs)
		}
	}
}
