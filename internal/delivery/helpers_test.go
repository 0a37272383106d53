package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/ssrf"
	"github.com/pusher-hq/pusher/internal/ssrf/ssrftest"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/webhook"
)

var engineLog = flag.Bool("engine.log", false, "write the delivery engine's log to the test output")

const (
	testUserAgent = "pusher/test (+https://github.com/pusher-hq/pusher)"
	testClientID  = "client-a"
	// testTimeout is the client timeout of most engine tests: short, so
	// hanging receivers cost little.
	testTimeout = 300 * time.Millisecond
	// tlsTimeout is the client timeout where TLS handshakes (and loading
	// the system roots) must fit, which is slow under -race.
	tlsTimeout = 3 * time.Second
)

var bg = context.Background()

// openDB opens a fresh SQLite store in a temporary directory and returns it
// with its path, so a test can close and reopen it.
func openDB(t *testing.T) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	return reopenDB(t, path), path
}

// reopenDB opens the store at path; it is closed when the test ends.
func reopenDB(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(bg, path)
	if err != nil {
		t.Fatalf("sqlite.Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newSubscription returns an ACTIVE subscription of org to all events,
// delivering to destination, with a fresh signing key.
func newSubscription(org, destination string) *webhook.Subscription {
	now := time.Now().UTC()
	return &webhook.Subscription{
		UUID: uuid.NewString(), OrganizationUUID: org, ClientID: testClientID,
		TransportName: webhook.TransportWebhook, EventNames: []string{}, Destination: destination,
		ContactEmail: "ops@example.com", Status: webhook.Active, SigningKey: signing.NewKey(),
		Created: now, Updated: now,
	}
}

func createSubscription(t *testing.T, db store.Store, org, destination string) *webhook.Subscription {
	t.Helper()
	s := newSubscription(org, destination)
	if err := db.CreateSubscription(bg, s); err != nil {
		t.Fatalf("CreateSubscription = %v", err)
	}
	return s
}

// makeEvent builds a ProductUpdated event of org with the given producer
// event id and payload, the way the ingest API does.
func makeEvent(org, eventID, payload string) store.Event {
	now := time.Now()
	mid := webhook.MessageID(org, webhook.ProductUpdated, eventID)
	return store.Event{
		Envelope:        webhook.NewEnvelope(org, webhook.ProductUpdated, mid, payload, now),
		SourceEventName: webhook.ProductUpdated, EventID: eventID, Now: now,
	}
}

// publishN publishes n events of org in one Publish call and returns them in
// publish order.
func publishN(t *testing.T, db store.Store, org, prefix string, n int) []store.Event {
	t.Helper()
	evs := make([]store.Event, n)
	for i := range evs {
		id := fmt.Sprintf("%s-%03d", prefix, i)
		evs[i] = makeEvent(org, id, `{"id":"`+id+`"}`)
	}
	publish(t, db, evs...)
	return evs
}

func publish(t *testing.T, db store.Store, evs ...store.Event) {
	t.Helper()
	res, err := db.Publish(bg, evs)
	if err != nil {
		t.Fatalf("Publish = %v", err)
	}
	for i, r := range res {
		if r.Duplicate || r.Messages == 0 {
			t.Fatalf("Publish result %d = %+v, want a new event with messages", i, r)
		}
	}
}

func messageIDs(evs []store.Event) []string {
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.Envelope.MessageID
	}
	return ids
}

// newClient returns a delivery client as cmd/pusher builds it, allowed to
// deliver to the loopback receivers of the tests.
func newClient(timeout time.Duration) *delivery.Client {
	return delivery.NewClient(testUserAgent, timeout, 16, delivery.WithGuard(loopbackAllowed))
}

// unknownHostClient is newClient resolving with a test DNS server that
// knows no names, so a lookup fails with "not found" at once, whatever DNS
// (or none) the machine has.
func unknownHostClient(t *testing.T, timeout time.Duration) *delivery.Client {
	g := &ssrf.Guard{Allow: loopbackAllowed.Allow, Resolver: ssrftest.NewDNS(t).Resolver()}
	return delivery.NewClient(testUserAgent, timeout, 16, delivery.WithGuard(g))
}

// loopbackAllowed is the guard of test clients: loopback is allowed, as
// with -allow-destination-cidrs 127.0.0.0/8,::1/128.
var loopbackAllowed = &ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}

// trustServer makes c trust the certificate of the TLS test server srv.
func trustServer(c *delivery.Client, srv *httptest.Server) {
	tr := c.HTTP.Transport.(*http.Transport)
	tr.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}

// newEngine returns an engine with test-sized timings: a compressed retry
// schedule (5 retries 50 ms apart) and a 10 ms poll interval.
func newEngine(t *testing.T, q delivery.Queue, c *delivery.Client) *delivery.Engine {
	e := &delivery.Engine{
		Queue: q, Client: c,
		Schedule:     webhook.Schedule{{Count: 5, Interval: 50 * time.Millisecond}},
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
	}
	if *engineLog {
		e.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return e
}

// runEngine runs e until the returned stop is called (or the test ends).
// stop cancels Run's context and returns Run's error and how long Run took
// to return after the cancel.
func runEngine(t *testing.T, e *delivery.Engine) (stop func() (error, time.Duration)) {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var (
		once    sync.Once
		err     error
		elapsed time.Duration
	)
	stop = func() (error, time.Duration) {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("Run did not return within 10 s of the cancel")
			}
			elapsed = time.Since(start)
		})
		return err, elapsed
	}
	t.Cleanup(func() {
		if err, _ := stop(); err != nil {
			t.Errorf("Engine.Run = %v, want nil", err)
		}
	})
	return stop
}

// waitFor polls cond every few milliseconds until it holds, failing the test
// if it does not within the given time.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

// status returns the status of a subscription, or "" if it does not exist.
func status(t *testing.T, db store.Store, s *webhook.Subscription) webhook.Status {
	t.Helper()
	got, err := db.Subscription(bg, s.OrganizationUUID, s.ClientID, s.UUID)
	if webhook.IsCode(err, webhook.NotFound) {
		return ""
	}
	if err != nil {
		t.Fatalf("Subscription = %v", err)
	}
	return got.Status
}

// messages returns the messages of a subscription by messageId.
func messages(t *testing.T, db store.Store, s *webhook.Subscription) map[string]store.Message {
	t.Helper()
	ms, err := db.Messages(bg, s.UUID, "")
	if err != nil {
		t.Fatalf("Messages = %v", err)
	}
	out := make(map[string]store.Message, len(ms))
	for _, m := range ms {
		out[m.MessageID] = m
	}
	return out
}

// countState returns how many of a subscription's messages are in state.
func countState(t *testing.T, db store.Store, s *webhook.Subscription, state string) int {
	t.Helper()
	ms, err := db.Messages(bg, s.UUID, state)
	if err != nil {
		t.Fatalf("Messages = %v", err)
	}
	return len(ms)
}

func attempts(t *testing.T, db store.Store, m store.Message) []store.Attempt {
	t.Helper()
	as, err := db.Attempts(bg, m.ID)
	if err != nil {
		t.Fatalf("Attempts(%d) = %v", m.ID, err)
	}
	return as
}

// notices returns every unsent notice in the outbox.
func notices(t *testing.T, db store.Store) []webhook.Notice {
	t.Helper()
	ns, err := db.DueNotices(bg, time.Now().Add(1000*time.Hour), 100)
	if err != nil {
		t.Fatalf("DueNotices = %v", err)
	}
	return ns
}

func noticeKinds(ns []webhook.Notice) []webhook.NoticeKind {
	kinds := make([]webhook.NoticeKind, len(ns))
	for i, n := range ns {
		kinds[i] = n.Kind
	}
	return kinds
}

// received is one request a receiver got.
type received struct {
	N        int // arrival order, from 0
	Header   http.Header
	Body     []byte
	Envelope map[string]string // the decoded body; nil if it is not a JSON object of strings
	Status   int               // status answered; 0 if none (hijacked, hung up)
	Remote   string
}

// receiver is a webhook destination that records what it gets. Its handler
// decides the answer for the n-th request (counted from 0) and returns the
// status it wrote, 0 if it wrote none.
type receiver struct {
	srv     *httptest.Server
	handler func(w http.ResponseWriter, r *http.Request, n int) int
	// done is closed by release or when the test ends, to release hanging
	// handlers.
	done        chan struct{}
	releaseOnce sync.Once

	mu   sync.Mutex
	reqs []*received
}

// newReceiver starts a plain HTTP receiver.
func newReceiver(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, n int) int) *receiver {
	rc := &receiver{handler: handler, done: make(chan struct{})}
	rc.srv = httptest.NewServer(rc)
	rc.cleanup(t)
	return rc
}

// newTLSReceiver starts an HTTPS receiver and counts the TCP connections
// clients open to it.
func newTLSReceiver(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, n int) int) (*receiver, *atomic.Int32) {
	rc := &receiver{handler: handler, done: make(chan struct{})}
	var conns atomic.Int32
	rc.srv = httptest.NewUnstartedServer(rc)
	rc.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	rc.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // rejected handshakes are expected
	rc.srv.StartTLS()
	rc.cleanup(t)
	return rc, &conns
}

// cleanup closes the server when the test ends, after releasing hanging
// handlers (cleanups run last registered first).
func (rc *receiver) cleanup(t *testing.T) {
	t.Cleanup(rc.srv.Close)
	t.Cleanup(rc.release)
}

// release makes hanging handlers return (without answering).
func (rc *receiver) release() { rc.releaseOnce.Do(func() { close(rc.done) }) }

// URL is the receiver's destination URL.
func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &received{Header: r.Header.Clone(), Body: body, Remote: r.RemoteAddr}
	var env map[string]string
	if json.Unmarshal(body, &env) == nil {
		req.Envelope = env
	}
	rc.mu.Lock()
	req.N = len(rc.reqs)
	rc.reqs = append(rc.reqs, req)
	rc.mu.Unlock()

	code := rc.handler(w, r, req.N)

	rc.mu.Lock()
	req.Status = code
	rc.mu.Unlock()
}

// requests returns copies of the requests so far.
func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]received, len(rc.reqs))
	for i, r := range rc.reqs {
		out[i] = *r
	}
	return out
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// accepted returns the messageIds answered with 2xx, in arrival order.
func (rc *receiver) accepted() []string {
	var ids []string
	for _, r := range rc.requests() {
		if r.Status/100 == 2 {
			ids = append(ids, r.Envelope["messageId"])
		}
	}
	return ids
}

// hasAccepted reports whether every id in want was answered with 2xx.
func (rc *receiver) hasAccepted(want []string) bool {
	got := rc.accepted()
	for _, id := range want {
		if !slices.Contains(got, id) {
			return false
		}
	}
	return true
}

// answer writes status with a small body.
func answer(w http.ResponseWriter, status int) int {
	w.WriteHeader(status)
	fmt.Fprintf(w, "status %d\n", status)
	return status
}

// ok is a handler that accepts everything.
func ok(w http.ResponseWriter, _ *http.Request, _ int) int { return answer(w, http.StatusOK) }

// hang blocks until the client gives up or the test ends, answering nothing.
func (rc *receiver) hang(r *http.Request) int {
	select {
	case <-r.Context().Done():
	case <-rc.done:
	}
	return 0
}

// hangUp closes the connection without answering.
func hangUp(w http.ResponseWriter) int {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
	return 0
}

// jsonKeys returns the keys of the JSON object in body, in order.
func jsonKeys(body []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object: %v %v", tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return keys, nil
}
