-- Tenant keys compare exactly: tenants "abc" and "ABC" are different tenants and must never
-- share a row (executions listed, leases taken, supervision state). Every column holding a
-- tenant becomes utf8mb4_bin, like service_details and kafka_offset_baselines already were;
-- lease names embed the tenant. Orca's application column keeps its type, VARCHAR(255).
ALTER TABLE spark_scale_override MODIFY tenant VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE spark_stage_history MODIFY tenant VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE spark_submit_status MODIFY tenant VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE spark_submissions MODIFY tenant VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE spark_supervision MODIFY tenant VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE leases MODIFY name VARCHAR(191) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE pipelines MODIFY application VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
ALTER TABLE orchestrations MODIFY application VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
