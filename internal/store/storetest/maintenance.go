package storetest

import (
	"testing"
	"time"
)

var maintenanceCases = []testCase{
	{"PruneDeletesDeliveredOnly", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "p", 2)
		attempt(t, e.st, t0, 200)
		n, err := e.st.Prune(ctx, t0.Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("Prune = %d, %v; want 1 (the delivered event)", n, err)
		}
		if res := mustPublish(t, e.st, event(org, "ProductCreated", "p-1")); !res[0].Duplicate {
			t.Error("an event with a pending message was pruned")
		}
		if res := mustPublish(t, e.st, event(org, "ProductCreated", "p-0")); res[0].Duplicate {
			t.Error("the pruned event is still known")
		}
	}},
	{"PruneKeepsRecentDeliveries", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "p", 1)
		attempt(t, e.st, t0, 200)
		if n, err := e.st.Prune(ctx, t0.Add(-time.Hour)); err != nil || n != 0 {
			t.Errorf("Prune(before the delivery) = %d, %v; want 0", n, err)
		}
	}},
	{"PruneDeletesOldDeadLettersAndSentNotices", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		due, _ := e.st.DueNotices(ctx, t0, 10)
		if err := e.st.MarkNoticeSent(ctx, due[0].ID, t0); err != nil {
			t.Fatal(err)
		}
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0); err != nil {
			t.Fatal(err)
		}
		if n, err := e.st.Prune(ctx, t0); err != nil || n != 0 || countState(t, e.st, subA, "dead") != 1 || len(allNotices(t, e.st)) != 1 {
			t.Fatalf("Prune(at their time) = %d, %v; want the dead letter and the notice kept", n, err)
		}
		if n, err := e.st.Prune(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
			t.Fatalf("Prune = %d, %v; want the dead letter's event deleted", n, err)
		}
		if countState(t, e.st, subA, "") != 0 || len(allNotices(t, e.st)) != 0 {
			t.Error("an old dead letter or sent notice survived Prune")
		}
	}},
	{"PruneKeepsUnsentNotices", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		e.st.Prune(ctx, t0.Add(1000*time.Hour))
		if len(allNotices(t, e.st)) != 1 {
			t.Error("Prune deleted an unsent notice")
		}
	}},
	{"PingAnswers", func(t *testing.T, e *env) {
		if err := e.st.Ping(ctx); err != nil {
			t.Errorf("Ping = %v", err)
		}
	}},
	{"WriteAfterCloseFails", func(t *testing.T, e *env) {
		if err := e.st.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if err := e.st.CreateSubscription(ctx, newSub(subA)); err == nil {
			t.Error("CreateSubscription after Close succeeded")
		}
		if _, err := e.st.Publish(ctx, nil); err == nil {
			t.Error("Publish after Close succeeded")
		}
		e.st.Close() // a second Close is harmless
	}},
}
