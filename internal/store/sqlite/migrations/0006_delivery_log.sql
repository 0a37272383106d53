-- pusher's extensions (docs/extensions.md): per-subscription settings and
-- signing-key rotation, the remote address of attempts, what is kept of
-- deleted subscriptions, replay idempotency keys, and the indexes of the
-- delivery log.
ALTER TABLE subscriptions ADD COLUMN strict_order INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN standard_webhooks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN rotation_overlap_us INTEGER NOT NULL DEFAULT 86400000000; -- webhook.DefaultRotationOverlap
ALTER TABLE subscriptions ADD COLUMN previous_signing_key TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN previous_key_expires_at INTEGER;

-- Attempts name their subscription (for AttemptStats without a join over
-- every retained message) and the address dialled.
ALTER TABLE attempts ADD COLUMN subscription_uuid TEXT NOT NULL DEFAULT '';
ALTER TABLE attempts ADD COLUMN remote_addr TEXT NOT NULL DEFAULT '';
UPDATE attempts SET subscription_uuid = coalesce((SELECT m.subscription_uuid FROM messages m WHERE m.id = attempts.message_row), '');
CREATE INDEX attempts_subscription_started ON attempts (subscription_uuid, started_at);

-- Tombstones: what is kept of a deleted subscription (by its owner, on a
-- disconnect, or after its retries ran out) while its dead letters are.
CREATE TABLE deleted_subscriptions (
    uuid              TEXT PRIMARY KEY,
    organization_uuid TEXT NOT NULL,
    client_id         TEXT NOT NULL,          -- '' when unknown (deleted before this migration)
    event_names       TEXT NOT NULL,          -- JSON array; [] means all events
    destination       TEXT NOT NULL,
    deleted_at        INTEGER NOT NULL,
    exhausted         INTEGER NOT NULL DEFAULT 0 -- deleted because its retries ran out
) STRICT;
CREATE INDEX deleted_subscriptions_owner ON deleted_subscriptions (organization_uuid, client_id);
-- Dead letters of subscriptions deleted before this migration get a
-- tombstone with what is known: the organization of their events.
INSERT INTO deleted_subscriptions (uuid, organization_uuid, client_id, event_names, destination, deleted_at, exhausted)
    SELECT m.subscription_uuid, min(e.organization_uuid), '', '[]', '', coalesce(max(m.finished_at), max(m.created_at)), 0
    FROM messages m JOIN events e ON e.message_id = m.message_id
    WHERE m.state = 'dead' AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.uuid = m.subscription_uuid)
    GROUP BY m.subscription_uuid;

-- Replay idempotency keys, kept for the retention period.
CREATE TABLE replays (
    subscription_uuid TEXT NOT NULL,
    idempotency_key   TEXT NOT NULL,
    request_hash      TEXT NOT NULL,
    count             INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (subscription_uuid, idempotency_key)
) STRICT;
CREATE INDEX replays_created ON replays (created_at);

-- The delivery log pages a subscription's messages newest first; replay
-- selects an organization's events by creation time.
CREATE INDEX messages_subscription ON messages (subscription_uuid, id);
CREATE INDEX events_organization_created ON events (organization_uuid, created_at);
