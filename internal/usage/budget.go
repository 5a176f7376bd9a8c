package usage

import (
	"encoding/json"
	"math"

	"wspolicy/internal/policy"
	"wspolicy/internal/settings"
)

// MsPerHour is the number of milliseconds in an hour; budgets are metered in whole milliseconds.
const MsPerHour = 3_600_000

// The usage_limit types.
const (
	PerUser  = "per_user"
	PerGroup = "per_group"
)

// Limit is the value of the usage_limit setting; the zero value means no limit and encodes as {}.
// Its fields match settings.UsageLimit, so a settings.UsageLimit converts with Limit(v).
type Limit struct {
	Type     string  `json:"type,omitempty"`
	Interval string  `json:"interval,omitempty"`
	Hours    float64 `json:"hours,omitempty"`
}

// Source is the group that supplied a user's effective usage_limit; the zero value means the
// catalog default (no limit) and encodes as "default".
type Source struct {
	GroupID  string `json:"group_id"`
	Name     string `json:"name"`
	Priority int    `json:"priority"`
}

// MarshalJSON encodes the group, or the string "default" for the zero Source.
func (s Source) MarshalJSON() ([]byte, error) {
	if s == (Source{}) {
		return []byte(`"default"`), nil
	}
	type plain Source
	return json.Marshal(plain(s))
}

// Budget is what a session is charged to: the ledger key and the limit that applies to it.
// A Budget with an empty Key means no limit (nothing is charged).
type Budget struct {
	Key      string   // ledger key: user#<user_id>#<interval> or group#<group_id>#<interval>
	Limit    Limit    // the effective usage_limit the budget came from
	Source   Source   // the group that supplied it
	Interval Interval // parsed Limit.Interval
	LimitMs  int64    // Limit.Hours in whole milliseconds, at least 1
}

// Limited reports whether the budget meters anything.
func (b Budget) Limited() bool { return b.Key != "" }

// NewBudget identifies the budget a session of userID starts under, from the user's effective
// usage_limit and the group it came from (the zero Source when it is the catalog default). A
// zero Limit gives a Budget that is not Limited and only records the source.
func NewBudget(userID string, lim Limit, src Source) (Budget, error) {
	if lim == (Limit{}) {
		return Budget{Source: src}, nil
	}
	iv, err := ParseInterval(lim.Interval)
	if err != nil {
		return Budget{}, invalid("usage_limit.interval must be daily, weekly, monthly or total, got %q", lim.Interval)
	}
	if !(lim.Hours > 0) || math.IsInf(lim.Hours, 0) {
		return Budget{}, invalid("usage_limit.hours must be a number > 0, got %v", lim.Hours)
	}
	var subject string
	switch lim.Type {
	case PerUser:
		if userID == "" {
			return Budget{}, invalid("a per_user usage_limit needs a user id")
		}
		subject = "user#" + userID
	case PerGroup:
		if src.GroupID == "" {
			return Budget{}, invalid("a per_group usage_limit needs its source group")
		}
		subject = GroupKeyPrefix + src.GroupID
	default:
		return Budget{}, invalid("usage_limit.type must be per_user or per_group, got %q", lim.Type)
	}
	return Budget{
		Key:      subject + "#" + iv.String(),
		Limit:    lim,
		Source:   src,
		Interval: iv,
		LimitMs:  HoursToMs(lim.Hours),
	}, nil
}

// HoursToMs converts a usage_limit's hours to whole milliseconds, rounding to the nearest and
// never below 1 ms (hours > 0 always allows something).
func HoursToMs(hours float64) int64 {
	ms := math.Round(hours * MsPerHour)
	if ms < 1 {
		return 1
	}
	if ms >= math.MaxInt64/4 {
		return math.MaxInt64 / 4
	}
	return int64(ms)
}

func invalid(format string, args ...any) error {
	e := policy.Errorf(policy.KindInvalid, policy.CodeInvalidUsageLimit, format, args...)
	e.Field = settings.NameUsageLimit
	return e
}

// GroupKeyPrefix begins the key of every per_group budget.
const GroupKeyPrefix = "group#"
