package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/pusher-hq/pusher/internal/notify"
	"github.com/pusher-hq/pusher/internal/store"
)

// Queue is the part of the store the engine uses.
type Queue interface {
	ClaimMessages(ctx context.Context, p store.ClaimParams) ([]*store.Delivery, error)
	RecordAttempts(ctx context.Context, p store.Policy, results []store.AttemptResult) error
	ReleaseLeases(ctx context.Context, expiredBefore time.Time) (int, error)
	Prune(ctx context.Context, before time.Time) (int, error)
}

// Engine delivers queued messages. Set the fields, then call Run.
type Engine struct {
	Queue  Queue
	Client *Client
	Logger *slog.Logger

	Schedule           Schedule                    // default ZettleSchedule
	Workers            int                         // concurrent attempts in all; default 64
	PerSubscription    int                         // concurrent attempts per ACTIVE subscription; default 4 (1 = strict order)
	PollInterval       time.Duration               // how often due retries are looked for; default 250 ms
	FailingNoticeEvery time.Duration               // at most one "failing" notice per subscription per this; default 24 h
	Retention          time.Duration               // delivered messages and events are pruned after this; default 7 days
	Now                func() time.Time            // default time.Now
	OnRecorded         func([]store.AttemptResult) // optional, called after each recorded batch (metrics, notices)

	wake     chan struct{}
	initOnce sync.Once
}

func (e *Engine) init() {
	e.initOnce.Do(func() {
		e.wake = make(chan struct{}, 1)
		if e.Schedule == nil {
			e.Schedule = ZettleSchedule
		}
		if e.Workers <= 0 {
			e.Workers = 64
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
func (e *Engine) leaseFor() time.Duration { return 3*e.Client.timeout() + 30*time.Second }

// Run delivers messages until ctx is cancelled, then stops claiming, lets
// attempts in flight finish (each is bounded by the client timeout), records
// them and returns nil.
func (e *Engine) Run(ctx context.Context) error {
	e.init()
	jobs := make(chan *store.Delivery, e.Workers)
	results := make(chan store.AttemptResult, e.Workers)
	slots := make(chan struct{}, e.Workers) // one token per attempt in flight

	var workers sync.WaitGroup
	for range e.Workers {
		workers.Go(func() { e.work(jobs, results, slots) })
	}
	recorded := make(chan struct{})
	go func() { defer close(recorded); e.record(results) }()
	maintained := make(chan struct{})
	go func() { defer close(maintained); e.maintain(ctx) }()

	e.claimLoop(ctx, jobs, slots)
	close(jobs)
	workers.Wait()
	close(results)
	<-recorded
	<-maintained
	return nil
}

// claimLoop claims as many messages as there are free workers whenever it is
// woken (new messages, recorded attempts) or the poll interval passes. It
// returns when ctx is cancelled.
func (e *Engine) claimLoop(ctx context.Context, jobs chan<- *store.Delivery, slots chan struct{}) {
	tick := time.NewTicker(e.PollInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		free := cap(slots) - len(slots)
		if free > 0 {
			ds, err := e.Queue.ClaimMessages(context.WithoutCancel(ctx), store.ClaimParams{
				Now: e.Now(), Limit: free, PerSubscription: e.PerSubscription, LeaseFor: e.leaseFor(),
			})
			if err != nil {
				e.Logger.Error("claim messages", "err", err)
			}
			for _, d := range ds {
				slots <- struct{}{}
				jobs <- d
			}
			if len(ds) == free && ctx.Err() == nil {
				continue // there may be more
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-tick.C:
		}
	}
}

// work runs attempts until jobs is closed.
func (e *Engine) work(jobs <-chan *store.Delivery, results chan<- store.AttemptResult, slots <-chan struct{}) {
	for d := range jobs {
		// Sends are not cancelled by shutdown: the client timeout bounds them,
		// and a finished attempt is worth recording.
		out := e.Client.Post(context.Background(), d.Destination, d.SigningKey, d.Envelope)
		results <- e.attemptResult(d, out)
		<-slots
	}
}

func (e *Engine) attemptResult(d *store.Delivery, out Outcome) store.AttemptResult {
	r := store.AttemptResult{
		DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: out.StartedAt, Duration: out.Duration,
		StatusCode: out.StatusCode, ErrorClass: string(out.Class), ErrorDetail: out.Detail, ResponseBody: out.Body,
	}
	if !out.OK() {
		r.Reason = notify.Reason(out.Class, out.StatusCode, d.Destination, out.Detail, e.Client.timeout())
		e.Logger.Info("delivery failed", "subscription", d.SubscriptionUUID, "messageId", d.Envelope.MessageID,
			"attempt", d.Attempts+1, "reason", r.Reason)
	}
	return r
}

// record writes results in batches: everything that arrived while the
// previous batch was written goes into the next. It returns when results is
// closed and drained.
func (e *Engine) record(results <-chan store.AttemptResult) {
	for r := range results {
		batch := []store.AttemptResult{r}
	drain:
		for len(batch) < 256 {
			select {
			case r, ok := <-results:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		p := store.Policy{Schedule: e.Schedule.Next, FailingNoticeEvery: e.FailingNoticeEvery, Now: e.Now()}
		if err := e.Queue.RecordAttempts(context.Background(), p, batch); err != nil {
			// The leases expire and the messages are tried again: at least once.
			e.Logger.Error("record attempts", "err", err, "attempts", len(batch))
			continue
		}
		if e.OnRecorded != nil {
			e.OnRecorded(batch)
		}
		e.Notify()
	}
}

// maintain returns expired leases to the queue every few seconds and prunes
// old data hourly, until ctx is cancelled.
func (e *Engine) maintain(ctx context.Context) {
	release := time.NewTicker(5 * time.Second)
	defer release.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-release.C:
			if n, err := e.Queue.ReleaseLeases(ctx, e.Now()); err != nil && ctx.Err() == nil {
				e.Logger.Error("release expired leases", "err", err)
			} else if n > 0 {
				e.Logger.Warn("released expired leases", "messages", n)
				e.Notify()
			}
		case <-prune.C:
			if n, err := e.Queue.Prune(ctx, e.Now().Add(-e.Retention)); err != nil && ctx.Err() == nil {
				e.Logger.Error("prune", "err", err)
			} else if n > 0 {
				e.Logger.Info("pruned old events", "events", n)
			}
		}
	}
}
