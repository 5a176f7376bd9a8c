package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"wspolicy/internal/lifecycle"
	"wspolicy/internal/policy"
	"wspolicy/internal/sessions"
)

// sessionRoutes are the routes of sessions. Any key may call them; a user key acts only on its
// own user's sessions, which the handler checks (start, list) or the session service does once
// it knows the owner.
func (s *server) sessionRoutes() []route {
	return []route{
		{"POST /v1/sessions", accessOwner, s.handleStartSession},
		{"GET /v1/sessions", accessOwner, s.handleListSessions},
		{"GET /v1/sessions/{session_id}", accessOwner, s.handleGetSession},
		{"DELETE /v1/sessions/{session_id}", accessOwner, s.sessionAction((*sessions.Service).Delete)},
		{"POST /v1/sessions/{session_id}/keepalive", accessOwner, s.handleKeepalive},
		{"POST /v1/sessions/{session_id}/pause", accessOwner, s.sessionAction((*sessions.Service).Pause)},
		{"POST /v1/sessions/{session_id}/stop", accessOwner, s.sessionAction((*sessions.Service).Stop)},
		{"POST /v1/sessions/{session_id}/resume", accessOwner, s.sessionAction((*sessions.Service).Resume)},
		{"GET /v1/sessions/{session_id}/events", accessOwner, s.handleSessionEvents},
		{"POST /v1/sessions/{session_id}/exec", accessOwner, s.handleExec},
	}
}

// sessionPath is the URL of a session.
func sessionPath(id string) string { return pathPrefixV1 + "/sessions/" + id }

// sessionService is the configured session service; without one (an API built for the
// directory routes only) the session routes answer 503.
func (s *server) sessionService() (*sessions.Service, error) {
	if s.sessions == nil {
		return nil, policy.Errorf(policy.KindUnavailable, policy.CodeSessionsUnavailable, "this server runs without the session service")
	}
	return s.sessions, nil
}

// actorOf is the caller of r as the session lifecycle sees it.
func actorOf(r *http.Request) lifecycle.Actor {
	c := callerOf(r)
	if c.isAdmin() {
		return lifecycle.AdminActor()
	}
	return lifecycle.UserActor(c.UserID)
}

// startSessionBody is the optional body of POST /v1/sessions. user_id defaults to the key's
// user, image_id to the user's effective default_image, container to true, reuse to false.
type startSessionBody struct {
	UserID    *string `json:"user_id"`
	ImageID   *string `json:"image_id"`
	Container *bool   `json:"container"`
	Reuse     *bool   `json:"reuse"`
}

func (s *server) handleStartSession(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	var body startSessionBody
	if err := decodeJSONBody(w, r, &body, false); err != nil {
		return err
	}
	userID := callerOf(r).UserID
	if body.UserID != nil && *body.UserID != "" {
		userID = *body.UserID
	}
	if requireSelfOrAdmin(r, userID) != nil {
		return &policy.Error{Kind: policy.KindForbidden, Code: policy.CodeForbidden, Field: "user_id",
			Message: "a user key may start sessions only for its own user"}
	}
	imageID := ""
	if body.ImageID != nil {
		imageID = *body.ImageID
	}
	container := true
	if body.Container != nil {
		container = *body.Container
	}
	reuse := body.Reuse != nil && *body.Reuse
	sess, reused, err := svc.StartOrReuse(r.Context(), sessions.StartRequest{UserID: userID, ImageID: imageID, Container: container, Reuse: reuse})
	if err != nil {
		return err
	}
	w.Header().Set("Location", sessionPath(sess.SessionID))
	if reused {
		// The /go flow found the user's live session of the image: 200, nothing started.
		writeJSON(w, http.StatusOK, sess)
		return nil
	}
	writeJSON(w, http.StatusCreated, sess)
	return nil
}

// sessionListView is the answer of GET /v1/sessions: whose sessions they are (absent when an
// administrator lists every session), one page, and the token of the next page if any.
type sessionListView struct {
	UserID        string             `json:"user_id,omitempty"`
	Sessions      []sessions.Session `json:"sessions"`
	NextPageToken string             `json:"next_page_token,omitempty"`
}

func (s *server) handleListSessions(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := lifecycle.ListFilter{
		UserID:    q.Get("user_id"),
		Status:    lifecycle.Status(q.Get("status")),
		PageToken: q.Get("page_token"),
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > lifecycle.MaxPageSize {
			return policy.FieldErrorf("limit", policy.CodeInvalidLimit, "limit must be a whole number from 1 to %d", lifecycle.MaxPageSize)
		}
		f.Limit = n
	}
	actor := actorOf(r)
	if !actor.Admin && f.UserID == "" {
		f.UserID = actor.UserID
	}
	p, err := svc.List(r.Context(), actor, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sessionListView{UserID: f.UserID, Sessions: p.Sessions, NextPageToken: p.NextPageToken})
	return nil
}

func (s *server) handleGetSession(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	sess, err := svc.Get(r.Context(), actorOf(r), r.PathValue("session_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sess)
	return nil
}

// keepaliveBody is the optional body of POST /v1/sessions/{session_id}/keepalive.
type keepaliveBody struct {
	IdleSeconds *float64 `json:"idle_seconds"`
}

// handleKeepalive is the hot path: the key comes from the cache and the service makes one
// conditional write, so a keepalive costs one database request in steady state. Nothing may
// be added here that reads the database.
func (s *server) handleKeepalive(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	var body keepaliveBody
	if err := decodeJSONBody(w, r, &body, false); err != nil {
		return err
	}
	res, err := svc.Keepalive(r.Context(), actorOf(r), r.PathValue("session_id"), body.IdleSeconds)
	if err != nil {
		return err
	}
	b, ok := appendKeepaliveJSON(make([]byte, 0, 160), res)
	if !ok {
		writeJSON(w, http.StatusOK, res)
		return nil
	}
	writeJSONBytes(w, http.StatusOK, b)
	return nil
}

// appendKeepaliveJSON writes the keepalive's answer as writeJSON would (field order, time
// format, the final newline) without reflection: it is written on every keepalive. ok false
// (a time json cannot write, outside years 0–9999) leaves it to writeJSON.
func appendKeepaliveJSON(b []byte, res sessions.KeepaliveResponse) ([]byte, bool) {
	validYear := func(t time.Time) bool { y := t.Year(); return y >= 0 && y <= 9999 }
	if !validYear(res.ExpiresAt) || (res.TimeLimitExpiresAt != nil && !validYear(*res.TimeLimitExpiresAt)) {
		return nil, false
	}
	b = append(b, `{"expires_at":"`...)
	b = res.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","keepalive_interval":`...)
	b = strconv.AppendInt(b, res.KeepaliveInterval, 10)
	b = append(b, `,"usage_reached":`...)
	b = strconv.AppendBool(b, res.UsageReached)
	b = append(b, `,"disconnect":`...)
	b = strconv.AppendBool(b, res.Disconnect)
	b = append(b, `,"time_limit_expires_at":`...)
	if t := res.TimeLimitExpiresAt; t != nil {
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	return append(b, "}\n"...), true
}

// serviceAction is a user or admin action of the session service, as a method expression.
type serviceAction func(svc *sessions.Service, ctx context.Context, actor lifecycle.Actor, sessionID string) (sessions.Session, error)

// sessionAction is the handler of an action: it answers with the session as it is afterwards
// (200 and unchanged when it was already in the state asked for).
func (s *server) sessionAction(act serviceAction) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		svc, err := s.sessionService()
		if err != nil {
			return err
		}
		sess, err := act(svc, r.Context(), actorOf(r), r.PathValue("session_id"))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, sess)
		return nil
	}
}

// sessionEventsView is the answer of GET /v1/sessions/{session_id}/events, oldest first.
type sessionEventsView struct {
	SessionID string            `json:"session_id"`
	Events    []lifecycle.Event `json:"events"`
}

func (s *server) handleSessionEvents(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	id := r.PathValue("session_id")
	evs, err := svc.Events(r.Context(), actorOf(r), id)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []lifecycle.Event{}
	}
	writeJSON(w, http.StatusOK, sessionEventsView{SessionID: id, Events: evs})
	return nil
}

// execView is the answer of POST /v1/sessions/{session_id}/exec: the session and the
// exec_command event the provisioning layer receives.
type execView struct {
	Session sessions.Session `json:"session"`
	Event   lifecycle.Event  `json:"event"`
}

// handleExec forwards a command to the provisioning layer as an exec_command session event
// (202: accepted, run elsewhere; wspolicy never sees its output).
func (s *server) handleExec(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	var body lifecycle.ExecConfig
	if err := decodeJSONBody(w, r, &body, true); err != nil {
		return err
	}
	sess, ev, err := svc.Exec(r.Context(), actorOf(r), r.PathValue("session_id"), body)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, execView{Session: sess, Event: ev})
	return nil
}
