package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/store"
)

// secretsManager is Secrets Manager's GetSecretValue (awsJson1.1) over a fixed set of
// secrets; it records which secret each caller asked for.
type secretsManager struct {
	values map[string]string
	mu     sync.Mutex
	asked  []string
}

func (s *secretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct{ SecretId string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
		http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if !slices.Contains(s.asked, in.SecretId) {
		s.asked = append(s.asked, in.SecretId)
	}
	s.mu.Unlock()
	v, ok := s.values[in.SecretId]
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"ARN": in.SecretId, "Name": in.SecretId, "SecretString": v})
}

// take returns the secrets asked for since the last call, sorted.
func (s *secretsManager) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.asked
	s.asked = nil
	slices.Sort(out)
	return out
}

func rdsSecret(c store.Config) string {
	b, _ := json.Marshal(map[string]any{"username": c.User, "password": c.Password, "host": c.Host, "port": c.Port, "dbname": c.Name})
	return string(b)
}

// TestEachFunctionReadsOnlyItsOwnSecrets gives every function one configuration that names a
// secret of every kind (database, API tokens, Kafka credentials, S3A keys, a peer database)
// and records which secrets each reads while starting and handling its event. Each reads
// exactly its own, so the template grants each role only those; a function whose
// configuration names other functions' secrets starts and runs.
func TestEachFunctionReadsOnlyItsOwnSecrets(t *testing.T) {
	t.Parallel()
	const (
		arnDB     = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"
		arnTokens = "arn:aws:secretsmanager:us-east-1:123456789012:secret:tokens"
		arnAdmin  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:admin"
		arnKafka  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:kafka"
		arnS3A    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s3a"
		arnPeer   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:peer"
	)
	pl := newPipeline(t)
	local, peer := migrated(t), migrated(t)
	sm := &secretsManager{values: map[string]string{
		arnDB: rdsSecret(local), arnPeer: rdsSecret(peer),
		arnTokens: `{"tokens":["tenant-token-1"]}`, arnAdmin: `{"tokens":["admin-token-1"]}`,
		arnKafka: `{"username":"svc","password":"kafka-pass-1"}`,
		arnS3A:   `{"accessKeyId":"AKIAEXAMPLE000001","secretAccessKey":"s3a-secret-000001"}`,
	}}
	smSrv := httptest.NewServer(sm)
	defer smSrv.Close()
	kafkaHost, kafkaPort, _ := strings.Cut(pl.kafka.ListenAddrs()[0], ":")
	cfg := fmt.Sprintf(`
deployment: {partition: us-east-1, region: us-east-1}
database: {secretArn: %q}
api: {adminTokensSecretArn: %q}
peering: {enabled: true, intervalMs: 200, peers: [{id: eu-west-1, secretArn: %q}]}
tenants:
  - name: ABC
    auth: {tokensSecretArn: %q}
    objectStore: {aws: {bucket: logs-abc, endpointOverride: %q, pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: %q, kafkaBrokerPort: %s, credentialsSecretArn: %q}
    spark: {restUrl: %q, webUrl: %q, sparkJarPath: "s3a://jars/logwise.jar", s3aCredentialsSecretArn: %q, monitor: {pollIntervalSeconds: 1, durationSeconds: 2}}
`, arnDB, arnAdmin, arnPeer, arnTokens, pl.s3URL, kafkaHost, kafkaPort, arnKafka, pl.master.RestURL(), pl.master.WebURL(), arnS3A)

	// atStart is what a function reads before its first event (the migrate function loads
	// nothing until invoked); want is what it has read after handling it.
	tests := []struct {
		function, event string
		atStart, want   []string
	}{
		{"migrate", "", nil, []string{arnDB}},
		{"api", "api-healthcheck-httpapi.json", []string{arnAdmin, arnDB, arnTokens}, nil},
		{"discovery", "discovery-schedule.json", []string{arnDB}, nil},
		{"sparkmonitor", "sparkmonitor-schedule.json", []string{arnDB}, []string{arnS3A}},
		{"scaler", "scaler-schedule.json", []string{arnDB}, []string{arnKafka}},
		{"peering", "peering-schedule.json", []string{arnDB}, []string{arnPeer}},
	}
	for _, tt := range tests {
		p := start(t, tt.function, cfg, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+smSrv.URL)
		if got := sm.take(); !slices.Equal(got, tt.atStart) {
			t.Errorf("%s read secrets %v at start, want exactly %v", tt.function, got, tt.atStart)
		}
		if tt.function == "peering" {
			p.Runtime.Timeout = 8 * time.Second // the copier loops passes until 5 s before the deadline
		}
		payload := []byte(`{}`)
		if tt.event != "" {
			payload = event(t, tt.event)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		res, err := p.InvokeJSON(ctx, payload, nil)
		cancel()
		if err != nil || res.Error {
			t.Fatalf("%s: %v %s\noutput:\n%s", tt.function, err, res.Body, p.Output.String())
		}
		if got := sm.take(); !slices.Equal(got, tt.want) {
			t.Errorf("%s read secrets %v handling its event, want exactly %v", tt.function, got, tt.want)
		}
		for _, s := range []string{"kafka-pass-1", "s3a-secret-000001", "tenant-token-1", "admin-token-1"} {
			if strings.Contains(p.Output.String(), s) {
				t.Errorf("%s logged a secret value:\n%s", tt.function, p.Output.String())
			}
		}
	}
}
