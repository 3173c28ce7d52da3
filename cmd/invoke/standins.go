package main

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/memdb"
)

// standIns are the embedded defaults events/local.yaml points at, for one invocation: an
// embedded database server holding this region's and a peer region's migrated databases, an
// in-process S3 with the tenant's bucket, the Spark master simulator with one worker, and
// Kafka with one logs topic. env holds the LOCAL_* variables the configuration reads.
type standIns struct {
	env     []string
	closers []func()
}

func (s *standIns) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

func startStandIns(ctx context.Context) (st *standIns, err error) {
	st = &standIns{}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	db, err := memdb.Start("127.0.0.1:0", "logwise")
	if err != nil {
		return st, err
	}
	st.closers = append(st.closers, func() { db.Close() })
	admin, err := store.Open(ctx, db.Config("logwise"))
	if err != nil {
		return st, err
	}
	defer admin.Close()
	// The functions check the schema at start; on AWS the migrate function has applied it.
	if err := admin.Migrate(ctx); err != nil {
		return st, fmt.Errorf("migrate the local database: %w", err)
	}
	if _, err := admin.SQL().ExecContext(ctx, "CREATE DATABASE logwise_peer"); err != nil {
		return st, fmt.Errorf("create the peer region's database: %w", err)
	}
	peer, err := store.Open(ctx, db.Config("logwise_peer"))
	if err != nil {
		return st, err
	}
	defer peer.Close()
	if err := peer.Migrate(ctx); err != nil {
		return st, fmt.Errorf("migrate the peer region's database: %w", err)
	}

	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	st.closers = append(st.closers, s3srv.Close)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("logwise-demo-logs")}); err != nil {
		return st, fmt.Errorf("create the demo bucket: %w", err)
	}
	master := sparktest.NewMaster(sparktest.Options{AutoLaunch: time.Second, Workers: []sparktest.WorkerSpec{{Cores: 4, MemoryMB: 8192}}})
	st.closers = append(st.closers, master.Close)
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs.checkout"))
	if err != nil {
		return st, fmt.Errorf("start Kafka: %w", err)
	}
	st.closers = append(st.closers, kc.Close)
	kafkaHost, kafkaPort, _ := net.SplitHostPort(kc.ListenAddrs()[0])
	st.env = []string{
		"LOCAL_DB_DSN=" + db.Config("logwise").DSN(), "LOCAL_PEER_DSN=" + db.Config("logwise_peer").DSN(),
		"LOCAL_S3_URL=" + s3srv.URL, "LOCAL_SPARK_REST_URL=" + master.RestURL(), "LOCAL_SPARK_WEB_URL=" + master.WebURL(),
		"LOCAL_KAFKA_HOST=" + kafkaHost, "LOCAL_KAFKA_PORT=" + kafkaPort,
	}
	return st, nil
}
