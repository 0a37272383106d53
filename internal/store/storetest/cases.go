package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/notify"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

const (
	subA = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	subB = "7c9e43ce-912c-11eb-a8b3-0242ac130003"
	subC = "bc281bd9-bdb0-1011-ad31-6744c6f2972c"
)

func testSubscriptions(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA, webhook.ProductUpdated))
	if err := st.CreateSubscription(ctx, newSub(subA)); !webhook.IsCode(err, webhook.Conflict) {
		t.Errorf("CreateSubscription(duplicate) = %v, want Conflict", err)
	}
	got := mustGet(t, st, subA)
	if got.Destination != "https://example.com/"+subA || got.Status != webhook.Active || !got.Updated.Equal(t0) ||
		!slices.Equal(got.EventNames, []string{webhook.ProductUpdated}) || got.SigningKey != "k-"+subA {
		t.Errorf("Subscription = %+v", got)
	}
	mustCreate(t, st, newSub(subB))
	list, err := st.Subscriptions(ctx, org, client)
	if err != nil || len(list) != 2 || list[1].EventNames == nil || len(list[1].EventNames) != 0 {
		t.Fatalf("Subscriptions = %v, %v; want 2, the second with empty event names", list, err)
	}
	upd := newSub(subA, webhook.ProductCreated, webhook.PurchaseCreated)
	upd.Destination, upd.Updated = "https://new.example.com/", t0.Add(time.Hour)
	if err := st.UpdateSubscription(ctx, upd); err != nil {
		t.Fatal(err)
	}
	got = mustGet(t, st, subA)
	if got.Destination != upd.Destination || len(got.EventNames) != 2 || !got.Updated.Equal(upd.Updated) {
		t.Errorf("after update Subscription = %+v", got)
	}
	if err := st.UpdateSubscription(ctx, newSub(subC)); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("UpdateSubscription(unknown) = %v, want NotFound", err)
	}
	if err := st.DeleteSubscription(ctx, org, client, subA); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSubscription(ctx, org, client, subA); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("DeleteSubscription(again) = %v, want NotFound", err)
	}
	if _, err := st.Subscription(ctx, org, client, subA); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("Subscription(deleted) = %v, want NotFound", err)
	}
	mustCreate(t, st, newSub(subA)) // a deleted uuid may be used again
}

func testOwnership(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA))
	other := newSub(subB)
	other.ClientID = "client-b"
	mustCreate(t, st, other)
	if list, _ := st.Subscriptions(ctx, org, client); len(list) != 1 || list[0].UUID != subA {
		t.Errorf("Subscriptions(client-a) = %v, want only %s", list, subA)
	}
	if _, err := st.Subscription(ctx, org, client, subB); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("Subscription(other client's) = %v, want NotFound", err)
	}
	if err := st.DeleteSubscription(ctx, org, client, subB); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("DeleteSubscription(other client's) = %v, want NotFound", err)
	}
	if err := st.DeleteSubscription(ctx, "another-org", client, subA); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("DeleteSubscription(other org) = %v, want NotFound", err)
	}
	upd := newSub(subB)
	if err := st.UpdateSubscription(ctx, upd); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("UpdateSubscription(other client's) = %v, want NotFound", err)
	}
}

func testPublishFanOut(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA, webhook.ProductCreated))
	mustCreate(t, st, newSub(subB)) // all events
	mustCreate(t, st, newSub(subC, webhook.PurchaseCreated))
	res := mustPublish(t, st, event(org, webhook.ProductCreated, "e1"), event("other-org", webhook.ProductCreated, "e2"))
	if res[0].Messages != 2 || res[1].Messages != 0 || res[0].Duplicate {
		t.Errorf("Publish = %+v, want 2 messages for the first event and 0 for another org", res)
	}
	if countState(t, st, subA, store.StatePending) != 1 || countState(t, st, subB, store.StatePending) != 1 ||
		countState(t, st, subC, "") != 0 {
		t.Error("fan-out went to the wrong subscriptions")
	}
}

func testPublishIdempotent(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA))
	first := mustPublish(t, st, event(org, webhook.ProductCreated, "e1"))
	again := mustPublish(t, st, event(org, webhook.ProductCreated, "e1"), event(org, webhook.ProductCreated, "e2"))
	if !again[0].Duplicate || again[0].MessageID != first[0].MessageID || again[0].Messages != 0 || again[1].Duplicate {
		t.Errorf("Publish(again) = %+v, want the first a duplicate with the same messageId", again)
	}
	if n := countState(t, st, subA, ""); n != 2 {
		t.Errorf("messages = %d, want 2", n)
	}
}

func testDisconnect(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA, webhook.ApplicationConnectionRemoved))
	mustCreate(t, st, newSub(subB, webhook.ProductCreated))
	other := newSub(subC)
	other.ClientID = "client-b"
	mustCreate(t, st, other)
	ev := event(org, webhook.PersonalAssertionDeleted, "d1")
	ev.ClientID = client
	if res := mustPublish(t, st, ev); res[0].Messages != 1 {
		t.Fatalf("Publish(disconnect) = %+v, want 1 message", res)
	}
	if _, err := st.Subscription(ctx, org, client, subB); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("the client's unsubscribed subscription still exists: %v", err)
	}
	if countState(t, st, subC, "") != 0 {
		t.Error("another client's subscription got the disconnect event")
	}
	ds := mustClaim(t, st, t0, 10, 1)
	if len(ds) != 1 || ds[0].Envelope.EventName != webhook.ApplicationConnectionRemoved {
		t.Fatalf("claimed %+v, want the disconnect event as ApplicationConnectionRemoved", ds)
	}
	mustRecord(t, st, t0, result(ds[0], t0, 200))
	if _, err := st.Subscription(ctx, org, client, subA); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("subscription still exists after its disconnect event was delivered: %v", err)
	}
}

func testClaimLimit(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA))
	mustCreate(t, st, newSub(subB))
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		mustPublish(t, st, event(org, webhook.ProductCreated, id))
	}
	ds := mustClaim(t, st, t0, 100, 2)
	if qs, err := st.QueueStats(ctx); err != nil || qs.Pending != 6 || qs.Leased != 4 || !qs.OldestPending.Equal(t0) {
		t.Errorf("QueueStats = %+v, %v; want 6 pending, 4 leased, oldest at %v", qs, err, t0)
	}
	per := map[string]int{}
	for _, d := range ds {
		per[d.SubscriptionUUID]++
		if d.SigningKey != "k-"+d.SubscriptionUUID || d.Envelope.Payload == "" || d.Destination == "" {
			t.Errorf("delivery lacks data: %+v", d)
		}
	}
	if per[subA] != 2 || per[subB] != 2 {
		t.Errorf("claimed per subscription %v, want 2 each", per)
	}
	if more := mustClaim(t, st, t0, 100, 2); len(more) != 0 {
		t.Errorf("claimed %d more while the slots are full, want 0", len(more))
	}
	next, err := st.RecordAndClaim(ctx, policy(t0), []store.AttemptResult{result(ds[0], t0, 204)},
		store.ClaimParams{Now: t0, Limit: 100, PerSubscription: 2, LeaseFor: time.Minute})
	if err != nil || len(next) != 1 || next[0].SubscriptionUUID != ds[0].SubscriptionUUID {
		t.Errorf("RecordAndClaim after one delivery = %v, %v; want the next message of %s", next, err, ds[0].SubscriptionUUID)
	}
	if ds := mustClaim(t, st, t0, 1, 10); len(ds) != 1 {
		t.Errorf("claimed %d with limit 1", len(ds))
	}
}

func testFailingLifecycle(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA))
	for _, id := range []string{"1", "2", "3"} {
		mustPublish(t, st, event(org, webhook.ProductCreated, id))
	}
	ds := mustClaim(t, st, t0, 10, 2)
	now := t0.Add(time.Second)
	mustRecord(t, st, now, result(ds[0], now, 503), result(ds[1], now, 500))
	s := mustGet(t, st, subA)
	if s.Status != webhook.Failing || s.Failures != 1 || !s.NextRetryAt.Equal(now.Add(10*time.Second)) {
		t.Fatalf("after first failure: status %s failures %d next %v; want FAILING 1 %v", s.Status, s.Failures, s.NextRetryAt, now.Add(10*time.Second))
	}
	if got := mustClaim(t, st, now.Add(5*time.Second), 10, 2); len(got) != 0 {
		t.Errorf("claimed %d before the retry is due, want 0", len(got))
	}
	head := mustClaim(t, st, now.Add(10*time.Second), 10, 2)
	if len(head) != 1 || head[0].ID != ds[0].ID {
		t.Fatalf("claimed %v while failing, want only the oldest message %d", head, ds[0].ID)
	}
	later := now.Add(11 * time.Second)
	mustRecord(t, st, later, result(head[0], later, 200))
	if s := mustGet(t, st, subA); s.Status != webhook.Active || s.Failures != 0 {
		t.Errorf("after success: %s %d, want ACTIVE 0", s.Status, s.Failures)
	}
	if rest := mustClaim(t, st, later, 10, 5); len(rest) != 2 {
		t.Errorf("backlog claimed %d, want 2", len(rest))
	}
	if kinds := noticeKinds(t, st); !slices.Equal(kinds, []notify.Kind{notify.KindFailing, notify.KindRecovered}) {
		t.Errorf("notices = %v, want [failing recovered]", kinds)
	}
	attempts, err := st.Attempts(ctx, ds[0].ID)
	if err != nil || len(attempts) != 2 || attempts[0].StatusCode != 503 || attempts[1].StatusCode != 200 {
		t.Errorf("Attempts = %+v, %v", attempts, err)
	}
}

func testExhaustion(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA))
	mustPublish(t, st, event(org, webhook.ProductCreated, "1"), event(org, webhook.ProductCreated, "2"))
	now := t0
	for i := 0; i < 4; i++ { // the first failure and 3 retries
		ds := mustClaim(t, st, now, 10, 1)
		if len(ds) != 1 {
			t.Fatalf("round %d: claimed %d, want 1", i, len(ds))
		}
		mustRecord(t, st, now, result(ds[0], now, 500))
		now = now.Add(time.Minute)
	}
	if _, err := st.Subscription(ctx, org, client, subA); !webhook.IsCode(err, webhook.NotFound) {
		t.Fatalf("subscription after exhaustion: %v, want NotFound", err)
	}
	if dead := countState(t, st, subA, store.StateDead); dead != 2 {
		t.Errorf("dead letters = %d, want 2", dead)
	}
	if qs, err := st.QueueStats(ctx); err != nil || qs.Dead != 2 || qs.Pending != 0 || !qs.OldestPending.IsZero() {
		t.Errorf("QueueStats after exhaustion = %+v, %v; want 2 dead and nothing pending", qs, err)
	}
	ns, _ := st.DueNotices(ctx, now, 10)
	if len(ns) != 2 || ns[1].Kind != notify.KindDeleted || ns[1].Undelivered != 2 || ns[1].Reason == "" || ns[0].Kind != notify.KindFailing {
		t.Errorf("notices = %+v, want failing then deleted with 2 undelivered", ns)
	}
	if !ns[0].DeleteAt.Equal(t0.Add(30*time.Second)) || ns[0].Reason == "" {
		t.Errorf("failing notice DeleteAt = %v reason %q, want %v and a reason", ns[0].DeleteAt, ns[0].Reason, t0.Add(30*time.Second))
	}
}

func testLeaseFence(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA))
	mustPublish(t, st, event(org, webhook.ProductCreated, "1"))
	ds := mustClaim(t, st, t0, 10, 1)
	if n, err := st.ReleaseLeases(ctx, t0.Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("ReleaseLeases = %d, %v; want 1", n, err)
	}
	again := mustClaim(t, st, t0.Add(2*time.Minute), 10, 1)
	if len(again) != 1 || again[0].LeaseToken == ds[0].LeaseToken {
		t.Fatalf("re-claim = %+v", again)
	}
	mustRecord(t, st, t0, result(ds[0], t0, 500)) // stale lease: ignored
	if s := mustGet(t, st, subA); s.Status != webhook.Active {
		t.Errorf("a stale lease changed the subscription to %s", s.Status)
	}
	mustRecord(t, st, t0, result(again[0], t0, 200))
	if n := countState(t, st, subA, store.StateDelivered); n != 1 {
		t.Errorf("delivered = %d, want 1", n)
	}
}

func testNotices(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA))
	mustPublish(t, st, event(org, webhook.ProductCreated, "1"))
	for i, status := range []int{500, 200, 500} { // fail, recover, fail again within 24 h
		now := t0.Add(time.Duration(i) * time.Minute)
		ds := mustClaim(t, st, now, 10, 1)
		if len(ds) == 0 {
			mustPublish(t, st, event(org, webhook.ProductCreated, "x"))
			ds = mustClaim(t, st, now, 10, 1)
		}
		mustRecord(t, st, now, result(ds[0], now, status))
	}
	ns, _ := st.DueNotices(ctx, t0.Add(time.Hour), 10)
	if len(ns) != 2 {
		t.Fatalf("notices = %d, want 2 (the second failing notice is throttled)", len(ns))
	}
	if err := st.MarkNoticeFailed(ctx, ns[0].ID, "smtp down", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkNoticeSent(ctx, ns[1].ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if due, _ := st.DueNotices(ctx, t0.Add(time.Hour), 10); len(due) != 0 {
		t.Errorf("due notices = %d, want 0", len(due))
	}
	due, _ := st.DueNotices(ctx, t0.Add(3*time.Hour), 10)
	if len(due) != 1 || due[0].Attempts != 1 {
		t.Errorf("due later = %+v, want the failed one with 1 attempt", due)
	}
	all, err := st.Notices(ctx, 10)
	if err != nil || len(all) != 2 || all[0].SentAt.IsZero() || all[1].LastError != "smtp down" {
		t.Errorf("Notices = %+v, %v", all, err)
	}
}

func testPrune(t *testing.T, st store.Store) {
	mustCreate(t, st, newSub(subA))
	mustPublish(t, st, event(org, webhook.ProductCreated, "1"), event(org, webhook.ProductCreated, "2"))
	ds := mustClaim(t, st, t0, 10, 1)
	mustRecord(t, st, t0, result(ds[0], t0, 200))
	n, err := st.Prune(ctx, t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 (the delivered event)", n, err)
	}
	if res := mustPublish(t, st, event(org, webhook.ProductCreated, "2")); !res[0].Duplicate {
		t.Error("an event with a pending message was pruned")
	}
}
