package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The operator sink end to end, with the real parts: an SQLite store in
// t.TempDir() whose transitions write the notices, the Sender, the
// OperatorSink and an httptest receiver that checks each signature. The
// clocks are injected; nothing sleeps. Each wait below is for something
// the sender does at once, bounded by stepTimeout only to fail rather
// than hang.

const stepTimeout = 10 * time.Second

var (
	sinkT0     = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sinkPolicy = webhook.RetryPolicy{Schedule: webhook.Schedule{{Count: 1, Interval: 10 * time.Second}},
		FailingNoticeEvery: 24 * time.Hour, OperatorSink: true}
	sinkOrg = "6f2c1b6e-8f35-11eb-8dcd-0242ac130003"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// signalOutbox reports each poll and each mark of the outbox it wraps.
type signalOutbox struct {
	Outbox
	polled chan int   // due notices per DueNotices call
	marked chan int64 // ids marked sent or failed
}

func newSignalOutbox(o Outbox) *signalOutbox {
	return &signalOutbox{Outbox: o, polled: make(chan int, 100), marked: make(chan int64, 100)}
}

func (o *signalOutbox) DueNotices(ctx context.Context, now time.Time, limit int) ([]webhook.Notice, error) {
	ns, err := o.Outbox.DueNotices(ctx, now, limit)
	o.polled <- len(ns)
	return ns, err
}

func (o *signalOutbox) MarkNoticeSent(ctx context.Context, id int64, at time.Time) error {
	err := o.Outbox.MarkNoticeSent(ctx, id, at)
	o.marked <- id
	return err
}

func (o *signalOutbox) MarkNoticeFailed(ctx context.Context, id int64, errText string, retryAt time.Time) error {
	err := o.Outbox.MarkNoticeFailed(ctx, id, errText, retryAt)
	o.marked <- id
	return err
}

// next receives from c or fails the test.
func next[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(stepTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func openSQLite(t *testing.T, dir string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// subscribeWithMessage creates a subscription to the event name and
// publishes one event of that name.
func subscribeWithMessage(t *testing.T, st store.Store, uuid, name string) {
	t.Helper()
	s := &webhook.Subscription{UUID: uuid, OrganizationUUID: sinkOrg, ClientID: "c", TransportName: webhook.TransportWebhook,
		EventNames: []string{name}, Destination: "https://shop.example/" + uuid, ContactEmail: "ops@shop.example",
		Status: webhook.Active, SigningKey: "k-" + uuid, Created: sinkT0, Updated: sinkT0, Settings: webhook.DefaultSettings()}
	if err := st.CreateSubscription(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	mid := webhook.MessageID(sinkOrg, name, uuid)
	ev := store.Event{Envelope: webhook.NewEnvelope(sinkOrg, name, mid, `{"id":"`+uuid+`"}`, sinkT0),
		SourceEventName: name, EventID: uuid, Now: sinkT0}
	if _, err := st.Publish(t.Context(), []store.Event{ev}); err != nil {
		t.Fatal(err)
	}
}

// deliverAll claims every due message at now and records status for each.
func deliverAll(t *testing.T, st store.Store, now time.Time, status map[string]int) {
	t.Helper()
	ds, err := st.ClaimMessages(t.Context(), store.ClaimParams{Now: now, Limit: 10, PerSubscription: 1, LeaseFor: time.Minute})
	if err != nil || len(ds) != len(status) {
		t.Fatalf("ClaimMessages = %d deliveries, %v; want %d", len(ds), err, len(status))
	}
	var rs []store.AttemptResult
	for _, d := range ds {
		r := store.AttemptResult{DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: now, Duration: time.Millisecond,
			StatusCode: status[d.SubscriptionUUID]}
		if r.StatusCode/100 != 2 {
			r.ErrorClass = webhook.ClassHTTPStatus
		}
		rs = append(rs, r)
	}
	if _, err := st.RecordAndClaim(t.Context(), store.RecordParams{Results: rs, Policy: sinkPolicy, Now: now}, store.ClaimParams{}); err != nil {
		t.Fatal(err)
	}
}

// startSender runs s until the test ends and returns a func stopping it.
func startSender(t *testing.T, s *Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := next(t, done, "Run to return"); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	t.Cleanup(stop)
	return stop
}

type sinkEvent struct {
	Type      string         `json:"type"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

func decodeEvent(t *testing.T, e receivedEvent) sinkEvent {
	t.Helper()
	var ev sinkEvent
	if err := json.Unmarshal(e.Body, &ev); err != nil {
		t.Fatalf("event %s: %v", e.Body, err)
	}
	return ev
}

const (
	subOK   = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	subGone = "7c9e43ce-912c-11eb-a8b3-0242ac130003"
)

func TestOperatorSinkReceivesTransitions(t *testing.T) {
	db := openSQLite(t, t.TempDir())
	defer db.Close()
	// subOK fails, then its retry succeeds; subGone fails twice and, with
	// one retry in the schedule, is deleted.
	subscribeWithMessage(t, db, subOK, webhook.ProductCreated)
	subscribeWithMessage(t, db, subGone, webhook.InventoryBalanceChanged)
	deliverAll(t, db, sinkT0, map[string]int{subOK: 503, subGone: 500})
	deliverAll(t, db, sinkT0.Add(10*time.Second), map[string]int{subOK: 200, subGone: 500})

	clock := &testClock{at: sinkT0.Add(time.Minute)}
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	recv := newSinkReceiver(t, secret, clock.Now)
	sink, err := NewOperatorSink(recv.srv.URL, secret, "pusher/test", clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ob, mailer := newSignalOutbox(db), &fakeMailer{}
	log, _ := testLogger()
	startSender(t, &Sender{Outbox: ob, Mailer: mailer, Operator: sink, Logger: log, Now: clock.Now, Interval: time.Hour})
	for range 8 { // 4 e-mails, 4 operator events
		next(t, ob.marked, "a notice to be marked")
	}

	got := recv.got()
	var types []string
	for _, e := range got {
		ev := decodeEvent(t, e)
		types = append(types, ev.Type+" "+ev.Data["subscriptionUuid"].(string))
		if e.Status != 200 {
			t.Errorf("answered %d", e.Status)
		}
	}
	want := []string{"subscription.failing " + subOK, "subscription.failing " + subGone,
		"subscription.recovered " + subOK, "subscription.deleted " + subGone}
	slices.Sort(types[:2]) // one transaction: its two failing notices in either order
	slices.Sort(want[:2])
	if !slices.Equal(types, want) {
		t.Fatalf("sink got %v, want %v", types, want)
	}
	if len(mailer.sentIDs()) != 4 {
		t.Errorf("%d e-mails sent, want 4 (unchanged by the sink)", len(mailer.sentIDs()))
	}
	for _, e := range got {
		ev := decodeEvent(t, e)
		switch ev.Type {
		case "subscription.recovered":
			if ev.Timestamp != "2026-12-01T10:00:10.000Z" || ev.Data["failingSince"] != "2026-12-01T10:00:00.000Z" ||
				ev.Data["heldMessages"] != 0.0 || ev.Data["contactEmail"] != "ops@shop.example" {
				t.Errorf("recovered event %s", e.Body)
			}
		case "subscription.deleted":
			if ev.Data["undelivered"] != 1.0 || ev.Data["statusCode"] != 500.0 || ev.Data["errorClass"] != "http_status" {
				t.Errorf("deleted event %s", e.Body)
			}
		}
	}
	unsent, err := db.UnsentNotices(t.Context())
	if err != nil || len(unsent) != 0 {
		t.Errorf("UnsentNotices = %d, %v; want every notice sent", len(unsent), err)
	}
}

func TestOperatorSinkRetriesUntil2xx(t *testing.T) {
	db := openSQLite(t, t.TempDir())
	defer db.Close()
	subscribeWithMessage(t, db, subOK, webhook.ProductCreated)
	deliverAll(t, db, sinkT0, map[string]int{subOK: 503})

	clock := &testClock{at: sinkT0}
	const raw = "raw operator secret"
	recv := newSinkReceiver(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte(raw)), clock.Now, 500)
	sink, err := NewOperatorSink(recv.srv.URL, raw, "", clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ob, wake := newSignalOutbox(db), make(chan struct{}, 1)
	log, _ := testLogger()
	const backoff = 30 * time.Second
	startSender(t, &Sender{Outbox: ob, Mailer: &fakeMailer{}, Operator: sink, Logger: log, Now: clock.Now,
		Interval: time.Hour, Wake: wake, Backoff: ScaledBackoff(backoff)})

	next(t, ob.marked, "the e-mail")
	next(t, ob.marked, "the failed POST")
	rec := operatorRecord(t, db)
	if !rec.SentAt.IsZero() || rec.Attempts != 1 || !strings.Contains(rec.LastError, "HTTP 500") {
		t.Fatalf("after a 500: %+v; want unsent, 1 failed attempt, the status as last error", rec)
	}
	// Before its backoff ends the notice is not due.
	clock.Add(backoff - time.Second)
	wake <- struct{}{}
	for next(t, ob.polled, "a poll") != 0 {
	}
	if n := len(recv.got()); n != 1 {
		t.Fatalf("%d POSTs before the backoff ended, want 1", n)
	}
	clock.Add(time.Second)
	wake <- struct{}{}
	next(t, ob.marked, "the retried POST")
	got := recv.got()
	if len(got) != 2 || got[1].Status != 200 || got[1].Header.Get("webhook-id") != got[0].Header.Get("webhook-id") ||
		string(got[1].Body) != string(got[0].Body) {
		t.Fatalf("sink got %d POSTs (%+v); want the same event again, answered 200", len(got), got)
	}
	if rec := operatorRecord(t, db); !rec.SentAt.Equal(clock.Now()) {
		t.Errorf("after the 200: %+v; want sent at %v", rec, clock.Now())
	}
	clock.Add(time.Hour)
	wake <- struct{}{}
	for next(t, ob.polled, "a poll") != 0 {
	}
	if n := len(recv.got()); n != 2 {
		t.Errorf("%d POSTs after it was sent, want still 2", n)
	}
}

// operatorRecord returns the one operator notice of the outbox.
func operatorRecord(t *testing.T, st store.Store) store.NoticeRecord {
	t.Helper()
	recs, err := st.Notices(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ops []store.NoticeRecord
	for _, r := range recs {
		if r.Channel == webhook.ChannelOperator {
			ops = append(ops, r)
		}
	}
	if len(ops) != 1 {
		t.Fatalf("%d operator notices, want 1", len(ops))
	}
	return ops[0]
}

func TestOperatorNoticeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("restart secret"))
	clock := &testClock{at: sinkT0}
	recv := newSinkReceiver(t, secret, clock.Now, 503)

	// First process: the key is rotated, the sink is down.
	db := openSQLite(t, dir)
	subscribeWithMessage(t, db, subOK, webhook.ProductCreated)
	s, err := db.SubscriptionByUUID(t.Context(), subOK)
	if err != nil {
		t.Fatal(err)
	}
	s.Rotate("k2", sinkT0, time.Hour)
	if err := db.SaveSigning(t.Context(), s, *s.KeyRotatedNotice(sinkT0)); err != nil {
		t.Fatal(err)
	}
	sink, err := NewOperatorSink(recv.srv.URL, secret, "", clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ob := newSignalOutbox(db)
	log, _ := testLogger()
	stop := startSender(t, &Sender{Outbox: ob, Operator: sink, Logger: log, Now: clock.Now, Interval: time.Hour})
	next(t, ob.marked, "the failed POST")
	stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Second process, after the backoff: a new store handle and sender.
	clock.Add(time.Hour)
	db = openSQLite(t, dir)
	defer db.Close()
	if rec := operatorRecord(t, db); rec.Kind != webhook.NoticeKeyRotated || !rec.SentAt.IsZero() || rec.Attempts != 1 {
		t.Fatalf("after reopening: %+v; want the unsent key_rotated notice with 1 failed attempt", rec)
	}
	sink2, err := NewOperatorSink(recv.srv.URL, secret, "", clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ob = newSignalOutbox(db)
	startSender(t, &Sender{Outbox: ob, Operator: sink2, Logger: log, Now: clock.Now, Interval: time.Hour})
	next(t, ob.marked, "the POST after the restart")
	got := recv.got()
	if len(got) != 2 || got[1].Status != 200 || got[1].Header.Get("webhook-id") != got[0].Header.Get("webhook-id") {
		t.Fatalf("sink got %+v; want the event again after the restart, with the same webhook-id, answered 200", got)
	}
	ev := decodeEvent(t, got[1])
	if ev.Type != "subscription.key_rotated" || ev.Data["previousKeyExpires"] != "2026-12-01T11:00:00.000Z" ||
		strings.Contains(string(got[1].Body), "k2") || strings.Contains(string(got[1].Body), "k-"+subOK) {
		t.Errorf("event after the restart: %s; want key_rotated without any key", got[1].Body)
	}
	if rec := operatorRecord(t, db); rec.SentAt.IsZero() {
		t.Errorf("after the 200: %+v; want sent", rec)
	}
}
