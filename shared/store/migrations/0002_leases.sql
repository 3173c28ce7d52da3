-- Leases: one row per (job, tenant or peer). token is a fencing token that grows by one on
-- every acquisition, so a holder whose lease expired and was taken over cannot write.
CREATE TABLE IF NOT EXISTS leases (
  name VARCHAR(191) NOT NULL PRIMARY KEY,
  holder VARCHAR(191) NOT NULL,
  token BIGINT UNSIGNED NOT NULL,
  expiresAtMs BIGINT NOT NULL,
  acquiredAtMs BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
