package scaling

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/logwise/controlplane/shared/fault"
)

// fakeAPIServer is a Kubernetes API server holding Deployments' replicas, with per-token verbs
// on deployments/scale (its RBAC).
type fakeAPIServer struct {
	mu       sync.Mutex
	replicas map[string]int             // "ns/name" → spec.replicas
	verbs    map[string]map[string]bool // token → allowed verbs
	patches  int
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := func(code int, reason, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	// apis apps v1 namespaces {ns} deployments {name} scale
	if len(parts) != 8 || parts[0] != "apis" || parts[1] != "apps" || parts[2] != "v1" || parts[3] != "namespaces" || parts[5] != "deployments" || parts[7] != "scale" {
		fail(404, "NotFound", "the server could not find the requested resource")
		return
	}
	ns, name := parts[4], parts[6]
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	allowed, ok := f.verbs[token]
	if !ok {
		fail(401, "Unauthorized", "Unauthorized")
		return
	}
	verb := map[string]string{"GET": "get", "PATCH": "patch", "PUT": "update"}[r.Method]
	if !allowed[verb] {
		fail(403, "Forbidden", fmt.Sprintf(`deployments.apps "%s" is forbidden: User "system:serviceaccount:x:y" cannot %s resource "deployments/scale" in API group "apps" in the namespace "%s"`, name, verb, ns))
		return
	}
	key := ns + "/" + name
	n, ok := f.replicas[key]
	if !ok {
		fail(404, "NotFound", fmt.Sprintf(`deployments.apps "%s" not found`, name))
		return
	}
	if r.Method == http.MethodPatch {
		if ct := r.Header.Get("Content-Type"); ct != "application/merge-patch+json" {
			fail(415, "UnsupportedMediaType", "bad content type "+ct)
			return
		}
		var p struct {
			Spec struct {
				Replicas *int `json:"replicas"`
			} `json:"spec"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err != nil || p.Spec.Replicas == nil {
			fail(422, "Invalid", "spec.replicas missing in "+string(body))
			return
		}
		n = *p.Spec.Replicas
		f.replicas[key] = n
		f.patches++
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":%q,"namespace":%q,"resourceVersion":"1"},"spec":{"replicas":%d},"status":{"replicas":%d,"selector":"app=spark-worker"}}`, name, ns, n, n)
}

func startAPIServer(t *testing.T) (*fakeAPIServer, *httptest.Server, []byte) {
	t.Helper()
	f := &fakeAPIServer{replicas: map[string]int{"logwise/spark-worker": 3},
		verbs: map[string]map[string]bool{
			"good":     {"get": true, "patch": true, "update": true},
			"readonly": {"get": true},
		}}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case logs a handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return f, srv, ca
}

func TestKubernetesResizeAuthModes(t *testing.T) {
	f, srv, ca := startAPIServer(t)
	dir := t.TempDir()
	caFile, tokenFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "token")
	os.WriteFile(caFile, ca, 0o600)
	os.WriteFile(tokenFile, []byte("good\n"), 0o600)
	kubeconfig := filepath.Join(dir, "config")
	os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: prod
contexts:
- name: other
  context: {cluster: nowhere, user: nobody}
- name: prod
  context: {cluster: c1, user: u1}
clusters:
- name: c1
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: u1
  user:
    token: good
`, srv.URL, base64.StdEncoding.EncodeToString(ca))), 0o600)

	inCluster, err := InCluster("logwise", "spark-worker", srv.URL, caFile, tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	fromKubeconfig, err := FromKubeconfig(kubeconfig, "logwise", "spark-worker")
	if err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]KubernetesTarget{"service account token file": inCluster, "kubeconfig token": fromKubeconfig} {
		t.Run(name, func(t *testing.T) {
			k, err := NewKubernetes(target)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for _, step := range []struct {
				target, wantReplicas, wantPatches int
			}{{10, 10, 1}, {10, 10, 0}, {5, 5, 1}, {0, 0, 1}, {3, 3, 1}} {
				f.mu.Lock()
				f.patches = 0
				f.mu.Unlock()
				if err := k.Resize(ctx, step.target); err != nil {
					t.Fatalf("resize to %d: %v", step.target, err)
				}
				got, err := k.Replicas(ctx)
				if err != nil {
					t.Fatal(err)
				}
				f.mu.Lock()
				patches := f.patches
				f.mu.Unlock()
				if got != step.wantReplicas || patches != step.wantPatches {
					t.Errorf("resize to %d: replicas %d patches %d, want %d and %d", step.target, got, patches, step.wantReplicas, step.wantPatches)
				}
			}
		})
	}
}

func TestKubernetesErrorsNameWhatIsMissing(t *testing.T) {
	_, srv, ca := startAPIServer(t)
	tests := []struct {
		name       string
		deployment string
		token      string
		wantKind   fault.Kind
		wantText   []string
	}{
		{"RBAC denies patch", "spark-worker", "readonly", fault.Forbidden, []string{`verb "patch"`, `"deployments/scale"`, "namespace logwise"}},
		{"deployment missing", "spark-wrker", "good", fault.NotFound, []string{`deployment "spark-wrker" not found in namespace "logwise"`}},
		{"bad token", "spark-worker", "expired", fault.Unauthorized, []string{"rejected the credentials"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKubernetes(KubernetesTarget{Namespace: "logwise", Deployment: tc.deployment, Server: srv.URL, CAPEM: ca, Token: StaticToken(tc.token)})
			if err != nil {
				t.Fatal(err)
			}
			err = k.Resize(context.Background(), 7)
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != tc.wantKind {
				t.Fatalf("got %v, want kind %v", err, tc.wantKind)
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
	// A server whose certificate is not signed by the configured CA is refused.
	k, _ := NewKubernetes(KubernetesTarget{Namespace: "logwise", Deployment: "spark-worker", Server: srv.URL, Token: StaticToken("good")})
	if err := k.Resize(context.Background(), 4); err == nil {
		t.Error("resize against an untrusted certificate succeeded")
	}
}

func TestEKSTokenShape(t *testing.T) {
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "SECRETEXAMPLE", "SESSIONTOKEN")}
	src := NewEKSToken(cfg, "spark-eks")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
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
	if q.Get("X-Amz-Signature") == "" || !strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDEXAMPLE/20261122/eu-west-1/sts/aws4_request") {
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
