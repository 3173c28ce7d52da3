package supervisor

import (
	"context"
	"net/http"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/spark"
)

// SparkClients is the usual Deps.Clients: a spark.Client per tenant from its configuration,
// sharing one HTTP client (nil: a default one).
func SparkClients(hc *http.Client) func(config.Tenant) (Cluster, error) {
	return func(t config.Tenant) (Cluster, error) {
		return spark.New(spark.Config{Masters: spark.ConfigFrom(t.Spark).Masters, HTTP: hc}), nil
	}
}

// SecretCredentials is a CredentialSource reading the secret's JSON with get (for example a
// Secrets Manager GetSecretValue) and parsing it with spark.ParseCredentialsSecret.
type SecretCredentials func(ctx context.Context, secretARN string) (string, error)

// S3ACredentials implements CredentialSource.
func (f SecretCredentials) S3ACredentials(ctx context.Context, secretARN string) (spark.Credentials, error) {
	s, err := f(ctx, secretARN)
	if err != nil {
		return spark.Credentials{}, err
	}
	return spark.ParseCredentialsSecret(s)
}
