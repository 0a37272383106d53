package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
)

// The pipeline decouples sending from recording. The store leases up to
// Engine.depth messages of an ACTIVE subscription (PerSubscription ×
// LeaseAhead); the engine posts at most PerSubscription of them at a time
// and keeps the rest waiting, oldest first. A worker that finishes an
// attempt of a subscription takes that subscription's next waiting
// delivery itself, without waiting for the result to be committed, and
// its result goes to the recorder, which writes results in batches and
// claims the next messages in the same transaction.
//
// Nothing the store guarantees is given up. A subscription's waiting
// deliveries are never posted after one of its attempts failed: they are
// released unsent (RecordParams.Release), in the same report as the
// failure, so the store's FAILING rules (one probe, at the next retry)
// apply to them; until that failure is recorded, deliveries of the
// subscription that a claim returns are released as well. On shutdown
// waiting deliveries are released, not posted. With PerSubscription 1
// there is no lease-ahead (depth 1), so order stays strict.

// slots counts the leased deliveries the engine may still take: claims
// reserve slots first, so the engine never holds more than its budget
// (Engine.held). A delivery's slot is free again once it is reported to
// the recorder (attempted or released).
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

// report is what the recorder gets from a worker or a claim: the result of
// an attempt, and leases to release unsent.
type report struct {
	attempted bool
	result    store.AttemptResult
	sub       string // the subscription of result
	release   []store.Lease
}

// subQueue is the engine's state of one subscription with deliveries held.
type subQueue struct {
	posting int               // handed to workers: waiting for a worker or being posted
	waiting []*store.Delivery // leased ahead, oldest first
	failed  int               // failed attempts not recorded yet
}

// pipeline holds the leased deliveries between the claims, the workers
// and the recorder.
type pipeline struct {
	e       *Engine
	ctx     context.Context
	jobs    chan *store.Delivery
	results chan report
	slots   *slots
	budget  int // slots in all
	perSub  int // deliveries of one subscription posted at a time
	ahead   bool
	// maxWait is how long after its lease a delivery may still be posted:
	// later, the lease may not last for the attempt and its recording.
	maxWait time.Duration

	mu   sync.Mutex
	subs map[string]*subQueue
}

func newPipeline(ctx context.Context, e *Engine) *pipeline {
	budget := e.held()
	return &pipeline{
		e: e, ctx: ctx,
		jobs:    make(chan *store.Delivery, budget),
		results: make(chan report, budget),
		slots:   &slots{free: budget},
		budget:  budget,
		perSub:  e.PerSubscription,
		ahead:   e.depth() > e.PerSubscription,
		maxWait: max(e.LeaseFor-2*e.Timeout, e.LeaseFor/2),
		subs:    map[string]*subQueue{},
	}
}

func leaseOf(d *store.Delivery) store.Lease {
	return store.Lease{DeliveryID: d.ID, LeaseToken: d.LeaseToken}
}

// queue returns the state of subscription uuid; p.mu is held.
func (p *pipeline) queue(uuid string) *subQueue {
	q := p.subs[uuid]
	if q == nil {
		q = &subQueue{}
		p.subs[uuid] = q
	}
	return q
}

// tidy forgets the state of subscription uuid once it holds nothing; p.mu
// is held.
func (p *pipeline) tidy(uuid string, q *subQueue) {
	if q.posting == 0 && len(q.waiting) == 0 && q.failed == 0 {
		delete(p.subs, uuid)
	}
}

// stale reports whether d must not be posted now: it was leased too long
// ago, or before its subscription's leases went out of date (Engine.outdate:
// a key rotation, a recorded failure).
func (p *pipeline) stale(d *store.Delivery) bool {
	if d.LeasedAt.IsZero() {
		return false
	}
	return p.e.Now().Sub(d.LeasedAt) > p.maxWait || p.e.outdatedSince(d.SubscriptionUUID, d.LeasedAt)
}

// dispatch takes claimed deliveries, oldest first, of a claim that
// reserved slots: to the workers while fewer than perSub of their
// subscription are posted, else to its waiting deliveries. It frees the
// unused part of the reservation and returns the deliveries that must be
// released unsent (after a failure not recorded yet, or on shutdown); their
// slots are the caller's to free once it has handed them to the recorder.
func (p *pipeline) dispatch(ds []*store.Delivery, reserved int) []store.Lease {
	var post []*store.Delivery
	var rel []store.Lease
	p.mu.Lock()
	for _, d := range ds {
		q := p.queue(d.SubscriptionUUID)
		switch {
		case p.ctx.Err() != nil || q.failed > 0:
			rel = append(rel, leaseOf(d))
		case q.posting < p.perSub || !p.ahead:
			q.posting++
			post = append(post, d)
		default:
			q.waiting = append(q.waiting, d)
		}
		p.tidy(d.SubscriptionUUID, q)
	}
	p.mu.Unlock()
	for _, d := range post {
		p.jobs <- d // never blocks: jobs holds at most the budget
	}
	p.slots.release(reserved - len(ds))
	return rel
}

// send hands r to the recorder, if it has anything, then frees n slots:
// in that order, so that idle slots mean every report is queued.
func (p *pipeline) send(r report, n int) {
	if r.attempted || len(r.release) > 0 {
		p.results <- r
	}
	p.slots.release(n)
}

// work runs attempts until jobs is closed, each followed by the waiting
// deliveries of its subscription that this worker takes over.
func (p *pipeline) work() {
	for d := range p.jobs {
		for d != nil {
			d = p.run(d)
		}
	}
}

// run posts d, or releases it unsent if it must not be posted any more,
// reports that to the recorder and returns the next delivery of d's
// subscription for this worker to post, if any.
func (p *pipeline) run(d *store.Delivery) *store.Delivery {
	var r report
	if p.skip(d) {
		r.release = []store.Lease{leaseOf(d)}
	} else {
		r.attempted, r.sub = true, d.SubscriptionUUID
		r.result = p.e.attemptResult(d, p.e.attempt(d))
	}
	// The drop is decided before the result is sent, and travels with it.
	next, drop := p.finish(d, r.attempted && !r.result.Succeeded())
	r.release = append(r.release, drop...)
	p.send(r, 1+len(drop))
	return next
}

// skip reports whether d, handed to a worker, must be released instead of
// posted: on shutdown, after a failure of its subscription, or when its
// lease is too old.
func (p *pipeline) skip(d *store.Delivery) bool {
	if p.ctx.Err() != nil || p.stale(d) {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.subs[d.SubscriptionUUID].failed > 0
}

// finish ends the attempt of d (failed or not): it returns the next waiting
// delivery of d's subscription for the same worker, and the waiting ones
// to release unsent — all of them after a failure or on shutdown, and
// those whose lease is too old.
func (p *pipeline) finish(d *store.Delivery, failed bool) (next *store.Delivery, drop []store.Lease) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.subs[d.SubscriptionUUID]
	if failed {
		q.failed++
	}
	for len(q.waiting) > 0 && next == nil {
		w := q.waiting[0]
		q.waiting[0] = nil
		q.waiting = q.waiting[1:]
		if q.failed > 0 || p.ctx.Err() != nil || p.stale(w) {
			drop = append(drop, leaseOf(w))
		} else {
			next = w
		}
	}
	if next == nil {
		q.posting--
	}
	p.tidy(d.SubscriptionUUID, q)
	return next, drop
}

// recorded tells that the failures of subs (one entry per failed attempt)
// were written, so the store's rules for them apply: claimed deliveries of
// those subscriptions may be posted again.
func (p *pipeline) recorded(subs []string) {
	for _, uuid := range subs {
		p.e.outdate(uuid)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, uuid := range subs {
		if q := p.subs[uuid]; q != nil {
			q.failed--
			p.tidy(uuid, q)
		}
	}
}

// idle reports whether the engine holds no delivery and every report is
// queued.
func (p *pipeline) idle() bool {
	p.slots.mu.Lock()
	defer p.slots.mu.Unlock()
	return p.slots.free == p.budget
}
