package sso

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"wspolicy/internal/policy"
)

// takenNames is a Directory in which the names in taken belong to other users.
type takenNames struct {
	Directory
	taken map[string]bool
}

func (d takenNames) CreateSignInUser(_ context.Context, name string) (policy.User, error) {
	if err := policy.ValidateUsername(name); err != nil {
		return policy.User{}, err
	}
	if d.taken[name] {
		return policy.User{}, policy.Errorf(policy.KindConflict, policy.CodeUsernameTaken, "taken")
	}
	return policy.User{ID: "u_1", Username: name}, nil
}

type clockAt time.Time

func (c clockAt) Now() time.Time { return time.Time(c) }

func TestCreateUserFitsTheUsernameLimit(t *testing.T) {
	long := strings.Repeat("é", policy.MaxUsernameChars+40)
	tests := []struct {
		name     string
		username string
		taken    map[string]bool
		wantLen  int
		wantPre  string
	}{
		{"a free name is kept", "jane", nil, 4, "jane"},
		{"a taken name gets a suffix", "jane", map[string]bool{"jane": true}, 4 + 7, "jane-"},
		{"a long name is cut to the limit", long, nil, policy.MaxUsernameChars, "éé"},
		{"a long taken name is cut to leave room for the suffix", long,
			map[string]bool{strings.Repeat("é", policy.MaxUsernameChars): true}, policy.MaxUsernameChars, "éé"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewService(nil, takenNames{taken: tt.taken}, clockAt(time.Unix(0, 0)))
			u, err := s.createUser(context.Background(), Identity{Issuer: "i", Subject: "s", Username: tt.username})
			if err != nil {
				t.Fatal(err)
			}
			if n := utf8.RuneCountInString(u.Username); n != tt.wantLen || !strings.HasPrefix(u.Username, tt.wantPre) {
				t.Errorf("got %q (%d characters), want %d characters starting %q", u.Username, n, tt.wantLen, tt.wantPre)
			}
		})
	}
}
