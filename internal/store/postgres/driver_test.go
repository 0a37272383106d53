package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/pgtest"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Rules of this driver that the conformance suite leaves to it: group
// commit, and races that only several connections can run.

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC)

func newSub(uuid string) *webhook.Subscription {
	return &webhook.Subscription{UUID: uuid, OrganizationUUID: org, ClientID: "c", TransportName: webhook.TransportWebhook,
		Destination: "https://example.com/", ContactEmail: "ops@example.com", Status: webhook.Active, SigningKey: "k",
		Created: t0, Updated: t0}
}

func newEvent(name, id, payload string) store.Event {
	return store.Event{Envelope: webhook.NewEnvelope(org, webhook.DeliveredName(name), webhook.MessageID(org, name, id), payload, t0),
		SourceEventName: name, EventID: id, ClientID: "c", Now: t0}
}

func create(t *testing.T, st store.Store, uuid string) {
	t.Helper()
	if err := st.CreateSubscription(ctx, newSub(uuid)); err != nil {
		t.Fatal(err)
	}
}

func messages(t *testing.T, st store.Store, uuid, state string) int {
	t.Helper()
	ms, err := st.Messages(ctx, uuid, state)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func TestPublishRepeatedEventInOneCall(t *testing.T) {
	db := pgtest.Open(t)
	create(t, db, "s1")
	ev := newEvent(webhook.ProductCreated, "1", `{}`)
	res, err := db.Publish(ctx, []store.Event{ev, ev})
	if err != nil || res[0].Duplicate || res[0].Messages != 1 || !res[1].Duplicate || res[1].Messages != 0 {
		t.Fatalf("Publish(the same event twice) = %+v, %v; want it new once", res, err)
	}
	if n := messages(t, db, "s1", ""); n != 1 {
		t.Errorf("messages = %d, want 1", n)
	}
}

// TestFailingCallDoesNotFailItsGroup races good calls with calls that
// PostgreSQL rejects (invalid UTF-8), so that groups mix them.
func TestFailingCallDoesNotFailItsGroup(t *testing.T) {
	db := pgtest.Open(t)
	create(t, db, "s1")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			bad := i%2 == 1
			payload := `{}`
			if bad {
				payload = "\xff"
			}
			_, err := db.Publish(ctx, []store.Event{newEvent(webhook.ProductCreated, fmt.Sprint(i), payload)})
			if bad != (err != nil) {
				t.Errorf("Publish %d (bad %v) = %v", i, bad, err)
			}
		})
	}
	wg.Wait()
	if n := messages(t, db, "s1", store.StatePending); n != 20 {
		t.Errorf("messages = %d, want the 20 of the good calls", n)
	}
}

// TestPublishRacingDeleteLeavesNoPendingMessage deletes subscriptions on
// one handle while another publishes to them: no pending message may
// outlive its subscription.
func TestPublishRacingDeleteLeavesNoPendingMessage(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := pgtest.OpenDSN(t, dsn), pgtest.OpenDSN(t, dsn)
	for round := range 20 {
		uuid := fmt.Sprintf("s%d", round)
		create(t, a, uuid)
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range 5 {
				if _, err := a.Publish(ctx, []store.Event{newEvent(webhook.ProductCreated, fmt.Sprintf("%d-%d", round, i), `{}`)}); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			if err := b.DeleteSubscription(ctx, org, "c", uuid, t0); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		if n := messages(t, a, uuid, store.StatePending); n != 0 {
			t.Fatalf("round %d: %d pending messages of a deleted subscription", round, n)
		}
	}
}

// TestDeletionVoidsTheOtherLeasesOfTheCall records, in one call, the
// delivery of a disconnect event (which deletes the subscription) and then
// that of another leased message of it: the second message died with the
// subscription, so its result is ignored.
func TestDeletionVoidsTheOtherLeasesOfTheCall(t *testing.T) {
	db := pgtest.Open(t)
	create(t, db, "s1")
	if _, err := db.Publish(ctx, []store.Event{newEvent(webhook.ProductCreated, "1", `{}`),
		newEvent(webhook.PersonalAssertionDeleted, "2", `{}`)}); err != nil {
		t.Fatal(err)
	}
	ds, err := db.ClaimMessages(ctx, store.ClaimParams{Now: t0, Limit: 10, PerSubscription: 2, LeaseFor: time.Minute})
	if err != nil || len(ds) != 2 {
		t.Fatalf("ClaimMessages = %d, %v; want 2", len(ds), err)
	}
	ok := func(d *store.Delivery) store.AttemptResult {
		return store.AttemptResult{DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: t0, StatusCode: 200}
	}
	rec := store.RecordParams{Results: []store.AttemptResult{ok(ds[1]), ok(ds[0])}, Now: t0}
	if _, err := db.RecordAndClaim(ctx, rec, store.ClaimParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Subscription(ctx, org, "c", "s1"); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("Subscription after its disconnect event = %v, want NotFound", err)
	}
	if n := messages(t, db, "s1", store.StateDead); n != 1 {
		t.Errorf("dead = %d, want the other message", n)
	}
	if as, err := db.Attempts(ctx, ds[0].ID); err != nil || len(as) != 0 {
		t.Errorf("attempts of the dead message = %d, %v; want none", len(as), err)
	}
}

func TestPoolMaxConnsFromDSN(t *testing.T) {
	db := pgtest.OpenDSN(t, pgtest.WithParam(t, pgtest.DSN(t), "pool_max_conns", "1"))
	create(t, db, "s1")
	var wg sync.WaitGroup
	for i := range 10 { // more callers than connections wait their turn
		wg.Go(func() {
			if _, err := db.Publish(ctx, []store.Event{newEvent(webhook.ProductCreated, fmt.Sprint(i), `{}`)}); err != nil {
				t.Error(err)
			}
			if _, err := db.Subscriptions(ctx, org, "c"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
