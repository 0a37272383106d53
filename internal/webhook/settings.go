package webhook

import (
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
)

// Settings are a subscription's pusher-only options (docs/extensions.md).
// Zettle's create and update calls never change them.
type Settings struct {
	// StrictOrder keeps one delivery of the subscription in flight at a
	// time, in the order its messages were created.
	StrictOrder bool
	// StandardWebhooks adds the webhook-id, webhook-timestamp and
	// webhook-signature headers of the Standard Webhooks spec to deliveries.
	StandardWebhooks bool
	// RotationOverlap is how long the previous signing key keeps signing
	// deliveries after a rotation (0 to MaxRotationOverlap).
	RotationOverlap time.Duration
}

// Rotation overlap bounds.
const (
	DefaultRotationOverlap = 24 * time.Hour
	MaxRotationOverlap     = 7 * 24 * time.Hour
)

// DefaultSettings are the settings of a new subscription.
func DefaultSettings() Settings { return Settings{RotationOverlap: DefaultRotationOverlap} }

// Rotate makes newKey the signing key at now; the old key keeps signing,
// as the previous key, for overlap.
func (s *Subscription) Rotate(newKey string, now time.Time, overlap time.Duration) {
	s.PreviousSigningKey = s.SigningKey
	s.PreviousKeyExpires = now.Add(overlap)
	s.SigningKey = newKey
	s.Updated = now
}

// Keys are what one delivery attempt is signed with.
type Keys struct {
	Current  string // X-iZettle-Signature
	Previous string // X-Pusher-Previous-Signature too, during a rotation overlap; "" otherwise
	// StandardWebhooks adds the Standard Webhooks headers, signed with the
	// secret of each key (StandardWebhooksSecret).
	StandardWebhooks bool
}

// SigningKeys returns the keys a delivery at now is signed with: the
// previous key only while its overlap lasts.
func SigningKeys(current, previous string, previousExpires time.Time, standardWebhooks bool, now time.Time) Keys {
	k := Keys{Current: current, StandardWebhooks: standardWebhooks}
	if previous != "" && previous != current && now.Before(previousExpires) {
		k.Previous = previous
	}
	return k
}

// StandardWebhooksSecret is the Standard Webhooks secret of a signing key:
// "whsec_" and the base64 of the key's bytes, so it rotates with the key
// (signing.StandardWebhooksSecret).
func StandardWebhooksSecret(signingKey string) string {
	return signing.StandardWebhooksSecret(signingKey)
}
