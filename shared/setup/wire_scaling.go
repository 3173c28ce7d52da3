package setup

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/kafka"
	"github.com/logwise/controlplane/shared/scaling"
	"github.com/logwise/controlplane/shared/store"
)

// wireScaling serves the scaling and Kafka routes and schedules the scaler job (worker
// scaling, then Kafka partition scaling, per tenant under the scaler lease).
func wireScaling(a *App) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var kts []kafka.Tenant
	var sts []scaling.Tenant
	for _, t := range a.Env.Config.Tenants {
		creds := kafka.Credentials{User: t.Kafka.ConfluentAPIKey, Password: t.Kafka.ConfluentAPISecret}
		if arn := t.Kafka.CredentialsSecretARN; arn != "" {
			s, err := a.Env.Secret(ctx, arn)
			if err != nil {
				return fmt.Errorf("tenants %s kafka.credentialsSecretArn: %w", t.Name, err)
			}
			var body struct{ Username, Password string }
			if err := json.Unmarshal([]byte(s), &body); err != nil || body.Username == "" {
				return fmt.Errorf("tenant %s: kafka.credentialsSecretArn must hold JSON {\"username\",\"password\"}", t.Name)
			}
			creds = kafka.Credentials{User: body.Username, Password: body.Password}
		}
		adm, err := kafka.Connect(t.Kafka, a.Env.AWS.Credentials, creds)
		if err != nil {
			return fmt.Errorf("tenant %s: kafka: %w", t.Name, err)
		}
		a.kafkaAdmins[t.Name] = adm
		kts = append(kts, kafka.Tenant{Name: t.Name, Kafka: t.Kafka, SubscribePattern: t.Spark.SubscribePattern, Admin: adm})
		act, err := scaling.NewActuator(ctx, t.Spark, a.Env.AWS)
		if err != nil {
			return fmt.Errorf("tenant %s: spark.cluster: %w", t.Name, err)
		}
		sts = append(sts, scaling.TenantFrom(t, masterCluster{a.clients.Spark(t)}, sinkLog{a.clients.Logs(t)}, act))
	}
	ks := kafka.NewService(a.Env.Store, a.Env.Executions, kts)
	ks.SetMetrics(a.Env.Metrics)
	svc := scaling.NewService(a.Env.Store, a.Env.Executions, ks, sts)
	svc.SetMetrics(a.Env.Metrics)
	a.deps.Scaling = svc
	a.jobs["scaler"] = Job{
		Keys: a.Env.TenantNames,
		TTL:  scaling.LeaseTTL,
		Run: func(ctx context.Context, key string, l store.Lease) (any, error) {
			return svc.Reconcile(ctx, key, l)
		},
	}
	return nil
}
