package scaling

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

// Actuator applies a decision to the cluster (Kubernetes, ASG).
type Actuator interface {
	Apply(ctx context.Context, d Decision, c Cluster) (Applied, error)
}

// PolicyFrom reads a tenant's sizing policy.
func PolicyFrom(s config.Spark) Policy {
	return Policy{PerCoreLogsProcess: int64(s.PerCoreLogsProcess), ExecutorCoresPerMachine: s.ExecutorCoresPerMachine,
		MinWorkers: s.MinWorkerCount, MaxWorkers: s.MaxWorkerCount}
}

// TenantFrom builds a tenant's scaling setup from its configuration and its Spark master,
// file-sink log listing and actuator (nil for docker or no cluster type).
func TenantFrom(t config.Tenant, master clusterSource, sink sinkLogLister, act Actuator) Tenant {
	return Tenant{Name: t.Name, Policy: PolicyFrom(t.Spark), ClusterType: t.Spark.Cluster.ClusterType, DryRun: t.Spark.DryRun,
		HistoryRetention: time.Duration(t.Spark.StageHistoryRetentionHours) * time.Hour,
		Master:           master, SinkLog: sink, Actuator: act}
}

// NewActuator builds the actuator a tenant's spark.cluster configures: a Kubernetes
// Deployment (EKS token when eksClusterName is set, else a kubeconfig when given, else the
// in-cluster service account) or an Auto Scaling Group. docker and an empty cluster type
// have none (nil, nil).
func NewActuator(ctx context.Context, s config.Spark, awsCfg aws.Config) (Actuator, error) {
	c := s.Cluster
	switch c.ClusterType {
	case "kubernetes", "k8s":
		k := c.Kubernetes
		var target KubernetesTarget
		var err error
		switch {
		case k.EKSClusterName != "":
			if k.APIServer == "" || k.CAFile == "" {
				return nil, fault.New(fault.Invalid, "spark.cluster.kubernetes.eksClusterName needs apiServer and caFile (from eks describe-cluster: endpoint and certificateAuthority)")
			}
			ca, rerr := os.ReadFile(k.CAFile)
			if rerr != nil {
				return nil, fmt.Errorf("read EKS CA %s: %w", k.CAFile, rerr)
			}
			cfg := awsCfg.Copy()
			if k.EKSRegion != "" {
				cfg.Region = k.EKSRegion
			}
			target = KubernetesTarget{Namespace: k.Namespace, Deployment: k.DeploymentName, Server: k.APIServer, CAPEM: ca, Token: NewEKSToken(cfg, k.EKSClusterName)}
		case k.Kubeconfig != "":
			target, err = FromKubeconfig(k.Kubeconfig, k.Namespace, k.DeploymentName)
		default:
			target, err = InCluster(k.Namespace, k.DeploymentName, k.APIServer, k.CAFile, k.TokenFile)
		}
		if err != nil {
			return nil, err
		}
		return NewKubernetes(target)
	case "asg":
		a := c.ASG.AWS
		cfg := awsCfg.Copy()
		if a.Region != "" {
			cfg.Region = a.Region
		}
		asg := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
			if a.EndpointOverride != "" {
				o.BaseEndpoint = aws.String(a.EndpointOverride)
			}
		})
		return NewASG(a.Name, asg, newEC2Query(cfg, a.EndpointOverride)), nil
	}
	return nil, nil
}
