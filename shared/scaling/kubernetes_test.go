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
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/logwise/controlplane/shared/fault"
)

// pod is a Spark worker pod of the fake Deployment.
type pod struct {
	name, ip string
	cost     string // pod-deletion-cost annotation
}

// fakeAPIServer is a Kubernetes API server with one Deployment's scale subresource and pods,
// and per-token RBAC ("verb resource"). Like a ReplicaSet, lowering replicas removes the pods
// with the lowest pod-deletion-cost first, and among equals the oldest (first) pod.
type fakeAPIServer struct {
	mu       sync.Mutex
	replicas map[string]int             // "ns/name" → spec.replicas of other deployments
	pods     []pod                      // the pods of logwise/spark-worker
	verbs    map[string]map[string]bool // token → allowed "verb resource"
	patches  int
	nextPod  int
	version  int // resourceVersion of logwise/spark-worker's scale; bumped by every change
	// conflicts is how many resizes of logwise/spark-worker the fake answers 409 for, as
	// if an HPA or a person had changed it just before (the change bumps version).
	conflicts int
	// stalePatches counts PATCHes of the scale that carried no resourceVersion.
	stalePatches int
}

func (f *fakeAPIServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := func(code int, reason, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	allowed, ok := f.verbs[token]
	if !ok {
		fail(401, "Unauthorized", "Unauthorized")
		return
	}
	verb := map[string]string{"GET": "get", "PATCH": "patch", "PUT": "update"}[r.Method]
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var resource, ns, name string
	switch {
	case len(parts) == 8 && parts[0] == "apis" && parts[1] == "apps" && parts[2] == "v1" && parts[3] == "namespaces" && parts[5] == "deployments" && parts[7] == "scale":
		resource, ns, name = "deployments/scale", parts[4], parts[6]
	case len(parts) == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "namespaces" && parts[4] == "pods":
		resource, ns, verb = "pods", parts[3], "list"
	case len(parts) == 6 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "namespaces" && parts[4] == "pods":
		resource, ns, name = "pods", parts[3], parts[5]
	default:
		fail(404, "NotFound", "the server could not find the requested resource")
		return
	}
	if !allowed[verb+" "+resource] {
		fail(403, "Forbidden", fmt.Sprintf(`User "system:serviceaccount:x:y" cannot %s resource %q in the namespace %q`, verb, resource, ns))
		return
	}
	readPatch := func(into any) bool {
		if ct := r.Header.Get("Content-Type"); ct != "application/merge-patch+json" {
			fail(415, "UnsupportedMediaType", "bad content type "+ct)
			return false
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, into); err != nil {
			fail(422, "Invalid", string(body))
			return false
		}
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case resource == "pods" && verb == "list":
		if ns != "logwise" || r.URL.Query().Get("labelSelector") != "app=spark-worker" {
			fmt.Fprint(w, `{"kind":"PodList","items":[]}`)
			return
		}
		var items []string
		for _, p := range f.pods {
			ann := "{}"
			if p.cost != "" {
				ann = fmt.Sprintf(`{%q:%q}`, deletionCostAnnotation, p.cost)
			}
			items = append(items, fmt.Sprintf(`{"metadata":{"name":%q,"labels":{"app":"spark-worker"},"annotations":%s},"status":{"phase":"Running","podIP":%q}}`, p.name, ann, p.ip))
		}
		fmt.Fprintf(w, `{"kind":"PodList","apiVersion":"v1","items":[%s]}`, strings.Join(items, ","))
	case resource == "pods":
		var patch struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if !readPatch(&patch) {
			return
		}
		for i := range f.pods {
			if ns == "logwise" && f.pods[i].name == name {
				f.pods[i].cost = patch.Metadata.Annotations[deletionCostAnnotation]
				fmt.Fprintf(w, `{"kind":"Pod","metadata":{"name":%q}}`, name)
				return
			}
		}
		fail(404, "NotFound", fmt.Sprintf(`pods %q not found`, name))
	default:
		key := ns + "/" + name
		n, ok := f.replicas[key]
		if key == "logwise/spark-worker" {
			n, ok = len(f.pods), true
		}
		if !ok {
			fail(404, "NotFound", fmt.Sprintf(`deployments.apps "%s" not found`, name))
			return
		}
		if r.Method == http.MethodPatch {
			var p struct {
				Metadata struct {
					ResourceVersion string `json:"resourceVersion"`
				} `json:"metadata"`
				Spec struct {
					Replicas *int `json:"replicas"`
				} `json:"spec"`
			}
			if !readPatch(&p) {
				return
			}
			if p.Spec.Replicas == nil {
				fail(422, "Invalid", "spec.replicas missing")
				return
			}
			if key == "logwise/spark-worker" {
				if p.Metadata.ResourceVersion == "" {
					f.stalePatches++
				}
				if f.conflicts > 0 { // someone else resized it meanwhile
					f.conflicts--
					f.version++
					f.resize(len(f.pods) + 1)
				}
				if p.Metadata.ResourceVersion != "" && p.Metadata.ResourceVersion != strconv.Itoa(f.version) {
					fail(409, "Conflict", `Operation cannot be fulfilled on deployments.apps "spark-worker": the object has been modified; please apply your changes to the latest version and try again`)
					return
				}
				f.version++
			}
			n = *p.Spec.Replicas
			f.patches++
			if key == "logwise/spark-worker" {
				f.resize(n)
			} else {
				f.replicas[key] = n
			}
		}
		if key == "logwise/spark-worker" {
			n = len(f.pods)
		}
		fmt.Fprintf(w, `{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":%q,"namespace":%q,"resourceVersion":"%d"},"spec":{"replicas":%d},"status":{"replicas":%d,"selector":"app=spark-worker"}}`, name, ns, f.version, n, n)
	}
}

// resize adds pods, or removes the cheapest to delete (oldest first among equals).
func (f *fakeAPIServer) resize(n int) {
	for len(f.pods) < n {
		f.nextPod++
		f.pods = append(f.pods, pod{name: fmt.Sprintf("spark-worker-%d", f.nextPod), ip: fmt.Sprintf("10.1.0.%d", f.nextPod)})
	}
	for len(f.pods) > n {
		victim := 0
		for i, p := range f.pods {
			if cost(p) < cost(f.pods[victim]) {
				victim = i
			}
		}
		f.pods = slices.Delete(f.pods, victim, victim+1)
	}
}

func cost(p pod) int {
	n, _ := strconv.Atoi(p.cost)
	return n
}

func (f *fakeAPIServer) podNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.pods {
		out = append(out, p.name)
	}
	return out
}

func startAPIServer(t *testing.T) (*fakeAPIServer, *httptest.Server, []byte) {
	t.Helper()
	all := map[string]bool{"get deployments/scale": true, "patch deployments/scale": true, "update deployments/scale": true, "list pods": true, "patch pods": true}
	f := &fakeAPIServer{replicas: map[string]int{},
		verbs: map[string]map[string]bool{
			"good":       all,
			"readonly":   {"get deployments/scale": true},
			"scale-only": {"get deployments/scale": true, "patch deployments/scale": true},
		}}
	f.resize(3)
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-certificate case logs a handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return f, srv, ca
}

// sixPods scales the fake API server's Deployment to 6 pods and returns the actuator (with
// every permission) and the Spark workers on those pods: worker-i on host(i).
func sixPods(t *testing.T, srv *httptest.Server, ca []byte, host func(i int) string) (*Kubernetes, []Worker) {
	t.Helper()
	k, err := NewKubernetes(KubernetesTarget{Namespace: "logwise", Deployment: "spark-worker", Server: srv.URL, CAPEM: ca, Token: StaticToken("good")})
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Resize(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	var workers []Worker
	for i := 1; i <= 6; i++ {
		workers = append(workers, Worker{ID: fmt.Sprintf("worker-%d", i), Host: host(i), State: "ALIVE"})
	}
	return k, workers
}

// podIP is the IP of the fake API server's pod spark-worker-i.
func podIP(i int) string { return fmt.Sprintf("10.1.0.%d", i) }

// TestKubernetesDownscaleKeepsTheDriverPod: the driver runs on the oldest pod, which a
// ReplicaSet would remove first; the actuator protects it with a pod-deletion-cost.
func TestKubernetesDownscaleKeepsTheDriverPod(t *testing.T) {
	t.Parallel()
	f, srv, ca := startAPIServer(t)
	ctx := context.Background()
	// Spark workers on pods 1..6 (by pod IP); the driver is on spark-worker-1's worker.
	k, workers := sixPods(t, srv, ca, podIP)
	c := Cluster{Drivers: []Driver{{ID: "driver-1", State: "RUNNING", Worker: "worker-1"}}, Workers: workers}
	a, err := k.Apply(ctx, Decision{Action: Downscale, From: 6, Target: 4}, c)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(f.podNames()); got != "[spark-worker-1 spark-worker-4 spark-worker-5 spark-worker-6]" || a.Target != 4 || !strings.Contains(a.Note, "spark-worker-1") {
		t.Errorf("pods after 6 → 4: %s (note %q); want the driver's spark-worker-1 kept", got, a.Note)
	}
	// Without permission to annotate pods, no downscale is made.
	k2, _ := NewKubernetes(KubernetesTarget{Namespace: "logwise", Deployment: "spark-worker", Server: srv.URL, CAPEM: ca, Token: StaticToken("scale-only")})
	_, err = k2.Apply(ctx, Decision{Action: Downscale, From: 4, Target: 3}, c)
	if !fault.Is(err, fault.Forbidden) || !strings.Contains(err.Error(), `verb "list" on resource "pods"`) || len(f.podNames()) != 4 {
		t.Errorf("scale-only token: %v, %d pods; want Forbidden naming list pods and 4 pods left", err, len(f.podNames()))
	}
	// An upscale needs no pod permissions.
	if _, err := k2.Apply(ctx, Decision{Action: Upscale, From: 4, Target: 5}, c); err != nil || len(f.podNames()) != 5 {
		t.Errorf("upscale with scale-only token: %v, %d pods", err, len(f.podNames()))
	}
}

func TestKubernetesResizeAuthModes(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
	_, srv, ca := startAPIServer(t)
	tests := []struct {
		name       string
		deployment string
		token      string
		wantKind   fault.Kind
		wantText   []string
	}{
		{"RBAC denies patch", "spark-worker", "readonly", fault.Forbidden, []string{`verb "patch" on resource "deployments/scale" (apiGroup apps) in namespace logwise`}},
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

// TestKubernetesDownscaleMatchesWorkersByDNSName: workers registered under the pods' DNS
// names (a headless Service: <pod>.<service>.<ns>.svc.cluster.local, or the pod IP dashed)
// are matched to their pods, and the driver's pod is kept.
func TestKubernetesDownscaleMatchesWorkersByDNSName(t *testing.T) {
	t.Parallel()
	for _, host := range []func(i int) string{
		func(i int) string { return fmt.Sprintf("spark-worker-%d.spark-worker.logwise.svc.cluster.local", i) },
		func(i int) string { return fmt.Sprintf("10-1-0-%d.spark-worker.logwise.svc.cluster.local", i) },
	} {
		t.Run(host(1), func(t *testing.T) {
			f, srv, ca := startAPIServer(t)
			ctx := context.Background()
			k, workers := sixPods(t, srv, ca, host)
			c := Cluster{Drivers: []Driver{{ID: "driver-1", State: "RUNNING", Worker: "worker-1"}}, Workers: workers}
			a, err := k.Apply(ctx, Decision{Action: Downscale, From: 6, Target: 4}, c)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(f.podNames()); got != "[spark-worker-1 spark-worker-4 spark-worker-5 spark-worker-6]" || a.Target != 4 {
				t.Errorf("pods after 6 → 4: %s (note %q); want the driver's spark-worker-1 kept", got, a.Note)
			}
		})
	}
}

// TestKubernetesDownscaleRefusedWhenTheDriverCannotBeMatched: a driver whose pod cannot be
// found (an unknown host, or a driver SUBMITTED or RELAUNCHING with no worker yet) refuses
// the downscale with the reason in Applied.Note; an upscale is still made.
func TestKubernetesDownscaleRefusedWhenTheDriverCannotBeMatched(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		driver Driver
		host1  string
		want   string
	}{
		{"host matches no pod", Driver{ID: "driver-1", State: "RUNNING", Worker: "worker-1"}, "ip-10-9-9-9.ec2.internal", "ip-10-9-9-9.ec2.internal"},
		{"submitted, no worker", Driver{ID: "driver-1", State: "SUBMITTED", Worker: "None"}, "10.1.0.1", "driver-1 (SUBMITTED) has no worker"},
		{"relaunching, no worker", Driver{ID: "driver-1", State: "RELAUNCHING", Worker: ""}, "10.1.0.1", "driver-1 (RELAUNCHING) has no worker"},
		{"worker not listed", Driver{ID: "driver-1", State: "RUNNING", Worker: "worker-99"}, "10.1.0.1", "worker-99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, srv, ca := startAPIServer(t)
			ctx := context.Background()
			k, workers := sixPods(t, srv, ca, func(i int) string {
				if i == 1 {
					return tt.host1
				}
				return podIP(i)
			})
			c := Cluster{Drivers: []Driver{tt.driver}, Workers: workers}
			a, err := k.Apply(ctx, Decision{Action: Downscale, From: 6, Target: 4}, c)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(f.podNames()); n != 6 || a.Target != 6 || !strings.Contains(a.Note, "downscale refused") || !strings.Contains(a.Note, tt.want) {
				t.Errorf("applied %+v, %d pods; want the downscale refused (6 pods, target 6) with a note naming %q", a, n, tt.want)
			}
			if a, err := k.Apply(ctx, Decision{Action: Upscale, From: 6, Target: 7}, c); err != nil || len(f.podNames()) != 7 || a.Target != 7 {
				t.Errorf("upscale: %+v, %v, %d pods; want 7", a, err, len(f.podNames()))
			}
		})
	}
}

// TestKubernetesResizeNeverOverwritesAConcurrentChange: the PATCH carries the Scale's
// resourceVersion; when an HPA or a person changed the replicas between the read and the
// write, the 409 is a Conflict and their value stays.
func TestKubernetesResizeNeverOverwritesAConcurrentChange(t *testing.T) {
	t.Parallel()
	f, srv, ca := startAPIServer(t)
	ctx := context.Background()
	k, _ := NewKubernetes(KubernetesTarget{Namespace: "logwise", Deployment: "spark-worker", Server: srv.URL, CAPEM: ca, Token: StaticToken("good")})
	if err := k.Resize(ctx, 5); err != nil || f.stalePatches != 0 {
		t.Fatalf("resize 3 → 5: %v; %d patches without a resourceVersion", err, f.stalePatches)
	}
	f.mu.Lock()
	f.conflicts = 1 // someone resizes 5 → 6 between our read and our write
	f.mu.Unlock()
	err := k.Resize(ctx, 2)
	if !fault.Is(err, fault.Conflict) || len(f.podNames()) != 6 {
		t.Errorf("resize racing a concurrent change: %v, %d pods; want Conflict and the other writer's 6 kept", err, len(f.podNames()))
	}
}
