// Package buckets builds each tenant's S3 client and log store once per execution
// environment, shared by the wiring of every function that reads the pipeline's bucket.
package buckets

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/logstore"
)

// Buckets caches per-tenant S3 clients and log stores.
type Buckets struct {
	aws  aws.Config
	mu   sync.Mutex
	s3   map[string]*s3.Client
	logs map[string]*logstore.Store
}

// New returns an empty cache whose clients are built from cfg (already traced).
func New(cfg aws.Config) *Buckets {
	return &Buckets{aws: cfg, s3: map[string]*s3.Client{}, logs: map[string]*logstore.Store{}}
}

// S3 returns the tenant's S3 client: its bucket's region, and its endpoint override (MinIO,
// local stand-ins) with path-style addressing when configured.
func (b *Buckets) S3(t config.Tenant) *s3.Client {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cl, ok := b.s3[t.Name]; ok {
		return cl
	}
	o := t.ObjectStore.AWS
	cl := s3.NewFromConfig(b.aws, func(opt *s3.Options) {
		if o.Region != "" {
			opt.Region = o.Region
		}
		if o.EndpointOverride != "" {
			opt.BaseEndpoint = aws.String(o.EndpointOverride)
		}
		opt.UsePathStyle = o.PathStyle
	})
	b.s3[t.Name] = cl
	return cl
}

// Logs returns the tenant's log store (the pipeline's S3 layout).
func (b *Buckets) Logs(t config.Tenant) *logstore.Store {
	cl := b.S3(t)
	b.mu.Lock()
	defer b.mu.Unlock()
	if ls, ok := b.logs[t.Name]; ok {
		return ls
	}
	ls := logstore.New(cl, t.ObjectStore.AWS.Bucket, logstore.Layout{LogsDir: t.Spark.LogsDir, CheckpointDir: t.Spark.CheckPointDir})
	b.logs[t.Name] = ls
	return ls
}
