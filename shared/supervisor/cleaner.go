package supervisor

import (
	"context"
	"fmt"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/logstore"
)

// LogstoreCleaner is the usual Deps.CleanState: it deletes the tenant's checkpoint directory
// and <logsDir>/_spark_metadata in the tenant's bucket with logstore's DeleteSparkState (which
// verifies nothing is left), using the S3 client clients returns for the tenant. Data
// partitions under <logsDir>/service_name=... are never touched.
func LogstoreCleaner(clients func(config.Tenant) (logstore.S3API, error)) func(context.Context, config.Tenant) (logstore.DeleteReport, error) {
	return func(ctx context.Context, t config.Tenant) (logstore.DeleteReport, error) {
		c, err := clients(t)
		if err != nil {
			return logstore.DeleteReport{}, fmt.Errorf("s3 client for tenant %s: %w", t.Name, err)
		}
		layout := logstore.Layout{LogsDir: t.Spark.LogsDir, CheckpointDir: t.Spark.CheckPointDir}
		rep, err := logstore.New(c, t.ObjectStore.AWS.Bucket, layout).DeleteSparkState(ctx)
		if err != nil {
			return rep, fmt.Errorf("delete spark state of tenant %s: %w", t.Name, err)
		}
		return rep, nil
	}
}
