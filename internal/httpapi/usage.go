package httpapi

import (
	"net/http"

	"wspolicy/internal/usage"
)

// usageRoutes are the routes of usage limits: a user's own key or an admin key.
func (s *server) usageRoutes() []route {
	return []route{
		{"GET /v1/users/{user_id}/usage", accessSelfUser, s.handleUsage},
	}
}

// usageView is the answer of GET /v1/users/{user_id}/usage: whose it is and the report of the
// budget a new session of theirs would be charged to.
type usageView struct {
	UserID string `json:"user_id"`
	usage.Report
}

func (s *server) handleUsage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sessionService()
	if err != nil {
		return err
	}
	userID := r.PathValue("user_id")
	rep, err := svc.Usage(r.Context(), actorOf(r), userID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, usageView{UserID: userID, Report: rep})
	return nil
}
