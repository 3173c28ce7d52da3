package actuators

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/scaling"
)

// scaleServer is a Kubernetes API server over TLS that answers a Deployment's scale (3
// replicas) to a request bearing an EKS token; it returns the server and its CA (PEM).
func scaleServer(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer k8s-aws-v1.") {
			http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet || r.URL.Path != "/apis/apps/v1/namespaces/logwise/deployments/spark-worker/scale" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"Scale","metadata":{"resourceVersion":"1"},"spec":{"replicas":3},"status":{"replicas":3}}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestNewActuatorPerClusterType(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kc, []byte(fmt.Sprintf("current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://k8s.example:6443', certificate-authority-data: %s}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n",
		base64.StdEncoding.EncodeToString([]byte("not a cert")))), 0o600)
	ca := filepath.Join(dir, "ca.pem")
	_, caPEM := scaleServer(t)
	os.WriteFile(ca, caPEM, 0o600)
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	spark := func(mod func(*config.Cluster)) config.Spark {
		s := config.Spark{}
		s.Cluster.Kubernetes.Namespace, s.Cluster.Kubernetes.DeploymentName = "logwise", "spark-worker"
		mod(&s.Cluster)
		return s
	}
	tests := []struct {
		name     string
		s        config.Spark
		wantType string
		wantKind fault.Kind
		wantErr  bool
	}{
		{"docker has none", spark(func(c *config.Cluster) { c.ClusterType = "docker" }), "<nil>", 0, false},
		{"empty has none", spark(func(c *config.Cluster) {}), "<nil>", 0, false},
		{"asg", spark(func(c *config.Cluster) { c.ClusterType = "asg"; c.ASG.AWS.Name = "spark" }), "*actuators.ASG", 0, false},
		{"eks", spark(func(c *config.Cluster) {
			c.ClusterType = "kubernetes"
			c.Kubernetes.EKSClusterName, c.Kubernetes.APIServer, c.Kubernetes.CAFile = "prod", "https://eks.example", ca
		}), "*scaling.Kubernetes", 0, false},
		{"kubeconfig with an exec plugin is explained", spark(func(c *config.Cluster) { c.ClusterType = "kubernetes"; c.Kubernetes.Kubeconfig = kc }), "", fault.Invalid, true},
		{"in-cluster outside a cluster", spark(func(c *config.Cluster) { c.ClusterType = "kubernetes" }), "", fault.Invalid, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewActuator(context.Background(), tc.s, motoConfig(), nil)
			if tc.wantErr {
				if !fault.Is(err, tc.wantKind) {
					t.Errorf("got %T, %v; want a %v error", a, err, tc.wantKind)
				}
				return
			}
			if err != nil || fmt.Sprintf("%T", a) != tc.wantType {
				t.Errorf("got %T, %v; want %s", a, err, tc.wantType)
			}
		})
	}
}

// fakeEKS is the EKS API's DescribeCluster (restJson1 GET /clusters/{name}) for one cluster.
type fakeEKS struct {
	name, endpoint string
	ca             []byte
	calls          atomic.Int32
}

func (f *fakeEKS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if !strings.Contains(r.Header.Get("Authorization"), "/eks/aws4_request") {
		http.Error(w, `{"message":"unsigned"}`, http.StatusForbidden)
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/clusters/"+f.name {
		w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"No cluster found for name: %s."}`, strings.TrimPrefix(r.URL.Path, "/clusters/"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"cluster":{"name":%q,"status":"ACTIVE","endpoint":%q,"certificateAuthority":{"data":%q}}}`,
		f.name, f.endpoint, base64.StdEncoding.EncodeToString(f.ca))
}

// TestEKSClusterNameSuffices: with only eksClusterName, the actuator reads the cluster's
// endpoint and CA from eks:DescribeCluster and reaches the API server over TLS with them;
// apiServer and caFile, when both set, are used without asking EKS; an unknown cluster is an
// invalid setting naming it.
func TestEKSClusterNameSuffices(t *testing.T) {
	kube, caPEM := scaleServer(t)
	fe := &fakeEKS{name: "prod", endpoint: kube.URL, ca: caPEM}
	eksSrv := httptest.NewServer(fe)
	defer eksSrv.Close()
	cfg := motoConfig()
	cfg.BaseEndpoint = aws.String(eksSrv.URL)
	s := config.Spark{}
	s.Cluster.ClusterType = "kubernetes"
	s.Cluster.Kubernetes = config.ClusterKubernetes{Namespace: "logwise", DeploymentName: "spark-worker", EKSClusterName: "prod"}
	wrapped := 0
	a, err := NewActuator(context.Background(), s, cfg, func(c *http.Client) *http.Client { wrapped++; return c })
	if err != nil {
		t.Fatal(err)
	}
	k, ok := a.(*scaling.Kubernetes)
	if !ok || fe.calls.Load() != 1 || wrapped != 1 {
		t.Fatalf("actuator %T after %d DescribeCluster calls (wrapped %d); want a Kubernetes actuator from one call, traced", a, fe.calls.Load(), wrapped)
	}
	// It reaches the endpoint DescribeCluster gave, trusting its CA, with an EKS token.
	if n, err := k.Replicas(context.Background()); err != nil || n != 3 {
		t.Fatalf("replicas through the EKS endpoint and CA: %d, %v; want 3", n, err)
	}

	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, caPEM, 0o600)
	s.Cluster.Kubernetes.APIServer, s.Cluster.Kubernetes.CAFile = kube.URL, ca
	if _, err := NewActuator(context.Background(), s, cfg, nil); err != nil || fe.calls.Load() != 1 {
		t.Fatalf("with apiServer and caFile: %v after %d DescribeCluster calls; want no call", err, fe.calls.Load())
	}

	s.Cluster.Kubernetes.APIServer, s.Cluster.Kubernetes.CAFile, s.Cluster.Kubernetes.EKSClusterName = "", "", "staging"
	_, err = NewActuator(context.Background(), s, cfg, nil)
	if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), "staging") || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("unknown cluster: %v; want an invalid setting naming staging", err)
	}
}
