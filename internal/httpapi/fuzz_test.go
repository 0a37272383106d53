package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/pgtest"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// acceptAll is a Handshaker that accepts every destination without a
// request: fuzzed destinations must not reach the network.
type acceptAll struct{}

func (acceptAll) Handshake(context.Context, *webhook.Subscription, time.Time) error { return nil }

// fuzzAPI is the real handler on a real store, called in process (no
// sockets, for speed), with a subscriber and a producer token.
type fuzzAPI struct {
	h                    http.Handler
	subscriber, producer string
}

func newFuzzAPI(f *testing.F) *fuzzAPI {
	dir := f.TempDir()
	var db store.Store
	if onPostgres {
		db = pgtest.Open(f)
	} else {
		sq, err := sqlite.Open(context.Background(), filepath.Join(dir, sqlite.FileName))
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { sq.Close() })
		db = sq
	}
	key, err := auth.LoadOrCreateLocalKey(dir)
	if err != nil {
		f.Fatal(err)
	}
	mint := func(c auth.Claims) string {
		tok, err := key.Mint(c, time.Now(), 24*time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return &fuzzAPI{
		h:          httpapi.NewHandler(log, db, &auth.Verifier{Keys: key}, acceptAll{}, nil, httpapi.Config{}),
		subscriber: mint(auth.Claims{OrganizationUUID: org, ClientID: "shop", Scope: allScopes}),
		producer:   mint(auth.Claims{ClientID: "pos", Scope: []string{auth.ScopePublish}}),
	}
}

// do serves one request; body nil sends none.
func (a *fuzzAPI) do(t testing.TB, method, path, token string, body []byte) response {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if r.status >= 500 {
		t.Fatalf("%s %s with %.300q = %d %.300s", method, path, body, r.status, r.body)
	}
	if tt, ok := t.(*testing.T); ok && r.status >= 400 {
		zettleError(tt, r)
	}
	return r
}

// fuzzEvent is what the property checks read of a posted event, decoded
// as the handler decodes it.
type fuzzEvent struct {
	OrganizationUUID string          `json:"organizationUuid"`
	EventName        string          `json:"eventName"`
	EventID          string          `json:"eventId"`
	Payload          json.RawMessage `json:"payload"`
}

// FuzzIngest posts arbitrary bodies to /v1/events. Properties: no 5xx (a
// panic would be one), every error has Zettle's body, and a 202 answers one
// messageId per event, in order, each the event's stable id, for events
// whose payload is an object (or a string holding one) of depth at most
// webhook.MaxDepth that compacts idempotently. Seeds in testdata/fuzz/FuzzIngest
// include the audit's deep nesting and a huge string.
func FuzzIngest(f *testing.F) {
	for _, body := range []string{
		event("e1", `{"name":"Fish & <Chips>","price":1.50}`),
		`[` + event("e2", `"{\"amount\": 35300}"`) + `,` + event("e3", `{}`) + `]`,
		`[` + event("e2", `{}`) + `,` + event("e2", `{}`) + `]`,
		event("d64", deepJSON(webhook.MaxDepth)), event("d65", deepJSON(webhook.MaxDepth+1)),
		event("s65", quoted(deepJSON(webhook.MaxDepth+1))),
		strings.Replace(event("ts", `{}`), `"payload"`, `"timestamp":"2021-04-19T13:15:37.924Z","payload"`, 1),
		strings.Replace(event("x", `{}`), `"payload"`, `"PAYLOAD"`, 1),
		`[]`, `{}`, `[1]`, `null`, ``, `{"payload":`,
	} {
		f.Add([]byte(body))
	}
	api := newFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := api.do(t, "POST", "/v1/events", api.producer, body)
		if r.status != http.StatusAccepted {
			return
		}
		var resp struct {
			MessageIDs []string `json:"messageIds"`
			Duplicates int      `json:"duplicates"`
		}
		if err := json.Unmarshal([]byte(r.body), &resp); err != nil {
			t.Fatalf("202 body %q: %v", r.body, err)
		}
		events := postedEvents(t, body)
		if len(resp.MessageIDs) != len(events) || resp.Duplicates > len(events) {
			t.Fatalf("%d messageIds (%d duplicates) for %d events", len(resp.MessageIDs), resp.Duplicates, len(events))
		}
		for i, ev := range events {
			if want := webhook.MessageID(strings.ToLower(ev.OrganizationUUID), ev.EventName, ev.EventID); resp.MessageIDs[i] != want {
				t.Fatalf("messageIds[%d] = %s, want %s", i, resp.MessageIDs[i], want)
			}
			checkAcceptedPayload(t, ev.Payload)
		}
	})
}

// postedEvents decodes an accepted body as the handler does: one event
// object or an array of them.
func postedEvents(t *testing.T, body []byte) []fuzzEvent {
	var events []fuzzEvent
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if err := json.Unmarshal(trimmed, &events); err != nil {
			t.Fatalf("202 for %q, which is no array of events: %v", body, err)
		}
		return events
	}
	var ev fuzzEvent
	if err := json.Unmarshal(trimmed, &ev); err != nil {
		t.Fatalf("202 for %q, which is no event: %v", body, err)
	}
	return []fuzzEvent{ev}
}

// checkAcceptedPayload checks that an accepted payload is an object, or a
// string holding one, within the depth limit, that compacts idempotently.
func checkAcceptedPayload(t *testing.T, raw json.RawMessage) {
	text := bytes.TrimSpace(raw)
	if len(text) > 0 && text[0] == '"' {
		var inner string
		if err := json.Unmarshal(text, &inner); err != nil {
			t.Fatalf("accepted payload %q: %v", raw, err)
		}
		text = bytes.TrimSpace([]byte(inner))
	}
	if len(text) == 0 || text[0] != '{' || webhook.Depth(text) > webhook.MaxDepth {
		t.Fatalf("accepted payload %.200q: not an object within %d levels", raw, webhook.MaxDepth)
	}
	once, err := webhook.CompactJSON(text)
	if err != nil {
		t.Fatalf("accepted payload %.200q does not compact: %v", raw, err)
	}
	if twice, err := webhook.CompactJSON(once); err != nil || !bytes.Equal(once, twice) {
		t.Fatalf("compaction of %.200q is not idempotent: %q, %q", raw, once, twice)
	}
}

// fuzzRequest is a subscription request decoded as the handler decodes it.
type fuzzRequest struct {
	UUID          *string   `json:"uuid"`
	TransportName *string   `json:"transportName"`
	EventNames    *[]string `json:"eventNames"`
	Destination   *string   `json:"destination"`
	ContactEmail  *string   `json:"contactEmail"`
}

// wireSubscription is the subscription object on the wire.
type wireSubscription struct {
	UUID          string   `json:"uuid"`
	TransportName string   `json:"transportName"`
	EventNames    []string `json:"eventNames"`
	Destination   string   `json:"destination"`
	ContactEmail  string   `json:"contactEmail"`
	Status        string   `json:"status"`
	SigningKey    string   `json:"signingKey"`
}

// FuzzSubscriptionRequest sends arbitrary bodies as a create (even op) or
// as an update of an existing subscription (odd op). Properties: no 5xx,
// Zettle's body on every error, and a 200 only for a request that passes
// validation, whose fields the subscription then holds: a create answers
// them (and is deleted again, 204), an update shows them in the list.
func FuzzSubscriptionRequest(f *testing.F) {
	const existing = "0000002a-8f35-11eb-8dcd-0242ac130003"
	for _, body := range []string{
		createBody(subUUID, "https://shop.example/hook", "ProductCreated"),
		createBody(strings.ToUpper(subUUID2), "https://shop.example/h?x=<1>&y=ü"),
		createBody(existing, "https://shop.example/hook"),
		createBody("f02f80f8-8f35-41eb-8dcd-0242ac130003", "http://shop.example/hook"),
		`{"uuid":"` + subUUID + `","eventNames":["InvoiceCreated"],"x":` + deepJSON(webhook.MaxDepth) + `}`,
		`{"contactEmail":"a@b.example"}`, `{"eventNames":[]}`, `{"destination":"https://x.example"}`, `{}`, `[]`, `{"uuid":1}`, ``,
	} {
		f.Add(uint8(0), []byte(body))
		f.Add(uint8(1), []byte(body))
	}
	api := newFuzzAPI(f)
	const coll = "/organizations/self/subscriptions"
	if r := api.do(f, "POST", coll, api.subscriber, []byte(createBody(existing, "https://shop.example/hook"))); r.status != 200 {
		f.Fatalf("setup: create = %d %s", r.status, r.body)
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		path, method := coll, "POST"
		if op%2 == 1 {
			path, method = coll+"/"+existing, "PUT"
		}
		r := api.do(t, method, path, api.subscriber, body)
		if r.status != 200 {
			return
		}
		var req fuzzRequest
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatalf("200 for %q, which does not decode: %v", body, err)
			}
		}
		if method == "POST" {
			checkCreated(t, api, req, r)
			return
		}
		checkUpdated(t, api, req, existing)
	})
}

// checkCreated checks a 200 create against its request, then deletes it.
func checkCreated(t *testing.T, api *fuzzAPI, req fuzzRequest, r response) {
	if req.UUID == nil || !webhook.IsUUIDv1(*req.UUID) || req.TransportName == nil || *req.TransportName != webhook.TransportWebhook ||
		req.EventNames == nil || req.Destination == nil || req.ContactEmail == nil || !webhook.IsEmail(*req.ContactEmail) ||
		webhook.CheckDestination(*req.Destination, false) != "" {
		t.Fatalf("200 for an invalid create request %+v", req)
	}
	var got wireSubscription
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("create body %q: %v", r.body, err)
	}
	want := wireSubscription{UUID: strings.ToLower(*req.UUID), TransportName: webhook.TransportWebhook, EventNames: nonNil(*req.EventNames),
		Destination: *req.Destination, ContactEmail: *req.ContactEmail, Status: "ACTIVE", SigningKey: got.SigningKey}
	if !sameSubscription(got, want) || len(got.SigningKey) != 64 {
		t.Fatalf("created %+v, want %+v", got, want)
	}
	if d := api.do(t, "DELETE", "/organizations/self/subscriptions/"+got.UUID, api.subscriber, nil); d.status != 204 {
		t.Fatalf("delete of %s = %d %s", got.UUID, d.status, d.body)
	}
}

// checkUpdated checks that the listed subscription uuid holds the fields
// a 200 update set.
func checkUpdated(t *testing.T, api *fuzzAPI, req fuzzRequest, uuid string) {
	l := api.do(t, "GET", "/organizations/self/subscriptions", api.subscriber, nil)
	var subs []wireSubscription
	if err := json.Unmarshal([]byte(l.body), &subs); err != nil || l.status != 200 {
		t.Fatalf("list = %d %q: %v", l.status, l.body, err)
	}
	i := slices.IndexFunc(subs, func(s wireSubscription) bool { return s.UUID == uuid })
	if i < 0 {
		t.Fatalf("the updated subscription %s is not listed: %s", uuid, l.body)
	}
	got := subs[i]
	if req.EventNames != nil && !slices.Equal(got.EventNames, nonNil(*req.EventNames)) ||
		req.Destination != nil && got.Destination != *req.Destination ||
		req.ContactEmail != nil && got.ContactEmail != *req.ContactEmail || got.Status != "ACTIVE" {
		t.Fatalf("after update %+v the subscription is %+v", req, got)
	}
}

func sameSubscription(a, b wireSubscription) bool {
	return a.UUID == b.UUID && a.TransportName == b.TransportName && slices.Equal(a.EventNames, b.EventNames) &&
		a.Destination == b.Destination && a.ContactEmail == b.ContactEmail && a.Status == b.Status && a.SigningKey == b.SigningKey
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
