// Package kafka is the control plane's admin access to a tenant's Kafka cluster through
// franz-go: connecting (ec2 plain or TLS, MSK IAM, Confluent SASL PLAIN), health (brokers
// answer metadata, topics matching the subscribe pattern), and partition scaling from the
// ingest rate measured between persisted end-offset samples.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

// Credentials are SASL PLAIN credentials (Confluent API key and secret), resolved by the
// caller from configuration or a secret. They never appear in errors or logs.
type Credentials struct {
	User, Password string
}

// Brokers returns the seed brokers of a configuration: each comma-separated host, with
// kafkaBrokerPort added when it has no port.
func Brokers(k config.Kafka) []string {
	var out []string
	for _, h := range strings.Split(k.KafkaBrokersHost, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(h, strconv.Itoa(k.KafkaBrokerPort))
		}
		out = append(out, h)
	}
	return out
}

// Options returns the franz-go options to reach a tenant's cluster. awsCreds signs MSK IAM
// authentication; plainCreds (when non-empty) replace the configured Confluent key/secret.
func Options(k config.Kafka, awsCreds aws.CredentialsProvider, plainCreds Credentials) ([]kgo.Opt, error) {
	brokers := Brokers(k)
	if len(brokers) == 0 {
		return nil, fault.New(fault.Invalid, "kafka.kafkaBrokersHost is empty")
	}
	opts := []kgo.Opt{kgo.SeedBrokers(brokers...), kgo.RequestTimeoutOverhead(30 * time.Second), kgo.DialTimeout(10 * time.Second)}
	tlsCfg := func() (*tls.Config, error) {
		c := &tls.Config{MinVersion: tls.VersionTLS12}
		if k.SSLTruststoreLocation != "" {
			pem, err := os.ReadFile(k.SSLTruststoreLocation)
			if err != nil {
				return nil, fmt.Errorf("read Kafka truststore %s: %w", k.SSLTruststoreLocation, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fault.New(fault.Invalid, "kafka.sslTruststoreLocation %s holds no PEM certificate", k.SSLTruststoreLocation)
			}
			c.RootCAs = pool
		}
		return c, nil
	}
	switch strings.ToLower(k.KafkaType) {
	case "", "ec2":
		if k.TLS || k.SSLTruststoreLocation != "" {
			c, err := tlsCfg()
			if err != nil {
				return nil, err
			}
			opts = append(opts, kgo.DialTLSConfig(c))
		}
	case "msk":
		if awsCreds == nil {
			return nil, fault.New(fault.Invalid, "kafka type msk needs AWS credentials for IAM authentication")
		}
		c, err := tlsCfg()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(c), kgo.SASL(saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
			v, err := awsCreds.Retrieve(ctx)
			if err != nil {
				return saslaws.Auth{}, fmt.Errorf("retrieve AWS credentials for MSK IAM: %w", err)
			}
			return saslaws.Auth{AccessKey: v.AccessKeyID, SecretKey: v.SecretAccessKey, SessionToken: v.SessionToken, UserAgent: "logwise-controlplane"}, nil
		})))
	case "confluent":
		if plainCreds.User == "" {
			plainCreds = Credentials{User: k.ConfluentAPIKey, Password: k.ConfluentAPISecret}
		}
		if plainCreds.User == "" || plainCreds.Password == "" {
			return nil, fault.New(fault.Invalid, "kafka type confluent needs confluentApiKey and confluentApiSecret (or credentialsSecretArn)")
		}
		c, err := tlsCfg()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(c), kgo.SASL(plain.Auth{User: plainCreds.User, Pass: plainCreds.Password}.AsMechanism()))
	default:
		return nil, fault.New(fault.Invalid, "Invalid Kafka type: %s (want ec2, msk or confluent)", k.KafkaType)
	}
	return opts, nil
}

// Connect returns an admin client for a tenant's cluster; Close it when done.
func Connect(k config.Kafka, awsCreds aws.CredentialsProvider, plainCreds Credentials) (*kadm.Client, error) {
	opts, err := Options(k, awsCreds, plainCreds)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "Kafka client for %s", k.KafkaBrokersHost)
	}
	return kadm.NewClient(cl), nil
}
