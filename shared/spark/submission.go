package spark

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"strconv"
	"strings"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

// Redacted replaces secret values in anything loggable.
const Redacted = "[REDACTED]"

// CreateRequest is a REST CreateSubmissionRequest. Its JSON is the wire body; its String,
// GoString and LogValue are the same body with every credential replaced by Redacted, so
// logging the request never leaks a key.
type CreateRequest struct {
	Action               string            `json:"action"`
	AppArgs              []string          `json:"appArgs"`
	AppResource          string            `json:"appResource"`
	ClientSparkVersion   string            `json:"clientSparkVersion"`
	EnvironmentVariables map[string]string `json:"environmentVariables"`
	MainClass            string            `json:"mainClass"`
	// SparkProperties holds strings, plus the booleans and the integer Logwise sends.
	SparkProperties map[string]any `json:"sparkProperties"`

	secrets []string // values to redact
}

// Credentials are static S3A credentials, resolved by the caller from the Secrets Manager
// secret named by spark.s3aCredentialsSecretArn.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// SubmitOptions are the per-submission choices.
type SubmitOptions struct {
	// DriverCores and DriverMemoryInGB override spark.driverCores and spark.driverMemory
	// (the /monitor-spark-job body); 0 means "use the configuration".
	DriverCores      int
	DriverMemoryInGB int
	// StartingOffsetsTimestamp, when non-zero, is passed as kafka.startingOffsetsTimestamp
	// (epoch ms) for a replay.
	StartingOffsetsTimestamp int64
	// Credentials are sent only when the tenant sets spark.s3aCredentialsSecretArn; without
	// them S3A uses the instance or pod role.
	Credentials *Credentials
}

// Bounds of the driver overrides.
const (
	MaxDriverCores      = 64
	MaxDriverMemoryInGB = 256
)

// BuildSubmission builds the streaming job's submission with the Logwise contract
// (reference/logwise-orchestrator.md §4.4): the same appArgs in the same order, the same
// sparkProperties and environmentVariables. Differences: no credentials unless the tenant
// names a credentials secret (and then only the ones passed in opts); spark.master lists
// every master of an HA cluster; logCentral.orchestrator.url is omitted when unset rather
// than sent as "null".
func BuildSubmission(t config.Tenant, opts SubmitOptions) (*CreateRequest, error) {
	s := t.Spark
	if opts.DriverCores < 0 || opts.DriverCores > MaxDriverCores {
		return nil, fault.Invalidf("driverCores must be between 1 and %d, got %d", MaxDriverCores, opts.DriverCores)
	}
	if opts.DriverMemoryInGB < 0 || opts.DriverMemoryInGB > MaxDriverMemoryInGB {
		return nil, fault.Invalidf("driverMemoryInGb must be between 1 and %d, got %d", MaxDriverMemoryInGB, opts.DriverMemoryInGB)
	}
	if opts.StartingOffsetsTimestamp < 0 {
		return nil, fault.Invalidf("startingOffsetsTimestamp must be epoch milliseconds, got %d", opts.StartingOffsetsTimestamp)
	}
	if opts.Credentials != nil && s.S3ACredentialsSecretARN == "" {
		return nil, fault.Invalidf("tenant %s: static S3A credentials given but spark.s3aCredentialsSecretArn is not set", t.Name)
	}
	if opts.Credentials != nil && !s.RestNetworkTrusted && !s.RestIsHTTPS() {
		return nil, fault.Invalidf("tenant %s: static S3A keys would be sent over plain HTTP to the Spark REST port; use https spark.restUrl or set spark.restNetworkTrusted", t.Name)
	}
	ep := ConfigFrom(s)
	webURL := ""
	if len(ep.Masters) > 0 {
		webURL = ep.Masters[0].WebURL
	}
	args := []string{
		"kafka.cluster.dns=" + t.Kafka.KafkaBrokersHost,
		"kafka.maxRatePerPartition=" + s.KafkaMaxRatePerPartition,
		"kafka.startingOffsets=" + s.KafkaStartingOffsets,
		`kafka.subscribePattern="` + s.SubscribePattern + `"`,
		"spark.master.host=" + webURL,
	}
	if t.Orchestrator.URL != "" {
		args = append(args, "logCentral.orchestrator.url="+t.Orchestrator.URL)
	}
	args = append(args, "s3.bucket="+t.ObjectStore.AWS.Bucket)
	if opts.StartingOffsetsTimestamp > 0 {
		args = append(args, "kafka.startingOffsetsTimestamp="+strconv.FormatInt(opts.StartingOffsetsTimestamp, 10))
	}

	driverCores := s.DriverCores
	if opts.DriverCores > 0 {
		driverCores = strconv.Itoa(opts.DriverCores)
	}
	driverMemory := s.DriverMemory
	if opts.DriverMemoryInGB > 0 {
		driverMemory = strconv.Itoa(opts.DriverMemoryInGB) + "G"
	}
	region := s.AWSRegion
	if region == "" {
		region = "us-east-1"
	}
	endpoint, pathStyle := s3aEndpoint(t.ObjectStore.AWS, region)
	javaOpts := "-XX:+UnlockExperimentalVMOptions -XX:+UseG1GC"
	if s.Log4jPropertiesFilePath != "" {
		javaOpts += " -Dlog4j.configuration=" + s.Log4jPropertiesFilePath
	}
	props := map[string]any{
		"spark.app.name":                              s.AppName,
		"spark.cores.max":                             s.DriverCoresMax,
		"spark.driver.cores":                          driverCores,
		"spark.driver.memory":                         driverMemory,
		"spark.driver.extraJavaOptions":               javaOpts,
		"spark.driver.maxResultSize":                  s.DriverMaxResultSize,
		"spark.driver.supervise":                      true,
		"spark.driver.bindAddress":                    "0.0.0.0",
		"spark.executor.cores":                        s.ExecutorCores,
		"spark.executor.memory":                       s.ExecutorMemory,
		"spark.executor.extraJavaOptions":             javaOpts,
		"spark.jars":                                  s.SparkJarPath,
		"spark.master":                                MasterURL(s),
		"spark.submit.deployMode":                     "cluster",
		"spark.scheduler.mode":                        "FAIR",
		"spark.scheduler.pool":                        "production",
		"spark.dynamicAllocation.enabled":             true,
		"spark.shuffle.service.enabled":               true,
		"spark.dynamicAllocation.executorIdleTimeout": 15,
		"spark.driverEnv.AWS_REGION":                  region,
		"spark.executorEnv.AWS_REGION":                region,
		"spark.hadoop.fs.s3a.impl":                    "org.apache.hadoop.fs.s3a.S3AFileSystem",
		"spark.hadoop.fs.s3a.path.style.access":       pathStyle,
		"spark.hadoop.fs.s3a.endpoint":                endpoint,
	}
	env := map[string]string{"SPARK_ENV_LOADED": "1", "X-Tenant-Name": t.Name}
	req := &CreateRequest{
		Action:               "CreateSubmissionRequest",
		AppArgs:              args,
		AppResource:          s.SparkJarPath,
		ClientSparkVersion:   s.ClientSparkVersion,
		EnvironmentVariables: env,
		MainClass:            s.MainClass,
		SparkProperties:      props,
	}
	if c := opts.Credentials; c != nil && c.AccessKeyID != "" && c.SecretAccessKey != "" {
		req.secrets = []string{c.AccessKeyID, c.SecretAccessKey}
		for _, side := range []string{"spark.driverEnv.", "spark.executorEnv."} {
			props[side+"AWS_ACCESS_KEY_ID"] = c.AccessKeyID
			props[side+"AWS_SECRET_ACCESS_KEY"] = c.SecretAccessKey
		}
		props["spark.hadoop.fs.s3a.access.key"] = c.AccessKeyID
		props["spark.hadoop.fs.s3a.secret.key"] = c.SecretAccessKey
		env["S3A-ACCESS-KEY"] = c.AccessKeyID
		env["S3A-SECRET-KEY"] = c.SecretAccessKey
		provider := "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
		if c.SessionToken != "" {
			req.secrets = append(req.secrets, c.SessionToken)
			provider = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
			props["spark.driverEnv.AWS_SESSION_TOKEN"] = c.SessionToken
			props["spark.executorEnv.AWS_SESSION_TOKEN"] = c.SessionToken
			props["spark.hadoop.fs.s3a.session.token"] = c.SessionToken
		}
		props["spark.hadoop.fs.s3a.aws.credentials.provider"] = provider
	}
	return req, nil
}

// MasterURL is the spark:// URL of every master of the cluster (spark://m1:7077,m2:7077), so
// that a supervised driver relaunched after a failover still finds the leader.
func MasterURL(s config.Spark) string {
	hosts := s.MasterHosts
	if len(hosts) == 0 && s.SparkMasterHost != "" {
		hosts = []string{s.SparkMasterHost}
	}
	if len(hosts) == 0 { // only URLs configured: use their hosts
		for _, e := range ConfigFrom(s).Masters {
			if i := strings.Index(e.RestURL, "://"); i >= 0 {
				hosts = append(hosts, hostOnly(e.RestURL[i+3:]))
			}
		}
	}
	parts := make([]string, len(hosts))
	for i, h := range hosts {
		h = strings.TrimSpace(h)
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "7077")
		}
		parts[i] = h
	}
	return "spark://" + strings.Join(parts, ",")
}

// Secrets returns the credential values in the request (for scanning output in tests).
func (r CreateRequest) Secrets() []string { return append([]string(nil), r.secrets...) }

// Redact returns a copy of the request whose credential values are replaced by Redacted.
func (r CreateRequest) Redact() *CreateRequest {
	c := r
	c.secrets = nil
	c.AppArgs = append([]string(nil), r.AppArgs...)
	c.EnvironmentVariables = maps.Clone(r.EnvironmentVariables)
	c.SparkProperties = maps.Clone(r.SparkProperties)
	for k, v := range c.EnvironmentVariables {
		if r.isSecret(v) {
			c.EnvironmentVariables[k] = Redacted
		}
	}
	for k, v := range c.SparkProperties {
		if s, ok := v.(string); ok && r.isSecret(s) {
			c.SparkProperties[k] = Redacted
		}
	}
	for i, a := range c.AppArgs {
		for _, s := range r.secrets {
			a = strings.ReplaceAll(a, s, Redacted)
		}
		c.AppArgs[i] = a
	}
	return &c
}

func (r CreateRequest) isSecret(v string) bool {
	for _, s := range r.secrets {
		if s != "" && strings.Contains(v, s) {
			return true
		}
	}
	return false
}

// RedactedJSON is the request body with credentials redacted, for logs and the database.
func (r CreateRequest) RedactedJSON() []byte {
	b, _ := json.Marshal(r.Redact())
	return b
}

// String is the redacted body.
func (r CreateRequest) String() string { return string(r.RedactedJSON()) }

// GoString is the redacted body, so %#v cannot leak either.
func (r CreateRequest) GoString() string { return r.String() }

// LogValue makes slog log the redacted body.
func (r CreateRequest) LogValue() slog.Value { return slog.StringValue(r.String()) }

// ParseCredentialsSecret reads a Secrets Manager secret holding static S3A credentials:
// {"accessKeyId":"...","secretAccessKey":"...","sessionToken":"..."} (sessionToken optional;
// AWS_ACCESS_KEY_ID-style key names are accepted too). Errors never quote the secret.
func ParseCredentialsSecret(secretJSON string) (Credentials, error) {
	var raw map[string]string
	if err := json.Unmarshal([]byte(secretJSON), &raw); err != nil {
		return Credentials{}, fault.Invalidf("S3A credentials secret is not a JSON object of strings")
	}
	pick := func(keys ...string) string {
		for _, k := range keys {
			if v := raw[k]; v != "" {
				return v
			}
		}
		return ""
	}
	c := Credentials{
		AccessKeyID:     pick("accessKeyId", "AWS_ACCESS_KEY_ID", "access_key_id"),
		SecretAccessKey: pick("secretAccessKey", "AWS_SECRET_ACCESS_KEY", "secret_access_key"),
		SessionToken:    pick("sessionToken", "AWS_SESSION_TOKEN", "session_token"),
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credentials{}, fault.Invalidf("S3A credentials secret lacks accessKeyId or secretAccessKey")
	}
	return c, nil
}

// s3aEndpoint is the S3A endpoint and path-style setting of the tenant's object store: its
// endpointOverride and pathStyle when set (MinIO, a VPC endpoint, a local stand-in),
// otherwise the regional AWS endpoint with virtual-hosted addressing.
func s3aEndpoint(o config.AWSObjectStore, region string) (endpoint, pathStyle string) {
	pathStyle = strconv.FormatBool(o.PathStyle)
	if o.EndpointOverride != "" {
		return o.EndpointOverride, pathStyle
	}
	if region == "us-east-1" {
		return "s3.amazonaws.com", pathStyle
	}
	return "s3-" + region + ".amazonaws.com", pathStyle
}
