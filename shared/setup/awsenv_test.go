package setup

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestAWSFromEnv: the functions' AWS configuration comes from what Lambda sets (region, the
// role's credentials) and from the SDK's endpoint variables, global and per service, as the
// SDK's own config package would read them.
func TestAWSFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	ctx := context.Background()

	cfg := awsFromEnv(env("AWS_REGION", "eu-west-1", "AWS_ACCESS_KEY_ID", "AKID", "AWS_SECRET_ACCESS_KEY", "SECRET", "AWS_SESSION_TOKEN", "TOKEN",
		"AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:4566"), "us-east-1")
	if cfg.Region != "eu-west-1" {
		t.Errorf("region %q, want AWS_REGION's eu-west-1", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil || creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "SECRET" || creds.SessionToken != "TOKEN" {
		t.Errorf("credentials %+v, %v; want the role's from the environment", creds, err)
	}
	if got := secretsmanager.NewFromConfig(cfg).Options().BaseEndpoint; got == nil || *got != "http://127.0.0.1:4566" {
		t.Errorf("Secrets Manager endpoint %v; want AWS_ENDPOINT_URL_SECRETS_MANAGER's", aws.ToString(got))
	}
	if got := sqs.NewFromConfig(cfg).Options().BaseEndpoint; got != nil {
		t.Errorf("SQS endpoint %q; want the default (no override for it)", *got)
	}

	cfg = awsFromEnv(env("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"), "us-east-1")
	if cfg.Region != "us-east-1" {
		t.Errorf("region %q without AWS_REGION; want the fallback us-east-1", cfg.Region)
	}
	if got := sqs.NewFromConfig(cfg).Options().BaseEndpoint; got == nil || *got != "http://127.0.0.1:5000" {
		t.Errorf("SQS endpoint %v; want AWS_ENDPOINT_URL's", aws.ToString(got))
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("credentials without the variables: %v; want an error naming them", err)
	}
}
