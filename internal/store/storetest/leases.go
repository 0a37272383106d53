package storetest

import (
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

var leaseCases = []testCase{
	{"ReleaseReturnsExpiredLeases", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "l", 1)
		claimOne(t, e.st, t0) // leased for a minute
		if n, err := e.st.ReleaseLeases(ctx, t0.Add(2*time.Minute)); err != nil || n != 1 {
			t.Fatalf("ReleaseLeases = %d, %v; want 1", n, err)
		}
		if n := countState(t, e.st, subA, store.StatePending); n != 1 {
			t.Errorf("pending after release = %d, want 1", n)
		}
	}},
	{"ReleaseKeepsUnexpiredLeases", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "l", 1)
		claimOne(t, e.st, t0)
		if n, err := e.st.ReleaseLeases(ctx, t0.Add(30*time.Second)); err != nil || n != 0 {
			t.Errorf("ReleaseLeases before expiry = %d, %v; want 0", n, err)
		}
		if n := countState(t, e.st, subA, store.StateLeased); n != 1 {
			t.Errorf("leased = %d, want 1", n)
		}
	}},
	{"StaleLeaseIsFencedOut", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "l", 1)
		old := claimOne(t, e.st, t0)
		e.st.ReleaseLeases(ctx, t0.Add(2*time.Minute))
		again := claimOne(t, e.st, t0.Add(2*time.Minute))
		if again.LeaseToken == old.LeaseToken {
			t.Fatal("re-claim kept the old lease token")
		}
		mustRecord(t, e.st, t0, result(old, t0, 500)) // ignored
		if s := mustGet(t, e.st, subA); s.Status != webhook.Active {
			t.Errorf("a stale lease changed the subscription to %s", s.Status)
		}
		if as, _ := e.st.Attempts(ctx, old.ID); len(as) != 0 {
			t.Errorf("a stale lease recorded %d attempts", len(as))
		}
		mustRecord(t, e.st, t0, result(again, t0, 200))
		if n := countState(t, e.st, subA, store.StateDelivered); n != 1 {
			t.Errorf("delivered = %d, want 1", n)
		}
	}},
	{"ResultAfterTheSubscriptionWasDeleted", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "l", 1)
		d := claimOne(t, e.st, t0)
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0); err != nil {
			t.Fatal(err)
		}
		if err := record(e.st, t0, result(d, t0, 500)); err != nil {
			t.Errorf("RecordAndClaim after delete = %v, want nil", err)
		}
		if kinds := noticeKinds(t, e.st); len(kinds) != 0 {
			t.Errorf("notices = %v for a deleted subscription, want none", kinds)
		}
	}},
}
