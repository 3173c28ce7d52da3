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
	MaxPartitionsPerTopic int `yaml:"maxPartitionsPerTopic"`
	// PartitionGrowthSamples is how many consecutive samples (one per scaler run) must each
	// need more partitions before they grow (default 3); PartitionGrowthWindowSeconds the
	// least time those samples span (default 120). Growth cannot be undone.
	PartitionGrowthSamples       int    `yaml:"partitionGrowthSamples"`
	PartitionGrowthWindowSeconds int    `yaml:"partitionGrowthWindowSeconds"`
	TLS                          bool   `yaml:"tls"`
	MSKClusterARN                string `yaml:"mskClusterArn"`
	MSKRegion                    string `yaml:"mskRegion"`
	ConfluentAPIKey              string `yaml:"confluentApiKey"`
	ConfluentAPISecret           string `yaml:"confluentApiSecret"`
	ConfluentRestEndpoint        string `yaml:"confluentRestEndpoint"`
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
	defInt(&k.PartitionGrowthSamples, 3)
	defInt(&k.PartitionGrowthWindowSeconds, 120)
}

func (k *Kafka) validate(v *validator, p string) {
	v.required(p+".kafkaBrokersHost", k.KafkaBrokersHost)
	v.oneOf(p+".kafkaType", k.KafkaType, "ec2", "msk", "confluent")
	if k.PartitionRatePerSecond <= 0 {
		v.add(p+".partitionRatePerSecond", "must be positive, got %d", k.PartitionRatePerSecond)
	}
	if k.PartitionGrowthSamples < 1 || k.PartitionGrowthSamples > 60 {
		v.add(p+".partitionGrowthSamples", "must be between 1 and 60, got %d", k.PartitionGrowthSamples)
	}
	if k.PartitionGrowthWindowSeconds < 0 || k.PartitionGrowthWindowSeconds > 3600 {
		v.add(p+".partitionGrowthWindowSeconds", "must be between 0 and 3600, got %d", k.PartitionGrowthWindowSeconds)
	}
	if k.KafkaType == "confluent" && k.CredentialsSecretARN == "" && (k.ConfluentAPIKey == "" || k.ConfluentAPISecret == "") {
		v.add(p+".confluentApiKey", "confluent needs confluentApiKey and confluentApiSecret, or credentialsSecretArn")
	}
}
