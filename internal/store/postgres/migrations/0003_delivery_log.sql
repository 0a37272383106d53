-- pusher's extensions (docs/extensions.md): per-subscription settings and
-- signing-key rotation, the remote address of attempts, what is kept of
-- deleted subscriptions, replay idempotency keys, and the indexes of the
-- delivery log.
ALTER TABLE subscriptions
    ADD COLUMN strict_order            boolean NOT NULL DEFAULT false,
    ADD COLUMN standard_webhooks       boolean NOT NULL DEFAULT false,
    ADD COLUMN rotation_overlap_us     bigint NOT NULL DEFAULT 86400000000, -- webhook.DefaultRotationOverlap
    ADD COLUMN previous_signing_key    text NOT NULL DEFAULT '',
    ADD COLUMN previous_key_expires_at timestamptz;

-- Attempts name their subscription (for AttemptStats without a join over
-- every retained message) and the address dialled.
ALTER TABLE attempts
    ADD COLUMN subscription_uuid text NOT NULL DEFAULT '',
    ADD COLUMN remote_addr       text NOT NULL DEFAULT '';
UPDATE attempts a SET subscription_uuid = m.subscription_uuid FROM messages m WHERE m.id = a.message_row;
CREATE INDEX attempts_subscription_started ON attempts (subscription_uuid, started_at);

-- Tombstones: what is kept of a deleted subscription (by its owner, on a
-- disconnect, or after its retries ran out) while its dead letters are.
CREATE TABLE deleted_subscriptions (
    uuid              text PRIMARY KEY,
    organization_uuid text NOT NULL,
    client_id         text NOT NULL,          -- '' when unknown (deleted before this migration)
    event_names       text[] NOT NULL,        -- '{}' means all events
    destination       text NOT NULL,
    deleted_at        timestamptz NOT NULL,
    exhausted         boolean NOT NULL DEFAULT false -- deleted because its retries ran out
);
CREATE INDEX deleted_subscriptions_owner ON deleted_subscriptions (organization_uuid, client_id);
-- Dead letters of subscriptions deleted before this migration get a
-- tombstone with what is known: the organization of their events.
INSERT INTO deleted_subscriptions (uuid, organization_uuid, client_id, event_names, destination, deleted_at, exhausted)
    SELECT m.subscription_uuid, min(e.organization_uuid), '', '{}', '', coalesce(max(m.finished_at), max(m.created_at)), false
    FROM messages m JOIN events e ON e.message_id = m.message_id
    WHERE m.state = 'dead' AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.uuid = m.subscription_uuid)
    GROUP BY m.subscription_uuid;

-- Replay idempotency keys, kept for the retention period.
CREATE TABLE replays (
    subscription_uuid text NOT NULL,
    idempotency_key   text NOT NULL,
    request_hash      text NOT NULL,
    count             integer NOT NULL,
    created_at        timestamptz NOT NULL,
    PRIMARY KEY (subscription_uuid, idempotency_key)
);
CREATE INDEX replays_created ON replays (created_at);

-- Replay selects an organization's events by creation time; the delivery
-- log pages a subscription's messages by messages_subscription.
CREATE INDEX events_organization_created ON events (organization_uuid, created_at);
