package store

import (
	"context"
	"slices"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// DeliveryLog is the part of the store behind pusher's extension API and
// dashboard: the delivery log, redelivery, replay, key rotation and
// settings (docs/extensions.md). Ownership is checked by the caller: these
// methods take subscription UUIDs, which are unique across organizations.
type DeliveryLog interface {
	// SubscriptionByUUID returns the subscription with uuid in any
	// organization, or NotFound.
	SubscriptionByUUID(ctx context.Context, uuid string) (*webhook.Subscription, error)
	// OrganizationSubscriptions returns every subscription of org, of every
	// client, oldest first; org "" means every organization.
	OrganizationSubscriptions(ctx context.Context, org string) ([]*webhook.Subscription, error)
	// DeletedSubscription returns what is kept of a deleted subscription
	// (by its owner or after its retries ran out) while its dead letters
	// are retained, or NotFound.
	DeletedSubscription(ctx context.Context, uuid string) (DeletedSubscription, error)
	// SaveSigning writes s.SigningKey, s.PreviousSigningKey,
	// s.PreviousKeyExpires and s.Updated of the subscription with s.UUID
	// and nothing else (not its settings: see SaveSettings), and in the
	// same transaction queues notices in the outbox, due at once (a key
	// rotation's operator notice). It returns NotFound, and queues
	// nothing, if there is no such subscription.
	SaveSigning(ctx context.Context, s *webhook.Subscription, notices ...webhook.Notice) error
	// SaveSettings writes settings as the settings of the subscription
	// with uuid and nothing else: not its signing keys (see SaveSigning)
	// nor its updated time, which settings never change. NotFound if
	// there is no such subscription.
	SaveSettings(ctx context.Context, uuid string, settings webhook.Settings) error

	// LogMessages returns the messages f selects, newest first (by row id
	// descending), at most f.Limit.
	LogMessages(ctx context.Context, f MessageFilter) ([]LogMessage, error)
	// LogMessage returns one message of a subscription (deleted or not) by
	// its messageId, with its envelope and attempts (oldest first), or
	// NotFound.
	LogMessage(ctx context.Context, subscriptionUUID, messageID string) (LogMessage, error)
	// AttemptStats summarises the attempts of a subscription started at or
	// after since, and counts its undelivered messages.
	AttemptStats(ctx context.Context, subscriptionUUID string, since time.Time) (AttemptStats, error)

	// Redeliver makes a message of a subscription due at now: a delivered
	// or dead message becomes pending again (its attempts are kept), a
	// pending or leased one is left as it is, and a FAILING subscription
	// whose next retry is after now is retried at now (its probe is its
	// oldest pending message). webhook.ErrSubscriptionNotFound if the
	// subscription does not exist, ErrMessageNotFound if it has no such
	// message.
	Redeliver(ctx context.Context, subscriptionUUID, messageID string, now time.Time) error
	// Replay queues retained events for a subscription (see ReplayParams).
	// A call with an IdempotencyKey already used for the subscription
	// returns the first call's count with Repeated set and queues nothing;
	// with a different RequestHash it returns Unprocessable.
	Replay(ctx context.Context, p ReplayParams) (ReplayResult, error)
}

// TypeMessageNotFound is the errorType of ErrMessageNotFound.
const TypeMessageNotFound = "MESSAGE_NOT_FOUND"

// ErrMessageNotFound is the NotFound error of a messageId that a
// subscription has no message of.
func ErrMessageNotFound(messageID string) *webhook.Error {
	return webhook.TypedErrorf(webhook.NotFound, TypeMessageNotFound, "Message %s not found", messageID)
}

// ErrIdempotencyKeyReused is Replay's Unprocessable error for an
// idempotency key used before with another request.
func ErrIdempotencyKeyReused() *webhook.Error {
	const msg = "The idempotency key was used with a different request"
	return &webhook.Error{Code: webhook.Unprocessable, Type: webhook.TypeValidationError, Message: msg,
		Violations: []webhook.Violation{{PropertyName: "idempotencyKey", DeveloperMessage: msg, ConstraintType: "IDEMPOTENCY_KEY_REUSED"}}}
}

// Log states of a message (LogMessage.State), as the extension API shows
// them. Queue states map to them with LogState.
const (
	LogPending   = "pending"   // undelivered, never tried (or in its first attempt)
	LogFailing   = "failing"   // undelivered, at least one attempt failed
	LogDelivered = "delivered" // a receiver answered 2xx
	LogDead      = "dead"      // its subscription was deleted before delivery
)

// LogState is the log state of a message in queue state with attempts
// finished attempts.
func LogState(queueState string, attempts int) string {
	switch queueState {
	case StateDelivered:
		return LogDelivered
	case StateDead:
		return LogDead
	}
	if attempts > 0 {
		return LogFailing
	}
	return LogPending
}

// QueueSelection selects the messages of one queue state, by their
// attempts: of some log states (QueueSelections).
type QueueSelection struct {
	State    string // a queue state: StatePending, StateLeased, StateDelivered, StateDead
	Attempts AttemptCount
}

// AttemptCount narrows a QueueSelection by the attempts of its messages.
type AttemptCount int

// The AttemptCount conditions.
const (
	AnyAttempts  AttemptCount = iota
	NoAttempts                // attempts = 0
	SomeAttempts              // attempts > 0
)

// QueueSelections returns the selections whose messages have one of the
// log states states (the inverse of LogState), in queue-state order; nil
// for no states (every message). An unknown state is Invalid.
func QueueSelections(states []string) ([]QueueSelection, error) {
	if len(states) == 0 {
		return nil, nil
	}
	var pending, failing, delivered, dead bool
	for _, st := range states {
		switch st {
		case LogPending:
			pending = true
		case LogFailing:
			failing = true
		case LogDelivered:
			delivered = true
		case LogDead:
			dead = true
		default:
			return nil, webhook.Errorf(webhook.Invalid, "Unknown message state %q", st)
		}
	}
	var out []QueueSelection
	if pending || failing {
		n := AnyAttempts
		switch {
		case !failing:
			n = NoAttempts
		case !pending:
			n = SomeAttempts
		}
		out = append(out, QueueSelection{StatePending, n}, QueueSelection{StateLeased, n})
	}
	if delivered {
		out = append(out, QueueSelection{StateDelivered, AnyAttempts})
	}
	if dead {
		out = append(out, QueueSelection{StateDead, AnyAttempts})
	}
	return out, nil
}

// MaxSplitSubscriptions is how many subscriptions a LogMessages read
// splits into parts at most (PlanLogRead); a filter of more reads the
// messages newest first instead.
const MaxSplitSubscriptions = 32

// LogPart is one part of a LogMessages read: the messages of one
// subscription ("" for any) in one queue selection (nil for any state),
// newest first, at most the filter's Limit.
type LogPart struct {
	SubscriptionUUID string
	Selection        *QueueSelection
}

// LogRead is how a driver reads LogMessages for a filter: every part of
// Parts that matches the filter, merged newest first, at most its Limit.
type LogRead struct {
	Parts []LogPart // none: there is nothing to read
	// ByClient is set when the parts must also be narrowed to the filter's
	// client's subscriptions: its ClientID is set and Parts were not listed
	// from that client's subscriptions.
	ByClient bool
}

// PlanLogRead plans the LogMessages read of f: one part per queue
// selection of f.States and, for a filter of a subscription, or of an
// organization or client with at most MaxSplitSubscriptions
// subscriptions, per subscription; one part per selection over every
// subscription otherwise. list returns the uuids of the subscriptions,
// live and deleted, of f's organization (and of f's client if set), at
// most limit of them; it is called only for a filter of an organization
// or client that names no subscription. Errors: QueueSelections' Invalid
// for an unknown state, and list's.
func PlanLogRead(f MessageFilter, list func(limit int) ([]string, error)) (LogRead, error) {
	sels, err := QueueSelections(f.States)
	if err != nil || f.Limit <= 0 {
		return LogRead{}, err
	}
	subs, err := splitSubscriptions(f, list)
	if err != nil || (subs != nil && len(subs) == 0) {
		return LogRead{}, err
	}
	read := LogRead{ByClient: f.ClientID != "" && (subs == nil || f.SubscriptionUUID != "")}
	if subs == nil {
		subs = []string{""}
	}
	for _, sub := range subs {
		if len(sels) == 0 {
			read.Parts = append(read.Parts, LogPart{SubscriptionUUID: sub})
		}
		for i := range sels {
			read.Parts = append(read.Parts, LogPart{SubscriptionUUID: sub, Selection: &sels[i]})
		}
	}
	return read, nil
}

// splitSubscriptions returns the subscriptions a LogMessages read of f
// is split into (see PlanLogRead), none if there are none, or nil to read
// every subscription's messages at once.
func splitSubscriptions(f MessageFilter, list func(limit int) ([]string, error)) ([]string, error) {
	switch {
	case f.SubscriptionUUID != "":
		return []string{f.SubscriptionUUID}, nil
	case f.ClientID == "" && f.OrganizationUUID == "":
		return nil, nil
	}
	subs, err := list(MaxSplitSubscriptions + 1)
	if err != nil || len(subs) > MaxSplitSubscriptions {
		return nil, err
	}
	if subs == nil {
		subs = []string{}
	}
	return subs, nil
}

// MessageFilter selects messages for LogMessages.
type MessageFilter struct {
	// OrganizationUUID "" means every organization (an operator's view);
	// ClientID "" means every client. A client's messages are those of its
	// subscriptions, live or deleted (DeletedSubscription).
	OrganizationUUID string
	ClientID         string
	// SubscriptionUUID "" means every subscription of the organization
	// (and client), deleted ones included.
	SubscriptionUUID string
	States           []string // log states; empty means all
	EventName        string   // "" means all
	Since, Until     time.Time
	// Before is a cursor: only rows with an id below it (0: from the newest).
	Before int64
	Limit  int // at most this many; 0 or less returns none
}

// LogMessage is a message as the delivery log shows it.
type LogMessage struct {
	ID               int64 // row id, the cursor of MessageFilter.Before
	MessageID        string
	SubscriptionUUID string
	EventName        string
	State            string // a Log… state
	Attempts         int
	CreatedAt        time.Time
	FinishedAt       time.Time // delivered or dead; zero otherwise
	LastAttempt      *Attempt  // nil before the first attempt
	// NextAttemptAt is when an undelivered message is tried next if the
	// store knows it (its subscription's next retry while FAILING); zero
	// otherwise (as soon as a worker is free).
	NextAttemptAt time.Time

	// Set by LogMessage only.
	OrganizationUUID string    // of its event
	Envelope         []byte    // the envelope as delivered
	AttemptList      []Attempt // oldest first
}

// MessagesByRow returns the row ids of ms, in order, and ms by row id
// (pointers into ms): for a driver setting their LastAttempt.
func MessagesByRow(ms []LogMessage) (ids []int64, byRow map[int64]*LogMessage) {
	ids = make([]int64, len(ms))
	byRow = make(map[int64]*LogMessage, len(ms))
	for i := range ms {
		ids[i], byRow[ms[i].ID] = ms[i].ID, &ms[i]
	}
	return ids, byRow
}

// SetAttemptList sets m's AttemptList to attempts (oldest first; nil is
// made empty) and its LastAttempt to the last of them, if any.
func (m *LogMessage) SetAttemptList(attempts []Attempt) {
	if attempts == nil {
		attempts = []Attempt{}
	}
	m.AttemptList = attempts
	if n := len(attempts); n > 0 {
		last := attempts[n-1]
		m.LastAttempt = &last
	}
}

// MaxStatsDurations is how many attempt durations AttemptStats returns at
// most.
const MaxStatsDurations = 100_000

// AttemptStats summarises a subscription's recent attempts.
type AttemptStats struct {
	Delivered, Failed int
	// Durations of the attempts, any order, at most the 100,000 most recent.
	Durations []time.Duration
	Backlog   int // undelivered messages (pending, leased)
}

// Latencies returns the nearest-rank p50, p95 and p99 of s.Durations, and
// false when there are none.
func (s AttemptStats) Latencies() (p50, p95, p99 time.Duration, ok bool) {
	if len(s.Durations) == 0 {
		return 0, 0, 0, false
	}
	d := slices.Clone(s.Durations)
	slices.Sort(d)
	return Percentile(d, 50), Percentile(d, 95), Percentile(d, 99), true
}

// Percentile returns the nearest-rank p-th percentile (1 ≤ p ≤ 100) of
// sorted, which is in ascending order: the smallest value that at least
// p% of the values are less than or equal to. Zero for no values.
func Percentile(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (p*n + 99) / 100 // ceil(p/100 × n), in integers
	return sorted[min(max(rank, 1), n)-1]
}

// DeletedSubscription is what is kept of a deleted subscription.
type DeletedSubscription struct {
	UUID, OrganizationUUID, ClientID string
	EventNames                       []string
	Destination                      string
	DeletedAt                        time.Time
	Exhausted                        bool // deleted because its retries ran out
}

// ReplayParams select the events Replay queues for SubscriptionUUID: those
// of OrganizationUUID created in [Since, Until), with a name in EventNames
// (nil: every name; empty: none), and, when FromSubscriptionUUID is set, only those that
// are dead letters of that subscription. EventNames may be given as
// subscribed (PersonalAssertionDeleted) or as delivered; events are matched
// by their delivered name. Each is queued with its original messageId, in
// the order the events were published: a new pending message, or a
// delivered or dead one made pending again (its attempts kept); one
// already pending or leased is left alone. DryRun counts and changes
// nothing; its IdempotencyKey is neither checked nor kept.
type ReplayParams struct {
	SubscriptionUUID     string
	OrganizationUUID     string
	EventNames           []string
	Since, Until         time.Time
	FromSubscriptionUUID string
	DryRun               bool
	IdempotencyKey       string // "" for none; kept with the result until pruned
	RequestHash          string // tells a repeated request from another with the same key
	Now                  time.Time
}

// DeliveredEventNames is p.EventNames by their delivered names
// (webhook.DeliveredName), which events are matched by; nil for every
// name.
func (p ReplayParams) DeliveredEventNames() []string {
	if p.EventNames == nil {
		return nil
	}
	names := make([]string, len(p.EventNames))
	for i, n := range p.EventNames {
		names[i] = webhook.DeliveredName(n)
	}
	return names
}

// RepeatedReplay is Replay's answer to p when its idempotency key was used
// before, by a request of hash that selected count events: that count
// again, Repeated, or ErrIdempotencyKeyReused if hash is not p's.
func RepeatedReplay(p ReplayParams, hash string, count int) (ReplayResult, error) {
	if hash != p.RequestHash {
		return ReplayResult{Count: count}, ErrIdempotencyKeyReused()
	}
	return ReplayResult{Count: count, Repeated: true}, nil
}

// ReplayResult is what Replay did.
type ReplayResult struct {
	Count    int  // events selected
	Repeated bool // the idempotency key was used before: nothing was queued now
}
