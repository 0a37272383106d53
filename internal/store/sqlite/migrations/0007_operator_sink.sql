-- The operator event sink (docs/extensions.md): a notice is an e-mail to
-- the contact address or an event for the operator's sink, and a
-- key_rotated notice says until when the previous key signs. A notice is
-- known by its subscription, kind, creation time and channel (Import).
ALTER TABLE notices ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'; -- email | operator
ALTER TABLE notices ADD COLUMN previous_key_expires_at INTEGER;         -- key_rotated
DROP INDEX notices_subscription;
CREATE INDEX notices_subscription ON notices (subscription_uuid, kind, created_at, channel);
