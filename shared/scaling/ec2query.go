package scaling

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/logwise/controlplane/shared/fault"
)

// Instance is an EC2 instance as the actuator needs it.
type Instance struct {
	ID, PrivateIP, PrivateDNS string
}

// ec2Query calls EC2's DescribeInstances through the Query API directly. The SDK's EC2
// package adds about 20 MB of code to every function binary for this one call (the function
// binaries share one wiring), so this small signed request stands in for it.
type ec2Query struct {
	creds    aws.CredentialsProvider
	region   string
	endpoint string
	http     *http.Client
	signer   *v4.Signer
	now      func() time.Time
}

func newEC2Query(cfg aws.Config, endpointOverride string) *ec2Query {
	ep := endpointOverride
	if ep == "" {
		ep = "https://ec2." + cfg.Region + ".amazonaws.com/"
	}
	hc := &http.Client{Timeout: 20 * time.Second}
	if c, ok := cfg.HTTPClient.(*http.Client); ok && c != nil {
		hc = c
	}
	return &ec2Query{creds: cfg.Credentials, region: cfg.Region, endpoint: ep, http: hc, signer: v4.NewSigner(), now: time.Now}
}

// describeInstancesResponse is the part of the DescribeInstances XML the actuator reads.
type describeInstancesResponse struct {
	Reservations []struct {
		Instances []struct {
			ID         string `xml:"instanceId"`
			PrivateIP  string `xml:"privateIpAddress"`
			PrivateDNS string `xml:"privateDnsName"`
		} `xml:"instancesSet>item"`
	} `xml:"reservationSet>item"`
	NextToken string `xml:"nextToken"`
}

type ec2ErrorResponse struct {
	Errors []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
}

// InstancesByFilter returns the instances matching one DescribeInstances filter (for example
// private-ip-address), following pagination.
func (q *ec2Query) InstancesByFilter(ctx context.Context, filter string, values []string) ([]Instance, error) {
	var out []Instance
	token := ""
	for page := 0; page < 100; page++ {
		form := url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "Filter.1.Name": {filter}, "MaxResults": {"1000"}}
		for i, v := range values {
			form.Set("Filter.1.Value."+strconv.Itoa(i+1), v)
		}
		if token != "" {
			form.Set("NextToken", token)
		}
		var resp describeInstancesResponse
		if err := q.call(ctx, form, &resp); err != nil {
			return nil, err
		}
		for _, r := range resp.Reservations {
			for _, in := range r.Instances {
				out = append(out, Instance{ID: in.ID, PrivateIP: in.PrivateIP, PrivateDNS: in.PrivateDNS})
			}
		}
		if token = resp.NextToken; token == "" {
			return out, nil
		}
	}
	return out, fmt.Errorf("describe instances: more than 100 pages")
}

func (q *ec2Query) call(ctx context.Context, form url.Values, into any) error {
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, q.endpoint, strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("describe instances: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds, err := q.creds.Retrieve(ctx)
	if err != nil {
		return fault.Wrap(fault.Unavailable, err, "describe instances: AWS credentials")
	}
	if err := q.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ec2", q.region, q.now()); err != nil {
		return fmt.Errorf("describe instances: sign: %w", err)
	}
	resp, err := q.http.Do(req)
	if err != nil {
		return fault.Wrap(fault.Unavailable, err, "describe instances at %s", q.endpoint)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fault.Wrap(fault.Unavailable, err, "describe instances: read answer")
	}
	if resp.StatusCode != http.StatusOK {
		var e ec2ErrorResponse
		if xml.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
			return fault.New(fault.Upstream, "describe instances: %s: %s", e.Errors[0].Code, e.Errors[0].Message)
		}
		return fault.New(fault.Upstream, "describe instances: HTTP %d", resp.StatusCode)
	}
	if err := xml.Unmarshal(raw, into); err != nil {
		return fault.Wrap(fault.Upstream, err, "describe instances: decode answer")
	}
	return nil
}
