package webhook

import "time"

// NoticeKind says what a Notice reports.
type NoticeKind string

// The notice kinds (Zettle Pusher API, "Failing Webhooks").
const (
	NoticeFailing   NoticeKind = "failing"   // deliveries to the destination fail; retries go on
	NoticeRecovered NoticeKind = "recovered" // a delivery succeeded again after failures
	NoticeDeleted   NoticeKind = "deleted"   // retries ran out and the subscription was deleted

	// NoticeKeyRotated: the subscription's signing key was rotated. Only
	// the operator sink is told (docs/extensions.md, "Operator event sink").
	NoticeKeyRotated NoticeKind = "key_rotated"
)

// NoticeChannel says who a Notice is for.
type NoticeChannel string

// The notice channels.
const (
	// ChannelEmail: an e-mail to the subscription's contactEmail (To).
	ChannelEmail NoticeChannel = "email"
	// ChannelOperator: a signed POST to the operator event sink, when
	// RetryPolicy.OperatorSink is set (docs/extensions.md).
	ChannelOperator NoticeChannel = "operator"
)

// OrEmail returns c, or ChannelEmail for "" (a notice made without a
// channel is an e-mail, as every notice was before channels were).
func (c NoticeChannel) OrEmail() NoticeChannel {
	if c == "" {
		return ChannelEmail
	}
	return c
}

// Notice is one e-mail to a subscription's contact address, or one event
// for the operator sink (Channel), as the outbox stores it: facts, not
// words. Package notify puts it into words (or JSON) when it sends it. The
// fields after Attempts are used only by the kinds named in their group
// comment.
type Notice struct {
	ID               int64 // outbox row id (set by the store)
	Kind             NoticeKind
	Channel          NoticeChannel // "" is ChannelEmail
	To               string        // the subscription's contactEmail (for the operator channel too: a fact)
	OrganizationUUID string
	SubscriptionUUID string
	Destination      string
	EventNames       []string  // empty means all events
	CreatedAt        time.Time // when the notice was written; texts say "as of" this time
	Attempts         int       // failed send attempts so far (set by the store)

	// failing and deleted: the failed attempt that caused the notice
	Failure Failure

	// failing
	NextAttemptAt time.Time // next delivery attempt
	DeleteAt      time.Time // when the subscription is deleted if nothing changes

	// recovered and deleted
	FailingSince time.Time

	// recovered
	HeldMessages int // messages held while failing, now being delivered (set by the store)

	// deleted
	Undelivered int // messages that were not delivered (set by the store)

	// key_rotated
	PreviousKeyExpires time.Time // until when the previous key keeps signing
}

// Reason puts the notice's failure into words; "" when it has none. A
// failure without a class but with a detail (a notice stored before classes
// were) reads as its detail.
func (n Notice) Reason() string {
	if n.Failure.Class == "" {
		return n.Failure.Detail
	}
	return n.Failure.Reason(n.Destination)
}

// newNotice returns a notice of kind about s, written at now.
func newNotice(kind NoticeKind, s *Subscription, now time.Time) *Notice {
	names := s.EventNames
	if names == nil {
		names = []string{}
	}
	return &Notice{
		Kind: kind, Channel: ChannelEmail, To: s.ContactEmail, OrganizationUUID: s.OrganizationUUID, SubscriptionUUID: s.UUID,
		Destination: s.Destination, EventNames: names, CreatedAt: now,
	}
}

// forOperator returns a copy of n for the operator sink.
func (n *Notice) forOperator() *Notice {
	c := *n
	c.Channel = ChannelOperator
	c.EventNames = append([]string{}, n.EventNames...)
	return &c
}

// KeyRotatedNotice is the operator-sink notice of the rotation of s's
// signing key at now (call it after s.Rotate). It names the subscription
// and until when the previous key signs, never a key. The caller queues it
// only while the operator sink is on.
func (s *Subscription) KeyRotatedNotice(now time.Time) *Notice {
	n := newNotice(NoticeKeyRotated, s, now).forOperator()
	n.PreviousKeyExpires = s.PreviousKeyExpires
	return n
}
