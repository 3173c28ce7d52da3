-- The Spark job supervisor (shared/supervisor).
--
-- spark_submissions: every submission attempt of a tenant's streaming job, written before the
-- request is sent (outcome PENDING) and updated with what came of it, so that a crash half-way
-- still counts against the crash-loop budget. requestBody never holds credentials.
CREATE TABLE IF NOT EXISTS spark_submissions (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  tenant VARCHAR(64) NOT NULL,
  submittedAtMs BIGINT NOT NULL,
  submissionId VARCHAR(128) NULL,
  reason VARCHAR(512) NOT NULL,
  triggeredBy VARCHAR(32) NOT NULL,
  requestBody MEDIUMTEXT NOT NULL,
  -- PENDING (sent, no answer recorded yet), ACCEPTED, UNKNOWN (no answer), FAILED (refused or unreachable)
  outcome VARCHAR(16) NOT NULL,
  message VARCHAR(1024) NULL,
  master VARCHAR(255) NULL,
  KEY spark_submissions_tenant_time (tenant, submittedAtMs)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- spark_supervision: a tenant's supervision state. No row means ACTIVE. CRASH_LOOP and PAUSED
-- stop resubmission until an operator resumes; resumedAtMs restarts the crash-loop window.
-- version grows with every change, so a monitor that read an older state cannot overwrite an
-- operator's resume.
CREATE TABLE IF NOT EXISTS spark_supervision (
  tenant VARCHAR(64) NOT NULL PRIMARY KEY,
  state VARCHAR(16) NOT NULL,
  reason VARCHAR(512) NOT NULL DEFAULT '',
  changedAtMs BIGINT NOT NULL,
  changedBy VARCHAR(128) NOT NULL DEFAULT '',
  resumedAtMs BIGINT NULL,
  version BIGINT UNSIGNED NOT NULL DEFAULT 1
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
