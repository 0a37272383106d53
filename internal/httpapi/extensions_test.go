package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Helpers of the extension API's tests (docs/extensions.md).

// extSub is the path of a subscription's extension route: org may be
// "self", rest starts with "/" or is "".
func extSub(o, uuid, rest string) string {
	return "/v1/organizations/" + o + "/subscriptions/" + uuid + rest
}

// admin mints an operator token bound to no organization.
func (a *testAPI) admin() string { return a.tokenFor("", "ops", auth.ScopeAdmin) }

// mustCreate creates a subscription through Zettle's call and returns its
// signing key.
func (a *testAPI) mustCreate(tok, uuid, dest string, events ...string) string {
	a.t.Helper()
	r := a.do("POST", "/organizations/self/subscriptions", tok, createBody(uuid, dest, events...))
	if r.status != http.StatusOK {
		a.t.Fatalf("create %s = %d %s", uuid, r.status, r.body)
	}
	var s struct{ SigningKey string }
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		a.t.Fatal(err)
	}
	return s.SigningKey
}

// publish posts one event for o at the API clock and returns its messageId.
func (a *testAPI) publish(o, eventName, eventID string) string {
	a.t.Helper()
	r := a.do("POST", "/v1/events", a.producer(), fmt.Sprintf(`{"organizationUuid":%q,"eventName":%q,"eventId":%q,"payload":{"id":%q}}`, o, eventName, eventID, eventID))
	var res struct{ MessageIDs []string }
	if err := json.Unmarshal([]byte(r.body), &res); r.status != http.StatusAccepted || err != nil || len(res.MessageIDs) != 1 {
		a.t.Fatalf("publish %s = %d %s", eventID, r.status, r.body)
	}
	return res.MessageIDs[0]
}

// ms is the time layout of the extension API.
const ms = "2006-01-02T15:04:05.000Z"

// testPolicy retries every minute, 100 times.
var testPolicy = webhook.RetryPolicy{Schedule: webhook.Schedule{{Count: 100, Interval: time.Minute}}, FailingNoticeEvery: time.Hour}

// attemptAll claims every due message at the API clock and records one
// attempt of each, started then: with status (2xx delivers) and the i-th
// claimed taking took[i] (the last one for the rest). It returns how many
// it claimed.
func (a *testAPI) attemptAll(status int, took ...time.Duration) int {
	a.t.Helper()
	return a.attemptN(1000, status, took...)
}

// attemptN is attemptAll for at most n messages (the oldest of each
// subscription first).
func (a *testAPI) attemptN(n, status int, took ...time.Duration) int {
	a.t.Helper()
	ctx := context.Background()
	now := a.clock()
	ds, err := a.db.ClaimMessages(ctx, store.ClaimParams{Now: now, Limit: n, PerSubscription: n, LeaseFor: time.Minute})
	if err != nil {
		a.t.Fatal(err)
	}
	results := make([]store.AttemptResult, len(ds))
	for i, d := range ds {
		res := store.AttemptResult{DeliveryID: d.ID, LeaseToken: d.LeaseToken, StartedAt: now, StatusCode: status,
			RemoteAddr: "203.0.113.7:443", ResponseBody: []byte("ok")}
		if len(took) > 0 {
			res.Duration = took[min(i, len(took)-1)]
		}
		if status >= 300 {
			res.ErrorClass, res.ResponseBody = webhook.ClassHTTPStatus, []byte("busy")
		}
		results[i] = res
	}
	if len(ds) > 0 {
		if _, err := a.db.RecordAndClaim(ctx, store.RecordParams{Results: results, Policy: testPolicy, Now: now}, store.ClaimParams{}); err != nil {
			a.t.Fatal(err)
		}
	}
	return len(ds)
}

// queueStates returns the queue state of each message of a subscription,
// by messageId.
func (a *testAPI) queueStates(uuid string) map[string]string {
	a.t.Helper()
	msgs, err := a.db.Messages(context.Background(), uuid, "")
	if err != nil {
		a.t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range msgs {
		out[m.MessageID] = m.State
	}
	return out
}

// decode unmarshals a successful answer, failing on another status.
func decode[T any](t *testing.T, r response, status int) T {
	t.Helper()
	var v T
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	return v
}

// wantViolation checks an error with a violation of property among them.
func wantViolation(t *testing.T, r response, status int, errorType, property string) {
	t.Helper()
	v := wantError(t, r, status, errorType)
	for _, x := range v {
		if x["propertyName"] == property {
			return
		}
	}
	t.Errorf("violations %v do not name %s (body %s)", v, property, r.body)
}

// rawCall is a request made from outside the test's goroutine (by a receiver).
func rawCall(method, url, token, body string) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestCreateIsListedDuringTestMessage (issue 13 item 10): while a create's
// TestMessage is in flight, the owner's GET lists the subscription, so a
// real receiver can look up its signing key and verify the TestMessage; a
// second create of the uuid meanwhile is a duplicate. Nothing is stored or
// delivered for it before its TestMessage succeeds (an event published
// meanwhile is not queued for it, as on Zettle); if the TestMessage fails,
// the answer is exactly Zettle's and nothing stays stored: not the
// subscription, no dead letter, notice or deleted subscription.
func TestCreateIsListedDuringTestMessage(t *testing.T) {
	for _, tt := range []struct {
		name      string
		status    int // the receiver's answer to the TestMessage
		errorType string
		message   string
	}{
		{"handshake succeeds", http.StatusOK, "", ""},
		{"handshake fails", http.StatusInternalServerError, "DESTINATION_RESPONDED_WITH_ERROR_CODE", "Server responded with HTTP 500"},
		{"handshake gets 410", http.StatusGone, "DESTINATION_RESPONDED_WITH_ERROR_CODE", "Server responded with HTTP 410"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t)
			owner := a.token(org, allScopes...)
			producer := a.producer()
			var (
				mu                   sync.Mutex
				listed               []map[string]any
				verified             bool
				dupStatus, pubStatus int
				dupBody, problem     string
			)
			rcv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				body, _ := io.ReadAll(r.Body)
				var env struct{ EventName, Payload, Timestamp string }
				if err := json.Unmarshal(body, &env); err != nil || env.EventName != "TestMessage" {
					problem = fmt.Sprintf("receiver got %s (%v), want the TestMessage", body, err)
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				status, list, err := rawCall("GET", a.url+"/organizations/self/subscriptions", owner, "")
				if err != nil || status != http.StatusOK || json.Unmarshal([]byte(list), &listed) != nil {
					problem = fmt.Sprintf("GET during the TestMessage = %d %s %v", status, list, err)
				}
				for _, s := range listed {
					if s["uuid"] == subUUID {
						key, _ := s["signingKey"].(string)
						verified = signing.Verify(key, env.Timestamp, env.Payload, r.Header.Get(signing.Header))
					}
				}
				dupStatus, dupBody, _ = rawCall("POST", a.url+"/organizations/self/subscriptions", owner, createBody(subUUID, "https://other.example/hook"))
				pubStatus, _, _ = rawCall("POST", a.url+"/v1/events", producer,
					`{"organizationUuid":"`+org+`","eventName":"ProductCreated","eventId":"during-handshake","payload":{}}`)
				w.WriteHeader(tt.status)
			}))
			t.Cleanup(rcv.Close)

			r := a.do("POST", "/organizations/self/subscriptions", owner, createBody(subUUID, rcv.URL))
			mu.Lock()
			defer mu.Unlock()
			if problem != "" {
				t.Fatal(problem)
			}
			if len(listed) != 1 || listed[0]["uuid"] != subUUID || listed[0]["status"] != "ACTIVE" {
				t.Errorf("GET during the TestMessage = %v, want the new subscription", listed)
			}
			if !verified {
				t.Error("the TestMessage does not verify with the signing key GET showed during it")
			}
			if dupStatus != 400 || !strings.Contains(dupBody, `"SUBSCRIPTION_ALREADY_EXIST"`) {
				t.Errorf("a create of the same uuid during the TestMessage = %d %s, want SUBSCRIPTION_ALREADY_EXIST", dupStatus, dupBody)
			}
			if pubStatus != 202 {
				t.Errorf("publish during the TestMessage = %d", pubStatus)
			}
			ctx := context.Background()
			if tt.errorType == "" {
				var created struct{ SigningKey string }
				json.Unmarshal([]byte(r.body), &created)
				if r.status != 200 || created.SigningKey != listed[0]["signingKey"] {
					t.Fatalf("create = %d %s, want 200 with the key listed during the TestMessage", r.status, r.body)
				}
				if got := listOne(t, a, owner); got["uuid"] != subUUID {
					t.Errorf("after the create GET lists %v", got)
				}
				if states := a.queueStates(subUUID); len(states) != 0 {
					t.Errorf("messages of the new subscription = %v, want none: it was not stored while the event was published", states)
				}
				s, err := a.db.SubscriptionByUUID(ctx, subUUID)
				if err != nil || s.Settings != webhook.DefaultSettings() {
					t.Errorf("stored settings = %+v, %v; want the defaults", s, err)
				}
				return
			}

			// The failed handshake: Zettle's answer, and nothing left.
			wantError(t, r, 500, tt.errorType)
			if _, msg, _ := zettleError(t, r); msg != tt.message {
				t.Errorf("developerMessage = %q, want %q", msg, tt.message)
			}
			if tt.status == http.StatusGone && r.body != readGolden(t, "destination-error.golden.json") {
				t.Errorf("body = %s, want the published example", r.body)
			}
			if list := a.do("GET", "/organizations/self/subscriptions", owner, ""); list.body != "[]" {
				t.Errorf("after the failed handshake GET lists %s", list.body)
			}
			if _, err := a.db.SubscriptionByUUID(ctx, subUUID); !webhook.IsCode(err, webhook.NotFound) {
				t.Errorf("SubscriptionByUUID = %v, want NotFound", err)
			}
			if _, err := a.db.DeletedSubscription(ctx, subUUID); !webhook.IsCode(err, webhook.NotFound) {
				t.Errorf("DeletedSubscription = %v, want NotFound: a failed create leaves no dead letters", err)
			}
			msgs, err := a.db.LogMessages(ctx, store.MessageFilter{OrganizationUUID: org, Limit: 10})
			if err != nil || len(msgs) != 0 {
				t.Errorf("LogMessages = %v, %v; want none", msgs, err)
			}
			if notices, err := a.db.Notices(ctx, 10); err != nil || len(notices) != 0 {
				t.Errorf("notices = %v, %v; want none", notices, err)
			}
			// The uuid is free again.
			good := newReceiver(t, http.StatusOK)
			a.mustCreate(owner, subUUID, good.URL)
		})
	}
}

// TestCreateUnreachableLeavesNothing: a TestMessage that cannot be
// delivered is Zettle's 400 DESTINATION_NOT_ACCESSIBLE, and the
// subscription stored for it is gone.
func TestCreateUnreachableLeavesNothing(t *testing.T) {
	a := newAPI(t)
	owner := a.token(org, allScopes...)
	gone := newReceiver(t, http.StatusOK)
	dest := gone.URL
	gone.Close()
	wantError(t, a.do("POST", "/organizations/self/subscriptions", owner, createBody(subUUID, dest)), 400, "DESTINATION_NOT_ACCESSIBLE")
	if list := a.do("GET", "/organizations/self/subscriptions", owner, ""); list.body != "[]" {
		t.Errorf("GET lists %s", list.body)
	}
	if _, err := a.db.DeletedSubscription(context.Background(), subUUID); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("DeletedSubscription = %v, want NotFound", err)
	}
}

// TestExtensionIsolation: every extension route, called by the owner, by
// another client of the organization, another organization, operators and
// tokens that may not call it. Other clients and organizations get what a
// subscription that does not exist gets, and change nothing.
func TestExtensionIsolation(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	owner := a.tokenFor(org, "shop", allScopes...)
	rival := a.tokenFor(org, "rival", allScopes...)
	foreign := a.tokenFor(otherOrg, "shop", allScopes...)
	ops := a.admin()
	boundOps := a.tokenFor(org, "ops", auth.ScopeAdmin)
	noRead := a.tokenFor(org, "shop", auth.ScopePublish)
	key := a.mustCreate(owner, subUUID, rcv.URL)
	a.mustCreate(rival, subUUID2, rcv.URL)
	mid := a.publish(org, "ProductCreated", "iso-1")
	since := a.clock().Add(-time.Hour).Format(time.RFC3339)
	until := a.clock().Add(time.Hour).Format(time.RFC3339)

	routes := []struct {
		method, rest, body string
		ok                 int
	}{
		{"GET", "/messages", "", 200},
		{"GET", "/messages/" + mid, "", 200},
		{"POST", "/messages/" + mid + "/redeliver", "", 202},
		{"GET", "/stats", "", 200},
		{"POST", "/replay", `{"since":"` + since + `","until":"` + until + `","dryRun":true}`, 200},
		{"POST", "/rotate-key", "", 200},
		{"GET", "/settings", "", 200},
		{"PUT", "/settings", `{"strictOrder":true}`, 200},
	}
	denied := []struct {
		name, token, org, uuid string
		status                 int
		errorType              string
	}{
		{"another client", rival, "self", subUUID, 404, "SUBSCRIPTION_NOT_FOUND"},
		{"another client naming the organization", rival, org, subUUID, 404, "SUBSCRIPTION_NOT_FOUND"},
		{"another organization", foreign, "self", subUUID, 404, "SUBSCRIPTION_NOT_FOUND"},
		{"another organization naming this one", foreign, org, subUUID, 403, "FORBIDDEN"},
		{"operator naming another organization", ops, otherOrg, subUUID, 404, "SUBSCRIPTION_NOT_FOUND"},
		{"operator bound to no organization, self", ops, "self", subUUID, 403, "FORBIDDEN"},
		{"no READ scope", noRead, "self", subUUID, 403, "FORBIDDEN"},
		{"no token", "", "self", subUUID, 401, "UNAUTHORIZED"},
		{"unknown subscription", owner, "self", v1UUID(99), 404, "SUBSCRIPTION_NOT_FOUND"},
	}
	for _, rt := range routes {
		for _, d := range denied {
			t.Run(rt.method+rt.rest+"/"+d.name, func(t *testing.T) {
				wantError(t, a.do(rt.method, extSub(d.org, d.uuid, rt.rest), d.token, rt.body), d.status, d.errorType)
			})
		}
	}
	if got := listOne(t, a, owner); got["signingKey"] != key {
		t.Fatalf("denied calls changed the signing key")
	}
	if s, _ := a.db.SubscriptionByUUID(context.Background(), subUUID); s.Settings.StrictOrder {
		t.Fatalf("denied calls changed the settings")
	}
	if n := a.wakes.Load(); n != 1 { // the publish's
		t.Errorf("denied calls woke the engine: %d wakes", n)
	}

	allowed := []struct{ name, token, org, uuid string }{
		{"owner", owner, "self", subUUID},
		{"owner naming the organization in upper case", owner, strings.ToUpper(org), strings.ToUpper(subUUID)},
		{"operator", ops, org, subUUID},
		{"operator bound to the organization, self", boundOps, "self", subUUID},
		{"operator, another client's subscription", ops, org, subUUID2},
	}
	for _, rt := range routes {
		for _, ok := range allowed {
			t.Run(rt.method+rt.rest+"/"+ok.name, func(t *testing.T) {
				// Both subscriptions have a message of the event, with its messageId.
				path := extSub(ok.org, ok.uuid, rt.rest)
				if r := a.do(rt.method, path, ok.token, rt.body); r.status != rt.ok {
					t.Errorf("%s %s = %d %s, want %d", rt.method, path, r.status, r.body, rt.ok)
				}
			})
		}
	}

	// The organization's routes: each caller sees what it may.
	count := func(path, tok, field string) int {
		t.Helper()
		var body map[string][]json.RawMessage
		r := a.do("GET", path, tok, "")
		if err := json.Unmarshal([]byte(r.body), &body); r.status != 200 || err != nil {
			t.Fatalf("GET %s = %d %s", path, r.status, r.body)
		}
		return len(body[field])
	}
	for _, tt := range []struct {
		name, token, org  string
		subs, undelivered int
	}{
		{"owner", owner, "self", 1, 1},
		{"another client", rival, "self", 1, 1},
		{"another organization", foreign, "self", 0, 0},
		{"operator", ops, org, 2, 2},
		{"operator, another organization", ops, otherOrg, 0, 0},
		{"operator bound to the organization", boundOps, "self", 2, 2},
	} {
		if n := count("/v1/organizations/"+tt.org+"/subscriptions", tt.token, "subscriptions"); n != tt.subs {
			t.Errorf("%s: organization listing has %d subscriptions, want %d", tt.name, n, tt.subs)
		}
		if n := count("/v1/organizations/"+tt.org+"/undelivered", tt.token, "messages"); n != tt.undelivered {
			t.Errorf("%s: undelivered has %d messages, want %d", tt.name, n, tt.undelivered)
		}
	}
	for _, path := range []string{"/v1/organizations/" + org + "/subscriptions", "/v1/organizations/" + org + "/undelivered"} {
		wantError(t, a.do("GET", path, foreign, ""), 403, "FORBIDDEN")
		wantError(t, a.do("GET", strings.Replace(path, org, "self", 1), ops, ""), 403, "FORBIDDEN")
		wantError(t, a.do("GET", path, noRead, ""), 403, "FORBIDDEN")
		wantError(t, a.do("GET", path, "", ""), 401, "UNAUTHORIZED")
	}
}

// TestExtensionMethods: a route answers other methods 405 with Allow.
func TestExtensionMethods(t *testing.T) {
	a := newAPI(t)
	tok := a.token(org, allScopes...)
	for path, allow := range map[string]string{
		extSub("self", subUUID, "/settings"):   "GET, PUT",
		extSub("self", subUUID, "/rotate-key"): "POST",
		extSub("self", subUUID, "/messages"):   "GET",
		"/v1/organizations/self/undelivered":   "GET",
	} {
		r := a.do("DELETE", path, tok, "")
		wantError(t, r, 405, "METHOD_NOT_ALLOWED")
		if got := r.header.Get("Allow"); got != allow {
			t.Errorf("DELETE %s: Allow = %q, want %q", path, got, allow)
		}
	}
}

// TestExtensionRateLimit: the extension routes share the bucket of
// Zettle's calls.
func TestExtensionRateLimit(t *testing.T) {
	a := newAPI(t, func(c *httpapi.Config) { c.APIRate, c.APIBurst = 1, 2 })
	tok := a.token(org, allScopes...)
	if r := a.do("GET", "/v1/organizations/self/subscriptions", tok, ""); r.status != 200 {
		t.Fatalf("first = %d %s", r.status, r.body)
	}
	if r := a.do("GET", "/organizations/self/subscriptions", tok, ""); r.status != 200 {
		t.Fatalf("second = %d %s", r.status, r.body)
	}
	wantThrottled(t, a.do("GET", "/v1/organizations/self/undelivered", tok, ""), "1")
	wantThrottled(t, a.do("GET", "/organizations/self/subscriptions", tok, ""), "1")
	a.setNow(a.clock().Add(time.Second))
	if r := a.do("GET", extSub("self", subUUID, "/stats"), tok, ""); r.status != 404 {
		t.Errorf("after a second = %d %s, want the 404 of an unknown subscription", r.status, r.body)
	}
}

// TestOrganizationSubscriptions: the listing is Zettle's object in
// Zettle's key order, then clientId, the failing times while FAILING,
// backlog and settings.
func TestOrganizationSubscriptions(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	owner := a.token(org, allScopes...)
	a.mustCreate(owner, subUUID, rcv.URL, "ProductCreated")
	a.setNow(a.clock().Add(time.Second))
	a.mustCreate(owner, subUUID2, rcv.URL, "PurchaseCreated")
	a.publish(org, "ProductCreated", "o-1")
	a.publish(org, "ProductCreated", "o-2")
	a.attemptAll(503) // subUUID is FAILING, its first message failed once

	r := a.do("GET", "/v1/organizations/self/subscriptions", owner, "")
	body := decode[struct {
		Subscriptions []json.RawMessage `json:"subscriptions"`
	}](t, r, 200)
	if len(body.Subscriptions) != 2 {
		t.Fatalf("listing = %s, want two subscriptions", r.body)
	}
	var first map[string]any
	json.Unmarshal(body.Subscriptions[0], &first)
	wantKeys := []string{"uuid", "transportName", "eventNames", "updated", "destination", "contactEmail", "status", "signingKey",
		"clientId", "failingSince", "nextRetryAt", "backlog", "settings"}
	if got := keyOrder(t, body.Subscriptions[0]); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
		t.Errorf("keys of a FAILING subscription = %v, want %v", got, wantKeys)
	}
	if first["uuid"] != subUUID || first["status"] != "FAILING" || first["clientId"] != "shop" || first["backlog"] != 2.0 {
		t.Errorf("first = %v", first)
	}
	stored, err := a.db.SubscriptionByUUID(context.Background(), subUUID)
	if err != nil {
		t.Fatal(err)
	}
	if first["failingSince"] != a.clock().Format(ms) || first["nextRetryAt"] != stored.NextRetryAt.Format(ms) || !stored.NextRetryAt.After(a.clock()) {
		t.Errorf("failingSince, nextRetryAt = %v, %v", first["failingSince"], first["nextRetryAt"])
	}
	wantSecond := []string{"uuid", "transportName", "eventNames", "updated", "destination", "contactEmail", "status", "signingKey",
		"clientId", "backlog", "settings"}
	if got := keyOrder(t, body.Subscriptions[1]); strings.Join(got, ",") != strings.Join(wantSecond, ",") {
		t.Errorf("keys of an ACTIVE subscription = %v, want %v", got, wantSecond)
	}
	var second struct {
		UUID       string
		SigningKey string
		Backlog    int
		Settings   map[string]any
	}
	json.Unmarshal(body.Subscriptions[1], &second)
	wantSettings := map[string]any{"strictOrder": false, "standardWebhooks": false, "rotationOverlap": "24h",
		"standardWebhooksSecret": webhook.StandardWebhooksSecret(second.SigningKey)}
	if second.UUID != subUUID2 || second.Backlog != 0 || fmt.Sprint(second.Settings) != fmt.Sprint(wantSettings) {
		t.Errorf("second = %+v, want settings %v", second, wantSettings)
	}

	// The Zettle part is byte for byte what Zettle's GET shows.
	zr := a.do("GET", "/organizations/self/subscriptions", owner, "")
	var zs []json.RawMessage
	json.Unmarshal([]byte(zr.body), &zs)
	for i, raw := range body.Subscriptions {
		if prefix := strings.TrimSuffix(string(zs[i]), "}"); !strings.HasPrefix(string(raw), prefix+",") {
			t.Errorf("subscription %d = %s\nwant it to start with Zettle's %s", i, raw, zs[i])
		}
	}
}

// keyOrder returns the keys of a JSON object in order.
func keyOrder(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestDeletedUUIDStaysWithItsOwner: the messages of a subscription are
// found by its uuid, so while a deleted subscription's dead letters are
// kept its uuid is held for every other client and organization (Zettle's
// answer to a taken uuid); its owner may create it again and keeps its log.
func TestDeletedUUIDStaysWithItsOwner(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	owner := a.tokenFor(org, "shop", allScopes...)
	dead := func() string {
		a.mustCreate(owner, subUUID, rcv.URL)
		mid := a.publish(org, "ProductCreated", "held-1")
		if r := a.do("DELETE", "/organizations/self/subscriptions/"+subUUID, owner, ""); r.status != 204 {
			t.Fatalf("delete = %d %s", r.status, r.body)
		}
		return mid
	}()
	taken := `{"developerMessage":"Subscription with uuid ` + subUUID + ` already exists","errorType":"SUBSCRIPTION_ALREADY_EXIST","violations":[]}`
	for name, tok := range map[string]string{
		"another client":       a.tokenFor(org, "rival", allScopes...),
		"another organization": a.tokenFor(otherOrg, "shop", allScopes...),
	} {
		mine := newReceiver(t, http.StatusOK)
		if r := a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, mine.URL)); r.status != 400 || r.body != taken {
			t.Errorf("%s creating the deleted uuid = %d %s, want 400 %s", name, r.status, r.body, taken)
		}
		if mine.Len() != 0 {
			t.Errorf("%s: a TestMessage was sent", name)
		}
		wantError(t, a.do("GET", extSub("self", subUUID, "/messages/"+dead), tok, ""), 404, "SUBSCRIPTION_NOT_FOUND")
	}
	a.mustCreate(owner, subUUID, rcv.URL)
	if m := decode[messageDetail](t, a.do("GET", extSub("self", subUUID, "/messages/"+dead), owner, ""), 200); m.State != "dead" {
		t.Errorf("the owner's old dead letter = %+v", m)
	}
}
