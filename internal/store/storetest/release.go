package storetest

import (
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// leaseOfDelivery names the lease of d.
func leaseOfDelivery(d *store.Delivery) store.Lease {
	return store.Lease{DeliveryID: d.ID, LeaseToken: d.LeaseToken}
}

// recordRelease calls RecordAndClaim with the results rs and the releases ls,
// claiming with next, and returns what it claimed.
func recordRelease(t *testing.T, st store.Store, now time.Time, rs []store.AttemptResult, ls []store.Lease, next store.ClaimParams) []*store.Delivery {
	t.Helper()
	p := recordParams(now, rs...)
	p.Release = ls
	ds, err := st.RecordAndClaim(ctx, p, next)
	if err != nil {
		t.Fatalf("RecordAndClaim(%d results, %d releases) = %v", len(rs), len(ls), err)
	}
	return ds
}

// messageByRow returns the message of row id of sub.
func messageByRow(t *testing.T, st store.Store, sub string, id int64) store.Message {
	t.Helper()
	ms, err := st.Messages(ctx, sub, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == id {
			return m
		}
	}
	t.Fatalf("no message %d of %s", id, sub)
	return store.Message{}
}

// releaseCases are the rules of RecordParams.Release: the engine leases
// ahead of what it sends and gives back, unsent, what it will not send.
var releaseCases = []testCase{
	{"ReleasedMessageIsClaimableAgainWithItsAttempts", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 3)
		ds := claimExactly(t, e.st, t0, 3, 3)
		// One delivered, two released unsent, in one call that claims
		// nothing.
		recordRelease(t, e.st, t0, []store.AttemptResult{result(ds[0], t0, 200)}, []store.Lease{leaseOfDelivery(ds[1]), leaseOfDelivery(ds[2])}, store.ClaimParams{})
		for _, d := range ds[1:] {
			m := messageByRow(t, e.st, subA, d.ID)
			if as, _ := e.st.Attempts(ctx, d.ID); m.State != store.StatePending || m.Attempts != 0 || len(as) != 0 {
				t.Errorf("released message %d: %s with %d attempts (%d recorded), want pending with none", d.ID, m.State, m.Attempts, len(as))
			}
		}
		if s := mustGet(t, e.st, subA); s.Status != webhook.Active || s.Failures != 0 {
			t.Errorf("subscription %s with %d failures after a release, want ACTIVE, unchanged", s.Status, s.Failures)
		}
		again := mustClaim(t, e.st, t0.Add(time.Second), 10, 3)
		if len(again) != 2 || again[0].ID != ds[1].ID || again[1].ID != ds[2].ID || again[0].Attempts != 0 ||
			again[0].LeaseToken == ds[1].LeaseToken {
			t.Fatalf("claimed %d after the release, want the 2 released messages in order, 0 attempts, a new lease", len(again))
		}
		mustRecord(t, e.st, t0.Add(time.Second), result(again[0], t0, 200), result(again[1], t0, 200))
		if n := countState(t, e.st, subA, store.StateDelivered); n != 3 {
			t.Errorf("delivered = %d, want 3", n)
		}
	}},
	{"ReleaseKeepsTheAttemptsOfARetry", func(t *testing.T, e *env) {
		first := failOnce(t, e.st, 2)
		probe := claimOne(t, e.st, t0.Add(10*time.Second))
		if probe.ID != first.ID || probe.Attempts != 1 {
			t.Fatalf("probe %d with %d attempts, want %d with 1", probe.ID, probe.Attempts, first.ID)
		}
		recordRelease(t, e.st, t0.Add(10*time.Second), nil, []store.Lease{leaseOfDelivery(probe)}, store.ClaimParams{})
		if m := messageByRow(t, e.st, subA, probe.ID); m.State != store.StatePending || m.Attempts != 1 {
			t.Errorf("released probe %s with %d attempts, want pending with 1", m.State, m.Attempts)
		}
		s := mustGet(t, e.st, subA)
		if s.Status != webhook.Failing || s.Failures != 1 || !s.NextRetryAt.Equal(t0.Add(10*time.Second)) {
			t.Errorf("subscription %s, %d failures, next retry %v after releasing its probe; want FAILING, 1, %v unchanged",
				s.Status, s.Failures, s.NextRetryAt, t0.Add(10*time.Second))
		}
		// The retry is still due: the probe may be claimed again, alone.
		if again := mustClaim(t, e.st, t0.Add(10*time.Second), 10, 4); len(again) != 1 || again[0].ID != probe.ID {
			t.Errorf("claimed %d after releasing the probe, want the head message again, alone", len(again))
		}
	}},
	{"StaleReleaseChangesNothing", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 1)
		old := claimOne(t, e.st, t0)
		if n, err := e.st.ReleaseLeases(ctx, t0.Add(2*time.Minute)); err != nil || n != 1 {
			t.Fatalf("ReleaseLeases = %d, %v; want 1", n, err)
		}
		again := claimOne(t, e.st, t0.Add(2*time.Minute))
		recordRelease(t, e.st, t0.Add(2*time.Minute), nil, []store.Lease{leaseOfDelivery(old)}, store.ClaimParams{})
		if n := countState(t, e.st, subA, store.StateLeased); n != 1 {
			t.Fatalf("leased = %d after a release with a stale token, want 1: the new holder keeps it", n)
		}
		if more := mustClaim(t, e.st, t0.Add(2*time.Minute), 10, 4); len(more) != 0 {
			t.Errorf("claimed %d after a stale release, want 0: the message is still leased", len(more))
		}
		mustRecord(t, e.st, t0.Add(2*time.Minute), result(again, t0.Add(2*time.Minute), 200))
		m := messageByRow(t, e.st, subA, again.ID)
		if m.State != store.StateDelivered || m.Attempts != 1 {
			t.Errorf("message %s with %d attempts, want delivered by the new holder with 1", m.State, m.Attempts)
		}
	}},
	{"ReleaseOfAFinishedMessageChangesNothing", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 1)
		d := claimOne(t, e.st, t0)
		mustRecord(t, e.st, t0, result(d, t0, 200))
		recordRelease(t, e.st, t0, nil, []store.Lease{leaseOfDelivery(d)}, store.ClaimParams{})
		if m := messageByRow(t, e.st, subA, d.ID); m.State != store.StateDelivered || m.Attempts != 1 {
			t.Errorf("message %s with %d attempts after a late release, want delivered with 1", m.State, m.Attempts)
		}
	}},
	{"ReleasedMessagesOfAFailingSubscriptionWaitForTheRetry", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 3)
		ds := mustClaim(t, e.st, t0, 10, 4)
		if len(ds) != 3 {
			t.Fatalf("claimed %d, want 3", len(ds))
		}
		// The head fails; the two leased behind it are released unsent in
		// the same call, whose claim must not lease them again.
		got := recordRelease(t, e.st, t0, []store.AttemptResult{result(ds[0], t0, 503)}, []store.Lease{leaseOfDelivery(ds[1]), leaseOfDelivery(ds[2])},
			claimParams(t0, 10, 4))
		if len(got) != 0 {
			t.Errorf("the call that made the subscription FAILING claimed %d, want 0", len(got))
		}
		if s := mustGet(t, e.st, subA); s.Status != webhook.Failing {
			t.Fatalf("status %s, want FAILING", s.Status)
		}
		if n := countState(t, e.st, subA, store.StatePending); n != 3 {
			t.Errorf("pending = %d, want 3", n)
		}
		if early := mustClaim(t, e.st, t0.Add(9*time.Second), 10, 4); len(early) != 0 {
			t.Errorf("claimed %d before the retry is due, want 0", len(early))
		}
		probe := mustClaim(t, e.st, t0.Add(10*time.Second), 10, 4)
		if len(probe) != 1 || probe[0].ID != ds[0].ID {
			t.Fatalf("claimed %d at the retry, want only the head message %d", len(probe), ds[0].ID)
		}
		for _, d := range ds[1:] {
			if m := messageByRow(t, e.st, subA, d.ID); m.Attempts != 0 {
				t.Errorf("released message %d has %d attempts, want 0", d.ID, m.Attempts)
			}
		}
	}},
	{"ReleaseAloneThenClaim", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 2)
		ds := mustClaim(t, e.st, t0, 10, 2)
		if len(ds) != 2 {
			t.Fatalf("claimed %d, want 2", len(ds))
		}
		// No results, only releases: the claim of the same call sees the
		// slots the release freed.
		got := recordRelease(t, e.st, t0, nil, []store.Lease{leaseOfDelivery(ds[0]), leaseOfDelivery(ds[1])}, claimParams(t0, 10, 2))
		if len(got) != 2 || got[0].ID != ds[0].ID || got[0].LeaseToken == ds[0].LeaseToken {
			t.Fatalf("claimed %d in the call that released both, want both again with a new lease", len(got))
		}
		if as, _ := e.st.Attempts(ctx, ds[0].ID); len(as) != 0 {
			t.Errorf("%d attempts recorded for a released message, want 0", len(as))
		}
	}},
}
