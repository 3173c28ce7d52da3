-- Kafka partition growth needs a sustained rate: each topic's baseline carries its run of
-- consecutive samples that needed more partitions (count, first sample, least need).
ALTER TABLE kafka_offset_baselines ADD COLUMN highSamples INT NOT NULL DEFAULT 0;
ALTER TABLE kafka_offset_baselines ADD COLUMN highSinceMs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE kafka_offset_baselines ADD COLUMN highRequired INT NOT NULL DEFAULT 0;
