-- When this region last heard each other partition's interlink HEARTBEAT. An unforced
-- ownership takeover needs the owner silent over the interlink as well as its database
-- unreachable: a partition between the databases alone is not enough.
ALTER TABLE peer_contacts ADD COLUMN last_heartbeat_ms BIGINT NULL;
