package usage

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestDerive(t *testing.T) {
	eng := Source{GroupID: "g_eng", Name: "Engineering", Priority: 10}
	t0 := ms(t, "2026-03-04T10:00:00Z")
	tiny, err := NewBudget("u_1", Limit{PerUser, "daily", 0.001}, eng)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := NewBudget("u_1", Limit{PerGroup, "weekly", 10}, eng)
	if err != nil {
		t.Fatal(err)
	}
	total, err := NewBudget("u_1", Limit{PerUser, "total", 100}, eng)
	if err != nil {
		t.Fatal(err)
	}
	unlimited, err := NewBudget("u_1", Limit{}, Source{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		b    Budget
		l    Ledger
		t    int64
		want string
	}{
		{
			name: "issue 4: 0.001 h used up after 3.6 s",
			b:    tiny,
			l:    Start(Ledger{}, Daily, t0),
			t:    t0 + 3600,
			want: `{"limit":{"type":"per_user","interval":"daily","hours":0.001},` +
				`"source":{"group_id":"g_eng","name":"Engineering","priority":10},"budget":"user#u_1#daily",` +
				`"as_of":"2026-03-04T10:00:03.6Z","window_start":"2026-03-04T00:00:00Z","window_end":"2026-03-05T00:00:00Z",` +
				`"hours_used":0.001,"hours_remaining":0,"open_sessions":1,"exhausted":true,"exhausts_at":"2026-03-04T10:00:03.6Z",` +
				`"derivation":{"as_of_ms":1772618403600,"window_start_ms":1772582400000,"closed_ms":0,"open_sessions":1,` +
				`"open_since_sum_ms":1772618400000,"used_ms":3600,"limit_ms":3600,"remaining_ms":0,` +
				`"formula":"used_ms = closed_ms + open_sessions × as_of_ms − open_since_sum_ms = 0 + 1 × 1772618403600 − 1772618400000 = 3600; ` +
				`remaining_ms = max(0, limit_ms − used_ms) = max(0, 3600 − 3600) = 0; hours = ms ÷ 3600000"}}`,
		},
		{
			name: "per_group: two open sessions and one ended, rolled from last week",
			b:    shared,
			// Last week's ledger: two sessions open since Saturday 20:00, one ended.
			l: Ledger{WindowStart: ms(t, "2026-02-22T00:00:00Z"), ClosedMs: hour, OpenCount: 2,
				OpenSinceSumMs: 2 * ms(t, "2026-02-28T20:00:00Z")},
			t: ms(t, "2026-03-01T01:30:00Z"),
			want: `{"limit":{"type":"per_group","interval":"weekly","hours":10},` +
				`"source":{"group_id":"g_eng","name":"Engineering","priority":10},"budget":"group#g_eng#weekly",` +
				`"as_of":"2026-03-01T01:30:00Z","window_start":"2026-03-01T00:00:00Z","window_end":"2026-03-08T00:00:00Z",` +
				`"hours_used":3,"hours_remaining":7,"open_sessions":2,"exhausted":false,"exhausts_at":"2026-03-01T05:00:00Z",` +
				`"derivation":{"as_of_ms":1772328600000,"window_start_ms":1772323200000,"closed_ms":0,"open_sessions":2,` +
				`"open_since_sum_ms":3544646400000,"used_ms":10800000,"limit_ms":36000000,"remaining_ms":25200000,` +
				`"formula":"used_ms = closed_ms + open_sessions × as_of_ms − open_since_sum_ms = 0 + 2 × 1772328600000 − 3544646400000 = 10800000; ` +
				`remaining_ms = max(0, limit_ms − used_ms) = max(0, 36000000 − 10800000) = 25200000; hours = ms ÷ 3600000; ` +
				`the stored ledger was for the window from 1771718400000: its 2 open sessions are charged from window_start_ms"}}`,
		},
		{
			name: "no sessions yet: nothing used, never runs out",
			b:    total,
			l:    Ledger{},
			t:    t0,
			want: `{"limit":{"type":"per_user","interval":"total","hours":100},` +
				`"source":{"group_id":"g_eng","name":"Engineering","priority":10},"budget":"user#u_1#total",` +
				`"as_of":"2026-03-04T10:00:00Z","window_start":"1970-01-01T00:00:00Z","window_end":null,` +
				`"hours_used":0,"hours_remaining":100,"open_sessions":0,"exhausted":false,"exhausts_at":null,` +
				`"derivation":{"as_of_ms":1772618400000,"window_start_ms":0,"closed_ms":0,"open_sessions":0,` +
				`"open_since_sum_ms":0,"used_ms":0,"limit_ms":360000000,"remaining_ms":360000000,` +
				`"formula":"used_ms = closed_ms + open_sessions × as_of_ms − open_since_sum_ms = 0 + 0 × 1772618400000 − 0 = 0; ` +
				`remaining_ms = max(0, limit_ms − used_ms) = max(0, 360000000 − 0) = 360000000; hours = ms ÷ 3600000"}}`,
		},
		{
			name: "no limit",
			b:    unlimited,
			l:    Ledger{},
			t:    t0,
			want: `{"limit":{},"source":"default","budget":"","as_of":"2026-03-04T10:00:00Z","window_start":null,"window_end":null,` +
				`"hours_used":null,"hours_remaining":null,"open_sessions":0,"exhausted":false,"exhausts_at":null}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(Derive(tc.b, tc.l, tc.t))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestDeriveHoursAreTheLedgerMs(t *testing.T) {
	// hours_used and hours_remaining are used_ms and remaining_ms divided by 3,600,000, and
	// the formula's figures are the derivation's fields.
	b, err := NewBudget("u_1", Limit{PerUser, "monthly", 2.5}, Source{GroupID: "g", Name: "G", Priority: 1})
	if err != nil {
		t.Fatal(err)
	}
	t0 := ms(t, "2026-02-27T22:13:14.567Z")
	l := End(Start(Start(Ledger{}, Monthly, t0), Monthly, t0+1234), Monthly, t0, t0+hour)
	q := t0 + 90*minute + 7
	r := Derive(b, l, q)
	d := r.Derivation
	if d == nil {
		t.Fatal("derivation: got nil, want the figures")
	}
	if got, want := *r.HoursUsed, float64(d.UsedMs)/MsPerHour; got != want {
		t.Errorf("hours_used: got %v, want %v", got, want)
	}
	if got, want := *r.HoursRemaining, float64(d.RemainingMs)/MsPerHour; got != want {
		t.Errorf("hours_remaining: got %v, want %v", got, want)
	}
	if got, want := d.ClosedMs+d.OpenSessions*d.AsOfMs-d.OpenSinceSumMs, d.UsedMs; got != want {
		t.Errorf("closed + open × as_of − sum: got %d, want used_ms %d", got, want)
	}
	if got, want := d.UsedMs, Used(l, Monthly, q); got != want {
		t.Errorf("used_ms: got %d, want Used %d", got, want)
	}
	if got, want := d.UsedMs, hour+(90*minute+7-1234); got != want {
		t.Errorf("used_ms by hand: got %d, want %d", got, want)
	}
	if want := fmt.Sprintf("= %d + %d × %d − %d = %d;", d.ClosedMs, d.OpenSessions, d.AsOfMs, d.OpenSinceSumMs, d.UsedMs); !strings.Contains(d.Formula, want) {
		t.Errorf("formula: got %q, want it to contain %q", d.Formula, want)
	}
}
