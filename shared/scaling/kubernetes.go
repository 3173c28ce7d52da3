package scaling

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/logwise/controlplane/shared/fault"
)

// In-cluster service account files.
const (
	serviceAccountToken = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	serviceAccountCA    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// tokenSource supplies a bearer token for each request (service account tokens rotate; EKS
// tokens live 15 minutes).
type tokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Kubernetes resizes a Deployment of Spark workers through its scale subresource, over plain
// net/http (client-go would add ~20 MB for two calls).
type Kubernetes struct {
	server    string // https://host:port
	namespace string
	name      string
	http      *http.Client
	token     tokenSource
}

// KubernetesTarget names the Deployment and how to reach its API server.
type KubernetesTarget struct {
	Namespace, Deployment string
	// Server is the API server URL; CAPEM its CA bundle (nil: system roots).
	Server string
	CAPEM  []byte
	// Token authenticates each request.
	Token tokenSource
	// WrapHTTP, when set, wraps the client (tracing).
	WrapHTTP func(*http.Client) *http.Client
}

// NewKubernetes returns an actuator for a target.
func NewKubernetes(t KubernetesTarget) (*Kubernetes, error) {
	if t.Server == "" || t.Namespace == "" || t.Deployment == "" || t.Token == nil {
		return nil, fault.New(fault.Invalid, "kubernetes actuator needs an API server, namespace, deployment and credentials")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if len(t.CAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.CAPEM) {
			return nil, fault.New(fault.Invalid, "kubernetes CA bundle for %s holds no PEM certificate", t.Server)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	if t.WrapHTTP != nil {
		hc = t.WrapHTTP(hc)
	}
	return &Kubernetes{server: strings.TrimRight(t.Server, "/"), namespace: t.Namespace, name: t.Deployment, http: hc, token: t.Token}, nil
}

// InCluster returns the target of a Lambda or pod using a service account token file: server
// from KUBERNETES_SERVICE_HOST/PORT unless given, CA and token from the service account
// files unless given.
func InCluster(namespace, deployment, server, caFile, tokenFile string) (KubernetesTarget, error) {
	if server == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" {
			return KubernetesTarget{}, fault.New(fault.Invalid, "no Kubernetes API server: set spark.cluster.kubernetes.apiServer or run in-cluster")
		}
		server = "https://" + net.JoinHostPort(host, port)
	}
	if caFile == "" {
		caFile = serviceAccountCA
	}
	if tokenFile == "" {
		tokenFile = serviceAccountToken
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return KubernetesTarget{}, fmt.Errorf("read Kubernetes CA %s: %w", caFile, err)
	}
	return KubernetesTarget{Namespace: namespace, Deployment: deployment, Server: server, CAPEM: ca, Token: FileToken(tokenFile)}, nil
}

// FileToken reads the token file on every request, so rotated projected tokens are picked up.
type FileToken string

// Token implements tokenSource.
func (f FileToken) Token(context.Context) (string, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return "", fmt.Errorf("read Kubernetes token file %s: %w", string(f), err)
	}
	return strings.TrimSpace(string(b)), nil
}

// StaticToken is a fixed bearer token.
type StaticToken string

// Token implements tokenSource.
func (s StaticToken) Token(context.Context) (string, error) { return string(s), nil }

// kubeconfig is the part of a kubeconfig file the actuator reads.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Contexts       []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster   string `yaml:"cluster"`
			User      string `yaml:"user"`
			Namespace string `yaml:"namespace"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Clusters []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			CertificateAuthority     string `yaml:"certificate-authority"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			Token     string `yaml:"token"`
			TokenFile string `yaml:"tokenFile"`
			Exec      any    `yaml:"exec"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// FromKubeconfig returns the target of a kubeconfig file's current context (server, CA and a
// token or token file; exec plugins are not run: use eksClusterName for EKS).
func FromKubeconfig(path, namespace, deployment string) (KubernetesTarget, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return KubernetesTarget{}, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		return KubernetesTarget{}, fault.Wrap(fault.Invalid, err, "parse kubeconfig %s", path)
	}
	bad := func(format string, args ...any) (KubernetesTarget, error) {
		return KubernetesTarget{}, fault.New(fault.Invalid, "kubeconfig %s: "+format, append([]any{path}, args...)...)
	}
	var clusterName, userName string
	found := false
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			clusterName, userName, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return bad("current-context %q is not among its contexts", kc.CurrentContext)
	}
	t := KubernetesTarget{Namespace: namespace, Deployment: deployment}
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		t.Server = c.Cluster.Server
		switch {
		case c.Cluster.CertificateAuthorityData != "":
			if t.CAPEM, err = base64.StdEncoding.DecodeString(c.Cluster.CertificateAuthorityData); err != nil {
				return bad("cluster %q certificate-authority-data is not base64", clusterName)
			}
		case c.Cluster.CertificateAuthority != "":
			ca := c.Cluster.CertificateAuthority
			if !filepath.IsAbs(ca) {
				ca = filepath.Join(filepath.Dir(path), ca)
			}
			if t.CAPEM, err = os.ReadFile(ca); err != nil {
				return KubernetesTarget{}, fmt.Errorf("read kubeconfig CA %s: %w", ca, err)
			}
		}
	}
	if t.Server == "" {
		return bad("cluster %q has no server", clusterName)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		switch {
		case u.User.Token != "":
			t.Token = StaticToken(u.User.Token)
		case u.User.TokenFile != "":
			t.Token = FileToken(u.User.TokenFile)
		case u.User.Exec != nil:
			return bad("user %q authenticates with an exec plugin, which is not run here: set spark.cluster.kubernetes.eksClusterName for EKS or give a token", userName)
		}
	}
	if t.Token == nil {
		return bad("user %q has no token or tokenFile", userName)
	}
	return t, nil
}

// scale is the autoscaling/v1 Scale object, as far as the actuator reads it.
type scale struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Spec struct {
		Replicas int `json:"replicas"`
	} `json:"spec"`
	Status struct {
		Replicas int    `json:"replicas"`
		Selector string `json:"selector"`
	} `json:"status"`
}

// podList is the part of a PodList the actuator reads.
type podList struct {
	Items []struct {
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Status struct {
			PodIP string `json:"podIP"`
		} `json:"status"`
	} `json:"items"`
}

// deletionCostAnnotation makes a ReplicaSet remove pods with a lower cost first.
const (
	deletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"
	driverDeletionCost     = "1000000"
)

func (k *Kubernetes) scalePath() string {
	return fmt.Sprintf("/apis/apps/v1/namespaces/%s/deployments/%s/scale", url.PathEscape(k.namespace), url.PathEscape(k.name))
}

func (k *Kubernetes) scaleWhat(verb string) string {
	return fmt.Sprintf("%s scale of deployment %s/%s", verb, k.namespace, k.name)
}

func (k *Kubernetes) readScale(ctx context.Context) (scale, error) {
	var s scale
	err := k.do(ctx, http.MethodGet, k.scalePath(), nil, &s, "get", "deployments/scale", k.scaleWhat("get"))
	return s, err
}

// Replicas reads the Deployment's desired replicas.
func (k *Kubernetes) Replicas(ctx context.Context) (int, error) {
	s, err := k.readScale(ctx)
	return s.Spec.Replicas, err
}

// protectDrivers gives the Deployment's pods that host a Spark driver a high
// pod-deletion-cost, so that lowering the replicas removes other pods first, and returns
// them. refused says why a downscale must not be made: a driver whose pod cannot be found
// (its worker's host matches no pod, or it has no worker yet: SUBMITTED or RELAUNCHING)
// could be on any pod. current is the Scale object read.
func (k *Kubernetes) protectDrivers(ctx context.Context, c Cluster) (protected []string, refused string, current scale, err error) {
	current, err = k.readScale(ctx)
	if err != nil {
		return nil, "", current, err
	}
	hosts, unplaced := driverHosts(c)
	if len(hosts) == 0 && len(unplaced) == 0 {
		return nil, "", current, nil
	}
	if len(unplaced) > 0 {
		return nil, "a driver's pod cannot be found: " + strings.Join(unplaced, "; "), current, nil
	}
	if current.Status.Selector == "" {
		return nil, "", current, fault.New(fault.Upstream, "%s: the Scale object has no status.selector to find the Deployment's pods", k.scaleWhat("get"))
	}
	var pods podList
	path := fmt.Sprintf("/api/v1/namespaces/%s/pods?labelSelector=%s", url.PathEscape(k.namespace), url.QueryEscape(current.Status.Selector))
	what := fmt.Sprintf("list pods of deployment %s/%s to protect the Spark driver", k.namespace, k.name)
	if err := k.do(ctx, http.MethodGet, path, nil, &pods, "list", "pods", what); err != nil {
		return nil, "", current, err
	}
	matched := map[string]bool{}
	var toAnnotate []string
	for _, p := range pods.Items {
		host := matchHost(hosts, p.Metadata.Name, p.Status.PodIP)
		if host == "" {
			continue
		}
		matched[host] = true
		protected = append(protected, p.Metadata.Name)
		if p.Metadata.Annotations[deletionCostAnnotation] != driverDeletionCost {
			toAnnotate = append(toAnnotate, p.Metadata.Name)
		}
	}
	var missing []string
	for h, driver := range hosts {
		if !matched[h] {
			missing = append(missing, fmt.Sprintf("driver %s runs on worker host %s, which matches no pod of deployment %s/%s", driver, h, k.namespace, k.name))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, "a driver's pod cannot be found: " + strings.Join(missing, "; "), current, nil
	}
	for _, name := range toAnnotate {
		body := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, deletionCostAnnotation, driverDeletionCost))
		path := fmt.Sprintf("/api/v1/namespaces/%s/pods/%s", url.PathEscape(k.namespace), url.PathEscape(name))
		what := fmt.Sprintf("annotate Spark driver pod %s/%s with a pod-deletion-cost", k.namespace, name)
		if err := k.do(ctx, http.MethodPatch, path, body, nil, "patch", "pods", what); err != nil {
			return protected, "", current, err
		}
	}
	return protected, "", current, nil
}

// driverHosts maps the worker host of every active driver to the driver, and describes the
// drivers whose worker is unknown: not yet assigned (SUBMITTED, RELAUNCHING) or not listed.
func driverHosts(c Cluster) (hosts map[string]string, unplaced []string) {
	hosts = map[string]string{}
	workers := map[string]string{}
	for _, w := range c.Workers {
		workers[w.ID] = w.Host
	}
	for _, d := range c.Drivers {
		switch d.State {
		case "FINISHED", "KILLED", "FAILED", "ERROR":
			continue
		}
		if d.Worker == "" || d.Worker == "None" {
			unplaced = append(unplaced, fmt.Sprintf("driver %s (%s) has no worker yet", d.ID, d.State))
			continue
		}
		h, ok := workers[d.Worker]
		if !ok || h == "" {
			unplaced = append(unplaced, fmt.Sprintf("driver %s (%s) runs on worker %s, which the master does not list", d.ID, d.State, d.Worker))
			continue
		}
		hosts[h] = d.ID
	}
	return hosts, unplaced
}

// matchHost returns the worker host among hosts that names the pod: its IP, its name, or a
// DNS name whose first label is the pod name (a headless Service or StatefulSet:
// spark-worker-1.spark-worker.ns.svc.cluster.local) or the pod IP with dashes
// (10-1-0-7.spark-worker.ns.svc.cluster.local). "" when none does.
func matchHost(hosts map[string]string, name, ip string) string {
	dashed := strings.ReplaceAll(ip, ".", "-")
	for h := range hosts {
		first, _, _ := strings.Cut(h, ".")
		if isIP := net.ParseIP(h) != nil; isIP {
			first = h
		}
		switch {
		case h == ip && ip != "", h == name, first == name, first == dashed && ip != "":
			return h
		}
	}
	return ""
}

// Resize sets the Deployment's replicas to target: GET the scale subresource, and PATCH it
// only when it differs (so a repeated decision is a no-op), with the resourceVersion read:
// when an HPA or a person changed it in between, the API answers 409 and the error is a
// Conflict, so their change is never overwritten (the next run reads and decides again).
func (k *Kubernetes) Resize(ctx context.Context, target int) error {
	if target < 0 {
		return fault.New(fault.Invalid, "scale deployment %s/%s: negative replicas %d", k.namespace, k.name, target)
	}
	current, err := k.readScale(ctx)
	if err != nil {
		return err
	}
	return k.resizeFrom(ctx, current, target)
}

func (k *Kubernetes) resizeFrom(ctx context.Context, current scale, target int) error {
	if current.Spec.Replicas == target {
		return nil
	}
	// spec.replicas explicit, 0 never omitted; metadata.resourceVersion makes the write
	// conditional on nothing having changed since the read.
	body := []byte(fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"replicas":%d}}`, current.Metadata.ResourceVersion, target))
	err := k.do(ctx, http.MethodPatch, k.scalePath(), body, nil, "patch", "deployments/scale", k.scaleWhat("patch"))
	if fault.Is(err, fault.Conflict) {
		return fmt.Errorf("replicas changed since they were read as %d (resourceVersion %s); not overwritten: %w", current.Spec.Replicas, current.Metadata.ResourceVersion, err)
	}
	return err
}

// Apply implements Actuator. Before a downscale the driver's pod is protected with a
// pod-deletion-cost; if that fails the downscale is not made (it could remove the driver),
// and if a driver's pod cannot be found the downscale is refused with the reason in Note.
func (k *Kubernetes) Apply(ctx context.Context, d Decision, c Cluster) (Applied, error) {
	if d.Target < 0 {
		return Applied{}, fault.New(fault.Invalid, "scale deployment %s/%s: negative replicas %d", k.namespace, k.name, d.Target)
	}
	var a Applied
	var current scale
	var err error
	if d.Action == Downscale {
		var protected []string
		var refused string
		protected, refused, current, err = k.protectDrivers(ctx, c)
		if err != nil {
			return Applied{}, fmt.Errorf("downscale not made: %w", err)
		}
		if refused != "" {
			return Applied{Target: current.Spec.Replicas, Note: "downscale refused: " + refused}, nil
		}
		if len(protected) > 0 {
			a.Note = "driver pods protected: " + strings.Join(protected, ", ")
		}
	} else if current, err = k.readScale(ctx); err != nil {
		return Applied{}, err
	}
	if err := k.resizeFrom(ctx, current, d.Target); err != nil {
		return Applied{}, err
	}
	a.Target = d.Target
	return a, nil
}

// status is the Kubernetes API error object.
type status struct {
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// do makes one API call; verb and resource name the RBAC permission it needs, what the
// operation, for errors.
func (k *Kubernetes) do(ctx context.Context, method, path string, body []byte, out any, verb, resource, what string) error {
	u := k.server + path
	token, err := k.token.Token(ctx)
	if err != nil {
		return fault.Wrap(fault.Unauthorized, err, "%s: no Kubernetes credentials", what)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	resp, err := k.http.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fault.Wrap(fault.Timeout, err, "%s", what)
		}
		return fault.Wrap(fault.Unavailable, err, "%s: Kubernetes API %s unreachable", what, k.server)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		if out != nil {
			if err := json.Unmarshal(raw, out); err != nil {
				return fault.Wrap(fault.Upstream, err, "%s: unreadable Scale object", what)
			}
		}
		return nil
	}
	var st status
	_ = json.Unmarshal(raw, &st)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fault.New(fault.Unauthorized, "%s: the Kubernetes API rejected the credentials (expired or unknown token): %s", what, st.Message)
	case http.StatusForbidden:
		group := "apps"
		if resource == "pods" {
			group = "core"
		}
		return fault.New(fault.Forbidden, "%s: RBAC denies it; the caller needs verb %q on resource %q (apiGroup %s) in namespace %s: %s", what, verb, resource, group, k.namespace, st.Message)
	case http.StatusNotFound:
		if resource == "pods" {
			return fault.New(fault.NotFound, "%s: not found in namespace %q: %s", what, k.namespace, st.Message)
		}
		return fault.New(fault.NotFound, "%s: deployment %q not found in namespace %q (check spark.cluster.kubernetes.namespace and deploymentName): %s", what, k.name, k.namespace, st.Message)
	case http.StatusConflict:
		return fault.New(fault.Conflict, "%s: conflict: %s", what, st.Message)
	case http.StatusUnprocessableEntity:
		return fault.New(fault.Invalid, "%s: invalid: %s", what, st.Message)
	}
	return fault.New(fault.Upstream, "%s: Kubernetes API answered %d: %s", what, resp.StatusCode, st.Message)
}
