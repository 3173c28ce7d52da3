package setup

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// awsFromEnv is the AWS configuration a function runs with, read from the environment Lambda
// gives it: the region (AWS_REGION, else fallbackRegion), the execution role's credentials
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) and the endpoint overrides
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (the SDK's names: AWS_ENDPOINT_URL_SQS,
// AWS_ENDPOINT_URL_SECRETS_MANAGER, ...), which local runs and tests use.
//
// It is not the SDK's config package on purpose: LoadDefaultConfig's chain links the STS,
// SSO, SSO OIDC and sign-in clients and a shared-file parser for credential sources Lambda
// never uses, and their package init alone was 0.75 ms of a cold start that a bare
// aws-lambda-go binary finishes in about 2 ms here. Credentials from a profile must be
// exported to the environment first (aws configure export-credentials --format env).
func awsFromEnv(lookup func(string) (string, bool), fallbackRegion string) aws.Config {
	get := func(k string) string { v, _ := lookup(k); return v }
	cfg := aws.Config{Region: get("AWS_REGION")}
	if cfg.Region == "" {
		cfg.Region = fallbackRegion
	}
	creds := aws.Credentials{AccessKeyID: get("AWS_ACCESS_KEY_ID"), SecretAccessKey: get("AWS_SECRET_ACCESS_KEY"),
		SessionToken: get("AWS_SESSION_TOKEN"), Source: "environment"}
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
			return aws.Credentials{}, errors.New("no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the function's role)")
		}
		return creds, nil
	})
	if u := get("AWS_ENDPOINT_URL"); u != "" {
		cfg.BaseEndpoint = aws.String(u)
	}
	cfg.ConfigSources = []any{serviceEndpoints(get)}
	return cfg
}

// serviceEndpoints answers the service clients' question for an endpoint of their own
// (AWS_ENDPOINT_URL_<SDK ID, upper case, spaces as underscores>), as the SDK's env config does.
type serviceEndpoints func(string) string

func (e serviceEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	u := e("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return u, u != "", nil
}
