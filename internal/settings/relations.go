package settings

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Warning codes.
const (
	// WarnPriorityTie: two groups of one user with the same priority set the same setting (or
	// map the same volume_mapping host path); the group with the smaller id wins.
	WarnPriorityTie = "priority_tie"
	// WarnKeepaliveExpiration: keepalive_expiration is less than twice keepalive_interval.
	WarnKeepaliveExpiration = "keepalive_expiration_too_short"
	// WarnIdleDisconnect: idle_disconnect (minutes) is not longer than keepalive_interval (seconds).
	WarnIdleDisconnect = "idle_disconnect_too_short"
	// WarnTimeLimitIgnoresKeepalive: session_time_limit is above 0 and keepalive_expiration (or
	// its action) is set too, though a time-limited session ignores both (as in Kasm).
	WarnTimeLimitIgnoresKeepalive = "time_limit_ignores_keepalive_expiration"
)

// Warning is advice about settings that are valid but probably not what the administrator
// wants; a write that produces one still succeeds.
type Warning struct {
	Code     string   `json:"code"`
	Message  string   `json:"message"`
	Settings []string `json:"settings,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// RelationWarnings checks the relations between settings that settings.md lists:
// keepalive_expiration >= 2 × keepalive_interval, and idle_disconnect × 60 > keepalive_interval;
// and it notes that a session_time_limit above 0 makes keepalive_expiration and its action
// ignored, when either of those is set.
// values reports a setting's value and whether it is set. A relation is checked only when at
// least one of its two settings is set; the other then takes its catalog default (and the
// message says so). On a group's own settings this flags what the group itself sets, even
// though a member's effective values may come from other groups; Resolve applies the same
// checks to the effective values, where every setting is present.
func RelationWarnings(values func(name string) (json.RawMessage, bool)) []Warning {
	return relationWarnings(values, nil)
}

// relationSide is one side of a relation: its value in the setting's own unit, in seconds,
// and whether it came from the catalog default.
type relationSide struct {
	name    string
	value   float64
	seconds float64
	dflt    bool
}

func (s relationSide) text() string {
	v := strconv.FormatFloat(s.value, 'f', -1, 64)
	var t string
	if s.name == NameIdleDisconnect {
		t = fmt.Sprintf("%s (%s minutes = %s s", s.name, v, strconv.FormatFloat(s.seconds, 'f', -1, 64))
	} else {
		t = fmt.Sprintf("%s (%s s", s.name, v)
	}
	if s.dflt {
		t += ", catalog default"
	}
	return t + ")"
}

// relationWarnings is RelationWarnings; groupsOf, when not nil, names the groups a setting's
// value came from, for the Groups of the warning.
func relationWarnings(values func(name string) (json.RawMessage, bool), groupsOf func(names ...string) []string) []Warning {
	side := func(name string, scale float64) (relationSide, bool, bool) {
		raw, set := values(name)
		if !set || len(raw) == 0 {
			s, _ := lookup(name)
			raw, set = s.Default, false
		}
		f, ok := parseFloat(trimSpace(raw))
		return relationSide{name: name, value: f, seconds: f * scale, dflt: !set}, set, ok
	}
	exp, expSet, expOK := side(NameKeepaliveExpiration, 1)
	iv, ivSet, ivOK := side(NameKeepaliveInterval, 1)
	idle, idleSet, idleOK := side(NameIdleDisconnect, 60)

	var out []Warning
	add := func(code, msg string, a, b relationSide) {
		w := Warning{Code: code, Message: msg, Settings: []string{a.name, b.name}}
		if groupsOf != nil {
			w.Groups = groupsOf(a.name, b.name)
		}
		out = append(out, w)
	}
	if (expSet || ivSet) && expOK && ivOK && exp.seconds < 2*iv.seconds {
		add(WarnKeepaliveExpiration, fmt.Sprintf("%s should be at least twice %s, or sessions may expire between two keepalives",
			exp.text(), iv.text()), exp, iv)
	}
	if (idleSet || ivSet) && idleOK && ivOK && idle.seconds <= iv.seconds {
		add(WarnIdleDisconnect, fmt.Sprintf("%s should be longer than %s, or idle users are not disconnected in time",
			idle.text(), iv.text()), idle, iv)
	}
	limit, _, limitOK := side(NameSessionTimeLimit, 1)
	_, actionSet := values(NameKeepaliveExpirationAction)
	keepaliveSet := expSet || actionSet
	if groupsOf != nil {
		// Effective values are all present: what counts is whether a group set them.
		keepaliveSet = len(groupsOf(NameKeepaliveExpiration, NameKeepaliveExpirationAction)) > 0
	}
	if keepaliveSet && limitOK && limit.value > 0 {
		w := Warning{Code: WarnTimeLimitIgnoresKeepalive,
			Message: fmt.Sprintf("%s is above 0, so these sessions end at their time limit and ignore %s and keepalive_expiration_action: a time-limited session is never stopped, paused or deleted for a missing keepalive",
				limit.text(), exp.text()),
			Settings: []string{NameSessionTimeLimit, NameKeepaliveExpiration, NameKeepaliveExpirationAction}}
		if groupsOf != nil {
			w.Groups = groupsOf(w.Settings...)
		}
		out = append(out, w)
	}
	return out
}
