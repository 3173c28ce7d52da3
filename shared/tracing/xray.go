package tracing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// lambdaTraceKey is the context key under which aws-lambda-go puts each invocation's trace
// header (Root=...;Parent=...;Sampled=...).
const lambdaTraceKey = "x-amzn-trace-id"

// daemonHeader precedes every document sent to the X-Ray daemon.
const daemonHeader = `{"format":"json","version":1}` + "\n"

// Tracer writes X-Ray subsegment documents to the daemon over UDP. Each subsegment is sent
// when it ends, as an independent document naming its trace and parent, so nothing is held
// in memory between calls and a lost datagram loses one subsegment only.
type Tracer struct {
	addr  string
	now   func() time.Time
	newID func() string

	mu   sync.Mutex
	conn net.Conn // dialled on first use; UDP, so dialling sends nothing
}

// NewTracer returns a tracer sending to the daemon at addr (host:port, UDP). now and newID
// default to the wall clock and 64 random bits in hex.
func NewTracer(addr string, now func() time.Time, newID func() string) *Tracer {
	if now == nil {
		now = time.Now
	}
	if newID == nil {
		newID = randomID
	}
	return &Tracer{addr: addr, now: now, newID: newID}
}

// DaemonAddress is the daemon's UDP address from AWS_XRAY_DAEMON_ADDRESS, which is either
// host:port or "tcp:host:port udp:host:port"; the default is the daemon's 127.0.0.1:2000.
func DaemonAddress(v string) string {
	for _, f := range strings.Fields(v) {
		if a, ok := strings.CutPrefix(f, "udp:"); ok {
			return a
		}
		if !strings.HasPrefix(f, "tcp:") {
			return f
		}
	}
	return "127.0.0.1:2000"
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parent is the trace and the (sub)segment new subsegments nest under.
type parent struct{ traceID, id string }

type parentKey struct{}

// parentOf finds the innermost open subsegment in ctx or, failing that, the invocation's
// trace header. A missing header or Sampled other than 1 means: record nothing.
func parentOf(ctx context.Context) (parent, bool) {
	if p, ok := ctx.Value(parentKey{}).(parent); ok {
		return p, true
	}
	h, _ := ctx.Value(lambdaTraceKey).(string)
	return parseHeader(h)
}

// parseHeader reads an X-Ray trace header, Root=1-...;Parent=...;Sampled=1.
func parseHeader(h string) (parent, bool) {
	var p parent
	sampled := false
	for _, part := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Root":
			p.traceID = v
		case "Parent":
			p.id = v
		case "Sampled":
			sampled = v == "1"
		}
	}
	return p, sampled && p.traceID != "" && p.id != ""
}

// document is an X-Ray subsegment document, the fields this package fills.
type document struct {
	Name      string    `json:"name"`
	ID        string    `json:"id"`
	TraceID   string    `json:"trace_id"`
	ParentID  string    `json:"parent_id"`
	Type      string    `json:"type"`
	StartTime float64   `json:"start_time"`
	EndTime   float64   `json:"end_time"`
	Namespace string    `json:"namespace,omitempty"`
	Error     bool      `json:"error,omitempty"`
	Throttle  bool      `json:"throttle,omitempty"`
	Fault     bool      `json:"fault,omitempty"`
	HTTP      *httpInfo `json:"http,omitempty"`
	AWS       *awsInfo  `json:"aws,omitempty"`
}

type httpInfo struct {
	Request  *httpRequest  `json:"request,omitempty"`
	Response *httpResponse `json:"response,omitempty"`
}

type httpRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type httpResponse struct {
	Status int `json:"status"`
}

type awsInfo struct {
	Operation string `json:"operation,omitempty"`
	Region    string `json:"region,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// span is an open subsegment.
type span struct {
	t   *Tracer
	doc document
}

// begin opens a subsegment under ctx's parent; nil (and ctx unchanged) when ctx is not traced.
func (t *Tracer) begin(ctx context.Context, name, namespace string) (context.Context, *span) {
	p, ok := parentOf(ctx)
	if !ok {
		return ctx, nil
	}
	s := &span{t: t, doc: document{Name: name, ID: t.newID(), TraceID: p.traceID, ParentID: p.id, Type: "subsegment",
		StartTime: seconds(t.now()), Namespace: namespace}}
	return context.WithValue(ctx, parentKey{}, parent{traceID: p.traceID, id: s.doc.ID}), s
}

// end closes the subsegment. status is the HTTP status of the call's response (0 if none):
// 429 marks it throttled, other 4xx an error, 5xx a fault; a failure with no status is a fault.
// The error's text is not recorded: it stays in the function's (redacted) log.
func (s *span) end(status int, err error) {
	if s == nil {
		return
	}
	s.doc.EndTime = seconds(s.t.now())
	switch {
	case status == http.StatusTooManyRequests:
		s.doc.Error, s.doc.Throttle = true, true
	case status >= 500:
		s.doc.Fault = true
	case status >= 400:
		s.doc.Error = true
	case err != nil:
		s.doc.Fault = true
	}
	if status > 0 {
		if s.doc.HTTP == nil {
			s.doc.HTTP = &httpInfo{}
		}
		s.doc.HTTP.Response = &httpResponse{Status: status}
	}
	s.t.send(&s.doc)
}

func seconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// send writes one document to the daemon. Tracing never fails a call: a daemon that cannot be
// reached loses the document, silently.
func (t *Tracer) send(d *document) {
	b, err := json.Marshal(d)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == nil {
		if t.conn, err = net.Dial("udp", t.addr); err != nil {
			t.conn = nil
			return
		}
	}
	_, _ = t.conn.Write(append([]byte(daemonHeader), b...))
}

// Start opens a subsegment named name in namespace ("remote" for a downstream service);
// end closes it with the call's error.
func (t *Tracer) Start(ctx context.Context, name, namespace string) (context.Context, func(error)) {
	ctx, s := t.begin(ctx, name, namespace)
	if s == nil {
		return ctx, func(error) {}
	}
	return ctx, func(err error) { s.end(0, err) }
}

// InstrumentAWS adds a middleware to every AWS SDK client built with these options: one
// subsegment per operation (retries included), named for the service, with the operation,
// region, request id and HTTP status.
func (t *Tracer) InstrumentAWS(opts *[]func(*middleware.Stack) error) {
	*opts = append(*opts, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("XRaySubsegment",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				ctx, s := t.begin(ctx, awsmiddleware.GetServiceID(ctx), "aws")
				if s == nil {
					return next.HandleInitialize(ctx, in)
				}
				out, md, err := next.HandleInitialize(ctx, in)
				s.doc.AWS = &awsInfo{Operation: awsmiddleware.GetOperationName(ctx), Region: awsmiddleware.GetRegion(ctx)}
				if id, ok := awsmiddleware.GetRequestIDMetadata(md); ok {
					s.doc.AWS.RequestID = id
				}
				status := 0
				if r, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response); ok && r != nil {
					status = r.StatusCode
				}
				s.end(status, err)
				return out, md, err
			}), middleware.After)
	})
}

// HTTPClient returns a copy of c whose requests are subsegments named for the host, with the
// method, the URL without its query or user information, and the status.
func (t *Tracer) HTTPClient(c *http.Client) *http.Client {
	cc := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = roundTripper{t: t, base: base}
	return &cc
}

type roundTripper struct {
	t    *Tracer
	base http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, s := rt.t.begin(req.Context(), req.URL.Hostname(), "remote")
	if s == nil {
		return rt.base.RoundTrip(req)
	}
	u := *req.URL
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	s.doc.HTTP = &httpInfo{Request: &httpRequest{Method: req.Method, URL: u.String()}}
	resp, err := rt.base.RoundTrip(req.WithContext(ctx))
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	s.end(status, err)
	return resp, err
}
