// Package linkwire wires the interlink pieces two functions share: the forwarder that
// publishes to the interlink SNS topic (the API forwards actions and announces takeovers; the
// peering function publishes its heartbeat) and the owner's health that an unforced takeover
// reads. Only composition roots and the local runner use it.
package linkwire

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/store"
)

// Forwarder publishes to the interlink topic, or is nil when interlink is off. It has no
// PeerNow: the API sets one to copy a forwarded action's outcome back.
func Forwarder(env *setup.Env) *interlink.Forwarder {
	cfg := env.Config
	topic := cfg.Interlink.TopicARN
	if topic == "" {
		topic = os.Getenv("INTERLINK_TOPIC_ARN")
	}
	if !cfg.Interlink.Enabled && cfg.Interlink.TopicARN == "" || topic == "" {
		return nil
	}
	snsClient := sns.NewFromConfig(env.AWS, func(o *sns.Options) {
		if cfg.Interlink.EndpointOverride != "" {
			o.BaseEndpoint = aws.String(cfg.Interlink.EndpointOverride)
		}
	})
	return &interlink.Forwarder{SNS: publishFunc(snsClient.Publish), Topic: topic, Log: env.Log,
		Flagger: interlink.NewFlagger(cfg.Interlink.MaxRemembered, cfg.Interlink.MaxRepeats, time.Duration(cfg.Interlink.WindowSeconds)*time.Second)}
}

// publishFunc is the SNS client's Publish as an interlink.Publisher. A method value, not the
// client in a field: with X-Ray linked, a client held in an interface-typed value keeps every
// one of its methods in the binary.
type publishFunc func(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)

func (f publishFunc) Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error) {
	return f(ctx, in, optFns...)
}

// OwnerHealth answers the takeover's question from the copier's contact records and the
// heartbeats the interlink applier heard.
type OwnerHealth struct{ DB *store.DB }

// OwnerStatus implements interlink's owner health.
func (h OwnerHealth) OwnerStatus(ctx context.Context, peerID string) (interlink.OwnerStatus, error) {
	c, err := h.DB.PeerContact(ctx, peerID)
	if err != nil {
		return interlink.OwnerStatus{}, err
	}
	if !c.Known {
		return interlink.OwnerStatus{}, fault.Conflictf("partition %s is not a peer this region copies from, so its reachability is unknown; an admin token may force a takeover", peerID).WithCode("OWNER_UNKNOWN")
	}
	return interlink.OwnerStatus{DBUnreachableSince: c.UnreachableSince, LastHeartbeat: c.LastHeartbeat}, nil
}
