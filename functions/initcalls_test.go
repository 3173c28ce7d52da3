package functions_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/internal/lambdarun"
)

// counter is a loopback listener that counts the connections made to it: forwarded to target
// (the database), or accepted and closed (every other endpoint).
type counter struct {
	ln     net.Listener
	target string
	n      atomic.Int64
	wg     sync.WaitGroup
}

func newCounter(t testing.TB, target string) *counter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{ln: ln, target: target}
	go c.serve()
	t.Cleanup(func() { ln.Close(); c.wg.Wait() })
	return c
}

func (c *counter) serve() {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.n.Add(1)
		if c.target == "" {
			conn.Close()
			continue
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer conn.Close()
			up, err := net.Dial("tcp", c.target)
			if err != nil {
				return
			}
			defer up.Close()
			go func() { _, _ = io.Copy(up, conn); up.Close() }()
			_, _ = io.Copy(conn, up)
		}()
	}
}

func (c *counter) addr() string { return c.ln.Addr().String() }

func (c *counter) url() string { return "http://" + c.addr() }

// initProbe is a configuration whose every endpoint counts its connections: the database
// through a forwarding counter, and Kafka, Spark, S3, Vector and every AWS API through one
// that accepts and closes.
type initProbe struct {
	db, other *counter
	cfg       string
	env       []string
}

func newInitProbe(t testing.TB) *initProbe {
	t.Helper()
	dbCfg := migrated(t)
	p := &initProbe{db: newCounter(t, net.JoinHostPort(dbCfg.Host, strconv.Itoa(dbCfg.Port))), other: newCounter(t, "")}
	host, port, _ := net.SplitHostPort(p.db.addr())
	dbCfg.Host = host
	dbCfg.Port, _ = strconv.Atoi(port)
	o := p.other.url()
	p.cfg = fmt.Sprintf(`
deployment: {partition: us-east-1, region: us-east-1}
database: {dsn: "%s"}
peering: {enabled: true, intervalMs: 200, peers: [{id: eu-west-1, dsn: "root@tcp(%s)/peer"}]}
tenants:
  - name: ABC
    auth: {tokens: ["local-dev-token"]}
    objectStore: {aws: {bucket: logs-abc, endpointOverride: "%s", pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: %s}
    kafka: {kafkaBrokersHost: "127.0.0.1", kafkaBrokerPort: %s}
    spark: {restUrl: "%s", webUrl: "%s", sparkJarPath: s3://jars/logwise.jar}
`, dbCfg.DSN(), p.other.addr(), o, portOf(p.other.addr()), portOf(p.other.addr()), o, o)
	p.env = []string{"AWS_ENDPOINT_URL=" + o}
	return p
}

func portOf(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// initConns are the connections a function's init phase opened: to the database, and to
// anything else.
type initConns struct{ db, other int64 }

// startCounted starts the function on the probe's configuration, waits for its init to end
// and returns the connections it made meanwhile. The database's are counted before its first
// answer reaches the function, so none is missed.
func (p *initProbe) startCounted(path, name string) (time.Duration, initConns, error) {
	db0, other0 := p.db.n.Load(), p.other.n.Load()
	proc, err := lambdarun.Start(path, append([]string{"CONFIG_YAML=" + p.cfg, "AWS_LAMBDA_FUNCTION_NAME=" + name}, p.env...))
	if err != nil {
		return 0, initConns{}, err
	}
	defer proc.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := proc.WaitReady(ctx)
	if err != nil {
		return 0, initConns{}, fmt.Errorf("%w\n%s", err, proc.Output.String())
	}
	return d, initConns{db: p.db.n.Load() - db0, other: p.other.n.Load() - other0}, nil
}

// wantInit is what each function may open at init: the database once, to check the schema
// version (migrate opens it on its invocation), and nothing else: Kafka, Spark, S3, the peers
// and every AWS API wait for the first invocation that needs them.
var wantInit = map[string]initConns{
	"api": {db: 1}, "sparkmonitor": {db: 1}, "scaler": {db: 1}, "discovery": {db: 1}, "peering": {db: 1}, "migrate": {},
}

func TestFunctionsOpenOnlyTheirDatabaseAtInit(t *testing.T) {
	t.Parallel()
	p := newInitProbe(t)
	for _, name := range functionNames {
		_, got, err := p.startCounted(build(t, name), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got != wantInit[name] {
			t.Errorf("%s opened %d database and %d other connections at init; want %d and %d",
				name, got.db, got.other, wantInit[name].db, wantInit[name].other)
		}
	}
}
