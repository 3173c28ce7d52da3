package setup

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/scaling"
	"github.com/logwise/controlplane/shared/spark"
)

// clients builds per-tenant clients once and shares them between the API and the jobs.
type clients struct {
	env  *Env
	mu   sync.Mutex
	s3   map[string]*s3.Client
	logs map[string]*logstore.Store
}

func newClients(env *Env) *clients {
	return &clients{env: env, s3: map[string]*s3.Client{}, logs: map[string]*logstore.Store{}}
}

// S3 returns the tenant's S3 client: its bucket's region, and its endpoint override (MinIO,
// local stand-ins) with path-style addressing when configured.
func (c *clients) S3(t config.Tenant) *s3.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.s3[t.Name]; ok {
		return cl
	}
	o := t.ObjectStore.AWS
	cl := s3.NewFromConfig(c.env.AWS, func(opt *s3.Options) {
		if o.Region != "" {
			opt.Region = o.Region
		}
		if o.EndpointOverride != "" {
			opt.BaseEndpoint = aws.String(o.EndpointOverride)
		}
		opt.UsePathStyle = o.PathStyle
	})
	c.s3[t.Name] = cl
	return cl
}

// Logs returns the tenant's log store (the pipeline's S3 layout).
func (c *clients) Logs(t config.Tenant) *logstore.Store {
	cl := c.S3(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ls, ok := c.logs[t.Name]; ok {
		return ls
	}
	ls := logstore.New(cl, t.ObjectStore.AWS.Bucket, logstore.Layout{LogsDir: t.Spark.LogsDir, CheckpointDir: t.Spark.CheckPointDir})
	c.logs[t.Name] = ls
	return ls
}

// Spark returns the tenant's Spark master client.
func (c *clients) Spark(t config.Tenant) *spark.Client {
	return spark.New(spark.Config{Masters: spark.ConfigFrom(t.Spark).Masters, HTTP: c.env.HTTP})
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
