package httpapi

import (
	"net/http"
	"time"

	"wspolicy/internal/policy"
	"wspolicy/internal/sweep"
)

// sweepRoutes are the routes of sweeps: an administrator runs one now, or a dry run.
func (s *server) sweepRoutes() []route {
	return []route{
		{"POST /v1/sweeps", accessAdmin, s.handleSweep},
	}
}

// DefaultSweepBudget bounds a sweep run through the API: it stops taking up work after this
// long and answers with what it did (report.cut true), well inside API Gateway's 30-second
// integration timeout and the api function's 29 seconds; the scheduled sweeps do the rest.
const DefaultSweepBudget = 20 * time.Second

// sweepBody is the optional body of POST /v1/sweeps.
type sweepBody struct {
	DryRun *bool `json:"dry_run"`
}

// handleSweep runs one sweep in the request and answers with its report. Overlapping with the
// scheduled sweeps is safe: every change a sweep makes is guarded, so each happens once.
func (s *server) handleSweep(w http.ResponseWriter, r *http.Request) error {
	if s.sweeper == nil {
		return policy.Errorf(policy.KindUnavailable, policy.CodeSweepsUnavailable, "this server runs without the sweeper")
	}
	var body sweepBody
	if err := decodeJSONBody(w, r, &body, false); err != nil {
		return err
	}
	rep, err := s.sweeper.Run(r.Context(), sweep.Options{DryRun: body.DryRun != nil && *body.DryRun, Budget: s.sweepFor})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}
