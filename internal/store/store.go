// Package store defines the storage contract that pusher's database drivers
// implement (store/sqlite, the embedded default, and store/postgres, for N
// instances on one database). Every method's behaviour, including the
// webhook.Code of its errors, is specified by the conformance suite in
// store/storetest. Code outside cmd/pusher depends on the narrower interfaces
// it needs rather than on Store.
//
// Drivers read and write; they decide nothing. The state changes after an
// attempt come from webhook.Subscription.AfterAttempt, the disconnect rule
// from webhook.Subscription.WantsDisconnect and the error texts from
// package webhook. Every time a method stores comes from its parameters: no
// driver reads the wall clock.
package store

import (
	"context"
	"time"

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
	// undelivered messages become dead letters finished at now. It returns
	// NotFound if there is no such subscription.
	DeleteSubscription(ctx context.Context, org, clientID, uuid string, now time.Time) error

	// Publish records events and one pending message per matching
	// subscription, all or nothing, and returns for each event whether it was
	// new. An event whose MessageID was published before is a duplicate: it
	// is not stored again and gets no messages.
	Publish(ctx context.Context, events []Event) ([]PublishResult, error)

	// ClaimMessages leases due messages for delivery (see ClaimParams).
	// With an error it returns no deliveries: nothing was leased.
	ClaimMessages(ctx context.Context, p ClaimParams) ([]*Delivery, error)
	// RecordAndClaim writes the outcome of attempts, each fenced by its
	// lease (a result whose lease is no longer held is ignored): the attempt
	// row, the message delivered or pending again, and the subscription's
	// webhook.Transition (from AfterAttempt with rec.Policy at rec.Now),
	// including its notice. A result for a subscription deleted meanwhile is
	// recorded as an attempt only. Then, in the same transaction, it claims
	// messages as ClaimMessages does with next, so a subscription's next
	// messages are leased in the same commit that freed its slots.
	// next.Limit 0 claims nothing. With an error it returns no deliveries.
	RecordAndClaim(ctx context.Context, rec RecordParams, next ClaimParams) ([]*Delivery, error)
	// ReleaseLeases returns leased messages whose lease expired before
	// expiredBefore to the queue and returns how many. Unexpired leases are
	// never touched: another instance may hold them.
	ReleaseLeases(ctx context.Context, expiredBefore time.Time) (int, error)

	// Messages returns the messages of a subscription with the given state
	// ("" for all), oldest first.
	Messages(ctx context.Context, subscriptionUUID, state string) ([]Message, error)
	// QueueStats counts messages by state (delivered ones excluded) and
	// finds the oldest undelivered one, for monitoring.
	QueueStats(ctx context.Context) (QueueStats, error)
	// Attempts returns the attempts of a message row, oldest first.
	Attempts(ctx context.Context, messageRow int64) ([]Attempt, error)

	// DueNotices returns up to limit unsent notices whose next send time is
	// <= now, oldest first, and leases them: their next send time becomes
	// now+NoticeLease, so no other caller gets them until then (every
	// instance may run a sender; a notice is mailed once). With
	// MarkNoticeSent and MarkNoticeFailed it implements notify.Outbox.
	DueNotices(ctx context.Context, now time.Time, limit int) ([]webhook.Notice, error)
	MarkNoticeSent(ctx context.Context, id int64, at time.Time) error
	MarkNoticeFailed(ctx context.Context, id int64, errText string, retryAt time.Time) error
	// Notices returns the most recent notices, newest first, sent or not.
	Notices(ctx context.Context, limit int) ([]NoticeRecord, error)

	// AllSubscriptions returns every subscription of every organization with
	// its signing key and failure state, oldest first (for pusher copy).
	AllSubscriptions(ctx context.Context) ([]*webhook.Subscription, error)
	// UndeliveredMessages returns up to limit messages that are not
	// delivered (pending, leased or dead) with a row id above after, by row
	// id, each with its event (for pusher copy).
	UndeliveredMessages(ctx context.Context, after int64, limit int) ([]MessageRecord, error)
	// UnsentNotices returns every notice not sent yet, oldest first (for
	// pusher copy).
	UnsentNotices(ctx context.Context) ([]webhook.Notice, error)
	// Import writes what another store exported, keeping what is already
	// there: a subscription whose uuid exists, a message whose (messageId,
	// subscription) exists, an event whose messageId exists, a notice
	// with the same subscription, kind, creation time and channel and a message's
	// Tombstone whose uuid has one are skipped, so an import can be
	// repeated. Leased messages are imported as pending.
	Import(ctx context.Context, b ImportBatch) (ImportCounts, error)

	// Prune deletes what is older than before: delivered messages and dead
	// letters finished before it with their attempts, sent notices, and
	// events created before it that no message refers to any more (so
	// re-posting such an event is no longer a duplicate), the
	// DeletedSubscription of subscriptions deleted before it that have no
	// dead letters left, and Replay idempotency keys created before it.
	// Pending and leased messages and unsent notices are kept. It returns
	// the number of events deleted.
	Prune(ctx context.Context, before time.Time) (int, error)
	// DeliveryLog is what integrators and operators read and do through
	// pusher's extension API and dashboard (docs/extensions.md).
	DeliveryLog
	// Activity is what the operator dashboard charts (activity.go).
	Activity

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// NoticeLease is how long DueNotices holds the notices it returned.
const NoticeLease = time.Minute

// RecordParams are the attempt results RecordAndClaim writes and the policy
// their subscriptions' transitions are decided with.
type RecordParams struct {
	Results []AttemptResult
	Policy  webhook.RetryPolicy
	Now     time.Time
	// Release returns leased messages that were never sent to the queue,
	// after the results and before the claim: each is pending again with
	// its lease cleared and its attempts unchanged, only while it is still
	// leased with that token (a lease that expired and was claimed again is
	// not touched). The subscription is not changed, so a FAILING one's
	// released messages wait for its next retry like any other.
	Release []Lease
}

// Lease names a leased message: its row and the token of its lease.
type Lease struct {
	DeliveryID int64
	LeaseToken string
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
// while fewer than PerSubscription of its messages are leased (1 while
// its LastAttemptTimedOut or its Settings.StrictOrder is set). For each
// FAILING subscription whose next retry is due and that has no leased
// message, only its oldest pending message is leased.
//
// An organization's leased messages count toward PerOrganization (0 = no
// limit), so one tenant's slow destinations cannot take every worker; with
// InFlight set, a subscription's count up to InFlight only: the requests it
// may have at a time (the engine's per-subscription cap), not the leased
// messages waiting behind them, so a subscription leasing ahead does not
// crowd out the others of its organization. Claims stop at the cap.
//
// At most Limit messages are leased in all, taken round-robin across
// subscriptions.
type ClaimParams struct {
	Now             time.Time
	Limit           int
	PerSubscription int
	PerOrganization int
	InFlight        int // 0: every leased message counts toward PerOrganization
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

	// The subscription's rotation state and settings, for Keys.
	PreviousSigningKey string
	PreviousKeyExpires time.Time
	StandardWebhooks   bool
	StrictOrder        bool // the claim leased at most one message of the subscription
}

// Keys returns what the delivery is signed with at now.
func (d *Delivery) Keys(now time.Time) webhook.Keys {
	return webhook.SigningKeys(d.SigningKey, d.PreviousSigningKey, d.PreviousKeyExpires, d.StandardWebhooks, now)
}

// AttemptResult is the outcome of one delivery attempt.
type AttemptResult struct {
	DeliveryID   int64
	LeaseToken   string
	StartedAt    time.Time
	Duration     time.Duration
	StatusCode   int           // 0 when there was no HTTP response
	ErrorClass   webhook.Class // "" on success
	ErrorDetail  string
	Timeout      time.Duration // the delivery timeout in force
	RetryAfter   time.Duration // Retry-After of a 429 or 503 answer; 0 if none
	ResponseBody []byte        // first 1 KiB
	RemoteAddr   string        // IP:port dialled; "" if no connection was made
}

// Succeeded reports whether the attempt delivered the message.
func (r AttemptResult) Succeeded() bool { return r.ErrorClass == "" }

// Failure returns what went wrong, for AfterAttempt and notices.
func (r AttemptResult) Failure() webhook.Failure {
	return webhook.Failure{Class: r.ErrorClass, StatusCode: r.StatusCode, Detail: r.ErrorDetail, Timeout: r.Timeout}
}

// MessageRecord is an undelivered message with its event, as copied from
// one store to another.
type MessageRecord struct {
	ID               int64 // row id in the exporting store; used for paging only
	Event            Event // Now is the event's creation time
	SubscriptionUUID string
	State            string // pending, leased or dead
	Attempts         int
	ThenDelete       bool // a disconnect event: delete the subscription once delivered
	CreatedAt        time.Time
	FinishedAt       time.Time // dead letters: when they died
	// Tombstone is what is kept of the deleted subscription of a dead
	// letter (see DeliveryLog.DeletedSubscription), so that it stays
	// readable in the store imported into; nil for other messages.
	Tombstone *DeletedSubscription
}

// ImportBatch is a part of another store's state for Import.
type ImportBatch struct {
	Subscriptions []*webhook.Subscription
	Messages      []MessageRecord
	Notices       []webhook.Notice
}

// ImportCounts says how many of an ImportBatch's items Import wrote; the
// rest existed already.
type ImportCounts struct {
	Subscriptions, Messages, Notices int
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
	ErrorClass   webhook.Class
	ErrorDetail  string
	RetryAfter   time.Duration
	ResponseBody []byte
	RemoteAddr   string // IP:port dialled; "" if no connection was made
}

// NoticeRecord is an outbox entry with its sending state.
type NoticeRecord struct {
	webhook.Notice
	SentAt    time.Time // zero while unsent
	Attempts  int
	LastError string
}
