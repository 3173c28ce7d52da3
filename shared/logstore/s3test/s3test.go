// Package s3test runs an in-process S3 (gofakes3 with the s3mem backend) behind httptest for
// tests and benchmarks, with an aws-sdk-go-v2 client pointed at it. The client's transport
// counts requests per operation (so tests can assert how many LISTs a probe costs) and can make
// an operation fail; the backend can refuse to delete chosen keys, as S3 does for a
// DeleteObjects key it reports in Errors.
package s3test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The operations the transport names.
const (
	ListObjectsV2 = "ListObjectsV2"
	DeleteObjects = "DeleteObjects"
	PutObject     = "PutObject"
	Other         = "Other"
)

// Server is an in-process S3 holding one bucket.
type Server struct {
	Bucket string
	Client *s3.Client
	URL    string

	backend *refusingBackend

	mu     sync.Mutex
	counts map[string]int
	failed map[string]bool
}

// New starts a server with the bucket "logwise-logs", stopped when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Bucket:  "logwise-logs",
		backend: &refusingBackend{Backend: s3mem.New(), refused: map[string]bool{}},
		counts:  map[string]int{},
		failed:  map[string]bool{},
	}
	faker := gofakes3.New(s.backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	ts := httptest.NewServer(faker.Server())
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	s.Client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(ts.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		HTTPClient:   &http.Client{Transport: &countingTransport{s: s, next: http.DefaultTransport}},
		Retryer:      aws.NopRetryer{},
	})
	if err := s.backend.CreateBucket(s.Bucket); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return s
}

// Put stores an empty object under each key, directly in the backend (not counted).
func (s *Server) Put(t testing.TB, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := s.backend.PutObject(s.Bucket, k, map[string]string{}, bytes.NewReader(nil), 0, nil); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
}

// Delete removes keys directly in the backend (not counted).
func (s *Server) Delete(t testing.TB, keys ...string) {
	t.Helper()
	if _, err := s.backend.Backend.DeleteMulti(s.Bucket, keys...); err != nil {
		t.Fatalf("delete %v: %v", keys, err)
	}
}

// Keys returns every key in the bucket, sorted, read directly from the backend (not counted).
func (s *Server) Keys(t testing.TB) []string {
	t.Helper()
	var out []string
	page := gofakes3.ListBucketPage{}
	for {
		list, err := s.backend.ListBucket(s.Bucket, &gofakes3.Prefix{}, page)
		if err != nil {
			t.Fatalf("list bucket: %v", err)
		}
		for _, c := range list.Contents {
			out = append(out, c.Key)
		}
		if !list.IsTruncated || list.NextMarker == "" {
			break
		}
		page = gofakes3.ListBucketPage{Marker: list.NextMarker, HasMarker: true}
	}
	sort.Strings(out)
	return out
}

// Count returns how many requests of op the client sent since the last Reset.
func (s *Server) Count(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// Reset zeroes the request counts.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int{}
}

// Fail makes every request of op answer 503 ServiceUnavailable (fail=true) or pass (false).
func (s *Server) Fail(op string, fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[op] = fail
}

// RefuseDelete makes DeleteObjects report AccessDenied for these keys and keep them.
func (s *Server) RefuseDelete(keys ...string) {
	s.backend.mu.Lock()
	defer s.backend.mu.Unlock()
	for _, k := range keys {
		s.backend.refused[k] = true
	}
}

type countingTransport struct {
	s    *Server
	next http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	op := classify(r)
	c.s.mu.Lock()
	c.s.counts[op]++
	fail := c.s.failed[op]
	c.s.mu.Unlock()
	if fail {
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected by s3test</Message></Error>`
		return &http.Response{
			StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
			Header:  http.Header{"Content-Type": {"application/xml"}},
			Body:    io.NopCloser(strings.NewReader(body)),
			Request: r, ProtoMajor: 1, ProtoMinor: 1, ContentLength: int64(len(body)),
		}, nil
	}
	return c.next.RoundTrip(r)
}

func classify(r *http.Request) string {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodGet && q.Get("list-type") == "2":
		return ListObjectsV2
	case r.Method == http.MethodPost && q.Has("delete"):
		return DeleteObjects
	case r.Method == http.MethodPut:
		return PutObject
	}
	return Other
}

// refusingBackend keeps the refused keys and reports them as DeleteObjects errors.
type refusingBackend struct {
	gofakes3.Backend
	mu      sync.Mutex
	refused map[string]bool
}

func (b *refusingBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	b.mu.Lock()
	var allowed []string
	var refused []gofakes3.ErrorResult
	for _, k := range keys {
		if b.refused[k] {
			refused = append(refused, gofakes3.ErrorResult{Key: k, Code: gofakes3.ErrorCode("AccessDenied"), Message: "Access Denied"})
			continue
		}
		allowed = append(allowed, k)
	}
	b.mu.Unlock()
	out, err := b.Backend.DeleteMulti(bucket, allowed...)
	if err != nil {
		return out, fmt.Errorf("delete multi: %w", err)
	}
	out.Error = append(out.Error, refused...)
	return out, nil
}
