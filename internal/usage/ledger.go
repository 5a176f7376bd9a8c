package usage

// Ledger meters one budget in constant space, whatever the number of sessions charged to it.
// All times are epoch milliseconds (UTC). A session's charged-from time in the ledger's window
// is max(session start, WindowStart); OpenSinceSumMs sums those over the open sessions, so the
// usage of the window at time t is ClosedMs + OpenCount×t − OpenSinceSumMs (see Used).
//
// The zero Ledger is the ledger of a budget that has never been written.
type Ledger struct {
	WindowStart    int64 // start of the window the other fields are about
	ClosedMs       int64 // charged in this window by sessions that have ended
	OpenCount      int64 // sessions charged to the budget that have not ended
	OpenSinceSumMs int64 // Σ over open sessions of max(session start, WindowStart)
}

// Period is what a finished window totalled.
type Period struct {
	Start  int64 // window start, epoch ms
	End    int64 // window end (exclusive), epoch ms
	UsedMs int64 // milliseconds charged to the window
}

// ExpiryGrace is how long after its window ends an idle ledger (no open sessions) is kept.
const ExpiryGrace int64 = 24 * MsPerHour

// Roll brings l to the window of iv that contains t. When that is a later window than l's, the
// returned ledger starts the new window: nothing closed, the same open sessions, each charged
// from the new window's start; closed is what l's own window totalled (windows between the two,
// if any, were charged OpenCount × their length and are not reported), and rolled is true
// unless l is the zero Ledger. A ledger already in (or, by clock skew, ahead of) t's window is
// returned unchanged.
func Roll(l Ledger, iv Interval, t int64) (next Ledger, closed Period, rolled bool) {
	ws, _ := WindowMs(iv, t)
	if ws <= l.WindowStart {
		return l, Period{}, false
	}
	_, end := WindowMs(iv, l.WindowStart)
	closed = Period{Start: l.WindowStart, End: end, UsedMs: usedAt(l, end)}
	next = Ledger{WindowStart: ws, OpenCount: l.OpenCount, OpenSinceSumMs: l.OpenCount * ws}
	return next, closed, l != Ledger{}
}

// Start returns l, rolled to t's window, with a session started at t charged to it from t.
// The session must remember t (its created_at_ms) and give it back to End.
func Start(l Ledger, iv Interval, t int64) Ledger {
	l, t = current(l, iv, t)
	l.OpenCount++
	l.OpenSinceSumMs += t
	return l
}

// End returns l, rolled to t's window, with the session that started at since ended at t: its
// part in this window, t − max(since, WindowStart), moves to ClosedMs. A ledger with no open
// session is returned unchanged (an end without a start is a caller's bug and charges nothing).
func End(l Ledger, iv Interval, since, t int64) Ledger {
	l, t = current(l, iv, t)
	if l.OpenCount <= 0 {
		return l
	}
	from := max(since, l.WindowStart)
	l.ClosedMs += max(0, t-from)
	l.OpenCount--
	l.OpenSinceSumMs -= from
	return l
}

// Used returns the milliseconds charged to the budget in the window of iv that contains t.
func Used(l Ledger, iv Interval, t int64) int64 {
	l, t = current(l, iv, t)
	return usedAt(l, t)
}

// Remaining returns what is left of a limit of limitMs in t's window, never below 0.
func Remaining(l Ledger, iv Interval, limitMs, t int64) int64 {
	return max(0, limitMs-Used(l, iv, t))
}

// Exhausted reports whether the budget has used its limitMs in t's window: new sessions are
// refused and open ones are ended.
func Exhausted(l Ledger, iv Interval, limitMs, t int64) bool {
	return Used(l, iv, t) >= limitMs
}

// DeadlineAt returns the earliest time ≥ t at which the budget's usage reaches limitMs if no
// session starts or ends after t, taking window resets into account: t itself when it is
// already exhausted; 0 when it never runs out (no open sessions, or too few to use the limit
// within any window). It is exact to the millisecond: at DeadlineAt Used ≥ limitMs, one
// millisecond before it Used < limitMs (or that moment lies before t).
//
// In t's window the open sessions add OpenCount ms per ms, so the limit is reached at
// t + ⌈(limitMs − Used)/OpenCount⌉ if that is before the window ends. Otherwise each later
// window starts from 0 with the same sessions and is exhausted ⌈limitMs/OpenCount⌉ after its
// start if that is before its end (daily and weekly windows all have one length; monthly ones
// are 28 to 31 days, so the first fitting month is at most two months on).
func DeadlineAt(l Ledger, iv Interval, limitMs, t int64) int64 {
	l, t = current(l, iv, t)
	u := usedAt(l, t)
	if u >= limitMs {
		return t
	}
	n := l.OpenCount
	if n <= 0 {
		return 0
	}
	_, end := WindowMs(iv, l.WindowStart)
	if d := t + ceilDiv(limitMs-u, n); end == NoEnd || d < end {
		return d
	}
	need := ceilDiv(limitMs, n)
	for range 12 {
		start := end
		_, end = WindowMs(iv, start)
		if need < end-start {
			return start + need
		}
		if iv != Monthly {
			break
		}
	}
	return 0
}

// ExpiresAt returns when the ledger item may be deleted (TTL), in epoch ms: ExpiryGrace after
// its window ends, when no session is open. 0 means keep it: sessions are open, or the window
// never ends (Total). Once its window has ended an idle ledger reads the same as the zero
// Ledger, so deleting it loses nothing the arithmetic needs.
func ExpiresAt(l Ledger, iv Interval) int64 {
	if l.OpenCount > 0 {
		return 0
	}
	_, end := WindowMs(iv, l.WindowStart)
	if end == NoEnd {
		return 0
	}
	return end + ExpiryGrace
}

// current rolls l to t's window and moves t up to the window start if a skewed clock put it
// before (a ledger never goes back in time).
func current(l Ledger, iv Interval, t int64) (Ledger, int64) {
	l, _, _ = Roll(l, iv, t)
	return l, max(t, l.WindowStart)
}

// usedAt is the usage of l's window at t, for t in that window (or its end). OpenCount×t may
// overflow int64 on its own; the wrap-around cancels in the subtraction, so the result is
// exact whenever the usage itself fits. A session whose recorded start is after t (clock skew
// between writers) cannot make the usage fall below what has closed.
func usedAt(l Ledger, t int64) int64 {
	return max(l.ClosedMs, l.ClosedMs+l.OpenCount*t-l.OpenSinceSumMs)
}

func ceilDiv(a, b int64) int64 {
	return (a + b - 1) / b
}

// Merge returns the ledger of a budget metered by several ledgers (shards, each charged with a
// part of the budget's sessions): each is rolled to the latest of t's window and the shards'
// own windows, then their fields are added. The four numbers are sums over sessions (closed
// time, open sessions, their charged-from times), so the shards of one window add field by
// field and the result meters the whole budget exactly (docs/design-usage.md, section 10).
// Merge of no ledger is the zero Ledger.
func Merge(iv Interval, t int64, shards ...Ledger) Ledger {
	at := t
	for _, l := range shards {
		at = max(at, l.WindowStart)
	}
	var sum Ledger
	for _, l := range shards {
		if l == (Ledger{}) {
			continue
		}
		l, _, _ = Roll(l, iv, at)
		sum.WindowStart = l.WindowStart
		sum.ClosedMs += l.ClosedMs
		sum.OpenCount += l.OpenCount
		sum.OpenSinceSumMs += l.OpenSinceSumMs
	}
	return sum
}
