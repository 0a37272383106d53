-- A subscription whose last attempt timed out has one attempt in flight
-- until one succeeds; an update does not clear the mark. Attempts keep the
-- Retry-After a destination asked for.
ALTER TABLE subscriptions ADD COLUMN last_attempt_timed_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN retry_after_us INTEGER NOT NULL DEFAULT 0;
