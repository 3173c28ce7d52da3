-- A report re-sent by the Spark job's HTTP client retries (Feign: 3 attempts) is the same
-- report: identical times and counts. The key makes storing it idempotent.
ALTER TABLE spark_stage_history ADD UNIQUE KEY spark_stage_history_report (tenant, submissionTime, completionTime, inputRecords, outputBytes);
