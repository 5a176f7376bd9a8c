package lifecycle

import (
	"time"

	"wspolicy/internal/policy"
)

// MaxRaceAttempts bounds how often a read → decide → write is tried after losing a race to
// another writer of the session.
const MaxRaceAttempts = 5

// DefaultRacePatience is how long a re-sync racing a live session's keepalives goes on trying
// (see Retry): as long as a write racing for a budget's ledger.
const DefaultRacePatience = 10 * time.Second

// Retry is the one home of the read → decide → write loops on a session: it runs attempt
// (which reads, decides with the lifecycle rules and writes guarded by what it read) until it
// succeeds or fails with anything but a lost race, policy code "session_changed" (LostRace).
// It gives up with KindUnavailable "retry_later", naming what, after MaxRaceAttempts lost
// races once patience has passed since the first attempt (0: attempts only).
func Retry[T any](what string, patience time.Duration, attempt func() (T, error)) (T, error) {
	started := time.Now()
	for n := 1; ; n++ {
		v, err := attempt()
		if policy.CodeOf(err) != policy.CodeSessionChanged {
			return v, err
		}
		if n >= MaxRaceAttempts && time.Since(started) >= patience {
			var zero T
			return zero, policy.Errorf(policy.KindUnavailable, policy.CodeRetryLater, "%s kept changing concurrently, retry later", what)
		}
	}
}

// LostRace is the error an attempt answers Retry with when what it read is out of date and it
// must read and decide again.
func LostRace(sessionID string) error {
	return policy.Errorf(policy.KindConflict, policy.CodeSessionChanged, "session %s changed concurrently", sessionID)
}
