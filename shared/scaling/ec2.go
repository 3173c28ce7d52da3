package scaling

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

// describeInstancesAPI is the part of the SDK's EC2 client the lookup uses.
type describeInstancesAPI interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// ec2Instances finds EC2 instances through the SDK's DescribeInstances (retried, traced and
// addressed like every other SDK call of the function).
type ec2Instances struct{ api describeInstancesAPI }

// newEC2Instances returns the lookup for cfg's region, at endpointOverride when set.
func newEC2Instances(cfg aws.Config, endpointOverride string) *ec2Instances {
	return &ec2Instances{api: ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if endpointOverride != "" {
			o.BaseEndpoint = aws.String(endpointOverride)
		}
	})}
}

// maxPages bounds one lookup (1000 instances a page).
const maxPages = 100

// InstancesByFilter returns the instances matching one DescribeInstances filter (for example
// private-ip-address), following pagination.
func (e *ec2Instances) InstancesByFilter(ctx context.Context, filter string, values []string) ([]Instance, error) {
	in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String(filter), Values: values}}, MaxResults: aws.Int32(1000)}
	p := ec2.NewDescribeInstancesPaginator(e.api, in)
	var out []Instance
	for page := 0; p.HasMorePages(); page++ {
		if page == maxPages {
			return out, fmt.Errorf("describe instances by %s: more than %d pages", filter, maxPages)
		}
		resp, err := p.NextPage(ctx)
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
	}
	return out, nil
}
