package delivery_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The tests of lease-ahead (pipeline.go): the store leases PerSubscription
// × LeaseAhead messages of a subscription, the engine posts PerSubscription
// of them at a time and gives back, unsent, those it must not post.

// recordingQueue is a Queue that keeps what every RecordAndClaim was asked
// to write and, while its gate is closed, makes RecordAndClaim wait: a
// slow commit.
type recordingQueue struct {
	delivery.Queue

	mu      sync.Mutex
	gate    chan struct{} // nil: open
	waiting int           // calls waiting at the gate
	recs    []store.RecordParams
}

// closeGate makes the next RecordAndClaim calls wait until openGate.
func (q *recordingQueue) closeGate() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.gate = make(chan struct{})
}

func (q *recordingQueue) openGate() {
	q.mu.Lock()
	defer q.mu.Unlock()
	close(q.gate)
	q.gate = nil
}

func (q *recordingQueue) RecordAndClaim(ctx context.Context, rec store.RecordParams, next store.ClaimParams) ([]*store.Delivery, error) {
	q.mu.Lock()
	gate := q.gate
	if gate != nil {
		q.waiting++
	}
	q.mu.Unlock()
	if gate != nil {
		<-gate
		q.mu.Lock()
		q.waiting--
		q.mu.Unlock()
	}
	q.mu.Lock()
	q.recs = append(q.recs, rec)
	q.mu.Unlock()
	return q.Queue.RecordAndClaim(ctx, rec, next)
}

// waitingAtGate returns how many calls wait at the gate.
func (q *recordingQueue) waitingAtGate() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting
}

// records returns the RecordParams of the calls so far.
func (q *recordingQueue) records() []store.RecordParams {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.recs)
}

// released returns every lease released so far, in call order.
func (q *recordingQueue) released() []store.Lease {
	var out []store.Lease
	for _, r := range q.records() {
		out = append(out, r.Release...)
	}
	return out
}

// With PerSubscription 4 the store leases 16 messages of a subscription
// (LeaseAhead 4), but the destination never sees more than 4 requests at
// a time; every message is delivered once.
func TestEngineLeasesAheadWithinTheCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		p := newFakePoster(accept)
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://ahead.example.com/hook")
		evs := publishN(t, db, org, "ahead", 40)
		e := fakeEngine(t, db, p)
		e.PerSubscription, e.LeaseAhead = 4, 4
		startEngine(t, e)
		e.Notify()
		synctest.Wait()
		if leased, now := countState(t, db, sub, store.StateLeased), p.current(sub.Destination); leased != 16 || now != 4 {
			t.Fatalf("%d messages leased, %d requests in flight; want 16 (PerSubscription × LeaseAhead) and 4", leased, now)
		}

		time.Sleep(time.Second)
		synctest.Wait()
		if n := p.maxInFlight(); n != 4 {
			t.Errorf("at most %d requests in flight, want 4 (PerSubscription)", n)
		}
		if got := p.acceptedIDs(""); len(got) != len(evs) || !slices.Equal(sorted(got), sorted(messageIDs(evs))) {
			t.Errorf("%d calls accepted, want each of the %d messages once", len(got), len(evs))
		}
		if n := countState(t, db, sub, store.StateDelivered); n != len(evs) {
			t.Errorf("%d messages delivered, want %d", n, len(evs))
		}
	})
}

// A commit that takes long does not hold up the next requests: while the
// first RecordAndClaim waits, the engine goes on posting the messages it
// leased ahead, 4 at a time, up to the 16 leased; their results are
// recorded once the commit goes through.
func TestEngineSlowCommitDoesNotStallPosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		q := &recordingQueue{Queue: db}
		q.closeGate()
		p := newFakePoster(accept)
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://slowcommit.example.com/hook")
		evs := publishN(t, db, org, "commit", 40)
		e := fakeEngine(t, q, p)
		e.PerSubscription, e.LeaseAhead = 4, 4
		startEngine(t, e)
		e.Notify()
		time.Sleep(time.Second)
		synctest.Wait()

		if q.waitingAtGate() == 0 {
			t.Fatal("no RecordAndClaim is waiting at the closed gate")
		}
		calls := p.callsTo("")
		if len(calls) != 16 {
			t.Errorf("%d requests while the first commit waits, want the 16 leased messages", len(calls))
		}
		for _, c := range calls {
			if want := time.Duration(c.N/4) * latency; c.At.Sub(calls[0].At) != want {
				t.Errorf("call %d at +%v, want at +%v: each one once the previous of its worker was answered", c.N, c.At.Sub(calls[0].At), want)
			}
		}
		if n := p.maxInFlight(); n != 4 {
			t.Errorf("at most %d requests in flight, want 4", n)
		}
		if n := countState(t, db, sub, store.StateDelivered); n != 0 {
			t.Errorf("%d recorded as delivered while the commit waits, want 0", n)
		}

		q.openGate()
		time.Sleep(time.Second)
		synctest.Wait()
		if n := countState(t, db, sub, store.StateDelivered); n != len(evs) {
			t.Errorf("%d messages delivered after the commit went through, want %d", n, len(evs))
		}
		if n := len(p.callsTo("")); n != len(evs) {
			t.Errorf("%d requests, want %d: one per message", n, len(evs))
		}
		if n := p.maxInFlight(); n != 4 {
			t.Errorf("at most %d requests in flight, want 4", n)
		}
	})
}

// When an attempt fails, the messages leased ahead behind it are not
// posted: they are released unsent, in the same write as the failure, and
// wait for the FAILING subscription's one probe at its next retry; the
// attempts already in flight finish.
func TestEngineReleasesLeasedAheadAfterAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		q := &recordingQueue{Queue: db}
		var healthy atomic.Bool
		p := newFakePoster(func(c *call) delivery.Outcome {
			switch {
			case healthy.Load():
				return accept(c)
			case c.N == 0: // answered first, while the other three are in flight
				time.Sleep(latency / 2)
				return delivery.Outcome{StatusCode: 503, Class: webhook.ClassHTTPStatus}
			}
			return statusAnswer(503)(c)
		})
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://flaky.example.com/hook")
		evs := publishN(t, db, org, "flaky", 10)
		e := fakeEngine(t, q, p)
		e.PerSubscription = 4
		e.Schedule = webhook.Schedule{{Count: 5, Interval: time.Minute}}
		startEngine(t, e)
		e.Notify()
		time.Sleep(time.Second)
		synctest.Wait()

		calls := p.callsTo("")
		if len(calls) != 4 {
			t.Fatalf("%d requests, want the 4 posted before the failure and none of the 6 leased ahead", len(calls))
		}
		var sent []string
		for _, c := range calls {
			sent = append(sent, c.Envelope.MessageID)
		}
		if want := messageIDs(evs[:4]); !slices.Equal(sorted(sent), sorted(want)) {
			t.Errorf("requests carried %v, want the 4 oldest messages", sent)
		}
		if st := status(t, db, sub); st != webhook.Failing {
			t.Fatalf("status %q, want FAILING", st)
		}
		ms := messages(t, db, sub)
		for _, ev := range evs[4:] {
			if m := ms[ev.Envelope.MessageID]; m.State != store.StatePending || m.Attempts != 0 {
				t.Errorf("message leased ahead %s is %s with %d attempts, want pending with none", ev.Envelope.MessageID, m.State, m.Attempts)
			}
		}
		if n := countState(t, db, sub, store.StateLeased); n != 0 {
			t.Errorf("%d messages still leased, want 0", n)
		}
		// The failure and the releases went in one write.
		failed := calls[0].Envelope.MessageID
		var with *store.RecordParams
		recs := q.records()
		for i, r := range recs {
			for _, a := range r.Results {
				if a.DeliveryID == ms[failed].ID {
					with = &recs[i]
				}
			}
		}
		if with == nil || len(with.Release) != 6 || len(q.released()) != 6 {
			t.Errorf("the write of the failure released %v, %d in all; want the 6 messages leased ahead with it", with, len(q.released()))
		}

		// The probe: the head message alone, a minute later; then the
		// backlog.
		healthy.Store(true)
		time.Sleep(time.Minute + e.PollInterval)
		synctest.Wait()
		calls = p.callsTo("")
		if len(calls) != 4+1+9 {
			t.Fatalf("%d requests, want 14: 4, the probe, the other 9", len(calls))
		}
		if probe, head := calls[4], evs[0].Envelope.MessageID; probe.Envelope.MessageID != head || probe.InFlight != 1 || !probe.Outcome.OK() {
			t.Errorf("the probe carried %s with %d in flight, want %s alone", probe.Envelope.MessageID, probe.InFlight, head)
		}
		if n := countState(t, db, sub, store.StateDelivered); n != len(evs) {
			t.Errorf("%d messages delivered, want %d", n, len(evs))
		}
		for _, ev := range evs[4:] {
			if m := messages(t, db, sub)[ev.Envelope.MessageID]; m.Attempts != 1 {
				t.Errorf("message %s took %d attempts, want 1: the release did not count", ev.Envelope.MessageID, m.Attempts)
			}
		}
	})
}

// Until a failure is recorded, the store still sees its subscription
// ACTIVE and may lease more of its messages (here in the write of the
// results before the failure, which a slow commit held up): the engine
// releases them unsent instead of posting them to a destination that just
// failed.
func TestEngineHoldsClaimsUntilAFailureIsRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		q := &recordingQueue{Queue: db}
		q.closeGate()
		p := newFakePoster(func(c *call) delivery.Outcome {
			if c.N < 4 {
				return accept(c)
			}
			return statusAnswer(503)(c)
		})
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://turns.example.com/hook")
		publishN(t, db, org, "turns", 30)
		e := fakeEngine(t, q, p)
		e.PerSubscription = 4
		e.Schedule = webhook.Schedule{{Count: 5, Interval: time.Hour}}
		startEngine(t, e)
		e.Notify()
		// 16 leased: 4 accepted at +10 ms, whose write waits at the gate;
		// 4 more posted then fail at +20 ms, and the 8 waiting are dropped.
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(p.callsTo("")); n != 8 {
			t.Fatalf("%d requests before the commit went through, want 8", n)
		}
		q.openGate()
		time.Sleep(time.Second)
		synctest.Wait()

		if n := len(p.callsTo("")); n != 8 {
			t.Errorf("%d requests, want 8: nothing claimed before the failure was recorded is posted", n)
		}
		if n := len(q.released()); n <= 8 {
			t.Errorf("%d leases released, want the 8 leased ahead and those the held-up write claimed", n)
		}
		if st := status(t, db, sub); st != webhook.Failing {
			t.Errorf("status %q, want FAILING", st)
		}
		if n := countState(t, db, sub, store.StateLeased); n != 0 {
			t.Errorf("%d messages leased, want 0", n)
		}
		if n := countState(t, db, sub, store.StatePending); n != 26 {
			t.Errorf("%d messages pending, want 26", n)
		}
	})
}

// On shutdown the attempts in flight finish and are recorded; the messages
// leased ahead are released unsent, not posted.
func TestEngineShutdownReleasesLeasedAhead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		p := newFakePoster(func(c *call) delivery.Outcome { time.Sleep(5 * time.Second); return accept(c) })
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://slowok.example.com/hook")
		evs := publishN(t, db, org, "shutdown", 10)
		e := fakeEngine(t, db, p)
		e.PerSubscription = 4
		stop := startEngine(t, e)
		e.Notify()
		synctest.Wait()
		if n := countState(t, db, sub, store.StateLeased); n != 10 {
			t.Fatalf("%d messages leased, want all 10", n)
		}
		time.Sleep(time.Second)
		cancelled := time.Now()
		if err := stop(); err != nil {
			t.Fatalf("Run = %v", err)
		}
		if took := time.Since(cancelled); took > 4*time.Second+latency+e.PollInterval {
			t.Errorf("Run returned %v after the cancel, want when the 4 attempts in flight ended (4 s) and were recorded", took)
		}
		if n := len(p.callsTo("")); n != 4 {
			t.Errorf("%d requests, want the 4 in flight at the cancel", n)
		}
		ms := messages(t, db, sub)
		for i, ev := range evs {
			m := ms[ev.Envelope.MessageID]
			want, attempts := store.StateDelivered, 1
			if i >= 4 {
				want, attempts = store.StatePending, 0
			}
			if m.State != want || m.Attempts != attempts {
				t.Errorf("message %d is %s with %d attempts, want %s with %d", i, m.State, m.Attempts, want, attempts)
			}
		}
	})
}

// A message leased ahead that waited so long that its lease might not last
// for the attempt and its recording (more than LeaseFor − 2 × Timeout) is
// released and claimed again with a fresh lease rather than posted: no
// attempt outlives its lease, so none is sent twice.
func TestEngineReleasesLeasedAheadTooLongAgo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		q := &recordingQueue{Queue: db}
		const answer = 9 * time.Second
		p := newFakePoster(func(c *call) delivery.Outcome { time.Sleep(answer - latency); return accept(c) })
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://sluggish.example.com/hook")
		evs := publishN(t, db, org, "sluggish", 16)
		e := fakeEngine(t, q, p)
		// Posted up to 15 s after the lease: the rounds at 0 and 9 s, not
		// the one at 18 s, which would end after the 30 s lease.
		e.PerSubscription, e.Timeout, e.LeaseFor, e.ReleaseInterval = 4, 10*time.Second, 30*time.Second, time.Second
		startEngine(t, e)
		e.Notify()
		time.Sleep(2 * time.Minute)
		synctest.Wait()

		if n := len(q.released()); n != 8 {
			t.Errorf("%d leases released, want the 8 leased at 0 s and still waiting at 18 s", n)
		}
		if n := len(p.callsTo("")); n != len(evs) {
			t.Errorf("%d requests, want %d: none sent twice", n, len(evs))
		}
		for _, m := range messages(t, db, sub) {
			if m.State != store.StateDelivered || m.Attempts != 1 {
				t.Errorf("message %s is %s with %d attempts, want delivered with 1", m.MessageID, m.State, m.Attempts)
			}
		}
	})
}

// With PerSubscription 1 nothing is leased ahead: one message of the
// subscription is leased at a time, so its order holds even across
// instances.
func TestEngineStrictOrderLeasesOneAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		p := newFakePoster(accept)
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://strict.example.com/hook")
		evs := publishN(t, db, org, "strict", 5)
		e := fakeEngine(t, db, p)
		e.PerSubscription, e.LeaseAhead = 1, 8
		startEngine(t, e)
		e.Notify()
		synctest.Wait()
		if n := countState(t, db, sub, store.StateLeased); n != 1 {
			t.Errorf("%d messages leased with PerSubscription 1, want 1", n)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := p.acceptedIDs(""); !slices.Equal(got, messageIDs(evs)) {
			t.Errorf("arrival order %v, want publish order %v", got, messageIDs(evs))
		}
	})
}

// After KeysChanged (a key rotation), the deliveries the engine leased
// ahead with the old key are not posted with it: they are released and
// claimed again, so every request that starts after the rotation is signed
// with the new key. Requests already being posted keep the old one.
func TestEngineSignsWithTheNewKeyAfterARotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		p := newFakePoster(func(c *call) delivery.Outcome {
			time.Sleep(latency)
			return accept(c)
		})
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://shop.example.com/hook")
		oldKey := sub.SigningKey
		evs := publishN(t, db, org, "rotate", 12)
		e := fakeEngine(t, db, p)
		e.PerSubscription = 4
		startEngine(t, e)
		e.Notify()
		time.Sleep(latency / 2) // the first 4 are being posted, 8 are leased ahead
		synctest.Wait()

		sub.Rotate("new-signing-key", time.Now(), time.Hour)
		if err := db.SaveSigning(t.Context(), sub); err != nil {
			t.Fatal(err)
		}
		e.KeysChanged(sub.UUID)
		time.Sleep(time.Second)
		synctest.Wait()

		calls := p.callsTo("")
		if len(calls) != len(evs) {
			t.Fatalf("%d requests, want %d", len(calls), len(evs))
		}
		for _, c := range calls {
			wantKey := "new-signing-key"
			if c.N < 4 {
				wantKey = oldKey // started before the rotation
			}
			if c.Keys.Current != wantKey {
				t.Errorf("request %d (%s) signed with %q, want %q", c.N, c.Envelope.MessageID, c.Keys.Current, wantKey)
			}
			if c.N >= 4 && c.Keys.Previous != oldKey {
				t.Errorf("request %d carries previous key %q, want the old key during the overlap", c.N, c.Keys.Previous)
			}
		}
		if n := countState(t, db, sub, store.StateDelivered); n != len(evs) {
			t.Errorf("%d messages delivered, want %d", n, len(evs))
		}
	})
}

// slowClaimQueue leaves claiming to the claim loop (the recorder claims
// nothing) and makes every claim after the first return late, so a claim
// that read a subscription while it was ACTIVE can return after that
// subscription's failure was recorded.
type slowClaimQueue struct {
	delivery.Queue
	claims atomic.Int32
	delay  time.Duration
}

func (q *slowClaimQueue) ClaimMessages(ctx context.Context, p store.ClaimParams) ([]*store.Delivery, error) {
	ds, err := q.Queue.ClaimMessages(ctx, p)
	if q.claims.Add(1) > 1 {
		time.Sleep(q.delay)
	}
	return ds, err
}

func (q *slowClaimQueue) RecordAndClaim(ctx context.Context, rec store.RecordParams, next store.ClaimParams) ([]*store.Delivery, error) {
	next.Limit = 0
	return q.Queue.RecordAndClaim(ctx, rec, next)
}

// A claim that leased a subscription's message while it was ACTIVE and
// returns only after a failure of that subscription was recorded does not
// post it: a FAILING subscription gets its one probe at the next retry,
// nothing before.
func TestEngineDoesNotPostWhatWasClaimedBeforeAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		q := &slowClaimQueue{Queue: db, delay: 50 * time.Millisecond}
		p := newFakePoster(func(c *call) delivery.Outcome {
			if c.N == 0 { // at once: frees a slot while the subscription is ACTIVE
				return delivery.Outcome{StatusCode: 200}
			}
			time.Sleep(latency) // the second fails after the next claim began
			return delivery.Outcome{StatusCode: 503, Class: webhook.ClassHTTPStatus}
		})
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://flaky.example.com/hook")
		publishN(t, db, org, "late", 10)
		e := fakeEngine(t, q, p)
		e.PerSubscription, e.LeaseAhead = 2, 1
		e.PollInterval = 5 * time.Millisecond
		e.Schedule = webhook.Schedule{{Count: 5, Interval: time.Minute}}
		startEngine(t, e) // claims at once; the next claim is the poll's, 5 ms later
		time.Sleep(time.Second)
		synctest.Wait()

		if st := status(t, db, sub); st != webhook.Failing {
			t.Fatalf("status %q, want FAILING", st)
		}
		if calls := p.callsTo(""); len(calls) != 2 {
			t.Errorf("%d requests in the second after the failure, want 2: the claim that returned after it was recorded must not post", len(calls))
		}
		if n := countState(t, db, sub, store.StateLeased); n != 0 {
			t.Errorf("%d messages still leased, want 0 (released)", n)
		}
	})
}
