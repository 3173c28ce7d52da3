package actuators

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/scaling"
)

// autoScalingAPI is the part of the Auto Scaling client the actuator uses.
type autoScalingAPI interface {
	DescribeAutoScalingGroups(ctx context.Context, in *autoscaling.DescribeAutoScalingGroupsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error)
	SetDesiredCapacity(ctx context.Context, in *autoscaling.SetDesiredCapacityInput, optFns ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error)
	TerminateInstanceInAutoScalingGroup(ctx context.Context, in *autoscaling.TerminateInstanceInAutoScalingGroupInput, optFns ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error)
}

// instancesAPI is the part of the EC2 client the actuator uses: finding the instances
// behind Spark worker hosts (private IPs or private DNS names).
type instancesAPI interface {
	InstancesByFilter(ctx context.Context, filter string, values []string) ([]Instance, error)
}

// ASG resizes an AWS Auto Scaling Group of Spark workers. An upscale raises the desired
// capacity; downscale terminates chosen instances (ALIVE workers that host no driver, of this
// group only) and decrements the desired capacity with each, never below MinSize: lowering
// the desired capacity alone would let AWS pick, possibly the driver's instance.
type ASG struct {
	name string
	asg  autoScalingAPI
	ec2  instancesAPI
}

// NewASG returns an actuator for the named group.
func NewASG(name string, asg autoScalingAPI, ec2 instancesAPI) *ASG {
	return &ASG{name: name, asg: asg, ec2: ec2}
}

// group is what the actuator reads of the Auto Scaling Group.
type group struct {
	min, max, desired int
	instances         map[string]bool // instance ids not terminating
}

func (g *ASG) describe(ctx context.Context) (group, error) {
	out, err := g.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{g.name}})
	if err != nil {
		return group{}, g.classify(err, "describe")
	}
	for _, a := range out.AutoScalingGroups {
		if aws.ToString(a.AutoScalingGroupName) != g.name {
			continue
		}
		gr := group{min: int(aws.ToInt32(a.MinSize)), max: int(aws.ToInt32(a.MaxSize)), desired: int(aws.ToInt32(a.DesiredCapacity)), instances: map[string]bool{}}
		for _, in := range a.Instances {
			switch in.LifecycleState {
			case astypes.LifecycleStateTerminating, astypes.LifecycleStateTerminatingWait,
				astypes.LifecycleStateTerminatingProceed, astypes.LifecycleStateTerminated:
				continue
			}
			gr.instances[aws.ToString(in.InstanceId)] = true
		}
		return gr, nil
	}
	return group{}, fault.New(fault.NotFound, "auto scaling group %q not found (check spark.cluster.asg.aws.name and region)", g.name)
}

// Apply resizes the group toward d.Target.
func (g *ASG) Apply(ctx context.Context, d scaling.Decision, c scaling.Cluster) (scaling.Applied, error) {
	switch d.Action {
	case scaling.Upscale:
		return g.upscale(ctx, d.Target)
	case scaling.Downscale:
		return g.downscale(ctx, d.From, d.Target, c)
	}
	return scaling.Applied{Target: d.From}, nil
}

func (g *ASG) upscale(ctx context.Context, target int) (scaling.Applied, error) {
	gr, err := g.describe(ctx)
	if err != nil {
		return scaling.Applied{}, err
	}
	clamped := min(gr.max, max(gr.min, target))
	a := scaling.Applied{Target: clamped}
	if clamped != target {
		a.Note = fmt.Sprintf("target %d clamped to the group's [%d, %d]", target, gr.min, gr.max)
	}
	if clamped <= gr.desired {
		a.Target = gr.desired
		a.Note = fmt.Sprintf("desired capacity already %d (target %d, group [%d, %d])", gr.desired, target, gr.min, gr.max)
		return a, nil
	}
	_, err = g.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(g.name), DesiredCapacity: aws.Int32(int32(clamped)), HonorCooldown: aws.Bool(false)})
	if err != nil {
		return scaling.Applied{}, g.classify(err, "set desired capacity of")
	}
	return a, nil
}

func (g *ASG) downscale(ctx context.Context, from, target int, c scaling.Cluster) (scaling.Applied, error) {
	gr, err := g.describe(ctx)
	if err != nil {
		return scaling.Applied{}, err
	}
	// The master lists a terminated worker as ALIVE until its heartbeat times out: the
	// group's desired capacity says how many removals are still outstanding.
	count := min(from, gr.desired) - target
	budget := gr.desired - gr.min
	a := scaling.Applied{Target: gr.desired}
	switch {
	case budget <= 0:
		a.Note = fmt.Sprintf("desired capacity %d is at MinSize %d", gr.desired, gr.min)
		return a, nil
	case count <= 0:
		a.Note = fmt.Sprintf("desired capacity %d is already at or below the target %d", gr.desired, target)
		return a, nil
	}
	candidates, err := g.removable(ctx, c, gr)
	if err != nil {
		return scaling.Applied{}, err
	}
	n := min(count, budget, len(candidates))
	if n < count {
		a.Note = fmt.Sprintf("removing %d of %d: %d removable instances of this group, %d above MinSize %d", n, count, len(candidates), budget, gr.min)
	}
	for _, id := range candidates[:n] {
		_, err := g.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(true)})
		if err != nil {
			return a, g.classify(err, fmt.Sprintf("terminate instance %s in", id))
		}
		a.Removed = append(a.Removed, id)
		a.Target--
	}
	return a, nil
}

// removable maps the ALIVE workers that host no driver to instances of this group, in the
// master's order. An instance that hosts a driver's worker is never a candidate, even when it
// also runs other workers.
func (g *ASG) removable(ctx context.Context, c scaling.Cluster, gr group) ([]string, error) {
	drivers := c.DriverWorkers()
	driverHosts := map[string]bool{}
	for _, w := range c.Workers {
		if drivers[w.ID] {
			driverHosts[w.Host] = true
		}
	}
	var hosts []string
	for _, h := range c.RemovableHosts() {
		if !driverHosts[h] && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return nil, nil
	}
	byHost := map[string]string{}
	driverInstances := map[string]bool{}
	all := append(slices.Clone(hosts), keys(driverHosts)...)
	for _, filter := range []string{"private-ip-address", "private-dns-name"} {
		found, err := g.ec2.InstancesByFilter(ctx, filter, all)
		if err != nil {
			return nil, fmt.Errorf("find EC2 instances of Spark workers for group %s: %w", g.name, err)
		}
		for _, in := range found {
			for _, h := range []string{in.PrivateIP, in.PrivateDNS} {
				if h == "" {
					continue
				}
				if driverHosts[h] {
					driverInstances[in.ID] = true
				} else {
					byHost[h] = in.ID
				}
			}
		}
	}
	var out []string
	for _, h := range hosts {
		id, ok := byHost[h]
		if ok && gr.instances[id] && !driverInstances[id] && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (g *ASG) classify(err error, op string) error {
	var busy *astypes.ScalingActivityInProgressFault
	if errors.As(err, &busy) {
		return fmt.Errorf("%s auto scaling group %s: %w (%s)", op, g.name, scaling.ErrActivityInProgress, busy.ErrorMessage())
	}
	var contention *astypes.ResourceContentionFault
	if errors.As(err, &contention) {
		return fault.Wrap(fault.Unavailable, err, "%s auto scaling group %s", op, g.name)
	}
	return fault.Wrap(fault.Upstream, err, "%s auto scaling group %s", op, g.name)
}
