package storetest

import (
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// activityFixture creates subA and subB, publishes three events for subA
// at t0, t0+30s and t0+90s, delivers the first at t0+1m and fails the
// second at t0+2m (subA is then FAILING with two messages undelivered).
func activityFixture(t *testing.T, st store.Store) {
	t.Helper()
	mustCreate(t, st, newSub(subA, webhook.ProductCreated))
	mustCreate(t, st, newSub(subB, webhook.PurchaseCreated))
	for i, at := range []time.Duration{0, 30 * time.Second, 90 * time.Second} {
		ev := event(org, webhook.ProductCreated, "act-"+string(rune('a'+i)))
		ev.Now = t0.Add(at)
		mustPublish(t, st, ev)
	}
	attempt(t, st, t0.Add(time.Minute), 200)
	attempt(t, st, t0.Add(2*time.Minute), 503)
}

func activity(t *testing.T, st store.Store, q store.ActivityQuery) store.ActivitySeries {
	t.Helper()
	a, err := st.ActivitySeries(ctx, q)
	if err != nil {
		t.Fatalf("ActivitySeries(%+v) = %v", q, err)
	}
	return a
}

var activityCases = []testCase{
	{"BucketsCountEventsAndAttempts", func(t *testing.T, e *env) {
		activityFixture(t, e.st)
		a := activity(t, e.st, store.ActivityQuery{Since: t0, Until: t0.Add(4 * time.Minute), Bucket: time.Minute})
		want := []store.ActivityBucket{
			{Start: t0, Events: 2},
			{Start: t0.Add(time.Minute), Events: 1, Delivered: 1},
			{Start: t0.Add(2 * time.Minute), Failed: 1},
			{Start: t0.Add(3 * time.Minute)},
		}
		if len(a.Buckets) != len(want) {
			t.Fatalf("%d buckets, want %d: %+v", len(a.Buckets), len(want), a.Buckets)
		}
		for i, b := range a.Buckets {
			w := want[i]
			if !b.Start.Equal(w.Start) || b.Events != w.Events || b.Delivered != w.Delivered || b.Failed != w.Failed {
				t.Errorf("bucket %d = %+v, want %+v", i, b, w)
			}
		}
	}},
	{"SubscriptionSummary", func(t *testing.T, e *env) {
		activityFixture(t, e.st)
		a := activity(t, e.st, store.ActivityQuery{Since: t0, Until: t0.Add(time.Hour), Bucket: time.Hour})
		s, ok := a.Subscriptions[subA]
		if !ok {
			t.Fatalf("no summary of %s: %+v", subA, a.Subscriptions)
		}
		if s.Delivered != 1 || s.Failed != 1 || !s.LastSuccess.Equal(t0.Add(time.Minute)) {
			t.Errorf("summary = %+v, want 1 delivered at %v and 1 failed", s, t0.Add(time.Minute))
		}
		if f := s.LastFailure; f == nil || f.StatusCode != 503 || f.ErrorClass != webhook.ClassHTTPStatus || !f.StartedAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("last failure = %+v, want the 503 at %v", f, t0.Add(2*time.Minute))
		}
		if s.Backlog != 2 || !s.OldestUndelivered.Equal(t0.Add(30*time.Second)) {
			t.Errorf("backlog %d oldest %v, want 2 and %v", s.Backlog, s.OldestUndelivered, t0.Add(30*time.Second))
		}
		if b, ok := a.Subscriptions[subB]; ok {
			t.Errorf("%s has no attempts and no backlog but a summary %+v", subB, b)
		}
	}},
	{"RangeIsHalfOpen", func(t *testing.T, e *env) {
		activityFixture(t, e.st)
		a := activity(t, e.st, store.ActivityQuery{Since: t0.Add(time.Minute), Until: t0.Add(2 * time.Minute), Bucket: time.Minute})
		if len(a.Buckets) != 1 || a.Buckets[0].Events != 1 || a.Buckets[0].Delivered != 1 || a.Buckets[0].Failed != 0 {
			t.Fatalf("buckets = %+v, want one with the event at +90s and the success at +1m, not the failure at +2m", a.Buckets)
		}
		s := a.Subscriptions[subA]
		if s.Delivered != 1 || s.Failed != 0 || s.LastFailure != nil {
			t.Errorf("summary = %+v, want only the success in range", s)
		}
		if s.Backlog != 2 {
			t.Errorf("backlog = %d, want 2 whatever the range", s.Backlog)
		}
	}},
	{"LastBucketMayBeShorter", func(t *testing.T, e *env) {
		activityFixture(t, e.st)
		a := activity(t, e.st, store.ActivityQuery{Since: t0, Until: t0.Add(90 * time.Second), Bucket: time.Minute})
		if len(a.Buckets) != 2 || !a.Buckets[1].Start.Equal(t0.Add(time.Minute)) {
			t.Fatalf("buckets = %+v, want 2, the second from %v", a.Buckets, t0.Add(time.Minute))
		}
		if a.Buckets[1].Events != 0 || a.Buckets[1].Delivered != 1 {
			t.Errorf("second bucket = %+v, want the success at +1m and not the event at +90s", a.Buckets[1])
		}
	}},
	{"EmptyStore", func(t *testing.T, e *env) {
		a := activity(t, e.st, store.ActivityQuery{Since: t0, Until: t0.Add(time.Hour), Bucket: time.Minute})
		if len(a.Buckets) != 60 || len(a.Subscriptions) != 0 {
			t.Errorf("%d buckets and %d subscriptions, want 60 empty buckets and none", len(a.Buckets), len(a.Subscriptions))
		}
		for _, b := range a.Buckets {
			if b.Events+b.Delivered+b.Failed != 0 {
				t.Errorf("bucket %+v is not empty", b)
			}
		}
	}},
	{"RefusesBadQueries", func(t *testing.T, e *env) {
		for _, q := range []store.ActivityQuery{
			{Since: t0, Until: t0.Add(time.Hour)},
			{Since: t0, Until: t0, Bucket: time.Minute},
			{Since: t0, Until: t0.Add(-time.Hour), Bucket: time.Minute},
			{Since: t0, Until: t0.Add(store.MaxBuckets*time.Second + time.Second), Bucket: time.Second},
		} {
			if _, err := e.st.ActivitySeries(ctx, q); !webhook.IsCode(err, webhook.Invalid) {
				t.Errorf("ActivitySeries(%+v) = %v, want Invalid", q, err)
			}
		}
	}},
}
