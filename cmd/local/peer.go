package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/localwire"
	"github.com/logwise/controlplane/shared/store"
)

// peerPartition is the demo's second region. It runs in the same process on its own
// database (<name>_peer, beside the first region's): it copies the first region's executions
// and the first copies its own (peering both ways), and both share an interlink topic, so
// that an action on a foreign execution is forwarded to its owner and applied there.
const peerPartition = "eu-west-1"

// interlinkTopic is the demo's interlink SNS topic, served by interlinkBus.
const interlinkTopic = "arn:aws:sns:us-east-1:000000000000:logwise-interlink"

// createPeerDatabase creates the second region's database beside main.
func createPeerDatabase(ctx context.Context, main store.Config) (store.Config, error) {
	admin, err := store.Open(ctx, main)
	if err != nil {
		return store.Config{}, fmt.Errorf("peer region: %w", err)
	}
	defer admin.Close()
	peer := main
	peer.Name = main.Name + "_peer"
	if _, err := admin.SQL().ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+peer.Name); err != nil {
		return peer, fmt.Errorf("create peer region database %s: %w", peer.Name, err)
	}
	return peer, nil
}

// interlinkBus stands in for the interlink SNS topic and each region's SQS queue: a Publish
// (the SNS Query API the forwarder calls) is delivered at once, in the SNS envelope an SQS
// subscription carries, to every region's applier; each applies only the events addressed
// to its own partition.
type interlinkBus struct {
	srv      *httptest.Server
	log      *slog.Logger
	mu       sync.Mutex
	appliers []*interlink.Applier
	seq      int
}

func startInterlinkBus(log *slog.Logger) *interlinkBus {
	b := &interlinkBus{log: log}
	b.srv = httptest.NewServer(http.HandlerFunc(b.publish))
	return b
}

func (b *interlinkBus) subscribe(a *interlink.Applier) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.appliers = append(b.appliers, a)
}

func (b *interlinkBus) publish(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("Action") != "Publish" || r.PostForm.Get("TopicArn") != interlinkTopic {
		http.Error(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>only Publish to the interlink topic</Message></Error></ErrorResponse>`, http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	b.seq++
	id := "local-" + strconv.Itoa(b.seq)
	appliers := append([]*interlink.Applier(nil), b.appliers...)
	b.mu.Unlock()
	envelope, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": id, "TopicArn": interlinkTopic,
		"Message": r.PostForm.Get("Message"), "Timestamp": time.Now().UTC().Format(time.RFC3339Nano)})
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: id, Body: string(envelope), EventSource: "aws:sqs"}}}
	go func() { // SQS delivers after the publisher has its answer
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, a := range appliers {
			if res, err := a.HandleSQS(ctx, ev); err != nil || len(res.BatchItemFailures) > 0 {
				b.log.Warn("interlink: delivery failed", "message", id, "failures", len(res.BatchItemFailures), "error", fmt.Sprint(err))
			}
		}
	}()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>`, id, id)
}

func (b *interlinkBus) close() { b.srv.Close() }

// peerRegion is the demo's second region, wired as the first is.
type peerRegion struct {
	sys *localwire.System
	mu  sync.Mutex
	n   int
}

// startPeerRegion loads and wires the second region and gives it a replay waiting for its
// operator's approval: a running pipeline that the first region sees as foreign.
func startPeerRegion(ctx context.Context, log *slog.Logger, cfg *config.Config, maxOpenConns int, bus *interlinkBus) (*peerRegion, error) {
	env, err := setup.Load(ctx, "local-"+peerPartition, setup.Options{Config: cfg, Log: log.With("region", peerPartition),
		MaxOpenConns: maxOpenConns, Metrics: io.Discard, Migrate: true})
	if err != nil {
		return nil, fmt.Errorf("load region %s: %w", peerPartition, err)
	}
	sys, err := localwire.New(ctx, env)
	if err != nil {
		env.Close()
		return nil, fmt.Errorf("wire region %s: %w", peerPartition, err)
	}
	bus.subscribe(sys.Peering.Applier)
	p := &peerRegion{sys: sys}
	day := time.Now().Add(24 * time.Hour).UnixMilli()
	body := fmt.Sprintf(`{"startingOffsetsTimestamp":%d,"resumeToSubscribePatternTimestamp":%d,"approvalRequired":true}`, day, day+3_600_000)
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/replays", strings.NewReader(body))
	req.Header.Set("X-Tenant-Name", cfg.Tenants[0].Name)
	rec := httptest.NewRecorder()
	sys.API.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		p.close()
		return nil, fmt.Errorf("region %s: create its replay: %d %s", peerPartition, rec.Code, rec.Body)
	}
	return p, nil
}

func (p *peerRegion) close() { p.sys.Close() }

// act records one automatic action of the second region for tenant: what its scaler did.
func (p *peerRegion) act(ctx context.Context, tenant string) error {
	p.mu.Lock()
	p.n++
	n := p.n
	p.mu.Unlock()
	from, to := 2+n%3, 2+(n+1)%3
	_, err := p.sys.Env.Executions.Record(ctx, recordedScale(tenant, from, to))
	if err != nil {
		return fmt.Errorf("record an action of region %s: %w", peerPartition, err)
	}
	return nil
}

// recordedScale is a scaling action of the second region, as its scaler records one.
func recordedScale(tenant string, from, to int) executions.Action {
	return executions.Action{Tenant: tenant, Kind: "scaleWorkers", Trigger: "schedule", StartTime: time.Now(),
		Description: fmt.Sprintf("Spark workers in %s: %d → %d", peerPartition, from, to),
		Inputs:      map[string]any{"workers": from}, Rule: "demo", Outcome: map[string]any{"from": from, "target": to}}
}
