package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LookupEnv resolves a variable for substitution; os.LookupEnv in production.
type LookupEnv func(name string) (string, bool)

// LoadFile reads and parses the configuration file at path.
func LoadFile(path string, env LookupEnv) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	c, err := Parse(data, env)
	if err != nil {
		return nil, fmt.Errorf("configuration %s: %w", path, err)
	}
	return c, nil
}

// Parse parses YAML configuration: it substitutes ${VAR} (required) and ${?VAR} (optional:
// an unset variable leaves the key unset, so its default applies), rejects unknown keys,
// fills defaults and validates. Every problem is reported with the key it concerns.
func Parse(data []byte, env LookupEnv) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if len(root.Content) == 0 {
		return nil, errors.New("configuration is empty")
	}
	v := &validator{}
	substitute(root.Content[0], "", env, v)
	if err := v.err(); err != nil {
		return nil, err
	}
	buf, err := yaml.Marshal(root.Content[0])
	if err != nil {
		return nil, fmt.Errorf("re-encode configuration: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(buf))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode configuration: %w", err)
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if fn, _ := env("AWS_LAMBDA_FUNCTION_NAME"); c.API.AuthDisabled && fn != "" {
		return nil, &ValidationError{Problems: []string{"api.authDisabled: is refused in Lambda (function " + fn +
			"): it opens every tenant and admin route; it is for the local runner only"}}
	}
	c.hashTokens()
	return &c, nil
}

var varRE = regexp.MustCompile(`\$\{(\??)([A-Za-z_][A-Za-z0-9_]*)\}`)

// substitute replaces ${VAR} and ${?VAR} in scalar values below n. A scalar that is exactly
// ${?VAR} with VAR unset becomes null, which leaves the field at its default.
func substitute(n *yaml.Node, path string, env LookupEnv, v *validator) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := key
			if path != "" {
				p = path + "." + key
			}
			substitute(n.Content[i+1], p, env, v)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			substitute(c, indexPath(path, i), env, v)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return
		}
		if m := varRE.FindStringSubmatch(n.Value); m != nil && m[0] == n.Value && m[1] == "?" {
			if val, ok := env(m[2]); ok {
				setScalar(n, val)
			} else {
				n.Tag, n.Value, n.Style = "!!null", "", 0
			}
			return
		}
		out := varRE.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := varRE.FindStringSubmatch(ref)
			val, ok := env(m[2])
			if !ok && m[1] == "" {
				v.add(path, "environment variable %s is not set (use ${?%s} to make it optional)", m[2], m[2])
			}
			return val
		})
		setScalar(n, out)
	}
}

// setScalar stores a substituted value, letting YAML re-type it (a port stays a number).
func setScalar(n *yaml.Node, val string) {
	n.Value = val
	n.Tag = ""
	n.Style = 0
	if _, err := strconv.ParseFloat(val, 64); err != nil && val != "true" && val != "false" {
		n.Style = yaml.DoubleQuotedStyle // keep strings strings ("yes", "null", "1G")
		n.Tag = "!!str"
	}
}

func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func (c *Config) setDefaults() {
	if c.API.MaxBodyBytes == 0 {
		c.API.MaxBodyBytes = 1 << 20
	}
	def(&c.Database.Name, "logwise")
	c.Peering.setDefaults()
	c.Interlink.setDefaults()
	for i := range c.API.Tokens {
		def(&c.API.Tokens[i].Role, RoleTenant)
	}
	for i := range c.Tenants {
		t := &c.Tenants[i]
		defInt(&t.DefaultLogsRetentionDays, 3)
		def(&t.DelayMetrics.App.SampleServiceName, "healthcheck-dummy")
		defInt(&t.DelayMetrics.MaxLookbackHours, 3)
		defInt(&t.DelayMetrics.StaleAfterMinutes, 15)
		defInt(&t.Discovery.MaxRemovalPercent, 10)
		defInt(&t.Discovery.RemoveAfterAbsentMinutes, 60)
		defInt(&t.Health.S3FreshnessMinutes, 15)
		defInt(&t.Health.TimeoutSeconds, 5)
		defInt(&t.Vector.APIPort, 8686)
		def(&t.ObjectStore.AWS.Region, c.Deployment.Region)
		t.Spark.setDefaults()
		def(&t.Spark.AWSRegion, t.ObjectStore.AWS.Region)
		t.Kafka.setDefaults()
	}
}

// Validate checks the configuration and returns every problem found, each naming its key.
func (c *Config) Validate() error {
	v := &validator{}
	if c.Deployment.Partition == "" {
		v.add("deployment.partition", "is required (the name under which this region owns executions)")
	} else if len(c.Deployment.Partition) > 32 {
		v.add("deployment.partition", "must be at most 32 characters")
	}
	if c.Database.DSN != "" && c.Database.SecretARN != "" {
		v.add("database", "set only one of dsn and secretArn")
	}
	if c.Executions.RetentionDays < 0 {
		v.add("executions.retentionDays", "must not be negative")
	}
	if len(c.Tenants) == 0 {
		v.add("tenants", "at least one tenant is required")
	}
	names := map[string]string{} // lower-case name -> name as configured
	for i := range c.Tenants {
		t := &c.Tenants[i]
		p := indexPath("tenants", i)
		switch {
		case t.Name == "":
			v.add(p+".name", "is required")
		case !validTenantName(t.Name):
			v.add(p+".name", "%q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", t.Name)
		case names[strings.ToLower(t.Name)] == t.Name:
			v.add(p+".name", "duplicate tenant %q", t.Name)
		case names[strings.ToLower(t.Name)] != "":
			v.add(p+".name", "tenant %q and tenant %q differ only in case; tenant names must differ in more than case", names[strings.ToLower(t.Name)], t.Name)
		}
		if _, seen := names[strings.ToLower(t.Name)]; !seen {
			names[strings.ToLower(t.Name)] = t.Name
		}
		v.positive(p+".defaultLogsRetentionDays", t.DefaultLogsRetentionDays)
		v.required(p+".objectStore.aws.bucket", t.ObjectStore.AWS.Bucket)
		v.required(p+".vector.host", t.Vector.Host)
		if !c.API.AuthDisabled && len(t.Auth.Tokens)+len(t.Auth.TokenHashes) == 0 && t.Auth.TokensSecretARN == "" && !c.namesTokenFor(t.Name) {
			v.add(p+".auth", "a tenant needs tokens, tokenHashes, tokensSecretArn or an api.tokens entry unless api.authDisabled is true")
		}
		for j, h := range t.Auth.TokenHashes {
			v.tokenHash(indexPath(p+".auth.tokenHashes", j), h)
		}
		if t.DelayMetrics.MaxLookbackHours < 1 || t.DelayMetrics.MaxLookbackHours > 48 {
			v.add(p+".delayMetrics.maxLookbackHours", "must be between 1 and 48, got %d", t.DelayMetrics.MaxLookbackHours)
		}
		if t.Discovery.MaxRemovalPercent < 0 || t.Discovery.MaxRemovalPercent > 100 {
			v.add(p+".discovery.maxRemovalPercent", "must be between 0 and 100, got %d", t.Discovery.MaxRemovalPercent)
		}
		t.Spark.validate(v, p+".spark")
		t.Kafka.validate(v, p+".kafka")
	}
	c.validateTokens(v)
	c.validatePeering(v)
	c.warnings = v.warnings
	return v.err()
}

// namesTokenFor reports whether api.tokens has a tenant token for tenant.
func (c *Config) namesTokenFor(tenant string) bool {
	for _, t := range c.API.Tokens {
		if t.Tenant == tenant && t.Role != RoleAdmin {
			return true
		}
	}
	return false
}

// validateTokens checks api.tokens: unique names, one of secret and hash, a known role, and
// a configured tenant (matched exactly) for a tenant token.
func (c *Config) validateTokens(v *validator) {
	seen := map[string]bool{}
	for i := range c.API.Tokens {
		t := &c.API.Tokens[i]
		p := indexPath("api.tokens", i)
		switch {
		case strings.TrimSpace(t.Name) == "" || len(t.Name) > 128:
			v.add(p+".name", "is required (1-128 characters): it is recorded as the actor of what the token does")
		case seen[t.Name]:
			v.add(p+".name", "duplicate token name %q", t.Name)
		}
		seen[t.Name] = true
		if (t.Secret == "") == (t.Hash == "") {
			v.add(p, "set exactly one of secret and hash")
		} else if t.Hash != "" {
			v.tokenHash(p+".hash", t.Hash)
		}
		switch t.Role {
		case RoleAdmin:
			if t.Tenant != "" {
				v.add(p+".tenant", "an admin token acts on every tenant; leave tenant unset")
			}
		case RoleTenant:
			if _, ok := c.Tenant(t.Tenant); !ok {
				v.add(p+".tenant", "%q is not a configured tenant", t.Tenant)
			}
		default:
			v.add(p+".role", "must be tenant or admin, got %q", t.Role)
		}
	}
}

// hashTokens keeps bearer tokens only as hashes, remembering the plaintext for Secrets().
func (c *Config) hashTokens() {
	for j, h := range c.API.AdminTokenHashes {
		c.API.AdminTokenHashes[j] = strings.ToLower(strings.TrimPrefix(h, "sha256:"))
	}
	for _, tok := range c.API.AdminTokens {
		c.API.AdminTokenHashes = append(c.API.AdminTokenHashes, HashToken(tok))
		c.plainTokens = append(c.plainTokens, tok)
	}
	c.API.AdminTokens = nil
	for i := range c.API.Tokens {
		t := &c.API.Tokens[i]
		if t.Secret != "" {
			t.Hash = HashToken(t.Secret)
			c.plainTokens = append(c.plainTokens, t.Secret)
			t.Secret = ""
		}
		t.Hash = strings.ToLower(strings.TrimPrefix(t.Hash, "sha256:"))
	}
	for i := range c.Tenants {
		a := &c.Tenants[i].Auth
		for j, h := range a.TokenHashes {
			a.TokenHashes[j] = strings.ToLower(strings.TrimPrefix(h, "sha256:"))
		}
		for _, tok := range a.Tokens {
			a.TokenHashes = append(a.TokenHashes, HashToken(tok))
			c.plainTokens = append(c.plainTokens, tok)
		}
		a.Tokens = nil
	}
}
