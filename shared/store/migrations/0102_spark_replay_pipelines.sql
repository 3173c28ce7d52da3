-- Replays are governed through the execution log: each replay row keeps the id of the Orca
-- pipeline whose stages are its steps (pause, resume, cancel and judgement act on it), and why
-- it ended when it did not run to the end (canceled through its execution, or a stop judgment).
-- The unique key lets a region that took a replay pipeline over adopt it exactly once.
ALTER TABLE spark_submit_status
  ADD COLUMN pipelineId VARCHAR(26) NULL,
  ADD COLUMN endReason VARCHAR(255) NULL,
  ADD UNIQUE KEY spark_submit_status_pipeline (pipelineId);
