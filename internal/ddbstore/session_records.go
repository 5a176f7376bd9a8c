package ddbstore

import (
	"encoding/json"
	"math"
	"time"

	"wspolicy/internal/lifecycle"
)

// sessionRecord is a session item. Times are epoch milliseconds so that update expressions can
// add to them; time_limit_at_ms and usage_deadline_ms are always present (0 = none) because the
// keepalive's condition compares them. DueShard and DueAt exist only while something is due.
// The session's client settings and launch configuration are on its launch item
// (sessionLaunchRecord), not here: a session read from an index or returned by a write has none.
type sessionRecord struct {
	PK       string `dynamodbav:"PK"`
	SK       string `dynamodbav:"SK"`
	GSI1PK   string `dynamodbav:"GSI1PK"`
	GSI1SK   string `dynamodbav:"GSI1SK"`
	DueShard string `dynamodbav:"DueShard,omitempty"`
	DueAt    int64  `dynamodbav:"DueAt,omitempty"`

	SessionID string `dynamodbav:"session_id"`
	UserID    string `dynamodbav:"user_id"`
	ImageID   string `dynamodbav:"image_id"`
	Container bool   `dynamodbav:"container"`
	Status    string `dynamodbav:"status"`
	Connected bool   `dynamodbav:"connected"`

	CreatedAtMs       int64  `dynamodbav:"created_at_ms"`
	LastKeepaliveAtMs int64  `dynamodbav:"last_keepalive_at_ms"`
	ExpiresAtMs       int64  `dynamodbav:"expires_at_ms"`
	ExpirationReason  string `dynamodbav:"expiration_reason"`

	KaMs            int64   `dynamodbav:"ka_ms"`
	KaAction        string  `dynamodbav:"ka_action"`
	KaIntervalS     int64   `dynamodbav:"ka_interval_s"`
	IdleDisconnectS float64 `dynamodbav:"idle_disconnect_s"`
	TimeLimitAtMs   int64   `dynamodbav:"time_limit_at_ms"`
	TimeLimitWarnMs int64   `dynamodbav:"time_limit_warn_at_ms"`
	UsageDeadlineMs int64   `dynamodbav:"usage_deadline_ms"`
	Budget          string  `dynamodbav:"budget"`
	SettingsRev     int64   `dynamodbav:"settings_rev"`
	EventSeq        int64   `dynamodbav:"event_seq"`
	TTL             int64   `dynamodbav:"TTL,omitempty"`
}

// sessionLaunchRecord is a session's launch item: the client_settings and launch JSON
// documents fixed at the start (about 2 KB together), kept off the session item so that every
// keepalive — a rewrite of the session item, and of its Due index copy — stays one write
// unit. It is written in the start transaction, carries no index attribute (no GSI1PK, no
// DueShard/DueAt), and gets the session's TTL in the transaction that deletes the session, so
// both go together.
type sessionLaunchRecord struct {
	PK             string `dynamodbav:"PK"`
	SK             string `dynamodbav:"SK"`
	ClientSettings string `dynamodbav:"client_settings,omitempty"`
	Launch         string `dynamodbav:"launch,omitempty"`
	TTL            int64  `dynamodbav:"TTL,omitempty"`
}

func newSessionLaunchRecord(s lifecycle.Session) sessionLaunchRecord {
	k := sessionLaunchKey(s.ID)
	return sessionLaunchRecord{PK: k.PK, SK: k.SK, ClientSettings: string(s.ClientSettings), Launch: string(s.Launch)}
}

// addTo puts the documents on s.
func (r sessionLaunchRecord) addTo(s *lifecycle.Session) {
	if r.ClientSettings != "" {
		s.ClientSettings = json.RawMessage(r.ClientSettings)
	}
	if r.Launch != "" {
		s.Launch = json.RawMessage(r.Launch)
	}
}

// Session attribute names used in expressions.
const (
	sessAttrUserID          = "user_id"
	sessAttrStatus          = "status"
	sessAttrConnected       = "connected"
	sessAttrLastKeepalive   = "last_keepalive_at_ms"
	sessAttrKeepaliveToken  = "ka_token"
	sessAttrExpiresAt       = "expires_at_ms"
	sessAttrReason          = "expiration_reason"
	sessAttrKaMs            = "ka_ms"
	sessAttrKaAction        = "ka_action"
	sessAttrKaInterval      = "ka_interval_s"
	sessAttrIdleDisconnect  = "idle_disconnect_s"
	sessAttrTimeLimitAt     = "time_limit_at_ms"
	sessAttrTimeLimitWarnAt = "time_limit_warn_at_ms"
	sessAttrUsageDeadline   = "usage_deadline_ms"
	sessAttrCreatedAt       = "created_at_ms"
	sessAttrBudget          = "budget"
	sessAttrSettingsRev     = "settings_rev"
	sessAttrEventSeq        = "event_seq"
	userAttrActiveSessions  = "active_sessions"
	// userAttrSessionIDs is the string set of the user's live sessions (not yet deleted): kept
	// in the transactions that start and end sessions, beside active_sessions, so that the
	// preview of a group change reads the sessions of many users with BatchGetItem alone.
	userAttrSessionIDs = "session_ids"
)

// msOf is t in epoch milliseconds, 0 for the zero time.
func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// timeOfMs is the UTC time of epoch milliseconds ms, the zero time for 0.
func timeOfMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ttlOf is the TTL attribute value (epoch seconds) for t, 0 for the zero time.
func ttlOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func newSessionRecord(s lifecycle.Session) sessionRecord {
	k := sessionKey(s.ID)
	r := sessionRecord{
		PK: k.PK, SK: k.SK,
		GSI1PK: userSessionsPK(s.UserID), GSI1SK: userSessionSK(s.CreatedAt, s.ID),
		SessionID: s.ID, UserID: s.UserID, ImageID: s.ImageID, Container: s.Container,
		Status: string(s.Status), Connected: s.Connected,
		CreatedAtMs: msOf(s.CreatedAt), LastKeepaliveAtMs: msOf(s.LastKeepaliveAt), ExpiresAtMs: msOf(s.ExpiresAt),
		ExpirationReason: s.ExpirationReason,
		KaMs:             s.Lifetime.KeepaliveExpiration.Milliseconds(),
		KaAction:         string(s.Lifetime.Action),
		KaIntervalS:      int64(s.Lifetime.KeepaliveInterval / time.Second),
		IdleDisconnectS:  s.Lifetime.IdleDisconnect.Seconds(),
		TimeLimitAtMs:    msOf(s.TimeLimitAt), TimeLimitWarnMs: msOf(s.TimeLimitWarnAt),
		UsageDeadlineMs: msOf(s.UsageDeadline), Budget: s.Budget,
		SettingsRev: s.SettingsRev, EventSeq: s.EventSeq,
	}
	if !s.DueAt.IsZero() {
		r.DueShard, r.DueAt = dueShard(s.ID), msOf(s.DueAt)
	}
	return r
}

func (r sessionRecord) session() lifecycle.Session {
	s := lifecycle.Session{
		ID: r.SessionID, UserID: r.UserID, ImageID: r.ImageID, Container: r.Container,
		Status: lifecycle.Status(r.Status), Connected: r.Connected,
		CreatedAt: timeOfMs(r.CreatedAtMs), LastKeepaliveAt: timeOfMs(r.LastKeepaliveAtMs), ExpiresAt: timeOfMs(r.ExpiresAtMs),
		ExpirationReason: r.ExpirationReason,
		Lifetime: lifecycle.Lifetime{
			KeepaliveExpiration: time.Duration(r.KaMs) * time.Millisecond,
			Action:              lifecycle.Action(r.KaAction),
			KeepaliveInterval:   time.Duration(r.KaIntervalS) * time.Second,
			IdleDisconnect:      time.Duration(math.Round(r.IdleDisconnectS * float64(time.Second))),
		},
		TimeLimitAt: timeOfMs(r.TimeLimitAtMs), TimeLimitWarnAt: timeOfMs(r.TimeLimitWarnMs),
		UsageDeadline: timeOfMs(r.UsageDeadlineMs), Budget: r.Budget,
		SettingsRev: r.SettingsRev, EventSeq: r.EventSeq, DueAt: timeOfMs(r.DueAt),
	}
	if r.TimeLimitAtMs != 0 {
		s.Lifetime.TimeLimit = time.Duration(r.TimeLimitAtMs-r.CreatedAtMs) * time.Millisecond
	}
	return s
}

// eventRetention is how long an event item is kept (TTL) after it happened: long enough for
// any session's history to be read, and the publisher has long since sent it.
const eventRetention = 90 * 24 * time.Hour

// eventRecord is a session event: the outbox item the stream publisher sends.
type eventRecord struct {
	PK           string `dynamodbav:"PK"`
	SK           string `dynamodbav:"SK"`
	EventID      string `dynamodbav:"event_id"`
	SessionID    string `dynamodbav:"session_id"`
	UserID       string `dynamodbav:"user_id"`
	Seq          int64  `dynamodbav:"seq"`
	Type         string `dynamodbav:"type"`
	Actor        string `dynamodbav:"actor"`
	Reason       string `dynamodbav:"reason"`
	AtMs         int64  `dynamodbav:"at_ms"`
	StatusBefore string `dynamodbav:"status_before"`
	StatusAfter  string `dynamodbav:"status_after"`
	Detail       string `dynamodbav:"detail,omitempty"`
	TTL          int64  `dynamodbav:"TTL"`
}

func newEventRecord(e lifecycle.Event) eventRecord {
	k := sessionEventKey(e.SessionID, e.Seq)
	return eventRecord{
		PK: k.PK, SK: k.SK, EventID: e.EventID, SessionID: e.SessionID, UserID: e.UserID, Seq: e.Seq,
		Type: string(e.Type), Actor: e.Actor, Reason: e.Reason, AtMs: msOf(e.At),
		StatusBefore: string(e.StatusBefore), StatusAfter: string(e.StatusAfter),
		Detail: string(e.Detail), TTL: ttlOf(e.At.Add(eventRetention)),
	}
}

func (r eventRecord) event() lifecycle.Event {
	e := lifecycle.Event{
		EventID: r.EventID, SessionID: r.SessionID, UserID: r.UserID, Seq: r.Seq,
		Type: lifecycle.EventType(r.Type), Actor: r.Actor, Reason: r.Reason, At: timeOfMs(r.AtMs),
		StatusBefore: lifecycle.Status(r.StatusBefore), StatusAfter: lifecycle.Status(r.StatusAfter),
	}
	if r.Detail != "" {
		e.Detail = json.RawMessage(r.Detail)
	}
	return e
}

// activeSessionsRecord reads the session count off a user item's old image.
type activeSessionsRecord struct {
	UserID         string `dynamodbav:"user_id"`
	Deleting       bool   `dynamodbav:"deleting"`
	ActiveSessions int64  `dynamodbav:"active_sessions"`
}

// resyncRecord is a re-sync marker: settings that feed lifetime values changed for a group or a
// user, and the sweep must bring their live sessions up to date.
type resyncRecord struct {
	PK   string `dynamodbav:"PK"`
	SK   string `dynamodbav:"SK"`
	Kind string `dynamodbav:"kind"`
	ID   string `dynamodbav:"id"`
	AtMs int64  `dynamodbav:"at_ms"`
}
