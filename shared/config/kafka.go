package config

// Kafka configures a tenant's Kafka cluster (Logwise tenants[].kafka.*).
type Kafka struct {
	// KafkaType is ec2 (plain or TLS), msk (IAM) or confluent (SASL PLAIN).
	KafkaType              string `yaml:"kafkaType"`
	KafkaBrokersHost       string `yaml:"kafkaBrokersHost"` // comma-separated hosts, or host:port
	KafkaBrokerPort        int    `yaml:"kafkaBrokerPort"`
	EnablePartitionScaling *bool  `yaml:"enablePartitionScaling"`
	PartitionRatePerSecond int64  `yaml:"partitionRatePerSecond"`
	// MaxPartitionsPerTopic caps automatic increases.
	MaxPartitionsPerTopic int    `yaml:"maxPartitionsPerTopic"`
	TLS                   bool   `yaml:"tls"`
	MSKClusterARN         string `yaml:"mskClusterArn"`
	MSKRegion             string `yaml:"mskRegion"`
	ConfluentAPIKey       string `yaml:"confluentApiKey"`
	ConfluentAPISecret    string `yaml:"confluentApiSecret"`
	ConfluentRestEndpoint string `yaml:"confluentRestEndpoint"`
	// CredentialsSecretARN names a secret {"username","password"} for SASL PLAIN.
	CredentialsSecretARN  string `yaml:"credentialsSecretArn"`
	SSLTruststoreLocation string `yaml:"sslTruststoreLocation"` // a PEM CA bundle
	SSLTruststorePassword string `yaml:"sslTruststorePassword"`
}

// PartitionScalingEnabled reports whether Kafka partition scaling is on (default true).
func (k Kafka) PartitionScalingEnabled() bool {
	return k.EnablePartitionScaling == nil || *k.EnablePartitionScaling
}

func (k *Kafka) setDefaults() {
	def(&k.KafkaType, "ec2")
	defInt(&k.KafkaBrokerPort, 9092)
	if k.PartitionRatePerSecond == 0 {
		k.PartitionRatePerSecond = 2000
	}
	defInt(&k.MaxPartitionsPerTopic, 1000)
}

func (k *Kafka) validate(v *validator, p string) {
	v.required(p+".kafkaBrokersHost", k.KafkaBrokersHost)
	v.oneOf(p+".kafkaType", k.KafkaType, "ec2", "msk", "confluent")
	if k.PartitionRatePerSecond <= 0 {
		v.add(p+".partitionRatePerSecond", "must be positive, got %d", k.PartitionRatePerSecond)
	}
	if k.KafkaType == "confluent" && k.CredentialsSecretARN == "" && (k.ConfluentAPIKey == "" || k.ConfluentAPISecret == "") {
		v.add(p+".confluentApiKey", "confluent needs confluentApiKey and confluentApiSecret, or credentialsSecretArn")
	}
}
