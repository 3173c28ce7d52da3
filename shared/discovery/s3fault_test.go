package discovery_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/metrics"
)

// s3Fault is a transport in front of the S3 stand-in that answers 500 InternalError or
// delays every request, as the test sets it.
type s3Fault struct {
	mu       sync.Mutex
	status   int           // 0: pass through
	delay    time.Duration // added before each request
	requests int
}

func (f *s3Fault) set(status int, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.delay = status, delay
}

func (f *s3Fault) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	status, delay := f.status, f.delay
	f.requests++
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	if status != 0 {
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"application/xml"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestS3FaultsDuringDiscoveryAndDelay runs discovery and the delay measurement through S3
// answering 500s, then slowly (beyond the caller's deadline, then within it), then healthy.
// Every failure is reported as an error of a classified kind (Upstream: the API's 502;
// Timeout: 504) and LogSyncMeasureFailed=1; service_details keeps every service throughout; the
// runs after the fault clears see the true state (a service deleted during the fault is
// removed only after two successful listings).
func TestS3FaultsDuringDiscoveryAndDelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, "api", "web", "worker")
	faults := &s3Fault{}
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.s3.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		HTTPClient:  &http.Client{Transport: faults}, Retryer: aws.NopRetryer{}})
	objs := logstore.New(client, e.s3.Bucket, layout)
	tn := tenant()
	tn.DelayMetrics.App.SampleServiceNames = []string{"api", "web"}
	tn.DelayMetrics.MaxLookbackHours, tn.DelayMetrics.StaleAfterMinutes = 3, 15
	var emf strings.Builder
	meter := &freshness.Meter{Metrics: metrics.New(&emf), Now: func() time.Time { return time.Date(2024, 1, 1, 0, 5, 30, 0, time.UTC) }}
	s := e.syncer("s3-faults")
	all := []string{"api", "web", "worker"}

	steps := []struct {
		name      string
		status    int
		delay     time.Duration
		deadline  time.Duration // 0: none
		before    func()
		fails     bool
		wantKind  fault.Kind
		wantSvcs  []string
		wantDelay int
	}{
		{name: "healthy: onboards and measures", wantSvcs: all, wantDelay: 5},
		{name: "500s, worker deleted meanwhile", status: 500, before: func() { e.remove(t, "worker") }, fails: true, wantKind: fault.Upstream, wantSvcs: all},
		{name: "slow beyond the deadline", delay: 300 * time.Millisecond, deadline: 100 * time.Millisecond, fails: true, wantKind: fault.Timeout, wantSvcs: all},
		{name: "slow within the deadline: correct, worker absent once so kept", delay: 20 * time.Millisecond, deadline: 5 * time.Second, wantSvcs: all, wantDelay: 5},
		{name: "healthy again: worker absent twice, removed", wantSvcs: []string{"api", "web"}, wantDelay: 5},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		faults.set(st.status, st.delay)
		ctx := context.Background()
		if st.deadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, st.deadline)
			defer cancel()
		}
		emf.Reset()
		res, syncErr := s.Sync(ctx, tn, objs)
		rep, measureErr := meter.Publish(ctx, tn, objs)
		svcs := e.services(t)
		t.Logf("%s: sync onboarded=%v removed=%v err=%v; delay %d min %s err=%v; service_details=%v",
			st.name, res.Onboarded, res.Removed, syncErr, rep.AppLogsDelayMinutes, rep.Status, measureErr, svcs)
		for what, err := range map[string]error{"sync": syncErr, "delay": measureErr} {
			switch {
			case !st.fails && err != nil:
				t.Errorf("%s: %s failed: %v", st.name, what, err)
			case st.fails && fault.KindOf(err) != st.wantKind:
				t.Errorf("%s: %s error %v has kind %v, want %v", st.name, what, err, fault.KindOf(err), st.wantKind)
			}
		}
		if !slices.Equal(svcs, st.wantSvcs) {
			t.Errorf("%s: service_details %v, want %v", st.name, svcs, st.wantSvcs)
		}
		failedMetric := strings.Contains(emf.String(), `"LogSyncMeasureFailed":1`)
		if failedMetric != (st.fails) {
			t.Errorf("%s: LogSyncMeasureFailed=1 published: %v, want %v", st.name, failedMetric, st.fails)
		}
		if !st.fails && (rep.AppLogsDelayMinutes != st.wantDelay || rep.Status != freshness.OK) {
			t.Errorf("%s: delay %d %s, want %d OK", st.name, rep.AppLogsDelayMinutes, rep.Status, st.wantDelay)
		}
	}
}
