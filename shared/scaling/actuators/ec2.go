package actuators

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/logwise/controlplane/shared/fault"
)

// Instance is an EC2 instance as the actuator needs it.
type Instance struct {
	ID, PrivateIP, PrivateDNS string
}

// ec2Instances finds EC2 instances through the SDK's DescribeInstances (retried, traced and
// addressed like every other SDK call of the function).
type ec2Instances struct {
	describe func(ctx context.Context, in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error)
}

// newEC2Instances returns the lookup for cfg's region, at endpointOverride when set.
//
// The client is reached only through a closure, never stored in a field or converted to an
// interface (nor given to the SDK's paginator, which takes one): were text/template linked (the
// X-Ray SDK linked it through gRPC; functions.TestEachFunctionLinksOnlyWhatItUses now forbids
// it), its reflection would make the linker keep every exported method of each type that is, or
// is a field of, a type converted to an interface. The EC2 client has over 800 methods: held in
// a field it added 14 MB to the binary; reached through a closure, 0.3 MB.
func newEC2Instances(cfg aws.Config, endpointOverride string) *ec2Instances {
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if endpointOverride != "" {
			o.BaseEndpoint = aws.String(endpointOverride)
		}
	})
	return &ec2Instances{describe: func(ctx context.Context, in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
		return c.DescribeInstances(ctx, in)
	}}
}

// maxPages bounds one lookup (1000 instances a page).
const maxPages = 100

// InstancesByFilter returns the instances matching one DescribeInstances filter (for example
// private-ip-address), following pagination.
func (e *ec2Instances) InstancesByFilter(ctx context.Context, filter string, values []string) ([]Instance, error) {
	in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String(filter), Values: values}}, MaxResults: aws.Int32(1000)}
	var out []Instance
	for page := 0; ; page++ {
		if page == maxPages {
			return out, fmt.Errorf("describe instances by %s: more than %d pages", filter, maxPages)
		}
		resp, err := e.describe(ctx, in)
		if err != nil {
			var api smithy.APIError
			if errors.As(err, &api) {
				return nil, fault.New(fault.Upstream, "describe instances by %s: %s: %s", filter, api.ErrorCode(), api.ErrorMessage())
			}
			return nil, fault.Wrap(fault.Unavailable, err, "describe instances by %s", filter)
		}
		for _, r := range resp.Reservations {
			for _, i := range r.Instances {
				out = append(out, Instance{ID: aws.ToString(i.InstanceId), PrivateIP: aws.ToString(i.PrivateIpAddress), PrivateDNS: aws.ToString(i.PrivateDnsName)})
			}
		}
		if aws.ToString(resp.NextToken) == "" {
			return out, nil
		}
		in.NextToken = resp.NextToken
	}
}
