package ddbstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"wspolicy/internal/policy"
)

// UpdateUser renames in one transaction (the old name is freed, the new one held, a taken one
// refused) and replaces the profile; UserProfiles reads them back in a batch.
func TestUpdateUserRenameAndProfile(t *testing.T) {
	s, _ := newDirStore(t)
	ctx := context.Background()
	if err := s.EnsureAllUsers(ctx, dt0, nil); err != nil {
		t.Fatal(err)
	}
	p0 := policy.UserProfile{FirstName: "Ann", DefaultImage: "chrome", Attributes: map[string]json.RawMessage{"theme": json.RawMessage(`"Dark"`)}}
	a := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{Username: "ann", Profile: p0}))
	b := dirMust[policy.User](t)(s.CreateUser(ctx, policy.User{Username: "bea"}))
	name := func(n string) *string { return &n }
	code := func(err error) string {
		if err == nil {
			return ""
		}
		return policy.CodeOf(err)
	}
	tests := []struct {
		name     string
		id       string
		upd      policy.UserUpdate
		wantCode string
		wantName string
	}{
		{"rename", a.ID, policy.UserUpdate{Username: name("anna")}, "", "anna"},
		{"onto a taken name, any case", a.ID, policy.UserUpdate{Username: name(" BEA ")}, policy.CodeUsernameTaken, ""},
		{"case only", a.ID, policy.UserUpdate{Username: name("Anna")}, "", "Anna"},
		{"invalid name", a.ID, policy.UserUpdate{Username: name("")}, policy.CodeInvalidUsername, ""},
		{"unknown user", "u_nobody", policy.UserUpdate{Username: name("x")}, policy.CodeUserNotFound, ""},
		{"nothing to change", b.ID, policy.UserUpdate{}, "", "bea"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := s.UpdateUser(ctx, tc.id, tc.upd)
			if got := code(err); got != tc.wantCode {
				t.Fatalf("code %q, want %q (%v)", got, tc.wantCode, err)
			}
			if err == nil && u.Username != tc.wantName {
				t.Errorf("username %q, want %q", u.Username, tc.wantName)
			}
		})
	}
	// The old name is free, the new one held (ignoring case).
	if _, err := s.CreateUser(ctx, policy.User{Username: "ann"}); err != nil {
		t.Errorf("the old name is not free: %v", err)
	}
	if _, err := s.CreateUser(ctx, policy.User{Username: "ANNA"}); code(err) != policy.CodeUsernameTaken {
		t.Errorf("the new name is not held: %v", err)
	}
	// The renames kept the profile; a new profile replaces it, an empty one removes it.
	got := dirMust[policy.User](t)(s.GetUser(ctx, a.ID))
	if got.Profile.FirstName != "Ann" || got.Profile.DefaultImage != "chrome" || string(got.Profile.Attributes["theme"]) != `"Dark"` {
		t.Errorf("profile after renames: %+v", got.Profile)
	}
	dirMust[policy.User](t)(s.UpdateUser(ctx, b.ID, policy.UserUpdate{Profile: &policy.UserProfile{Notes: "vip"}}))
	ps := dirMust[map[string]policy.UserProfile](t)(s.UserProfiles(ctx, []string{a.ID, b.ID, "u_nobody"}))
	if len(ps) != 2 || ps[b.ID].Notes != "vip" || ps[a.ID].FirstName != "Ann" {
		t.Errorf("UserProfiles: %+v", ps)
	}
	dirMust[policy.User](t)(s.UpdateUser(ctx, a.ID, policy.UserUpdate{Profile: &policy.UserProfile{}}))
	if got := dirMust[policy.User](t)(s.GetUser(ctx, a.ID)); got.Profile.FirstName != "" || got.Profile.Attributes != nil || got.Username != "Anna" {
		t.Errorf("after clearing: %+v", got)
	}
	// UserWithGroups carries the profile: a start reads default_image from it at no extra cost.
	u, _, err := s.UserWithGroups(ctx, b.ID)
	if err != nil || u.Profile.Notes != "vip" {
		t.Errorf("UserWithGroups: %+v %v", u.Profile, err)
	}
}
