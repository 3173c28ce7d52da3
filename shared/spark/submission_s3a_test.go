package spark

import (
	"strings"
	"testing"
)

// TestBuildSubmissionFollowsTheObjectStore: the S3A endpoint and path style come from
// objectStore.aws.endpointOverride and pathStyle (MinIO, a VPC endpoint); without a log4j file
// no empty -Dlog4j.configuration= is sent.
func TestBuildSubmissionFollowsTheObjectStore(t *testing.T) {
	tests := []struct {
		name                    string
		endpoint, region, log4j string
		pathStyle               bool
		wantEndpoint, wantStyle string
		wantLog4j               bool
	}{
		{name: "AWS us-east-1", region: "us-east-1", log4j: "/opt/log4j.properties", wantEndpoint: "s3.amazonaws.com", wantStyle: "false", wantLog4j: true},
		{name: "AWS other region", region: "eu-west-1", log4j: "/opt/log4j.properties", wantEndpoint: "s3-eu-west-1.amazonaws.com", wantStyle: "false", wantLog4j: true},
		{name: "MinIO path style", endpoint: "http://minio:9000", pathStyle: true, wantEndpoint: "http://minio:9000", wantStyle: "true"},
		{name: "endpoint without path style", endpoint: "https://bucket.vpce-1.s3.eu-west-1.vpce.amazonaws.com", wantEndpoint: "https://bucket.vpce-1.s3.eu-west-1.vpce.amazonaws.com", wantStyle: "false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := testTenant()
			tn.ObjectStore.AWS.EndpointOverride, tn.ObjectStore.AWS.PathStyle = tt.endpoint, tt.pathStyle
			tn.Spark.AWSRegion, tn.Spark.Log4jPropertiesFilePath = tt.region, tt.log4j
			req, err := BuildSubmission(tn, SubmitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p := req.SparkProperties
			if p["spark.hadoop.fs.s3a.endpoint"] != tt.wantEndpoint || p["spark.hadoop.fs.s3a.path.style.access"] != tt.wantStyle {
				t.Errorf("endpoint %v, path style %v; want %s, %s", p["spark.hadoop.fs.s3a.endpoint"], p["spark.hadoop.fs.s3a.path.style.access"], tt.wantEndpoint, tt.wantStyle)
			}
			for _, k := range []string{"spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"} {
				opts, _ := p[k].(string)
				has := strings.Contains(opts, "-Dlog4j.configuration=")
				if has != tt.wantLog4j || strings.Contains(opts, "-Dlog4j.configuration= ") || strings.HasSuffix(opts, "-Dlog4j.configuration=") {
					t.Errorf("%s = %q; want log4j option %v and never empty", k, opts, tt.wantLog4j)
				}
			}
		})
	}
}
