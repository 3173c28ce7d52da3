package actuators

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/scaling"
)

// InProcess builds each tenant's actuator (Kubernetes, Auto Scaling Group) on its first
// decision: the scaler function and the local runner. wrapHTTP wraps the Kubernetes HTTP
// client (tracing).
func InProcess(awsCfg aws.Config, wrapHTTP func(*http.Client) *http.Client) func(config.Tenant) scaling.Actuator {
	return func(t config.Tenant) scaling.Actuator {
		switch t.Spark.Cluster.ClusterType {
		case "kubernetes", "k8s", "asg":
			return &lazyActuator{build: func(ctx context.Context) (scaling.Actuator, error) {
				return NewActuator(ctx, t.Spark, awsCfg, wrapHTTP)
			}}
		}
		return nil
	}
}

// lazyActuator builds its actuator on first use; a failed build is retried on the next decision.
type lazyActuator struct {
	mu    sync.Mutex
	act   scaling.Actuator
	build func(context.Context) (scaling.Actuator, error)
}

func (l *lazyActuator) Apply(ctx context.Context, d scaling.Decision, c scaling.Cluster) (scaling.Applied, error) {
	l.mu.Lock()
	if l.act == nil {
		act, err := l.build(ctx)
		if err != nil {
			l.mu.Unlock()
			return scaling.Applied{}, fmt.Errorf("spark.cluster: %w", err)
		}
		l.act = act
	}
	act := l.act
	l.mu.Unlock()
	return act.Apply(ctx, d, c)
}
