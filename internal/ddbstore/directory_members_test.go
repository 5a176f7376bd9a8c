package ddbstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"wspolicy/internal/policy"
)

func dirUserIDs(users []policy.User) string {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return fmt.Sprint(ids)
}

func TestAddMember(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatal(err)
	}
	g := dirGroup(t, s, "G", 10)
	u := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{ID: "u1", Username: "alice"}))
	at := dt0.Add(time.Minute)

	if err := s.AddMember(ctx, g.ID, u.ID, at); err != nil {
		t.Fatalf("add: %v", err)
	}
	check := func(t *testing.T, wantVersion int64) {
		t.Helper()
		got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
		if got.MemberCount != 1 || got.Version != wantVersion {
			t.Errorf("group: got member_count %d version %d, want 1 %d", got.MemberCount, got.Version, wantVersion)
		}
		if user := dirMust[policy.User](t)(s.GetUser(ctx, u.ID)); fmt.Sprint(user.GroupIDs) != fmt.Sprint([]string{policy.AllUsersGroupID, g.ID}) {
			t.Errorf("user's groups: got %v", user.GroupIDs)
		}
		if members := dirMust[[]policy.User](t)(s.ListMembers(ctx, g.ID)); dirUserIDs(members) != "[u1]" {
			t.Errorf("members: got %s, want [u1]", dirUserIDs(members))
		}
	}
	check(t, 2)
	if got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID)); !got.UpdatedAt.Equal(at) {
		t.Errorf("updated_at: got %v, want %v", got.UpdatedAt, at)
	}

	t.Run("again is a no-op", func(t *testing.T) {
		if err := s.AddMember(ctx, g.ID, u.ID, at); err != nil {
			t.Fatalf("add again: %v", err)
		}
		check(t, 2)
	})
	t.Run("All Users is implicit", func(t *testing.T) {
		if err := s.AddMember(ctx, policy.AllUsersGroupID, u.ID, at); err != nil {
			t.Fatalf("add to All Users: %v", err)
		}
		if item := dirItem(t, tb, "GROUP#"+policy.AllUsersGroupID, "MEMBER#"+u.ID); item != nil {
			t.Errorf("an All Users membership was stored: %v", item)
		}
		check(t, 2)
	})
	tests := []struct {
		name, group, user string
		kind              policy.Kind
		code              string
	}{
		{"unknown user", g.ID, "nobody", policy.KindNotFound, "user_not_found"},
		{"unknown user to All Users", policy.AllUsersGroupID, "nobody", policy.KindNotFound, "user_not_found"},
		{"unknown group", "nogroup", u.ID, policy.KindNotFound, "group_not_found"},
		{"invalid ids", "a#b", "c#d", policy.KindNotFound, "group_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantDirErr(t, s.AddMember(ctx, tt.group, tt.user, at), tt.kind, tt.code)
			check(t, 2)
			if item := dirItem(t, tb, "USER#"+tt.user, "USER"); tt.user != u.ID && item != nil {
				t.Errorf("a user item was created: %v", item)
			}
			if item := dirItem(t, tb, "GROUP#"+tt.group, "GROUP"); tt.group != g.ID && tt.group != policy.AllUsersGroupID && item != nil {
				t.Errorf("a group item was created: %v", item)
			}
		})
	}
}

func TestAddMemberLimit(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	u := dirUser(t, s, "busy")
	for i := range policy.MaxGroupsPerUser {
		g := dirMust[policy.Group](t)(s.CreateGroup(ctx, policy.Group{ID: fmt.Sprintf("g%03d", i), Name: fmt.Sprint("group ", i)}))
		if err := s.AddMember(ctx, g.ID, u.ID, dt0); err != nil {
			t.Fatalf("add to group %d: %v", i, err)
		}
	}
	extra := dirGroup(t, s, "one too many", 0)
	wantDirErr(t, s.AddMember(ctx, extra.ID, u.ID, dt0), policy.KindConflict, "too_many_groups")
	if got := dirMust[policy.Group](t)(s.GetGroup(ctx, extra.ID)); got.MemberCount != 0 || got.Version != 1 {
		t.Errorf("refused group: got member_count %d version %d, want 0 1", got.MemberCount, got.Version)
	}
	if err := s.AddMember(ctx, "g000", u.ID, dt0); err != nil {
		t.Errorf("re-adding an existing membership at the limit: %v", err)
	}
	if got := dirMust[policy.User](t)(s.GetUser(ctx, u.ID)); len(got.GroupIDs) != policy.MaxGroupsPerUser+1 {
		t.Errorf("user's groups: got %d, want %d", len(got.GroupIDs), policy.MaxGroupsPerUser+1)
	}
}

func TestRemoveMember(t *testing.T) {
	s, tb := newDirStore(t)
	ctx := context.Background()
	g := dirGroup(t, s, "G", 10)
	u := dirUser(t, s, "alice")
	if err := s.AddMember(ctx, g.ID, u.ID, dt0); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveMember(ctx, g.ID, u.ID, dt0); err != nil {
		t.Fatalf("remove: %v", err)
	}
	got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID))
	if got.MemberCount != 0 || got.Version != 3 {
		t.Errorf("group: got member_count %d version %d, want 0 3", got.MemberCount, got.Version)
	}
	if user := dirMust[policy.User](t)(s.GetUser(ctx, u.ID)); fmt.Sprint(user.GroupIDs) != fmt.Sprint([]string{policy.AllUsersGroupID}) {
		t.Errorf("user's groups: got %v, want only All Users", user.GroupIDs)
	}
	if item := dirItem(t, tb, "GROUP#"+g.ID, "MEMBER#"+u.ID); item != nil {
		t.Errorf("membership item left: %v", item)
	}
	if item := dirItem(t, tb, "USER#"+u.ID, "USER"); item["groups"] != nil {
		t.Errorf("empty groups set left on the user: %v", item["groups"])
	}

	tests := []struct {
		name, group, user string
		kind              policy.Kind
		code              string
	}{
		{"not a member", g.ID, u.ID, policy.KindNotFound, "not_a_member"},
		{"All Users", policy.AllUsersGroupID, u.ID, policy.KindConflict, "all_users_membership"},
		{"unknown user", g.ID, "nobody", policy.KindNotFound, "user_not_found"},
		{"unknown group", "nogroup", u.ID, policy.KindNotFound, "group_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantDirErr(t, s.RemoveMember(ctx, tt.group, tt.user, dt0), tt.kind, tt.code)
			if got := dirMust[policy.Group](t)(s.GetGroup(ctx, g.ID)); got.MemberCount != 0 || got.Version != 3 {
				t.Errorf("group: got member_count %d version %d, want 0 3", got.MemberCount, got.Version)
			}
		})
	}
}

func TestListMembers(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatal(err)
	}
	g := dirGroup(t, s, "G", 10)
	empty := dirGroup(t, s, "Empty", 10)
	for _, id := range []string{"u3", "u1", "u2"} {
		dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{ID: id, Username: "name " + id}))
	}
	for _, id := range []string{"u3", "u1"} {
		if err := s.AddMember(ctx, g.ID, id, dt0); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, group, want string
	}{
		{"explicit members by id", g.ID, "[u1 u3]"},
		{"All Users lists every user", policy.AllUsersGroupID, "[u1 u2 u3]"},
		{"no members", empty.ID, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			members := dirMust[[]policy.User](t)(s.ListMembers(ctx, tt.group))
			if got := dirUserIDs(members); got != tt.want || members == nil {
				t.Errorf("members: got %s, want %s", got, tt.want)
			}
		})
	}
	members := dirMust[[]policy.User](t)(s.ListMembers(ctx, g.ID))
	if want := fmt.Sprint([]string{policy.AllUsersGroupID, g.ID}); fmt.Sprint(members[0].GroupIDs) != want || members[0].Username != "name u1" {
		t.Errorf("member u1: got %+v, want username \"name u1\" and groups %s", members[0], want)
	}
	_, err := s.ListMembers(ctx, "nope")
	wantDirErr(t, err, policy.KindNotFound, "group_not_found")
}
