package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestOrganizationCaseIsIgnored reproduces audit §3.3: a token whose
// organizationUuid claim is upper case creates a subscription that receives
// the events published for the organization in either case, and the
// organization in the path compares case-insensitively.
func TestOrganizationCaseIsIgnored(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	upper := strings.ToUpper(org)
	shouting := a.token(upper, allScopes...)
	if r := a.do("POST", "/organizations/self/subscriptions", shouting, createBody(subUUID, rcv.URL, "ProductCreated")); r.status != 200 {
		t.Fatalf("create with an upper-case claim = %d %s", r.status, r.body)
	}
	if reqs := rcv.Requests(); len(reqs) != 1 || reqs[0].Envelope.OrganizationUUID != org {
		t.Errorf("TestMessage = %v, want it for the lower-case organization", rcv)
	}
	quiet := a.token(org, allScopes...)
	for _, path := range []string{"/organizations/self/subscriptions", "/organizations/" + upper + "/subscriptions", "/organizations/" + org + "/subscriptions"} {
		for _, tok := range []string{shouting, quiet} {
			if got := listOne(t, a, tok); got["uuid"] != subUUID {
				t.Errorf("GET %s: %v", path, got)
			}
		}
	}
	for i, o := range []string{org, upper} {
		r := a.do("POST", "/v1/events", a.producer(), `{"organizationUuid":"`+o+`","eventName":"ProductCreated","eventId":"case-`+string(rune('a'+i))+`","payload":{}}`)
		if r.status != 202 || !strings.Contains(r.body, `"duplicates":0`) {
			t.Fatalf("publish for %s = %d %s", o, r.status, r.body)
		}
	}
	msgs, err := a.db.Messages(context.Background(), subUUID, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Errorf("messages for the subscription = %d, want 2 (one per event, whatever the case)", len(msgs))
	}
	if r := a.do("DELETE", "/organizations/"+upper+"/subscriptions/"+strings.ToUpper(subUUID), quiet, ""); r.status != 204 {
		t.Errorf("DELETE through the upper-case path = %d %s", r.status, r.body)
	}
}

// TestBoundProducerPublishesOnlyForItsOrganization: a producer token with an
// organizationUuid claim publishes only for that organization; an unbound
// one publishes for any (audit §2.3).
func TestBoundProducerPublishesOnlyForItsOrganization(t *testing.T) {
	a := newAPI(t)
	event := func(o, id string) string {
		return `{"organizationUuid":"` + o + `","eventName":"ProductCreated","eventId":"` + id + `","payload":{}}`
	}
	bound := a.tokenFor(strings.ToUpper(org), "pos", "PUSHER:PUBLISH")
	if r := a.do("POST", "/v1/events", bound, event(org, "own")); r.status != 202 {
		t.Errorf("bound producer, own organization = %d %s", r.status, r.body)
	}
	r := a.do("POST", "/v1/events", bound, event(otherOrg, "foreign"))
	v := wantError(t, r, 403, "FORBIDDEN")
	if len(v) != 1 || v[0]["propertyName"] != "organizationUuid" || !strings.Contains(v[0]["developerMessage"], org) {
		t.Errorf("violations = %v", v)
	}
	if _, msg, _ := zettleError(t, r); !strings.Contains(msg, "bound to organization "+org) {
		t.Errorf("message = %q", msg)
	}

	// A batch with one foreign event is refused whole, naming that event.
	batch := "[" + event(org, "b0") + "," + event(otherOrg, "b1") + "," + event(org, "b2") + "]"
	v = wantError(t, a.do("POST", "/v1/events", bound, batch), 403, "FORBIDDEN")
	if len(v) != 1 || v[0]["propertyName"] != "[1].organizationUuid" {
		t.Errorf("batch violations = %v, want one for [1]", v)
	}
	r = a.do("POST", "/v1/events", bound, "["+event(org, "b0")+","+event(org, "b2")+"]")
	var res struct{ Duplicates int }
	if json.Unmarshal([]byte(r.body), &res); r.status != 202 || res.Duplicates != 0 {
		t.Errorf("the refused batch was stored in part: %d %s", r.status, r.body)
	}

	// A subscriber token that also holds PUSHER:PUBLISH is bound too.
	subscriber := a.token(org, append(allScopes, "PUSHER:PUBLISH")...)
	wantError(t, a.do("POST", "/v1/events", subscriber, event(otherOrg, "injected")), 403, "FORBIDDEN")

	// Unbound producers publish for anyone.
	for _, o := range []string{org, otherOrg} {
		if r := a.do("POST", "/v1/events", a.producer(), event(o, "unbound")); r.status != 202 {
			t.Errorf("unbound producer for %s = %d %s", o, r.status, r.body)
		}
	}
}

// TestCreateWithUUIDHeldElsewhere: a uuid held by another client or
// organization gets byte for byte the answer of a duplicate of the caller's
// own (400 SUBSCRIPTION_ALREADY_EXIST, naming only the uuid sent), so the
// answer tells nothing about who holds it, and the holder's subscription
// is neither shown nor changed (audit §3.1).
func TestCreateWithUUIDHeldElsewhere(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	owner := a.tokenFor(org, "owner", allScopes...)
	if r := a.do("POST", "/organizations/self/subscriptions", owner, createBody(subUUID, rcv.URL, "PurchaseCreated")); r.status != 200 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	held := listOne(t, a, owner)
	own := a.do("POST", "/organizations/self/subscriptions", owner, createBody(subUUID, rcv.URL))
	wantError(t, own, 400, "SUBSCRIPTION_ALREADY_EXIST")

	callers := map[string]string{
		"other client, same organization":  a.tokenFor(org, "squatter", allScopes...),
		"other organization":               a.tokenFor(otherOrg, "owner", allScopes...),
		"other organization, other client": a.tokenFor(otherOrg, "squatter", allScopes...),
	}
	mine := newReceiver(t, http.StatusOK)
	for name, tok := range callers {
		for _, uuid := range []string{subUUID, strings.ToUpper(subUUID)} {
			t.Run(name+"/"+uuid, func(t *testing.T) {
				r := a.do("POST", "/organizations/self/subscriptions", tok, createBody(uuid, mine.URL, "ProductCreated"))
				if r.status != own.status || r.body != own.body {
					t.Errorf("answer = %d %s\nwant the caller's own duplicate answer %d %s", r.status, r.body, own.status, own.body)
				}
				if got := a.do("GET", "/organizations/self/subscriptions", tok, ""); got.body != "[]" {
					t.Errorf("the caller sees %s", got.body)
				}
			})
		}
	}
	after := listOne(t, a, owner)
	for _, k := range []string{"uuid", "destination", "contactEmail", "status", "signingKey", "updated"} {
		if after[k] != held[k] {
			t.Errorf("holder's %s changed: %v -> %v", k, held[k], after[k])
		}
	}
	if n := rcv.Len(); n != 1 {
		t.Errorf("the holder's destination got %d requests, want its own TestMessage only", n)
	}
}
