// Package config is the control plane's configuration: the deployment's own settings and any
// number of tenants, with the key names operators know from the Logwise orchestrator
// (tenants[].name, spark.*, kafka.*, objectStore.aws.*, vector.*, delayMetrics.*) and the Orca
// peering settings (peering.*). It parses YAML, substitutes ${VAR} and ${?VAR} from the
// environment, fills defaults and validates, naming the key and the problem.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Config is the whole configuration of one regional deployment.
type Config struct {
	Deployment Deployment `yaml:"deployment"`
	API        API        `yaml:"api"`
	Database   Database   `yaml:"database"`
	Executions Executions `yaml:"executions"`
	Peering    Peering    `yaml:"peering"`
	Interlink  Interlink  `yaml:"interlink"`
	Tenants    []Tenant   `yaml:"tenants"`

	plainTokens []string // plaintext tokens seen at load, only for Secrets()
	warnings    []string // settings that load but are ignored or doubtful, each naming its key
}

// Warnings are the configuration's warnings (each naming its key, never a value), for the
// function to log at start.
func (c *Config) Warnings() []string { return c.warnings }

// Deployment identifies this regional deployment.
type Deployment struct {
	// Partition is the name under which this deployment owns executions (Orca's
	// sql.partitionName). Executions whose partition is NULL or this value are owned here.
	Partition string `yaml:"partition"`
	// Region is the AWS region of this deployment, used for AWS clients that have no
	// region of their own.
	Region string `yaml:"region"`
}

// API configures the REST API.
type API struct {
	// AuthDisabled turns off bearer-token checks. For local use only; every tenant-scoped
	// call still needs X-Tenant-Name.
	AuthDisabled bool `yaml:"authDisabled"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// AdminTokens and AdminTokenHashes authorise the deployment-wide admin routes (the
	// peering switches); like tenant tokens, plaintext ones are hashed at load. Prefer Tokens,
	// which name each credential.
	AdminTokens      []string `yaml:"adminTokens"`
	AdminTokenHashes []string `yaml:"adminTokenHashes"`
	// AdminTokensSecretARN names a Secrets Manager secret whose JSON is {"tokens":["..."]},
	// more admin tokens; only the API function reads it.
	AdminTokensSecretARN string `yaml:"adminTokensSecretArn"`
	// Tokens are named credentials. The name is what the audit trail records as the actor of
	// every action taken with the token.
	Tokens []Token `yaml:"tokens"`
}

// The roles of a named token.
const (
	RoleTenant = "tenant" // acts on its own tenant's routes
	RoleAdmin  = "admin"  // acts on every tenant and on the deployment-wide admin routes
)

// Token is one named API credential (api.tokens[]). Exactly one of Secret and Hash is set;
// a secret is hashed at load and dropped.
type Token struct {
	Name   string `yaml:"name"`
	Secret string `yaml:"secret"`
	Hash   string `yaml:"hash"` // hex SHA-256, optionally prefixed "sha256:"
	Tenant string `yaml:"tenant"`
	Role   string `yaml:"role"` // tenant (the default) or admin
}

// Principal is who a bearer token says the caller is.
type Principal struct {
	Name   string // recorded as the actor
	Tenant string // the tenant of a tenant token; "" for an admin
	Admin  bool
	Hash   string
}

// Database says where the control plane's MySQL is. Exactly one of DSN and SecretARN is set.
type Database struct {
	DSN       string `yaml:"dsn"`       // user:pass@tcp(host:3306)/db
	SecretARN string `yaml:"secretArn"` // an RDS-shaped Secrets Manager secret
	Name      string `yaml:"name"`      // database name when the secret has none
}

// Executions configures the execution log.
type Executions struct {
	// RetentionDays is how long completed executions are kept before they are deleted with
	// tombstones (so that peers delete their copies too). 0 keeps them forever.
	RetentionDays int `yaml:"retentionDays"`
}

// Tenant is one log pipeline managed by this deployment.
type Tenant struct {
	Name                     string       `yaml:"name"`
	Auth                     Auth         `yaml:"auth"`
	DefaultLogsRetentionDays int          `yaml:"defaultLogsRetentionDays"`
	Orchestrator             Orchestrator `yaml:"orchestrator"`
	ObjectStore              ObjectStore  `yaml:"objectStore"`
	Vector                   Vector       `yaml:"vector"`
	Kafka                    Kafka        `yaml:"kafka"`
	Spark                    Spark        `yaml:"spark"`
	DelayMetrics             DelayMetrics `yaml:"delayMetrics"`
	Discovery                Discovery    `yaml:"discovery"`
	Health                   Health       `yaml:"health"`
}

// Auth holds a tenant's API credentials. Tokens are kept only as SHA-256 hashes in memory.
type Auth struct {
	// Tokens are plaintext bearer tokens, normally given as ${VAR}; they are hashed at load
	// and the plaintext is dropped.
	Tokens []string `yaml:"tokens"`
	// TokenHashes are hex SHA-256 digests of bearer tokens, optionally prefixed "sha256:".
	TokenHashes []string `yaml:"tokenHashes"`
	// TokensSecretARN names a Secrets Manager secret whose JSON is {"tokens":["..."]}.
	TokensSecretARN string `yaml:"tokensSecretArn"`
	// DistinctApprover requires the approver of a replay to be a different token than the
	// one that created it.
	DistinctApprover bool `yaml:"distinctApprover"`
}

// Orchestrator is how the Spark job reaches this API (passed to it as logCentral.orchestrator.url).
type Orchestrator struct {
	URL string `yaml:"url"`
}

// ObjectStore is where the pipeline writes logs.
type ObjectStore struct {
	AWS AWSObjectStore `yaml:"aws"`
}

// AWSObjectStore is the S3 bucket of a tenant.
type AWSObjectStore struct {
	Region           string `yaml:"region"`
	Bucket           string `yaml:"bucket"`
	EndpointOverride string `yaml:"endpointOverride"`
	// PathStyle forces path-style addressing (MinIO, moto, local stand-ins).
	PathStyle bool `yaml:"pathStyle"`
}

// Vector is the tenant's log shipper, checked by the pipeline health endpoint.
type Vector struct {
	Host    string `yaml:"host"`
	APIPort int    `yaml:"apiPort"`
}

// DelayMetrics configures the log sync delay measurement.
type DelayMetrics struct {
	App AppDelay `yaml:"app"`
	// MaxLookbackHours bounds how far back the newest partition is searched (Logwise: 3).
	MaxLookbackHours int `yaml:"maxLookbackHours"`
	// StaleAfterMinutes is the delay above which a service is reported STALE.
	StaleAfterMinutes int `yaml:"staleAfterMinutes"`
}

// AppDelay names the canary services whose partitions measure the delay.
type AppDelay struct {
	SampleServiceName  string   `yaml:"sampleServiceName"`
	SampleServiceNames []string `yaml:"sampleServiceNames"`
}

// Canaries returns the canary services, SampleServiceName first, without duplicates.
func (a AppDelay) Canaries() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range append([]string{a.SampleServiceName}, a.SampleServiceNames...) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// Discovery configures S3 service discovery.
type Discovery struct {
	// MaxRemovalPercent caps the services one sync may remove, as a share of all services.
	MaxRemovalPercent int `yaml:"maxRemovalPercent"`
	// RemoveAfterAbsentMinutes is how long a service must have been missing from S3 (as
	// well as missing from two listings) before it is removed with its retention setting.
	RemoveAfterAbsentMinutes int `yaml:"removeAfterAbsentMinutes"`
}

// Health configures the pipeline health check.
type Health struct {
	// S3FreshnessMinutes: canary partitions older than this make the S3 check DOWN.
	S3FreshnessMinutes int `yaml:"s3FreshnessMinutes"`
	// TimeoutSeconds bounds each component check.
	TimeoutSeconds int `yaml:"timeoutSeconds"`
}

// validTenantName reports whether name is 1 to 64 of A-Z a-z 0-9 _ . -, starting with a
// letter or digit: it names S3 prefixes, leases and metric dimensions. (A loop, not a regexp:
// `{0,63}` compiles to 63 copies of the class, about a millisecond of every cold start.)
func validTenantName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// Tenant returns the tenant named name, matched exactly.
func (c *Config) Tenant(name string) (*Tenant, bool) {
	for i := range c.Tenants {
		if c.Tenants[i].Name == name {
			return &c.Tenants[i], true
		}
	}
	return nil, false
}

// Principals lists every credential of the deployment: api.tokens by their names, each
// tenant's unnamed tokens as "<tenant>/token-<first 8 hex digits of the hash>", and
// api.adminTokens as "admin/token-<...>". It is computed on each call, so tokens added after
// load (from Secrets Manager) are included.
func (c *Config) Principals() []Principal {
	var out []Principal
	for _, t := range c.API.Tokens {
		out = append(out, Principal{Name: t.Name, Tenant: t.Tenant, Admin: t.Role == RoleAdmin, Hash: t.Hash})
	}
	for _, h := range c.API.AdminTokenHashes {
		out = append(out, Principal{Name: "admin/token-" + prefix(h), Admin: true, Hash: h})
	}
	for _, t := range c.Tenants {
		for _, h := range t.Auth.TokenHashes {
			out = append(out, Principal{Name: t.Name + "/token-" + prefix(h), Tenant: t.Name, Hash: h})
		}
	}
	return out
}

func prefix(h string) string { return h[:min(8, len(h))] }

// HashToken returns the hex SHA-256 digest under which a bearer token is kept.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Secrets returns every secret value present in the configuration (DSN passwords, static
// keys, plaintext tokens before hashing), for redaction and for tests that scan output.
func (c *Config) Secrets() []string {
	var out []string
	add := func(s string) {
		if len(s) >= 4 {
			out = append(out, s)
		}
	}
	add(dsnPassword(c.Database.DSN))
	for _, p := range c.Peering.Peers {
		add(dsnPassword(p.DSN))
	}
	for _, t := range c.Tenants {
		add(t.Kafka.ConfluentAPISecret)
		add(t.Kafka.SSLTruststorePassword)
		add(t.Spark.S3AAccessKey)
		add(t.Spark.S3ASecretKey)
		add(t.Spark.AWSSecretAccessKey)
		add(t.Spark.AWSSessionToken)
	}
	return append(out, c.plainTokens...)
}

// dsnPassword extracts the password of a go-sql-driver DSN (user:pass@...).
func dsnPassword(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return ""
	}
	cred := dsn[:at]
	if i := strings.Index(cred, ":"); i >= 0 {
		return cred[i+1:]
	}
	return ""
}
