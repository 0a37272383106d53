// Package storetest is the conformance suite for store.Store drivers. A
// driver's test calls Run with a function that creates an empty, migrated
// database; every behaviour callers rely on is specified here, one subtest
// per rule, so all drivers agree and a broken rule names itself.
//
// The Concurrency group races several handles on one database, the way N
// pusher serve instances share one PostgreSQL: no message is leased twice,
// the per-subscription cap and the one-probe rule hold across claimers, a
// duplicate event is stored once, and a lease taken over after expiry
// fences the old holder out.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// NewDB creates an empty, migrated database for one test and returns a
// function that opens a handle on it; the driver closes every handle with
// t.Cleanup. Each call of the returned function should open a new handle,
// as another process would; a driver whose database belongs to one process
// (SQLite) returns the same handle every time.
type NewDB func(t *testing.T) (open func() store.Store)

// Run runs the suite. Subtests run in parallel, each on its own database.
func Run(t *testing.T, newDB NewDB) {
	groups := []struct {
		name  string
		cases []testCase
	}{
		{"Subscriptions", subscriptionCases},
		{"Publish", publishCases},
		{"Claim", claimCases},
		{"Failing", failingCases},
		{"Leases", leaseCases},
		{"Release", releaseCases},
		{"Notices", noticeCases},
		{"OperatorSink", operatorCases},
		{"Maintenance", maintenanceCases},
		{"Copy", copyCases},
		{"Concurrency", concurrencyCases},
		{"DeliveryLog", deliveryLogCases},
		{"Activity", activityCases},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					open := newDB(t)
					c.run(t, &env{open: open, st: open(), another: func() store.Store { return newDB(t)() }})
				})
			}
		})
	}
}

// testCase is one rule.
type testCase struct {
	name string
	run  func(t *testing.T, e *env)
}

// env is what a case works with: a handle st on its database, a way to
// open more handles on it, and a way to create another database.
type env struct {
	open    func() store.Store
	st      store.Store
	another func() store.Store
}

const (
	org    = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"
	client = "client-a"
	subA   = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	subB   = "7c9e43ce-912c-11eb-a8b3-0242ac130003"
	subC   = "bc281bd9-bdb0-1011-ad31-6744c6f2972c"
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
	return store.Event{
		Envelope:        webhook.NewEnvelope(org, webhook.DeliveredName(name), mid, `{"id":"`+id+`"}`, t0),
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

// publishN publishes n ProductCreated events with ids prefix-0…
func publishN(t *testing.T, st store.Store, prefix string, n int) {
	t.Helper()
	for i := range n {
		mustPublish(t, st, event(org, webhook.ProductCreated, fmt.Sprintf("%s-%d", prefix, i)))
	}
}

func claimParams(now time.Time, limit, perSub int) store.ClaimParams {
	return store.ClaimParams{Now: now, Limit: limit, PerSubscription: perSub, LeaseFor: time.Minute}
}

func mustClaim(t *testing.T, st store.Store, now time.Time, limit, perSub int) []*store.Delivery {
	t.Helper()
	return mustClaimP(t, st, claimParams(now, limit, perSub))
}

// testSchedule is a compressed retry schedule: 3 retries 10 s apart.
var testSchedule = webhook.Schedule{{Count: 3, Interval: 10 * time.Second}}

var policy = webhook.RetryPolicy{Schedule: testSchedule, FailingNoticeEvery: 24 * time.Hour}

func result(d *store.Delivery, at time.Time, status int) store.AttemptResult {
	r := store.AttemptResult{DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: at, Duration: time.Millisecond,
		StatusCode: status, Timeout: 10 * time.Second}
	if status/100 != 2 {
		r.ErrorClass = webhook.ClassHTTPStatus
	}
	return r
}

func record(st store.Store, now time.Time, rs ...store.AttemptResult) error {
	_, err := st.RecordAndClaim(ctx, store.RecordParams{Results: rs, Policy: policy, Now: now}, store.ClaimParams{})
	return err
}

func mustRecord(t *testing.T, st store.Store, now time.Time, rs ...store.AttemptResult) {
	t.Helper()
	if err := record(st, now, rs...); err != nil {
		t.Fatalf("RecordAndClaim = %v", err)
	}
}

// claimExactly claims up to perSub messages per subscription at now and
// fails the test unless it leased exactly n.
func claimExactly(t *testing.T, st store.Store, now time.Time, n, perSub int) []*store.Delivery {
	t.Helper()
	ds := mustClaim(t, st, now, 100, perSub)
	if len(ds) != n {
		t.Fatalf("claimed %d messages at %v, want %d", len(ds), now, n)
	}
	return ds
}

// claimOne claims exactly one message at now and fails the test otherwise.
func claimOne(t *testing.T, st store.Store, now time.Time) *store.Delivery {
	t.Helper()
	ds := mustClaim(t, st, now, 10, 1)
	if len(ds) != 1 {
		t.Fatalf("claimed %d messages at %v, want 1", len(ds), now)
	}
	return ds[0]
}

// attempt claims one message at now and records status for it.
func attempt(t *testing.T, st store.Store, now time.Time, status int) *store.Delivery {
	t.Helper()
	d := claimOne(t, st, now)
	mustRecord(t, st, now, result(d, now, status))
	return d
}

func mustGet(t *testing.T, st store.Store, uuid string) *webhook.Subscription {
	t.Helper()
	s, err := st.Subscription(ctx, org, client, uuid)
	if err != nil {
		t.Fatalf("Subscription(%s) = %v", uuid, err)
	}
	return s
}

func mustBeGone(t *testing.T, st store.Store, uuid string) {
	t.Helper()
	if _, err := st.Subscription(ctx, org, client, uuid); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("Subscription(%s) = %v, want NotFound", uuid, err)
	}
}

func countState(t *testing.T, st store.Store, sub, state string) int {
	t.Helper()
	ms, err := st.Messages(ctx, sub, state)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// allNotices returns every notice in the outbox, oldest first, without
// leasing them.
func allNotices(t *testing.T, st store.Store) []webhook.Notice {
	t.Helper()
	recs, err := st.Notices(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []webhook.Notice
	for _, r := range slices.Backward(recs) {
		out = append(out, r.Notice)
	}
	return out
}

func noticeKinds(t *testing.T, st store.Store) []webhook.NoticeKind {
	t.Helper()
	var kinds []webhook.NoticeKind
	for _, n := range allNotices(t, st) {
		kinds = append(kinds, n.Kind)
	}
	return kinds
}
