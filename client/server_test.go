package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/client"
	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/ssrf"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/webhook"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

const (
	org      = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"
	otherOrg = "1ce52f60-645f-11ea-a80e-0cec44ada668"
)

// server is pusher's real API and delivery engine on SQLite in a temporary
// directory, as pusher serve runs them, with retries an hour apart.
type server struct {
	t   *testing.T
	url string
	key *auth.LocalKey
}

func newServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := sqlite.Open(ctx, filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	key, err := auth.LoadOrCreateLocalKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := webhook.ParseSchedule("5x1h")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	loopback := &ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	dc := delivery.NewClient("pusher/test", 2*time.Second, 4, delivery.WithGuard(loopback))
	engine := &delivery.Engine{Queue: db, Client: dc, Logger: log, Schedule: sched, Workers: 4, PollInterval: 20 * time.Millisecond}
	srv := httptest.NewServer(httpapi.NewHandler(log, db, &auth.Verifier{Keys: key}, dc, engine.Notify,
		httpapi.Config{AllowHTTPDestinations: true}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		engine.Run(ctx)
	}()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		db.Close()
	})
	return &server{t: t, url: srv.URL, key: key}
}

// token mints a token of org for OAuth client clientID.
func (s *server) token(org, clientID string, scopes ...string) string {
	s.t.Helper()
	tok, err := s.key.Mint(auth.Claims{OrganizationUUID: org, ClientID: clientID, Scope: scopes}, time.Now(), time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// subscriber is a client with a subscriber token of org and client "shop"
// holding every event's scope.
func (s *server) subscriber(org string) *client.Client {
	return client.New(s.url, s.token(org, "shop", "READ:PURCHASE", "READ:PRODUCT", "READ:USERINFO"))
}

// publish posts one event through the ingest API and returns its messageId.
func (s *server) publish(eventName, eventID string) string {
	s.t.Helper()
	body, _ := json.Marshal(map[string]any{"organizationUuid": org, "eventName": eventName, "eventId": eventID,
		"payload": map[string]any{"uuid": "e4cc8750-a110-11eb-adc0-ffd446d76f99", "name": "Crème brûlée"}})
	req, _ := http.NewRequest(http.MethodPost, s.url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token("", "producer", auth.ScopePublish))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		MessageIDs []string `json:"messageIds"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusAccepted || len(out.MessageIDs) != 1 {
		s.t.Fatalf("publish = %d %+v %v", resp.StatusCode, out, err)
	}
	return out.MessageIDs[0]
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func apiError(t *testing.T, err error, status int, errorType string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != status || e.ErrorType != errorType || e.Error() != e.DeveloperMessage || e.DeveloperMessage == "" {
		t.Fatalf("error = %#v, want a *client.Error %d %s with a developerMessage", err, status, errorType)
	}
	return e
}

// Zettle's four calls against the real API.
func TestZettleCallsAgainstServer(t *testing.T) {
	s := newServer(t)
	c := s.subscriber(org)
	ctx := context.Background()
	rcv := webhooktest.NewServer(t)

	id, err := client.NewSubscriptionUUID()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.CreateSubscription(ctx, client.CreateRequest{UUID: id, EventNames: []string{"ProductCreated"},
		Destination: rcv.URL + "/hook", ContactEmail: "ops@shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	if sub.UUID != id || sub.TransportName != "WEBHOOK" || !slices.Equal(sub.EventNames, []string{"ProductCreated"}) ||
		sub.Status != client.StatusActive || len(sub.SigningKey) != 64 || sub.Updated.IsZero() {
		t.Errorf("created %+v", sub)
	}
	if got := rcv.Requests(); len(got) != 1 || !got[0].IsTestMessage() {
		t.Errorf("the destination got %d requests, want the TestMessage", len(got))
	}
	_, err = c.CreateSubscription(ctx, client.CreateRequest{UUID: id, Destination: rcv.URL, ContactEmail: "ops@shop.example"})
	apiError(t, err, 400, client.ErrorTypeSubscriptionAlreadyExist)
	_, err = c.CreateSubscription(ctx, client.CreateRequest{UUID: uuid.NewString(), Destination: rcv.URL, ContactEmail: "ops@shop.example"})
	if e := apiError(t, err, 400, client.ErrorTypeInvalidRequest); e.Violations == nil {
		t.Errorf("a v4 uuid: %#v", e)
	}
	_, err = c.CreateSubscription(ctx, client.CreateRequest{UUID: mustV1(t), Destination: rcv.URL, ContactEmail: "not an address"})
	if e := apiError(t, err, 422, client.ErrorTypeValidationError); len(e.Violations) == 0 || e.Violations[0].PropertyName != "contactEmail" {
		t.Errorf("a bad contactEmail: %#v", e)
	}

	if err := c.UpdateSubscription(ctx, id, client.UpdateRequest{ContactEmail: "team@shop.example"}); err != nil {
		t.Fatal(err)
	}
	subs, err := c.Subscriptions(ctx)
	if err != nil || len(subs) != 1 || subs[0].ContactEmail != "team@shop.example" ||
		!slices.Equal(subs[0].EventNames, []string{"ProductCreated"}) || subs[0].SigningKey != sub.SigningKey {
		t.Fatalf("list after update = %+v, %v", subs, err)
	}
	if err := c.UpdateSubscription(ctx, id, client.UpdateRequest{EventNames: []string{}}); err != nil {
		t.Fatal(err)
	}
	if subs, _ := c.Subscriptions(ctx); len(subs) != 1 || len(subs[0].EventNames) != 0 || subs[0].ContactEmail != "team@shop.example" {
		t.Errorf("list after subscribing to every event = %+v", subs)
	}
	if err := c.DeleteSubscription(ctx, id); err != nil {
		t.Fatal(err)
	}
	apiError(t, c.DeleteSubscription(ctx, id), 404, client.ErrorTypeSubscriptionNotFound)
	apiError(t, c.UpdateSubscription(ctx, id, client.UpdateRequest{ContactEmail: "x@shop.example"}), 404, client.ErrorTypeSubscriptionNotFound)
	if subs, err := c.Subscriptions(ctx); err != nil || len(subs) != 0 {
		t.Errorf("list after delete = %+v, %v", subs, err)
	}
	_, err = client.New(s.url, "not-a-token").Subscriptions(ctx)
	apiError(t, err, 401, client.ErrorTypeUnauthorized)
}

func mustV1(t *testing.T) string {
	id, err := client.NewSubscriptionUUID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Every extension call against the real API and delivery engine.
func TestExtensionsAgainstServer(t *testing.T) {
	s := newServer(t)
	c := s.subscriber(org)
	ctx := context.Background()
	rcv := webhooktest.NewServer(t)

	sub, err := c.CreateSubscription(ctx, client.CreateRequest{UUID: mustV1(t), EventNames: []string{"ProductCreated"},
		Destination: rcv.URL + "/hook", ContactEmail: "ops@shop.example"})
	if err != nil {
		t.Fatal(err)
	}
	rcv.SetKeys(sub.SigningKey)

	// Delivered first, and redelivered: it arrives again, same messageId.
	delivered := s.publish("ProductCreated", "e-1")
	waitUntil(t, "the first event delivered", func() bool { return rcv.Counts()[delivered] == 1 })
	r, err := c.Redeliver(ctx, sub.UUID, delivered)
	if err != nil || r.MessageID != delivered {
		t.Fatalf("redeliver = %+v, %v", r, err)
	}
	waitUntil(t, "the redelivered message to arrive again", func() bool { return rcv.Counts()[delivered] == 2 })
	_, err = c.Redeliver(ctx, sub.UUID, "6a1cbd0e-0000-4000-8000-000000000000")
	apiError(t, err, 404, client.ErrorTypeMessageNotFound)

	// Then a failing one.
	rcv.SetStatus(500)
	failing := s.publish("ProductCreated", "e-2")
	waitUntil(t, "the second event to fail", func() bool { return rcv.Attempts(failing) == 1 })

	var page *client.MessagePage
	waitUntil(t, "the log to show it failing", func() bool {
		page, err = c.Messages(ctx, sub.UUID, client.MessageFilter{State: client.StateFailing})
		return err == nil && len(page.Messages) == 1
	})
	m := page.Messages[0]
	if m.MessageID != failing || m.SubscriptionUUID != sub.UUID || m.EventName != "ProductCreated" || m.Attempts != 1 ||
		m.LastAttempt == nil || m.LastAttempt.StatusCode != 500 || m.LastAttempt.Succeeded() || m.LastAttempt.Error == "" ||
		m.Created.IsZero() || m.NextAttemptAt.IsZero() {
		t.Errorf("failing message = %+v (last attempt %+v)", m, m.LastAttempt)
	}

	// Paging: one per page, newest first, the iterator follows the cursor.
	page, err = c.Messages(ctx, sub.UUID, client.MessageFilter{Limit: 1})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].MessageID != failing || page.NextCursor == "" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	var ids []string
	for m, err := range c.AllMessages(ctx, sub.UUID, client.MessageFilter{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.MessageID)
	}
	if !slices.Equal(ids, []string{failing, delivered}) {
		t.Errorf("AllMessages = %v, want [%s %s]", ids, failing, delivered)
	}
	if p, err := c.Messages(ctx, sub.UUID, client.MessageFilter{Since: time.Now().Add(time.Hour)}); err != nil || len(p.Messages) != 0 {
		t.Errorf("messages since an hour ahead = %+v, %v", p, err)
	}

	detail, err := c.Message(ctx, sub.UUID, failing)
	if err != nil {
		t.Fatal(err)
	}
	if detail.MessageID != failing || detail.Attempts != 1 || len(detail.AttemptList) != 1 || detail.AttemptList[0].StatusCode != 500 ||
		detail.AttemptList[0].RemoteAddr == "" || !json.Valid(detail.Envelope) {
		t.Errorf("message detail = %+v", detail)
	}
	var env struct {
		EventName string `json:"eventName"`
		MessageID string `json:"messageId"`
	}
	if json.Unmarshal(detail.Envelope, &env); env.EventName != "ProductCreated" || env.MessageID != failing {
		t.Errorf("envelope = %s", detail.Envelope)
	}
	_, err = c.Message(ctx, sub.UUID, "6a1cbd0e-0000-4000-8000-000000000000")
	apiError(t, err, 404, client.ErrorTypeMessageNotFound)
	_, err = c.Messages(ctx, mustV1(t), client.MessageFilter{})
	apiError(t, err, 404, client.ErrorTypeSubscriptionNotFound)
	_, err = c.Messages(ctx, sub.UUID, client.MessageFilter{State: "lost"})
	apiError(t, err, 400, client.ErrorTypeInvalidRequest)

	und, err := c.Undelivered(ctx, client.MessageFilter{})
	if err != nil || len(und.Messages) != 1 || und.Messages[0].MessageID != failing {
		t.Errorf("undelivered = %+v, %v", und, err)
	}
	n := 0
	for _, err := range c.AllUndelivered(ctx, client.MessageFilter{State: client.StateFailing}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("AllUndelivered yielded %d messages, want 1", n)
	}

	subs, err := c.OrganizationSubscriptions(ctx)
	if err != nil || len(subs) != 1 {
		t.Fatalf("organization subscriptions = %+v, %v", subs, err)
	}
	if o := subs[0]; o.UUID != sub.UUID || o.ClientID != "shop" || o.Status != client.StatusFailing || o.Backlog == nil || *o.Backlog != 1 ||
		o.FailingSince.IsZero() || o.NextRetryAt.IsZero() || o.Settings == nil || o.Settings.RotationOverlap != 24*time.Hour {
		t.Errorf("organization subscription = %+v", o)
	}

	st, err := c.Stats(ctx, sub.UUID)
	if err != nil || st.LastHour.Delivered != 2 || st.LastHour.Failed != 1 || st.LastHour.SuccessRate == nil ||
		*st.LastHour.SuccessRate < 0.66 || *st.LastHour.SuccessRate > 0.67 || st.LastHour.LatencyMs == nil ||
		st.LastHour.LatencyMs.P99 < st.LastHour.LatencyMs.P50 || st.Backlog != 1 || st.LastDay.Delivered != 2 {
		t.Errorf("stats = %+v, %v", st, err)
	}

	// The receiver is fixed; Zettle's update reactivates the subscription.
	rcv.SetStatus(200)
	if err := c.UpdateSubscription(ctx, sub.UUID, client.UpdateRequest{ContactEmail: "ops@shop.example"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the failing message delivered", func() bool { return rcv.Counts()[failing] == 1 })

	// Replay: a dry run counts, a replay sends, a repeated key sends nothing.
	since, until := time.Now().Add(-time.Hour), time.Now().Add(time.Minute)
	res, err := c.Replay(ctx, sub.UUID, client.ReplayRequest{Since: since, Until: until, DryRun: true})
	if err != nil || !res.DryRun || res.Count != 2 {
		t.Errorf("dry run = %+v, %v", res, err)
	}
	req := client.ReplayRequest{Since: since, Until: until, EventNames: []string{"ProductCreated"}, IdempotencyKey: "k-1"}
	res, err = c.Replay(ctx, sub.UUID, req)
	if err != nil || res.DryRun || res.Count != 2 || res.IdempotencyKey != "k-1" {
		t.Fatalf("replay = %+v, %v", res, err)
	}
	again, err := c.Replay(ctx, sub.UUID, req)
	if err != nil || again.Count != res.Count {
		t.Errorf("repeated replay = %+v, %v; want the first answer %+v", again, err, res)
	}
	req.Until = until.Add(time.Second)
	_, err = c.Replay(ctx, sub.UUID, req)
	if e := apiError(t, err, 422, client.ErrorTypeValidationError); len(e.Violations) == 0 || e.Violations[0].PropertyName != "idempotencyKey" {
		t.Errorf("same key, other request: %#v", e)
	}
	_, err = c.Replay(ctx, sub.UUID, client.ReplayRequest{Since: since, Until: until, EventNames: []string{"PurchaseCreated"}, DryRun: true})
	apiError(t, err, 422, client.ErrorTypeValidationError)
	waitUntil(t, "the replayed events delivered", func() bool { return rcv.Counts()[delivered] == 3 && rcv.Counts()[failing] == 2 })

	// Settings.
	set, err := c.Settings(ctx, sub.UUID)
	if err != nil || set.StrictOrder || set.StandardWebhooks || set.RotationOverlap != 24*time.Hour || set.StandardWebhooksSecret == "" {
		t.Errorf("settings = %+v, %v", set, err)
	}
	on, overlap := true, 2*time.Hour
	set, err = c.UpdateSettings(ctx, sub.UUID, client.SettingsUpdate{StandardWebhooks: &on, RotationOverlap: &overlap})
	if err != nil || !set.StandardWebhooks || set.StrictOrder || set.RotationOverlap != overlap {
		t.Errorf("settings after the change = %+v, %v", set, err)
	}
	tooLong := 200 * time.Hour
	_, err = c.UpdateSettings(ctx, sub.UUID, client.SettingsUpdate{RotationOverlap: &tooLong})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode/100 != 4 {
		t.Errorf("an overlap of 200h = %v, want a 4xx", err)
	}

	// Key rotation: deliveries carry both signatures during the overlap.
	rot, err := c.RotateKey(ctx, sub.UUID)
	if err != nil || len(rot.SigningKey) != 64 || rot.SigningKey == sub.SigningKey ||
		rot.PreviousKeyExpires.Before(time.Now().Add(overlap-time.Minute)) || rot.PreviousKeyExpires.After(time.Now().Add(overlap+time.Minute)) {
		t.Fatalf("rotate = %+v, %v", rot, err)
	}
	if subs, _ := c.Subscriptions(ctx); len(subs) != 1 || subs[0].SigningKey != rot.SigningKey {
		t.Errorf("Zettle's list after a rotation = %+v, want the new key", subs)
	}
	rcv.SetKeys(rot.SigningKey)
	third := s.publish("ProductCreated", "e-3")
	waitUntil(t, "a delivery after the rotation", func() bool { return rcv.Counts()[third] == 1 })
	for _, r := range rcv.Deliveries() {
		if r.Envelope.MessageID == third && r.Header.Get("X-Pusher-Previous-Signature") == "" {
			t.Error("a delivery during the overlap lacks X-Pusher-Previous-Signature")
		}
	}
	if rcv.BadSignatures() != 0 {
		t.Errorf("%d deliveries did not verify", rcv.BadSignatures())
	}
	rot, err = c.RotateKeyWithOverlap(ctx, sub.UUID, 0)
	if err != nil || !rot.PreviousKeyExpires.Before(time.Now().Add(time.Minute)) {
		t.Errorf("rotate with no overlap = %+v, %v", rot, err)
	}

	// Tenancy: another organization is forbidden to a subscriber token;
	// an operator token sees every client's subscriptions.
	_, err = c.ForOrganization(otherOrg).OrganizationSubscriptions(ctx)
	apiError(t, err, 403, client.ErrorTypeForbidden)
	_, err = s.subscriber(otherOrg).Messages(ctx, sub.UUID, client.MessageFilter{})
	apiError(t, err, 404, client.ErrorTypeSubscriptionNotFound)
	other := client.New(s.url, s.token(org, "other-app", "READ:PRODUCT"))
	if _, err := other.CreateSubscription(ctx, client.CreateRequest{UUID: mustV1(t), Destination: rcv.URL, ContactEmail: "o@shop.example",
		EventNames: []string{"ProductCreated"}}); err != nil {
		t.Fatal(err)
	}
	admin := client.New(s.url, s.token("", "ops", auth.ScopeAdmin), client.WithOrganization(org))
	if subs, err := admin.OrganizationSubscriptions(ctx); err != nil || len(subs) != 2 {
		t.Errorf("an operator's list = %+v, %v; want both clients'", subs, err)
	}
	if subs, err := c.OrganizationSubscriptions(ctx); err != nil || len(subs) != 1 {
		t.Errorf("a subscriber's list = %+v, %v; want its own", subs, err)
	}

	// After a delete the dead letters stay readable.
	rcv.SetStatus(500)
	last := s.publish("ProductCreated", "e-4")
	waitUntil(t, "the fourth event to fail", func() bool { return rcv.Attempts(last) >= 1 })
	if err := c.DeleteSubscription(ctx, sub.UUID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the dead letter in the log", func() bool {
		p, err := c.Messages(ctx, sub.UUID, client.MessageFilter{State: client.StateDead})
		return err == nil && len(p.Messages) == 1 && p.Messages[0].MessageID == last
	})
	_, err = c.Redeliver(ctx, sub.UUID, last)
	apiError(t, err, 404, client.ErrorTypeSubscriptionNotFound)
}
