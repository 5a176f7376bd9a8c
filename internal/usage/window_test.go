package usage

import (
	"testing"
	"time"
)

// at parses an RFC 3339 time for tests.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return v.UTC()
}

// ms parses an RFC 3339 time to epoch milliseconds for tests.
func ms(t *testing.T, s string) int64 {
	t.Helper()
	return at(t, s).UnixMilli()
}

func TestWindow(t *testing.T) {
	tests := []struct {
		name      string
		iv        Interval
		t         string
		wantStart string
		wantEnd   string // "" = no end
	}{
		{"daily at midnight", Daily, "2026-03-04T00:00:00Z", "2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z"},
		{"daily last millisecond", Daily, "2026-03-04T23:59:59.999Z", "2026-03-04T00:00:00Z", "2026-03-05T00:00:00Z"},
		{"daily new year", Daily, "2025-12-31T23:59:59.999Z", "2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"daily leap day", Daily, "2024-02-29T12:00:00Z", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"weekly on Sunday 00:00", Weekly, "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z"},
		{"weekly Saturday last millisecond", Weekly, "2026-02-28T23:59:59.999Z", "2026-02-22T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"weekly Wednesday", Weekly, "2026-03-04T15:30:00Z", "2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z"},
		{"weekly Sunday evening", Weekly, "2026-03-08T23:00:00Z", "2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z"},
		{"weekly across the year", Weekly, "2026-01-01T08:00:00Z", "2025-12-28T00:00:00Z", "2026-01-04T00:00:00Z"},
		{"weekly across a leap day", Weekly, "2024-02-29T08:00:00Z", "2024-02-25T00:00:00Z", "2024-03-03T00:00:00Z"},
		{"monthly on the 1st 00:00", Monthly, "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"},
		{"monthly 31st last millisecond", Monthly, "2026-01-31T23:59:59.999Z", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"},
		{"monthly 30-day month", Monthly, "2026-04-30T23:59:59.999Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"},
		{"monthly February non-leap", Monthly, "2026-02-28T23:59:59.999Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{"monthly February leap 2024", Monthly, "2024-02-29T23:59:59.999Z", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
		{"monthly February 2000 leap (400)", Monthly, "2000-02-29T00:00:00Z", "2000-02-01T00:00:00Z", "2000-03-01T00:00:00Z"},
		{"monthly February 2100 not leap (100)", Monthly, "2100-02-28T23:59:59.999Z", "2100-02-01T00:00:00Z", "2100-03-01T00:00:00Z"},
		{"monthly December", Monthly, "2025-12-31T23:59:59.999Z", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{"total", Total, "2026-03-04T15:30:00Z", "1970-01-01T00:00:00Z", ""},
		{"total at epoch", Total, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", ""},
		{"unknown interval behaves as total", Interval(0), "2026-03-04T15:30:00Z", "1970-01-01T00:00:00Z", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotStart, gotEnd := Window(tc.iv, at(t, tc.t))
			if want := at(t, tc.wantStart); !gotStart.Equal(want) {
				t.Errorf("start: got %v, want %v", gotStart, want)
			}
			if tc.wantEnd == "" {
				if !gotEnd.IsZero() {
					t.Errorf("end: got %v, want zero (no end)", gotEnd)
				}
			} else if want := at(t, tc.wantEnd); !gotEnd.Equal(want) {
				t.Errorf("end: got %v, want %v", gotEnd, want)
			}
			if gotStart.Location() != time.UTC {
				t.Errorf("start location: got %v, want UTC", gotStart.Location())
			}
			if got := gotStart.Weekday(); tc.iv == Weekly && got != time.Sunday {
				t.Errorf("weekly start weekday: got %v, want Sunday", got)
			}
		})
	}
}

func TestWindowMsContainsAndTiles(t *testing.T) {
	// Walk a leap year and a half hour by hour: every window contains t, the window before
	// t's ends where t's starts, and windows have the lengths the calendar says.
	from := ms(t, "2023-12-25T00:00:00Z")
	to := ms(t, "2025-03-10T00:00:00Z")
	const hour = MsPerHour
	lengths := map[Interval][]int64{
		Daily:   {24 * hour},
		Weekly:  {168 * hour},
		Monthly: {28 * 24 * hour, 29 * 24 * hour, 30 * 24 * hour, 31 * 24 * hour},
	}
	for _, iv := range []Interval{Daily, Weekly, Monthly} {
		t.Run(iv.String(), func(t *testing.T) {
			for x := from; x < to; x += hour - 1 {
				s, e := WindowMs(iv, x)
				if s > x || x >= e {
					t.Fatalf("WindowMs(%v, %d) = [%d, %d): does not contain t", iv, x, s, e)
				}
				if _, prevEnd := WindowMs(iv, s-1); prevEnd != s {
					t.Fatalf("window before %d ends at %d, want %d", s, prevEnd, s)
				}
				okLen := false
				for _, l := range lengths[iv] {
					okLen = okLen || e-s == l
				}
				if !okLen {
					t.Fatalf("WindowMs(%v, %d) has length %d ms, want one of %v", iv, x, e-s, lengths[iv])
				}
			}
		})
	}
}

func TestParseInterval(t *testing.T) {
	tests := []struct {
		in      string
		want    Interval
		wantErr bool
	}{
		{"daily", Daily, false},
		{"weekly", Weekly, false},
		{"monthly", Monthly, false},
		{"total", Total, false},
		{"Daily", 0, true},
		{"", 0, true},
		{"yearly", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseInterval(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseInterval(%q) error: got %v, want error %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseInterval(%q): got %v, want %v", tc.in, got, tc.want)
			}
			if !tc.wantErr && got.String() != tc.in {
				t.Errorf("String(): got %q, want %q", got.String(), tc.in)
			}
		})
	}
}
