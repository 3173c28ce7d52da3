package setup

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/peering"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/tracing"
)

// wirePeering builds the peering copier over the enabled peers (their pools are opened
// lazily: a peer that is down must not stop this function from starting) and schedules it.
func wirePeering(a *App) error {
	cfg := a.Env.Config
	if !cfg.Peering.Enabled || len(cfg.Peering.Peers) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var peers []peering.Peer
	for _, p := range cfg.Peering.Peers {
		if !p.IsEnabled() {
			continue
		}
		db, err := a.openPeer(ctx, p.ID, p.DSN, p.SecretARN, p.Name)
		if err != nil {
			return err
		}
		peers = append(peers, peering.Peer{ID: p.ID, DB: db})
	}
	opts := peering.OptionsFrom(cfg.Peering, cfg.Deployment.Partition)
	opts.Holder = a.Env.Holder
	c, err := peering.New(ctx, a.Env.Store, peers, opts, a.Env.Executions, a.Env.Metrics, a.Env.Log)
	if err != nil {
		return fmt.Errorf("peering: %w", err)
	}
	a.copier = c
	a.jobs["peeringcopier"] = Job{
		Keys: func() []string { return []string{"copier"} },
		TTL:  2 * time.Minute,
		Run: func(ctx context.Context, _ string, _ store.Lease) (any, error) {
			return c.Run(ctx)
		},
	}
	return nil
}

// openPeer opens a read-only pool on a peer's database, without contacting it.
func (a *App) openPeer(ctx context.Context, id, dsn, secretARN, name string) (*sql.DB, error) {
	var sc store.Config
	var err error
	if dsn != "" {
		sc, err = store.ParseDSN(dsn)
	} else {
		var s string
		if s, err = a.Env.Secret(ctx, secretARN); err == nil {
			sc, err = store.ConfigFromSecret(s, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("peering.peers %s: %w", id, err)
	}
	if sc.Name == "" {
		sc.Name = name
	}
	db, err := tracing.OpenSQL(sc.DSN())
	if err != nil {
		return nil, fmt.Errorf("peering.peers %s: open %s: %w", id, sc, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

// wireInterlink forwards actions on foreign executions to their owners when interlink is on,
// applies events addressed to this partition, and offers the ownership takeover.
func wireInterlink(a *App) error {
	cfg := a.Env.Config
	a.applier = &interlink.Applier{Repo: a.executions, Heartbeats: a.Env.Store, Log: a.Env.Log}
	takeovers := &interlink.Takeovers{Repo: a.executions, Health: ownerHealth{a.Env.Store},
		MinUnreachable: time.Duration(cfg.Peering.OwnerUnreachableMinutes) * time.Minute,
		Recorder:       a.Env.Executions, Now: time.Now}
	a.deps.Takeovers = takeovers
	topic := cfg.Interlink.TopicARN
	if topic == "" {
		topic = os.Getenv("INTERLINK_TOPIC_ARN")
	}
	if !cfg.Interlink.Enabled && cfg.Interlink.TopicARN == "" || topic == "" {
		return nil
	}
	snsClient := sns.NewFromConfig(a.Env.AWS, func(o *sns.Options) {
		if cfg.Interlink.EndpointOverride != "" {
			o.BaseEndpoint = aws.String(cfg.Interlink.EndpointOverride)
		}
	})
	fw := &interlink.Forwarder{SNS: snsClient, Topic: topic, Log: a.Env.Log,
		Flagger: interlink.NewFlagger(cfg.Interlink.MaxRemembered, cfg.Interlink.MaxRepeats, time.Duration(cfg.Interlink.WindowSeconds)*time.Second)}
	switch fn := firstSet(cfg.Interlink.PeeringFunction, os.Getenv("PEERING_FUNCTION_NAME")); {
	case a.copier != nil:
		fw.PeerNow = copierNow{a}
	case fn != "":
		fw.PeerNow = lambdaNow{client: lambda.NewFromConfig(a.Env.AWS), function: fn}
	}
	a.deps.Forwarder = fw
	a.forwarder = fw
	takeovers.Announcer = fw
	return nil
}

// ownerHealth answers the takeover's question from the copier's contact records and the
// heartbeats the interlink applier heard.
type ownerHealth struct{ db *store.DB }

func (h ownerHealth) OwnerStatus(ctx context.Context, peerID string) (interlink.OwnerStatus, error) {
	c, err := h.db.PeerContact(ctx, peerID)
	if err != nil {
		return interlink.OwnerStatus{}, err
	}
	if !c.Known {
		return interlink.OwnerStatus{}, fault.Conflictf("partition %s is not a peer this region copies from, so its reachability is unknown; an admin token may force a takeover", peerID).WithCode("OWNER_UNKNOWN")
	}
	return interlink.OwnerStatus{DBUnreachableSince: c.UnreachableSince, LastHeartbeat: c.LastHeartbeat}, nil
}

// CopyNowRequest is the on-demand invocation of the peering function.
type CopyNowRequest struct {
	PeerID        string   `json:"peerId"`
	ExecutionType string   `json:"executionType"`
	IDs           []string `json:"ids"`
}

// copierNow asks the in-process copier (the local runner), in the background as the Lambda
// invocation would be.
type copierNow struct{ a *App }

func (n copierNow) RequestCopy(ctx context.Context, peerID string, t executions.Type, ids []string) error {
	go func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := n.a.copyNow(cctx, CopyNowRequest{PeerID: peerID, ExecutionType: string(t), IDs: ids}); err != nil {
			n.a.Env.Log.WarnContext(cctx, "on-demand copy", "peer", peerID, "error", err.Error())
		}
	}()
	return nil
}

// lambdaNow invokes the peering function asynchronously.
type lambdaNow struct {
	client   *lambda.Client
	function string
}

func (n lambdaNow) RequestCopy(ctx context.Context, peerID string, t executions.Type, ids []string) error {
	body, _ := json.Marshal(map[string]CopyNowRequest{"copyNow": {PeerID: peerID, ExecutionType: string(t), IDs: ids}})
	_, err := n.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(n.function),
		InvocationType: lambdatypes.InvocationTypeEvent, Payload: body})
	return err
}

// PeeringHandler is the peering function's Lambda handler. It takes three events: the
// EventBridge schedule (run passes until shortly before the deadline), a batch from the
// region's interlink SQS queue (apply the events addressed to this partition), and an
// on-demand {"copyNow":{...}} invocation (copy those executions now, retrying a few times
// because the owner applies the forwarded action asynchronously).
func (a *App) PeeringHandler() func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Records []struct {
				EventSource string `json:"eventSource"`
			} `json:"Records"`
			DetailType string          `json:"detail-type"`
			CopyNow    *CopyNowRequest `json:"copyNow"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		switch {
		case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
			var ev events.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("decode SQS event: %w", err)
			}
			return a.applier.HandleSQS(ctx, ev)
		case probe.CopyNow != nil:
			return a.copyNow(ctx, *probe.CopyNow)
		case probe.DetailType != "":
			if a.forwarder != nil {
				// Tell the other regions this one is alive: an unforced takeover of our
				// executions needs us silent.
				if err := a.forwarder.Heartbeat(ctx, a.Env.Config.Deployment.Partition); err != nil {
					a.Env.Log.WarnContext(ctx, "publish interlink heartbeat", "error", err.Error())
				}
			}
			if _, ok := a.jobs["peeringcopier"]; !ok {
				return map[string]string{"skipped": "peering is not enabled in this deployment"}, nil
			}
			return a.RunJob(ctx, "peeringcopier")
		}
		return nil, fault.Invalidf("the peering function takes a schedule, an SQS batch or {\"copyNow\":{...}}")
	}
}

func (a *App) copyNow(ctx context.Context, req CopyNowRequest) (any, error) {
	if a.copier == nil {
		return nil, fault.New(fault.Unavailable, "peering is not enabled in this deployment")
	}
	var sums []peering.PeerSummary
	for i, wait := range []time.Duration{0, 2 * time.Second, 5 * time.Second} {
		if i > 0 {
			select {
			case <-ctx.Done():
				return sums, nil
			case <-time.After(wait):
			}
		}
		s, err := a.copier.CopyNow(ctx, req.PeerID, peering.ExecutionType(req.ExecutionType), req.IDs)
		if err != nil {
			return sums, err
		}
		sums = append(sums, s)
	}
	return sums, nil
}

func firstSet(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
