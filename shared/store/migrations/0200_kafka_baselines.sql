-- Kafka partition scaling: the last sampled sum of end offsets per (tenant, topic), so that the
-- ingest rate survives restarts and is shared by every invocation (Logwise kept it in memory).
CREATE TABLE IF NOT EXISTS kafka_offset_baselines (
  tenant VARCHAR(64) NOT NULL,
  topic VARCHAR(249) NOT NULL,
  offsetSum BIGINT NOT NULL,
  sampledAtMs BIGINT NOT NULL,
  PRIMARY KEY (tenant, topic)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
