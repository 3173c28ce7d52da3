// Package scalewire wires scaling: Spark worker scaling and Kafka partition scaling, behind
// the API's scaling and Kafka routes and the scaler function. Nothing is contacted and no
// secret is read when it is built: each tenant's Kafka client (and its
// kafka.credentialsSecretArn) and its actuator are made on first use, so a tenant whose Kafka
// or cluster setting is broken fails its own calls (503), not the function.
package scalewire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/kafka"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/scaling"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/tracing"
)

// Actuators returns the actuator that applies a tenant's decisions.
type Actuators func(t config.Tenant) scaling.Actuator

// Scaling is the wired scaling domain.
type Scaling struct {
	Service *scaling.Service
	env     *setup.Env
	kafka   map[string]*Admin
}

// New wires the scaling service; act applies decisions (InProcess in the scaler and the local
// runner; the API sends them to the scaler function).
func New(env *setup.Env, b *buckets.Buckets, act Actuators) *Scaling {
	s := &Scaling{env: env, kafka: map[string]*Admin{}}
	env.OnClose(s.close)
	var kts []kafka.Tenant
	var sts []scaling.Tenant
	for _, t := range env.Config.Tenants {
		adm := &Admin{tenant: t, env: env}
		s.kafka[t.Name] = adm
		kts = append(kts, kafka.Tenant{Name: t.Name, Kafka: t.Kafka, SubscribePattern: t.Spark.SubscribePattern, Admin: adm})
		master := spark.New(spark.Config{Masters: spark.ConfigFrom(t.Spark).Masters, HTTP: env.HTTP})
		sts = append(sts, scaling.TenantFrom(t, masterCluster{master}, sinkLog{b.Logs(t)}, act(t)))
	}
	ks := kafka.NewService(env.Store, env.Executions, kts)
	ks.SetMetrics(env.Metrics)
	s.Service = scaling.NewService(env.Store, env.Executions, ks, sts)
	s.Service.SetMetrics(env.Metrics)
	return s
}

// KafkaProbe answers the pipeline health check's Kafka question for a tenant.
func (s *Scaling) KafkaProbe(t *config.Tenant) (health.KafkaMetadata, error) {
	adm, ok := s.kafka[t.Name]
	if !ok {
		return nil, fmt.Errorf("tenant %s has no Kafka client", t.Name)
	}
	return kafka.Probe{Admin: adm}, nil
}

// close closes the tenants' Kafka clients that were connected (at the Env's Close).
func (s *Scaling) close() {
	for _, adm := range s.kafka {
		adm.close()
	}
}

// AddJobs registers the scaler job: per tenant, worker scaling then partition scaling.
func (s *Scaling) AddJobs(jobs *setup.Jobs) {
	jobs.Add("scaler", setup.Job{
		Keys: s.env.TenantNames,
		TTL:  scaling.LeaseTTL,
		Run: func(ctx context.Context, key string, l store.Lease) (any, error) {
			return s.Service.Reconcile(ctx, key, l)
		},
	})
}

// leaseWaits and leaseWait bound how long scaleNow waits for the API's lease.
const (
	leaseWaits = 4
	leaseWait  = 500 * time.Millisecond
)

// ScaleNow is the event the API sends the scaler function after deciding on a tenant's
// report: {"scaleNow":{"tenant":"..."}}.
type ScaleNow struct {
	Tenant string `json:"tenant"`
}

// Handler is the scaler function's handler: the EventBridge schedule runs the scaler job for
// every tenant; {"scaleNow":{"tenant":...}} (sent by the API) decides again under the
// tenant's lease from the stored reports, the one just posted included, and applies. When a
// scheduled run holds the lease, that run decides and applies instead.
func (s *Scaling) Handler(jobs *setup.Jobs) func(context.Context, json.RawMessage) (any, error) {
	scheduled := jobs.Scheduled("scaler")
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var ev struct {
			ScaleNow *ScaleNow `json:"scaleNow"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		if ev.ScaleNow == nil {
			var sched events.EventBridgeEvent
			_ = json.Unmarshal(raw, &sched) // only its id is logged
			return scheduled(ctx, sched)
		}
		res, err := s.Service.Run(ctx, ev.ScaleNow.Tenant)
		// The API sends this while it still holds the lease it decided under (it releases it
		// right after recording): wait for it a little before leaving the decision to the
		// next scheduled run.
		for wait := 0; errors.Is(err, store.ErrLeaseHeld) && wait < leaseWaits; wait++ {
			select {
			case <-ctx.Done():
			case <-time.After(leaseWait):
				res, err = s.Service.Run(ctx, ev.ScaleNow.Tenant)
			}
		}
		if errors.Is(err, store.ErrLeaseHeld) {
			s.env.Log.InfoContext(ctx, "scale now skipped: a scaler run holds the lease", "tenant", ev.ScaleNow.Tenant)
			return map[string]string{"skipped": "a scaler run holds the tenant's lease and decides from the stored report"}, nil
		}
		s.env.Log.InfoContext(ctx, "scale now", "tenant", ev.ScaleNow.Tenant, "failed", err != nil)
		return res, err
	}
}

// Admin is a tenant's Kafka admin client, connected on first use (reading
// kafka.credentialsSecretArn then), each call traced. A failure to connect is Unavailable:
// the Kafka routes answer 503 and the health check reports Kafka DOWN.
type Admin struct {
	tenant config.Tenant
	env    *setup.Env
	mu     sync.Mutex
	// adm returns the connected client (nil before). A closure, not a *kadm.Client field:
	// see actuators.newEC2Instances on why clients stay out of fields of interface-held types.
	adm func() *kadm.Client
}

func (a *Admin) client(ctx context.Context) (*kadm.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.adm != nil {
		return a.adm(), nil
	}
	t := a.tenant
	creds := kafka.Credentials{User: t.Kafka.ConfluentAPIKey, Password: t.Kafka.ConfluentAPISecret}
	if arn := t.Kafka.CredentialsSecretARN; arn != "" {
		s, err := a.env.Secrets.Get(ctx, arn)
		if err != nil {
			return nil, fault.Wrap(fault.Unavailable, err, "tenant %s kafka.credentialsSecretArn", t.Name)
		}
		var body struct{ Username, Password string }
		if err := json.Unmarshal([]byte(s), &body); err != nil || body.Username == "" {
			return nil, fault.New(fault.Unavailable, "tenant %s: kafka.credentialsSecretArn must hold JSON {\"username\",\"password\"}", t.Name)
		}
		creds = kafka.Credentials{User: body.Username, Password: body.Password}
	}
	adm, err := kafka.Connect(t.Kafka, a.env.AWS.Credentials, creds)
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, err, "tenant %s: kafka", t.Name)
	}
	a.adm = func() *kadm.Client { return adm }
	return adm, nil
}

// close closes the client if it was connected; the next call connects again.
func (a *Admin) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.adm != nil {
		a.adm().Close()
		a.adm = nil
	}
}

// call runs one traced admin call.
func call[T any](ctx context.Context, a *Admin, name string, fn func(context.Context, *kadm.Client) (T, error)) (T, error) {
	ctx, end := tracing.Start(ctx, "Kafka "+name)
	adm, err := a.client(ctx)
	var out T
	if err == nil {
		out, err = fn(ctx, adm)
	}
	end(err)
	return out, err
}

// ListTopics lists the topics (kadm).
func (a *Admin) ListTopics(ctx context.Context, topics ...string) (kadm.TopicDetails, error) {
	return call(ctx, a, "ListTopics", func(ctx context.Context, c *kadm.Client) (kadm.TopicDetails, error) {
		return c.ListTopics(ctx, topics...)
	})
}

// ListEndOffsets lists the topics' end offsets (kadm).
func (a *Admin) ListEndOffsets(ctx context.Context, topics ...string) (kadm.ListedOffsets, error) {
	return call(ctx, a, "ListEndOffsets", func(ctx context.Context, c *kadm.Client) (kadm.ListedOffsets, error) {
		return c.ListEndOffsets(ctx, topics...)
	})
}

// UpdatePartitions raises the topics' partition count (kadm).
func (a *Admin) UpdatePartitions(ctx context.Context, set int, topics ...string) (kadm.CreatePartitionsResponses, error) {
	return call(ctx, a, "UpdatePartitions", func(ctx context.Context, c *kadm.Client) (kadm.CreatePartitionsResponses, error) {
		return c.UpdatePartitions(ctx, set, topics...)
	})
}

// Metadata reads the cluster's metadata (kadm).
func (a *Admin) Metadata(ctx context.Context, topics ...string) (kadm.Metadata, error) {
	return call(ctx, a, "Metadata", func(ctx context.Context, c *kadm.Client) (kadm.Metadata, error) { return c.Metadata(ctx, topics...) })
}

// masterCluster adapts the Spark client to the scaling decision's view of the cluster, read
// fresh from the master's /json for every decision.
type masterCluster struct{ c *spark.Client }

func (m masterCluster) Cluster(ctx context.Context) (scaling.Cluster, error) {
	st, err := m.c.Master(ctx)
	if err != nil {
		return scaling.Cluster{}, fmt.Errorf("read Spark master: %w", err)
	}
	var out scaling.Cluster
	for _, w := range st.Workers {
		out.Workers = append(out.Workers, scaling.Worker{ID: w.ID, Host: w.Host, State: string(w.State)})
	}
	for _, d := range st.ActiveDrivers {
		out.Drivers = append(out.Drivers, scaling.Driver{ID: d.ID, State: string(d.State), Worker: d.Worker})
	}
	return out, nil
}

// sinkLog lists the file-sink log for the scaling gate.
type sinkLog struct{ s *logstore.Store }

func (l sinkLog) SinkLog(ctx context.Context) ([]string, error) { return l.s.SparkMetadataFiles(ctx) }
