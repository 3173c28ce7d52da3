package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/logwise/controlplane/shared/spark/sparktest"
)

// workerDeployment simulates the Kubernetes Deployment that runs the demo's Spark workers:
// the API server's scale subresource and the pods the scaler's actuator reads and annotates,
// over TLS with a bearer token, as a real API server is reached. Setting the replicas starts
// workers on the simulated master or stops them, pods with the lowest
// pod-deletion-cost first (then the newest), as a ReplicaSet does.
type workerDeployment struct {
	mu       sync.Mutex
	master   *sparktest.Master
	spec     sparktest.WorkerSpec
	pods     []*workerPod // running, oldest first
	replicas int
	srv      *httptest.Server
	// CAFile and TokenFile are what the tenant's spark.cluster.kubernetes points at.
	CAFile, TokenFile string
}

type workerPod struct {
	name, workerID, ip string
	annotations        map[string]string
}

const (
	demoNamespace  = "logwise"
	demoDeployment = "spark-worker"
	demoKubeToken  = "demo-token"
	deletionCost   = "controller.kubernetes.io/pod-deletion-cost"
)

// startWorkerDeployment starts the API server with replicas workers running; its CA and token
// files are written under dir.
func startWorkerDeployment(master *sparktest.Master, spec sparktest.WorkerSpec, replicas int, dir string) (*workerDeployment, error) {
	d := &workerDeployment{master: master, spec: spec}
	d.scaleTo(replicas)
	d.srv = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	d.CAFile, d.TokenFile = filepath.Join(dir, "kube-ca.crt"), filepath.Join(dir, "kube-token")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d.srv.Certificate().Raw})
	if err := os.WriteFile(d.CAFile, ca, 0o600); err != nil {
		d.srv.Close()
		return nil, fmt.Errorf("write demo Kubernetes CA: %w", err)
	}
	if err := os.WriteFile(d.TokenFile, []byte(demoKubeToken+"\n"), 0o600); err != nil {
		d.srv.Close()
		return nil, fmt.Errorf("write demo Kubernetes token: %w", err)
	}
	return d, nil
}

// URL is the API server's address.
func (d *workerDeployment) URL() string { return d.srv.URL }

// Close stops the API server.
func (d *workerDeployment) Close() { d.srv.Close() }

// Replicas is the Deployment's current size.
func (d *workerDeployment) Replicas() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.replicas
}

// scaleTo starts or stops workers until n run.
func (d *workerDeployment) scaleTo(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.replicas = n
	for len(d.pods) < n {
		id := d.master.AddWorker(d.spec)
		var ip string
		for _, w := range d.master.Workers() {
			if w.ID == id {
				ip = w.Host
			}
		}
		d.pods = append(d.pods, &workerPod{name: "spark-worker-" + strconv.Itoa(len(d.master.Workers())), workerID: id, ip: ip, annotations: map[string]string{}})
	}
	for len(d.pods) > n {
		// The lowest deletion cost goes first; among equals, the newest.
		victim := len(d.pods) - 1
		for i := len(d.pods) - 1; i >= 0; i-- {
			if cost(d.pods[i]) < cost(d.pods[victim]) {
				victim = i
			}
		}
		d.master.LoseWorker(d.pods[victim].workerID)
		d.pods = slices.Delete(d.pods, victim, victim+1)
	}
}

func cost(p *workerPod) int {
	n, _ := strconv.Atoi(p.annotations[deletionCost])
	return n
}

func (d *workerDeployment) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+demoKubeToken {
		kubeStatus(w, http.StatusUnauthorized, "Unauthorized", "bad token")
		return
	}
	ns := "/api/v1/namespaces/" + demoNamespace + "/pods"
	switch {
	case r.URL.Path == "/apis/apps/v1/namespaces/"+demoNamespace+"/deployments/"+demoDeployment+"/scale":
		if r.Method == http.MethodPatch {
			var body struct {
				Spec struct {
					Replicas *int `json:"replicas"`
				} `json:"spec"`
			}
			b, _ := io.ReadAll(r.Body)
			if err := json.Unmarshal(b, &body); err != nil || body.Spec.Replicas == nil || *body.Spec.Replicas < 0 {
				kubeStatus(w, http.StatusUnprocessableEntity, "Invalid", "spec.replicas must be a non-negative integer")
				return
			}
			d.scaleTo(*body.Spec.Replicas)
		}
		n := d.Replicas()
		writeKube(w, map[string]any{"kind": "Scale", "apiVersion": "autoscaling/v1",
			"metadata": map[string]any{"name": demoDeployment, "namespace": demoNamespace},
			"spec":     map[string]any{"replicas": n}, "status": map[string]any{"replicas": n, "selector": "app=spark-worker"}})
	case r.URL.Path == ns && r.Method == http.MethodGet:
		d.mu.Lock()
		var items []any
		for _, p := range d.pods {
			items = append(items, map[string]any{"metadata": map[string]any{"name": p.name, "annotations": p.annotations},
				"status": map[string]any{"podIP": p.ip}})
		}
		d.mu.Unlock()
		writeKube(w, map[string]any{"kind": "PodList", "items": items})
	case len(r.URL.Path) > len(ns)+1 && r.URL.Path[:len(ns)+1] == ns+"/" && r.Method == http.MethodPatch:
		name := r.URL.Path[len(ns)+1:]
		var body struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, p := range d.pods {
			if p.name == name {
				for k, v := range body.Metadata.Annotations {
					p.annotations[k] = v
				}
				writeKube(w, map[string]any{"kind": "Pod", "metadata": map[string]any{"name": p.name, "annotations": p.annotations}})
				return
			}
		}
		kubeStatus(w, http.StatusNotFound, "NotFound", "pods \""+name+"\" not found")
	default:
		kubeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
	}
}

func writeKube(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func kubeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"kind": "Status", "status": "Failure", "reason": reason, "message": msg, "code": code})
}
