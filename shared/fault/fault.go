// Package fault names the few kinds of failure the control plane distinguishes. Each kind maps
// to one HTTP status in exactly one place (httpapi.writeError); scheduled functions use the kind
// to decide between "skip and log" (Invalid) and "retry next tick" (everything else).
package fault

import (
	"errors"
	"fmt"
)

// Kind is a class of failure.
type Kind int

// The kinds, in the order of their HTTP statuses.
const (
	Internal         Kind = iota // a bug or an unexpected failure: 500
	Invalid                      // the caller sent bad input: 400
	Unauthorized                 // no or unknown credentials: 401
	Forbidden                    // credentials that do not allow this: 403
	NotFound                     // the named thing does not exist: 404
	MethodNotAllowed             // the path exists, the method does not: 405
	Conflict                     // the state forbids the action now (a lease held, a foreign execution): 409
	Upstream                     // a dependency answered with an error (Spark, S3, Kafka): 502
	Unavailable                  // a dependency cannot be reached: 503
	Timeout                      // the work did not finish in time: 504
)

func (k Kind) String() string {
	switch k {
	case Invalid:
		return "INVALID_REQUEST"
	case Unauthorized:
		return "UNAUTHORIZED"
	case Forbidden:
		return "FORBIDDEN"
	case NotFound:
		return "NOT_FOUND"
	case MethodNotAllowed:
		return "METHOD_NOT_ALLOWED"
	case Conflict:
		return "CONFLICT"
	case Upstream:
		return "UPSTREAM_ERROR"
	case Unavailable:
		return "UNAVAILABLE"
	case Timeout:
		return "TIMEOUT"
	default:
		return "INTERNAL"
	}
}

// Error is a failure with a kind, a stable code and a message safe to show to a caller.
type Error struct {
	Kind    Kind
	Code    string // stable, machine-readable; defaults to Kind.String()
	Message string // what went wrong, for a person; never contains secrets
	Err     error  // the underlying cause, if any
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a formatted message.
func New(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Code: k.String(), Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error of kind k whose cause is err.
func Wrap(k Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: k, Code: k.String(), Message: fmt.Sprintf(format, args...), Err: err}
}

// WithCode returns a copy of e with a specific code (for example FOREIGN_EXECUTION).
func (e *Error) WithCode(code string) *Error {
	c := *e
	c.Code = code
	return &c
}

// Invalidf is shorthand for New(Invalid, ...).
func Invalidf(format string, args ...any) *Error { return New(Invalid, format, args...) }

// NotFoundf is shorthand for New(NotFound, ...).
func NotFoundf(format string, args ...any) *Error { return New(NotFound, format, args...) }

// Conflictf is shorthand for New(Conflict, ...).
func Conflictf(format string, args ...any) *Error { return New(Conflict, format, args...) }

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Is reports whether err carries kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }
