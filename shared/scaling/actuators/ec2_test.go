package actuators

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/fault"
)

func TestEC2LookupPaginatesSignsAndReportsErrors(t *testing.T) {
	t.Parallel()
	var pages int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=testing/") || !strings.Contains(r.Header.Get("Authorization"), "/ec2/aws4_request") {
			t.Errorf("request not signed for ec2: %q", r.Header.Get("Authorization"))
		}
		if r.Form.Get("Filter.1.Value.2") == "10.0.0.9" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors></Response>`))
			return
		}
		pages++
		if r.Form.Get("Action") != "DescribeInstances" || r.Form.Get("Filter.1.Name") != "private-ip-address" || r.Form.Get("Filter.1.Value.1") != "10.0.0.1" {
			t.Errorf("form = %v", r.Form)
		}
		if r.Form.Get("NextToken") == "" {
			_, _ = w.Write([]byte(`<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-1</instanceId><privateIpAddress>10.0.0.1</privateIpAddress><privateDnsName>ip-10-0-0-1.ec2.internal</privateDnsName></item></instancesSet></item></reservationSet><nextToken>p2</nextToken></DescribeInstancesResponse>`))
			return
		}
		_, _ = w.Write([]byte(`<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-2</instanceId><privateIpAddress>10.0.0.2</privateIpAddress></item></instancesSet></item></reservationSet></DescribeInstancesResponse>`))
	}))
	defer srv.Close()
	q := newEC2Instances(motoConfig(), srv.URL)
	got, err := q.InstancesByFilter(context.Background(), "private-ip-address", []string{"10.0.0.1", "10.0.0.2"})
	if err != nil || pages != 2 || len(got) != 2 || got[0] != (Instance{ID: "i-1", PrivateIP: "10.0.0.1", PrivateDNS: "ip-10-0-0-1.ec2.internal"}) || got[1].ID != "i-2" {
		t.Fatalf("got %+v, %v after %d pages", got, err, pages)
	}
	_, err = q.InstancesByFilter(context.Background(), "private-ip-address", []string{"10.0.0.1", "10.0.0.9"})
	if !fault.Is(err, fault.Upstream) || !strings.Contains(err.Error(), "UnauthorizedOperation: You are not authorized") {
		t.Fatalf("EC2 error: %v, want Upstream naming UnauthorizedOperation", err)
	}
}
