package scaling

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

func TestNewActuatorPerClusterType(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	os.WriteFile(kc, []byte(fmt.Sprintf("current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: 'https://k8s.example:6443', certificate-authority-data: %s}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n",
		base64.StdEncoding.EncodeToString([]byte("not a cert")))), 0o600)
	ca := filepath.Join(dir, "ca.pem")
	_, _, caPEM := startAPIServer(t)
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
		{"asg", spark(func(c *config.Cluster) { c.ClusterType = "asg"; c.ASG.AWS.Name = "spark" }), "*scaling.ASG", 0, false},
		{"eks", spark(func(c *config.Cluster) {
			c.ClusterType = "kubernetes"
			c.Kubernetes.EKSClusterName, c.Kubernetes.APIServer, c.Kubernetes.CAFile = "prod", "https://eks.example", ca
		}), "*scaling.Kubernetes", 0, false},
		{"eks without api server", spark(func(c *config.Cluster) { c.ClusterType = "kubernetes"; c.Kubernetes.EKSClusterName = "prod" }), "", fault.Invalid, true},
		{"kubeconfig with an exec plugin is explained", spark(func(c *config.Cluster) { c.ClusterType = "kubernetes"; c.Kubernetes.Kubeconfig = kc }), "", fault.Invalid, true},
		{"in-cluster outside a cluster", spark(func(c *config.Cluster) { c.ClusterType = "kubernetes" }), "", fault.Invalid, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewActuator(context.Background(), tc.s, motoConfig())
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
