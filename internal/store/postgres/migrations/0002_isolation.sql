-- A subscription whose last attempt timed out has one attempt in flight
-- until one succeeds; an update does not clear the mark. Attempts keep the
-- Retry-After a destination asked for.
ALTER TABLE subscriptions ADD COLUMN last_attempt_timed_out boolean NOT NULL DEFAULT false;
ALTER TABLE attempts ADD COLUMN retry_after_us bigint NOT NULL DEFAULT 0;
