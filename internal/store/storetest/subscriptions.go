package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

var subscriptionCases = []testCase{
	{"CreateThenGet", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA, webhook.ProductUpdated))
		got := mustGet(t, e.st, subA)
		if got.Destination != "https://example.com/"+subA || got.Status != webhook.Active || !got.Updated.Equal(t0) ||
			!got.Created.Equal(t0) || !slices.Equal(got.EventNames, []string{webhook.ProductUpdated}) ||
			got.SigningKey != "k-"+subA || got.ContactEmail != "ops@example.com" || got.TransportName != webhook.TransportWebhook {
			t.Errorf("Subscription = %+v", got)
		}
	}},
	{"DuplicateUUIDConflicts", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		err := e.st.CreateSubscription(ctx, newSub(subA))
		if !webhook.IsCode(err, webhook.Conflict) || webhook.ErrorCode(err) != webhook.Conflict {
			t.Errorf("CreateSubscription(duplicate) = %v, want Conflict", err)
		}
		if want := webhook.ErrSubscriptionExists(subA).Message; !containsMessage(err, want) {
			t.Errorf("CreateSubscription(duplicate) = %v, want the message %q", err, want)
		}
	}},
	{"DuplicateUUIDInOtherOrganizationConflicts", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		other := newSub(subA)
		other.OrganizationUUID, other.ClientID = "another-org", "client-b"
		if err := e.st.CreateSubscription(ctx, other); !webhook.IsCode(err, webhook.Conflict) {
			t.Errorf("CreateSubscription(uuid of another organization) = %v, want Conflict", err)
		}
	}},
	{"ListOldestFirstWithEmptyEventNames", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA, webhook.ProductUpdated))
		b := newSub(subB)
		b.Created = t0.Add(time.Second)
		mustCreate(t, e.st, b)
		list, err := e.st.Subscriptions(ctx, org, client)
		if err != nil || len(list) != 2 || list[0].UUID != subA || list[1].EventNames == nil || len(list[1].EventNames) != 0 {
			t.Fatalf("Subscriptions = %v, %v; want [A B], B with empty (non-nil) event names", list, err)
		}
	}},
	{"ListOfNobodyIsEmptyNotNil", func(t *testing.T, e *env) {
		list, err := e.st.Subscriptions(ctx, org, client)
		if err != nil || list == nil || len(list) != 0 {
			t.Errorf("Subscriptions = %#v, %v; want an empty list", list, err)
		}
	}},
	{"UpdateReplacesFieldsAndClearsFailing", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "u", 1)
		attempt(t, e.st, t0, 500)
		upd := newSub(subA, webhook.ProductCreated, webhook.PurchaseCreated)
		upd.Destination, upd.ContactEmail, upd.Updated = "https://new.example.com/", "new@example.com", t0.Add(time.Hour)
		if err := e.st.UpdateSubscription(ctx, upd); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, e.st, subA)
		if got.Destination != upd.Destination || got.ContactEmail != upd.ContactEmail || len(got.EventNames) != 2 ||
			!got.Updated.Equal(upd.Updated) || !got.Created.Equal(t0) || got.SigningKey != "k-"+subA {
			t.Errorf("after update Subscription = %+v", got)
		}
		if got.Status != webhook.Active || got.Failures != 0 || !got.FailingSince.IsZero() || !got.NextRetryAt.IsZero() {
			t.Errorf("after update status %s failures %d since %v next %v; want ACTIVE with no failing state",
				got.Status, got.Failures, got.FailingSince, got.NextRetryAt)
		}
	}},
	{"UpdateUnknownIsNotFound", func(t *testing.T, e *env) {
		err := e.st.UpdateSubscription(ctx, newSub(subC))
		if !webhook.IsCode(err, webhook.NotFound) || !containsMessage(err, webhook.ErrSubscriptionNotFound(subC).Message) {
			t.Errorf("UpdateSubscription(unknown) = %v, want NotFound", err)
		}
	}},
	{"DeleteThenNotFound", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0); err != nil {
			t.Fatal(err)
		}
		mustBeGone(t, e.st, subA)
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("DeleteSubscription(again) = %v, want NotFound", err)
		}
	}},
	{"DeletedUUIDCanBeReused", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, e.st, newSub(subA))
	}},
	{"DeleteMakesDeadLettersAtItsTime", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "d", 2)
		claimOne(t, e.st, t0) // one leased, one pending: both die
		at := t0.Add(time.Hour)
		if err := e.st.DeleteSubscription(ctx, org, client, subA, at); err != nil {
			t.Fatal(err)
		}
		ms, err := e.st.UndeliveredMessages(ctx, 0, 10)
		if err != nil || len(ms) != 2 {
			t.Fatalf("UndeliveredMessages = %v, %v; want 2 dead letters", ms, err)
		}
		for _, m := range ms {
			if m.State != store.StateDead || !m.FinishedAt.Equal(at) {
				t.Errorf("message %d: %s finished %v, want dead at %v", m.ID, m.State, m.FinishedAt, at)
			}
		}
	}},
	{"OtherClientsSubscriptionIsInvisible", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		other := newSub(subB)
		other.ClientID = "client-b"
		mustCreate(t, e.st, other)
		if list, _ := e.st.Subscriptions(ctx, org, client); len(list) != 1 || list[0].UUID != subA {
			t.Errorf("Subscriptions(client-a) = %v, want only %s", list, subA)
		}
		if _, err := e.st.Subscription(ctx, org, client, subB); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("Subscription(other client's) = %v, want NotFound", err)
		}
		if err := e.st.UpdateSubscription(ctx, newSub(subB)); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("UpdateSubscription(other client's) = %v, want NotFound", err)
		}
		if err := e.st.DeleteSubscription(ctx, org, client, subB, t0); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("DeleteSubscription(other client's) = %v, want NotFound", err)
		}
	}},
	{"OtherOrganizationCannotDelete", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		if err := e.st.DeleteSubscription(ctx, "another-org", client, subA, t0); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("DeleteSubscription(other org) = %v, want NotFound", err)
		}
		mustGet(t, e.st, subA)
	}},
	{"AllSubscriptionsAcrossOrganizations", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		other := newSub(subB)
		other.OrganizationUUID, other.Created = "another-org", t0.Add(time.Second)
		mustCreate(t, e.st, other)
		publishN(t, e.st, "all", 1)
		attempt(t, e.st, t0, 500)
		all, err := e.st.AllSubscriptions(ctx)
		if err != nil || len(all) != 2 || all[0].UUID != subA || all[1].UUID != subB {
			t.Fatalf("AllSubscriptions = %v, %v; want A then B", all, err)
		}
		if a := all[0]; a.Status != webhook.Failing || a.Failures != 1 || !a.FailingSince.Equal(t0) ||
			!a.LastFailingNoticeAt.Equal(t0) || a.SigningKey != "k-"+subA {
			t.Errorf("AllSubscriptions[0] = %+v, want FAILING since %v with its key and notice time", a, t0)
		}
	}},
}

// containsMessage reports whether err wraps a *webhook.Error with message.
func containsMessage(err error, message string) bool {
	var we *webhook.Error
	return errors.As(err, &we) && we.Message == message
}
