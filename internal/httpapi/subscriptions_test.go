package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
)

const docDestination = "https://webhook.site/f62e2311-1232-4d8f-b75e-80e9ce013dd4"

// normalize replaces this run's destination and signing keys with the
// published ones, so the body can be compared with a golden file taken
// from Zettle's documentation.
func normalize(t *testing.T, body, dest string, keys ...string) string {
	t.Helper()
	body = strings.ReplaceAll(body, dest, docDestination)
	var subs []struct{ SigningKey string }
	if strings.HasPrefix(body, "[") {
		json.Unmarshal([]byte(body), &subs)
	} else {
		var one struct{ SigningKey string }
		json.Unmarshal([]byte(body), &one)
		subs = append(subs, one)
	}
	for i, s := range subs {
		if len(s.SigningKey) != 64 {
			t.Errorf("signingKey %q is not 64 characters", s.SigningKey)
		}
		body = strings.Replace(body, s.SigningKey, keys[i], 1)
	}
	return body
}

func TestCreateMatchesZettleExample(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	r := a.do("POST", "/organizations/self/subscriptions", a.token(org, allScopes...), createBody(subUUID, rcv.URL, "ProductUpdated"))
	if r.status != http.StatusOK {
		t.Fatalf("create = %d %s, want 200", r.status, r.body)
	}
	got := normalize(t, r.body, rcv.URL, "zLzClQLQN8yfH8aEjONeXzgJRAHR0zpD7RonFCpizujCUCectBlln0vFArTbLPYa")
	if want := readGolden(t, "create.golden.json"); got != want {
		t.Errorf("create body =\n%s\nwant\n%s", got, want)
	}
	var created struct{ SigningKey string }
	json.Unmarshal([]byte(r.body), &created)
	reqs := rcv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want one TestMessage", len(reqs))
	}
	var env map[string]string
	if err := json.Unmarshal(reqs[0].Body, &env); err != nil {
		t.Fatal(err)
	}
	if env["eventName"] != "TestMessage" || env["payload"] != `{"data":"payload"}` || env["organizationUuid"] != org {
		t.Errorf("TestMessage = %s", reqs[0].Body)
	}
	ts, _ := time.Parse(time.RFC3339Nano, env["timestamp"])
	if env["messageUuid"] != webhook.MessageUUID(ts, env["messageId"]) || env["timestamp"] != "2021-03-29T16:31:47.087Z" {
		t.Errorf("TestMessage messageUuid/timestamp do not follow the rule: %s", reqs[0].Body)
	}
	if !signing.Verify(created.SigningKey, env["timestamp"], env["payload"], reqs[0].Header.Get("X-iZettle-Signature")) {
		t.Error("TestMessage is not signed with the new subscription's key")
	}
}

func TestListMatchesZettleExample(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.setNow(time.Date(2021, 3, 30, 7, 48, 52, 228000000, time.UTC))
	a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, rcv.URL, "ProductUpdated"))
	a.setNow(time.Date(2021, 3, 30, 7, 50, 13, 489000000, time.UTC))
	a.do("POST", "/organizations/"+org+"/subscriptions/", tok, createBody(subUUID2, rcv.URL, "InventoryBalanceChanged", "ProductCreated"))
	r := a.do("GET", "/organizations/self/subscriptions", tok, "")
	if r.status != http.StatusOK {
		t.Fatalf("list = %d %s", r.status, r.body)
	}
	got := normalize(t, r.body, rcv.URL, "U0Ani1WTTwwbjUnHlQAEDCRXQoQn9z9e4q55UUTyeZJt89z9XXN5ssd4Cgh0evJa",
		"H2XDdE5REqT55rDTvAPqpA8UDY4mO3QSmcLO7h0PxvJ4qETKfx9rfzVxuKplUOYz")
	if want := readGolden(t, "list.golden.json"); got != want {
		t.Errorf("list body =\n%s\nwant\n%s", got, want)
	}
	if r := a.do("GET", "/organizations/self/subscriptions/", a.token(org, allScopes...), ""); r.status != 200 {
		t.Errorf("list with trailing slash = %d", r.status)
	}
	if r := a.do("GET", "/organizations/self/subscriptions", a.tokenFor(org, "other-client", allScopes...), ""); r.body != "[]" {
		t.Errorf("another client's list = %s, want []", r.body)
	}
}

func TestCreateErrors(t *testing.T) {
	a := newAPI(t)
	ok := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	valid := map[string]any{"uuid": subUUID, "transportName": "WEBHOOK", "eventNames": []string{"ProductCreated"},
		"destination": ok.URL, "contactEmail": "dev@shop.example"}
	with := func(key string, value any) string {
		m := map[string]any{}
		for k, v := range valid {
			m[k] = v
		}
		if value == nil {
			delete(m, key)
		} else {
			m[key] = value
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	const self = "/organizations/self/subscriptions"
	tests := []struct {
		name       string
		path       string
		token      string
		body       string
		status     int
		errorType  string
		violations []string // propertyNames
	}{
		{"uuid missing", self, tok, with("uuid", nil), 400, "INVALID_REQUEST", []string{"uuid"}},
		{"uuid version 4", self, tok, with("uuid", "f02f80f8-8f35-41eb-8dcd-0242ac130003"), 400, "INVALID_REQUEST", []string{"uuid"}},
		{"transportName missing", self, tok, with("transportName", nil), 400, "INVALID_REQUEST", []string{"transportName"}},
		{"transportName SQS", self, tok, with("transportName", "SQS"), 400, "INVALID_REQUEST", []string{"transportName"}},
		{"eventNames missing", self, tok, with("eventNames", nil), 400, "INVALID_REQUEST", []string{"eventNames"}},
		{"unknown event", self, tok, with("eventNames", []string{"ProductCreated", "Nope"}), 400, "INVALID_REQUEST", []string{"eventNames"}},
		{"eventNames not an array", self, tok, with("eventNames", "ProductCreated"), 400, "INVALID_REQUEST", []string{"eventNames"}},
		{"malformed JSON", self, tok, `{"uuid":`, 400, "INVALID_REQUEST", nil},
		{"destination missing", self, tok, with("destination", nil), 422, "VALIDATION_ERROR", []string{"destination"}},
		{"destination http", self, tok, with("destination", "http://shop.example/hook"), 422, "VALIDATION_ERROR", []string{"destination"}},
		{"destination not a URL", self, tok, with("destination", "shop.example"), 422, "VALIDATION_ERROR", []string{"destination"}},
		{"contactEmail missing", self, tok, with("contactEmail", nil), 422, "VALIDATION_ERROR", []string{"contactEmail"}},
		{"contactEmail invalid", self, tok, with("contactEmail", "not-an-email"), 422, "VALIDATION_ERROR", []string{"contactEmail"}},
		{"contactEmail too long", self, tok, with("contactEmail", strings.Repeat("a", 501)+"@example.com"), 422, "VALIDATION_ERROR", []string{"contactEmail"}},
		{"both 422 fields", self, tok, with("contactEmail", "x"), 422, "VALIDATION_ERROR", []string{"contactEmail"}},
		{"no token", self, "", with("uuid", subUUID), 401, "UNAUTHORIZED", nil},
		{"scope missing", self, a.token(org, "READ:PRODUCT"), with("eventNames", []string{"PurchaseCreated"}), 403, "FORBIDDEN", nil},
		{"all events need every scope", self, a.token(org, "READ:PRODUCT", "READ:PURCHASE"), with("eventNames", []string{}), 403, "FORBIDDEN", nil},
		{"other organization", "/organizations/" + org + "/subscriptions", a.token(otherOrg, allScopes...), with("uuid", subUUID), 403, "FORBIDDEN", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := wantError(t, a.do("POST", tt.path, tt.token, tt.body), tt.status, tt.errorType)
			var props []string
			for _, x := range v {
				props = append(props, x["propertyName"])
				if x["developerMessage"] == "" || x["constraintType"] == "" {
					t.Errorf("violation %v lacks developerMessage or constraintType", x)
				}
			}
			if strings.Join(props, ",") != strings.Join(tt.violations, ",") {
				t.Errorf("violations on %v, want %v", props, tt.violations)
			}
		})
	}
	if n := ok.Len(); n != 0 {
		t.Errorf("invalid creates sent %d TestMessages, want 0", n)
	}
	if list := a.do("GET", "/organizations/self/subscriptions", tok, ""); list.body != "[]" {
		t.Errorf("invalid creates stored something: %s", list.body)
	}
}

func TestCreateDuplicateUUID(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	if r := a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, rcv.URL)); r.status != 200 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	wantError(t, a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, rcv.URL)), 400, "SUBSCRIPTION_ALREADY_EXIST")
	// Another client or organization cannot reuse it either, and learns nothing else.
	other := a.token(otherOrg, allScopes...)
	wantError(t, a.do("POST", "/organizations/self/subscriptions", other, createBody(subUUID, rcv.URL)), 400, "SUBSCRIPTION_ALREADY_EXIST")
}

func TestCreateHandshakeFailures(t *testing.T) {
	a := newAPI(t, func(c *httpapi.Config) {})
	a.client.Timeout = 300 * time.Millisecond
	tok := a.token(org, allScopes...)
	gone := newReceiver(t, http.StatusGone)
	notFound := newReceiver(t, http.StatusNotFound)
	broken := newReceiver(t, http.StatusInternalServerError)
	redirect := newReceiver(t, http.StatusFound)
	slow := newReceiver(t, http.StatusOK)
	slow.SetDelay(time.Second)
	refused := newReceiver(t, http.StatusOK)
	refusedURL := refused.URL
	refused.Close()

	tests := []struct {
		name, dest, errorType string
		status                int
		message               string
	}{
		{"410", gone.URL, "DESTINATION_RESPONDED_WITH_ERROR_CODE", 500, "Server responded with HTTP 410"},
		{"404", notFound.URL, "DESTINATION_RESPONDED_WITH_ERROR_CODE", 500, "Server responded with HTTP 404"},
		{"500", broken.URL, "DESTINATION_RESPONDED_WITH_ERROR_CODE", 500, "Server responded with HTTP 500"},
		{"302 is not followed", redirect.URL, "DESTINATION_RESPONDED_WITH_ERROR_CODE", 500, "Server responded with HTTP 302"},
		{"slower than the timeout", slow.URL, "DESTINATION_NOT_ACCESSIBLE", 400, ""},
		{"connection refused", refusedURL, "DESTINATION_NOT_ACCESSIBLE", 400, ""},
		{"unknown host", "https://nonexistent.invalid/hook", "DESTINATION_NOT_ACCESSIBLE", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, tt.dest))
			wantError(t, r, tt.status, tt.errorType)
			if tt.message != "" {
				if _, msg, _ := zettleError(t, r); msg != tt.message {
					t.Errorf("developerMessage = %q, want %q", msg, tt.message)
				}
			}
		})
	}
	if r := a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, gone.URL)); r.body != readGolden(t, "destination-error.golden.json") {
		t.Errorf("410 body = %s, want the published example", r.body)
	}
	if list := a.do("GET", "/organizations/self/subscriptions", tok, ""); list.body != "[]" {
		t.Errorf("failed handshakes stored something: %s", list.body)
	}
}

func TestUpdate(t *testing.T) {
	a := newAPI(t)
	first := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	create := a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, first.URL, "ProductCreated"))
	if create.status != 200 {
		t.Fatalf("create = %d %s", create.status, create.body)
	}
	second := newReceiver(t, http.StatusOK)
	a.setNow(a.clock().Add(time.Hour))
	finance := a.token(org, append(allScopes, "READ:FINANCE")...) // CardPaymentInvalid is a legacy READ:FINANCE event
	r := a.do("PUT", "/organizations/self/subscriptions/"+subUUID+"/", finance,
		`{"transportName":"WEBHOOK","eventNames":["ProductCreated","PurchaseCreated","CardPaymentInvalid"],"destination":"`+second.URL+`","contactEmail":"email_if_it_breaks@domain.com"}`,
		"If-Match: *")
	if r.status != 200 || r.body != "" {
		t.Fatalf("update = %d %q, want 200 with an empty body", r.status, r.body)
	}
	if reqs := second.Requests(); len(reqs) != 1 || !reqs[0].IsTestMessage() {
		t.Errorf("new destination got %v, want one TestMessage", second)
	}
	var list []map[string]any
	json.Unmarshal([]byte(a.do("GET", "/organizations/self/subscriptions", tok, "").body), &list)
	if len(list) != 1 || list[0]["destination"] != second.URL || list[0]["contactEmail"] != "email_if_it_breaks@domain.com" ||
		len(list[0]["eventNames"].([]any)) != 3 || list[0]["updated"] != "2021-03-29T17:31:47.087Z" {
		t.Errorf("after update: %v", list)
	}

	// Same destination again: no new TestMessage.
	if r := a.do("PUT", "/organizations/self/subscriptions/"+subUUID, tok, `{"destination":"`+second.URL+`"}`); r.status != 200 {
		t.Errorf("update same destination = %d", r.status)
	}
	if second.Len() != 1 {
		t.Errorf("unchanged destination got another TestMessage")
	}

	// A destination that refuses the TestMessage: refused, nothing changes.
	bad := newReceiver(t, http.StatusServiceUnavailable)
	wantError(t, a.do("PUT", "/organizations/self/subscriptions/"+subUUID, tok, `{"destination":"`+bad.URL+`","contactEmail":"x@y.z"}`),
		500, "DESTINATION_RESPONDED_WITH_ERROR_CODE")
	json.Unmarshal([]byte(a.do("GET", "/organizations/self/subscriptions", tok, "").body), &list)
	if list[0]["destination"] != second.URL || list[0]["contactEmail"] != "email_if_it_breaks@domain.com" {
		t.Errorf("a refused update changed the subscription: %v", list[0])
	}

	tests := []struct {
		name, method, path, token, body string
		status                          int
		errorType                       string
	}{
		{"unsupported event", "PUT", "/organizations/self/subscriptions/" + subUUID, tok, `{"eventNames":["Nope"]}`, 400, "INVALID_REQUEST"},
		{"other transport", "PUT", "/organizations/self/subscriptions/" + subUUID, tok, `{"transportName":"SQS"}`, 400, "INVALID_REQUEST"},
		{"empty destination", "PUT", "/organizations/self/subscriptions/" + subUUID, tok, `{"destination":""}`, 422, "VALIDATION_ERROR"},
		{"http destination", "PUT", "/organizations/self/subscriptions/" + subUUID, tok, `{"destination":"http://x.example"}`, 422, "VALIDATION_ERROR"},
		{"invalid email", "PUT", "/organizations/self/subscriptions/" + subUUID, tok, `{"contactEmail":"nope"}`, 422, "VALIDATION_ERROR"},
		{"no token", "PUT", "/organizations/self/subscriptions/" + subUUID, "", `{}`, 401, "UNAUTHORIZED"},
		{"scope missing", "PUT", "/organizations/self/subscriptions/" + subUUID, a.token(org, "READ:PRODUCT"), `{"eventNames":["PurchaseCreated"]}`, 403, "FORBIDDEN"},
		{"not found", "PUT", "/organizations/self/subscriptions/bc281bd9-bdb0-1011-ad31-6744c6f2972c", tok, `{}`, 404, "SUBSCRIPTION_NOT_FOUND"},
		{"another client's", "PUT", "/organizations/self/subscriptions/" + subUUID, a.tokenFor(org, "other", allScopes...), `{}`, 404, "SUBSCRIPTION_NOT_FOUND"},
		{"collection", "PUT", "/organizations/self/subscriptions", tok, `{}`, 405, "METHOD_NOT_ALLOWED"},
		{"collection with slash", "PUT", "/organizations/self/subscriptions/", tok, `{}`, 405, "METHOD_NOT_ALLOWED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, a.do(tt.method, tt.path, tt.token, tt.body), tt.status, tt.errorType)
		})
	}
	if r := a.do("PUT", "/organizations/self/subscriptions/"+subUUID, tok, ""); r.status != 200 {
		t.Errorf("update without a body = %d %s, want 200", r.status, r.body)
	}
}

func TestUpdateReactivatesFailing(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, rcv.URL))
	markFailing(t, a)
	if got := statusOf(t, a, tok); got != "FAILING" {
		t.Fatalf("status = %s, want FAILING", got)
	}
	if r := a.do("PUT", "/organizations/self/subscriptions/"+subUUID, tok, `{}`); r.status != 200 {
		t.Fatalf("update = %d %s", r.status, r.body)
	}
	if got := statusOf(t, a, tok); got != "ACTIVE" {
		t.Errorf("status after update = %s, want ACTIVE", got)
	}
}

func statusOf(t *testing.T, a *testAPI, tok string) string {
	var list []struct{ Status string }
	json.Unmarshal([]byte(a.do("GET", "/organizations/self/subscriptions", tok, "").body), &list)
	if len(list) != 1 {
		t.Fatalf("list has %d subscriptions", len(list))
	}
	return list[0].Status
}

func TestDelete(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	for _, path := range []string{
		"/organizations/self/subscriptions/" + subUUID,
		"/organizations/self/subscriptions/uuid/" + subUUID + "/", // Shopware's form
		"/organizations/" + org + "/subscriptions/uuid/" + subUUID,
	} {
		a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, rcv.URL))
		wantError(t, a.do("DELETE", path, a.tokenFor(org, "other", allScopes...), ""), 404, "SUBSCRIPTION_NOT_FOUND")
		inOtherOrg := strings.NewReplacer("self", otherOrg, org, otherOrg).Replace(path)
		wantError(t, a.do("DELETE", inOtherOrg, a.token(otherOrg, allScopes...), ""), 404, "SUBSCRIPTION_NOT_FOUND")
		if r := a.do("DELETE", path, tok, ""); r.status != http.StatusNoContent || r.body != "" {
			t.Errorf("DELETE %s = %d %q, want 204", path, r.status, r.body)
		}
		wantError(t, a.do("DELETE", path, tok, ""), 404, "SUBSCRIPTION_NOT_FOUND")
	}
	wantError(t, a.do("DELETE", "/organizations/self/subscriptions", tok, ""), 404, "NOT_FOUND")
	wantError(t, a.do("DELETE", "/organizations/self/subscriptions/uuid/", tok, ""), 404, "SUBSCRIPTION_NOT_FOUND")
	wantError(t, a.do("DELETE", "/organizations/self/subscriptions/"+subUUID, "", ""), 401, "UNAUTHORIZED")
	wantError(t, a.do("DELETE", "/organizations/"+org+"/subscriptions/"+subUUID, a.token(otherOrg, allScopes...), ""), 403, "FORBIDDEN")
}

func TestAuthErrors(t *testing.T) {
	a := newAPI(t)
	other := newAPI(t) // a different local key
	expired, _ := a.key.Mint(claims(org), time.Now().Add(-3*time.Hour), time.Hour)
	tests := map[string]string{
		"missing":   "",
		"garbage":   "abc.def.ghi",
		"expired":   expired,
		"wrong key": other.token(org, allScopes...),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			r := a.do("GET", "/organizations/self/subscriptions", tok, "")
			wantError(t, r, 401, "UNAUTHORIZED")
			if strings.Contains(r.body, tok) && tok != "" {
				t.Error("the error echoes the token")
			}
		})
	}
	wantError(t, a.do("GET", "/organizations/self/subscriptions", a.token("", allScopes...), ""), 403, "FORBIDDEN")
	wantError(t, a.do("GET", "/organizations/"+otherOrg+"/subscriptions", a.token(org, allScopes...), ""), 403, "FORBIDDEN")
}

func TestRequestLimits(t *testing.T) {
	a := newAPI(t, func(c *httpapi.Config) { c.MaxBodyBytes = 1024 })
	tok := a.token(org, allScopes...)
	big := `{"uuid":"` + strings.Repeat("x", 2000) + `"}`
	wantError(t, a.do("POST", "/organizations/self/subscriptions", tok, big), 413, "PAYLOAD_TOO_LARGE")
	wantError(t, a.do("POST", "/organizations/self/subscriptions", tok, "uuid=x", "Content-Type: application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE")
	wantError(t, a.do("PATCH", "/organizations/self/subscriptions", tok, "{}"), 405, "METHOD_NOT_ALLOWED")
	wantError(t, a.do("GET", "/nope", tok, ""), 404, "NOT_FOUND")
	wantError(t, a.do("GET", "/organizations/self/subscriptions/"+subUUID, tok, ""), 405, "METHOD_NOT_ALLOWED")
	if r := a.do("PATCH", "/organizations/self/subscriptions", tok, "{}"); r.header.Get("Allow") == "" {
		t.Error("405 without an Allow header")
	}
}

func TestHealth(t *testing.T) {
	a := newAPI(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := a.do("GET", path, "", ""); r.status != 200 {
			t.Errorf("GET %s = %d %s", path, r.status, r.body)
		}
	}
	a.db.Close()
	wantError(t, a.do("GET", "/readyz", "", ""), 503, "SERVICE_UNAVAILABLE")
	r := a.do("GET", "/organizations/self/subscriptions", a.token(org, allScopes...), "")
	wantError(t, r, 500, "INTERNAL_ERROR")
	if _, msg, _ := zettleError(t, r); msg != "Internal server error" {
		t.Errorf("internal error message = %q: internal error text must not reach clients", msg)
	}
}
