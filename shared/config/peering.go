package config

// Peering configures the execution peering copier (Orca's pollers.peering.*).
type Peering struct {
	Enabled               bool   `yaml:"enabled"`
	IntervalMs            int    `yaml:"intervalMs"`
	ThreadCount           int    `yaml:"threadCount"`
	ChunkSize             int    `yaml:"chunkSize"`
	ClockDriftMs          int    `yaml:"clockDriftMs"`
	MaxAllowedDeleteCount int    `yaml:"maxAllowedDeleteCount"`
	Peers                 []Peer `yaml:"peers"`
	// OwnerUnreachableMinutes is how long a peer's database must have been unreachable before
	// an operator may take over its executions without force.
	OwnerUnreachableMinutes int `yaml:"ownerUnreachableMinutes"`
	// SweepSlice is how many local copies of each execution type the reconciliation sweep
	// compares with the peer per pass (0: the default, 2500; negative: no sweep).
	SweepSlice int `yaml:"sweepSlice"`
	// ChunkMiB is the most a chunk reads at once (default 4): a heavier chunk is read in
	// halves. MemoryMiB bounds the rows the copier holds at once (default 32; at least
	// ChunkMiB); raise both with the function's memory for executions of many megabytes.
	ChunkMiB  int `yaml:"chunkMiB"`
	MemoryMiB int `yaml:"memoryMiB"`
}

// Peer is one peer region's database, read-only.
type Peer struct {
	ID        string `yaml:"id"` // the peer's partition name
	DSN       string `yaml:"dsn"`
	SecretARN string `yaml:"secretArn"`
	Name      string `yaml:"name"` // database name when the secret has none
	Enabled   *bool  `yaml:"enabled"`
}

// IsEnabled reports whether the peer is enabled (default true).
func (p Peer) IsEnabled() bool { return p.Enabled == nil || *p.Enabled }

// Interlink configures forwarding of actions on foreign executions to their owner.
type Interlink struct {
	Enabled  bool   `yaml:"enabled"`
	TopicARN string `yaml:"topicArn"` // SNS topic shared by the regions
	QueueURL string `yaml:"queueUrl"` // this region's SQS queue subscribed to the topic
	// EndpointOverride points SNS and SQS at a local server (tests, local runs).
	EndpointOverride string `yaml:"endpointOverride"`
	// PeeringFunction is the peering function to invoke for an on-demand copy.
	PeeringFunction string `yaml:"peeringFunction"`
	// Loop breaker (Orca defaults: 32 fingerprints remembered, 8 repeats, 60 s window).
	MaxRemembered int `yaml:"maxRemembered"`
	MaxRepeats    int `yaml:"maxRepeats"`
	WindowSeconds int `yaml:"windowSeconds"`
}

func (p *Peering) setDefaults() {
	defInt(&p.IntervalMs, 5000)
	defInt(&p.ThreadCount, 30)
	defInt(&p.ChunkSize, 100)
	defInt(&p.ClockDriftMs, 5000)
	defInt(&p.MaxAllowedDeleteCount, 100)
	defInt(&p.OwnerUnreachableMinutes, 15)
	defInt(&p.ChunkMiB, 4)
	defInt(&p.MemoryMiB, 32)
}

func (i *Interlink) setDefaults() {
	defInt(&i.MaxRemembered, 32)
	defInt(&i.MaxRepeats, 8)
	defInt(&i.WindowSeconds, 60)
}

func (c *Config) validatePeering(v *validator) {
	p := c.Peering
	v.positive("peering.intervalMs", p.IntervalMs)
	v.positive("peering.threadCount", p.ThreadCount)
	v.positive("peering.chunkSize", p.ChunkSize)
	v.positive("peering.chunkMiB", p.ChunkMiB)
	v.positive("peering.memoryMiB", p.MemoryMiB)
	if p.MemoryMiB < p.ChunkMiB {
		v.add("peering.memoryMiB", "must be at least peering.chunkMiB")
	}
	if p.ClockDriftMs < 0 {
		v.add("peering.clockDriftMs", "must not be negative")
	}
	if p.MaxAllowedDeleteCount < 0 {
		v.add("peering.maxAllowedDeleteCount", "must not be negative")
	}
	seen := map[string]bool{}
	for i, peer := range p.Peers {
		path := indexPath("peering.peers", i)
		v.required(path+".id", peer.ID)
		if len(peer.ID) > 32 {
			v.add(path+".id", "must be at most 32 characters (partition is varchar(32))")
		}
		if peer.ID != "" && peer.ID == c.Deployment.Partition {
			v.add(path+".id", "%q is this deployment's own partition; a region cannot peer itself", peer.ID)
		}
		if seen[peer.ID] {
			v.add(path+".id", "duplicate peer %q", peer.ID)
		}
		seen[peer.ID] = true
		if (peer.DSN == "") == (peer.SecretARN == "") {
			v.add(path, "set exactly one of dsn and secretArn")
		}
	}
	if c.Interlink.Enabled {
		v.required("interlink.topicArn", c.Interlink.TopicARN)
	}
}
