package tracing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

const (
	traceRoot   = "1-5759e988-bd862e3fe1be46a994272793"
	traceParent = "53995c3f42cd8ad8"
)

// daemon is a fake X-Ray daemon: it checks each datagram's header and decodes the document.
type daemon struct {
	t    *testing.T
	conn net.PacketConn
}

func newDaemon(t *testing.T) *daemon {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &daemon{t: t, conn: c}
}

func (d *daemon) addr() string { return d.conn.LocalAddr().String() }

// next waits (up to 10 s) for the next document.
func (d *daemon) next() document {
	d.t.Helper()
	buf := make([]byte, 64<<10)
	_ = d.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := d.conn.ReadFrom(buf)
	if err != nil {
		d.t.Fatalf("no document reached the daemon: %v", err)
	}
	head, body, ok := strings.Cut(string(buf[:n]), "\n")
	if !ok || head+"\n" != daemonHeader {
		d.t.Fatalf("datagram without the daemon header: %q", buf[:n])
	}
	var doc document
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		d.t.Fatalf("document %q: %v", body, err)
	}
	return doc
}

// testTracer has a clock that moves 250 ms a reading and ids id-1, id-2, ...
func testTracer(addr string) *Tracer {
	clock := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	n := 0
	return NewTracer(addr, func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock },
		func() string { n++; return fmt.Sprintf("id-%d", n) })
}

func invocation(sampled string) context.Context {
	return context.WithValue(context.Background(), lambdaTraceKey, "Root="+traceRoot+";Parent="+traceParent+";Sampled="+sampled)
}

func TestSubsegmentsNestUnderTheInvocationAndRecordFailures(t *testing.T) {
	d := newDaemon(t)
	tr := testTracer(d.addr())
	ctx, endOuter := tr.Start(invocation("1"), "Kafka lag", "remote")
	_, endInner := tr.Start(ctx, "Kafka ListOffsets", "remote")
	endInner(errors.New("broker down"))
	endOuter(nil)

	inner, outer := d.next(), d.next()
	if outer.ParentID != traceParent || outer.TraceID != traceRoot || outer.ID != "id-1" || outer.Type != "subsegment" || outer.Namespace != "remote" {
		t.Fatalf("outer subsegment %+v; want under the invocation's parent %s in trace %s", outer, traceParent, traceRoot)
	}
	if inner.ParentID != "id-1" || inner.TraceID != traceRoot || inner.Name != "Kafka ListOffsets" {
		t.Fatalf("inner subsegment %+v; want nested under id-1", inner)
	}
	if !inner.Fault || outer.Fault || outer.Error {
		t.Fatalf("a failed call is a fault and a good one is not: inner %+v, outer %+v", inner, outer)
	}
	if outer.StartTime >= inner.StartTime || inner.EndTime >= outer.EndTime || inner.StartTime >= inner.EndTime {
		t.Fatalf("times out of order: outer %v-%v inner %v-%v", outer.StartTime, outer.EndTime, inner.StartTime, inner.EndTime)
	}
}

// TestUntracedCallsSendNothing: no trace header (a Lambda's init), or an unsampled invocation,
// records nothing and prints nothing. A traced call afterwards is the first document to arrive.
func TestUntracedCallsSendNothing(t *testing.T) {
	d := newDaemon(t)
	tr := testTracer(d.addr())
	for _, ctx := range []context.Context{context.Background(), invocation("0"), invocation("?")} {
		_, end := tr.Start(ctx, "untraced", "remote")
		end(errors.New("x"))
	}
	_, end := tr.Start(invocation("1"), "traced", "remote")
	end(nil)
	if got := d.next(); got.Name != "traced" {
		t.Fatalf("first document %q; want only the sampled call's", got.Name)
	}
}

func TestHTTPSubsegmentsClassifyStatusAndDropQueryAndCredentials(t *testing.T) {
	d := newDaemon(t)
	tr := testTracer(d.addr())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var code int
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/status/"), "%d", &code)
		w.WriteHeader(code)
	}))
	defer srv.Close()
	c := tr.HTTPClient(&http.Client{})
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct {
		code                   int
		error, throttle, fault bool
	}{{200, false, false, false}, {404, true, false, false}, {429, true, true, false}, {503, false, false, true}} {
		req, _ := http.NewRequestWithContext(invocation("1"), "GET", fmt.Sprintf("http://user:s3cret@%s/status/%d?token=s3cret", host, tt.code), nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		doc := d.next()
		if doc.Namespace != "remote" || doc.Name != "127.0.0.1" || doc.HTTP == nil || doc.HTTP.Response == nil || doc.HTTP.Response.Status != tt.code {
			t.Fatalf("%d: subsegment %+v", tt.code, doc)
		}
		if doc.Error != tt.error || doc.Throttle != tt.throttle || doc.Fault != tt.fault {
			t.Fatalf("%d: error/throttle/fault = %v/%v/%v; want %v/%v/%v", tt.code, doc.Error, doc.Throttle, doc.Fault, tt.error, tt.throttle, tt.fault)
		}
		if want := fmt.Sprintf("http://%s/status/%d", host, tt.code); doc.HTTP.Request.URL != want || doc.HTTP.Request.Method != "GET" {
			t.Fatalf("%d: request %+v; want GET %s (no query, no user information)", tt.code, doc.HTTP.Request, want)
		}
	}
	// A refused connection is a fault with no status.
	req, _ := http.NewRequestWithContext(invocation("1"), "GET", "http://127.0.0.1:1/", nil)
	if _, err := c.Do(req); err == nil {
		t.Fatal("a request to port 1 succeeded")
	}
	if doc := d.next(); !doc.Fault || doc.HTTP.Response != nil {
		t.Fatalf("refused connection: %+v; want a fault without a response", doc)
	}
}

func TestAWSSubsegmentsNameServiceOperationRegionAndRequestID(t *testing.T) {
	d := newDaemon(t)
	tr := testTracer(d.addr())
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amzn-RequestId", "req-42")
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		if status == http.StatusOK {
			fmt.Fprint(w, `<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult><ResponseMetadata><RequestId>req-42</RequestId></ResponseMetadata></PublishResponse>`)
			return
		}
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>no</Message></Error><RequestId>req-42</RequestId></ErrorResponse>`)
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}, RetryMaxAttempts: 1, BaseEndpoint: aws.String(srv.URL)}
	tr.InstrumentAWS(&cfg.APIOptions)
	client := sns.NewFromConfig(cfg)
	in := &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:eu-west-1:123456789012:t"), Message: aws.String("m")}
	if _, err := client.Publish(invocation("1"), in); err != nil {
		t.Fatal(err)
	}
	doc := d.next()
	if doc.Name != "SNS" || doc.Namespace != "aws" || doc.AWS == nil || doc.AWS.Operation != "Publish" || doc.AWS.Region != "eu-west-1" || doc.AWS.RequestID != "req-42" {
		t.Fatalf("subsegment %+v aws %+v; want SNS Publish in eu-west-1, request req-42", doc, doc.AWS)
	}
	if doc.Error || doc.Fault || doc.HTTP == nil || doc.HTTP.Response.Status != 200 || doc.ParentID != traceParent {
		t.Fatalf("subsegment %+v; want a success with status 200 under %s", doc, traceParent)
	}
	status = http.StatusForbidden
	if _, err := client.Publish(invocation("1"), in); err == nil {
		t.Fatal("Publish succeeded against a 403")
	}
	if doc := d.next(); !doc.Error || doc.Fault || doc.HTTP.Response.Status != 403 {
		t.Fatalf("refused call: %+v; want an error (client side) with status 403", doc)
	}
	// Outside an invocation (a Lambda's init) the client works and records nothing.
	status = http.StatusOK
	if _, err := client.Publish(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Publish(invocation("1"), in); err != nil {
		t.Fatal(err)
	}
	if doc := d.next(); doc.TraceID != traceRoot || doc.ParentID != traceParent {
		t.Fatalf("first document after an untraced call: %+v; want the traced call's", doc)
	}
}

func TestDaemonAddressAndTraceHeader(t *testing.T) {
	for in, want := range map[string]string{
		"":                                       "127.0.0.1:2000",
		"169.254.79.129:2000":                    "169.254.79.129:2000",
		"tcp:127.0.0.1:2000 udp:127.0.0.2:2001":  "127.0.0.2:2001",
		"udp:127.0.0.3:2002 tcp:127.0.0.1:2000 ": "127.0.0.3:2002",
	} {
		if got := DaemonAddress(in); got != want {
			t.Errorf("DaemonAddress(%q) = %q, want %q", in, got, want)
		}
	}
	for h, want := range map[string]bool{
		"Root=" + traceRoot + ";Parent=" + traceParent + ";Sampled=1":   true,
		"Root=" + traceRoot + "; Parent=" + traceParent + "; Sampled=1": true,
		"Root=" + traceRoot + ";Parent=" + traceParent + ";Sampled=0":   false,
		"Root=" + traceRoot + ";Sampled=1":                              false,
		"":                                                              false,
	} {
		if _, got := parseHeader(h); got != want {
			t.Errorf("parseHeader(%q) traced = %v, want %v", h, got, want)
		}
	}
}
