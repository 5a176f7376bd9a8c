package usage

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
)

const (
	sec    int64 = 1000
	minute int64 = 60 * sec
	hour   int64 = MsPerHour
	day    int64 = 24 * hour
)

// step is one session start or end in a test scenario.
type step struct {
	end bool
	id  string
	at  string // RFC 3339
}

func startAt(id, at string) step { return step{id: id, at: at} }
func endAt(id, at string) step   { return step{end: true, id: id, at: at} }

// replay applies the steps in order to the zero ledger, rolling before each one the way a store
// does, and returns the ledger and every window the rolls closed.
func replay(t *testing.T, iv Interval, steps []step) (Ledger, []Period) {
	t.Helper()
	var l Ledger
	var closed []Period
	since := map[string]int64{}
	for _, s := range steps {
		x := ms(t, s.at)
		var p Period
		var rolled bool
		l, p, rolled = Roll(l, iv, x)
		if rolled {
			closed = append(closed, p)
		}
		if s.end {
			from, ok := since[s.id]
			if !ok {
				t.Fatalf("scenario ends %q, which never started", s.id)
			}
			l = End(l, iv, from, x)
			delete(since, s.id)
		} else {
			since[s.id] = x
			l = Start(l, iv, x)
		}
	}
	return l, closed
}

func TestUsed(t *testing.T) {
	tests := []struct {
		name  string
		iv    Interval
		steps []step
		t     string
		want  int64
	}{
		{
			name: "no sessions",
			iv:   Daily,
			t:    "2026-03-04T12:00:00Z",
			want: 0,
		},
		{
			name:  "one open session",
			iv:    Daily,
			steps: []step{startAt("a", "2026-03-04T10:00:00Z")},
			t:     "2026-03-04T12:30:00Z",
			want:  2*hour + 30*minute,
		},
		{
			name:  "one ended session",
			iv:    Daily,
			steps: []step{startAt("a", "2026-03-04T10:00:00Z"), endAt("a", "2026-03-04T10:45:00Z")},
			t:     "2026-03-04T20:00:00Z",
			want:  45 * minute,
		},
		{
			name: "overlapping sessions of one user",
			iv:   Daily,
			steps: []step{
				startAt("a", "2026-03-04T10:00:00Z"),
				startAt("b", "2026-03-04T11:00:00Z"),
				startAt("c", "2026-03-04T11:30:00Z"),
				endAt("a", "2026-03-04T12:00:00Z"),
				endAt("b", "2026-03-04T13:00:00Z"),
			},
			t:    "2026-03-04T14:00:00Z",
			want: 2*hour + 2*hour + 2*hour + 30*minute,
		},
		{
			name:  "23:00 to 01:00 charges the first day 1 h",
			iv:    Daily,
			steps: []step{startAt("a", "2026-03-04T23:00:00Z")},
			t:     "2026-03-04T23:59:59.999Z",
			want:  hour - 1,
		},
		{
			name:  "23:00 to 01:00 charges the second day 1 h",
			iv:    Daily,
			steps: []step{startAt("a", "2026-03-04T23:00:00Z"), endAt("a", "2026-03-05T01:00:00Z")},
			t:     "2026-03-05T12:00:00Z",
			want:  hour,
		},
		{
			name:  "open across midnight is charged from 00:00",
			iv:    Daily,
			steps: []step{startAt("a", "2026-03-04T23:00:00Z")},
			t:     "2026-03-05T00:30:00Z",
			want:  30 * minute,
		},
		{
			name:  "stale ledger, several empty windows later",
			iv:    Daily,
			steps: []step{startAt("a", "2026-03-01T10:00:00Z"), startAt("b", "2026-03-01T11:00:00Z"), startAt("c", "2026-03-01T12:00:00Z"), endAt("c", "2026-03-01T13:00:00Z")},
			t:     "2026-03-05T06:00:00Z",
			want:  2 * 6 * hour,
		},
		{
			name:  "weekly from Sunday",
			iv:    Weekly,
			steps: []step{startAt("a", "2026-02-28T22:00:00Z"), endAt("a", "2026-03-01T03:00:00Z")},
			t:     "2026-03-07T23:59:59.999Z",
			want:  3 * hour,
		},
		{
			name:  "monthly across a leap day",
			iv:    Monthly,
			steps: []step{startAt("a", "2024-02-28T00:00:00Z"), endAt("a", "2024-03-01T02:00:00Z")},
			t:     "2024-03-01T02:00:00Z",
			want:  2 * hour,
		},
		{
			name:  "total never resets",
			iv:    Total,
			steps: []step{startAt("a", "2024-02-28T00:00:00Z"), endAt("a", "2024-03-01T02:00:00Z"), startAt("b", "2026-01-01T00:00:00Z")},
			t:     "2026-01-01T01:00:00Z",
			want:  2*day + 2*hour + hour,
		},
		{
			name:  "zero-length session",
			iv:    Daily,
			steps: []step{startAt("a", "2026-03-04T10:00:00Z"), endAt("a", "2026-03-04T10:00:00Z")},
			t:     "2026-03-04T11:00:00Z",
			want:  0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := replay(t, tc.iv, tc.steps)
			if got := Used(l, tc.iv, ms(t, tc.t)); got != tc.want {
				t.Errorf("Used at %s: got %d ms, want %d ms (ledger %+v)", tc.t, got, tc.want, l)
			}
		})
	}
}

func TestSessionAcrossMidnightChargesEachDay(t *testing.T) {
	l, closed := replay(t, Daily, []step{startAt("a", "2026-03-04T23:00:00Z"), endAt("a", "2026-03-05T01:00:00Z")})
	if len(closed) != 1 {
		t.Fatalf("closed windows: got %d (%+v), want 1", len(closed), closed)
	}
	want := Period{Start: ms(t, "2026-03-04T00:00:00Z"), End: ms(t, "2026-03-05T00:00:00Z"), UsedMs: hour}
	if closed[0] != want {
		t.Errorf("first day: got %+v, want %+v", closed[0], want)
	}
	wantL := Ledger{WindowStart: ms(t, "2026-03-05T00:00:00Z"), ClosedMs: hour}
	if l != wantL {
		t.Errorf("second day ledger: got %+v, want %+v", l, wantL)
	}
}

func TestRoll(t *testing.T) {
	d1 := ms(t, "2026-03-01T00:00:00Z")
	tests := []struct {
		name       string
		iv         Interval
		l          Ledger
		t          string
		want       Ledger
		wantClosed Period
		wantRolled bool
	}{
		{
			name: "same window is unchanged",
			iv:   Daily,
			l:    Ledger{WindowStart: d1, ClosedMs: 5, OpenCount: 1, OpenSinceSumMs: d1 + hour},
			t:    "2026-03-01T23:59:59.999Z",
			want: Ledger{WindowStart: d1, ClosedMs: 5, OpenCount: 1, OpenSinceSumMs: d1 + hour},
		},
		{
			name:       "next day: open sessions charged from midnight",
			iv:         Daily,
			l:          Ledger{WindowStart: d1, ClosedMs: 30 * minute, OpenCount: 2, OpenSinceSumMs: 2*d1 + 10*hour + 20*hour},
			t:          "2026-03-02T00:00:00Z",
			want:       Ledger{WindowStart: d1 + day, OpenCount: 2, OpenSinceSumMs: 2 * (d1 + day)},
			wantClosed: Period{Start: d1, End: d1 + day, UsedMs: 30*minute + 14*hour + 4*hour},
			wantRolled: true,
		},
		{
			name:       "several empty windows: only the ledger's own window is reported",
			iv:         Daily,
			l:          Ledger{WindowStart: d1, ClosedMs: 0, OpenCount: 3, OpenSinceSumMs: 3 * (d1 + 12*hour)},
			t:          "2026-03-09T05:00:00Z",
			want:       Ledger{WindowStart: d1 + 8*day, OpenCount: 3, OpenSinceSumMs: 3 * (d1 + 8*day)},
			wantClosed: Period{Start: d1, End: d1 + day, UsedMs: 3 * 12 * hour},
			wantRolled: true,
		},
		{
			name:       "monthly, February 2026 has 28 days",
			iv:         Monthly,
			l:          Ledger{WindowStart: ms(t, "2026-02-01T00:00:00Z"), OpenCount: 1, OpenSinceSumMs: ms(t, "2026-02-01T00:00:00Z")},
			t:          "2026-03-01T00:00:00Z",
			want:       Ledger{WindowStart: d1, OpenCount: 1, OpenSinceSumMs: d1},
			wantClosed: Period{Start: ms(t, "2026-02-01T00:00:00Z"), End: d1, UsedMs: 28 * day},
			wantRolled: true,
		},
		{
			name:       "weekly rolls on Sunday",
			iv:         Weekly,
			l:          Ledger{WindowStart: ms(t, "2026-02-22T00:00:00Z"), ClosedMs: hour},
			t:          "2026-03-01T00:00:00Z",
			want:       Ledger{WindowStart: d1},
			wantClosed: Period{Start: ms(t, "2026-02-22T00:00:00Z"), End: d1, UsedMs: hour},
			wantRolled: true,
		},
		{
			name:       "zero ledger rolls silently",
			iv:         Daily,
			l:          Ledger{},
			t:          "2026-03-01T10:00:00Z",
			want:       Ledger{WindowStart: d1},
			wantClosed: Period{Start: 0, End: day, UsedMs: 0},
		},
		{
			name: "total never rolls",
			iv:   Total,
			l:    Ledger{ClosedMs: 7, OpenCount: 1, OpenSinceSumMs: d1},
			t:    "2030-01-01T00:00:00Z",
			want: Ledger{ClosedMs: 7, OpenCount: 1, OpenSinceSumMs: d1},
		},
		{
			name: "ledger ahead of a skewed clock is unchanged",
			iv:   Daily,
			l:    Ledger{WindowStart: d1 + day, OpenCount: 1, OpenSinceSumMs: d1 + day},
			t:    "2026-03-01T23:59:59.900Z",
			want: Ledger{WindowStart: d1 + day, OpenCount: 1, OpenSinceSumMs: d1 + day},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, closed, rolled := Roll(tc.l, tc.iv, ms(t, tc.t))
			if got != tc.want {
				t.Errorf("ledger: got %+v, want %+v", got, tc.want)
			}
			if rolled != tc.wantRolled {
				t.Errorf("rolled: got %v, want %v", rolled, tc.wantRolled)
			}
			if closed != tc.wantClosed {
				t.Errorf("closed: got %+v, want %+v", closed, tc.wantClosed)
			}
		})
	}
}

func TestStartEnd(t *testing.T) {
	d1 := ms(t, "2026-03-01T00:00:00Z")
	tests := []struct {
		name string
		got  Ledger
		want Ledger
	}{
		{"start on an empty ledger", Start(Ledger{}, Daily, d1+10*hour), Ledger{WindowStart: d1, OpenCount: 1, OpenSinceSumMs: d1 + 10*hour}},
		{"start adds to the sum", Start(Ledger{WindowStart: d1, OpenCount: 1, OpenSinceSumMs: d1 + hour}, Daily, d1+2*hour),
			Ledger{WindowStart: d1, OpenCount: 2, OpenSinceSumMs: 2*d1 + 3*hour}},
		{"start rolls first", Start(Ledger{WindowStart: d1, ClosedMs: hour, OpenCount: 1, OpenSinceSumMs: d1}, Daily, d1+day+hour),
			Ledger{WindowStart: d1 + day, OpenCount: 2, OpenSinceSumMs: 2*(d1+day) + hour}},
		{"start behind a ledger ahead (skew) is charged from its window start", Start(Ledger{WindowStart: d1 + day}, Daily, d1+day-100),
			Ledger{WindowStart: d1 + day, OpenCount: 1, OpenSinceSumMs: d1 + day}},
		{"end moves the part to closed", End(Ledger{WindowStart: d1, OpenCount: 2, OpenSinceSumMs: 2*d1 + 3*hour}, Daily, d1+hour, d1+5*hour),
			Ledger{WindowStart: d1, ClosedMs: 4 * hour, OpenCount: 1, OpenSinceSumMs: d1 + 2*hour}},
		{"end of a session from an earlier window charges from window start", End(Ledger{WindowStart: d1, OpenCount: 1, OpenSinceSumMs: d1}, Daily, d1-3*day, d1+2*hour),
			Ledger{WindowStart: d1, ClosedMs: 2 * hour}},
		{"end rolls first", End(Ledger{WindowStart: d1, OpenCount: 1, OpenSinceSumMs: d1 + 23*hour}, Daily, d1+23*hour, d1+day+hour),
			Ledger{WindowStart: d1 + day, ClosedMs: hour}},
		{"end without open sessions is a no-op", End(Ledger{WindowStart: d1, ClosedMs: hour}, Daily, d1, d1+2*hour),
			Ledger{WindowStart: d1, ClosedMs: hour}},
		{"end before the recorded start (skew) charges nothing", End(Ledger{WindowStart: d1, OpenCount: 1, OpenSinceSumMs: d1 + hour}, Daily, d1+hour, d1+hour-50),
			Ledger{WindowStart: d1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %+v, want %+v", tc.got, tc.want)
			}
		})
	}
}

func TestPerGroupManySessions(t *testing.T) {
	// 10,000 users of one per_group budget each start a session one second apart from 08:00;
	// every even one ends 30 minutes after it started. The ledger stays four numbers.
	const users = 10_000
	iv := Daily
	t0 := ms(t, "2026-03-04T08:00:00Z")
	var l Ledger
	type ev struct {
		at, since int64
		end       bool
	}
	var evs []ev
	for i := range int64(users) {
		s := t0 + i*sec
		evs = append(evs, ev{at: s})
		if i%2 == 0 {
			evs = append(evs, ev{at: s + 30*minute, since: s, end: true})
		}
	}
	// Apply in time order (starts and ends interleave).
	slices.SortStableFunc(evs, func(a, b ev) int { return cmp.Compare(a.at, b.at) })
	for _, e := range evs {
		if e.end {
			l = End(l, iv, e.since, e.at)
		} else {
			l = Start(l, iv, e.at)
		}
	}
	q := t0 + 5*hour
	var want int64
	for i := range int64(users) {
		s := t0 + i*sec
		if i%2 == 0 {
			want += 30 * minute
		} else {
			want += q - s
		}
	}
	if got := Used(l, iv, q); got != want {
		t.Errorf("Used: got %d ms, want %d ms", got, want)
	}
	if l.OpenCount != users/2 {
		t.Errorf("OpenCount: got %d, want %d", l.OpenCount, users/2)
	}
}

func TestDeadlineAt(t *testing.T) {
	t10 := ms(t, "2026-03-04T10:00:00Z")
	open := func(n int, at int64) Ledger {
		var l Ledger
		for range n {
			l = Start(l, Daily, at)
		}
		return l
	}
	tests := []struct {
		name    string
		iv      Interval
		l       Ledger
		limitMs int64
		t       int64
		want    string // "" = never (0)
	}{
		{"1 open, 1 h left", Daily, open(1, t10), hour, t10, "2026-03-04T11:00:00Z"},
		{"2 open share 1 h", Daily, open(2, t10), hour, t10, "2026-03-04T10:30:00Z"},
		{"3 open share 1 h", Daily, open(3, t10), hour, t10, "2026-03-04T10:20:00Z"},
		{"3 open, 1000 ms rounds up", Daily, open(3, t10), 1000, t10, "2026-03-04T10:00:00.334Z"},
		{"2 open, part used", Daily, open(2, t10), 2 * hour, t10 + 30*minute, "2026-03-04T11:00:00Z"},
		{"issue 4: 0.001 h is 3.6 s", Daily, open(1, t10), HoursToMs(0.001), t10, "2026-03-04T10:00:03.6Z"},
		{"already exhausted: now", Daily, open(1, t10), hour, t10 + 2*hour, "2026-03-04T12:00:00Z"},
		{"exhausted with nothing open: now", Daily, End(open(1, t10), Daily, t10, t10+hour), hour, t10 + 2*hour, "2026-03-04T12:00:00Z"},
		{"nothing open, not exhausted: never", Daily, End(open(1, t10), Daily, t10, t10+hour), 2 * hour, t10 + 2*hour, ""},
		{"zero ledger: never", Daily, Ledger{}, hour, t10, ""},
		{"window ends first: next day from 00:00", Daily, Start(Ledger{}, Daily, ms(t, "2026-03-04T23:30:00Z")), 2 * hour,
			ms(t, "2026-03-04T23:30:00Z"), "2026-03-05T02:00:00Z"},
		{"exactly at the window end is the next window", Daily, Start(Ledger{}, Daily, ms(t, "2026-03-04T23:00:00Z")), hour,
			ms(t, "2026-03-04T23:00:00Z"), "2026-03-05T01:00:00Z"},
		{"2 open from 23:00, 3 h: next day 01:30", Daily, Start(Start(Ledger{}, Daily, ms(t, "2026-03-04T23:00:00Z")), Daily, ms(t, "2026-03-04T23:00:00Z")),
			3 * hour, ms(t, "2026-03-04T23:00:00Z"), "2026-03-05T01:30:00Z"},
		{"24 h a day for 1 session: never", Daily, open(1, t10), 24 * hour, t10, ""},
		{"24 h a day for 2 sessions: 12 h into the window", Daily, open(2, ms(t, "2026-03-04T00:00:00Z")), 24 * hour,
			ms(t, "2026-03-04T00:00:00Z"), "2026-03-04T12:00:00Z"},
		{"stale ledger is rolled first", Daily, open(2, t10), hour, ms(t, "2026-03-07T00:10:00Z"), "2026-03-07T00:30:00Z"},
		{"stale ledger, long used up", Daily, open(2, t10), hour, t10 + 3*day, "2026-03-07T10:00:00Z"},
		{"weekly 200 h for 1 session: never", Weekly, Start(Ledger{}, Weekly, t10), 200 * hour, t10, ""},
		{"weekly 100 h for 1 session from Saturday", Weekly, Start(Ledger{}, Weekly, ms(t, "2026-02-28T12:00:00Z")), 100 * hour,
			ms(t, "2026-02-28T12:00:00Z"), "2026-03-05T04:00:00Z"},
		{"monthly 708 h (29.5 d) from Jan 20 2026: not Jan, not Feb (28 d), Mar 30 12:00", Monthly,
			Start(Ledger{}, Monthly, ms(t, "2026-01-20T00:00:00Z")), 708 * hour, ms(t, "2026-01-20T00:00:00Z"), "2026-03-30T12:00:00Z"},
		{"monthly 684 h (28.5 d) fits leap February 2024", Monthly,
			Start(Ledger{}, Monthly, ms(t, "2024-01-20T00:00:00Z")), 684 * hour, ms(t, "2024-01-20T00:00:00Z"), "2024-02-29T12:00:00Z"},
		{"monthly 684 h (28.5 d) skips February 2026", Monthly,
			Start(Ledger{}, Monthly, ms(t, "2026-01-20T00:00:00Z")), 684 * hour, ms(t, "2026-01-20T00:00:00Z"), "2026-03-29T12:00:00Z"},
		{"monthly 31 d for 1 session: never", Monthly, Start(Ledger{}, Monthly, t10), 31 * day, t10, ""},
		{"total has no end: 2 sessions, 1000 h", Total, Start(Start(Ledger{}, Total, t10), Total, t10), 1000 * hour, t10, "2026-03-25T06:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DeadlineAt(tc.l, tc.iv, tc.limitMs, tc.t)
			var want int64
			if tc.want != "" {
				want = ms(t, tc.want)
			}
			if got != want {
				t.Fatalf("DeadlineAt: got %d (%s), want %d (%s)", got, fmtMs(got), want, tc.want)
			}
			checkDeadline(t, tc.l, tc.iv, tc.limitMs, tc.t, got)
		})
	}
}

// checkDeadline verifies the definition of DeadlineAt against Used, for a ledger that no
// session starts or ends on after t: at the deadline the limit is reached, one millisecond
// before it (when that is not before t) it is not, and no window between t and the deadline
// (or, when there is none, in the next few windows) reaches it before its end.
func checkDeadline(t *testing.T, l Ledger, iv Interval, limitMs, from, d int64) {
	t.Helper()
	if d != 0 {
		if d < from {
			t.Fatalf("deadline %s is before t %s", fmtMs(d), fmtMs(from))
		}
		if u := Used(l, iv, d); u < limitMs {
			t.Errorf("Used at deadline %s: got %d, want ≥ %d", fmtMs(d), u, limitMs)
		}
		if d > from {
			if u := Used(l, iv, d-1); u >= limitMs {
				t.Errorf("Used 1 ms before deadline %s: got %d, want < %d", fmtMs(d), u, limitMs)
			}
		}
	}
	horizon := d
	if d == 0 {
		// Daily and weekly windows all have one length, so three windows show the pattern;
		// a year of months contains every month length.
		horizon = from + map[Interval]int64{Daily: 3 * day, Weekly: 21 * day}[iv]
		if iv == Monthly {
			horizon = from + 400*day
		}
	}
	if iv == Total {
		if d == 0 && l.OpenCount > 0 {
			t.Errorf("total budget with %d open sessions never runs out", l.OpenCount)
		}
		return
	}
	for x := from; ; {
		_, end := WindowMs(iv, x)
		if end > horizon {
			break
		}
		if u := Used(l, iv, end-1); u >= limitMs {
			t.Errorf("window ending %s reaches the limit (%d ≥ %d) before the deadline %s", fmtMs(end), u, limitMs, fmtMs(d))
		}
		x = end
	}
}

func fmtMs(x int64) string {
	if x == 0 {
		return "never"
	}
	return fmt.Sprint(timePtr(x).Format("2006-01-02T15:04:05.000Z"))
}

func TestExhaustedAndRemaining(t *testing.T) {
	t0 := ms(t, "2026-03-04T10:00:00Z")
	limit := HoursToMs(0.001) // issue 4: 3.6 s
	one := Start(Ledger{}, Daily, t0)
	tests := []struct {
		name          string
		l             Ledger
		t             int64
		wantExhausted bool
		wantRemaining int64
	}{
		{"at start", one, t0, false, 3600},
		{"after 3.599 s", one, t0 + 3599, false, 1},
		{"after 3.6 s", one, t0 + 3600, true, 0},
		{"long after: remaining floors at 0", one, t0 + hour, true, 0},
		{"ended after 2 s, remaining stays", End(one, Daily, t0, t0+2000), t0 + hour, false, 1600},
		{"next day the budget is whole again", one, ms(t, "2026-03-05T00:00:00Z"), false, 3600},
		{"next day, 3.6 s after midnight, exhausted again", one, ms(t, "2026-03-05T00:00:03.6Z"), true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Exhausted(tc.l, Daily, limit, tc.t); got != tc.wantExhausted {
				t.Errorf("Exhausted: got %v, want %v", got, tc.wantExhausted)
			}
			if got := Remaining(tc.l, Daily, limit, tc.t); got != tc.wantRemaining {
				t.Errorf("Remaining: got %d, want %d", got, tc.wantRemaining)
			}
		})
	}
}

func TestExpiresAt(t *testing.T) {
	d1 := ms(t, "2026-03-01T00:00:00Z")
	tests := []struct {
		name string
		l    Ledger
		iv   Interval
		want int64
	}{
		{"idle daily: a day after its window ends", Ledger{WindowStart: d1, ClosedMs: hour}, Daily, d1 + day + ExpiryGrace},
		{"idle monthly", Ledger{WindowStart: d1, ClosedMs: hour}, Monthly, ms(t, "2026-04-01T00:00:00Z") + ExpiryGrace},
		{"open sessions: keep", Ledger{WindowStart: d1, OpenCount: 1, OpenSinceSumMs: d1}, Daily, 0},
		{"total: keep", Ledger{ClosedMs: hour}, Total, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExpiresAt(tc.l, tc.iv); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}
