package delivery

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/pusher-hq/pusher/internal/ssrf"
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

// ForbiddenDestinationMessage is the developerMessage of the destination
// violation when a destination is internal. It is the same for every such
// destination, so it tells nothing about what listens there.
const ForbiddenDestinationMessage = "must resolve to a public address: pusher does not deliver to loopback, " +
	"private, link-local or other internal or special-purpose addresses"

// Handshake sends a TestMessage for a subscription, signed with its keys
// at now as any delivery is (webhook.SigningKeys: its new key, the previous
// one during a rotation overlap, the Standard Webhooks headers when its
// settings ask for them), and returns nil if the destination answered 2xx. Otherwise it returns
// the Zettle error for the create request: 422 VALIDATION_ERROR (see
// ErrForbiddenDestination) when the destination's host, or the address it
// resolves to when dialled, is one the client's guard refuses; 400
// DESTINATION_NOT_ACCESSIBLE when there was no HTTP answer; or 500
// DESTINATION_RESPONDED_WITH_ERROR_CODE with "Server responded with HTTP
// <code>".
func (c *Client) Handshake(ctx context.Context, s *webhook.Subscription, now time.Time) error {
	if c.forbidden(ctx, s.Destination) {
		return ErrForbiddenDestination()
	}
	keys := webhook.SigningKeys(s.SigningKey, s.PreviousSigningKey, s.PreviousKeyExpires, s.Settings.StandardWebhooks, now)
	out := c.Post(ctx, s.Destination, keys, TestMessage(s.OrganizationUUID, s.UUID, now))
	switch {
	case out.OK():
		return nil
	case out.Class == webhook.ClassForbiddenDestination:
		return ErrForbiddenDestination()
	case out.StatusCode != 0:
		return webhook.TypedErrorf(webhook.DestinationError, webhook.TypeDestinationRespondedWithCode,
			"Server responded with HTTP %d", out.StatusCode)
	}
	return webhook.TypedErrorf(webhook.Invalid, webhook.TypeDestinationNotAccessible,
		"Destination %s is not accessible: %s", s.Destination, webhook.Reason(out.Class, 0, s.Destination, "", c.timeout()))
}

// ErrForbiddenDestination is the 422 VALIDATION_ERROR of a create or update
// whose destination is internal: one violation of destination, with
// ForbiddenDestinationMessage and constraint PUBLIC_ADDRESS.
func ErrForbiddenDestination() *webhook.Error {
	v := webhook.Violation{PropertyName: "destination", DeveloperMessage: ForbiddenDestinationMessage, ConstraintType: "PUBLIC_ADDRESS"}
	return &webhook.Error{
		Code: webhook.Unprocessable, Type: webhook.TypeValidationError,
		Message: "Invalid request: destination " + ForbiddenDestinationMessage, Violations: []webhook.Violation{v},
	}
}

// forbidden reports whether the guard refuses the host of destination
// before anything is dialled. Name resolution may take up to the delivery
// timeout. A destination that does not parse is left to Post to report.
func (c *Client) forbidden(ctx context.Context, destination string) bool {
	u, err := url.Parse(destination)
	if err != nil || u.Host == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	return errors.Is(c.guard.CheckHost(ctx, u.Hostname()), ssrf.ErrForbidden)
}

func (c *Client) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}
