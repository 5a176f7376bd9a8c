package usage

import (
	"fmt"
	"time"
)

// Report is the body of GET /v1/users/{id}/usage: the budget a new session of the user would be
// charged to and how its figures are derived. For a user without a limit, Limit is {} and the
// window and hour fields are null.
type Report struct {
	Limit          Limit       `json:"limit"`
	Source         Source      `json:"source"`
	Budget         string      `json:"budget"`
	AsOf           time.Time   `json:"as_of"`
	WindowStart    *time.Time  `json:"window_start"`
	WindowEnd      *time.Time  `json:"window_end"` // null for total
	HoursUsed      *float64    `json:"hours_used"`
	HoursRemaining *float64    `json:"hours_remaining"`
	OpenSessions   int64       `json:"open_sessions"`
	Exhausted      bool        `json:"exhausted"`
	ExhaustsAt     *time.Time  `json:"exhausts_at"` // when it runs out if no session starts or ends; null if never
	Derivation     *Derivation `json:"derivation,omitempty"`
	// Own is the user's own part, apart from the budget's figures (which for a per_group limit
	// are every member's together); filled in by the caller that lists the user's sessions.
	Own *Own `json:"own,omitempty"`
}

// Own is a user's own part of a usage report.
type Own struct {
	// OpenSessions counts the user's sessions that are not deleted.
	OpenSessions int64 `json:"open_sessions"`
	// HoursOpen is the time, in the current window, of those of them charged to the budget;
	// null without a limit.
	HoursOpen *float64 `json:"hours_open"`
	// HoursUsed is the user's own use in the window: the budget's for a per_user limit; null for
	// a per_group limit, whose ledger meters the group's members together.
	HoursUsed *float64 `json:"hours_used"`
}

// Derivation holds the ledger figures behind a Report in milliseconds, and the arithmetic
// written out, so an administrator can check the hours by hand.
type Derivation struct {
	AsOfMs         int64  `json:"as_of_ms"`
	WindowStartMs  int64  `json:"window_start_ms"`
	ClosedMs       int64  `json:"closed_ms"`
	OpenSessions   int64  `json:"open_sessions"`
	OpenSinceSumMs int64  `json:"open_since_sum_ms"`
	UsedMs         int64  `json:"used_ms"`
	LimitMs        int64  `json:"limit_ms"`
	RemainingMs    int64  `json:"remaining_ms"`
	Formula        string `json:"formula"`
}

// Derive computes the Report of budget b at t (epoch ms) from its stored ledger l (the zero
// Ledger when the item does not exist). A ledger from an earlier window is first rolled to t's.
func Derive(b Budget, l Ledger, t int64) Report {
	r := Report{Limit: b.Limit, Source: b.Source, Budget: b.Key, AsOf: time.UnixMilli(t).UTC()}
	if !b.Limited() {
		return r
	}
	stored := l
	l, t = current(l, b.Interval, t)
	start, end := WindowMs(b.Interval, l.WindowStart)
	used := usedAt(l, t)
	remaining := max(0, b.LimitMs-used)
	r.AsOf = time.UnixMilli(t).UTC()
	r.WindowStart = timePtr(start)
	if end != NoEnd {
		r.WindowEnd = timePtr(end)
	}
	r.HoursUsed = hoursPtr(used)
	r.HoursRemaining = hoursPtr(remaining)
	r.OpenSessions = l.OpenCount
	r.Exhausted = used >= b.LimitMs
	if d := DeadlineAt(l, b.Interval, b.LimitMs, t); d != 0 {
		r.ExhaustsAt = timePtr(d)
	}

	raw := l.ClosedMs + l.OpenCount*t - l.OpenSinceSumMs
	f := fmt.Sprintf("used_ms = closed_ms + open_sessions × as_of_ms − open_since_sum_ms = %d + %d × %d − %d = %d",
		l.ClosedMs, l.OpenCount, t, l.OpenSinceSumMs, raw)
	if raw != used {
		f += fmt.Sprintf(", raised to closed_ms = %d (a session start recorded after as_of)", used)
	}
	f += fmt.Sprintf("; remaining_ms = max(0, limit_ms − used_ms) = max(0, %d − %d) = %d", b.LimitMs, used, remaining)
	f += "; hours = ms ÷ 3600000"
	if stored.WindowStart < l.WindowStart && stored != (Ledger{}) {
		f += fmt.Sprintf("; the stored ledger was for the window from %d: its %d open sessions are charged from window_start_ms",
			stored.WindowStart, stored.OpenCount)
	}
	r.Derivation = &Derivation{
		AsOfMs:         t,
		WindowStartMs:  l.WindowStart,
		ClosedMs:       l.ClosedMs,
		OpenSessions:   l.OpenCount,
		OpenSinceSumMs: l.OpenSinceSumMs,
		UsedMs:         used,
		LimitMs:        b.LimitMs,
		RemainingMs:    remaining,
		Formula:        f,
	}
	return r
}

func timePtr(ms int64) *time.Time {
	t := time.UnixMilli(ms).UTC()
	return &t
}

func hoursPtr(ms int64) *float64 {
	h := float64(ms) / MsPerHour
	return &h
}
