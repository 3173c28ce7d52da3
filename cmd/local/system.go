package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/memdb"
)

// system is the set of in-process stand-ins the demo tenant points at, and the simulated
// pipeline that keeps them moving.
type system struct {
	config        *config.Config
	dbDescription string
	closers       []func()
	demo          *demoPipeline // nil with -config
	// peerConfig is the demo's second region, which shares the interlink bus (nil with -config).
	peerConfig *config.Config
	bus        *interlinkBus
	// maxOpenConns is memdb.MaxOpenConns (1) on the embedded database, which lets one
	// connection at a time write a database. MariaDB or MySQL get the normal pool.
	maxOpenConns int
}

func (s *system) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

const demoBucket = "logwise-demo-logs"

// demoServices are the services whose logs the simulated pipeline writes; the first two are
// the tenant's canaries.
var demoServices = []string{"checkout", "payments", "search", "inventory", "healthcheck-dummy"}

// endpoints are where the demo tenant's pipeline lives.
type endpoints struct {
	DSN, S3, SparkREST, SparkWeb, KafkaHost, KafkaPort, VectorHost, VectorPort string
	// KubeAPI, KubeCA and KubeToken reach the simulated Deployment of Spark workers.
	KubeAPI, KubeCA, KubeToken string
	// Partition is the region's; PeerID and PeerDSN name the other region and its database,
	// copied every PeeringMs; InterlinkURL is the interlink topic's endpoint.
	Partition, PeerID, PeerDSN, InterlinkURL string
	PeeringMs                                int
	// PollSeconds and MonitorSeconds are the Spark monitor's polling within one run,
	// and BackoffSeconds the wait after a submission before another (half a tick).
	PollSeconds, MonitorSeconds, BackoffSeconds int
}

// demoConfig is the demo deployment: one tenant, auth off (local use only).
func demoConfig(e endpoints) string {
	return fmt.Sprintf(`
deployment: {partition: %s, region: us-east-1}
api: {authDisabled: true}
database: {dsn: %q}
executions: {retentionDays: 7}
peering: {enabled: true, intervalMs: %d, ownerUnreachableMinutes: 1, peers: [{id: %s, dsn: %q}]}
interlink: {enabled: true, topicArn: %q, endpointOverride: %q}
tenants:
  - name: demo
    defaultLogsRetentionDays: 3
    objectStore:
      aws: {bucket: %s, region: us-east-1, endpointOverride: %q, pathStyle: true}
    vector: {host: %q, apiPort: %s}
    kafka: {kafkaBrokersHost: %q, kafkaBrokerPort: %s, partitionRatePerSecond: 50}
    spark:
      restUrl: %q
      webUrl: %q
      sparkJarPath: "s3://logwise-demo-jars/logwise-spark.jar"
      subscribePattern: "^logs.*"
      minWorkerCount: 2
      maxWorkerCount: 6
      executorCoresPerMachine: 4
      perCoreLogsProcess: 20000
      cluster:
        clusterType: kubernetes
        kubernetes: {apiServer: %q, caFile: %q, tokenFile: %q}
      monitor: {pollIntervalSeconds: %d, durationSeconds: %d, crashLoop: {backoffSeconds: %d}}
    delayMetrics: {app: {sampleServiceName: checkout, sampleServiceNames: [payments]}}
`, e.Partition, e.DSN, e.PeeringMs, e.PeerID, e.PeerDSN, interlinkTopic, e.InterlinkURL, demoBucket, e.S3, e.VectorHost, e.VectorPort, e.KafkaHost, e.KafkaPort, e.SparkREST, e.SparkWeb,
		e.KubeAPI, e.KubeCA, e.KubeToken, e.PollSeconds, e.MonitorSeconds, e.BackoffSeconds)
}

// startSystem starts the embedded database, S3, Spark master, Kafka and a Vector stand-in,
// and returns a configuration whose demo tenant uses them (or the operator's configuration).
func startSystem(ctx context.Context, log *slog.Logger, o options) (*system, error) {
	sys := &system{}
	dsn := o.dsn
	var mainDB store.Config
	if dsn == "" {
		db, err := memdb.Start("127.0.0.1:0", "logwise")
		if err != nil {
			return nil, err
		}
		sys.closers = append(sys.closers, func() { db.Close() })
		mainDB = db.Config("logwise")
		dsn = mainDB.DSN()
		sys.dbDescription = "embedded go-mysql-server at " + db.Addr
		sys.maxOpenConns = memdb.MaxOpenConns
	} else {
		var err error
		if mainDB, err = store.ParseDSN(dsn); err != nil {
			return nil, fmt.Errorf("-mysql-dsn: %w", err)
		}
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

	// The workers are the Deployment's: it starts the minimum of two, and the scaler sizes it.
	master := sparktest.NewMaster(sparktest.Options{AutoLaunch: min(time.Second, o.tick/4), Workers: []sparktest.WorkerSpec{}})
	sys.closers = append(sys.closers, master.Close)
	dir, err := os.MkdirTemp("", "logwise-local-")
	if err != nil {
		return nil, fmt.Errorf("demo files: %w", err)
	}
	sys.closers = append(sys.closers, func() { os.RemoveAll(dir) })
	workers, err := startWorkerDeployment(master, sparktest.WorkerSpec{Cores: 4, MemoryMB: 8192}, 2, dir)
	if err != nil {
		return nil, err
	}
	sys.closers = append(sys.closers, workers.Close)

	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs.checkout", "logs.payments", "logs.search"))
	if err != nil {
		return nil, fmt.Errorf("start Kafka: %w", err)
	}
	sys.closers = append(sys.closers, kc.Close)
	kafkaHost, kafkaPort, _ := net.SplitHostPort(kc.ListenAddrs()[0])

	vector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	sys.closers = append(sys.closers, vector.Close)
	vectorHost, vectorPort, _ := net.SplitHostPort(vector.Listener.Addr().String())

	peerDB, err := createPeerDatabase(ctx, mainDB)
	if err != nil {
		return nil, err
	}
	bus := startInterlinkBus(log)
	sys.closers = append(sys.closers, bus.close)
	sys.bus = bus
	poll := max(1, int(o.tick.Seconds())/4)
	e := endpoints{Partition: "local", DSN: dsn, PeerID: peerPartition, PeerDSN: peerDB.DSN(), InterlinkURL: bus.srv.URL,
		S3: s3srv.URL, SparkREST: master.RestURL(), SparkWeb: master.WebURL(),
		KafkaHost: kafkaHost, KafkaPort: kafkaPort, VectorHost: vectorHost, VectorPort: vectorPort,
		KubeAPI: workers.URL(), KubeCA: workers.CAFile, KubeToken: workers.TokenFile, PeeringMs: max(200, int(o.tick.Milliseconds()/4)),
		PollSeconds: poll, MonitorSeconds: max(poll, int(o.tick.Seconds())), BackoffSeconds: max(1, int(o.tick.Seconds())/2)}
	none := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse([]byte(demoConfig(e)), none)
	if err != nil {
		return nil, fmt.Errorf("demo configuration: %w", err)
	}
	// The second region: the same tenant and pipeline, its own database and partition, and
	// the first region as its peer.
	e.Partition, e.DSN, e.PeerID, e.PeerDSN = peerPartition, peerDB.DSN(), "local", dsn
	if sys.peerConfig, err = config.Parse([]byte(demoConfig(e)), none); err != nil {
		return nil, fmt.Errorf("demo configuration of region %s: %w", peerPartition, err)
	}
	sys.config = cfg
	t := cfg.Tenants[0]
	sys.demo = &demoPipeline{log: log, s3: client, layout: logstore.Layout{LogsDir: t.Spark.LogsDir, CheckpointDir: t.Spark.CheckPointDir},
		kafkaAddr: kc.ListenAddrs()[0], tenant: t.Name, tick: o.tick, master: master, workers: workers}
	log.Info("demo pipeline", "s3", s3srv.URL, "bucket", demoBucket, "sparkRest", master.RestURL(), "sparkWeb", master.WebURL(),
		"kafka", kc.ListenAddrs()[0], "vector", vector.URL, "workerDeployment", workers.URL())
	return sys, nil
}

// demoPipeline simulates the tenant's Vector → Kafka → Spark → S3 pipeline: it produces log
// records to Kafka, writes each minute's partitions (and the file-sink log) to S3 as the
// streaming job would, and posts the stage reports the job's listener sends to the API.
type demoPipeline struct {
	log       *slog.Logger
	s3        *s3.Client
	layout    logstore.Layout
	kafkaAddr string
	tenant    string
	tick      time.Duration // the schedules' tick: the simulated minute
	master    *sparktest.Master
	workers   *workerDeployment
	peer      *peerRegion
	batch     int
	reports   int
	mu        sync.Mutex
}

// seed writes the current minute's partitions so the first discovery, delay and health runs
// see a live pipeline.
func (d *demoPipeline) seed(ctx context.Context) error {
	return d.writeMinute(ctx, time.Now().UTC())
}

// run keeps the pipeline moving until ctx ends.
func (d *demoPipeline) run(ctx context.Context, apiBase string) {
	var producing sync.WaitGroup
	producing.Go(func() { d.produce(ctx) })
	defer producing.Wait()
	minute := time.NewTicker(d.tick / 3)
	report := time.NewTicker(d.tick / 2)
	defer minute.Stop()
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-minute.C:
			if err := d.writeMinute(ctx, time.Now().UTC()); err != nil && ctx.Err() == nil {
				d.log.Warn("demo pipeline: write partitions", "error", err.Error())
			}
		case <-report.C:
			if n := d.postStageReport(ctx, apiBase); n%4 == 1 && d.peer != nil {
				if err := d.peer.act(ctx, d.tenant); err != nil && ctx.Err() == nil {
					d.log.Warn("demo pipeline: peer region", "error", err.Error())
				}
			}
		}
	}
}

func (d *demoPipeline) writeMinute(ctx context.Context, now time.Time) error {
	d.mu.Lock()
	d.batch++
	batch := d.batch
	d.mu.Unlock()
	for _, svc := range demoServices {
		key := d.layout.MinutePrefix(svc, now) + fmt.Sprintf("part-%05d-%d.snappy.parquet", batch, now.Unix())
		if _, err := d.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(demoBucket), Key: aws.String(key),
			Body: bytes.NewReader([]byte("PAR1 demo log records PAR1"))}); err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
	}
	name := strconv.Itoa(batch)
	if batch%10 == 9 {
		name += ".compact"
	}
	_, err := d.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(demoBucket), Key: aws.String(d.layout.SparkMetadataPrefix() + name),
		Body: bytes.NewReader([]byte(`v1` + "\n" + `{"path":"s3a://` + demoBucket + `/logs/...","size":1024,"isDir":false}`))})
	return err
}

// produce writes a trickle of log records to the tenant's topics, so Kafka offsets move.
func (d *demoPipeline) produce(ctx context.Context) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.kafkaAddr))
	if err != nil {
		d.log.Warn("demo pipeline: Kafka producer", "error", err.Error())
		return
	}
	defer cl.Close()
	topics := []string{"logs.checkout", "logs.payments", "logs.search"}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for range 10 {
				cl.Produce(ctx, &kgo.Record{Topic: topics[i%len(topics)], Value: []byte(`{"level":"info","message":"demo"}`)}, nil)
			}
		}
	}
}

// load is the simulated input of report n: a wave over 40 reports (20 simulated minutes)
// between about 60k and 460k records per batch, so that the scaler sizes the workers from
// two (its minimum) up to six and back.
func load(n int) int {
	return 260_000 + int(200_000*math.Sin(2*math.Pi*float64(n)/40))
}

// postStageReport sends what the Spark job's stage listener sends after each micro-batch,
// and returns the report's number.
func (d *demoPipeline) postStageReport(ctx context.Context, apiBase string) int {
	now := time.Now()
	d.mu.Lock()
	d.reports++
	n := d.reports
	d.mu.Unlock()
	body, _ := json.Marshal(map[string]any{
		"enableUpScale": true, "enableDownScale": true,
		"sparkStageHistory": map[string]any{
			"inputRecords": load(n), "outputBytes": 40_000_000 + rand.IntN(10_000_000),
			"submissionTime": now.Add(-d.tick / 2).UnixMilli(), "completionTime": now.UnixMilli(),
			"coresUsed": 4 * d.workers.Replicas(), "status": "succeeded",
		},
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiBase+"/scale-spark-cluster", bytes.NewReader(body))
	if err != nil {
		return n
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Tenant-Name", d.tenant)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("demo pipeline: post stage report", "error", err.Error())
		}
		return n
	}
	resp.Body.Close()
	return n
}
