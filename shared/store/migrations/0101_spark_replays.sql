-- Replays (restart from a Kafka timestamp, later resume the subscribe pattern) keep Logwise's
-- spark_submit_status rows and flags, plus what the supervisor needs to run them step by step
-- and resume after a crash at the right step: the phase (TIMESTAMP, then RESUME, then DONE),
-- the step inside it (WAITING, KILLING, CLEANING, SUBMITTING), operator approval and
-- cancellation.
ALTER TABLE spark_submit_status
  ADD COLUMN approvalRequired BOOLEAN NOT NULL DEFAULT FALSE,
  ADD COLUMN approvedBy VARCHAR(128) NULL,
  ADD COLUMN approvedAtMs BIGINT NULL,
  ADD COLUMN createdBy VARCHAR(128) NOT NULL DEFAULT '',
  ADD COLUMN canceledBy VARCHAR(128) NULL,
  ADD COLUMN canceledAtMs BIGINT NULL,
  ADD COLUMN phase VARCHAR(16) NOT NULL DEFAULT 'TIMESTAMP',
  ADD COLUMN step VARCHAR(16) NOT NULL DEFAULT 'WAITING',
  ADD COLUMN stepChangedAtMs BIGINT NULL,
  ADD COLUMN cleanedPhases VARCHAR(64) NOT NULL DEFAULT '',
  ADD COLUMN lastSubmissionId VARCHAR(128) NULL,
  ADD COLUMN lastError VARCHAR(1024) NULL;
