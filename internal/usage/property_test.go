package usage

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// span is one session of a random scenario: [start, end), end < 0 when it never ends.
type span struct{ start, end int64 }

// event is a start or an end of span i at time at.
type event struct {
	at  int64
	end bool
	i   int
}

// events lists the starts and ends of spans in the order a store applies them: by time, a start
// before an end at the same millisecond (so a zero-length session starts before it ends).
func events(spans []span) []event {
	var evs []event
	for i, s := range spans {
		evs = append(evs, event{at: s.start, i: i})
		if s.end >= 0 {
			evs = append(evs, event{at: s.end, end: true, i: i})
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		if a.end != b.end {
			if a.end {
				return 1
			}
			return -1
		}
		return 0
	})
	return evs
}

// bruteOverlap sums, over every session started at or before t, the milliseconds it existed
// (up to t) inside [ws, we): the definition of usage, computed session by session.
func bruteOverlap(spans []span, t, ws, we int64) int64 {
	var sum int64
	for _, s := range spans {
		if s.start > t {
			continue
		}
		e := s.end
		if e < 0 || e > t {
			e = t
		}
		lo, hi := max(s.start, ws), min(e, we)
		if hi > lo {
			sum += hi - lo
		}
	}
	return sum
}

// brutePerMs counts, millisecond by millisecond from the window start to t, the sessions that
// exist in that millisecond (skipping the milliseconds before the first session starts).
func brutePerMs(spans []span, iv Interval, t int64) int64 {
	ws, _ := WindowMs(iv, t)
	first := t
	for _, s := range spans {
		first = min(first, s.start)
	}
	var sum int64
	for x := max(ws, first); x < t; x++ {
		for _, s := range spans {
			if s.start <= x && (s.end < 0 || x < s.end) {
				sum++
			}
		}
	}
	return sum
}

// simulate replays the events of spans on the zero ledger and, at each query time (sorted),
// calls check with the ledger after every event at or before it. Every window a roll closes is
// checked against bruteOverlap.
func simulate(t *testing.T, iv Interval, spans []span, queries []int64, check func(l Ledger, q int64)) {
	t.Helper()
	var l Ledger
	evs := events(spans)
	next := 0
	for _, q := range queries {
		for ; next < len(evs) && evs[next].at <= q; next++ {
			e := evs[next]
			var p Period
			var rolled bool
			l, p, rolled = Roll(l, iv, e.at)
			if rolled {
				if want := bruteOverlap(spans, p.End, p.Start, p.End); p.UsedMs != want {
					t.Fatalf("closed window [%s, %s): got %d ms, want %d ms", fmtMs(p.Start), fmtMs(p.End), p.UsedMs, want)
				}
			}
			if e.end {
				l = End(l, iv, spans[e.i].start, e.at)
			} else {
				l = Start(l, iv, e.at)
			}
		}
		check(l, q)
	}
}

func TestLedgerMatchesBruteForce(t *testing.T) {
	bases := map[Interval]string{
		Daily:   "2024-02-20T00:00:00Z",
		Weekly:  "2024-02-01T00:00:00Z",
		Monthly: "2023-11-15T00:00:00Z",
		Total:   "2024-02-20T00:00:00Z",
	}
	for _, iv := range []Interval{Daily, Weekly, Monthly, Total} {
		t.Run(iv.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(42, uint64(iv)))
			base := ms(t, bases[iv])
			const spanOfTime = 120 * day
			outcomes := map[string]int{}
			defer func() { t.Logf("deadline outcomes: %v", outcomes) }()
			for trial := range 300 {
				n := 1 + rng.IntN(40)
				spans := make([]span, n)
				for i := range spans {
					s := base + rng.Int64N(spanOfTime)
					var d int64
					switch r := rng.IntN(10); {
					case r < 3:
						d = rng.Int64N(2 * hour)
					case r < 7:
						d = rng.Int64N(3 * day)
					case r < 9:
						d = rng.Int64N(40 * day)
					default:
						d = -1 - s // never ends
					}
					spans[i] = span{start: s, end: s + d}
				}
				var queries []int64
				for range 40 {
					q := base + rng.Int64N(spanOfTime+60*day)
					ws, _ := WindowMs(iv, q)
					queries = append(queries, q, ws, ws-1, ws+1)
				}
				slices.Sort(queries)
				simulate(t, iv, spans, queries, func(l Ledger, q int64) {
					ws, we := WindowMs(iv, q)
					want := bruteOverlap(spans, q, ws, we)
					if got := Used(l, iv, q); got != want {
						t.Fatalf("trial %d: Used at %s: got %d ms, want %d ms (ledger %+v)", trial, fmtMs(q), got, want, l)
					}
					limit := 1 + rng.Int64N(5*day)
					d := DeadlineAt(l, iv, limit, q)
					checkDeadline(t, l, iv, limit, q, d)
					_, qEnd := WindowMs(iv, q)
					switch {
					case d == 0:
						outcomes["never"]++
					case d == q:
						outcomes["exhausted"]++
					case d < qEnd:
						outcomes["this window"]++
					default:
						outcomes["a later window"]++
					}
					if got, want := Exhausted(l, iv, limit, q), want >= limit; got != want {
						t.Fatalf("trial %d: Exhausted at %s with limit %d: got %v, want %v", trial, fmtMs(q), limit, got, want)
					}
				})
			}
		})
	}
}

func TestLedgerMatchesPerMillisecondCount(t *testing.T) {
	// Sessions a few seconds long around a window boundary, counted one millisecond at a time.
	boundaries := map[Interval]string{
		Daily:   "2024-02-29T00:00:00Z",
		Weekly:  "2024-03-03T00:00:00Z", // a Sunday
		Monthly: "2024-03-01T00:00:00Z",
		Total:   "1970-01-01T00:00:03Z",
	}
	for _, iv := range []Interval{Daily, Weekly, Monthly, Total} {
		t.Run(iv.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(iv)))
			boundary := ms(t, boundaries[iv])
			base := boundary - 3000
			for trial := range 40 {
				spans := make([]span, 1+rng.IntN(8))
				for i := range spans {
					s := base + rng.Int64N(6000)
					e := s + rng.Int64N(3000)
					if rng.IntN(4) == 0 {
						e = -1
					}
					spans[i] = span{start: s, end: e}
				}
				var queries []int64
				for q := base; q <= base+9000; q += 97 + rng.Int64N(50) {
					queries = append(queries, q)
				}
				queries = append(queries, boundary-1, boundary, boundary+1)
				slices.Sort(queries)
				simulate(t, iv, spans, queries, func(l Ledger, q int64) {
					if got, want := Used(l, iv, q), brutePerMs(spans, iv, q); got != want {
						t.Fatalf("trial %d: Used at %s: got %d ms, want %d ms (spans %v)", trial, fmtMs(q), got, want, spans)
					}
				})
			}
		})
	}
}

func TestUsedLargeCounts(t *testing.T) {
	// OpenCount × t does not fit in int64 for 6 million sessions in 2026; the wrap-around
	// cancels and the usage is still exact.
	t0 := ms(t, "2026-03-04T10:00:00Z")
	const n = 6_000_000
	l := Ledger{OpenCount: n, OpenSinceSumMs: n * t0} // Total window, all started at t0
	tests := []struct {
		name string
		q    int64
		want int64
	}{
		{"at start", t0, 0},
		{"one second later", t0 + sec, n * sec},
		{"one hour later", t0 + hour, n * hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Used(l, Total, tc.q); got != tc.want {
				t.Errorf("Used: got %d, want %d", got, tc.want)
			}
		})
	}
}
