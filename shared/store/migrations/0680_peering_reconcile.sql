-- Peering reconciliation (issue 17).
-- sweep_mark_ms: per (peer, execution type), the peer updated_at up to which the slow
-- reconciliation sweep has compared the local copies with the peer (0: a new sweep starts).
-- refused_digest: on the 'deletes' row of a peer, the digest of the delete set the copier last
-- refused over the limit, so one refusal is recorded once per condition, not every pass.
ALTER TABLE peering_state
  ADD COLUMN sweep_mark_ms BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN refused_digest VARCHAR(64) NOT NULL DEFAULT '';

-- Executions the copier could not write because one of their rows is larger than any
-- statement the local server accepts (max_allowed_packet): recorded once per version and
-- skipped, so the watermark moves on. A later version at the peer is tried again.
CREATE TABLE IF NOT EXISTS peering_quarantine (
  peer_id VARCHAR(32) NOT NULL,
  execution_type VARCHAR(16) NOT NULL,
  execution_id VARCHAR(255) NOT NULL,
  updated_at BIGINT NULL,
  row_bytes BIGINT NOT NULL,
  reason VARCHAR(512) NOT NULL,
  quarantined_at_ms BIGINT NOT NULL,
  PRIMARY KEY (peer_id, execution_type, execution_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
