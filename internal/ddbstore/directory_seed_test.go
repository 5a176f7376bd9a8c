package ddbstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

func TestSeedUsers(t *testing.T) {
	cases := []struct {
		name       string
		users      int
		groups     int // every user joins every group
		workers    int
		wantErr    string
		unknownGrp bool
	}{
		{name: "one user, no group", users: 1, groups: 0, workers: 1},
		{name: "many users in two groups", users: 60, groups: 2, workers: 3},
		{name: "unknown group", users: 2, groups: 1, workers: 1, unknownGrp: true, wantErr: "group_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := ddbtest.NewTable(t)
			ctx := context.Background()
			st := ddbstore.Open(tb.Client, tb.Name, ddbstore.WithClock(&policy.FixedClock{T: st0})).Directory()
			if err := st.EnsureAllUsers(ctx, st0, nil); err != nil {
				t.Fatalf("EnsureAllUsers: %v", err)
			}
			var groupIDs []string
			for i := range tc.groups {
				id := fmt.Sprintf("g_seed_%d", i)
				if !tc.unknownGrp {
					if _, err := st.CreateGroup(ctx, policy.Group{ID: id, Name: id}); err != nil {
						t.Fatalf("CreateGroup: %v", err)
					}
				}
				groupIDs = append(groupIDs, id)
			}
			var users []ddbstore.SeedUser
			for i := range tc.users {
				id := fmt.Sprintf("u_seed_%03d", i)
				users = append(users, ddbstore.SeedUser{
					User:           policy.User{ID: id, Username: "name-" + id, GroupIDs: groupIDs, CreatedAt: st0},
					ActiveSessions: 1,
				})
			}
			err := st.SeedUsers(ctx, users, tc.workers)
			if tc.wantErr != "" {
				if policy.CodeOf(err) != tc.wantErr {
					t.Fatalf("SeedUsers error = %v, want code %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("SeedUsers: %v", err)
			}
			u, groups, err := st.UserWithGroups(ctx, users[tc.users-1].ID)
			if err != nil {
				t.Fatalf("UserWithGroups: %v", err)
			}
			wantIDs := append([]string{policy.AllUsersGroupID}, groupIDs...)
			if !reflect.DeepEqual(u.GroupIDs, wantIDs) {
				t.Errorf("user groups = %v, want %v", u.GroupIDs, wantIDs)
			}
			if len(groups) != len(wantIDs) {
				t.Errorf("got %d groups, want %d", len(groups), len(wantIDs))
			}
			for _, g := range groups {
				if g.MemberCount != tc.users {
					t.Errorf("group %s member_count = %d, want %d", g.ID, g.MemberCount, tc.users)
				}
			}
			for _, g := range groupIDs {
				members, err := st.ListMembers(ctx, g)
				if err != nil {
					t.Fatalf("ListMembers: %v", err)
				}
				if len(members) != tc.users {
					t.Errorf("group %s lists %d members, want %d", g, len(members), tc.users)
				}
			}
			ss := ddbstore.Open(tb.Client, tb.Name).Sessions()
			lt := testLifetime()
			lt.MaxSessions = 1 // the seeded user already counts one session
			s, ev := lifecycle.NewSession("s_seed_over", users[0].ID, "img", true, lt, st0)
			if err := ddbtest.StartSession(ctx, ss, s, ev); policy.CodeOf(err) != policy.CodeMaxSessionsReached {
				t.Errorf("StartSession beyond the seeded count: error %v, want %s", err, policy.CodeMaxSessionsReached)
			}
			if _, err := st.CreateUser(ctx, policy.User{Username: users[0].Username}); policy.CodeOf(err) != "username_taken" {
				t.Errorf("CreateUser with a seeded username: error %v, want username_taken", err)
			}
		})
	}
}

func TestSeedGroups(t *testing.T) {
	cases := []struct {
		name    string
		groups  int
		workers int
		badID   bool
	}{
		{name: "one group", groups: 1, workers: 1},
		{name: "several batches", groups: 30, workers: 4},
		{name: "invalid id", groups: 1, workers: 1, badID: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := ddbtest.NewTable(t)
			ctx := context.Background()
			st := ddbstore.Open(tb.Client, tb.Name, ddbstore.WithClock(&policy.FixedClock{T: st0})).Directory()
			var groups []policy.Group
			for i := range tc.groups {
				id := fmt.Sprintf("g_seed_%02d", i)
				if tc.badID {
					id = "bad id"
				}
				groups = append(groups, policy.Group{ID: id, Name: "Name " + id, Priority: 10 + i,
					Settings: map[string]json.RawMessage{"keepalive_interval": json.RawMessage("60")}})
			}
			err := st.SeedGroups(ctx, groups, tc.workers)
			if tc.badID {
				if policy.CodeOf(err) != "invalid_id" {
					t.Fatalf("SeedGroups error = %v, want invalid_id", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SeedGroups: %v", err)
			}
			for _, want := range []policy.Group{groups[0], groups[tc.groups-1]} {
				got, err := st.GetGroup(ctx, want.ID)
				if err != nil {
					t.Fatalf("GetGroup: %v", err)
				}
				if got.Name != want.Name || got.Priority != want.Priority || got.Version != 1 || !got.CreatedAt.Equal(st0) ||
					string(got.Settings["keepalive_interval"]) != "60" {
					t.Errorf("group %s = %+v, want %+v at version 1 created %v", want.ID, got, want, st0)
				}
			}
			if _, err := st.CreateGroup(ctx, policy.Group{Name: groups[0].Name}); policy.CodeOf(err) != "group_name_taken" {
				t.Errorf("CreateGroup with a seeded name: error %v, want group_name_taken", err)
			}
		})
	}
}
