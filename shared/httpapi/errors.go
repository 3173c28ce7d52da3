package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/logwise/controlplane/shared/fault"
)

// errorBody is the error envelope: {"error":{"code","message","cause"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
}

var errPanic = fault.New(fault.Internal, "internal error")

// statusOf is the one mapping from failure kinds to HTTP statuses.
func statusOf(k fault.Kind) int {
	switch k {
	case fault.Invalid:
		return http.StatusBadRequest
	case fault.Unauthorized:
		return http.StatusUnauthorized
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.Upstream:
		return http.StatusBadGateway
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	case fault.Timeout:
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

// Redactor masks every secret the deployment has read so far (setup's redactor, which learns
// secrets as they are read).
type Redactor interface {
	String(s string) string
}

// writeError writes err as the error envelope with the status of its kind. Internal errors
// are logged and their text withheld from the caller; other kinds say what went wrong, with
// every known secret masked.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	fe := asFault(err)
	if fe.Kind == fault.Internal && s.log != nil && err != errPanic {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	writeJSON(w, statusOf(fe.Kind), errorBody{Error: s.detail(fe)})
}

// detail is detailOf with every known secret masked, for answers to callers.
func (s *Server) detail(fe *fault.Error) errorDetail {
	d := detailOf(fe)
	if s.deps.Redactor != nil {
		d.Message, d.Cause = s.deps.Redactor.String(d.Message), s.deps.Redactor.String(d.Cause)
	}
	return d
}

// asFault classifies any error as a *fault.Error.
func asFault(err error) *fault.Error {
	var fe *fault.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.As(err, &mbe):
		return fault.Invalidf("request body is larger than %d bytes", mbe.Limit)
	case errors.Is(err, context.DeadlineExceeded):
		return fault.Wrap(fault.Timeout, err, "the request did not finish in time; long operations return 202 with an id")
	case errors.Is(err, context.Canceled):
		return fault.Wrap(fault.Timeout, err, "the request was canceled")
	}
	return fault.Wrap(fault.Internal, err, "internal error")
}

// detailOf is the envelope's content: internal errors say only that they happened.
func detailOf(fe *fault.Error) errorDetail {
	detail := errorDetail{Code: fe.Code, Message: fe.Message}
	if fe.Code == "" {
		detail.Code = fe.Kind.String()
	}
	if fe.Err != nil && fe.Kind != fault.Internal {
		detail.Cause = fe.Err.Error()
	}
	if fe.Kind == fault.Internal {
		detail.Message = "internal error"
		detail.Cause = "see the control plane's logs for this request"
	}
	if detail.Cause == "" {
		detail.Cause = detail.Message
	}
	return detail
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeData writes the success envelope {"data": v}.
func writeData(w http.ResponseWriter, status int, v any) {
	writeJSON(w, status, map[string]any{"data": v})
}

// message is Logwise's DefaultSuccessResponse.
type message struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
}

func success(format string, args ...any) message {
	return message{Success: true, Message: fmt.Sprintf(format, args...)}
}

func notFoundRoute(r *http.Request) error {
	return fault.NotFoundf("no route for %s %s", r.Method, r.URL.Path).WithCode("ROUTE_NOT_FOUND")
}

// unavailable is returned by routes whose service is not configured in this deployment.
func unavailable(what string) error {
	return fault.New(fault.Unavailable, "%s is not configured in this deployment", what).WithCode("NOT_CONFIGURED")
}
