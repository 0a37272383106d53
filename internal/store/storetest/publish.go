package storetest

import (
	"testing"

	"github.com/pusher-hq/pusher/internal/webhook"
)

var publishCases = []testCase{
	{"FanOutByEventNameAndOrganization", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA, webhook.ProductCreated))
		mustCreate(t, e.st, newSub(subB)) // all events
		mustCreate(t, e.st, newSub(subC, webhook.PurchaseCreated))
		res := mustPublish(t, e.st, event(org, webhook.ProductCreated, "e1"), event("other-org", webhook.ProductCreated, "e2"))
		if res[0].Messages != 2 || res[1].Messages != 0 || res[0].Duplicate || res[1].Duplicate {
			t.Errorf("Publish = %+v, want 2 messages for the first event and 0 for another org", res)
		}
		if countState(t, e.st, subA, "pending") != 1 || countState(t, e.st, subB, "pending") != 1 || countState(t, e.st, subC, "") != 0 {
			t.Error("fan-out went to the wrong subscriptions")
		}
	}},
	{"SameEventIDIsADuplicate", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		first := mustPublish(t, e.st, event(org, webhook.ProductCreated, "e1"))
		again := mustPublish(t, e.st, event(org, webhook.ProductCreated, "e1"), event(org, webhook.ProductCreated, "e2"))
		if !again[0].Duplicate || again[0].MessageID != first[0].MessageID || again[0].Messages != 0 || again[1].Duplicate {
			t.Errorf("Publish(again) = %+v, want the first a duplicate with the same messageId", again)
		}
		if n := countState(t, e.st, subA, ""); n != 2 {
			t.Errorf("messages = %d, want 2", n)
		}
	}},
	{"DisconnectReachesOnlyTheClientAndDeletesItsOthers", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA, webhook.ApplicationConnectionRemoved))
		mustCreate(t, e.st, newSub(subB, webhook.ProductCreated))
		other := newSub(subC)
		other.ClientID = "client-b"
		mustCreate(t, e.st, other)
		ev := event(org, webhook.PersonalAssertionDeleted, "d1")
		ev.ClientID = client
		if res := mustPublish(t, e.st, ev); res[0].Messages != 1 {
			t.Fatalf("Publish(disconnect) = %+v, want 1 message", res)
		}
		mustBeGone(t, e.st, subB)
		if countState(t, e.st, subC, "") != 0 {
			t.Error("another client's subscription got the disconnect event")
		}
	}},
	{"DisconnectDeletesTheSubscriptionOnceDelivered", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA)) // all events include the disconnect
		ev := event(org, webhook.PersonalAssertionDeleted, "d1")
		ev.ClientID = client
		mustPublish(t, e.st, ev)
		d := claimOne(t, e.st, t0)
		if d.Envelope.EventName != webhook.ApplicationConnectionRemoved {
			t.Fatalf("claimed %q, want the disconnect event as ApplicationConnectionRemoved", d.Envelope.EventName)
		}
		mustGet(t, e.st, subA)
		mustRecord(t, e.st, t0, result(d, t0, 200))
		mustBeGone(t, e.st, subA)
	}},
}
