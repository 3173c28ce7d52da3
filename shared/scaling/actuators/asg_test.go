package actuators

import (
	"github.com/logwise/controlplane/internal/mototest"
	"github.com/logwise/controlplane/shared/scaling"

	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// motoASG creates groups in moto and reads back their instances' private IPs.
type motoASG struct {
	asg   *autoscaling.Client
	ec2   *ec2.Client   // the SDK, to set up the world
	query *ec2Instances // what the actuator uses
}

func newMotoASG(t *testing.T) motoASG {
	url := mototest.Start(t)
	cfg := motoConfig()
	m := motoASG{
		asg:   autoscaling.NewFromConfig(cfg, func(o *autoscaling.Options) { o.BaseEndpoint = aws.String(url) }),
		ec2:   ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) }),
		query: newEC2Instances(cfg, url),
	}
	ctx := context.Background()
	imgs, err := m.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(imgs.Images) == 0 {
		t.Fatalf("moto has no AMI: %v", err)
	}
	_, err = m.asg.CreateLaunchConfiguration(ctx, &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("spark"), ImageId: imgs.Images[0].ImageId, InstanceType: aws.String("t3.micro")})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// group creates an Auto Scaling Group and returns its instance ids with their private IPs.
func (m motoASG) group(t *testing.T, name string, min, max, desired int32) (ids []string, ips map[string]string) {
	t.Helper()
	ctx := context.Background()
	_, err := m.asg.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(name), LaunchConfigurationName: aws.String("spark"),
		MinSize: aws.Int32(min), MaxSize: aws.Int32(max), DesiredCapacity: aws.Int32(desired),
		AvailabilityZones: []string{"us-east-1a"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range out.AutoScalingGroups[0].Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	ips = map[string]string{}
	desc, err := m.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range desc.Reservations {
		for _, in := range r.Instances {
			ips[aws.ToString(in.InstanceId)] = aws.ToString(in.PrivateIpAddress)
		}
	}
	return ids, ips
}

func (m motoASG) state(t *testing.T, name string) (desired int, live []string) {
	t.Helper()
	out, err := m.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	g := out.AutoScalingGroups[0]
	for _, in := range g.Instances {
		live = append(live, aws.ToString(in.InstanceId))
	}
	return int(aws.ToInt32(g.DesiredCapacity)), live
}

func TestASGAgainstMoto(t *testing.T) {
	t.Parallel()
	m := newMotoASG(t)
	ctx := context.Background()

	t.Run("upscale is clamped to MaxSize", func(t *testing.T) {
		m.group(t, "up", 1, 6, 2)
		a, err := NewASG("up", m.asg, m.query).Apply(ctx, scaling.Decision{Action: scaling.Upscale, From: 2, Target: 9}, scaling.Cluster{})
		if err != nil {
			t.Fatal(err)
		}
		desired, _ := m.state(t, "up")
		if desired != 6 || a.Target != 6 {
			t.Errorf("desired %d, applied target %d; want 6 and 6 (MaxSize)", desired, a.Target)
		}
	})

	t.Run("downscale spares the driver, other groups and MinSize", func(t *testing.T) {
		ids, ips := m.group(t, "workers", 3, 10, 6)
		otherIDs, otherIPs := m.group(t, "other", 0, 5, 1)
		// Cluster: the driver runs on ids[0]; ids[1] is DEAD; the rest are ALIVE. A worker of
		// the other group is ALIVE too and listed first.
		c := scaling.Cluster{Drivers: []scaling.Driver{{ID: "driver-1", State: "RUNNING", Worker: "w-0"}}}
		c.Workers = append(c.Workers, scaling.Worker{ID: "w-other", Host: otherIPs[otherIDs[0]], State: "ALIVE"})
		for i, id := range ids {
			state := "ALIVE"
			if i == 1 {
				state = "DEAD"
			}
			c.Workers = append(c.Workers, scaling.Worker{ID: fmt.Sprintf("w-%d", i), Host: ips[id], State: state})
		}
		// A second worker process on the driver's instance must not make it removable.
		c.Workers = append(c.Workers, scaling.Worker{ID: "w-0b", Host: ips[ids[0]], State: "ALIVE"})

		g := NewASG("workers", m.asg, m.query)
		steps := []struct {
			name         string
			from, target int
			wantRemoved  []string
			wantDesired  int
		}{
			// 6 → 4: the first two removable workers in the master's order (the other
			// group's worker, the driver's instance and the DEAD worker are skipped).
			{"remove two", 6, 4, []string{ids[2], ids[3]}, 4},
			// The master still lists the terminated workers as ALIVE: a decision from that
			// stale count removes nothing more.
			{"stale master", 6, 4, nil, 4},
			// 6 → 1 asks for 3 more (from the group's 4), but MinSize 3 allows one.
			{"MinSize bounds removal", 6, 1, []string{ids[4]}, 3},
			{"at MinSize", 3, 2, nil, 3},
		}
		for _, st := range steps {
			a, err := g.Apply(ctx, scaling.Decision{Action: scaling.Downscale, From: st.from, Target: st.target}, c)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			desired, _ := m.state(t, "workers")
			if !slices.Equal(a.Removed, st.wantRemoved) || desired != st.wantDesired || a.Target != st.wantDesired {
				t.Errorf("%s: removed %v desired %d target %d; want %v, %d (note %q)", st.name, a.Removed, desired, a.Target, st.wantRemoved, st.wantDesired, a.Note)
			}
			// Terminated workers stay in the (stale) master view for the next step.
		}
		_, live := m.state(t, "workers")
		if !slices.Contains(live, ids[0]) || !slices.Contains(live, ids[1]) {
			t.Errorf("the driver's instance %s or the DEAD worker's %s was terminated; live %v", ids[0], ids[1], live)
		}
		if _, otherLive := m.state(t, "other"); !slices.Contains(otherLive, otherIDs[0]) {
			t.Errorf("an instance of another group was terminated")
		}
	})

	t.Run("missing group names itself", func(t *testing.T) {
		_, err := NewASG("nope", m.asg, m.query).Apply(ctx, scaling.Decision{Action: scaling.Upscale, From: 1, Target: 2}, scaling.Cluster{})
		if err == nil || !strings.Contains(err.Error(), `"nope" not found`) {
			t.Errorf("got %v, want a not-found naming the group", err)
		}
	})
}

// busyGroup is an Auto Scaling Group in the middle of a scaling activity: reads work,
// changes are refused with ScalingActivityInProgress.
type busyGroup struct{ sets int }

func (b *busyGroup) DescribeAutoScalingGroups(context.Context, *autoscaling.DescribeAutoScalingGroupsInput, ...func(*autoscaling.Options)) (*autoscaling.DescribeAutoScalingGroupsOutput, error) {
	return &autoscaling.DescribeAutoScalingGroupsOutput{AutoScalingGroups: []astypes.AutoScalingGroup{{
		AutoScalingGroupName: aws.String("busy"), MinSize: aws.Int32(1), MaxSize: aws.Int32(10), DesiredCapacity: aws.Int32(2)}}}, nil
}

func (b *busyGroup) SetDesiredCapacity(context.Context, *autoscaling.SetDesiredCapacityInput, ...func(*autoscaling.Options)) (*autoscaling.SetDesiredCapacityOutput, error) {
	b.sets++
	return nil, &astypes.ScalingActivityInProgressFault{Message: aws.String("Scaling activity 1234 is in progress and blocks this action.")}
}

func (b *busyGroup) TerminateInstanceInAutoScalingGroup(context.Context, *autoscaling.TerminateInstanceInAutoScalingGroupInput, ...func(*autoscaling.Options)) (*autoscaling.TerminateInstanceInAutoScalingGroupOutput, error) {
	return nil, errors.New("not expected")
}

func TestASGActivityInProgressIsRetriedNotForced(t *testing.T) {
	t.Parallel()
	b := &busyGroup{}
	_, err := NewASG("busy", b, nil).Apply(context.Background(), scaling.Decision{Action: scaling.Upscale, From: 2, Target: 4}, scaling.Cluster{})
	if !errors.Is(err, scaling.ErrActivityInProgress) || b.sets != 1 {
		t.Errorf("got %v after %d attempts, want scaling.ErrActivityInProgress after exactly 1 (no forcing, no retry loop)", err, b.sets)
	}
}
