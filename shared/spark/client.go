package spark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

// ProtocolVersion is the REST submission protocol version in every path.
const ProtocolVersion = "v1"

// DefaultTimeout bounds each request, as Spark's own client does (10 s).
const DefaultTimeout = 10 * time.Second

// Endpoint is one master: its REST submission base URL (http://host:6066) and its web UI base
// URL (http://host:8080). They are configured, never inferred from the RPC port.
type Endpoint struct {
	RestURL string
	WebURL  string
}

// Config says how to reach a cluster.
type Config struct {
	// Masters are tried in order; standby and unreachable masters are skipped.
	Masters []Endpoint
	// HTTP is the client to use (default: a new http.Client).
	HTTP *http.Client
	// Timeout bounds each request (default DefaultTimeout); ctx may bound it further.
	Timeout time.Duration
	// BearerToken, when set, is sent as "Authorization: Bearer <token>" for servers with
	// the JWS auth filter (spark.master.rest.filters, Spark 4.0+).
	BearerToken string
}

// ConfigFrom derives the endpoints of a tenant's masters: http://<host>:<restPort> and
// http://<host>:<webPort> for each of MasterHosts (a port given in an entry is the RPC port
// and is ignored here). RestURL and WebURL, comma-separated lists in master order, override
// the derived URLs.
func ConfigFrom(s config.Spark) Config {
	hosts := s.MasterHosts
	if len(hosts) == 0 && s.SparkMasterHost != "" {
		hosts = []string{s.SparkMasterHost}
	}
	rests, webs := splitList(s.RestURL), splitList(s.WebURL)
	n := max(len(hosts), len(rests), len(webs))
	restPort, webPort := s.RestPort, s.WebPort
	if restPort == 0 {
		restPort = 6066
	}
	if webPort == 0 {
		webPort = 8080
	}
	var c Config
	for i := range n {
		var e Endpoint
		if i < len(hosts) {
			h := hostOnly(hosts[i])
			e.RestURL = "http://" + net.JoinHostPort(h, strconv.Itoa(restPort))
			e.WebURL = "http://" + net.JoinHostPort(h, strconv.Itoa(webPort))
		}
		if i < len(rests) {
			e.RestURL = rests[i]
		}
		if i < len(webs) {
			e.WebURL = webs[i]
		}
		c.Masters = append(c.Masters, e)
	}
	return c
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimRight(strings.TrimSpace(p), "/"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// hostOnly strips a port from host or host:port (and brackets from IPv6 literals).
func hostOnly(h string) string {
	h = strings.TrimSpace(h)
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

// Client talks to the masters of one cluster. It is safe for concurrent use.
type Client struct {
	masters []Endpoint
	http    *http.Client
	timeout time.Duration
	token   string
}

// New returns a client for c.
func New(c Config) *Client {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{}
	}
	t := c.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return &Client{masters: c.Masters, http: hc, timeout: t, token: c.BearerToken}
}

// reply is the union of the REST protocol's response messages.
type reply struct {
	Action                 string   `json:"action"`
	Message                string   `json:"message"`
	ServerSparkVersion     string   `json:"serverSparkVersion"`
	Success                *bool    `json:"success"`
	SubmissionID           string   `json:"submissionId"`
	DriverState            string   `json:"driverState"`
	WorkerID               string   `json:"workerId"`
	WorkerHostPort         string   `json:"workerHostPort"`
	HighestProtocolVersion string   `json:"highestProtocolVersion"`
	UnknownFields          []string `json:"unknownFields"`
}

func (r reply) ok() bool { return r.Success != nil && *r.Success }

// transportError is a request that got no HTTP answer.
type transportError struct {
	err         error
	notSent     bool // the connection was never made: safe to try another master
	connRefused bool // the port actively refused the connection
}

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// call sends one request to one URL and returns the HTTP status and body.
func (c *Client) call(ctx context.Context, method, u string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fault.Wrap(fault.Invalid, err, "spark: bad URL %s", u)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("charset", "utf-8")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, &transportError{err: err, notSent: notSent(err), connRefused: errors.Is(err, syscall.ECONNREFUSED)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, nil, &transportError{err: err}
	}
	return resp.StatusCode, b, nil
}

// notSent reports whether the connection was refused or never made (nothing was sent).
func notSent(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && !op.Timeout()
}

// parseReply reads a REST reply. A non-200 answer becomes a RejectedError carrying Spark's
// message (or the raw text of a non-JSON body).
func parseReply(action, master, id string, status int, body []byte) (reply, error) {
	var r reply
	jsonErr := json.Unmarshal(body, &r)
	if status == http.StatusForbidden {
		return r, fmt.Errorf("spark %s at %s: %w", action, master, ErrForbidden)
	}
	if status != http.StatusOK {
		msg := r.Message
		if jsonErr != nil || msg == "" {
			msg = strings.TrimSpace(string(body))
			if len(msg) > 300 {
				msg = msg[:300] + "..."
			}
		}
		if status == 468 {
			msg = "unknown protocol version (server speaks " + r.HighestProtocolVersion + "): " + msg
		}
		return r, rejected(&RejectedError{Action: action, Master: master, SubmissionID: id, HTTPStatus: status, Message: shortMessage(msg)})
	}
	if jsonErr != nil {
		return r, fault.Wrap(fault.Upstream, jsonErr, "spark %s at %s: reply is not JSON", action, master)
	}
	return r, nil
}

// attempts collects why each master failed, to explain a failure over all of them.
type attempts struct {
	details            []string
	standby, disabled  int
	unreachable, total int
	last               error
}

func (a *attempts) add(master string, err error, restPort bool) {
	a.total++
	a.last = err
	var te *transportError
	switch {
	case errors.As(err, &te) && te.connRefused && restPort:
		a.disabled++
		a.details = append(a.details, master+": connection refused")
	case errors.As(err, &te):
		a.unreachable++
		a.details = append(a.details, master+": "+te.Error())
	case isNotAlive(err):
		a.standby++
		a.details = append(a.details, master+": not alive")
	default:
		a.details = append(a.details, master+": "+err.Error())
	}
}

// err summarises: every master refused the REST port → ErrRESTDisabled; any standby →
// ErrStandby; otherwise ErrUnreachable.
func (a *attempts) err(op string) error {
	if a.total == 0 {
		return fault.Invalidf("spark %s: no Spark master configured", op)
	}
	detail := strings.Join(a.details, "; ")
	switch {
	case a.disabled == a.total:
		return fmt.Errorf("spark %s (%s): %w", op, detail, ErrRESTDisabled)
	case a.standby > 0:
		return fmt.Errorf("spark %s (%s): %w", op, detail, ErrStandby)
	default:
		return fmt.Errorf("spark %s (%s): %w", op, detail, ErrUnreachable)
	}
}

// Submission is the result of a successful create.
type Submission struct {
	ID                 string
	Master             string // REST base URL of the master that accepted it
	Message            string
	ServerSparkVersion string
}

// Submit posts a CreateSubmissionRequest to the first ALIVE master. A master whose REST port
// refuses the connection or that is not ALIVE is skipped. A request that was sent but not
// answered is never retried: the result is ErrOutcomeUnknown and the caller must re-read the
// master's state first.
func (c *Client) Submit(ctx context.Context, req *CreateRequest) (Submission, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Submission{}, fault.Wrap(fault.Internal, err, "spark create: encode request")
	}
	var a attempts
	for _, m := range c.masters {
		status, b, err := c.call(ctx, http.MethodPost, m.RestURL+"/"+ProtocolVersion+"/submissions/create", body)
		var te *transportError
		if errors.As(err, &te) {
			if te.notSent && ctx.Err() == nil {
				a.add(m.RestURL, err, true)
				continue
			}
			return Submission{}, fmt.Errorf("spark create at %s: %v: %w", m.RestURL, te.err, ErrOutcomeUnknown)
		}
		if err != nil {
			return Submission{}, err
		}
		r, err := parseReply("create", m.RestURL, "", status, b)
		if err != nil {
			return Submission{}, err
		}
		if !r.ok() {
			rej := rejected(&RejectedError{Action: "create", Master: m.RestURL, HTTPStatus: status, Message: shortMessage(r.Message)})
			if isNotAlive(rej) {
				a.add(m.RestURL, rej, true)
				continue
			}
			return Submission{}, rej
		}
		if r.SubmissionID == "" {
			return Submission{}, fault.New(fault.Upstream, "spark create at %s: success without a submissionId", m.RestURL)
		}
		return Submission{ID: r.SubmissionID, Master: m.RestURL, Message: r.Message, ServerSparkVersion: r.ServerSparkVersion}, nil
	}
	return Submission{}, a.err("create")
}

// Status asks the masters for a submission's status. An ID no master knows gives
// Found=false and no error.
func (c *Client) Status(ctx context.Context, id string) (DriverStatus, error) {
	if id == "" {
		return DriverStatus{}, fault.Invalidf("spark status: submission ID is empty")
	}
	var a attempts
	notFound := false
	for _, m := range c.masters {
		st, err := c.statusAt(ctx, m, id)
		switch {
		case err == nil && st.Found:
			return st, nil
		case err == nil:
			notFound = true
		case ctx.Err() != nil:
			return DriverStatus{}, fault.Wrap(fault.Timeout, ctx.Err(), "spark status %s", id)
		case isNotAlive(err) || errors.As(err, new(*transportError)):
			a.add(m.RestURL, err, true)
		default:
			return DriverStatus{}, err
		}
	}
	if notFound {
		return DriverStatus{SubmissionID: id}, nil
	}
	return DriverStatus{}, a.err("status " + id)
}

// statusAt asks one master. An unknown ID is Found=false; a master that is not ALIVE gives an
// error matching ErrStandby; no answer gives a *transportError.
func (c *Client) statusAt(ctx context.Context, m Endpoint, id string) (DriverStatus, error) {
	status, b, err := c.call(ctx, http.MethodGet, m.RestURL+"/"+ProtocolVersion+"/submissions/status/"+url.PathEscape(id), nil)
	if err != nil {
		return DriverStatus{}, err
	}
	r, err := parseReply("status", m.RestURL, id, status, b)
	if err != nil {
		return DriverStatus{}, err
	}
	if !r.ok() {
		if strings.Contains(r.Message, notAlivePrefix) {
			return DriverStatus{}, rejected(&RejectedError{Action: "status", Master: m.RestURL, SubmissionID: id, HTTPStatus: status, Message: shortMessage(r.Message)})
		}
		return DriverStatus{SubmissionID: id}, nil
	}
	return DriverStatus{SubmissionID: id, Found: true, State: DriverState(r.DriverState), WorkerID: r.WorkerID,
		WorkerHostPort: r.WorkerHostPort, Message: r.Message}, nil
}

// Kill asks the ALIVE master to kill a driver. Spark kills a waiting driver at once and a
// running one asynchronously: the driver stays RUNNING until its worker reports KILLED, so
// callers poll until it is gone. A driver that has finished or does not exist gives an error
// matching ErrAlreadyFinished.
func (c *Client) Kill(ctx context.Context, id string) error {
	if id == "" {
		return fault.Invalidf("spark kill: submission ID is empty")
	}
	var a attempts
	for _, m := range c.masters {
		status, b, err := c.call(ctx, http.MethodPost, m.RestURL+"/"+ProtocolVersion+"/submissions/kill/"+url.PathEscape(id), []byte{})
		var te *transportError
		if errors.As(err, &te) {
			if te.notSent && ctx.Err() == nil {
				a.add(m.RestURL, err, true)
				continue
			}
			return fault.Wrap(fault.Timeout, te.err, "spark kill %s at %s: no answer; re-read the driver's state", id, m.RestURL)
		}
		if err != nil {
			return err
		}
		r, err := parseReply("kill", m.RestURL, id, status, b)
		if err != nil {
			return err
		}
		if !r.ok() {
			rej := rejected(&RejectedError{Action: "kill", Master: m.RestURL, SubmissionID: id, HTTPStatus: status, Message: shortMessage(r.Message)})
			if isNotAlive(rej) {
				a.add(m.RestURL, rej, true)
				continue
			}
			return rej
		}
		return nil
	}
	return a.err("kill " + id)
}

// Ready returns the REST URL of the first master that is ready to accept submissions: readyz
// (Spark 4.0+) answers 200, or, on older servers where readyz is unmapped (400), the
// status of a made-up ID does not mention a non-ALIVE state.
func (c *Client) Ready(ctx context.Context) (string, error) {
	var a attempts
	for _, m := range c.masters {
		status, b, err := c.call(ctx, http.MethodGet, m.RestURL+"/"+ProtocolVersion+"/submissions/readyz", nil)
		if errors.As(err, new(*transportError)) {
			if ctx.Err() != nil {
				return "", fault.Wrap(fault.Timeout, ctx.Err(), "spark readyz")
			}
			a.add(m.RestURL, err, true)
			continue
		}
		if err != nil {
			return "", err
		}
		switch status {
		case http.StatusOK:
			return m.RestURL, nil
		case http.StatusServiceUnavailable:
			a.add(m.RestURL, rejected(&RejectedError{Action: "readyz", Master: m.RestURL, HTTPStatus: status, Message: notAlivePrefix + ": master is not ready"}), true)
			continue
		case http.StatusBadRequest: // Spark 3.x has no readyz: a standby names itself in a status reply
			_, err := c.statusAt(ctx, m, "none")
			if err != nil && (isNotAlive(err) || errors.As(err, new(*transportError))) {
				a.add(m.RestURL, err, true)
				continue
			}
			if err != nil {
				return "", err
			}
			return m.RestURL, nil
		default:
			_, err := parseReply("readyz", m.RestURL, "", status, b)
			return "", err
		}
	}
	return "", a.err("readyz")
}

// Master returns the /json document of the first master that is not STANDBY (an ALIVE or
// recovering master). When every reachable master is STANDBY it returns the first one's
// document together with an error matching ErrStandby.
func (c *Client) Master(ctx context.Context) (MasterState, error) {
	var a attempts
	var standby *MasterState
	for _, m := range c.masters {
		status, b, err := c.call(ctx, http.MethodGet, m.WebURL+"/json", nil)
		if errors.As(err, new(*transportError)) {
			if ctx.Err() != nil {
				return MasterState{}, fault.Wrap(fault.Timeout, ctx.Err(), "spark master /json")
			}
			a.add(m.WebURL, err, false)
			continue
		}
		if err != nil {
			return MasterState{}, err
		}
		if status != http.StatusOK {
			a.add(m.WebURL, fmt.Errorf("HTTP %d", status), false)
			continue
		}
		var ms MasterState
		if err := json.Unmarshal(b, &ms); err != nil {
			a.add(m.WebURL, fmt.Errorf("/json is not the master's JSON: %w", err), false)
			continue
		}
		if ms.Status == Standby {
			if standby == nil {
				standby = &ms
			}
			a.standby++
			a.total++
			a.details = append(a.details, m.WebURL+": STANDBY")
			continue
		}
		return ms, nil
	}
	if standby != nil {
		return *standby, fmt.Errorf("spark master /json (%s): %w", strings.Join(a.details, "; "), ErrStandby)
	}
	return MasterState{}, a.err("master /json")
}
