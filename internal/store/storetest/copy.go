package storetest

import (
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// exportAll reads everything Import takes from st.
func exportAll(t *testing.T, st store.Store) store.ImportBatch {
	t.Helper()
	var b store.ImportBatch
	var err error
	if b.Subscriptions, err = st.AllSubscriptions(ctx); err != nil {
		t.Fatal(err)
	}
	for after := int64(0); ; {
		ms, err := st.UndeliveredMessages(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 {
			break
		}
		b.Messages, after = append(b.Messages, ms...), ms[len(ms)-1].ID
	}
	if b.Notices, err = st.UnsentNotices(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

var copyCases = []testCase{
	{"UndeliveredMessagesPagesAndSkipsDelivered", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "x", 5)
		attempt(t, e.st, t0, 200)
		b := exportAll(t, e.st)
		if len(b.Messages) != 4 {
			t.Fatalf("exported %d messages, want the 4 undelivered", len(b.Messages))
		}
		m := b.Messages[0]
		if m.SubscriptionUUID != subA || m.State != store.StatePending || m.Event.EventID != "x-1" ||
			m.Event.Envelope != event(org, webhook.ProductCreated, "x-1").Envelope || !m.CreatedAt.Equal(t0) {
			t.Errorf("exported message = %+v", m)
		}
	}},
	{"ImportIsRepeatable", func(t *testing.T, e *env) {
		d := failOnce(t, e.st, 3)
		ev := event(org, webhook.PersonalAssertionDeleted, "bye")
		ev.ClientID = client
		mustPublish(t, e.st, ev)
		b := exportAll(t, e.st)
		target := e.another()
		c, err := target.Import(ctx, b)
		if err != nil || c.Subscriptions != 1 || c.Messages != 4 || c.Notices != 1 {
			t.Fatalf("Import = %+v, %v; want 1 subscription, 4 messages, 1 notice", c, err)
		}
		again, err := target.Import(ctx, b)
		if err != nil || again != (store.ImportCounts{}) {
			t.Errorf("Import again = %+v, %v; want nothing new", again, err)
		}
		s := mustGet(t, target, subA)
		if s.Status != webhook.Failing || s.Failures != 1 || !s.NextRetryAt.Equal(t0.Add(10*time.Second)) || s.SigningKey != "k-"+subA {
			t.Errorf("imported subscription = %+v", s)
		}
		probe := mustClaim(t, target, t0.Add(10*time.Second), 10, 4)
		if len(probe) != 1 || probe[0].Envelope != d.Envelope || probe[0].Attempts != 1 {
			t.Errorf("probe after import = %+v, want the failed message with its attempt", probe)
		}
		if ns, _ := target.UnsentNotices(ctx); len(ns) != 1 || ns[0].Failure.StatusCode != 503 {
			t.Errorf("imported notices = %+v", ns)
		}
	}},
}
