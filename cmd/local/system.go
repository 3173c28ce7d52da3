package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/store/memdb"
)

// system is the set of in-process stand-ins the demo tenant points at.
type system struct {
	config        *config.Config
	dbDescription string
	closers       []func()
}

func (s *system) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

const demoBucket = "logwise-demo-logs"

// startSystem starts the embedded database, S3, Spark master and Kafka, and returns a
// configuration whose demo tenant uses them (or the operator's configuration file).
func startSystem(ctx context.Context, log *slog.Logger, o options) (*system, error) {
	sys := &system{}
	dsn := o.dsn
	if dsn == "" {
		db, err := memdb.Start("127.0.0.1:0", "logwise")
		if err != nil {
			return nil, err
		}
		sys.closers = append(sys.closers, func() { db.Close() })
		dsn = db.Config("logwise").DSN()
		sys.dbDescription = "embedded go-mysql-server at " + db.Addr
	} else {
		sys.dbDescription = "MySQL from -mysql-dsn"
	}
	if o.configFile != "" {
		cfg, err := config.LoadFile(o.configFile, os.LookupEnv)
		if err != nil {
			return nil, err
		}
		if cfg.Database.DSN == "" && cfg.Database.SecretARN == "" {
			cfg.Database.DSN = dsn
		}
		sys.config = cfg
		return sys, nil
	}

	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	sys.closers = append(sys.closers, s3srv.Close)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(demoBucket)}); err != nil {
		return nil, fmt.Errorf("create demo bucket: %w", err)
	}

	cfg, err := config.Parse([]byte(fmt.Sprintf(demoConfig, dsn, s3srv.URL)), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	sys.config = cfg
	log.Info("in-process S3", "endpoint", s3srv.URL, "bucket", demoBucket)
	return sys, nil
}

// demoConfig is the demo deployment: one tenant, auth off (local use only).
const demoConfig = `
deployment: {partition: local, region: us-east-1}
api: {authDisabled: true}
database: {dsn: "%s"}
tenants:
  - name: demo
    defaultLogsRetentionDays: 3
    objectStore:
      aws: {bucket: ` + demoBucket + `, region: us-east-1, endpointOverride: "%s", pathStyle: true}
    vector: {host: 127.0.0.1, apiPort: 8686}
    kafka: {kafkaBrokersHost: 127.0.0.1, kafkaBrokerPort: 9092}
    spark: {sparkMasterHost: 127.0.0.1, sparkJarPath: "s3://logwise-demo-jars/logwise-spark.jar"}
    delayMetrics: {app: {sampleServiceName: checkout, sampleServiceNames: [payments]}}
`
