package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"

	"github.com/pusher-hq/pusher/internal/store"
)

// Queue is the part of the store the engine uses.
type Queue interface {
	ClaimMessages(ctx context.Context, p store.ClaimParams) ([]*store.Delivery, error)
	RecordAndClaim(ctx context.Context, rec store.RecordParams, next store.ClaimParams) ([]*store.Delivery, error)
	ReleaseLeases(ctx context.Context, expiredBefore time.Time) (int, error)
	Prune(ctx context.Context, before time.Time) (int, error)
}

// Engine delivers queued messages. Set the fields, then call Run.
type Engine struct {
	Queue  Queue
	Client *Client
	Logger *slog.Logger

	Schedule           webhook.Schedule // default webhook.ZettleSchedule
	Workers            int              // concurrent attempts in all; default DefaultWorkers
	PerSubscription    int              // concurrent attempts per ACTIVE subscription; default 4 (1 = strict order)
	PerOrganization    int              // concurrent attempts per organization; default DefaultPerOrganization
	PollInterval       time.Duration    // how often due retries are looked for; default 250 ms
	FailingNoticeEvery time.Duration    // at most one "failing" notice per subscription per this; default 24 h
	Retention          time.Duration    // delivered messages and events are pruned after this; default 7 days
	// LeaseFor is how long a claimed message stays leased: an instance that
	// dies holding it delays its redelivery by at most this. Default
	// 3×Client timeout + 30 s. Expired leases are released every
	// min(5 s, LeaseFor/2), and once when Run starts.
	LeaseFor   time.Duration
	Now        func() time.Time            // default time.Now
	OnRecorded func([]store.AttemptResult) // optional, called after each recorded batch (metrics, notices)

	wake     chan struct{}
	initOnce sync.Once
}

func (e *Engine) init() {
	e.initOnce.Do(func() {
		e.wake = make(chan struct{}, 1)
		if e.Schedule == nil {
			e.Schedule = webhook.ZettleSchedule
		}
		if e.Workers <= 0 {
			e.Workers = DefaultWorkers
		}
		if e.PerOrganization <= 0 {
			e.PerOrganization = DefaultPerOrganization
		}
		if e.PerSubscription <= 0 {
			e.PerSubscription = 4
		}
		if e.PollInterval <= 0 {
			e.PollInterval = 250 * time.Millisecond
		}
		if e.FailingNoticeEvery <= 0 {
			e.FailingNoticeEvery = 24 * time.Hour
		}
		if e.Retention <= 0 {
			e.Retention = 7 * 24 * time.Hour
		}
		if e.Now == nil {
			e.Now = time.Now
		}
		if e.Logger == nil {
			e.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

// Notify tells the engine that new messages may be due, so it claims them
// without waiting for the next poll. It never blocks.
func (e *Engine) Notify() {
	e.init()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// leaseFor is how long a claimed message stays leased: long enough for the
// attempt and for recording it, short enough that a stuck worker's message
// is retried soon.
func (e *Engine) leaseFor() time.Duration {
	if e.LeaseFor > 0 {
		return e.LeaseFor
	}
	return DefaultLeaseFor(e.Client.timeout())
}

// DefaultLeaseFor is Engine.LeaseFor when it is zero, for a delivery
// timeout: 3×timeout + 30 s.
func DefaultLeaseFor(timeout time.Duration) time.Duration { return 3*timeout + 30*time.Second }

// Run delivers messages until ctx is cancelled, then stops claiming, lets
// attempts in flight finish (each is bounded by the client timeout), records
// them and returns nil.
func (e *Engine) Run(ctx context.Context) error {
	e.init()
	jobs := make(chan *store.Delivery, e.Workers)
	results := make(chan store.AttemptResult, e.Workers)
	slots := &slots{free: e.Workers}

	var workers sync.WaitGroup
	for range e.Workers {
		workers.Go(func() { e.work(jobs, results, slots) })
	}
	recorded := make(chan struct{})
	go func() { defer close(recorded); e.record(ctx, results, jobs, slots) }()
	maintained := make(chan struct{})
	go func() { defer close(maintained); e.maintain(ctx) }()

	e.claimLoop(ctx, jobs, slots)
	<-recorded // the recorder stops claiming once ctx is cancelled
	close(jobs)
	workers.Wait()
	close(results)
	<-maintained
	return nil
}

// slots counts free workers. Claims reserve slots first, so jobs never
// holds more deliveries than there are workers to take them.
type slots struct {
	mu   sync.Mutex
	free int
}

// reserveAll takes every free slot and returns how many.
func (s *slots) reserveAll() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.free
	s.free = 0
	return n
}

func (s *slots) release(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.free += n
}

func (e *Engine) claimParams(limit int) store.ClaimParams {
	return store.ClaimParams{Now: e.Now(), Limit: limit, PerSubscription: e.PerSubscription,
		PerOrganization: e.PerOrganization, LeaseFor: e.leaseFor()}
}

// Concurrency defaults. An attempt is a goroutine waiting on its
// destination, so there can be many; what keeps one tenant's destinations
// that never answer from taking them all is the per-organization cap (and
// the one slot of a subscription whose last attempt timed out).
const (
	DefaultWorkers         = 512
	DefaultPerOrganization = 64
)

// dispatch hands claimed deliveries to the workers and returns the unused
// part of the reservation.
func dispatch(ds []*store.Delivery, reserved int, jobs chan<- *store.Delivery, s *slots) {
	for _, d := range ds {
		jobs <- d
	}
	s.release(reserved - len(ds))
}

// claimLoop claims as many messages as there are free workers whenever it is
// woken (new messages) or the poll interval passes (due retries). After each
// recorded batch the recorder claims too. It returns when ctx is cancelled.
func (e *Engine) claimLoop(ctx context.Context, jobs chan<- *store.Delivery, s *slots) {
	tick := time.NewTicker(e.PollInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		if n := s.reserveAll(); n > 0 {
			ds, err := e.Queue.ClaimMessages(context.WithoutCancel(ctx), e.claimParams(n))
			if err != nil {
				e.Logger.Error("claim messages", "err", err)
			}
			dispatch(ds, n, jobs, s)
			if len(ds) == n {
				continue // there may be more
			}
		}
		select {
		case <-ctx.Done():
		case <-e.wake:
		case <-tick.C:
		}
	}
}

// work runs attempts until jobs is closed. A worker's slot is free again
// once its attempt's result is queued for recording.
func (e *Engine) work(jobs <-chan *store.Delivery, results chan<- store.AttemptResult, s *slots) {
	for d := range jobs {
		// Sends are not cancelled by shutdown: the client timeout bounds them,
		// and a finished attempt is worth recording.
		out := e.Client.Post(context.Background(), d.Destination, d.SigningKey, d.Envelope)
		results <- e.attemptResult(d, out)
		s.release(1) // after the send, so idle slots mean every result is queued
	}
}

func (e *Engine) attemptResult(d *store.Delivery, out Outcome) store.AttemptResult {
	r := store.AttemptResult{
		DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: out.StartedAt, Duration: out.Duration,
		StatusCode: out.StatusCode, ErrorClass: out.Class, ErrorDetail: out.Detail, Timeout: e.Client.timeout(),
		RetryAfter: out.RetryAfter, ResponseBody: out.Body,
	}
	if !out.OK() {
		e.Logger.Info("delivery failed", "subscription", d.SubscriptionUUID, "messageId", d.Envelope.MessageID,
			"attempt", d.Attempts+1, "reason", r.Failure().Reason(d.Destination))
	}
	return r
}

// record writes results in batches — everything that arrived while the
// previous batch was written goes into the next — and in the same write
// claims the next messages for the free workers (none once ctx is
// cancelled). It returns when ctx is cancelled and no attempt is in flight,
// or when results is closed.
func (e *Engine) record(ctx context.Context, results <-chan store.AttemptResult, jobs chan<- *store.Delivery, s *slots) {
	for {
		batch, ok := e.nextBatch(ctx, results, s)
		if !ok {
			return
		}
		n := 0
		if ctx.Err() == nil {
			n = s.reserveAll()
		}
		rec := store.RecordParams{
			Results: batch, Now: e.Now(),
			Policy: webhook.RetryPolicy{Schedule: e.Schedule, FailingNoticeEvery: e.FailingNoticeEvery,
				MaxRetryAfter: webhook.DefaultMaxRetryAfter},
		}
		ds, err := e.Queue.RecordAndClaim(context.Background(), rec, e.claimParams(n))
		if err != nil {
			// The leases expire and the messages are tried again: at least once.
			e.Logger.Error("record attempts", "err", err, "attempts", len(batch))
		} else if e.OnRecorded != nil {
			e.OnRecorded(batch)
		}
		dispatch(ds, n, jobs, s)
	}
}

// nextBatch waits for at least one result and takes all that are queued. It
// reports false when there will be no more: results is closed, or ctx is
// cancelled and every worker is idle with nothing queued.
func (e *Engine) nextBatch(ctx context.Context, results <-chan store.AttemptResult, s *slots) ([]store.AttemptResult, bool) {
	var first store.AttemptResult
	for {
		select {
		case r, ok := <-results:
			if !ok {
				return nil, false
			}
			first = r
		case <-time.After(e.PollInterval):
			if ctx.Err() != nil && e.idle(s) && len(results) == 0 {
				return nil, false
			}
			continue
		}
		break
	}
	batch := []store.AttemptResult{first}
	for len(batch) < 256 {
		select {
		case r, ok := <-results:
			if !ok {
				return batch, true
			}
			batch = append(batch, r)
		default:
			return batch, true
		}
	}
	return batch, true
}

// idle reports whether no attempt is in flight or queued.
func (e *Engine) idle(s *slots) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.free == e.Workers
}

// releaseExpired returns messages whose lease expired to the queue, such as
// those of an instance that died.
func (e *Engine) releaseExpired(ctx context.Context) {
	if n, err := e.Queue.ReleaseLeases(ctx, e.Now()); err != nil && ctx.Err() == nil {
		e.Logger.Error("release expired leases", "err", err)
	} else if n > 0 {
		e.Logger.Warn("released expired leases", "messages", n)
		e.Notify()
	}
}

// maintain returns expired leases to the queue (at once, then every
// min(5 s, lease/2)) and prunes old data hourly, until ctx is cancelled.
// Both are safe when every instance runs them.
func (e *Engine) maintain(ctx context.Context) {
	e.releaseExpired(ctx)
	release := time.NewTicker(min(5*time.Second, e.leaseFor()/2))
	defer release.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-release.C:
			e.releaseExpired(ctx)
		case <-prune.C:
			if n, err := e.Queue.Prune(ctx, e.Now().Add(-e.Retention)); err != nil && ctx.Err() == nil {
				e.Logger.Error("prune", "err", err)
			} else if n > 0 {
				e.Logger.Info("pruned old events", "events", n)
			}
		}
	}
}
