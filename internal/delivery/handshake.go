package delivery

import (
	"context"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// testPayload is the TestMessage payload Zettle sends.
const testPayload = `{"data":"payload"}`

// TestMessage returns the TestMessage envelope for a new subscription of
// org: payload {"data":"payload"}, a fresh version-5 messageId, and the
// messageUuid and timestamp of any other message.
func TestMessage(org, subscriptionUUID string, now time.Time) webhook.Envelope {
	id := webhook.MessageID(org, webhook.TestMessage, subscriptionUUID+"/"+now.Format(time.RFC3339Nano))
	return webhook.NewEnvelope(org, webhook.TestMessage, id, testPayload, now)
}

// Handshake sends a TestMessage for a subscription, signed with its new
// key, and returns nil if the destination answered 2xx. Otherwise it returns
// the Zettle error for the create request: 400 DESTINATION_NOT_ACCESSIBLE
// when there was no HTTP answer, or 500 DESTINATION_RESPONDED_WITH_ERROR_CODE
// with "Server responded with HTTP <code>".
func (c *Client) Handshake(ctx context.Context, s *webhook.Subscription, now time.Time) error {
	out := c.Post(ctx, s.Destination, s.SigningKey, TestMessage(s.OrganizationUUID, s.UUID, now))
	switch {
	case out.OK():
		return nil
	case out.StatusCode != 0:
		return webhook.TypedErrorf(webhook.DestinationError, webhook.TypeDestinationRespondedWithCode,
			"Server responded with HTTP %d", out.StatusCode)
	}
	return webhook.TypedErrorf(webhook.Invalid, webhook.TypeDestinationNotAccessible,
		"Destination %s is not accessible: %s", s.Destination, webhook.Reason(out.Class, 0, s.Destination, "", c.timeout()))
}

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}
