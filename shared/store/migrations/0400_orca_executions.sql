-- Orca's execution tables, with the column types, keys and indexes a real Orca MySQL database
-- has after its whole changelog (orca-sql changelog-master.yml), so that an Orca database can
-- be a peer or a destination of the peering copier.

CREATE TABLE IF NOT EXISTS pipelines (
  id CHAR(26) NOT NULL,
  legacy_id VARCHAR(500) NULL DEFAULT NULL,
  `partition` VARCHAR(32) NULL DEFAULT NULL,
  config_id CHAR(36) NULL DEFAULT NULL,
  application VARCHAR(255) NOT NULL,
  status ENUM('NOT_STARTED','BUFFERED','RUNNING','PAUSED','SUSPENDED','SUCCEEDED','FAILED_CONTINUE','TERMINAL','CANCELED','REDIRECT','STOPPED','SKIPPED') NOT NULL DEFAULT 'NOT_STARTED',
  build_time BIGINT NOT NULL,
  start_time BIGINT NULL DEFAULT NULL,
  updated_at BIGINT NULL DEFAULT NULL,
  canceled BIT(1) NOT NULL DEFAULT b'0',
  body LONGTEXT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY pipelines_legacy_id_unique (legacy_id),
  KEY pipeline_status_buildtime_idx (status, build_time),
  KEY pipeline_config_status_idx (config_id, status),
  KEY pipeline_application_idx (application),
  KEY pipeline_config_id_idx (config_id, id),
  KEY pipelines_partition_updated_idx (updated_at, `partition`),
  KEY pipeline_application_status_starttime_idx (application, status, start_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS orchestrations (
  id CHAR(26) NOT NULL,
  legacy_id VARCHAR(500) NULL DEFAULT NULL,
  `partition` VARCHAR(32) NULL DEFAULT NULL,
  status ENUM('NOT_STARTED','BUFFERED','RUNNING','PAUSED','SUSPENDED','SUCCEEDED','FAILED_CONTINUE','TERMINAL','CANCELED','REDIRECT','STOPPED','SKIPPED') NOT NULL DEFAULT 'NOT_STARTED',
  application VARCHAR(255) NOT NULL,
  build_time BIGINT NOT NULL,
  start_time BIGINT NULL DEFAULT NULL,
  updated_at BIGINT NULL DEFAULT NULL,
  canceled BIT(1) NOT NULL DEFAULT b'0',
  body LONGTEXT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY orchestrations_legacy_id_unique (legacy_id),
  KEY orchestration_status_buildtime_idx (status, build_time),
  KEY orchestration_application_idx (application),
  KEY orchestration_application_status_buildtime_idx (application, status, build_time),
  KEY orchestrations_partition_updated_idx (updated_at, `partition`),
  KEY orchestration_application_status_starttime_idx (application, status, start_time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS pipeline_stages (
  id CHAR(26) NOT NULL,
  legacy_id VARCHAR(500) NULL DEFAULT NULL,
  execution_id CHAR(26) NOT NULL,
  status ENUM('NOT_STARTED','BUFFERED','RUNNING','PAUSED','SUSPENDED','SUCCEEDED','FAILED_CONTINUE','TERMINAL','CANCELED','REDIRECT','STOPPED','SKIPPED') NOT NULL DEFAULT 'NOT_STARTED',
  updated_at BIGINT NULL DEFAULT NULL,
  body LONGTEXT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY pipeline_stages_legacy_id_unique (legacy_id),
  KEY pipelinestage_status_idx (execution_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS orchestration_stages (
  id CHAR(26) NOT NULL,
  legacy_id VARCHAR(500) NULL DEFAULT NULL,
  execution_id CHAR(26) NOT NULL,
  status ENUM('NOT_STARTED','BUFFERED','RUNNING','PAUSED','SUSPENDED','SUCCEEDED','FAILED_CONTINUE','TERMINAL','CANCELED','REDIRECT','STOPPED','SKIPPED') NOT NULL DEFAULT 'NOT_STARTED',
  updated_at BIGINT NULL DEFAULT NULL,
  body LONGTEXT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY orchestration_stages_legacy_id_unique (legacy_id),
  KEY orchestrationstage_status_idx (execution_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS deleted_executions (
  id INT NOT NULL AUTO_INCREMENT,
  execution_id VARCHAR(26) NOT NULL,
  deleted_at DATETIME NOT NULL,
  execution_type ENUM('pipeline','orchestration') NOT NULL,
  PRIMARY KEY (id),
  KEY deleted_at_idx (deleted_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS partition_name (
  id INT NOT NULL,
  name VARCHAR(255) NULL DEFAULT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS pipelines_compressed_executions (
  id CHAR(26) NOT NULL,
  compressed_body LONGBLOB NOT NULL,
  compression_type ENUM('GZIP','ZLIB') NOT NULL DEFAULT 'ZLIB',
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS pipeline_stages_compressed_executions (
  id CHAR(26) NOT NULL,
  compressed_body LONGBLOB NOT NULL,
  compression_type ENUM('GZIP','ZLIB') NOT NULL DEFAULT 'ZLIB',
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS orchestrations_compressed_executions (
  id CHAR(26) NOT NULL,
  compressed_body LONGBLOB NOT NULL,
  compression_type ENUM('GZIP','ZLIB') NOT NULL DEFAULT 'ZLIB',
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS orchestration_stages_compressed_executions (
  id CHAR(26) NOT NULL,
  compressed_body LONGBLOB NOT NULL,
  compression_type ENUM('GZIP','ZLIB') NOT NULL DEFAULT 'ZLIB',
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Foreign keys of the compressed tables (Orca 20201214). go-mysql-server cannot reference a
-- CHAR primary key, so these are skipped on the embedded server only.
-- mysql-only
ALTER TABLE pipelines_compressed_executions ADD CONSTRAINT pipelines_compressed_executions_id_fk FOREIGN KEY (id) REFERENCES pipelines (id) ON DELETE CASCADE ON UPDATE RESTRICT;
-- mysql-only
ALTER TABLE pipeline_stages_compressed_executions ADD CONSTRAINT pipeline_stages_compressed_executions_id_fk FOREIGN KEY (id) REFERENCES pipeline_stages (id) ON DELETE CASCADE ON UPDATE RESTRICT;
-- mysql-only
ALTER TABLE orchestrations_compressed_executions ADD CONSTRAINT orchestrations_compressed_executions_id_fk FOREIGN KEY (id) REFERENCES orchestrations (id) ON DELETE CASCADE ON UPDATE RESTRICT;
-- mysql-only
ALTER TABLE orchestration_stages_compressed_executions ADD CONSTRAINT orchestration_stages_compressed_executions_fk FOREIGN KEY (id) REFERENCES orchestration_stages (id) ON DELETE CASCADE ON UPDATE RESTRICT;
