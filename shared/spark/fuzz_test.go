package spark_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/spark"
)

// cannedTransport answers every request with one status and body, in process.
type cannedTransport struct {
	status int
	body   []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Body: io.NopCloser(bytes.NewReader(c.body)),
		Header: http.Header{"Content-Type": {"application/json"}}, Request: r}, nil
}

// FuzzReplyDecoding drives the raw-body-to-typed-value path of every client call (the /json
// MasterState, the create, status and kill replies) with arbitrary HTTP statuses and bodies.
// Invariants: no panic; a call that succeeds was answered 200 with a JSON body and yields a
// sensible value (a submission ID, a found status, a master that is not STANDBY); a call that
// fails says why with a classified fault kind, never an unclassified (Internal) error.
func FuzzReplyDecoding(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{200, `{"action":"CreateSubmissionResponse","message":"Driver successfully submitted as driver-20240101000000-0000","serverSparkVersion":"3.5.1","submissionId":"driver-20240101000000-0000","success":true}`},
		{200, `{"action":"SubmissionStatusResponse","driverState":"RUNNING","serverSparkVersion":"3.5.1","submissionId":"driver-1","success":true,"workerHostPort":"10.0.0.1:7078","workerId":"worker-1"}`},
		{200, `{"action":"SubmissionStatusResponse","success":false,"message":"Current state is not alive: STANDBY"}`},
		{200, `{"action":"KillSubmissionResponse","message":"Driver driver-1 has already finished or does not exist","success":false}`},
		{200, `{"url":"spark://m:7077","workers":[],"aliveworkers":0,"cores":0,"coresused":0,"memory":0,"memoryused":0,"activeapps":[],"completedapps":[],"activedrivers":[],"completeddrivers":[],"status":"ALIVE"}`},
		{200, `{"status":"STANDBY"}`},
		{200, `{"success":true}`},
		{200, `not json`},
		{200, ``},
		{400, `{"action":"ErrorResponse","message":"Malformed request","success":false}`},
		{403, `forbidden`},
		{468, `{"action":"ErrorResponse","highestProtocolVersion":"v1","message":"Unknown protocol version"}`},
		{500, `<html>boom</html>`},
		{200, `{"success":"yes","submissionId":12}`},
	}
	for i, s := range seeds {
		f.Add(uint8(i), s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op uint8, status int, body []byte) {
		if status < 100 || status > 999 {
			status = 200
		}
		c := spark.New(spark.Config{
			Masters: []spark.Endpoint{{RestURL: "http://rest.invalid", WebURL: "http://web.invalid"}},
			HTTP:    &http.Client{Transport: cannedTransport{status: status, body: body}},
		})
		ctx := context.Background()
		var err error
		switch op % 4 {
		case 0:
			var ms spark.MasterState
			ms, err = c.Master(ctx)
			if err == nil && (status != 200 || !json.Valid(body) || ms.Status == spark.Standby) {
				t.Fatalf("Master() on %d %q = %+v with no error", status, body, ms)
			}
		case 1:
			var s spark.Submission
			s, err = c.Submit(ctx, &spark.CreateRequest{Action: "CreateSubmissionRequest"})
			if err == nil && (status != 200 || !json.Valid(body) || s.ID == "") {
				t.Fatalf("Submit() on %d %q = %+v with no error", status, body, s)
			}
		case 2:
			var st spark.DriverStatus
			st, err = c.Status(ctx, "driver-1")
			if err == nil && (status != 200 || !json.Valid(body) || st.SubmissionID != "driver-1") {
				t.Fatalf("Status() on %d %q = %+v with no error", status, body, st)
			}
		case 3:
			err = c.Kill(ctx, "driver-1")
			if err == nil && (status != 200 || !json.Valid(body)) {
				t.Fatalf("Kill() on %d %q succeeded", status, body)
			}
		}
		if err != nil && fault.KindOf(err) == fault.Internal {
			t.Fatalf("op %d on %d %q: unclassified error %v", op%4, status, body, err)
		}
	})
}
