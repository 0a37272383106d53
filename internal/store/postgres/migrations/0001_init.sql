-- pusher's schema for PostgreSQL. Times are timestamptz (microseconds);
-- durations are bigint microseconds. Every time comes from the application,
-- never from now().

-- Subscriptions: one row per Zettle subscription, owned by (organization, client).
CREATE TABLE subscriptions (
    uuid                   text PRIMARY KEY,
    seq                    bigint GENERATED ALWAYS AS IDENTITY, -- insertion order, breaks ties of created_at
    organization_uuid      text NOT NULL,
    client_id              text NOT NULL,
    transport_name         text NOT NULL,
    event_names            text[] NOT NULL,         -- '{}' means all events
    destination            text NOT NULL,
    contact_email          text NOT NULL,
    status                 text NOT NULL CHECK (status IN ('ACTIVE', 'FAILING')),
    signing_key            text NOT NULL,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    failing_since          timestamptz,             -- start of the current failing episode
    failures               integer NOT NULL DEFAULT 0,
    next_retry_at          timestamptz,             -- when the head message is tried next while FAILING
    last_failing_notice_at timestamptz              -- throttles "failing" notices
);
CREATE INDEX subscriptions_owner ON subscriptions (organization_uuid, client_id, created_at, seq);
CREATE INDEX subscriptions_order ON subscriptions (created_at, seq);

-- Events: one row per accepted producer event; message_id is the idempotency key.
CREATE TABLE events (
    message_id        text PRIMARY KEY,             -- UUIDv5(org, eventName, eventId)
    organization_uuid text NOT NULL,
    event_name        text NOT NULL,                -- as delivered in the envelope
    event_id          text NOT NULL,
    message_uuid      text NOT NULL,
    payload           text NOT NULL,                -- compact JSON text
    timestamp         text NOT NULL,                -- envelope timestamp, as sent
    created_at        timestamptz NOT NULL
);
CREATE INDEX events_created ON events (created_at);

-- Messages: one row per (event, subscription); the row is the queue entry.
CREATE TABLE messages (
    id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id               text NOT NULL REFERENCES events (message_id),
    subscription_uuid        text NOT NULL,         -- no foreign key: dead letters outlive their subscription
    state                    text NOT NULL CHECK (state IN ('pending', 'leased', 'delivered', 'dead')),
    attempts                 integer NOT NULL DEFAULT 0,
    lease_token              text,
    leased_at                timestamptz,
    lease_expires_at         timestamptz,
    then_delete_subscription boolean NOT NULL DEFAULT false, -- disconnect events remove the subscription once delivered
    created_at               timestamptz NOT NULL,
    finished_at              timestamptz            -- delivered or dead
);
CREATE UNIQUE INDEX messages_event_subscription ON messages (message_id, subscription_uuid);
CREATE INDEX messages_pending ON messages (subscription_uuid, id) WHERE state = 'pending';
CREATE INDEX messages_leased ON messages (subscription_uuid) WHERE state = 'leased';
CREATE INDEX messages_lease_expiry ON messages (lease_expires_at) WHERE state = 'leased';
CREATE INDEX messages_delivered ON messages (finished_at) WHERE state = 'delivered';
CREATE INDEX messages_dead ON messages (id) WHERE state = 'dead';
CREATE INDEX messages_undelivered_created ON messages (created_at) WHERE state IN ('pending', 'leased');
CREATE INDEX messages_subscription ON messages (subscription_uuid, id);

-- Attempts: every delivery attempt, for operators.
CREATE TABLE attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_row   bigint NOT NULL,
    started_at    timestamptz NOT NULL,
    duration_us   bigint NOT NULL,
    status_code   integer NOT NULL,                 -- 0 when no HTTP response
    error_class   text NOT NULL,                    -- '' on success
    error_detail  text NOT NULL,
    response_body bytea NOT NULL                    -- first 1 KiB
);
CREATE INDEX attempts_message ON attempts (message_row, id);
CREATE INDEX attempts_started ON attempts (started_at);

-- Notices: the durable outbox of e-mails to contactEmail (webhook.Notice).
CREATE TABLE notices (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('failing', 'recovered', 'deleted')),
    subscription_uuid   text NOT NULL,
    organization_uuid   text NOT NULL,
    recipient           text NOT NULL,
    destination         text NOT NULL,
    event_names         text[] NOT NULL,
    failure_class       text NOT NULL DEFAULT '',
    failure_status_code integer NOT NULL DEFAULT 0,
    failure_detail      text NOT NULL DEFAULT '',
    failure_timeout_us  bigint NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz,                -- failing
    delete_at           timestamptz,                -- failing
    failing_since       timestamptz,                -- recovered and deleted
    held_messages       integer NOT NULL DEFAULT 0, -- recovered
    undelivered         integer NOT NULL DEFAULT 0, -- deleted
    created_at          timestamptz NOT NULL,
    next_send_at        timestamptz NOT NULL,       -- due time; DueNotices moves it on while a sender holds it
    attempts            integer NOT NULL DEFAULT 0, -- failed sends
    last_error          text NOT NULL DEFAULT '',
    sent_at             timestamptz,
    UNIQUE (subscription_uuid, kind, created_at)    -- makes Import repeatable
);
CREATE INDEX notices_due ON notices (next_send_at) WHERE sent_at IS NULL;
CREATE INDEX notices_unsent ON notices (id) WHERE sent_at IS NULL;
