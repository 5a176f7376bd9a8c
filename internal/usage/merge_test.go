package usage

import (
	"math/rand/v2"
	"testing"
)

// TestMergeShards replays random sessions of one budget, each charged to one of K shards, and
// checks that the merged shards give the figures of a single ledger at every step: usage,
// exhaustion and deadline, across window boundaries.
func TestMergeShards(t *testing.T) {
	const k = 16
	r := rand.New(rand.NewPCG(7, 16))
	for _, iv := range []Interval{Daily, Weekly, Monthly, Total} {
		var single Ledger
		shards := make([]Ledger, k)
		type open struct {
			since int64
			shard int
		}
		var opens []open
		now := int64(1772582400000) // 2026-03-04 00:00
		const limit = 40 * MsPerHour
		for step := range 2000 {
			now += r.Int64N(20 * 60 * 1000)
			if len(opens) > 0 && r.IntN(2) == 0 {
				i := r.IntN(len(opens))
				o := opens[i]
				opens = append(opens[:i], opens[i+1:]...)
				single = End(single, iv, o.since, now)
				shards[o.shard] = End(shards[o.shard], iv, o.since, now)
			} else {
				s := r.IntN(k)
				opens = append(opens, open{since: now, shard: s})
				single = Start(single, iv, now)
				shards[s] = Start(shards[s], iv, now)
			}
			probe := now + r.Int64N(3*24*MsPerHour)
			m := Merge(iv, now, shards...)
			if got, want := Used(m, iv, probe), Used(single, iv, probe); got != want {
				t.Fatalf("%v step %d: merged used %d, single ledger %d", iv, step, got, want)
			}
			if got, want := DeadlineAt(m, iv, limit, now), DeadlineAt(single, iv, limit, now); got != want {
				t.Fatalf("%v step %d: merged deadline %d, single ledger %d", iv, step, got, want)
			}
			if got, want := Exhausted(m, iv, limit, now), Exhausted(single, iv, limit, now); got != want {
				t.Fatalf("%v step %d: merged exhausted %v, single ledger %v", iv, step, got, want)
			}
		}
	}
	if m := Merge(Daily, 5); m != (Ledger{}) {
		t.Fatalf("Merge of nothing = %+v", m)
	}
}
