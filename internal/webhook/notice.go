package webhook

import "time"

// NoticeKind says what a Notice reports.
type NoticeKind string

// The notice kinds (Zettle Pusher API, "Failing Webhooks").
const (
	NoticeFailing   NoticeKind = "failing"   // deliveries to the destination fail; retries go on
	NoticeRecovered NoticeKind = "recovered" // a delivery succeeded again after failures
	NoticeDeleted   NoticeKind = "deleted"   // retries ran out and the subscription was deleted
)

// Notice is one e-mail to a subscription's contact address, as the outbox
// stores it: facts, not words. Package notify puts it into words when it
// renders it. The fields after Attempts are used only by the kinds named in
// their group comment.
type Notice struct {
	ID               int64 // outbox row id (set by the store)
	Kind             NoticeKind
	To               string // the subscription's contactEmail
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
		Kind: kind, To: s.ContactEmail, OrganizationUUID: s.OrganizationUUID, SubscriptionUUID: s.UUID,
		Destination: s.Destination, EventNames: names, CreatedAt: now,
	}
}
