package leastprivilege

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// eksTenant is the scaler's second tenant, whose Spark workers are a Deployment on EKS: the
// scaler finds the cluster's API server and CA with eks:DescribeCluster (answered by eksWorld
// once the recorder has judged the call, since moto's cluster endpoints are not on loopback)
// and scales the Deployment there with an EKS token.
const (
	eksTenant  = "lpeks"
	eksCluster = "lp-eks"
)

// eksWorld is the EKS cluster: its DescribeCluster answer and its Kubernetes API server.
type eksWorld struct {
	kube    *httptest.Server
	ca      []byte
	patched atomic.Int32 // scale writes the API server accepted
}

func newEKSWorld(t *testing.T) *eksWorld {
	t.Helper()
	e := &eksWorld{}
	e.kube = httptest.NewUnstartedServer(http.HandlerFunc(e.serveKube))
	e.kube.Config.ErrorLog = log.New(io.Discard, "", 0)
	e.kube.StartTLS()
	t.Cleanup(e.kube.Close)
	e.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.kube.Certificate().Raw})
	return e
}

// serveKube is the Deployment's scale subresource, for a caller bearing an EKS token.
func (e *eksWorld) serveKube(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer k8s-aws-v1.") {
		http.Error(w, `{"kind":"Status","reason":"Unauthorized","code":401}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/apis/apps/v1/namespaces/logwise/deployments/spark-worker/scale" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.Method {
	case http.MethodGet:
		fmt.Fprint(w, `{"kind":"Scale","metadata":{"resourceVersion":"7"},"spec":{"replicas":1},"status":{"replicas":1}}`)
	case http.MethodPatch:
		e.patched.Add(1)
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	default:
		http.Error(w, "method", http.StatusMethodNotAllowed)
	}
}

// ServeHTTP answers eks:DescribeCluster (GET /clusters/<name>) as EKS does.
func (e *eksWorld) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/clusters/"+eksCluster {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		http.Error(w, `{"message":"No cluster found"}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"cluster": map[string]any{
		"name": eksCluster, "status": "ACTIVE", "endpoint": e.kube.URL,
		"arn":                  "arn:aws:eks:" + region + ":" + accountID + ":cluster/" + eksCluster,
		"certificateAuthority": map[string]string{"data": base64.StdEncoding.EncodeToString(e.ca)},
	}})
}
