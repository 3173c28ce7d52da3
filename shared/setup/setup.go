// Package setup builds what every function needs, once per execution environment: the
// configuration, a redacting structured logger, the AWS configuration, a lazy secrets cache,
// the store (its schema checked, never migrated: the migrate function does that at deploy
// time), the execution log, the metrics writer and tracing. Each function's own wiring lives
// in a package beside it (sparkwire, scalewire, discoverywire, peerwire, apiwire,
// migratewire), so a function reads only its own secrets and links only its own
// dependencies. Only main.go files, the local runner and tests use these packages. A missing
// or invalid setting fails here, at start, with a message naming it.
package setup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
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
	Holder string
	// Secrets reads Secrets Manager secrets on first use; the redactor learns each one.
	Secrets *Secrets

	closeMu sync.Mutex
	closers []func()
}

// OnClose registers f to run at Close: wiring that opens long-lived clients over the Env
// (peer pools, Kafka clients) hands them to it. A Lambda function never closes its Env; the
// process ends with the execution environment.
func (e *Env) OnClose(f func()) {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	e.closers = append(e.closers, f)
}

// Close closes what was registered, last first, then idle HTTP connections and the store:
// the local runner's shutdown and the end of a test. Stop the work using them first.
func (e *Env) Close() {
	e.closeMu.Lock()
	closers := e.closers
	e.closers = nil
	e.closeMu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	e.HTTP.CloseIdleConnections()
	e.Store.Close()
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
	// Metrics receives the EMF lines instead of stdout (the local runner's dashboard).
	Metrics io.Writer
	// Migrate applies the migrations (the migrate function, the local runner and tests);
	// otherwise Load only checks that the schema is not older than the code.
	Migrate bool
}

// Load builds the environment of function name. The configuration comes from, in order:
// CONFIG_FILE (a path), CONFIG_YAML (the YAML itself), CONFIG_SSM_PARAMETER (an SSM
// parameter name, SecureString allowed). The database comes from the configuration's
// database.dsn or database.secretArn. No other secret is read here.
func Load(ctx context.Context, name string, opt Options) (*Env, error) {
	var emf io.Writer = os.Stdout
	if opt.Metrics != nil {
		emf = opt.Metrics
	}
	env := &Env{Name: name, Metrics: metrics.New(emf), Holder: name + "/" + randomID()}
	base := opt.Log
	if base == nil {
		base = slog.New(baseHandler())
	}
	lookup := opt.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	// Without AWS_REGION the region only signs requests: every real client names its own.
	awsCfg := awsFromEnv(os.LookupEnv, "us-east-1")
	tracing.AWS(&awsCfg)
	env.AWS = awsCfg
	env.Redactor = redact.New(nil)
	env.Secrets = NewSecrets(secretsmanager.NewFromConfig(awsCfg), env.Redactor)

	cfg := opt.Config
	var err error
	if cfg == nil {
		if cfg, err = loadConfig(ctx, awsCfg, lookup); err != nil {
			return nil, err
		}
	}
	env.Config = cfg
	env.Redactor.Add(cfg.Secrets()...)

	dbCfg, err := env.databaseConfig(ctx)
	if err != nil {
		return nil, err
	}
	env.Redactor.Add(dbCfg.Password)
	env.Log = slog.New(env.Redactor.Handler(base.Handler())).With("function", name)
	for _, w := range cfg.Warnings() {
		env.Log.WarnContext(ctx, "configuration warning", "warning", w)
	}
	env.HTTP = tracing.HTTPClient(&http.Client{Timeout: 10 * time.Second})

	if opt.MaxOpenConns > 0 {
		dbCfg.MaxOpenConns = opt.MaxOpenConns
	}
	db, err := store.Open(ctx, dbCfg)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if opt.Migrate {
		err = db.Migrate(sctx)
	} else {
		err = db.CheckSchema(sctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", dbCfg, err)
	}
	env.Store = db
	env.Executions = executions.NewLog(db.SQL(), cfg.Deployment.Partition)
	return env, nil
}

// MustLoad is Load for main.go: it logs the problem and exits when anything is missing.
func MustLoad(ctx context.Context, name string) *Env {
	return MustLoadWith(ctx, name, Options{})
}

// MustLoadWith is MustLoad with options (the migrate function).
func MustLoadWith(ctx context.Context, name string, opt Options) *Env {
	env, err := Load(ctx, name, opt)
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

// databaseConfig resolves the store configuration.
func (e *Env) databaseConfig(ctx context.Context) (store.Config, error) {
	d := e.Config.Database
	switch {
	case d.DSN != "":
		c, err := store.ParseDSN(d.DSN)
		if err != nil {
			return c, fmt.Errorf("database.dsn: %w", err)
		}
		if c.Name == "" {
			c.Name = d.Name
		}
		return c, nil
	case d.SecretARN != "":
		s, err := e.Secrets.Get(ctx, d.SecretARN)
		if err != nil {
			return store.Config{}, fmt.Errorf("database.secretArn: %w", err)
		}
		c, err := store.ConfigFromSecret(s, d.Name)
		if err != nil {
			return c, fmt.Errorf("database.secretArn %s: %w", d.SecretARN, err)
		}
		return c, nil
	case os.Getenv("DB_DSN") != "":
		c, err := store.ParseDSN(os.Getenv("DB_DSN"))
		if err != nil {
			return c, fmt.Errorf("DB_DSN: %w", err)
		}
		return c, nil
	case os.Getenv("DB_SECRET_ARN") != "":
		e.Config.Database.SecretARN = os.Getenv("DB_SECRET_ARN")
		return e.databaseConfig(ctx)
	}
	return store.Config{}, errors.New("database: set database.dsn or database.secretArn (or DB_DSN / DB_SECRET_ARN)")
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
