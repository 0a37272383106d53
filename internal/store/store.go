// Package store defines the storage contract that pusher's database drivers
// implement (store/sqlite today). Every method's behaviour, including the
// webhook.Code of its errors, is specified by the conformance suite in
// store/storetest. Code outside cmd/pusher depends on the narrower interfaces
// it needs rather than on Store.
package store

import (
	"context"
	"time"

	"github.com/pusher-hq/pusher/internal/notify"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Store is pusher's persistent state: subscriptions, events, the delivery
// queue, the attempt log and the notice outbox.
type Store interface {
	// CreateSubscription stores s. It returns Conflict if a subscription with
	// s.UUID exists in any organization.
	CreateSubscription(ctx context.Context, s *webhook.Subscription) error
	// Subscriptions returns the subscriptions of (org, clientID), oldest first.
	Subscriptions(ctx context.Context, org, clientID string) ([]*webhook.Subscription, error)
	// Subscription returns one subscription of (org, clientID), or NotFound.
	Subscription(ctx context.Context, org, clientID, uuid string) (*webhook.Subscription, error)
	// UpdateSubscription replaces the event names, destination, contact
	// e-mail and updated time of the subscription of (s.OrganizationUUID,
	// s.ClientID) with s.UUID, and makes it ACTIVE with its failing state
	// cleared. It returns NotFound if there is no such subscription.
	UpdateSubscription(ctx context.Context, s *webhook.Subscription) error
	// DeleteSubscription deletes a subscription of (org, clientID); its
	// undelivered messages become dead letters. It returns NotFound if there
	// is no such subscription.
	DeleteSubscription(ctx context.Context, org, clientID, uuid string) error

	// Publish records events and one pending message per matching
	// subscription, all or nothing, and returns for each event whether it was
	// new. An event whose MessageID was published before is a duplicate: it
	// is not stored again and gets no messages.
	Publish(ctx context.Context, events []Event) ([]PublishResult, error)

	// ClaimMessages leases due messages for delivery (see ClaimParams).
	ClaimMessages(ctx context.Context, p ClaimParams) ([]*Delivery, error)
	// RecordAttempts writes the outcome of attempts, each fenced by its lease:
	// a result whose lease is no longer held is ignored. See Policy for the
	// state changes.
	RecordAttempts(ctx context.Context, p Policy, results []AttemptResult) error
	// RecordAndClaim records results as RecordAttempts does and then, in the
	// same transaction, claims messages as ClaimMessages does with next, so
	// a subscription's next messages are leased in the same commit that
	// freed its slots. next.Limit 0 claims nothing.
	RecordAndClaim(ctx context.Context, p Policy, results []AttemptResult, next ClaimParams) ([]*Delivery, error)
	// ReleaseLeases returns leased messages whose lease expired before
	// expiredBefore to the queue and returns how many.
	ReleaseLeases(ctx context.Context, expiredBefore time.Time) (int, error)

	// Messages returns the messages of a subscription with the given state
	// ("" for all), oldest first.
	Messages(ctx context.Context, subscriptionUUID, state string) ([]Message, error)
	// QueueStats counts messages by state (delivered ones excluded) and
	// finds the oldest undelivered one, for monitoring.
	QueueStats(ctx context.Context) (QueueStats, error)
	// Attempts returns the attempts of a message row, oldest first.
	Attempts(ctx context.Context, messageRow int64) ([]Attempt, error)

	// DueNotices, MarkNoticeSent and MarkNoticeFailed implement notify.Outbox.
	DueNotices(ctx context.Context, now time.Time, limit int) ([]notify.Notice, error)
	MarkNoticeSent(ctx context.Context, id int64, at time.Time) error
	MarkNoticeFailed(ctx context.Context, id int64, errText string, retryAt time.Time) error
	// Notices returns the most recent notices, newest first, sent or not.
	Notices(ctx context.Context, limit int) ([]NoticeRecord, error)

	// Prune deletes delivered messages, attempts and events older than
	// before. Events with undelivered or dead messages are kept. It returns
	// the number of events deleted.
	Prune(ctx context.Context, before time.Time) (int, error)
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Event is one event to publish, with its envelope already built.
type Event struct {
	Envelope webhook.Envelope // EventName is the delivered name
	// SourceEventName is the producer's name (PersonalAssertionDeleted is
	// delivered as ApplicationConnectionRemoved).
	SourceEventName string
	EventID         string
	// ClientID names the client a disconnect event is for; its subscriptions
	// in the organization get the event and are deleted once it is delivered,
	// or at once if they do not subscribe to it.
	ClientID string
	Now      time.Time
}

// PublishResult tells what Publish did with one event.
type PublishResult struct {
	MessageID string
	Duplicate bool
	Messages  int // messages enqueued (0 for a duplicate)
}

// ClaimParams says which messages ClaimMessages leases.
//
// For each ACTIVE subscription, pending messages are leased oldest first
// while fewer than PerSubscription of its messages are leased. For each
// FAILING subscription whose next retry is due and that has no leased
// message, only its oldest pending message is leased. At most Limit messages
// are leased in all, taken round-robin across subscriptions.
type ClaimParams struct {
	Now             time.Time
	Limit           int
	PerSubscription int
	LeaseFor        time.Duration
}

// Delivery is a leased message with what is needed to send it.
type Delivery struct {
	ID               int64 // message row
	LeaseToken       string
	LeasedAt         time.Time
	SubscriptionUUID string
	OrganizationUUID string
	Destination      string
	SigningKey       string
	ContactEmail     string
	EventNames       []string
	Envelope         webhook.Envelope
	Attempts         int // attempts before this one
}

// AttemptResult is the outcome of one delivery attempt.
type AttemptResult struct {
	DeliveryID   int64
	LeaseToken   string
	StartedAt    time.Time
	Duration     time.Duration
	StatusCode   int    // 0 when there was no HTTP response
	ErrorClass   string // "" on success
	ErrorDetail  string
	Reason       string // plain-words reason for notices; "" on success
	ResponseBody []byte // first 1 KiB
}

// Succeeded reports whether the attempt delivered the message.
func (r AttemptResult) Succeeded() bool { return r.ErrorClass == "" }

// Policy carries the retry rules RecordAttempts applies:
//
//   - success: the message is delivered; a FAILING subscription becomes
//     ACTIVE (a "recovered" notice is queued);
//   - first failure of an ACTIVE subscription: it becomes FAILING, the
//     message goes back to the queue, and the next retry is
//     Schedule(failingSince, 1) ("failing" notice, at most one per
//     FailingNoticeEvery per subscription);
//   - failure of the head message of a FAILING subscription: failures+1 and
//     the next retry is Schedule(failingSince, failures); when Schedule
//     reports exhaustion the subscription is deleted, its undelivered
//     messages become dead letters ("deleted" notice).
//
// A failure of a message leased before the subscription started failing
// only returns it to the queue.
type Policy struct {
	Schedule           func(failingSince time.Time, failures int) (next time.Time, ok bool)
	FailingNoticeEvery time.Duration
	Now                time.Time
}

// Message is a queue entry as operators see it.
type Message struct {
	ID               int64
	MessageID        string
	SubscriptionUUID string
	EventName        string
	State            string // pending, leased, delivered, dead
	Attempts         int
	CreatedAt        time.Time
}

// QueueStats describes the delivery queue.
type QueueStats struct {
	Pending, Leased, Dead int
	OldestPending         time.Time // created time of the oldest pending or leased message; zero if none
}

// Message states.
const (
	StatePending   = "pending"
	StateLeased    = "leased"
	StateDelivered = "delivered"
	StateDead      = "dead"
)

// Attempt is one recorded delivery attempt.
type Attempt struct {
	StartedAt    time.Time
	Duration     time.Duration
	StatusCode   int
	ErrorClass   string
	ErrorDetail  string
	ResponseBody []byte
}

// NoticeRecord is an outbox entry with its sending state.
type NoticeRecord struct {
	notify.Notice
	SentAt    time.Time // zero while unsent
	Attempts  int
	LastError string
}
