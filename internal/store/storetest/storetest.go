// Package storetest is the conformance suite for store.Store drivers. A
// driver's test calls Run with a function that opens an empty, migrated
// store; every behaviour callers rely on is specified here, so all drivers
// agree.
package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/notify"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Run runs the suite. open must return an empty, migrated store and close it
// with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, open(t)) })
	t.Run("SubscriptionOwnership", func(t *testing.T) { testOwnership(t, open(t)) })
	t.Run("PublishFanOut", func(t *testing.T) { testPublishFanOut(t, open(t)) })
	t.Run("PublishIdempotent", func(t *testing.T) { testPublishIdempotent(t, open(t)) })
	t.Run("Disconnect", func(t *testing.T) { testDisconnect(t, open(t)) })
	t.Run("ClaimPerSubscriptionLimit", func(t *testing.T) { testClaimLimit(t, open(t)) })
	t.Run("FailingLifecycle", func(t *testing.T) { testFailingLifecycle(t, open(t)) })
	t.Run("Exhaustion", func(t *testing.T) { testExhaustion(t, open(t)) })
	t.Run("LeaseFence", func(t *testing.T) { testLeaseFence(t, open(t)) })
	t.Run("Notices", func(t *testing.T) { testNotices(t, open(t)) })
	t.Run("Prune", func(t *testing.T) { testPrune(t, open(t)) })
}

const (
	org    = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"
	client = "client-a"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC)

var ctx = context.Background()

func newSub(uuid string, events ...string) *webhook.Subscription {
	return &webhook.Subscription{
		UUID: uuid, OrganizationUUID: org, ClientID: client, TransportName: webhook.TransportWebhook,
		EventNames: events, Destination: "https://example.com/" + uuid, ContactEmail: "ops@example.com",
		Status: webhook.Active, SigningKey: "k-" + uuid, Created: t0, Updated: t0,
	}
}

func mustCreate(t *testing.T, st store.Store, s *webhook.Subscription) {
	t.Helper()
	if err := st.CreateSubscription(ctx, s); err != nil {
		t.Fatalf("CreateSubscription(%s) = %v", s.UUID, err)
	}
}

func event(org, name, id string) store.Event {
	mid := webhook.MessageID(org, name, id)
	delivered := name
	if webhook.IsDisconnect(name) {
		delivered = webhook.ApplicationConnectionRemoved
	}
	return store.Event{
		Envelope:        webhook.NewEnvelope(org, delivered, mid, `{"id":"`+id+`"}`, t0),
		SourceEventName: name, EventID: id, Now: t0,
	}
}

func mustPublish(t *testing.T, st store.Store, evs ...store.Event) []store.PublishResult {
	t.Helper()
	res, err := st.Publish(ctx, evs)
	if err != nil {
		t.Fatalf("Publish = %v", err)
	}
	return res
}

func mustClaim(t *testing.T, st store.Store, now time.Time, limit, perSub int) []*store.Delivery {
	t.Helper()
	ds, err := st.ClaimMessages(ctx, store.ClaimParams{Now: now, Limit: limit, PerSubscription: perSub, LeaseFor: time.Minute})
	if err != nil {
		t.Fatalf("ClaimMessages = %v", err)
	}
	return ds
}

// schedule is a compressed retry schedule: retries 10 s apart, 3 in all.
func schedule(since time.Time, failures int) (time.Time, bool) {
	if failures > 3 {
		return time.Time{}, false
	}
	return since.Add(time.Duration(failures) * 10 * time.Second), true
}

func policy(now time.Time) store.Policy {
	return store.Policy{Schedule: schedule, FailingNoticeEvery: 24 * time.Hour, Now: now}
}

func result(d *store.Delivery, at time.Time, status int) store.AttemptResult {
	r := store.AttemptResult{DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: at, Duration: time.Millisecond, StatusCode: status}
	if status/100 != 2 {
		r.ErrorClass, r.Reason = "http_status", fmt.Sprintf("HTTP %d from %s", status, d.Destination)
	}
	return r
}

func mustRecord(t *testing.T, st store.Store, now time.Time, rs ...store.AttemptResult) {
	t.Helper()
	if err := st.RecordAttempts(ctx, policy(now), rs); err != nil {
		t.Fatalf("RecordAttempts = %v", err)
	}
}

func mustGet(t *testing.T, st store.Store, uuid string) *webhook.Subscription {
	t.Helper()
	s, err := st.Subscription(ctx, org, client, uuid)
	if err != nil {
		t.Fatalf("Subscription(%s) = %v", uuid, err)
	}
	return s
}

func countState(t *testing.T, st store.Store, sub, state string) int {
	t.Helper()
	ms, err := st.Messages(ctx, sub, state)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func noticeKinds(t *testing.T, st store.Store) []notify.Kind {
	t.Helper()
	ns, err := st.DueNotices(ctx, t0.Add(1000*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []notify.Kind
	for _, n := range ns {
		kinds = append(kinds, n.Kind)
	}
	return kinds
}
