// Package setup builds what every function needs, once per execution environment: the
// configuration, a redacting structured logger, the AWS configuration, secrets, the store
// (migrated), the execution log and the metrics writer. Only main.go files and the local
// runner use it. A missing or invalid setting fails here, at start, with a message naming it.
package setup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/redact"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/tracing"
)

// Env is everything built once per execution environment.
type Env struct {
	Name       string // the function's name: api, sparkmonitor, scaler, discovery, peering, local
	Config     *config.Config
	Log        *slog.Logger
	Redactor   *redact.Redactor
	AWS        aws.Config
	Store      *store.DB
	Executions *executions.Log
	Metrics    *metrics.Writer
	HTTP       *http.Client
	// Holder names this execution environment in lease rows.
	Holder  string
	secrets *secretsmanager.Client
}

// Options override parts of Load (the local runner and tests).
type Options struct {
	// Config, when set, is used instead of CONFIG_FILE / CONFIG_YAML / CONFIG_SSM_PARAMETER.
	Config *config.Config
	// Getenv replaces os.LookupEnv for configuration substitution.
	LookupEnv config.LookupEnv
	// Log replaces the default logger (before redaction is added).
	Log *slog.Logger
	// MaxOpenConns overrides the store's pool size (0 keeps the Lambda default).
	MaxOpenConns int
}

// Load builds the environment of function name. The configuration comes from, in order:
// CONFIG_FILE (a path), CONFIG_YAML (the YAML itself), CONFIG_SSM_PARAMETER (an SSM
// parameter name, SecureString allowed). The database comes from the configuration's
// database.dsn or database.secretArn; migrations run unless DB_MIGRATE=false.
func Load(ctx context.Context, name string, opt Options) (*Env, error) {
	env := &Env{Name: name, Metrics: metrics.New(os.Stdout), Holder: name + "/" + randomID()}
	base := opt.Log
	if base == nil {
		base = slog.New(baseHandler())
	}
	lookup := opt.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	region := os.Getenv("AWS_REGION")
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, func(o *awsconfig.LoadOptions) error {
		if region == "" {
			o.Region = "us-east-1" // only signs requests; every real client names its region
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	tracing.AWS(&awsCfg)
	env.AWS = awsCfg
	env.secrets = secretsmanager.NewFromConfig(awsCfg)

	cfg := opt.Config
	if cfg == nil {
		if cfg, err = loadConfig(ctx, awsCfg, lookup); err != nil {
			return nil, err
		}
	}
	env.Config = cfg
	if err := env.resolveTokens(ctx); err != nil {
		return nil, err
	}

	dbCfg, dbSecret, err := env.databaseConfig(ctx)
	if err != nil {
		return nil, err
	}
	env.Redactor = redact.New(append(cfg.Secrets(), dbSecret...))
	env.Log = slog.New(env.Redactor.Handler(base.Handler())).With("function", name)
	for _, w := range cfg.Warnings() {
		env.Log.WarnContext(ctx, "configuration warning", "warning", w)
	}
	env.HTTP = tracing.HTTPClient(&http.Client{Timeout: 10 * time.Second})

	if opt.MaxOpenConns > 0 {
		dbCfg.MaxOpenConns = opt.MaxOpenConns
	}
	db, err := store.OpenWith(ctx, dbCfg, tracing.OpenSQL)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if os.Getenv("DB_MIGRATE") != "false" {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := db.Migrate(mctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate %s: %w", dbCfg, err)
		}
	}
	env.Store = db
	env.Executions = executions.NewLog(db.SQL(), cfg.Deployment.Partition)
	return env, nil
}

// MustLoad is Load for main.go: it logs the problem and exits when anything is missing.
func MustLoad(ctx context.Context, name string) *Env {
	env, err := Load(ctx, name, Options{})
	if err != nil {
		Fatal(slog.New(baseHandler()), "start "+name, err)
	}
	return env
}

// Fatal logs err and exits; a Lambda init failure shows in the function's logs and metrics.
func Fatal(log *slog.Logger, what string, err error) {
	log.Error(what+" failed", "error", err.Error())
	os.Exit(1)
}

// baseHandler logs JSON with the Lambda request id inside Lambda, plain JSON elsewhere.
func baseHandler() slog.Handler {
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		return lambdacontext.NewLogHandler()
	}
	return slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo})
}

func loadConfig(ctx context.Context, awsCfg aws.Config, lookup config.LookupEnv) (*config.Config, error) {
	if path := os.Getenv("CONFIG_FILE"); path != "" {
		return config.LoadFile(path, lookup)
	}
	if y := os.Getenv("CONFIG_YAML"); y != "" {
		c, err := config.Parse([]byte(y), lookup)
		if err != nil {
			return nil, fmt.Errorf("CONFIG_YAML: %w", err)
		}
		return c, nil
	}
	if name := os.Getenv("CONFIG_SSM_PARAMETER"); name != "" {
		out, err := ssm.NewFromConfig(awsCfg).GetParameter(ctx, &ssm.GetParameterInput{Name: &name, WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("read configuration from SSM parameter %s: %w", name, err)
		}
		c, err := config.Parse([]byte(aws.ToString(out.Parameter.Value)), lookup)
		if err != nil {
			return nil, fmt.Errorf("SSM parameter %s: %w", name, err)
		}
		return c, nil
	}
	return nil, errors.New("no configuration: set CONFIG_FILE, CONFIG_YAML or CONFIG_SSM_PARAMETER")
}

// Secret returns a Secrets Manager secret's string value.
func (e *Env) Secret(ctx context.Context, arn string) (string, error) {
	out, err := e.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return "", fmt.Errorf("read secret %s: %w", arn, err)
	}
	return aws.ToString(out.SecretString), nil
}

// databaseConfig resolves the store configuration; it also returns the password so the
// redactor masks it.
func (e *Env) databaseConfig(ctx context.Context) (store.Config, []string, error) {
	d := e.Config.Database
	switch {
	case d.DSN != "":
		c, err := store.ParseDSN(d.DSN)
		if err != nil {
			return c, nil, fmt.Errorf("database.dsn: %w", err)
		}
		if c.Name == "" {
			c.Name = d.Name
		}
		return c, []string{c.Password}, nil
	case d.SecretARN != "":
		s, err := e.Secret(ctx, d.SecretARN)
		if err != nil {
			return store.Config{}, nil, fmt.Errorf("database.secretArn: %w", err)
		}
		c, err := store.ConfigFromSecret(s, d.Name)
		if err != nil {
			return c, nil, fmt.Errorf("database.secretArn %s: %w", d.SecretARN, err)
		}
		return c, []string{c.Password}, nil
	case os.Getenv("DB_DSN") != "":
		c, err := store.ParseDSN(os.Getenv("DB_DSN"))
		if err != nil {
			return c, nil, fmt.Errorf("DB_DSN: %w", err)
		}
		return c, []string{c.Password}, nil
	case os.Getenv("DB_SECRET_ARN") != "":
		e.Config.Database.SecretARN = os.Getenv("DB_SECRET_ARN")
		return e.databaseConfig(ctx)
	}
	return store.Config{}, nil, errors.New("database: set database.dsn or database.secretArn (or DB_DSN / DB_SECRET_ARN)")
}

// resolveTokens adds the hashes of tokens kept in Secrets Manager ({"tokens":["..."]}).
func (e *Env) resolveTokens(ctx context.Context) error {
	for i := range e.Config.Tenants {
		t := &e.Config.Tenants[i]
		if t.Auth.TokensSecretARN == "" {
			continue
		}
		s, err := e.Secret(ctx, t.Auth.TokensSecretARN)
		if err != nil {
			return fmt.Errorf("tenants[%d].auth.tokensSecretArn: %w", i, err)
		}
		var body struct {
			Tokens []string `json:"tokens"`
		}
		if err := json.Unmarshal([]byte(s), &body); err != nil || len(body.Tokens) == 0 {
			return fmt.Errorf("tenants[%d].auth.tokensSecretArn: the secret must be JSON {\"tokens\":[\"...\"]}", i)
		}
		for _, tok := range body.Tokens {
			t.Auth.TokenHashes = append(t.Auth.TokenHashes, config.HashToken(strings.TrimSpace(tok)))
		}
	}
	return nil
}

// TenantNames lists the configured tenants, the keys of per-tenant jobs.
func (e *Env) TenantNames() []string {
	out := make([]string, len(e.Config.Tenants))
	for i, t := range e.Config.Tenants {
		out[i] = t.Name
	}
	return out
}

func randomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
