package spark

import (
	"errors"
	"fmt"
	"strings"

	"github.com/logwise/controlplane/shared/fault"
)

// notAlivePrefix starts every reply of a master that is not ALIVE
// (Utils.BACKUP_STANDALONE_MASTER_PREFIX).
const notAlivePrefix = "Current state is not alive"

// ErrRESTDisabled means the REST submission port refused the connection: the master's REST
// server is probably off (spark.master.rest.enabled defaults to false before Spark 4.1).
var ErrRESTDisabled = fault.New(fault.Unavailable,
	"connection refused on the Spark REST submission port: the REST server is probably disabled "+
		"(set spark.master.rest.enabled=true on the master)").WithCode("SPARK_REST_DISABLED")

// ErrStandby means every configured master answered that it is not ALIVE (standby or
// recovering), so nothing can be submitted, killed or queried now.
var ErrStandby = fault.New(fault.Unavailable, "no Spark master is ALIVE (standby or recovering)").
	WithCode("SPARK_MASTER_STANDBY")

// ErrUnreachable means no configured master could be reached.
var ErrUnreachable = fault.New(fault.Unavailable, "no Spark master could be reached").WithCode("SPARK_MASTER_UNREACHABLE")

// ErrOutcomeUnknown means a create request was sent but no answer came back (timeout or a
// broken connection): the driver may or may not exist. Callers must re-read the master's state
// before trying again; the client never retries such a POST itself.
var ErrOutcomeUnknown = fault.New(fault.Timeout, "Spark did not answer the submission; it may have been accepted").
	WithCode("SPARK_SUBMIT_OUTCOME_UNKNOWN")

// ErrAlreadyFinished means a kill named a driver that has finished or never existed.
var ErrAlreadyFinished = fault.New(fault.NotFound, "driver has already finished or does not exist").
	WithCode("SPARK_DRIVER_FINISHED")

// ErrForbidden means the REST server's auth filter (spark.master.rest.filters) refused the call.
var ErrForbidden = fault.New(fault.Forbidden, "the Spark REST server refused the request (auth filter)").
	WithCode("SPARK_REST_FORBIDDEN")

// RejectedError is a reply with success:false (or an ErrorResponse): Spark refused the request
// and said why in Message.
type RejectedError struct {
	Action       string // the REST action: create, kill, status, readyz, json
	Master       string // the base URL that answered
	SubmissionID string
	HTTPStatus   int
	Message      string // Spark's message, trimmed of stack frames
}

func (e *RejectedError) Error() string {
	id := ""
	if e.SubmissionID != "" {
		id = " " + e.SubmissionID
	}
	return fmt.Sprintf("spark %s%s at %s refused (HTTP %d): %s", e.Action, id, e.Master, e.HTTPStatus, e.Message)
}

// Is lets errors.Is match the sentinel that the message implies.
func (e *RejectedError) Is(target error) bool {
	switch target {
	case ErrStandby:
		return strings.Contains(e.Message, notAlivePrefix)
	case ErrAlreadyFinished:
		return strings.Contains(e.Message, "has already finished or does not exist")
	}
	return false
}

// rejected wraps a RejectedError in the fault kind a caller needs: Upstream for Spark's
// refusals, Invalid for a 400 (a malformed request is the caller's bug or bad input),
// Unavailable for a non-ALIVE master.
func rejected(e *RejectedError) error {
	kind := fault.Upstream
	switch {
	case strings.Contains(e.Message, notAlivePrefix):
		kind = fault.Unavailable
	case strings.Contains(e.Message, "has already finished or does not exist"):
		kind = fault.NotFound
	case e.HTTPStatus == 400:
		kind = fault.Invalid
	}
	return fault.Wrap(kind, e, "spark %s", e.Action)
}

// shortMessage keeps the first line of a Spark message and at most 500 characters: the rest
// is a Java stack trace.
func shortMessage(m string) string {
	if i := strings.Index(m, "\n\tat "); i >= 0 {
		m = m[:i]
	}
	m = strings.TrimSpace(m)
	if len(m) > 500 {
		m = m[:500] + "..."
	}
	return m
}

// isNotAlive reports whether err says a master is not ALIVE.
func isNotAlive(err error) bool { return errors.Is(err, ErrStandby) }
