-- Service discovery's absence tracking: a service is removed only after it has been missing
-- from two consecutive successful S3 listings. missedListings counts those listings (reset
-- when the service is seen again); absentSince is when it was first missed.
ALTER TABLE service_details ADD COLUMN missedListings SMALLINT UNSIGNED NOT NULL DEFAULT 0;
ALTER TABLE service_details ADD COLUMN absentSince TIMESTAMP NULL DEFAULT NULL;
