package ddbstore_test

import (
	"context"
	"testing"
	"time"

	"wspolicy/internal/sessions"
)

// TestKeepaliveWritesOneUnit checks on DynamoDB Local, by the capacity it reports
// (ReturnConsumedCapacity INDEXES), that a keepalive is one write unit: the session item, and
// nothing in any index (no index key moves, no attribute an index copies changes).
func TestKeepaliveWritesOneUnit(t *testing.T) {
	env := newSessionEnv(t, "u1")
	env.start(t, "plain", "u1", true, testLifetime(), st0)
	lt := testLifetime()
	lt.TimeLimit = time.Hour
	env.start(t, "limited", "u1", true, lt, st0)
	ctx := context.Background()
	ss, meter := meteredSessions(t, env)
	const n = 5
	for _, id := range []string{"plain", "limited"} {
		for i := 1; i <= n; i++ {
			if _, err := sessions.RunKeepalive(ctx, ss, id, "u1", st0.Add(time.Duration(i)*time.Second), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The time-limited session's first keepalive fails its condition once (then its id is
	// remembered), so 2n+1 writes; DynamoDB Local reports nothing for the failed one.
	table, index, _ := meter.units()
	if table != 2*n {
		t.Errorf("the keepalives cost the table %v units, want %d (one each)", table, 2*n)
	}
	for name, u := range index {
		if u != 0 {
			t.Errorf("the keepalives cost index %s %v units, want none", name, u)
		}
	}
}
