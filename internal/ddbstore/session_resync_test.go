package ddbstore_test

import (
	"context"
	"testing"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/sessions"
)

// TestResyncSessionWriteUnits checks on DynamoDB Local, by the capacity it reports
// (ReturnConsumedCapacity INDEXES), what a re-sync writes: nothing when the lifetime does not
// change; the item alone (1 unit, no index) when the due entry may stay early; the item and its
// Due entry (1 + 2) when the new expiry is earlier than the entry. The expiry counts from the
// last keepalive, and a time-limited session keeps its limit as expiry.
func TestResyncSessionWriteUnits(t *testing.T) {
	env := newSessionEnv(t, "u1")
	ctx := context.Background()
	ss, meter := meteredSessions(t, env)
	limited := testLifetime()
	limited.TimeLimit = time.Hour
	with := func(ka time.Duration) lifecycle.Lifetime {
		lt := testLifetime()
		lt.KeepaliveExpiration = ka
		return lt
	}
	tests := []struct {
		name         string
		start, apply lifecycle.Lifetime
		wantApplied  bool
		wantTable    float64
		wantIndex    float64
		wantDueMoved bool
	}{
		{name: "unchanged", start: testLifetime(), apply: testLifetime()},
		{name: "longer", start: testLifetime(), apply: with(2 * time.Minute), wantApplied: true, wantTable: 1},
		{name: "shorter", start: testLifetime(), apply: with(30 * time.Second), wantApplied: true, wantTable: 1, wantIndex: 2, wantDueMoved: true},
		{name: "time-limited", start: limited, apply: with(30 * time.Second), wantApplied: true, wantTable: 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "rs-" + tc.name
			env.start(t, id, "u1", true, tc.start, st0)
			kept := st0.Add(20 * time.Second)
			if _, err := sessions.RunKeepalive(ctx, env.ss, id, "", kept, 0); err != nil {
				t.Fatal(err)
			}
			before, err := env.ss.GetSession(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			meter.reset()
			applied, units, err := ss.ResyncSession(ctx, before, tc.apply, st0.Add(time.Duration(i+1)*time.Minute).UnixMilli())
			if err != nil {
				t.Fatal(err)
			}
			gotTable, _, gotIndex := meter.units()
			if applied != tc.wantApplied || gotTable != tc.wantTable || gotIndex != tc.wantIndex || units != gotTable+gotIndex {
				t.Errorf("applied %v, table %.0f + index %.0f units (reported %.0f); want %v, %.0f + %.0f", applied, gotTable, gotIndex, units, tc.wantApplied, tc.wantTable, tc.wantIndex)
			}
			after, err := env.ss.GetSession(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			wantExpiry := kept.Add(tc.apply.KeepaliveExpiration)
			if before.TimeLimited() {
				wantExpiry = before.ExpiresAt
			}
			if after.Lifetime.KeepaliveExpiration != tc.apply.KeepaliveExpiration || !after.ExpiresAt.Equal(wantExpiry) ||
				after.DueAt.IsZero() || after.DueAt.After(after.ExpiresAt) || after.DueAt.Equal(before.DueAt) != !tc.wantDueMoved {
				t.Errorf("after: keepalive_expiration %v, expires %v, due %v (was %v); want %v, %v, due at or before the expiry, moved %v",
					after.Lifetime.KeepaliveExpiration, after.ExpiresAt, after.DueAt, before.DueAt, tc.apply.KeepaliveExpiration, wantExpiry, tc.wantDueMoved)
			}
		})
	}
}
