-- Peering copier state, one row per (peer, execution type): the completed-delta high mark
-- (largest peer updated_at copied over clean chunks), whether the first pass has drained (Orca
-- copies active executions only from the second pass on), and the diff-reconciliation cursor.
-- execution_type 'tombstones' holds the peer's deleted_executions cursor in cursor_id.
-- Written only under the peer's lease (fenced), so two copiers never interleave writes.
CREATE TABLE IF NOT EXISTS peering_state (
  peer_id VARCHAR(32) NOT NULL,
  execution_type VARCHAR(16) NOT NULL,
  high_mark_ms BIGINT NOT NULL DEFAULT 0,
  first_pass_done TINYINT(1) NOT NULL DEFAULT 0,
  cursor_id BIGINT NOT NULL DEFAULT 0,
  updated_at_ms BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (peer_id, execution_type)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Dynamic peering switches (Orca's pollers.peering.enabled, pollers.peering.<peerId>.enabled and
-- pollers.peering.max-allowed-delete-count), read on every pass. scope '*' is the global row;
-- any other scope is a peer id. A missing row or NULL column means "use the default".
CREATE TABLE IF NOT EXISTS peering_switches (
  scope VARCHAR(64) NOT NULL PRIMARY KEY,
  enabled TINYINT(1) NULL DEFAULT NULL,
  max_allowed_delete_count INT NULL DEFAULT NULL,
  updated_at_ms BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
