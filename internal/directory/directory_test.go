package directory

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"wspolicy/internal/policy"
)

// fakeStore keeps groups and users in maps; only what the tests below call does anything.
type fakeStore struct {
	Store
	groups  []policy.Group
	created []policy.User
	deleted []string
}

func (f *fakeStore) ListGroups(context.Context) ([]policy.Group, error) {
	return slices.Clone(f.groups), nil
}

func (f *fakeStore) CreateGroup(_ context.Context, g policy.Group) (policy.Group, error) {
	g.Version = 1
	f.groups = append(f.groups, g)
	return g, nil
}

func (f *fakeStore) CreateUser(_ context.Context, u policy.User) (policy.User, error) {
	f.created = append(f.created, u)
	return u, nil
}

func (f *fakeStore) DeleteUser(_ context.Context, id string) error {
	f.deleted = append(f.deleted, id)
	return nil
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func TestCreateUserJoinsAutoAddGroups(t *testing.T) {
	on, off := json.RawMessage("true"), json.RawMessage("false")
	store := &fakeStore{groups: []policy.Group{
		{ID: policy.AllUsersGroupID, Settings: map[string]json.RawMessage{"auto_add_local_users": on}},
		{ID: "g_on", Settings: map[string]json.RawMessage{"auto_add_local_users": on}},
		{ID: "g_off", Settings: map[string]json.RawMessage{"auto_add_local_users": off}},
		{ID: "g_unset"},
	}}
	s := New(store, fixedClock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	u, err := s.CreateUser(context.Background(), "jane", policy.UserProfile{FirstName: "Jane"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(u.GroupIDs, []string{"g_on"}) || u.Profile.FirstName != "Jane" || u.CreatedAt.Year() != 2026 {
		t.Errorf("got %+v, want a member of g_on only, with the profile and the clock's time", u)
	}
	if _, err := s.CreateUser(context.Background(), "bad\u200b", policy.UserProfile{}); policy.CodeOf(err) != policy.CodeInvalidUsername {
		t.Errorf("an invisible character: got %v, want %s", err, policy.CodeInvalidUsername)
	}
	if len(store.created) != 1 {
		t.Errorf("got %d users written, want 1 (a refused username writes nothing)", len(store.created))
	}
}

func TestDirectoryRules(t *testing.T) {
	ctx := context.Background()
	s := New(&fakeStore{}, nil)
	long := make([]rune, policy.MaxGroupNameChars+1)
	for i := range long {
		long[i] = 'x'
	}
	prio := 0
	tests := []struct {
		name     string
		err      error
		wantCode string
	}{
		{"delete All Users", s.DeleteGroup(ctx, policy.AllUsersGroupID, 0), policy.CodeBuiltinGroup},
		{"leave All Users", s.RemoveMember(ctx, policy.AllUsersGroupID, "u_1", 0), policy.CodeAllUsersMembership},
		{"empty patch", third(s.UpdateGroup(ctx, "g_1", policy.GroupPatch{}, 0)), policy.CodeEmptyPatch},
		{"long name", second(s.CreateGroup(ctx, NewGroup{Name: string(long)})), policy.CodeInvalidName},
		{"priority 0", second(s.CreateGroup(ctx, NewGroup{Name: "ok", Priority: &prio})), policy.CodeInvalidPriority},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.CodeOf(tt.err); got != tt.wantCode {
				t.Errorf("got %q (%v), want %q", got, tt.err, tt.wantCode)
			}
		})
	}
	g, err := s.CreateGroup(ctx, NewGroup{Name: "  Ops  "})
	if err != nil || g.Name != "Ops" || g.Priority != policy.DefaultGroupPriority {
		t.Errorf("got %+v, %v; want Ops at the default priority", g, err)
	}
}

type ender struct{ n int }

func (e *ender) EndSessionsOf(context.Context, string) (int, error) { e.n++; return 2, nil }

func TestDeleteUserEndsSessionsAndForgets(t *testing.T) {
	store, e := &fakeStore{}, &ender{}
	forgot := false
	err := New(store, nil).WithSessions(e).DeleteUser(context.Background(), "u_1", func() { forgot = true })
	if err != nil || !forgot || e.n != 1 || !slices.Equal(store.deleted, []string{"u_1"}) {
		t.Errorf("got err %v, forgot %v, ended %d, deleted %v; want nil, true, 1, [u_1]", err, forgot, e.n, store.deleted)
	}
}

func second[T any](_ T, err error) error { return err }

func third(_, _ policy.Group, err error) error { return err }

func TestSignInUserIsNotALocalUser(t *testing.T) {
	store := &fakeStore{groups: []policy.Group{{ID: "g_on", Settings: map[string]json.RawMessage{"auto_add_local_users": json.RawMessage("true")}}}}
	u, err := New(store, nil).CreateSignInUser(context.Background(), "jane@example.com")
	if err != nil || len(u.GroupIDs) != 0 || u.Username != "jane@example.com" {
		t.Errorf("got %+v, %v; want jane@example.com in no auto-add group", u, err)
	}
}
