package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
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

// Poster sends one attempt and classifies its outcome; *Client is the
// Poster of pusher serve. Post must return within its own timeout (the
// engine does not cancel ctx) and must not fail otherwise: every failure is
// an Outcome. keys are what the attempt is signed with (store.Delivery.Keys
// at the attempt): X-iZettle-Signature with keys.Current, and the
// rotation and Standard Webhooks headers when keys ask for them.
type Poster interface {
	Post(ctx context.Context, destination string, keys webhook.Keys, env webhook.Envelope) Outcome
}

// Defaults of the Engine's zero fields, and of pusher serve's flags.
const (
	// DefaultWorkers and DefaultPerOrganization: an attempt is a goroutine
	// waiting on its destination, so there can be many; what keeps one
	// tenant's destinations that never answer from taking them all is the
	// per-organization cap (and the one slot of a subscription whose last
	// attempt timed out).
	DefaultWorkers         = 512
	DefaultPerOrganization = 64
	DefaultPerSubscription = 4 // 1 would be strict per-subscription order
	DefaultLeaseAhead      = 16

	DefaultPollInterval       = 250 * time.Millisecond
	DefaultFailingNoticeEvery = 24 * time.Hour
	DefaultRetention          = 7 * 24 * time.Hour
	DefaultPruneInterval      = time.Hour
	// maxReleaseInterval caps the default ReleaseInterval.
	maxReleaseInterval = 5 * time.Second
)

// Engine delivers queued messages. Set the fields, then call Run.
type Engine struct {
	Queue  Queue
	Client Poster // usually a *Client
	// Timeout is Client's per-attempt timeout: it is recorded with each
	// attempt (a notice says "no answer within …") and is the base of the
	// default LeaseFor. Zero means the Timeout of a *Client, or
	// DefaultTimeout for another Poster.
	Timeout time.Duration
	Logger  *slog.Logger

	Schedule webhook.Schedule // default webhook.ZettleSchedule
	Workers  int              // concurrent attempts in all; default DefaultWorkers
	// PerSubscription is how many attempts of one ACTIVE subscription this
	// engine has in flight at a time; default DefaultPerSubscription (1 =
	// strict order).
	PerSubscription int
	// LeaseAhead: the store leases up to PerSubscription × LeaseAhead
	// messages of a subscription, so that an attempt's slot is free for the
	// next POST once the attempt ends, not once its result is committed;
	// the messages beyond PerSubscription wait in the engine, and are given
	// back unsent after a failure or on shutdown. It also multiplies the
	// leased messages the engine holds in all (Workers × LeaseAhead, of
	// which Workers are posted at a time). Default DefaultLeaseAhead; 1
	// turns it off; with PerSubscription 1 it is off, to keep strict order.
	//
	// The cap on concurrent requests is each engine's own: the store bounds
	// a subscription's leased messages, not its requests, so with N
	// instances on one database a destination may see up to
	// min(N × PerSubscription, PerSubscription × LeaseAhead) requests of one
	// subscription at a time. A kill -9 loses the results not committed
	// yet: up to PerSubscription × LeaseAhead messages of a subscription are
	// sent again (at least once). PerOrganization counts a subscription's
	// leased messages up to PerSubscription: those it may have in flight,
	// not the ones waiting behind them.
	LeaseAhead         int
	PerOrganization    int           // messages in flight per organization (leased, up to PerSubscription per subscription); default DefaultPerOrganization
	PollInterval       time.Duration // how often due retries are looked for; default DefaultPollInterval
	FailingNoticeEvery time.Duration // at most one "failing" notice per subscription per this; default DefaultFailingNoticeEvery
	OperatorSink       bool          // queue operator-sink copies of the notices too (webhook.RetryPolicy.OperatorSink)
	Retention          time.Duration // delivered messages and events are pruned after this; default DefaultRetention
	PruneInterval      time.Duration // how often data older than Retention is pruned; default DefaultPruneInterval
	// LeaseFor is how long a claimed message stays leased: an instance that
	// dies holding it delays its redelivery by at most this plus
	// ReleaseInterval. Default DefaultLeaseFor(Timeout).
	LeaseFor time.Duration
	// ReleaseInterval is how often expired leases are returned to the
	// queue (and once when Run starts); default min(5 s, LeaseFor/2).
	ReleaseInterval time.Duration
	Now             func() time.Time            // default time.Now
	OnRecorded      func([]store.AttemptResult) // optional, called after each recorded batch (metrics, notices)

	wake     chan struct{}
	initOnce sync.Once
	// outdated: subscription uuid → when its leases taken before went out
	// of date (a key rotation, a recorded failure); see outdate.
	outdated sync.Map
	outdates atomic.Uint64 // calls of outdate, to prune outdated now and then
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
			e.PerSubscription = DefaultPerSubscription
		}
		if e.LeaseAhead <= 0 {
			e.LeaseAhead = DefaultLeaseAhead
		}
		if e.PollInterval <= 0 {
			e.PollInterval = DefaultPollInterval
		}
		if e.FailingNoticeEvery <= 0 {
			e.FailingNoticeEvery = DefaultFailingNoticeEvery
		}
		if e.Retention <= 0 {
			e.Retention = DefaultRetention
		}
		if e.PruneInterval <= 0 {
			e.PruneInterval = DefaultPruneInterval
		}
		if e.Timeout <= 0 {
			e.Timeout = DefaultTimeout
			if c, ok := e.Client.(*Client); ok {
				e.Timeout = c.timeout()
			}
		}
		if e.LeaseFor <= 0 {
			e.LeaseFor = DefaultLeaseFor(e.Timeout)
		}
		if e.ReleaseInterval <= 0 {
			e.ReleaseInterval = max(min(maxReleaseInterval, e.LeaseFor/2), time.Millisecond)
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

// DefaultLeaseFor is Engine.LeaseFor when it is zero, for a delivery
// timeout: 3×timeout + 30 s, long enough for the attempt and for recording
// it, short enough that a stuck worker's message is retried soon.
func DefaultLeaseFor(timeout time.Duration) time.Duration { return 3*timeout + 30*time.Second }

// Run delivers messages until ctx is cancelled, then stops claiming, lets
// attempts in flight finish (each is bounded by the client timeout), records
// them, releases the messages it leased ahead unsent and returns nil.
func (e *Engine) Run(ctx context.Context) error {
	e.init()
	p := newPipeline(ctx, e)

	var workers sync.WaitGroup
	for range e.Workers {
		workers.Go(p.work)
	}
	recorded := make(chan struct{})
	go func() { defer close(recorded); e.record(ctx, p) }()
	maintained := make(chan struct{})
	go func() { defer close(maintained); e.maintain(ctx) }()

	e.claimLoop(ctx, p)
	<-recorded // the recorder stops claiming once ctx is cancelled
	close(p.jobs)
	workers.Wait()
	close(p.results)
	<-maintained
	return nil
}

// depth is how many messages of one subscription are leased at most:
// PerSubscription × LeaseAhead, or 1 for strict order.
func (e *Engine) depth() int {
	if e.PerSubscription == 1 {
		return 1
	}
	return e.PerSubscription * e.LeaseAhead
}

// held is how many leased messages the engine holds at most.
func (e *Engine) held() int {
	if e.PerSubscription == 1 {
		return e.Workers
	}
	return e.Workers * e.LeaseAhead
}

func (e *Engine) claimParams(limit int) store.ClaimParams {
	return store.ClaimParams{Now: e.Now(), Limit: limit, PerSubscription: e.depth(),
		PerOrganization: e.PerOrganization, InFlight: e.PerSubscription, LeaseFor: e.LeaseFor}
}

// claimLoop claims as many messages as there are free slots whenever it is
// woken (new messages) or the poll interval passes (due retries). After each
// recorded batch the recorder claims too. It returns when ctx is cancelled.
func (e *Engine) claimLoop(ctx context.Context, p *pipeline) {
	tick := time.NewTicker(e.PollInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		if n := p.slots.reserveAll(); n > 0 {
			ds, err := e.Queue.ClaimMessages(context.WithoutCancel(ctx), e.claimParams(n))
			if err != nil {
				e.Logger.Error("claim messages", "err", err)
				ds = nil // nothing of a failed claim is leased
			}
			rel := p.dispatch(ds, n)
			p.send(report{release: rel}, len(rel))
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

// attempt posts d. A panic in Post (a transport bug, a nil in an envelope)
// is logged with its stack and becomes a failed attempt of class other, so
// it costs one attempt instead of the process and every attempt in flight.
func (e *Engine) attempt(d *store.Delivery) (out Outcome) {
	start := e.Now()
	defer func() {
		if v := recover(); v != nil {
			e.Logger.Error("panic in delivery attempt", "subscription", d.SubscriptionUUID,
				"messageId", d.Envelope.MessageID, "panic", v, "stack", string(debug.Stack()))
			out = Outcome{StartedAt: start, Duration: e.Now().Sub(start), Class: webhook.ClassOther, Detail: fmt.Sprint("panic: ", v)}
		}
	}()
	// Sends are not cancelled by shutdown: the client timeout bounds them,
	// and a finished attempt is worth recording.
	return e.Client.Post(context.Background(), d.Destination, d.Keys(e.Now()), d.Envelope)
}

func (e *Engine) attemptResult(d *store.Delivery, out Outcome) store.AttemptResult {
	r := store.AttemptResult{
		DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: out.StartedAt, Duration: out.Duration,
		StatusCode: out.StatusCode, ErrorClass: out.Class, ErrorDetail: out.Detail, Timeout: e.Timeout,
		RetryAfter: out.RetryAfter, ResponseBody: out.Body, RemoteAddr: out.RemoteAddr,
	}
	if !out.OK() {
		e.Logger.Info("delivery failed", "subscription", d.SubscriptionUUID, "messageId", d.Envelope.MessageID,
			"attempt", d.Attempts+1, "reason", r.Failure().Reason(d.Destination))
	}
	return r
}

// record writes results and releases in batches — everything that
// arrived while the previous batch was written goes into the next — and in
// the same write claims the next messages for the free slots (none once
// ctx is cancelled). It returns when ctx is cancelled and the engine holds
// nothing (every report written), or when results is closed.
func (e *Engine) record(ctx context.Context, p *pipeline) {
	var carry []store.Lease // releases of the recorder's own claims, for the next batch
	for {
		batch, ok := e.nextBatch(ctx, p, len(carry) == 0)
		if !ok {
			return
		}
		var (
			results []store.AttemptResult
			failed  []string
		)
		release := carry
		carry = nil
		for _, r := range batch {
			if r.attempted {
				results = append(results, r.result)
				if !r.result.Succeeded() {
					failed = append(failed, r.sub)
				}
			}
			release = append(release, r.release...)
		}
		n := 0
		if ctx.Err() == nil {
			n = p.slots.reserveAll()
		}
		rec := store.RecordParams{
			Results: results, Release: release, Now: e.Now(),
			Policy: webhook.RetryPolicy{Schedule: e.Schedule, FailingNoticeEvery: e.FailingNoticeEvery,
				MaxRetryAfter: webhook.DefaultMaxRetryAfter, OperatorSink: e.OperatorSink},
		}
		ds, err := e.Queue.RecordAndClaim(context.Background(), rec, e.claimParams(n))
		if err != nil {
			// The leases expire and the messages are tried again: at least once.
			e.Logger.Error("record attempts", "err", err, "attempts", len(results), "releases", len(release))
			ds = nil // nothing of a failed claim is leased
		} else if e.OnRecorded != nil && len(results) > 0 {
			e.OnRecorded(results)
		}
		p.recorded(failed)
		// The recorder does not send to results, which it alone drains:
		// what its claim must release goes into its next batch.
		carry = p.dispatch(ds, n)
		p.slots.release(len(carry))
	}
}

// nextBatch waits for at least one report (if wait is set) and takes all
// that are queued. It reports false when there will be no more: results is
// closed, or ctx is cancelled and the engine holds nothing, every report
// taken.
func (e *Engine) nextBatch(ctx context.Context, p *pipeline, wait bool) ([]report, bool) {
	var batch []report
	for wait {
		select {
		case r, ok := <-p.results:
			if !ok {
				return nil, false
			}
			batch = append(batch, r)
		case <-time.After(e.PollInterval):
			if ctx.Err() != nil && p.idle() && len(p.results) == 0 {
				return nil, false
			}
			continue
		}
		break
	}
	for len(batch) < 256 {
		select {
		case r, ok := <-p.results:
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
// ReleaseInterval) and prunes old data every PruneInterval, until ctx is
// cancelled. Both are safe when every instance runs them.
func (e *Engine) maintain(ctx context.Context) {
	e.releaseExpired(ctx)
	release := time.NewTicker(e.ReleaseInterval)
	defer release.Stop()
	prune := time.NewTicker(e.PruneInterval)
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

// KeysChanged tells the engine that the signing key of subscription uuid
// was rotated now: deliveries of it that the engine leased before and has
// not started to post are released instead, and claimed again with the new
// keys, so every attempt that starts after the rotation is signed with the
// new key. Only this instance's engine learns of it: another instance may
// still post what it leased before, for at most its lease time.
func (e *Engine) KeysChanged(uuid string) {
	e.init()
	e.outdate(uuid)
	e.Notify()
}

// outdate marks the deliveries of subscription uuid leased until now as
// out of date: the engine releases those it has not started to post. After
// a key rotation their keys are old; after a recorded failure they may come
// from a claim that read the subscription while it was still ACTIVE, and a
// FAILING subscription gets one probe, not those.
func (e *Engine) outdate(uuid string) {
	now := e.Now()
	if e.outdates.Add(1)%256 == 0 { // now and then, forget what no lease can predate any more
		e.outdated.Range(func(k, v any) bool {
			if now.Sub(v.(time.Time)) > e.LeaseFor {
				e.outdated.Delete(k)
			}
			return true
		})
	}
	e.outdated.Store(uuid, now)
}

// outdatedSince reports whether the leases of subscription uuid went out
// of date at or after t.
func (e *Engine) outdatedSince(uuid string, t time.Time) bool {
	v, ok := e.outdated.Load(uuid)
	return ok && !v.(time.Time).Before(t)
}
