package httpapi_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// v1UUID returns the i-th of a series of version-1 UUIDs.
func v1UUID(i int) string { return fmt.Sprintf("%08x-8f35-11eb-8dcd-0242ac130003", i) }

// wantThrottled checks a 429 with Zettle's body and a Retry-After of secs.
func wantThrottled(t *testing.T, r response, secs string) {
	t.Helper()
	wantError(t, r, http.StatusTooManyRequests, "TOO_MANY_REQUESTS")
	if got := r.header.Get("Retry-After"); got != secs {
		t.Errorf("Retry-After = %q, want %q", got, secs)
	}
}

func TestAPIRateLimit(t *testing.T) {
	a := newAPI(t, func(c *httpapi.Config) { c.APIRate, c.APIBurst = 1, 3 })
	tok := a.token(org, allScopes...)
	list := func(tok string) response { return a.do("GET", "/organizations/self/subscriptions", tok, "") }
	for i := range 3 {
		if r := list(tok); r.status != 200 {
			t.Fatalf("request %d of the burst = %d %s", i+1, r.status, r.body)
		}
	}
	wantThrottled(t, list(tok), "1")
	wantThrottled(t, a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, "https://shop.example/hook")), "1")

	// Buckets are per (client, organization); ingest has its own limit.
	if r := list(a.tokenFor(org, "other-client", allScopes...)); r.status != 200 {
		t.Errorf("another client of the organization = %d, want 200", r.status)
	}
	if r := list(a.token(otherOrg, allScopes...)); r.status != 200 {
		t.Errorf("the same client in another organization = %d, want 200", r.status)
	}
	if r := a.do("POST", "/v1/events", a.producer(), event("e1", `{}`)); r.status != 202 {
		t.Errorf("ingest = %d, want 202 (not limited)", r.status)
	}
	// Unauthenticated requests are refused before the limit.
	wantError(t, list(""), 401, "UNAUTHORIZED")

	// One token per second; refused requests took none.
	a.setNow(a.clock().Add(time.Second))
	if r := list(tok); r.status != 200 {
		t.Errorf("after 1 s = %d, want 200", r.status)
	}
	wantThrottled(t, list(tok), "1")
}

func TestIngestRateLimit(t *testing.T) {
	a := newAPI(t, func(c *httpapi.Config) { c.IngestRate, c.IngestBurst = 0.1, 2 })
	prod := a.producer()
	for i := range 2 {
		if r := a.do("POST", "/v1/events", prod, event(fmt.Sprint(i), `{}`)); r.status != 202 {
			t.Fatalf("publish %d = %d %s", i, r.status, r.body)
		}
	}
	wantThrottled(t, a.do("POST", "/v1/events", prod, event("2", `{}`)), "10")
	if r := a.do("POST", "/v1/events", a.tokenFor("", "other-producer", auth.ScopePublish), event("3", `{}`)); r.status != 202 {
		t.Errorf("another producer = %d, want 202", r.status)
	}
	if r := a.do("GET", "/organizations/self/subscriptions", a.token(org, allScopes...), ""); r.status != 200 {
		t.Errorf("subscription API = %d, want 200 (not limited)", r.status)
	}
	a.setNow(a.clock().Add(4 * time.Second))
	wantThrottled(t, a.do("POST", "/v1/events", prod, event("2", `{}`)), "6")
	a.setNow(a.clock().Add(6 * time.Second))
	if r := a.do("POST", "/v1/events", prod, event("2", `{}`)); r.status != 202 {
		t.Errorf("after 10 s = %d, want 202", r.status)
	}
}

func TestSubscriptionCap(t *testing.T) {
	a := newAPI(t, func(c *httpapi.Config) { c.MaxSubscriptions = 2 })
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	create := func(tok string, i int) response {
		return a.do("POST", "/organizations/self/subscriptions", tok, createBody(v1UUID(i), rcv.URL))
	}
	for i := range 2 {
		if r := create(tok, i); r.status != 200 {
			t.Fatalf("create %d = %d %s", i, r.status, r.body)
		}
	}
	wantError(t, create(tok, 2), 400, "SUBSCRIPTION_LIMIT_REACHED")
	if n := rcv.Len(); n != 2 {
		t.Errorf("%d TestMessages, want 2: a refused create sends none", n)
	}
	// A duplicate is still answered as one.
	wantError(t, create(tok, 1), 400, "SUBSCRIPTION_ALREADY_EXIST")
	if r := create(a.tokenFor(org, "other-client", allScopes...), 3); r.status != 200 {
		t.Errorf("another client's create = %d %s, want 200: the cap is per client", r.status, r.body)
	}
	if r := a.do("DELETE", "/organizations/self/subscriptions/"+v1UUID(0), tok, ""); r.status != 204 {
		t.Fatalf("delete = %d", r.status)
	}
	if r := create(tok, 4); r.status != 200 {
		t.Errorf("create after a delete = %d %s, want 200", r.status, r.body)
	}
}

func TestClientAbortIsNotAnError(t *testing.T) {
	dir := t.TempDir()
	db := openStore(t, dir)
	key, err := auth.LoadOrCreateLocalKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	var logs webhooktest.Buffer // the server logs from its goroutines
	h := httpapi.NewHandler(slog.New(slog.NewTextHandler(&logs, nil)), db, &auth.Verifier{Keys: key}, trustingClient(t), nil, httpapi.Config{})
	served := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		served <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	mint := func(c auth.Claims) string {
		tok, err := key.Mint(c, time.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for path, tok := range map[string]string{
		"/v1/events":                        mint(auth.Claims{ClientID: "pos", Scope: []string{auth.ScopePublish}}),
		"/organizations/self/subscriptions": mint(auth.Claims{OrganizationUUID: org, ClientID: "shop", Scope: allScopes}),
	} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: pusher\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"uuid\":", path, tok)
		conn.Close() // 8 of the 1000 bytes sent
		<-served
	}
	out := logs.String()
	if strings.Contains(out, "level=ERROR") || strings.Count(out, `level=INFO msg="request body not received"`) != 2 {
		t.Errorf("log:\n%s\nwant two info lines and no error", out)
	}
	if strings.Contains(out, "status=500") || strings.Count(out, "status=400") != 2 {
		t.Errorf("log:\n%s\nwant both requests logged with status 400", out)
	}
}
