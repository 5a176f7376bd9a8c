package ddbstore_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/tabledef"
)

func TestSeedSessions(t *testing.T) {
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
			env := newSessionEnv(t)
			ctx := context.Background()
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
			if err := env.ss.SeedSessions(ctx, seeded, tc.workers); err != nil {
				t.Fatalf("SeedSessions: %v", err)
			}
			for _, want := range []lifecycle.Session{seeded[0], seeded[tc.n-1]} {
				if got := env.get(t, want.ID); !reflect.DeepEqual(got, want) {
					t.Errorf("session %s:\n got %+v\nwant %+v", want.ID, got, want)
				}
			}
			gotDue := 0
			for shard := range tabledef.DueShards {
				tok := ""
				for {
					p, err := env.ss.DueSessions(ctx, st0, shard, tok)
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
