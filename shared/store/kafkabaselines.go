package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// KafkaBaseline is the last sample of a topic's summed end offsets, from which the next
// sample derives the ingest rate.
type KafkaBaseline struct {
	Tenant    string
	Topic     string
	OffsetSum int64
	SampledAt time.Time
	// HighSamples consecutive samples up to this one needed more partitions, the first
	// taken at HighSince; HighRequired is the least count any of them needed.
	HighSamples  int
	HighSince    time.Time
	HighRequired int
}

// KafkaBaselines returns the tenant's baselines by topic.
func (db *DB) KafkaBaselines(ctx context.Context, tenant string) (map[string]KafkaBaseline, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT topic, offsetSum, sampledAtMs, highSamples, highSinceMs, highRequired FROM kafka_offset_baselines WHERE tenant = ?`, tenant)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list Kafka baselines for tenant %s: %w", tenant, err))
	}
	defer rows.Close()
	out := map[string]KafkaBaseline{}
	for rows.Next() {
		b := KafkaBaseline{Tenant: tenant}
		var ms, sinceMs int64
		if err := rows.Scan(&b.Topic, &b.OffsetSum, &ms, &b.HighSamples, &sinceMs, &b.HighRequired); err != nil {
			return nil, fmt.Errorf("read Kafka baseline for tenant %s: %w", tenant, err)
		}
		b.SampledAt = time.UnixMilli(ms).UTC()
		if b.HighSamples > 0 {
			b.HighSince = time.UnixMilli(sinceMs).UTC()
		}
		out[b.Topic] = b
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(fmt.Errorf("list Kafka baselines for tenant %s: %w", tenant, err))
	}
	return out, nil
}

// PutKafkaBaseline stores (or replaces) a topic's baseline.
func (db *DB) PutKafkaBaseline(ctx context.Context, b KafkaBaseline) error {
	return putKafkaBaseline(ctx, db.sql, b)
}

// PutKafkaBaselineTx is PutKafkaBaseline inside a transaction (a fenced write).
func (db *DB) PutKafkaBaselineTx(ctx context.Context, tx *sql.Tx, b KafkaBaseline) error {
	return putKafkaBaseline(ctx, tx, b)
}

func putKafkaBaseline(ctx context.Context, e execer, b KafkaBaseline) error {
	_, err := e.ExecContext(ctx,
		`INSERT INTO kafka_offset_baselines (tenant, topic, offsetSum, sampledAtMs, highSamples, highSinceMs, highRequired)
		 VALUES (?, ?, ?, ?, ?, ?, ?)
		 ON DUPLICATE KEY UPDATE offsetSum = VALUES(offsetSum), sampledAtMs = VALUES(sampledAtMs),
		   highSamples = VALUES(highSamples), highSinceMs = VALUES(highSinceMs), highRequired = VALUES(highRequired)`,
		b.Tenant, b.Topic, b.OffsetSum, b.SampledAt.UnixMilli(), b.HighSamples, sinceMs(b), b.HighRequired)
	if err != nil {
		return mapErr(fmt.Errorf("store Kafka baseline %s for tenant %s: %w", b.Topic, b.Tenant, err))
	}
	return nil
}

func sinceMs(b KafkaBaseline) int64 {
	if b.HighSamples == 0 {
		return 0
	}
	return b.HighSince.UnixMilli()
}
