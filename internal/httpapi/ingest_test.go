package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

func claims(org string) auth.Claims {
	return auth.Claims{OrganizationUUID: org, ClientID: "shop", Scope: allScopes}
}

func (a *testAPI) producer() string {
	return a.tokenFor("", "pos", auth.ScopePublish)
}

// markFailing publishes an event and records a failed attempt for it.
func markFailing(t *testing.T, a *testAPI) {
	t.Helper()
	ctx := context.Background()
	r := a.do("POST", "/v1/events", a.producer(), `{"organizationUuid":"`+org+`","eventName":"ProductCreated","eventId":"f1","payload":{}}`)
	if r.status != 202 {
		t.Fatalf("publish = %d %s", r.status, r.body)
	}
	ds, err := a.db.ClaimMessages(ctx, store.ClaimParams{Now: time.Now(), Limit: 10, PerSubscription: 1, LeaseFor: time.Minute})
	if err != nil || len(ds) != 1 {
		t.Fatalf("claim = %v, %v", ds, err)
	}
	res := store.AttemptResult{DeliveryID: ds[0].ID, LeaseToken: ds[0].LeaseToken, StartedAt: time.Now(), StatusCode: 503, ErrorClass: webhook.ClassHTTPStatus}
	rec := store.RecordParams{Results: []store.AttemptResult{res}, Now: time.Now(),
		Policy: webhook.RetryPolicy{Schedule: webhook.Schedule{{Count: 1, Interval: time.Hour}}, FailingNoticeEvery: time.Hour}}
	if _, err := a.db.RecordAndClaim(ctx, rec, store.ClaimParams{}); err != nil {
		t.Fatal(err)
	}
}

func TestIngest(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, rcv.URL, "ProductCreated"))
	a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID2, rcv.URL))

	body := `[{"organizationUuid":"` + org + `","eventName":"ProductCreated","eventId":"p1","timestamp":"2021-04-19T13:15:37.924Z",
		"payload":{"name":"Fish & <Chips>","price":1.50}},
		{"organizationUuid":"` + org + `","eventName":"PurchaseCreated","eventId":"p2","payload":"{\"amount\": 35300}"}]`
	r := a.do("POST", "/v1/events", a.producer(), body)
	if r.status != http.StatusAccepted {
		t.Fatalf("publish = %d %s", r.status, r.body)
	}
	var resp struct {
		MessageIDs []string
		Duplicates int
	}
	json.Unmarshal([]byte(r.body), &resp)
	want := []string{webhook.MessageID(org, "ProductCreated", "p1"), webhook.MessageID(org, "PurchaseCreated", "p2")}
	if len(resp.MessageIDs) != 2 || resp.MessageIDs[0] != want[0] || resp.MessageIDs[1] != want[1] || resp.Duplicates != 0 {
		t.Fatalf("response %s, want messageIds %v", r.body, want)
	}
	ms, _ := a.db.Messages(context.Background(), subUUID, "")
	all, _ := a.db.Messages(context.Background(), subUUID2, "")
	if len(ms) != 1 || len(all) != 2 {
		t.Errorf("fan-out: %d and %d messages, want 1 (ProductCreated only) and 2 (all events)", len(ms), len(all))
	}
	ds, _ := a.db.ClaimMessages(context.Background(), store.ClaimParams{Now: time.Now(), Limit: 10, PerSubscription: 10, LeaseFor: time.Minute})
	for _, d := range ds {
		if d.Envelope.EventName == "ProductCreated" {
			if d.Envelope.Payload != `{"name":"Fish & <Chips>","price":1.50}` || d.Envelope.Timestamp != "2021-04-19T13:15:37.924Z" {
				t.Errorf("envelope = %+v", d.Envelope)
			}
		}
		if d.Envelope.EventName == "PurchaseCreated" && d.Envelope.Payload != `{"amount":35300}` {
			t.Errorf("string payload not compacted: %q", d.Envelope.Payload)
		}
	}
	again := a.do("POST", "/v1/events", a.producer(), body)
	json.Unmarshal([]byte(again.body), &resp)
	if again.status != 202 || resp.Duplicates != 2 || resp.MessageIDs[0] != want[0] {
		t.Errorf("re-post = %d %s, want the same ids as duplicates", again.status, again.body)
	}
	if ms, _ := a.db.Messages(context.Background(), subUUID2, ""); len(ms) != 2 {
		t.Errorf("re-post enqueued again: %d messages", len(ms))
	}
}

func TestIngestErrors(t *testing.T) {
	a := newAPI(t)
	prod := a.producer()
	ev := func(fields string) string {
		return `{"organizationUuid":"` + org + `","eventName":"ProductCreated","eventId":"x","payload":{}` + fields + `}`
	}
	tests := []struct {
		name, token, body string
		status            int
		errorType         string
		property          string
	}{
		{"subscriber token", a.token(org, allScopes...), ev(""), 403, "FORBIDDEN", ""},
		{"no token", "", ev(""), 401, "UNAUTHORIZED", ""},
		{"not JSON", prod, `{"organizationUuid":`, 400, "INVALID_REQUEST", ""},
		{"JSON then more", prod, ev("") + ` {}`, 400, "INVALID_REQUEST", ""},
		{"field of the wrong type", prod, `{"organizationUuid":1}`, 422, "VALIDATION_ERROR", "event"},
		{"element of the wrong type", prod, `[` + ev("") + `,{"organizationUuid":1}]`, 422, "VALIDATION_ERROR", "[1].event"},
		{"element not an object", prod, `[7,` + ev("") + `]`, 422, "VALIDATION_ERROR", "[0].event"},
		{"array then more", prod, `[` + ev("") + `] {}`, 400, "INVALID_REQUEST", ""},
		{"empty array", prod, `[]`, 400, "INVALID_REQUEST", ""},
		{"unknown event", prod, strings.Replace(ev(""), "ProductCreated", "ProductExploded", 1), 422, "VALIDATION_ERROR", "eventName"},
		{"TestMessage", prod, strings.Replace(ev(""), "ProductCreated", "TestMessage", 1), 422, "VALIDATION_ERROR", "eventName"},
		{"legacy event", prod, strings.Replace(ev(""), "ProductCreated", "CardPaymentInvalid", 1), 422, "VALIDATION_ERROR", "eventName"},
		{"bad org", prod, strings.Replace(ev(""), org, "acme", 1), 422, "VALIDATION_ERROR", "organizationUuid"},
		{"missing eventId", prod, strings.Replace(ev(""), `"eventId":"x",`, "", 1), 422, "VALIDATION_ERROR", "eventId"},
		{"payload string not JSON", prod, strings.Replace(ev(""), `"payload":{}`, `"payload":"{nope"`, 1), 422, "VALIDATION_ERROR", "payload"},
		{"payload array", prod, strings.Replace(ev(""), `"payload":{}`, `"payload":[1]`, 1), 422, "VALIDATION_ERROR", "payload"},
		{"payload missing", prod, strings.Replace(ev(""), `,"payload":{}`, ``, 1), 422, "VALIDATION_ERROR", "payload"},
		{"bad timestamp", prod, ev(`,"timestamp":"yesterday"`), 422, "VALIDATION_ERROR", "timestamp"},
		{"disconnect without client", prod, strings.Replace(ev(""), "ProductCreated", "ApplicationConnectionRemoved", 1), 422, "VALIDATION_ERROR", "clientId"},
		{"second of batch bad", prod, `[` + ev("") + `,` + strings.Replace(ev(""), `"eventId":"x"`, `"eventId":""`, 1) + `]`, 422, "VALIDATION_ERROR", "[1].eventId"},
		{"wrong content type", prod, ev(""), 415, "UNSUPPORTED_MEDIA_TYPE", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.name == "wrong content type" {
				headers = append(headers, "Content-Type: text/plain")
			}
			v := wantError(t, a.do("POST", "/v1/events", tt.token, tt.body, headers...), tt.status, tt.errorType)
			if tt.property != "" && (len(v) == 0 || v[0]["propertyName"] != tt.property) {
				t.Errorf("violations %v, want one on %s", v, tt.property)
			}
		})
	}
	// All or nothing: the valid first event of the rejected batch was not stored.
	if r := a.do("POST", "/v1/events", prod, ev("")); !strings.Contains(r.body, `"duplicates":0`) {
		t.Errorf("a rejected batch stored its valid event: %s", r.body)
	}
}
