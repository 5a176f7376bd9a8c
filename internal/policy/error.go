// Package policy holds the domain types of the session-policy control plane and the one error
// type every layer uses. It imports no AWS package.
package policy

import (
	"errors"
	"fmt"
)

// Kind classifies an error; the HTTP layer maps each kind to one status code.
type Kind string

// The error kinds. Each maps to exactly one HTTP status in httpapi.
const (
	KindInvalid      Kind = "invalid"      // 400
	KindUnauthorized Kind = "unauthorized" // 401
	KindForbidden    Kind = "forbidden"    // 403
	KindNotFound     Kind = "not_found"    // 404
	KindConflict     Kind = "conflict"     // 409
	KindGone         Kind = "gone"         // 410
	KindPrecondition Kind = "precondition" // 412
	KindUnavailable  Kind = "unavailable"  // 503
	KindInternal     Kind = "internal"     // 500, never for bad input
)

// Error is the single error type of the domain. Code is the snake_case code shown to API
// clients (for example "max_sessions_reached"); Field names the offending input when there is one.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of the given kind and code with a formatted message.
func Errorf(kind Kind, code string, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf builds an invalid-input Error that names the offending field.
func FieldErrorf(field, code string, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf reports the kind of err: the kind of the first *Error in its chain, or KindInternal.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// CodeOf reports the API code of err, defaulting to its kind.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		if e.Code != "" {
			return e.Code
		}
		return string(e.Kind)
	}
	return string(KindInternal)
}

// IsKind reports whether err is a domain error of kind k.
func IsKind(err error, k Kind) bool { return err != nil && KindOf(err) == k }
