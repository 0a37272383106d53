-- The failing-notice throttle is subscription state now (it was a count of
-- recent notices), and notices are stored as explicit columns (they were the
-- JSON of a Go struct). Existing notices keep their facts; their reason,
-- already in words, is kept as the detail of a failure without a class
-- (webhook.Notice.Reason shows such a detail as it is).
ALTER TABLE subscriptions ADD COLUMN last_failing_notice_at INTEGER;
UPDATE subscriptions SET last_failing_notice_at =
    (SELECT max(n.created_at) FROM notices n WHERE n.subscription_uuid = subscriptions.uuid AND n.kind = 'failing');

CREATE TABLE notices_v3 (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL,          -- failing | recovered | deleted
    subscription_uuid  TEXT NOT NULL,
    organization_uuid  TEXT NOT NULL,
    recipient          TEXT NOT NULL,          -- the subscription's contactEmail
    destination        TEXT NOT NULL,
    event_names        TEXT NOT NULL,          -- JSON array; [] means all events
    failure_class      TEXT NOT NULL DEFAULT '', -- the failed attempt (failing, deleted)
    failure_status     INTEGER NOT NULL DEFAULT 0,
    failure_detail     TEXT NOT NULL DEFAULT '',
    failure_timeout_us INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER,                -- failing
    delete_at          INTEGER,                -- failing
    failing_since      INTEGER,                -- recovered, deleted
    held_messages      INTEGER NOT NULL DEFAULT 0, -- recovered
    undelivered        INTEGER NOT NULL DEFAULT 0, -- deleted
    created_at         INTEGER NOT NULL,
    next_send_at       INTEGER NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0, -- failed sends
    last_error         TEXT NOT NULL DEFAULT '',
    sent_at            INTEGER
) STRICT;

INSERT INTO notices_v3 (id, kind, subscription_uuid, organization_uuid, recipient, destination, event_names,
        failure_class, failure_detail, next_attempt_at, delete_at, failing_since, held_messages, undelivered,
        created_at, next_send_at, attempts, last_error, sent_at)
    SELECT id, kind, subscription_uuid, coalesce(data ->> '$.OrganizationUUID', ''), recipient,
        coalesce(data ->> '$.Destination', ''), coalesce(data -> '$.EventNames', '[]'),
        '', coalesce(data ->> '$.Reason', ''),
        nullif(CAST(unixepoch(data ->> '$.NextAttemptAt', 'subsec') * 1000000 AS INTEGER), -62135596800000000),
        nullif(CAST(unixepoch(data ->> '$.DeleteAt', 'subsec') * 1000000 AS INTEGER), -62135596800000000),
        nullif(CAST(unixepoch(data ->> '$.FailingSince', 'subsec') * 1000000 AS INTEGER), -62135596800000000),
        coalesce(data ->> '$.HeldMessages', 0), coalesce(data ->> '$.Undelivered', 0),
        created_at, next_send_at, attempts, last_error, sent_at
    FROM notices;

DROP TABLE notices;
ALTER TABLE notices_v3 RENAME TO notices;
CREATE INDEX notices_due ON notices (next_send_at) WHERE sent_at IS NULL;
CREATE INDEX notices_subscription ON notices (subscription_uuid, kind, created_at);
