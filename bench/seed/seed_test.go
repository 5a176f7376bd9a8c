package seed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"wspolicy/bench/seed"
	"wspolicy/internal/ddbstore"
	"wspolicy/internal/ddbtest"
	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/tabledef"
)

var st0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testLifetime() lifecycle.Lifetime {
	return lifecycle.Lifetime{
		KeepaliveExpiration: time.Minute, Action: lifecycle.ActionDelete, KeepaliveInterval: 10 * time.Second,
		IdleDisconnect: 5 * time.Minute, MaxSessions: 5,
	}
}

func TestUsers(t *testing.T) {
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
			loader := seed.Loader{DB: tb.Client, Table: tb.Name, Dir: st}
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
			var users []seed.User
			for i := range tc.users {
				id := fmt.Sprintf("u_seed_%03d", i)
				users = append(users, seed.User{
					User:           policy.User{ID: id, Username: "name-" + id, GroupIDs: groupIDs, CreatedAt: st0},
					ActiveSessions: 1,
				})
			}
			err := loader.Users(ctx, users, tc.workers)
			if tc.wantErr != "" {
				if policy.CodeOf(err) != tc.wantErr {
					t.Fatalf("Users error = %v, want code %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Users: %v", err)
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

func TestGroups(t *testing.T) {
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
			loader := seed.Loader{DB: tb.Client, Table: tb.Name, Dir: st}
			var groups []policy.Group
			for i := range tc.groups {
				id := fmt.Sprintf("g_seed_%02d", i)
				if tc.badID {
					id = "bad id"
				}
				groups = append(groups, policy.Group{ID: id, Name: "Name " + id, Priority: 10 + i,
					Settings: map[string]json.RawMessage{"keepalive_interval": json.RawMessage("60")}})
			}
			err := loader.Groups(ctx, groups, tc.workers)
			if tc.badID {
				if policy.CodeOf(err) != "invalid_id" {
					t.Fatalf("Groups error = %v, want invalid_id", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Groups: %v", err)
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

func TestSessions(t *testing.T) {
	cases := []struct {
		name    string
		n       int
		workers int
		due     int // how many of them are due at st0 (expiry before it)
	}{
		{name: "one", n: 1, workers: 1, due: 1},
		{name: "several batches, several workers", n: 130, workers: 4, due: 30},
		{name: "workers 0 means 1", n: 26, workers: 0, due: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := ddbtest.NewTable(t)
			ctx := context.Background()
			tbl := ddbstore.Open(tb.Client, tb.Name)
			ss := tbl.Sessions()
			loader := seed.Loader{DB: tb.Client, Table: tb.Name, Dir: tbl.Directory()}
			var seeded []lifecycle.Session
			for i := range tc.n {
				start := st0.Add(-30 * time.Minute) // expires 30 min after st0
				lt := testLifetime()
				lt.KeepaliveExpiration = time.Hour
				lt.MaxSessions = 0 // only gates a start: not stored
				if i < tc.due {
					start = st0.Add(-2 * time.Hour)
				}
				s, _ := lifecycle.NewSession(fmt.Sprintf("s_seed_%04d", i), "u_seed", "img", true, lt, start)
				if i%2 == 0 { // every other one with documents: a launch item too
					s.ClientSettings = []byte(fmt.Sprintf(`{"n":%d}`, i))
					s.Launch = []byte(`{"image_id":"img"}`)
				}
				seeded = append(seeded, s)
			}
			if err := loader.Sessions(ctx, seeded, tc.workers); err != nil {
				t.Fatalf("Sessions: %v", err)
			}
			for _, want := range []lifecycle.Session{seeded[0], seeded[tc.n-1]} {
				got, err := ss.GetSession(ctx, want.ID)
				if err != nil {
					t.Fatalf("GetSession %s: %v", want.ID, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("session %s:\n got %+v\nwant %+v", want.ID, got, want)
				}
			}
			gotDue := 0
			for shard := range tabledef.DueShards {
				tok := ""
				for {
					p, err := ss.DueSessions(ctx, st0, shard, tok)
					if err != nil {
						t.Fatalf("DueSessions: %v", err)
					}
					gotDue += len(p.Sessions)
					if tok = p.NextPageToken; tok == "" {
						break
					}
				}
			}
			if gotDue != tc.due {
				t.Errorf("due sessions at st0 = %d, want %d", gotDue, tc.due)
			}
		})
	}
}
