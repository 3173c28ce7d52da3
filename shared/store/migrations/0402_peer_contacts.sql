-- When this region last reached each peer's database, and since when it has failed to. The
-- ownership takeover reads it: a foreign execution may be taken over once its owner's
-- database has been unreachable long enough.
CREATE TABLE IF NOT EXISTS peer_contacts (
  peer_id VARCHAR(32) NOT NULL PRIMARY KEY,
  last_contact_ms BIGINT NULL,
  unreachable_since_ms BIGINT NULL,
  last_error VARCHAR(1024) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
