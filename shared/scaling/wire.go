package scaling

import (
	"context"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

// Actuator applies a decision to the cluster (Kubernetes, ASG).
type Actuator interface {
	Apply(ctx context.Context, d Decision, c Cluster) (Applied, error)
}

// ErrActivityInProgress means an Auto Scaling group is busy with a scaling activity: the decision is
// retried on the next tick rather than forced.
var ErrActivityInProgress = fault.Conflictf("a scaling activity is in progress; retried next tick")

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
