package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/client"
)

// recorded is one request the fake server received.
type recorded struct {
	Method, Path, Query, Auth, ContentType string
	Body                                   map[string]any
	RawBody                                string
}

// fake answers each "METHOD path" with a canned status and body and
// records what it received.
type fake struct {
	mu      sync.Mutex
	reqs    []recorded
	answers map[string]func(r *http.Request) (int, string)
}

func newFake(t *testing.T, answers map[string]func(r *http.Request) (int, string)) (*fake, *client.Client) {
	f := &fake{answers: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, client.New(srv.URL+"/", "tok-1", client.WithHTTPClient(srv.Client()))
}

func fixed(status int, body string) func(*http.Request) (int, string) {
	return func(*http.Request) (int, string) { return status, body }
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
		ContentType: r.Header.Get("Content-Type"), RawBody: string(b)}
	if len(b) > 0 {
		json.Unmarshal(b, &rec.Body)
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, rec)
	answer := f.answers[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if answer == nil {
		w.WriteHeader(404)
		io.WriteString(w, `{"developerMessage":"No such resource","errorType":"NOT_FOUND","violations":[]}`)
		return
	}
	status, body := answer(r)
	if body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (f *fake) last(t *testing.T) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("no request")
	}
	return f.reqs[len(f.reqs)-1]
}

const subJSON = `{"uuid":"f02f80f8-8f35-11eb-8dcd-0242ac130003","transportName":"WEBHOOK","eventNames":["ProductUpdated"],
	"updated":"2021-03-29T16:31:47.087507Z","destination":"https://example.com/h","contactEmail":"a@b.example",
	"status":"ACTIVE","signingKey":"zLzClQLQN8yfH8aEjONeXzgJRAHR0zpD7RonFCpizujCUCectBlln0vFArTbLPYa"}`

// Create sends exactly Zettle's body and decodes the subscription.
func TestCreateSendsZettlesBody(t *testing.T) {
	f, c := newFake(t, map[string]func(*http.Request) (int, string){
		"POST /organizations/self/subscriptions": fixed(200, subJSON),
	})
	s, err := c.CreateSubscription(context.Background(), client.CreateRequest{
		UUID: "f02f80f8-8f35-11eb-8dcd-0242ac130003", EventNames: []string{"ProductUpdated"},
		Destination: "https://example.com/h", ContactEmail: "a@b.example"})
	if err != nil {
		t.Fatal(err)
	}
	r := f.last(t)
	want := map[string]any{"uuid": "f02f80f8-8f35-11eb-8dcd-0242ac130003", "transportName": "WEBHOOK",
		"eventNames": []any{"ProductUpdated"}, "destination": "https://example.com/h", "contactEmail": "a@b.example"}
	if !reflect.DeepEqual(r.Body, want) {
		t.Errorf("create body = %v, want %v", r.Body, want)
	}
	if r.Auth != "Bearer tok-1" || r.ContentType != "application/json" || r.Path != "/organizations/self/subscriptions" {
		t.Errorf("create request = %+v", r)
	}
	if s.UUID != "f02f80f8-8f35-11eb-8dcd-0242ac130003" || s.Status != client.StatusActive || len(s.SigningKey) != 64 ||
		!s.Updated.Equal(time.Date(2021, 3, 29, 16, 31, 47, 87507000, time.UTC)) {
		t.Errorf("decoded %+v", s)
	}

	// nil EventNames is every event: an empty array, never null.
	c.CreateSubscription(context.Background(), client.CreateRequest{UUID: "x", Destination: "d", ContactEmail: "e"})
	if got := f.last(t).RawBody; !strings.Contains(got, `"eventNames":[]`) {
		t.Errorf("create without events sent %s", got)
	}
}

// Update sends only the fields that are set.
func TestUpdateSendsOnlyGivenFields(t *testing.T) {
	f, c := newFake(t, map[string]func(*http.Request) (int, string){
		"PUT /organizations/self/subscriptions/f02f80f8-8f35-11eb-8dcd-0242ac130003": fixed(200, ""),
	})
	const id = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	for _, tt := range []struct {
		req  client.UpdateRequest
		want string
	}{
		{client.UpdateRequest{ContactEmail: "new@shop.example"}, `{"contactEmail":"new@shop.example"}`},
		{client.UpdateRequest{EventNames: []string{}}, `{"eventNames":[]}`},
		{client.UpdateRequest{EventNames: []string{"PurchaseCreated"}, Destination: "https://x.example"},
			`{"eventNames":["PurchaseCreated"],"destination":"https://x.example"}`},
	} {
		if err := c.UpdateSubscription(context.Background(), id, tt.req); err != nil {
			t.Fatal(err)
		}
		if got := f.last(t).RawBody; got != tt.want {
			t.Errorf("update %+v sent %s, want %s", tt.req, got, tt.want)
		}
	}
}

func TestErrorsAreZettles(t *testing.T) {
	_, c := newFake(t, map[string]func(*http.Request) (int, string){
		"DELETE /organizations/self/subscriptions/nope": fixed(404,
			`{"developerMessage":"Subscription nope not found","errorType":"SUBSCRIPTION_NOT_FOUND","violations":[]}`),
		"POST /organizations/self/subscriptions": fixed(422, `{"developerMessage":"Invalid request","errorType":"VALIDATION_ERROR",
			"violations":[{"propertyName":"contactEmail","developerMessage":"must be an e-mail address","constraintType":"EMAIL"}]}`),
		"GET /organizations/self/subscriptions": fixed(502, `<html>bad gateway</html>`),
	})
	err := c.DeleteSubscription(context.Background(), "nope")
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 404 || e.ErrorType != client.ErrorTypeSubscriptionNotFound ||
		err.Error() != "Subscription nope not found" {
		t.Errorf("delete of an unknown subscription = %#v", err)
	}
	_, err = c.CreateSubscription(context.Background(), client.CreateRequest{UUID: "u"})
	if !errors.As(err, &e) || e.StatusCode != 422 || len(e.Violations) != 1 || e.Violations[0].PropertyName != "contactEmail" ||
		e.Violations[0].ConstraintType != "EMAIL" {
		t.Errorf("invalid create = %#v", err)
	}
	_, err = c.Subscriptions(context.Background())
	if !errors.As(err, &e) || e.StatusCode != 502 || !strings.Contains(err.Error(), "502") {
		t.Errorf("a non-JSON error answer = %v", err)
	}
}

// The extension calls use docs/extensions.md's paths, queries and bodies.
func TestExtensionRequests(t *testing.T) {
	const sub = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	base := "/v1/organizations/1ce52f60-645f-11ea-a80e-0cec44ada668/subscriptions/" + sub
	page := 0
	f, c := newFake(t, map[string]func(*http.Request) (int, string){
		"GET /v1/organizations/1ce52f60-645f-11ea-a80e-0cec44ada668/subscriptions": fixed(200, `{"subscriptions":[`+strings.TrimSuffix(subJSON, "}")+
			`,"clientId":"demo","failingSince":"2026-12-01T12:00:00.000Z","nextRetryAt":"2026-12-01T12:10:00.000Z","backlog":4,
			"settings":{"strictOrder":true,"standardWebhooks":false,"rotationOverlap":"24h","standardWebhooksSecret":"whsec_x"}}]}`),
		"GET " + base + "/messages": func(r *http.Request) (int, string) {
			page++
			if r.URL.Query().Get("cursor") == "" {
				return 200, `{"messages":[{"messageId":"m2","subscriptionUuid":"` + sub + `","eventName":"PurchaseCreated","state":"failing",
					"created":"2026-12-01T12:00:00.000Z","attempts":3,"lastAttempt":{"at":"2026-12-01T12:05:00.000Z","durationMs":12,
					"statusCode":500,"errorClass":"status","error":"The destination answered HTTP 500","remoteAddr":"203.0.113.7:443"},
					"nextAttemptAt":"2026-12-01T12:10:00.000Z"}],"nextCursor":"c1"}`
			}
			return 200, `{"messages":[{"messageId":"m1","subscriptionUuid":"` + sub + `","eventName":"PurchaseCreated","state":"pending",
				"created":"2026-12-01T11:00:00.000Z","attempts":0,"lastAttempt":null}]}`
		},
		"GET " + base + "/messages/m2": fixed(200, `{"messageId":"m2","subscriptionUuid":"`+sub+`","eventName":"PurchaseCreated",
			"state":"failing","created":"2026-12-01T12:00:00.000Z","attempts":2,"envelope":{"organizationUuid":"o","eventName":"PurchaseCreated"},
			"attemptLog":[{"at":"2026-12-01T12:01:00.000Z","durationMs":7,"statusCode":0,"errorClass":"connect","error":"refused","remoteAddr":"","response":""},
			{"at":"2026-12-01T12:05:00.000Z","durationMs":12,"statusCode":500,"errorClass":"status","error":"HTTP 500","remoteAddr":"203.0.113.7:443","response":"oops"}]}`),
		"GET " + base + "/stats": fixed(200, `{"lastHour":{"delivered":120,"failed":3,"successRate":0.976,"latencyMs":{"p50":12,"p95":40,"p99":95}},
			"lastDay":{"delivered":0,"failed":0,"successRate":null,"latencyMs":null},"backlog":4}`),
		"POST " + base + "/messages/m2/redeliver":                                fixed(202, `{"messageId":"m2","state":"pending"}`),
		"POST " + base + "/replay":                                               fixed(200, `{"dryRun":true,"count":7}`),
		"POST " + base + "/rotate-key":                                           fixed(200, `{"signingKey":"new","previousKeyExpires":"2026-12-02T12:00:00.000Z"}`),
		"GET " + base + "/settings":                                              fixed(200, `{"strictOrder":false,"standardWebhooks":false,"rotationOverlap":"24h","standardWebhooksSecret":"whsec_a"}`),
		"PUT " + base + "/settings":                                              fixed(200, `{"strictOrder":false,"standardWebhooks":true,"rotationOverlap":"1h30m","standardWebhooksSecret":"whsec_a"}`),
		"GET /v1/organizations/1ce52f60-645f-11ea-a80e-0cec44ada668/undelivered": fixed(200, `{"messages":[]}`),
	})
	c = c.ForOrganization("1ce52f60-645f-11ea-a80e-0cec44ada668")
	ctx := context.Background()

	subs, err := c.OrganizationSubscriptions(ctx)
	if err != nil || len(subs) != 1 {
		t.Fatalf("OrganizationSubscriptions = %v, %v", subs, err)
	}
	if s := subs[0]; s.ClientID != "demo" || s.Backlog == nil || *s.Backlog != 4 || s.Settings == nil || !s.Settings.StrictOrder ||
		s.Settings.RotationOverlap != 24*time.Hour || s.NextRetryAt.IsZero() || s.FailingSince.IsZero() {
		t.Errorf("extension fields = %+v", s)
	}

	since := time.Date(2026, 12, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	p, err := c.Messages(ctx, sub, client.MessageFilter{State: client.StateFailing, EventName: "PurchaseCreated", Since: since, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if q := f.last(t).Query; q != "eventName=PurchaseCreated&limit=1&since=2026-11-30T23%3A00%3A00Z&state=failing" {
		t.Errorf("messages query = %s", q)
	}
	if len(p.Messages) != 1 || p.NextCursor != "c1" || p.Messages[0].LastAttempt == nil || p.Messages[0].LastAttempt.StatusCode != 500 ||
		p.Messages[0].LastAttempt.Duration() != 12*time.Millisecond || p.Messages[0].Attempts != 3 {
		t.Errorf("messages page = %+v", p)
	}
	var ids []string
	for m, err := range c.AllMessages(ctx, sub, client.MessageFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.MessageID)
	}
	if !reflect.DeepEqual(ids, []string{"m2", "m1"}) || f.last(t).Query != "cursor=c1" {
		t.Errorf("AllMessages = %v (last query %q)", ids, f.last(t).Query)
	}

	m, err := c.Message(ctx, sub, "m2")
	if err != nil {
		t.Fatal(err)
	}
	if m.Attempts != 2 || len(m.AttemptList) != 2 || m.AttemptList[1].Response != "oops" || m.LastAttempt.StatusCode != 500 ||
		!json.Valid(m.Envelope) || !strings.Contains(string(m.Envelope), "PurchaseCreated") {
		t.Errorf("message = %+v", m)
	}

	st, err := c.Stats(ctx, sub)
	if err != nil || st.Backlog != 4 || *st.LastHour.SuccessRate != 0.976 || st.LastHour.LatencyMs.P95 != 40 ||
		st.LastDay.SuccessRate != nil || st.LastDay.LatencyMs != nil {
		t.Errorf("stats = %+v, %v", st, err)
	}

	if r, err := c.Redeliver(ctx, sub, "m2"); err != nil || r.State != "pending" || r.MessageID != "m2" {
		t.Errorf("redeliver = %+v, %v", r, err)
	}

	until := since.Add(12 * time.Hour)
	r, err := c.Replay(ctx, sub, client.ReplayRequest{Since: since, Until: until, EventNames: []string{"PurchaseCreated"},
		FromSubscriptionUUID: "old", DryRun: true, IdempotencyKey: "k1"})
	if err != nil || !r.DryRun || r.Count != 7 {
		t.Errorf("replay = %+v, %v", r, err)
	}
	want := map[string]any{"since": "2026-11-30T23:00:00Z", "until": "2026-12-01T11:00:00Z", "eventNames": []any{"PurchaseCreated"},
		"fromSubscriptionUuid": "old", "dryRun": true, "idempotencyKey": "k1"}
	if got := f.last(t).Body; !reflect.DeepEqual(got, want) {
		t.Errorf("replay body = %v, want %v", got, want)
	}
	if _, err := c.Replay(ctx, sub, client.ReplayRequest{Since: since}); err == nil {
		t.Error("replay without until succeeded")
	}

	rk, err := c.RotateKeyWithOverlap(ctx, sub, 2*time.Hour)
	if err != nil || rk.SigningKey != "new" || rk.PreviousKeyExpires.IsZero() {
		t.Errorf("rotate = %+v, %v", rk, err)
	}
	if got := f.last(t).Body["overlap"]; got != "2h0m0s" {
		t.Errorf("rotate overlap sent %v", got)
	}
	if _, err := c.RotateKey(ctx, sub); err != nil || f.last(t).RawBody != "{}" {
		t.Errorf("rotate without overlap sent %q, %v", f.last(t).RawBody, err)
	}

	s, err := c.Settings(ctx, sub)
	if err != nil || s.RotationOverlap != 24*time.Hour || s.StandardWebhooksSecret != "whsec_a" {
		t.Errorf("settings = %+v, %v", s, err)
	}
	on, overlap := true, 90*time.Minute
	s, err = c.UpdateSettings(ctx, sub, client.SettingsUpdate{StandardWebhooks: &on, RotationOverlap: &overlap})
	if err != nil || !s.StandardWebhooks || s.RotationOverlap != overlap {
		t.Errorf("update settings = %+v, %v", s, err)
	}
	if got := f.last(t).RawBody; got != `{"standardWebhooks":true,"rotationOverlap":"1h30m0s"}` {
		t.Errorf("update settings sent %s", got)
	}

	if p, err := c.Undelivered(ctx, client.MessageFilter{State: client.StateDead}); err != nil || len(p.Messages) != 0 {
		t.Errorf("undelivered = %+v, %v", p, err)
	}
	if got := f.last(t); got.Path != "/v1/organizations/1ce52f60-645f-11ea-a80e-0cec44ada668/undelivered" || got.Query != "state=dead" {
		t.Errorf("undelivered request = %+v", got)
	}
}

// WithResponseBody hands over the answer exactly as sent.
func TestWithResponseBody(t *testing.T) {
	_, c := newFake(t, map[string]func(*http.Request) (int, string){
		"GET /organizations/self/subscriptions": fixed(200, "["+subJSON+"]"),
	})
	var raw []byte
	if _, err := c.Subscriptions(client.WithResponseBody(context.Background(), &raw)); err != nil {
		t.Fatal(err)
	}
	if string(raw) != "["+subJSON+"]" {
		t.Errorf("raw body = %s", raw)
	}
}

func TestNewSubscriptionUUIDIsVersion1(t *testing.T) {
	s, err := client.NewSubscriptionUUID()
	if err != nil {
		t.Fatal(err)
	}
	if id, err := uuid.Parse(s); err != nil || id.Version() != 1 {
		t.Errorf("NewSubscriptionUUID = %s (%v), want a version 1 UUID", s, err)
	}
}

// A cancelled context stops the call.
func TestContextCancels(t *testing.T) {
	_, c := newFake(t, map[string]func(*http.Request) (int, string){
		"GET /organizations/self/subscriptions": fixed(200, "[]"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Subscriptions(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("call with a cancelled context = %v", err)
	}
}

// A message's attempts decode from "attemptLog" (the server) or from an
// "attempts" array (docs/extensions.md's first draft), and lists of
// subscriptions from a bare array or {"subscriptions": […]}.
func TestDecodingVariants(t *testing.T) {
	for _, body := range []string{
		`{"messageId":"m","attempts":[{"at":"2026-12-01T12:00:00.000Z","durationMs":5,"statusCode":200}],"envelope":{}}`,
		`{"messageId":"m","attempts":1,"attemptLog":[{"at":"2026-12-01T12:00:00.000Z","durationMs":5,"statusCode":200}],"envelope":{}}`,
	} {
		var m client.MessageDetail
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if m.MessageID != "m" || m.Attempts != 1 || len(m.AttemptList) != 1 || m.LastAttempt == nil || !m.LastAttempt.Succeeded() {
			t.Errorf("%s decoded to %+v", body, m)
		}
	}
	for _, body := range []string{"[" + subJSON + "]", `{"subscriptions":[` + subJSON + "]}"} {
		_, c := newFake(t, map[string]func(*http.Request) (int, string){
			"GET /v1/organizations/self/subscriptions": fixed(200, body),
		})
		subs, err := c.OrganizationSubscriptions(context.Background())
		if err != nil || len(subs) != 1 || subs[0].UUID != "f02f80f8-8f35-11eb-8dcd-0242ac130003" {
			t.Errorf("%s decoded to %+v, %v", body, subs, err)
		}
	}
}
