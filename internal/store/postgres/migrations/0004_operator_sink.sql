-- The operator event sink (docs/extensions.md): a notice is an e-mail to
-- the contact address or an event for the operator's sink, and a
-- key_rotated notice says until when the previous key signs. A notice is
-- known by its subscription, kind, creation time and channel (Import), so
-- an e-mail and its operator copy are both kept.
ALTER TABLE notices
    ADD COLUMN channel text NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'operator')),
    ADD COLUMN previous_key_expires_at timestamptz, -- key_rotated
    DROP CONSTRAINT notices_kind_check,
    ADD CONSTRAINT notices_kind_check CHECK (kind IN ('failing', 'recovered', 'deleted', 'key_rotated')),
    DROP CONSTRAINT notices_subscription_uuid_kind_created_at_key,
    ADD CONSTRAINT notices_subscription_uuid_kind_created_at_channel_key UNIQUE (subscription_uuid, kind, created_at, channel);
