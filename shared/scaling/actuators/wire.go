package actuators

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/smithy-go"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/scaling"
)

// NewActuator builds the actuator a tenant's spark.cluster configures: a Kubernetes
// Deployment (EKS when eksClusterName is set: endpoint and CA from eks:DescribeCluster unless
// apiServer and caFile override them, token from STS; else a kubeconfig when given, else the
// in-cluster service account) or an Auto Scaling Group. docker and an empty cluster type
// have none (nil, nil). wrapHTTP, when set, wraps the Kubernetes HTTP client (tracing); AWS
// calls are traced through awsCfg.
func NewActuator(ctx context.Context, s config.Spark, awsCfg aws.Config, wrapHTTP func(*http.Client) *http.Client) (scaling.Actuator, error) {
	c := s.Cluster
	switch c.ClusterType {
	case "kubernetes", "k8s":
		k := c.Kubernetes
		var target scaling.KubernetesTarget
		var err error
		switch {
		case k.EKSClusterName != "":
			target, err = eksTarget(ctx, k, awsCfg)
		case k.Kubeconfig != "":
			target, err = scaling.FromKubeconfig(k.Kubeconfig, k.Namespace, k.DeploymentName)
		default:
			target, err = scaling.InCluster(k.Namespace, k.DeploymentName, k.APIServer, k.CAFile, k.TokenFile)
		}
		if err != nil {
			return nil, err
		}
		target.WrapHTTP = wrapHTTP
		return scaling.NewKubernetes(target)
	case "asg":
		a := c.ASG.AWS
		cfg := awsCfg.Copy()
		if a.Region != "" {
			cfg.Region = a.Region
		}
		asg := autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) {
			if a.EndpointOverride != "" {
				o.BaseEndpoint = aws.String(a.EndpointOverride)
			}
		})
		return NewASG(a.Name, asg, newEC2Instances(cfg, a.EndpointOverride)), nil
	}
	return nil, nil
}

// eksTarget reaches an EKS cluster by name: its API endpoint and CA from eks:DescribeCluster
// (a Lambda zip holds no CA file), apiServer and caFile overriding each when set.
func eksTarget(ctx context.Context, k config.ClusterKubernetes, awsCfg aws.Config) (scaling.KubernetesTarget, error) {
	cfg := awsCfg.Copy()
	if k.EKSRegion != "" {
		cfg.Region = k.EKSRegion
	}
	server := k.APIServer
	var ca []byte
	if k.CAFile != "" {
		b, err := os.ReadFile(k.CAFile)
		if err != nil {
			return scaling.KubernetesTarget{}, fmt.Errorf("read EKS CA %s: %w", k.CAFile, err)
		}
		ca = b
	}
	if server == "" || ca == nil {
		c := eks.NewFromConfig(cfg) // called through a closure only: see newEC2Instances
		ep, data, err := describeEKS(ctx, func(ctx context.Context, in *eks.DescribeClusterInput) (*eks.DescribeClusterOutput, error) {
			return c.DescribeCluster(ctx, in)
		}, k.EKSClusterName)
		if err != nil {
			return scaling.KubernetesTarget{}, err
		}
		if server == "" {
			server = ep
		}
		if ca == nil {
			ca = data
		}
	}
	return scaling.KubernetesTarget{Namespace: k.Namespace, Deployment: k.DeploymentName, Server: server, CAPEM: ca, Token: NewEKSToken(cfg, k.EKSClusterName)}, nil
}

// describeEKS returns an EKS cluster's API endpoint and CA bundle (PEM).
func describeEKS(ctx context.Context, describe func(context.Context, *eks.DescribeClusterInput) (*eks.DescribeClusterOutput, error), name string) (string, []byte, error) {
	out, err := describe(ctx, &eks.DescribeClusterInput{Name: aws.String(name)})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			kind := fault.Upstream
			if apiErr.ErrorCode() == "ResourceNotFoundException" {
				kind = fault.Invalid
			}
			return "", nil, fault.New(kind, "spark.cluster.kubernetes.eksClusterName %s: eks:DescribeCluster: %s: %s", name, apiErr.ErrorCode(), apiErr.ErrorMessage())
		}
		return "", nil, fault.Wrap(fault.Unavailable, err, "spark.cluster.kubernetes.eksClusterName %s: eks:DescribeCluster", name)
	}
	c := out.Cluster
	if c == nil || aws.ToString(c.Endpoint) == "" || c.CertificateAuthority == nil || aws.ToString(c.CertificateAuthority.Data) == "" {
		return "", nil, fault.New(fault.Upstream, "EKS cluster %s has no endpoint or certificate authority yet (status %v)", name, clusterStatus(c))
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(c.CertificateAuthority.Data))
	if err != nil {
		return "", nil, fault.Wrap(fault.Upstream, err, "EKS cluster %s: certificate authority data", name)
	}
	return aws.ToString(c.Endpoint), ca, nil
}

func clusterStatus(c *ekstypes.Cluster) string {
	if c == nil {
		return "unknown"
	}
	return string(c.Status)
}
