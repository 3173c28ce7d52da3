package actuators

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestEKSTokenShape(t *testing.T) {
	t.Parallel()
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "SECRETEXAMPLE", "SESSIONTOKEN")}
	src := NewEKSToken(cfg, "spark-eks")
	// A date far from the day the test runs: the signature must follow the injected clock.
	now := time.Date(2031, 3, 14, 10, 0, 0, 0, time.UTC)
	src.now = func() time.Time { return now }
	tok, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "k8s-aws-v1.") {
		t.Fatalf("token %q lacks the k8s-aws-v1. prefix", tok)
	}
	enc := strings.TrimPrefix(tok, "k8s-aws-v1.")
	if strings.ContainsAny(enc, "=+/") {
		t.Errorf("token is not unpadded base64url: %q", enc)
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	checks := []struct{ what, got, want string }{
		{"scheme", u.Scheme, "https"},
		{"host", u.Host, "sts.eu-west-1.amazonaws.com"},
		{"Action", q.Get("Action"), "GetCallerIdentity"},
		{"Version", q.Get("Version"), "2011-06-15"},
		{"X-Amz-Expires", q.Get("X-Amz-Expires"), "60"},
		{"X-Amz-Algorithm", q.Get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256"},
		{"X-Amz-Security-Token", q.Get("X-Amz-Security-Token"), "SESSIONTOKEN"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q (url %s)", c.what, c.got, c.want, u)
		}
	}
	if sh := q.Get("X-Amz-SignedHeaders"); !strings.Contains(sh, "x-k8s-aws-id") || !strings.Contains(sh, "host") {
		t.Errorf("X-Amz-SignedHeaders = %q, want host and x-k8s-aws-id", sh)
	}
	if got := q.Get("X-Amz-Date"); got != "20310314T100000Z" {
		t.Errorf("X-Amz-Date = %q, want the injected clock's 20310314T100000Z", got)
	}
	if q.Get("X-Amz-Signature") == "" || !strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDEXAMPLE/20310314/eu-west-1/sts/aws4_request") {
		t.Errorf("signature or credential scope wrong: %s", u.RawQuery)
	}
	if strings.Contains(tok, "SECRETEXAMPLE") || strings.Contains(string(raw), "SECRETEXAMPLE") {
		t.Error("the secret key leaked into the token")
	}
	// Reused within its lifetime, re-minted after 14 minutes.
	again, _ := src.Token(context.Background())
	firstExpiry := src.expires
	now = now.Add(15 * time.Minute)
	if _, err := src.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	if again != tok || !src.expires.Equal(now.Add(14*time.Minute)) || !firstExpiry.Equal(now.Add(-time.Minute)) {
		t.Errorf("token caching: reuse %v, expiry %s then %s", again == tok, firstExpiry, src.expires)
	}
}
