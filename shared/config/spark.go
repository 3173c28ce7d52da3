package config

import "strings"

// Spark configures a tenant's Spark standalone cluster and streaming job. Keys follow the
// Logwise orchestrator's tenants[].spark.* so that existing configurations carry over.
type Spark struct {
	// SparkMasterHost is the master's host (Logwise: a plain host, no scheme or port).
	SparkMasterHost string `yaml:"sparkMasterHost"`
	// MasterHosts lists every master of an HA cluster, tried in order; defaults to
	// [SparkMasterHost]. Entries may be host or host:port.
	MasterHosts []string `yaml:"masterHosts"`
	// RestURL and WebURL override the derived http://host:6066 and http://host:8080.
	RestURL string `yaml:"restUrl"`
	WebURL  string `yaml:"webUrl"`
	// RestPort and WebPort are the master's REST submission and web UI ports.
	RestPort int `yaml:"restPort"`
	WebPort  int `yaml:"webPort"`
	// RestNetworkTrusted allows static S3A keys (s3aCredentialsSecretArn) to be sent to a
	// plain-HTTP REST port: set it only when the network to the masters is private.
	RestNetworkTrusted bool `yaml:"restNetworkTrusted"`

	KafkaMaxRatePerPartition string `yaml:"kafkaMaxRatePerPartition"`
	KafkaStartingOffsets     string `yaml:"kafkaStartingOffsets"`
	SubscribePattern         string `yaml:"subscribePattern"`
	SparkJarPath             string `yaml:"sparkJarPath"`
	ClientSparkVersion       string `yaml:"clientSparkVersion"`
	MainClass                string `yaml:"mainClass"`
	AppName                  string `yaml:"appName"`
	DriverCoresMax           string `yaml:"driverCoresMax"`
	DriverCores              string `yaml:"driverCores"`
	DriverMemory             string `yaml:"driverMemory"`
	DriverMaxResultSize      string `yaml:"driverMaxResultSize"`
	Log4jPropertiesFilePath  string `yaml:"log4jPropertiesFilePath"`
	ExecutorCores            string `yaml:"executorCores"`
	ExecutorMemory           string `yaml:"executorMemory"`
	LogsDir                  string `yaml:"logsDir"`
	CheckPointDir            string `yaml:"checkPointDir"`
	AWSRegion                string `yaml:"awsRegion"`

	// Static credentials are accepted for compatibility but never sent unless
	// S3ACredentialsSecretARN is set; by default S3A uses the instance or pod role.
	S3AAccessKey            string `yaml:"s3aAccessKey"`
	S3ASecretKey            string `yaml:"s3aSecretKey"`
	AWSAccessKeyID          string `yaml:"awsAccessKeyId"`
	AWSSecretAccessKey      string `yaml:"awsSecretAccessKey"`
	AWSSessionToken         string `yaml:"awsSessionToken"`
	S3ACredentialsSecretARN string `yaml:"s3aCredentialsSecretArn"`

	// Scaling inputs (Logwise names).
	ExecutorCoresPerMachine int `yaml:"executorCoresPerMachine"`
	PerCoreLogsProcess      int `yaml:"perCoreLogsProcess"`
	MinWorkerCount          int `yaml:"minWorkerCount"`
	MaxWorkerCount          int `yaml:"maxWorkerCount"`
	// DryRun records scaling decisions without applying them.
	DryRun bool `yaml:"dryRun"`
	// StageHistoryRetentionHours is how long stage-history reports are kept (Logwise's lost
	// purge event kept 6 hours).
	StageHistoryRetentionHours int `yaml:"stageHistoryRetentionHours"`

	Cluster Cluster `yaml:"cluster"`
	Monitor Monitor `yaml:"monitor"`
}

// Cluster says how Spark workers are run, for scaling.
type Cluster struct {
	// ClusterType is asg, kubernetes (alias k8s), docker, or empty (no scaling actuator).
	ClusterType string            `yaml:"clusterType"`
	ASG         ClusterASG        `yaml:"asg"`
	Kubernetes  ClusterKubernetes `yaml:"kubernetes"`
}

// ClusterASG is an AWS Auto Scaling Group of Spark workers.
type ClusterASG struct {
	AWS struct {
		Name             string `yaml:"name"`
		Region           string `yaml:"region"`
		EndpointOverride string `yaml:"endpointOverride"`
	} `yaml:"aws"`
}

// ClusterKubernetes is a Deployment of Spark workers.
type ClusterKubernetes struct {
	Namespace      string `yaml:"namespace"`
	DeploymentName string `yaml:"deploymentName"`
	// APIServer is the API server URL; empty means in-cluster (KUBERNETES_SERVICE_HOST).
	APIServer string `yaml:"apiServer"`
	// CAFile and TokenFile default to the in-cluster service account paths.
	CAFile    string `yaml:"caFile"`
	TokenFile string `yaml:"tokenFile"`
	// Kubeconfig is a kubeconfig file whose current context supplies server, CA and token.
	Kubeconfig string `yaml:"kubeconfig"`
	// EKSClusterName makes the actuator mint an EKS token from STS (aws-iam-authenticator style).
	EKSClusterName string `yaml:"eksClusterName"`
	EKSRegion      string `yaml:"eksRegion"`
}

// Monitor configures supervision of the streaming job.
type Monitor struct {
	// PollIntervalSeconds and DurationSeconds: the scheduled monitor polls every
	// PollIntervalSeconds for up to DurationSeconds (Logwise: 15 and 60).
	PollIntervalSeconds int `yaml:"pollIntervalSeconds"`
	DurationSeconds     int `yaml:"durationSeconds"`
	// CrashLoop bounds resubmissions: more than MaxSubmissions within WindowMinutes puts the
	// tenant in CRASH_LOOP until an operator resumes it.
	CrashLoop CrashLoop `yaml:"crashLoop"`
}

// CrashLoop is the resubmission budget.
type CrashLoop struct {
	MaxSubmissions int `yaml:"maxSubmissions"`
	WindowMinutes  int `yaml:"windowMinutes"`
	// BackoffSeconds is the minimum wait after a submission before the next one; it doubles
	// with each submission inside the window.
	BackoffSeconds int `yaml:"backoffSeconds"`
}

func (s *Spark) setDefaults() {
	def(&s.KafkaMaxRatePerPartition, "4000")
	def(&s.KafkaStartingOffsets, "latest")
	def(&s.SubscribePattern, "^logs.*")
	def(&s.ClientSparkVersion, "3.1.2")
	def(&s.MainClass, "com.logwise.spark.MainApplication")
	def(&s.AppName, "logwise")
	def(&s.DriverCoresMax, "50000")
	def(&s.DriverCores, "1")
	def(&s.DriverMemory, "1G")
	def(&s.DriverMaxResultSize, "1G")
	def(&s.ExecutorCores, "1")
	def(&s.ExecutorMemory, "1G")
	def(&s.LogsDir, "logs")
	def(&s.CheckPointDir, "checkpoint")
	defInt(&s.RestPort, 6066)
	defInt(&s.WebPort, 8080)
	defInt(&s.ExecutorCoresPerMachine, 2)
	defInt(&s.PerCoreLogsProcess, 500000)
	defInt(&s.MinWorkerCount, 2)
	defInt(&s.MaxWorkerCount, 10)
	defInt(&s.StageHistoryRetentionHours, 6)
	if len(s.MasterHosts) == 0 && s.SparkMasterHost != "" {
		s.MasterHosts = []string{s.SparkMasterHost}
	}
	if s.Cluster.ClusterType == "k8s" {
		s.Cluster.ClusterType = "kubernetes"
	}
	def(&s.Cluster.Kubernetes.Namespace, "logwise")
	def(&s.Cluster.Kubernetes.DeploymentName, "spark-worker")
	defInt(&s.Monitor.PollIntervalSeconds, 15)
	defInt(&s.Monitor.DurationSeconds, 60)
	defInt(&s.Monitor.CrashLoop.MaxSubmissions, 5)
	defInt(&s.Monitor.CrashLoop.WindowMinutes, 30)
	defInt(&s.Monitor.CrashLoop.BackoffSeconds, 30)
}

func (s *Spark) validate(v *validator, p string) {
	if s.SparkMasterHost == "" && s.RestURL == "" {
		v.add(p+".sparkMasterHost", "is required (or set spark.restUrl and spark.webUrl)")
	}
	v.required(p+".sparkJarPath", s.SparkJarPath)
	v.positive(p+".executorCoresPerMachine", s.ExecutorCoresPerMachine)
	v.positive(p+".perCoreLogsProcess", s.PerCoreLogsProcess)
	v.positive(p+".minWorkerCount", s.MinWorkerCount)
	if s.MaxWorkerCount < s.MinWorkerCount {
		v.add(p+".maxWorkerCount", "must be at least minWorkerCount (%d), got %d", s.MinWorkerCount, s.MaxWorkerCount)
	}
	v.regexp(p+".subscribePattern", s.SubscribePattern)
	v.positive(p+".stageHistoryRetentionHours", s.StageHistoryRetentionHours)
	v.oneOf(p+".cluster.clusterType", s.Cluster.ClusterType, "", "asg", "kubernetes", "docker")
	if s.Cluster.ClusterType == "asg" {
		v.required(p+".cluster.asg.aws.name", s.Cluster.ASG.AWS.Name)
	}
	v.positive(p+".monitor.pollIntervalSeconds", s.Monitor.PollIntervalSeconds)
	if s.Monitor.DurationSeconds < s.Monitor.PollIntervalSeconds {
		v.add(p+".monitor.durationSeconds", "must be at least pollIntervalSeconds")
	}
	if s.Monitor.DurationSeconds > 600 {
		v.add(p+".monitor.durationSeconds", "must be at most 600 (a Lambda runs up to 15 minutes)")
	}
	v.positive(p+".monitor.crashLoop.maxSubmissions", s.Monitor.CrashLoop.MaxSubmissions)
	v.positive(p+".monitor.crashLoop.windowMinutes", s.Monitor.CrashLoop.WindowMinutes)
	if s.S3ACredentialsSecretARN != "" && !s.RestNetworkTrusted && !s.RestIsHTTPS() {
		v.add(p+".s3aCredentialsSecretArn", "static S3A keys would be sent over plain HTTP to the Spark REST port: "+
			"give spark.restUrl as https URLs (one per master), or set spark.restNetworkTrusted: true if the network to the masters is private")
	}
	if (s.S3AAccessKey != "" || s.AWSAccessKeyID != "") && s.S3ACredentialsSecretARN == "" {
		v.warn(p+".s3aAccessKey", "static keys are ignored unless s3aCredentialsSecretArn is set; S3A uses the instance or pod role")
	}
}

// RestIsHTTPS reports whether every master's REST submission URL is https: RestURL lists one
// https URL per master (the URLs derived from the hosts are plain http).
func (s *Spark) RestIsHTTPS() bool {
	var urls []string
	for _, u := range strings.Split(s.RestURL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 || len(urls) < len(s.MasterHosts) {
		return false
	}
	for _, u := range urls {
		if !strings.HasPrefix(strings.ToLower(u), "https://") {
			return false
		}
	}
	return true
}
