-- The Logwise orchestrator's tables, with tenant as a validated string instead of an enum.

CREATE TABLE IF NOT EXISTS service_details (
  serviceName VARCHAR(255) NOT NULL,
  retentionDays MEDIUMINT UNSIGNED NOT NULL,
  tenant VARCHAR(64) NOT NULL,
  lastCheckedAt TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (tenant, serviceName)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A NULL flag means "no override": the request's flag applies.
CREATE TABLE IF NOT EXISTS spark_scale_override (
  tenant VARCHAR(64) NOT NULL PRIMARY KEY,
  upscale BOOLEAN NULL,
  downscale BOOLEAN NULL,
  updatedAt TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS spark_stage_history (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant VARCHAR(64) NOT NULL,
  outputBytes BIGINT UNSIGNED NOT NULL,
  inputRecords BIGINT UNSIGNED NOT NULL,
  submissionTime BIGINT UNSIGNED NOT NULL,
  completionTime BIGINT UNSIGNED NOT NULL,
  coresUsed INT UNSIGNED NULL,
  status VARCHAR(30) NOT NULL,
  createdAt TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  KEY spark_stage_history_tenant_created (tenant, createdAt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Replays: restart from a Kafka timestamp, later resume the subscribe pattern.
CREATE TABLE IF NOT EXISTS spark_submit_status (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant VARCHAR(64) NOT NULL,
  startingOffsetsTimestamp BIGINT UNSIGNED NOT NULL,
  resumeToSubscribePatternTimestamp BIGINT UNSIGNED NOT NULL,
  isSubmittedForOffsetsTimestamp BOOLEAN NOT NULL DEFAULT FALSE,
  isResumedToSubscribePattern BOOLEAN NOT NULL DEFAULT FALSE,
  createdAt TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY spark_submit_status_tenant_ts (tenant, startingOffsetsTimestamp)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
