package httpapi

import (
	"context"
	"errors"
	"net/http"

	"wspolicy/internal/policy"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// statusOf is the one place that maps an error kind to an HTTP status.
func statusOf(k policy.Kind) int {
	switch k {
	case policy.KindInvalid:
		return http.StatusBadRequest
	case policy.KindUnauthorized:
		return http.StatusUnauthorized
	case policy.KindForbidden:
		return http.StatusForbidden
	case policy.KindNotFound:
		return http.StatusNotFound
	case policy.KindConflict:
		return http.StatusConflict
	case policy.KindGone:
		return http.StatusGone
	case policy.KindPrecondition:
		return http.StatusPreconditionFailed
	case policy.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// errorResponse turns err into a status and body. Internal errors get a generic message: their
// detail goes to the log, never to the client. A timeout or cancelled request is reported as
// unavailable (retry later), not as an internal error.
func errorResponse(err error) (int, errorBody) {
	var pe *policy.Error
	switch {
	case errors.As(err, &pe) && pe.Kind != policy.KindInternal:
		msg := pe.Message
		if msg == "" {
			msg = pe.Error()
		}
		code := pe.Code
		if code == "" {
			code = string(pe.Kind)
		}
		return statusOf(pe.Kind), errorBody{errorDetail{Code: code, Message: msg, Field: pe.Field}}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, errorBody{errorDetail{Code: policy.CodeUnavailable, Message: "the request timed out; retry later"}}
	default:
		return http.StatusInternalServerError, errorBody{errorDetail{Code: policy.CodeInternal, Message: "internal error"}}
	}
}

// writeError writes err as a JSON error response. Server-side failures (5xx) are attached to
// the request's log line with their full detail.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := errorResponse(err)
	if status >= 500 {
		if info := requestInfoFrom(r.Context()); info != nil {
			info.err = err
		}
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, body)
}
