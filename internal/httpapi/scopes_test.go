package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pusher-hq/pusher/internal/auth"
)

// TestNoReadScopeIsForbidden: a token of the right organization and client
// without any of Zettle's READ: scopes gets 403 on every subscription call,
// whether or not the subscription exists, and changes nothing.
func TestNoReadScopeIsForbidden(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	full := a.token(org, allScopes...)
	if r := a.do("POST", "/organizations/self/subscriptions", full, createBody(subUUID, rcv.URL, "PurchaseCreated")); r.status != 200 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	before := a.do("GET", "/organizations/self/subscriptions", full, "").body
	const missing = "bc281bd9-bdb0-1011-ad31-6744c6f2972c"
	calls := []struct{ method, path, body string }{
		{"POST", "/organizations/self/subscriptions", createBody(subUUID2, rcv.URL, "ApplicationConnectionRemoved")},
		{"POST", "/organizations/" + org + "/subscriptions", createBody(subUUID2, rcv.URL)},
		{"GET", "/organizations/self/subscriptions", ""},
		{"GET", "/organizations/" + org + "/subscriptions", ""},
		{"PUT", "/organizations/self/subscriptions/" + subUUID, `{"destination":"` + rcv.URL + `/stolen"}`},
		{"PUT", "/organizations/self/subscriptions/" + subUUID, ""},
		{"PUT", "/organizations/self/subscriptions/" + missing, `{}`},
		{"DELETE", "/organizations/self/subscriptions/" + subUUID, ""},
		{"DELETE", "/organizations/self/subscriptions/uuid/" + subUUID + "/", ""},
		{"DELETE", "/organizations/self/subscriptions/" + missing, ""},
	}
	tokens := map[string]string{
		"no scope":         a.token(org),
		"publish only":     a.token(org, auth.ScopePublish),
		"write only":       a.token(org, "WRITE:PRODUCT"),
		"lower-case scope": a.token(org, "read:product", "read:purchase"),
	}
	for name, tok := range tokens {
		for _, c := range calls {
			t.Run(name+"/"+c.method+" "+c.path, func(t *testing.T) {
				r := a.do(c.method, c.path, tok, c.body)
				wantError(t, r, 403, "FORBIDDEN")
				if _, msg, _ := zettleError(t, r); !strings.Contains(msg, "READ:PURCHASE") {
					t.Errorf("message %q does not name the scopes needed", msg)
				}
			})
		}
	}
	if after := a.do("GET", "/organizations/self/subscriptions", full, "").body; after != before {
		t.Errorf("forbidden calls changed the subscriptions:\n%s\n%s", before, after)
	}
	if n := rcv.Len(); n != 1 {
		t.Errorf("the receiver got %d messages, want only the first TestMessage", n)
	}
}

// TestUpdateNeedsScopesOfCurrentEvents reproduces audit §2.4: a token of the
// same client narrowed to READ:PRODUCT must not redirect, re-scope or
// otherwise change a PurchaseCreated subscription.
func TestUpdateNeedsScopesOfCurrentEvents(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	thief := newReceiver(t, http.StatusOK)
	full := a.token(org, allScopes...)
	if r := a.do("POST", "/organizations/self/subscriptions", full, createBody(subUUID, rcv.URL, "PurchaseCreated")); r.status != 200 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	narrow := a.token(org, "READ:PRODUCT")
	for _, body := range []string{
		`{"destination":"` + thief.URL + `/redirected"}`,
		`{"eventNames":["ProductCreated"],"destination":"` + thief.URL + `"}`,
		`{"eventNames":["ProductCreated"]}`,
		`{"contactEmail":"evil@example.com"}`,
		`{}`,
	} {
		r := a.do("PUT", "/organizations/self/subscriptions/"+subUUID, narrow, body)
		wantError(t, r, 403, "FORBIDDEN")
		if _, msg, _ := zettleError(t, r); !strings.Contains(msg, "READ:PURCHASE") || !strings.Contains(msg, "current events") {
			t.Errorf("PUT %s: message %q", body, msg)
		}
	}
	if n := thief.Len(); n != 0 {
		t.Errorf("the narrowed token's destination got %d requests", n)
	}
	got := listOne(t, a, full)
	if got["destination"] != rcv.URL || got["contactEmail"] != "your_email@domain.com" || got["eventNames"].([]any)[0] != "PurchaseCreated" {
		t.Errorf("after refused updates: %v", got)
	}

	// READ:PURCHASE covers the current events, so the destination may move,
	// but adding ProductCreated needs READ:PRODUCT too.
	purchase := a.token(org, "READ:PURCHASE")
	moved := newReceiver(t, http.StatusOK)
	if r := a.do("PUT", "/organizations/self/subscriptions/"+subUUID, purchase, `{"destination":"`+moved.URL+`"}`); r.status != 200 {
		t.Errorf("PUT destination with READ:PURCHASE = %d %s", r.status, r.body)
	}
	r := a.do("PUT", "/organizations/self/subscriptions/"+subUUID, purchase, `{"eventNames":["PurchaseCreated","ProductCreated"]}`)
	wantError(t, r, 403, "FORBIDDEN")
	if _, msg, _ := zettleError(t, r); !strings.Contains(msg, "READ:PRODUCT") || !strings.Contains(msg, "requested events") {
		t.Errorf("adding an event: message %q", msg)
	}

	// Deleting stops deliveries; a narrowed token may clean up.
	if r := a.do("DELETE", "/organizations/self/subscriptions/"+subUUID, narrow, ""); r.status != 204 {
		t.Errorf("DELETE with READ:PRODUCT = %d %s, want 204", r.status, r.body)
	}
}

// TestUpdateOfAllEventsNeedsEveryScope: eventNames [] delivers every event,
// so changing it needs all of Zettle's public scopes.
func TestUpdateOfAllEventsNeedsEveryScope(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	if r := a.do("POST", "/organizations/self/subscriptions", a.token(org, allScopes...), createBody(subUUID, rcv.URL)); r.status != 200 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	wantError(t, a.do("PUT", "/organizations/self/subscriptions/"+subUUID, a.token(org, "READ:PURCHASE", "READ:PRODUCT"),
		`{"contactEmail":"a@b.example"}`), 403, "FORBIDDEN")
	if r := a.do("PUT", "/organizations/self/subscriptions/"+subUUID, a.token(org, allScopes...), `{"contactEmail":"a@b.example"}`); r.status != 200 {
		t.Errorf("PUT with every scope = %d %s", r.status, r.body)
	}
}

func listOne(t *testing.T, a *testAPI, tok string) map[string]any {
	t.Helper()
	var list []map[string]any
	r := a.do("GET", "/organizations/self/subscriptions", tok, "")
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list) != 1 {
		t.Fatalf("list = %d %s, want one subscription", r.status, r.body)
	}
	return list[0]
}
