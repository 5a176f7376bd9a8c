package httpapi

import (
	"net/http"

	"wspolicy/internal/policy"
)

// metricsRoutes serve the process's operational figures to administrators.
func (s *server) metricsRoutes() []route {
	return []route{
		{"GET /v1/metrics", accessAdmin, s.handleMetrics},
	}
}

// handleMetrics answers with the totals since the server started, as JSON (see
// metrics.Snapshot). Only the local server has them: on AWS every function writes its figures
// to CloudWatch, and one api instance's totals would mislead.
func (s *server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	if s.metrics == nil {
		return policy.Errorf(policy.KindUnavailable, policy.CodeMetricsUnavailable,
			"this server keeps no metrics; on AWS they are in CloudWatch (the stack's dashboard)")
	}
	writeJSON(w, http.StatusOK, s.metrics.Snapshot(s.clock.Now()))
	return nil
}
