package storetest

import (
	"slices"
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
	{"ResultsRecordedTogetherKeepEveryField", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "l", 3)
		ds := claimExactly(t, e.st, t0, 3, 3)
		first, stale, third := result(ds[0], t0, 200), result(ds[1], t0, 204), result(ds[2], t0.Add(time.Millisecond), 202)
		first.ResponseBody, first.RemoteAddr, first.Duration = []byte{0, 0xff, 'o', 'k'}, "203.0.113.7:443", 7*time.Millisecond
		stale.LeaseToken = "not-the-lease"
		mustRecord(t, e.st, t0.Add(time.Second), first, stale, third)
		as, err := e.st.Attempts(ctx, ds[0].ID)
		if err != nil || len(as) != 1 {
			t.Fatalf("Attempts(first) = %v, %v; want 1", as, err)
		}
		a := as[0]
		if string(a.ResponseBody) != "\x00\xffok" || a.RemoteAddr != "203.0.113.7:443" || a.StatusCode != 200 ||
			a.Duration != 7*time.Millisecond || !a.StartedAt.Equal(t0) || a.ErrorClass != "" {
			t.Errorf("first attempt = %+v", a)
		}
		if as, _ := e.st.Attempts(ctx, ds[1].ID); len(as) != 0 {
			t.Errorf("a result without the lease recorded %d attempts", len(as))
		}
		if as, _ := e.st.Attempts(ctx, ds[2].ID); len(as) != 1 || as[0].StatusCode != 202 || len(as[0].ResponseBody) != 0 {
			t.Errorf("third attempts = %+v, want one 202 with an empty body", as)
		}
		if n := countState(t, e.st, subA, store.StateDelivered); n != 2 {
			t.Errorf("delivered = %d, want 2", n)
		}
		if n := countState(t, e.st, subA, store.StateLeased); n != 1 {
			t.Errorf("leased = %d, want 1 (the result without the lease changed nothing)", n)
		}
	}},
	{"ProbeSuccessRecordedWithOthersRecovers", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		publishN(t, e.st, "p", 1)
		var a, b *store.Delivery
		for _, d := range claimExactly(t, e.st, t0, 2, 1) { // one each
			if d.SubscriptionUUID == subA {
				a = d
			} else {
				b = d
			}
		}
		mustRecord(t, e.st, t0, result(a, t0, 500), result(b, t0, 200))
		if s := mustGet(t, e.st, subA); s.Status != webhook.Failing {
			t.Fatalf("after a 500: %s, want FAILING", s.Status)
		}
		publishN(t, e.st, "q", 1)
		retry := t0.Add(10 * time.Second)
		ds := claimExactly(t, e.st, retry, 2, 1) // the probe and subB's new message
		mustRecord(t, e.st, retry, result(ds[0], retry, 200), result(ds[1], retry, 200))
		if s := mustGet(t, e.st, subA); s.Status != webhook.Active || s.Failures != 0 {
			t.Errorf("after its probe succeeded beside another result: %s with %d failures, want ACTIVE", s.Status, s.Failures)
		}
		if kinds := noticeKinds(t, e.st); !slices.Equal(kinds, []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeRecovered}) {
			t.Errorf("notices = %v, want failing, recovered", kinds)
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
