-- Subscriptions: one row per Zettle subscription, owned by (organization, client).
-- Times are Unix microseconds (UTC).
CREATE TABLE subscriptions (
    uuid              TEXT PRIMARY KEY,
    organization_uuid TEXT NOT NULL,
    client_id         TEXT NOT NULL,
    transport_name    TEXT NOT NULL,
    event_names       TEXT NOT NULL,          -- JSON array; [] means all events
    destination       TEXT NOT NULL,
    contact_email     TEXT NOT NULL,
    status            TEXT NOT NULL,          -- ACTIVE | FAILING
    signing_key       TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    failing_since     INTEGER,                -- start of the current failing episode
    failures          INTEGER NOT NULL DEFAULT 0,
    next_retry_at     INTEGER                 -- when the head message is tried next while FAILING
) STRICT;
CREATE INDEX subscriptions_owner ON subscriptions (organization_uuid, client_id, created_at);
CREATE INDEX subscriptions_failing ON subscriptions (next_retry_at) WHERE status = 'FAILING';

-- Events: one row per accepted producer event; message_id is the idempotency key.
CREATE TABLE events (
    message_id        TEXT PRIMARY KEY,       -- UUIDv5(org, eventName, eventId)
    organization_uuid TEXT NOT NULL,
    event_name        TEXT NOT NULL,          -- as delivered in the envelope
    event_id          TEXT NOT NULL,
    message_uuid      TEXT NOT NULL,
    payload           TEXT NOT NULL,          -- compact JSON text
    timestamp         TEXT NOT NULL,          -- envelope timestamp, as sent
    created_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX events_created ON events (created_at);

-- Messages: one row per (event, subscription); the row is the queue entry.
CREATE TABLE messages (
    id                   INTEGER PRIMARY KEY,
    message_id           TEXT NOT NULL REFERENCES events (message_id),
    subscription_uuid    TEXT NOT NULL,       -- no foreign key: dead letters outlive their subscription
    state                TEXT NOT NULL,       -- pending | leased | delivered | dead
    attempts             INTEGER NOT NULL DEFAULT 0,
    lease_token          TEXT,
    leased_at            INTEGER,
    lease_expires_at     INTEGER,
    then_delete_subscription INTEGER NOT NULL DEFAULT 0, -- disconnect events remove the subscription once delivered
    created_at           INTEGER NOT NULL,
    finished_at          INTEGER              -- delivered or dead
) STRICT;
CREATE UNIQUE INDEX messages_event_subscription ON messages (message_id, subscription_uuid);
CREATE INDEX messages_pending ON messages (subscription_uuid, id) WHERE state = 'pending';
CREATE INDEX messages_leased ON messages (subscription_uuid, lease_expires_at) WHERE state = 'leased';
CREATE INDEX messages_finished ON messages (finished_at) WHERE state = 'delivered';

-- Attempts: every delivery attempt, for operators.
CREATE TABLE attempts (
    id             INTEGER PRIMARY KEY,
    message_row    INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    duration_us    INTEGER NOT NULL,
    status_code    INTEGER NOT NULL,          -- 0 when no HTTP response
    error_class    TEXT NOT NULL,             -- '' on success
    error_detail   TEXT NOT NULL,
    response_body  BLOB NOT NULL              -- first 1 KiB
) STRICT;
CREATE INDEX attempts_message ON attempts (message_row);
CREATE INDEX attempts_started ON attempts (started_at);

-- Notices: the durable outbox of e-mails to contactEmail.
CREATE TABLE notices (
    id                INTEGER PRIMARY KEY,
    kind              TEXT NOT NULL,          -- failing | recovered | deleted
    subscription_uuid TEXT NOT NULL,
    recipient         TEXT NOT NULL,
    data              TEXT NOT NULL,          -- JSON of the notice
    created_at        INTEGER NOT NULL,
    next_send_at      INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT NOT NULL DEFAULT '',
    sent_at           INTEGER
) STRICT;
CREATE INDEX notices_due ON notices (next_send_at) WHERE sent_at IS NULL;
CREATE INDEX notices_subscription ON notices (subscription_uuid, kind, created_at);
