package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/ssrf"
	"github.com/pusher-hq/pusher/internal/ssrf/ssrftest"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// loopbackForms returns destinations on this machine's loopback that all
// reach a receiver listening on 127.0.0.1:port (and [::1]:port6), written
// in the forms the audit used.
func loopbackForms(port, port6 string) []string {
	return []string{
		"http://127.0.0.1:" + port + "/hook",
		"http://[::ffff:127.0.0.1]:" + port + "/hook",
		"http://[::ffff:7f00:1]:" + port + "/hook",
		"http://localhost:" + port + "/hook",
		"http://0.0.0.0:" + port + "/hook",
		"http://[::]:" + port6 + "/hook",
		"http://[::1]:" + port6 + "/hook",
	}
}

// loopbackReceivers starts a receiver on 127.0.0.1 and one on [::1] and
// returns them with their ports.
func loopbackReceivers(t *testing.T) (rc4, rc6 *receiver, port, port6 string) {
	rc4 = newReceiver(t, ok)
	rc6 = &receiver{handler: ok, done: make(chan struct{})}
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rc6}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return rc4, rc6, portOf(rc4.srv.Listener.Addr()), portOf(ln.Addr())
}

func portOf(a net.Addr) string { return strconv.Itoa(a.(*net.TCPAddr).Port) }

// Without an allow-list every delivery to loopback is refused at the dial:
// the attempt is a forbidden_destination whose words name no address or
// port, and the receivers listening there get nothing.
func TestPostRefusesLoopbackAtDial(t *testing.T) {
	rc4, rc6, port, port6 := loopbackReceivers(t)
	c := delivery.NewClient(testUserAgent, testTimeout, 4) // the default guard
	org := uuid.NewString()
	env := webhook.NewEnvelope(org, webhook.ProductUpdated, webhook.MessageID(org, webhook.ProductUpdated, "s1"), `{}`, time.Now())
	forms := loopbackForms(port, port6)
	refused := 0
	for _, dest := range forms {
		out := c.Post(bg, dest, webhook.Keys{Current: "key"}, env)
		if out.Class != webhook.ClassForbiddenDestination || out.StatusCode != 0 {
			t.Errorf("Post(%s) = class %q status %d (%s), want %s", dest, out.Class, out.StatusCode, out.Detail, webhook.ClassForbiddenDestination)
			continue
		}
		refused++
		reason := webhook.Reason(out.Class, 0, dest, out.Detail, testTimeout)
		if strings.Contains(reason, "127.0.0.1") || strings.Contains(reason, port) || strings.Contains(reason, "::") {
			t.Errorf("reason %q names the address or port", reason)
		}
	}
	if n := rc4.count() + rc6.count(); n != 0 {
		t.Errorf("receivers got %d requests, want 0", n)
	}
	t.Logf("refused %d of %d loopback destinations at the dial", refused, len(forms))
}

// The TestMessage handshake answers every internal destination with the same
// 422, whether something listens there, nothing does, or a name resolves to
// it; nothing is sent.
func TestHandshakeRefusesInternalDestinations(t *testing.T) {
	rc4, rc6, port, port6 := loopbackReceivers(t)
	var hanging *receiver
	hanging = newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) int { return hanging.hang(r) })
	dns := ssrftest.NewDNS(t)
	dns.Set("loop.pusher.test", "127.0.0.1")
	dns.Set("meta.pusher.test", "169.254.169.254")
	c := delivery.NewClient(testUserAgent, testTimeout, 4, delivery.WithGuard(&ssrf.Guard{Resolver: dns.Resolver()}))

	dests := append(loopbackForms(port, port6),
		closedPortURL(t), hanging.URL(), "http://loop.pusher.test:"+port+"/hook", "https://meta.pusher.test/",
		"http://2130706433:"+port+"/", "http://0x7f.1:"+port+"/", "http://0177.0.0.1:"+port+"/", "http://127.0.0.1.:"+port+"/",
		"http://foo.localhost:"+port+"/")
	var first string
	refused := 0
	for _, dest := range dests {
		err := c.Handshake(bg, newSubscription(uuid.NewString(), dest), time.Now())
		var we *webhook.Error
		if !errors.As(err, &we) || we.Code != webhook.Unprocessable || we.Type != webhook.TypeValidationError ||
			len(we.Violations) != 1 || we.Violations[0].PropertyName != "destination" ||
			we.Violations[0].DeveloperMessage != delivery.ForbiddenDestinationMessage {
			t.Errorf("Handshake(%s) = %#v, want the forbidden-destination 422", dest, err)
			continue
		}
		refused++
		if first == "" {
			first = err.Error()
		} else if err.Error() != first {
			t.Errorf("Handshake(%s) = %q, differs from %q", dest, err, first)
		}
	}
	if n := rc4.count() + rc6.count() + hanging.count(); n != 0 {
		t.Errorf("receivers got %d requests, want 0", n)
	}
	t.Logf("refused %d of %d internal destinations at the handshake, all with one message", refused, len(dests))
}

// dualReceiver is a plain HTTP receiver listening on 127.0.0.1 and 127.0.0.2
// at the same port, without keep-alive (so every request is a new dial). It
// counts the requests that arrive on each address.
type dualReceiver struct {
	port string
	mu   sync.Mutex
	got  map[string]int // local IP → requests
}

func newDualReceiver(t *testing.T) *dualReceiver {
	t.Helper()
	d := &dualReceiver{got: map[string]int{}}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local := r.Context().Value(http.LocalAddrContextKey).(net.Addr).(*net.TCPAddr).IP.String()
		d.mu.Lock()
		d.got[local]++
		d.mu.Unlock()
	})}
	srv.SetKeepAlivesEnabled(false)
	t.Cleanup(func() { srv.Close() })
	for try := 0; ; try++ {
		ln2, err := net.Listen("tcp", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		d.port = portOf(ln2.Addr())
		ln1, err := net.Listen("tcp", "127.0.0.1:"+d.port)
		if err != nil && try < 10 {
			ln2.Close()
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(ln1)
		go srv.Serve(ln2)
		return d
	}
}

func (d *dualReceiver) requests(ip string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.got[ip]
}

// DNS rebinding: the destination's name resolves to the allowed 127.0.0.2
// when the subscription is created and to 127.0.0.1 when a message is
// delivered. The dial hook checks the address actually dialled, so the
// delivery attempt is refused and never reaches the receiver, which listens
// on both addresses.
func TestDNSRebindingRefusedAtDial(t *testing.T) {
	rcv := newDualReceiver(t)
	dns := ssrftest.NewDNS(t)
	dns.Set("rebind.pusher.test", "127.0.0.2")
	g := &ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, Resolver: dns.Resolver()}
	c := delivery.NewClient(testUserAgent, testTimeout, 4, delivery.WithGuard(g))

	db, _ := openDB(t)
	org := uuid.NewString()
	sub := newSubscription(org, "http://rebind.pusher.test:"+rcv.port+"/hook")
	if err := c.Handshake(bg, sub, time.Now()); err != nil {
		t.Fatalf("Handshake = %v, want nil (127.0.0.2 is allowed)", err)
	}
	if err := db.CreateSubscription(bg, sub); err != nil {
		t.Fatal(err)
	}
	dns.Set("rebind.pusher.test", "127.0.0.1")

	attempts := make(chan store.AttemptResult, 16)
	e := newEngine(t, db, c)
	e.OnRecorded = func(rs []store.AttemptResult) {
		for _, r := range rs {
			select {
			case attempts <- r:
			default:
			}
		}
	}
	publish(t, db, makeEvent(org, "rebind-1", `{"n":1}`))
	runEngine(t, e)
	e.Notify()
	var r store.AttemptResult
	select {
	case r = <-attempts:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery attempt recorded within 10 s")
	}
	if r.ErrorClass != webhook.ClassForbiddenDestination || r.StatusCode != 0 {
		t.Errorf("attempt = class %q status %d (%s), want %s", r.ErrorClass, r.StatusCode, r.ErrorDetail, webhook.ClassForbiddenDestination)
	}
	if got := rcv.requests("127.0.0.1"); got != 0 {
		t.Errorf("127.0.0.1 got %d requests, want 0", got)
	}
	if got := rcv.requests("127.0.0.2"); got != 1 {
		t.Errorf("127.0.0.2 got %d requests, want 1 (the TestMessage)", got)
	}
	if dns.Queries("rebind.pusher.test") < 2 {
		t.Errorf("the name was looked up %d times, want at least twice (create, delivery)", dns.Queries("rebind.pusher.test"))
	}
}

// A redirect to a private address is not followed: not when the guard
// refuses the target, and not even when it allows it.
func TestRedirectToInternalAddressNotFollowed(t *testing.T) {
	target := newReceiver(t, ok) // on 127.0.0.1
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL(), http.StatusTemporaryRedirect)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	dest := fmt.Sprintf("http://%s/hook", ln.Addr())

	for _, allow := range []string{"127.0.0.2/32", "127.0.0.0/8"} {
		g := &ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix(allow)}}
		c := delivery.NewClient(testUserAgent, testTimeout, 4, delivery.WithGuard(g))
		out := c.Post(bg, dest, webhook.Keys{Current: "key"}, webhook.NewEnvelope("org", webhook.ProductUpdated, "id", `{}`, time.Now()))
		if out.Class != webhook.ClassRedirect || out.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("allow %s: Post = class %q status %d, want %s 307", allow, out.Class, out.StatusCode, webhook.ClassRedirect)
		}
		err := c.Handshake(bg, newSubscription(uuid.NewString(), dest), time.Now())
		if !webhook.IsCode(err, webhook.DestinationError) {
			t.Errorf("allow %s: Handshake = %v, want 500 DESTINATION_RESPONDED_WITH_ERROR_CODE", allow, err)
		}
	}
	if n := target.count(); n != 0 {
		t.Errorf("redirect target got %d requests, want 0", n)
	}
}

// Deliveries ignore HTTP_PROXY and friends, so the dial check sees the peer.
func TestClientUsesNoProxy(t *testing.T) {
	if p := delivery.NewClient(testUserAgent, testTimeout, 4).HTTP.Transport.(*http.Transport).Proxy; p != nil {
		t.Error("transport has a Proxy func, want nil")
	}
}

// A Client not made by NewClient still refuses internal destinations at the
// handshake.
func TestHandshakeWithoutNewClientRefuses(t *testing.T) {
	c := &delivery.Client{HTTP: http.DefaultClient, Timeout: testTimeout}
	err := c.Handshake(context.Background(), newSubscription(uuid.NewString(), "http://127.0.0.1:1/"), time.Now())
	if !webhook.IsCode(err, webhook.Unprocessable) {
		t.Errorf("Handshake = %v, want 422", err)
	}
}
