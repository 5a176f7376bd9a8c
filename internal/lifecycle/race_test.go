package lifecycle_test

import (
	"errors"
	"testing"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
)

func TestRetry(t *testing.T) {
	other := policy.Errorf(policy.KindNotFound, policy.CodeSessionNotFound, "no session s1")
	tests := []struct {
		name         string
		losses       int // lost races before the attempt succeeds; -1: every attempt loses
		fail         error
		wantAttempts int
		wantErr      error
		wantCode     string
	}{
		{"first attempt succeeds", 0, nil, 1, nil, ""},
		{"two lost races, then success", 2, nil, 3, nil, ""},
		{"last attempt succeeds", lifecycle.MaxRaceAttempts - 1, nil, lifecycle.MaxRaceAttempts, nil, ""},
		{"another error ends it at once", 0, other, 1, other, ""},
		{"every attempt loses", -1, nil, lifecycle.MaxRaceAttempts, nil, policy.CodeRetryLater},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			got, err := lifecycle.Retry("session s1", 0, func() (int, error) {
				n++
				if tc.losses < 0 || n <= tc.losses {
					return 0, lifecycle.LostRace("s1")
				}
				return n, tc.fail
			})
			if n != tc.wantAttempts {
				t.Errorf("attempts = %d, want %d", n, tc.wantAttempts)
			}
			switch {
			case tc.wantCode != "":
				wantRetryLater(t, err, tc.wantCode)
				if got != 0 {
					t.Errorf("value %d with the error, want 0", got)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("error = %v, want %v", err, tc.wantErr)
				}
			case err != nil || got != n:
				t.Errorf("Retry = %d, %v; want %d, nil", got, err, n)
			}
		})
	}
}

// TestRetryPatience: with a patience, losing goes on past MaxRaceAttempts until it has passed.
func TestRetryPatience(t *testing.T) {
	const patience = 20 * time.Millisecond
	started := time.Now()
	n := 0
	_, err := lifecycle.Retry("session s1", patience, func() (bool, error) {
		n++
		return false, lifecycle.LostRace("s1")
	})
	wantRetryLater(t, err, policy.CodeRetryLater)
	if elapsed := time.Since(started); elapsed < patience || n <= lifecycle.MaxRaceAttempts {
		t.Errorf("gave up after %v and %d attempts; want at least %v and more than %d", elapsed, n, patience, lifecycle.MaxRaceAttempts)
	}
}

// wantRetryLater checks that err is KindUnavailable with code.
func wantRetryLater(t *testing.T, err error, code string) {
	t.Helper()
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Kind != policy.KindUnavailable || pe.Code != code {
		t.Fatalf("error = %v, want kind %s code %s", err, policy.KindUnavailable, code)
	}
}
