// Package usage is the arithmetic of usage_limit budgets: which budget a session is charged to,
// the UTC windows a budget resets on, the constant-size ledger that meters a budget, when a
// budget runs out, and the report GET /v1/users/{id}/usage shows. It is pure: no I/O, no
// clock (times are passed in as epoch milliseconds), no AWS. docs/design-usage.md spells the
// arithmetic out.
package usage

import (
	"fmt"
	"math"
	"time"
)

// Interval is how often a budget resets. Build one with ParseInterval or use the constants; a
// value outside them behaves as Total (never resets).
type Interval int

// The intervals of usage_limit.
const (
	Daily   Interval = iota + 1 // from 00:00 UTC
	Weekly                      // from Sunday 00:00 UTC
	Monthly                     // from the 1st, 00:00 UTC
	Total                       // one window from the epoch, forever
)

// NoEnd is the end, in epoch milliseconds, of a window that never ends (Total).
const NoEnd int64 = math.MaxInt64

var intervalNames = map[Interval]string{Daily: "daily", Weekly: "weekly", Monthly: "monthly", Total: "total"}

// ParseInterval maps the usage_limit word ("daily", "weekly", "monthly", "total") to an Interval.
func ParseInterval(s string) (Interval, error) {
	for iv, name := range intervalNames {
		if name == s {
			return iv, nil
		}
	}
	return 0, fmt.Errorf("unknown usage interval %q", s)
}

// String returns the usage_limit word of the interval.
func (iv Interval) String() string {
	if s, ok := intervalNames[iv]; ok {
		return s
	}
	return fmt.Sprintf("Interval(%d)", int(iv))
}

// Window returns the UTC window of the interval that contains t: start inclusive, end
// exclusive. For Total the start is the epoch and end is the zero time (no end).
func Window(iv Interval, t time.Time) (start, end time.Time) {
	s, e := WindowMs(iv, t.UnixMilli())
	start = time.UnixMilli(s).UTC()
	if e != NoEnd {
		end = time.UnixMilli(e).UTC()
	}
	return start, end
}

// WindowMs is Window in epoch milliseconds; end is NoEnd for Total.
func WindowMs(iv Interval, t int64) (start, end int64) {
	u := time.UnixMilli(t).UTC()
	day := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	var s, e time.Time
	switch iv {
	case Daily:
		s, e = day, day.AddDate(0, 0, 1)
	case Weekly:
		s = day.AddDate(0, 0, -int(day.Weekday()))
		e = s.AddDate(0, 0, 7)
	case Monthly:
		s = time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
		e = s.AddDate(0, 1, 0)
	default:
		return 0, NoEnd
	}
	return s.UnixMilli(), e.UnixMilli()
}
