package httpapi_test

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/ssrf"
)

// newGuardedAPI is newAPI whose delivery client uses guard g, with http://
// destinations allowed (-allow-http, which does not allow internal
// addresses).
func newGuardedAPI(t *testing.T, g *ssrf.Guard) *testAPI {
	t.Helper()
	dir := t.TempDir()
	db := openStore(t, dir)
	key, err := auth.LoadOrCreateLocalKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := &testAPI{t: t, db: db, key: key, now: time.Date(2021, 3, 29, 16, 31, 47, 87507000, time.UTC)}
	a.client = delivery.NewClient("pusher/test", 2*time.Second, 4, delivery.WithGuard(g))
	a.cfg = httpapi.Config{Now: a.clock, AllowHTTPDestinations: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(httpapi.NewHandler(log, db, &auth.Verifier{Keys: key}, a.client, nil, a.cfg))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// countingServer is a plain HTTP receiver on addr (host:0) answering 200; it
// returns its port and a request counter.
func countingServer(t *testing.T, addr string) (port string, n *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n = new(atomic.Int32)
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { n.Add(1) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), n
}

// closedPort returns a port of 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// forbiddenBody is the whole 422 answer to an internal destination.
const forbiddenBody = `{"developerMessage":"Invalid request: destination ` + delivery.ForbiddenDestinationMessage +
	`","errorType":"VALIDATION_ERROR","violations":[{"propertyName":"destination","developerMessage":"` +
	delivery.ForbiddenDestinationMessage + `","constraintType":"PUBLIC_ADDRESS"}]}`

// wantForbidden checks that r is the forbidden-destination 422, word for word.
func wantForbidden(t *testing.T, dest string, r response) bool {
	t.Helper()
	wantError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
	if r.body != forbiddenBody {
		t.Errorf("%s: body =\n%s\nwant\n%s", dest, r.body, forbiddenBody)
		return false
	}
	return true
}

// Create refuses internal destinations with one 422 that is the same whether
// a server listens there or not, and sends them nothing, with -allow-http.
func TestCreateRefusesInternalDestinations(t *testing.T) {
	a := newGuardedAPI(t, nil)
	port, got := countingServer(t, "127.0.0.1:0")
	port6, got6 := countingServer(t, "[::1]:0")
	tlsRcv := newReceiver(t, http.StatusOK)
	closed := closedPort(t)
	dests := []string{
		"http://127.0.0.1:" + port + "/hook", "http://127.0.0.1:" + closed + "/hook", tlsRcv.URL + "/hook",
		"https://127.0.0.1:" + closed + "/", "http://[::1]:" + port6 + "/", "http://[::]:" + port6 + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/", "http://0.0.0.0:" + port + "/", "http://localhost:" + port + "/",
		"http://localhost.:" + port + "/", "http://api.localhost:" + port + "/", "http://2130706433:" + port + "/",
		"http://0177.0.0.1:" + port + "/", "http://0x7f.1:" + port + "/", "http://127.1:" + port + "/",
		"http://127.0.0.1.:" + port + "/", "http://user:secretpw@127.0.0.1:" + port + "/",
	}
	tok := a.token(org, allScopes...)
	refused := 0
	for i, dest := range dests {
		uuid := "f02f80f8-8f35-11eb-8dcd-0242ac13" + strconv.Itoa(1000+i)
		if wantForbidden(t, dest, a.do("POST", "/organizations/self/subscriptions", tok, createBody(uuid, dest, "ProductCreated"))) {
			refused++
		}
	}
	if n := got.Load() + got6.Load(); n != 0 {
		t.Errorf("loopback receivers got %d requests, want 0", n)
	}
	if n := tlsRcv.Len(); n != 0 {
		t.Errorf("TLS receiver got %d requests, want 0", n)
	}
	if r := a.do("GET", "/organizations/self/subscriptions", tok, ""); r.body != "[]" {
		t.Errorf("list = %s, want []", r.body)
	}
	t.Logf("create: refused %d of %d internal destinations with one 422 body", refused, len(dests))
}

// Update refuses to move a subscription to an internal destination and
// keeps the old one.
func TestUpdateRefusesInternalDestinations(t *testing.T) {
	allowed := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	a := newGuardedAPI(t, &ssrf.Guard{Allow: allowed})
	okPort, okGot := countingServer(t, "127.0.0.2:0")
	port, got := countingServer(t, "127.0.0.1:0")
	tok := a.token(org, allScopes...)
	home := "http://127.0.0.2:" + okPort + "/hook"
	if r := a.do("POST", "/organizations/self/subscriptions", tok, createBody(subUUID, home, "ProductCreated")); r.status != http.StatusOK {
		t.Fatalf("create on the allowed 127.0.0.2 = %d %s", r.status, r.body)
	}
	dests := []string{
		"http://[::ffff:127.0.0.1]:" + port + "/put/changed", "http://127.0.0.1:" + port + "/",
		"http://127.0.0.1:" + closedPort(t) + "/", "http://localhost:" + port + "/", "http://0x7f000001:" + port + "/",
		"http://[::1]:" + port + "/",
	}
	refused := 0
	for _, dest := range dests {
		body := `{"destination":"` + dest + `"}`
		if wantForbidden(t, dest, a.do("PUT", "/organizations/self/subscriptions/"+subUUID, tok, body)) {
			refused++
		}
	}
	if n := got.Load(); n != 0 {
		t.Errorf("127.0.0.1 receiver got %d requests, want 0", n)
	}
	if n := okGot.Load(); n != 1 {
		t.Errorf("127.0.0.2 receiver got %d requests, want 1 (the create's TestMessage)", n)
	}
	subs, err := a.db.Subscriptions(t.Context(), org, "shop")
	if err != nil || len(subs) != 1 || subs[0].Destination != home {
		t.Errorf("stored subscriptions = %v, %v; want one still delivering to %s", subs, err, home)
	}
	t.Logf("update: refused %d of %d internal destinations with one 422 body", refused, len(dests))
}
