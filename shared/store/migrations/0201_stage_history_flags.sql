-- The direction flags the Spark job sent with each report, so that the scheduled scaler
-- re-deciding from stored history honours them (NULL: not sent, meaning enabled).
ALTER TABLE spark_stage_history ADD COLUMN enableUpScale BOOLEAN NULL;
ALTER TABLE spark_stage_history ADD COLUMN enableDownScale BOOLEAN NULL;
