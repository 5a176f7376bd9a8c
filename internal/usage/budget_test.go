package usage

import (
	"encoding/json"
	"testing"

	"wspolicy/internal/policy"
)

func TestNewBudget(t *testing.T) {
	eng := Source{GroupID: "g_eng", Name: "Engineering", Priority: 10}
	tests := []struct {
		name        string
		user        string
		lim         Limit
		src         Source
		wantKey     string
		wantIv      Interval
		wantLimitMs int64
		wantErr     bool
	}{
		{"per_user daily", "u_1", Limit{PerUser, "daily", 2}, eng, "user#u_1#daily", Daily, 7_200_000, false},
		{"per_group weekly", "u_1", Limit{PerGroup, "weekly", 40}, eng, "group#g_eng#weekly", Weekly, 144_000_000, false},
		{"per_group is the same for every member", "u_2", Limit{PerGroup, "weekly", 40}, eng, "group#g_eng#weekly", Weekly, 144_000_000, false},
		{"per_user monthly fraction", "u_1", Limit{PerUser, "monthly", 1.5}, eng, "user#u_1#monthly", Monthly, 5_400_000, false},
		{"issue 4 example 0.001 h", "u_1", Limit{PerUser, "daily", 0.001}, eng, "user#u_1#daily", Daily, 3_600, false},
		{"total", "u_1", Limit{PerGroup, "total", 100}, eng, "group#g_eng#total", Total, 360_000_000, false},
		{"no limit", "u_1", Limit{}, Source{}, "", 0, 0, false},
		{"unknown type", "u_1", Limit{"per_team", "daily", 1}, eng, "", 0, 0, true},
		{"unknown interval", "u_1", Limit{PerUser, "yearly", 1}, eng, "", 0, 0, true},
		{"zero hours", "u_1", Limit{PerUser, "daily", 0}, eng, "", 0, 0, true},
		{"negative hours", "u_1", Limit{PerUser, "daily", -1}, eng, "", 0, 0, true},
		{"per_group without source", "u_1", Limit{PerGroup, "daily", 1}, Source{}, "", 0, 0, true},
		{"per_user without user", "", Limit{PerUser, "daily", 1}, eng, "", 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewBudget(tc.user, tc.lim, tc.src)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("NewBudget: got %+v, want an error", got)
				}
				if k, c := policy.KindOf(err), policy.CodeOf(err); k != policy.KindInvalid || c != policy.CodeInvalidUsageLimit {
					t.Errorf("error kind/code: got %s/%s, want %s/%s", k, c, policy.KindInvalid, policy.CodeInvalidUsageLimit)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewBudget: unexpected error %v", err)
			}
			if got.Key != tc.wantKey || got.Interval != tc.wantIv || got.LimitMs != tc.wantLimitMs {
				t.Errorf("got key %q interval %v limit %d ms, want %q %v %d ms", got.Key, got.Interval, got.LimitMs, tc.wantKey, tc.wantIv, tc.wantLimitMs)
			}
			if got.Limited() != (tc.wantKey != "") {
				t.Errorf("Limited(): got %v, want %v", got.Limited(), tc.wantKey != "")
			}
			if got.Source != tc.src || got.Limit != tc.lim {
				t.Errorf("limit/source: got %+v %+v, want %+v %+v", got.Limit, got.Source, tc.lim, tc.src)
			}
		})
	}
}

func TestHoursToMs(t *testing.T) {
	tests := []struct {
		name  string
		hours float64
		want  int64
	}{
		{"one hour", 1, 3_600_000},
		{"0.001 h is 3.6 s", 0.001, 3_600},
		{"0.1 h", 0.1, 360_000},
		{"a third of an hour rounds", 1.0 / 3, 1_200_000},
		{"tiny but positive is 1 ms", 1e-12, 1},
		{"settings maximum", 876600, 3_155_760_000_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := HoursToMs(tc.hours); got != tc.want {
				t.Errorf("HoursToMs(%v): got %d, want %d", tc.hours, got, tc.want)
			}
		})
	}
}

func TestSourceJSON(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		want string
	}{
		{"group", Source{GroupID: "g_eng", Name: "Engineering", Priority: 10}, `{"group_id":"g_eng","name":"Engineering","priority":10}`},
		{"default", Source{}, `"default"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
