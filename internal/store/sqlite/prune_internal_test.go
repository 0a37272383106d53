package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Prune deletes in chunks: more rows than a chunk are all deleted, the
// attempts with their messages (none left behind), and the count of events
// deleted is the total.
func TestPruneInChunks(t *testing.T) {
	defer func(n int) { pruneChunk = n }(pruneChunk)
	pruneChunk = 4
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const org = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := &webhook.Subscription{UUID: "f02f80f8-8f35-11eb-8dcd-0242ac130003", OrganizationUUID: org, ClientID: "c",
		TransportName: webhook.TransportWebhook, Destination: "https://shop.example/hook", ContactEmail: "a@b.se",
		Status: webhook.Active, SigningKey: "k", Created: t0, Updated: t0}
	if err := db.CreateSubscription(ctx, s); err != nil {
		t.Fatal(err)
	}
	const events = 11
	var evs []store.Event
	for i := range events {
		id := fmt.Sprint("prune-", i)
		mid := webhook.MessageID(org, webhook.ProductCreated, id)
		evs = append(evs, store.Event{Envelope: webhook.NewEnvelope(org, webhook.ProductCreated, mid, `{}`, t0),
			SourceEventName: webhook.ProductCreated, EventID: id, Now: t0})
	}
	if _, err := db.Publish(ctx, evs); err != nil {
		t.Fatal(err)
	}
	ds, err := db.ClaimMessages(ctx, store.ClaimParams{Now: t0, Limit: 100, PerSubscription: 100, LeaseFor: time.Minute})
	if err != nil || len(ds) != events {
		t.Fatalf("claimed %d, %v", len(ds), err)
	}
	var results []store.AttemptResult
	for _, d := range ds {
		results = append(results, store.AttemptResult{DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: t0, StatusCode: 200})
	}
	rec := store.RecordParams{Results: results, Policy: webhook.RetryPolicy{Schedule: webhook.ZettleSchedule}, Now: t0}
	if _, err := db.RecordAndClaim(ctx, rec, store.ClaimParams{}); err != nil {
		t.Fatal(err)
	}

	n, err := db.Prune(ctx, t0.Add(time.Hour))
	if err != nil || n != events {
		t.Fatalf("Prune = %d, %v; want %d events", n, err, events)
	}
	for _, table := range []string{"messages", "attempts", "events"} {
		var left int
		if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&left); err != nil || left != 0 {
			t.Errorf("%d rows left in %s (%v), want 0", left, table, err)
		}
	}
}
