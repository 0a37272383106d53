package delivery_test

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// A delivered message is the envelope byte for byte as Zettle sends it
// (pusher-api.md §3.2): compact, keys in Zettle's order, payload a JSON
// string escaped only where JSON requires it, signed over the decoded
// payload (§4), with JSON content type and pusher's User-Agent.
func TestEngineDeliversSignedByteExactEnvelope(t *testing.T) {
	db, _ := openDB(t)
	rc := newReceiver(t, ok)
	org := uuid.NewString()
	sub := createSubscription(t, db, org, rc.URL())

	payload := `{"name":"Fish & Chips <large>","note":"Smörgåsbord ☕ \"quoted\" back\\slash","price":1}`
	ev := makeEvent(org, "byte-exact-1", payload)
	publish(t, db, ev)

	e := newEngine(t, db, newClient(testTimeout))
	stop := runEngine(t, e)
	e.Notify()
	waitFor(t, 5*time.Second, "the message to be delivered", func() bool {
		return countState(t, db, sub, store.StateDelivered) == 1
	})
	if err, _ := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}

	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want exactly 1", len(reqs))
	}
	r := reqs[0]
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "pusher/") {
		t.Errorf("User-Agent = %q, want it to start with pusher/", ua)
	}

	// The expected body, written out independently of Envelope.Bytes: only
	// `"` and `\` are escaped; <, >, & and non-ASCII stay as they are.
	env := ev.Envelope
	escaped := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(payload)
	want := `{"organizationUuid":"` + org + `","messageUuid":"` + env.MessageUUID +
		`","eventName":"ProductUpdated","messageId":"` + env.MessageID + `","payload":"` + escaped +
		`","timestamp":"` + env.Timestamp + `"}`
	if string(r.Body) != want {
		t.Errorf("body =\n%s\nwant\n%s", r.Body, want)
	}
	if !bytes.Equal(r.Body, env.Bytes()) {
		t.Errorf("body differs from Envelope.Bytes():\n%s\n%s", r.Body, env.Bytes())
	}
	keys, err := jsonKeys(r.Body)
	wantKeys := []string{"organizationUuid", "messageUuid", "eventName", "messageId", "payload", "timestamp"}
	if err != nil || !slices.Equal(keys, wantKeys) {
		t.Errorf("keys = %v (%v), want %v", keys, err, wantKeys)
	}
	for _, raw := range []string{"Fish & Chips <large>", "Smörgåsbord ☕"} {
		if !bytes.Contains(r.Body, []byte(raw)) {
			t.Errorf("body does not contain %q unescaped", raw)
		}
	}
	for _, esc := range []string{`\u003c`, `\u003e`, `\u0026`, `\u00f6`, `\u2615`} {
		if bytes.Contains(r.Body, []byte(esc)) {
			t.Errorf("body contains the escape %s", esc)
		}
	}
	if r.Envelope["payload"] != payload {
		t.Errorf("decoded payload = %q, want %q", r.Envelope["payload"], payload)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(r.Envelope["timestamp"]) {
		t.Errorf("timestamp = %q, want UTC with milliseconds", r.Envelope["timestamp"])
	}

	sig := r.Header.Get(signing.Header)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sig) {
		t.Errorf("%s = %q, want 64 lower-case hex digits", signing.Header, sig)
	}
	if !signing.Verify(sub.SigningKey, r.Envelope["timestamp"], r.Envelope["payload"], sig) {
		t.Errorf("signature %s does not verify over timestamp + \".\" + decoded payload", sig)
	}
	if signing.Verify(sub.SigningKey, r.Envelope["timestamp"], escaped, sig) {
		t.Error("signature verifies over the escaped wire form of the payload")
	}

	m := messages(t, db, sub)[env.MessageID]
	if m.State != store.StateDelivered || m.Attempts != 1 {
		t.Errorf("message = %+v, want delivered after 1 attempt", m)
	}
	if as := attempts(t, db, m); len(as) != 1 || as[0].StatusCode != 200 || as[0].ErrorClass != "" {
		t.Errorf("attempts = %+v, want one 200", as)
	}
	if st := status(t, db, sub); st != webhook.Active {
		t.Errorf("status = %q, want ACTIVE", st)
	}
	if ns := notices(t, db); len(ns) != 0 {
		t.Errorf("notices = %v, want none", noticeKinds(ns))
	}
}

// HTTPS deliveries reuse kept-alive connections.
func TestEngineHTTPSKeepAlive(t *testing.T) {
	db, _ := openDB(t)
	rc, conns := newTLSReceiver(t, ok)
	org := uuid.NewString()
	sub := createSubscription(t, db, org, rc.URL())
	if !strings.HasPrefix(sub.Destination, "https://") {
		t.Fatalf("destination %s is not HTTPS", sub.Destination)
	}
	c := newClient(tlsTimeout)
	trustServer(c, rc.srv)
	e := newEngine(t, db, c)
	e.PerSubscription = 1
	runEngine(t, e)

	const n = 10
	evs := publishN(t, db, org, "tls", n)
	e.Notify()
	waitFor(t, 5*time.Second, "10 messages over HTTPS", func() bool { return rc.hasAccepted(messageIDs(evs)) })
	waitFor(t, 2*time.Second, "10 messages recorded as delivered", func() bool {
		return countState(t, db, sub, store.StateDelivered) == n
	})
	for _, r := range rc.requests() {
		if !signing.Verify(sub.SigningKey, r.Envelope["timestamp"], r.Envelope["payload"], r.Header.Get(signing.Header)) {
			t.Errorf("request %d: bad signature", r.N)
		}
	}
	// One connection carries them all; allow one more in case a connection
	// was not yet back in the idle pool when the next attempt started.
	if got := conns.Load(); got > 2 {
		t.Errorf("%d messages used %d TLS connections, want 1 (keep-alive)", n, got)
	}
	t.Logf("%d HTTPS deliveries over %d connection(s)", n, conns.Load())
}

// A destination that fails makes its subscription FAILING; while FAILING
// only the oldest message is retried, one attempt at a time; when it is
// accepted the subscription is ACTIVE again and the backlog is delivered.
// The contact gets a "failing" and a "recovered" notice.
func TestEngineFailingThenRecovers(t *testing.T) {
	db, _ := openDB(t)
	var healthy atomic.Bool
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) int {
		if healthy.Load() {
			return answer(w, http.StatusOK)
		}
		return answer(w, http.StatusServiceUnavailable)
	})
	org := uuid.NewString()
	sub := createSubscription(t, db, org, rc.URL())
	evs := publishN(t, db, org, "recover", 5)
	head := evs[0].Envelope.MessageID

	e := newEngine(t, db, newClient(testTimeout))
	e.PerSubscription = 4
	e.Schedule = webhook.Schedule{{Count: 60, Interval: 30 * time.Millisecond}} // does not run out during the test
	stop := runEngine(t, e)
	e.Notify()

	waitFor(t, 3*time.Second, "the subscription to be FAILING", func() bool { return status(t, db, sub) == webhook.Failing })
	// The first claim leases PerSubscription (4) messages; then come retries.
	waitFor(t, 3*time.Second, "two retries", func() bool { return rc.count() >= 4+2 })
	if st := status(t, db, sub); st != webhook.Failing {
		t.Fatalf("status while the destination answers 503 = %q, want FAILING", st)
	}
	healthy.Store(true)
	waitFor(t, 5*time.Second, "the backlog to arrive", func() bool { return rc.hasAccepted(messageIDs(evs)) })
	waitFor(t, 2*time.Second, "the backlog to be recorded as delivered", func() bool {
		return countState(t, db, sub, store.StateDelivered) == len(evs)
	})
	if err, _ := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if st := status(t, db, sub); st != webhook.Active {
		t.Errorf("status after recovery = %q, want ACTIVE", st)
	}

	reqs := rc.requests()
	var first []string
	for _, r := range reqs[:4] {
		if r.Status != http.StatusServiceUnavailable {
			t.Errorf("request %d answered %d, want 503", r.N, r.Status)
		}
		first = append(first, r.Envelope["messageId"])
	}
	slices.Sort(first)
	wantFirst := messageIDs(evs[:4])
	slices.Sort(wantFirst)
	if !slices.Equal(first, wantFirst) {
		t.Errorf("first batch = %v, want the 4 oldest messages %v", first, wantFirst)
	}
	retries := 0
	recovered := false
	for _, r := range reqs[4:] {
		retries++
		if got := r.Envelope["messageId"]; got != head {
			t.Errorf("request %d while FAILING carried %s, want the head message %s", r.N, got, head)
		}
		if r.InFlight != 1 {
			t.Errorf("request %d while FAILING had %d requests in flight, want 1", r.N, r.InFlight)
		}
		if r.Status == http.StatusOK {
			recovered = true
			break
		}
	}
	if !recovered || retries < 3 {
		t.Errorf("%d retries of the head message, recovered %v; want at least 2 failed and 1 accepted", retries, recovered)
	}
	t.Logf("%d requests: 4 in the first batch, %d retries of the head message, max %d in flight overall",
		len(reqs), retries, rc.peak())

	m := messages(t, db, sub)[head]
	as := attempts(t, db, m)
	if len(as) != 1+retries || m.Attempts != len(as) {
		t.Errorf("head message: %d attempts recorded (counter %d), want %d", len(as), m.Attempts, 1+retries)
	}
	for i, a := range as {
		want, class := http.StatusServiceUnavailable, webhook.ClassHTTPStatus
		if i == len(as)-1 {
			want, class = http.StatusOK, ""
		}
		if a.StatusCode != want || a.ErrorClass != class {
			t.Errorf("head attempt %d = %d %q, want %d %q", i, a.StatusCode, a.ErrorClass, want, class)
		}
	}

	ns := notices(t, db)
	if kinds := noticeKinds(ns); !slices.Equal(kinds, []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeRecovered}) {
		t.Fatalf("notices = %v, want [failing recovered]", kinds)
	}
	if !strings.Contains(ns[0].Reason(), "HTTP 503") || ns[0].SubscriptionUUID != sub.UUID || ns[0].To != sub.ContactEmail {
		t.Errorf("failing notice = %+v, want reason HTTP 503 for %s to %s", ns[0], sub.UUID, sub.ContactEmail)
	}
	if ns[1].HeldMessages != len(evs)-1 || ns[1].FailingSince.IsZero() {
		t.Errorf("recovered notice held %d messages, failing since %v; want %d and a time", ns[1].HeldMessages, ns[1].FailingSince, len(evs)-1)
	}
}

// failedOnce runs an engine against a destination until its subscription
// is FAILING, and returns the single message's recorded attempts.
func failedOnce(t *testing.T, dest string, timeout time.Duration) (*webhook.Subscription, []store.Attempt, []webhook.Notice) {
	t.Helper()
	db, _ := openDB(t)
	org := uuid.NewString()
	sub := createSubscription(t, db, org, dest)
	ev := publishN(t, db, org, "fail", 1)[0]
	e := newEngine(t, db, newClient(timeout))
	stop := runEngine(t, e)
	e.Notify()
	waitFor(t, 5*time.Second, "the subscription to be FAILING", func() bool { return status(t, db, sub) == webhook.Failing })
	if err, _ := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	m := messages(t, db, sub)[ev.Envelope.MessageID]
	if m.State != store.StatePending {
		t.Errorf("message state = %q, want pending (queued for retry)", m.State)
	}
	as := attempts(t, db, m)
	if len(as) == 0 {
		t.Fatal("no attempt recorded")
	}
	return sub, as, notices(t, db)
}

// A destination that does not answer within the client timeout fails the
// attempt with class "timeout".
func TestEngineTimeout(t *testing.T) {
	var rc *receiver
	rc = newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) int { return rc.hang(r) })
	_, as, ns := failedOnce(t, rc.URL(), testTimeout)
	a := as[0]
	if a.ErrorClass != webhook.ClassTimeout || a.StatusCode != 0 {
		t.Errorf("attempt = %+v, want class timeout and no status", a)
	}
	if a.Duration < testTimeout*9/10 || a.Duration > testTimeout+time.Second {
		t.Errorf("attempt took %v, want about the %v timeout", a.Duration, testTimeout)
	}
	if len(ns) != 1 || ns[0].Kind != webhook.NoticeFailing || !strings.Contains(ns[0].Reason(), "no answer") {
		t.Errorf("notices = %+v, want one failing notice saying there was no answer", ns)
	}
}

// A 3xx answer is a failure with class "redirect"; the redirect is not
// followed.
func TestEngineRedirectNotFollowed(t *testing.T) {
	target := newReceiver(t, ok)
	redirector := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
		http.Redirect(w, r, target.URL(), http.StatusFound)
		return http.StatusFound
	})
	_, as, _ := failedOnce(t, redirector.URL(), testTimeout)
	if a := as[0]; a.ErrorClass != webhook.ClassRedirect || a.StatusCode != http.StatusFound {
		t.Errorf("attempt = %+v, want class redirect with status 302", a)
	}
	if n := target.count(); n != 0 {
		t.Errorf("the redirect target got %d requests, want 0", n)
	}
}

// A 4xx answer is a failure with class "http_status"; its status and the
// first 1 KiB of its body are recorded.
func TestEngineHTTPStatusRecordsBody(t *testing.T) {
	body := make([]byte, 2048)
	for i := range body {
		body[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
	}
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) int {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusGone)
		w.Write(body)
		return http.StatusGone
	})
	_, as, ns := failedOnce(t, rc.URL(), testTimeout)
	a := as[0]
	if a.ErrorClass != webhook.ClassHTTPStatus || a.StatusCode != http.StatusGone {
		t.Errorf("attempt = %d %q, want 410 http_status", a.StatusCode, a.ErrorClass)
	}
	if !bytes.Equal(a.ResponseBody, body[:1024]) {
		t.Errorf("recorded body has %d bytes, want the first 1024 of the 2048 sent", len(a.ResponseBody))
	}
	if len(ns) != 1 || ns[0].Reason() != "HTTP 410 from "+rc.URL() {
		t.Errorf("notices = %+v, want one with reason %q", ns, "HTTP 410 from "+rc.URL())
	}
}

// A destination that closes the connection without answering fails the
// attempt with class "connection_reset" and no status.
func TestEngineConnectionClosed(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) int { return hangUp(w) })
	_, as, _ := failedOnce(t, rc.URL(), testTimeout)
	a := as[0]
	if a.StatusCode != 0 || a.ErrorClass == "" {
		t.Fatalf("attempt = %+v, want a failure without status", a)
	}
	if a.ErrorClass != webhook.ClassConnectionReset {
		t.Errorf("attempt class = %q (detail %q), want connection_reset", a.ErrorClass, a.ErrorDetail)
	}
}

// When the retries run out the subscription is deleted, its messages become
// dead letters, and the contact gets a "failing" and a "deleted" notice.
func TestEngineExhaustionDeletesSubscription(t *testing.T) {
	db, _ := openDB(t)
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) int {
		return answer(w, http.StatusInternalServerError)
	})
	org := uuid.NewString()
	sub := createSubscription(t, db, org, rc.URL())
	evs := publishN(t, db, org, "exhaust", 3)

	e := newEngine(t, db, newClient(testTimeout))
	e.Schedule = webhook.Schedule{{Count: 2, Interval: 30 * time.Millisecond}}
	stop := runEngine(t, e)
	e.Notify()
	waitFor(t, 5*time.Second, "the subscription to be deleted", func() bool { return status(t, db, sub) == "" })
	if err, _ := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, err := db.Subscription(bg, org, testClientID, sub.UUID); !webhook.IsCode(err, webhook.NotFound) {
		t.Errorf("Subscription after exhaustion = %v, want NotFound", err)
	}
	ms := messages(t, db, sub)
	for _, id := range messageIDs(evs) {
		if ms[id].State != store.StateDead {
			t.Errorf("message %s state %q, want dead", id, ms[id].State)
		}
	}
	// 3 messages tried at once, then the head message retried twice.
	if n := rc.count(); n != 3+2 {
		t.Errorf("receiver got %d requests, want 5 (3 first attempts + 2 retries)", n)
	}
	ns := notices(t, db)
	if kinds := noticeKinds(ns); !slices.Equal(kinds, []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeDeleted}) {
		t.Fatalf("notices = %v, want [failing deleted]", kinds)
	}
	if ns[1].Undelivered != len(evs) || ns[1].SubscriptionUUID != sub.UUID || ns[1].FailingSince.IsZero() {
		t.Errorf("deleted notice = %+v, want %d undelivered", ns[1], len(evs))
	}
}

// A hanging destination does not hold up other organizations' deliveries.
func TestEngineIsolatesSlowDestination(t *testing.T) {
	db, _ := openDB(t)
	var slow *receiver
	slow = newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
		slow.hang(r)
		return answer(w, http.StatusServiceUnavailable) // only if released by the test
	})
	healthy := newReceiver(t, ok)
	slowSub := createSubscription(t, db, uuid.NewString(), slow.URL())
	healthySub := createSubscription(t, db, uuid.NewString(), healthy.URL())

	// The timeout is long enough for the 50 messages to be delivered while
	// the first attempts at the slow destination hang, even under -race.
	const timeout = 1500 * time.Millisecond
	e := newEngine(t, db, newClient(timeout))
	e.Workers, e.PerSubscription = 8, 4
	stop := runEngine(t, e)

	publishN(t, db, slowSub.OrganizationUUID, "slow", 10)
	e.Notify()
	waitFor(t, 2*time.Second, "4 hanging requests at the slow destination", func() bool { return slow.current() == 4 })
	if st := status(t, db, slowSub); st != webhook.Active {
		t.Errorf("slow subscription is %q before its first timeout, want ACTIVE", st)
	}

	start := time.Now()
	evs := publishN(t, db, healthySub.OrganizationUUID, "fast", 50)
	e.Notify()
	waitFor(t, 2*time.Second, "50 messages at the healthy destination", func() bool {
		return healthy.hasAccepted(messageIDs(evs))
	})
	took, hanging := time.Since(start), slow.current()
	t.Logf("50 messages delivered in %v while %d requests hung at the slow destination", took, hanging)
	if hanging != 4 {
		t.Errorf("%d requests hung at the slow destination when the healthy one was served, want still 4", hanging)
	}

	waitFor(t, timeout+2*time.Second, "the slow subscription to be FAILING", func() bool {
		return status(t, db, slowSub) == webhook.Failing
	})
	waitFor(t, 2*time.Second, "50 messages recorded as delivered", func() bool {
		return countState(t, db, healthySub, store.StateDelivered) == 50
	})
	if st := status(t, db, healthySub); st != webhook.Active {
		t.Errorf("healthy subscription is %q, want ACTIVE", st)
	}
	if n := countState(t, db, slowSub, store.StateDelivered); n != 0 {
		t.Errorf("slow subscription has %d delivered messages, want 0", n)
	}
	slow.release() // so that the retry in flight ends now, not at its timeout
	if err, _ := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// With PerSubscription 1 messages arrive one at a time in publish order.
func TestEngineStrictOrder(t *testing.T) {
	db, _ := openDB(t)
	rc := newReceiver(t, ok)
	org := uuid.NewString()
	createSubscription(t, db, org, rc.URL())
	e := newEngine(t, db, newClient(testTimeout))
	e.PerSubscription = 1
	runEngine(t, e)

	var want []string
	for i := range 20 {
		ev := makeEvent(org, fmt.Sprintf("order-%02d", i), fmt.Sprintf(`{"n":%d}`, i))
		publish(t, db, ev)
		e.Notify()
		want = append(want, ev.Envelope.MessageID)
	}
	waitFor(t, 5*time.Second, "20 messages", func() bool { return rc.count() >= 20 })
	if got := rc.accepted(); !slices.Equal(got, want) {
		t.Errorf("arrival order =\n%v\nwant publish order\n%v", got, want)
	}
	if got := rc.peak(); got != 1 {
		t.Errorf("max requests in flight = %d, want 1", got)
	}
	if n := rc.count(); n != 20 {
		t.Errorf("receiver got %d requests, want 20", n)
	}
}

// Cancelling Run stops the engine within about one client timeout; attempts
// in flight are recorded or left leased, and after a restart (reopening the
// store returns leases) a new engine delivers everything: at least once.
func TestEngineShutdownAndRestart(t *testing.T) {
	db, path := openDB(t)
	var hanging, slow *receiver
	hanging = newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) int {
		if n == 0 {
			return hanging.hang(r) // past the client timeout
		}
		return answer(w, http.StatusOK)
	})
	slow = newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) int {
		if n == 0 {
			select { // slow but within the client timeout
			case <-time.After(testTimeout / 2):
			case <-slow.done:
			}
		}
		return answer(w, http.StatusOK)
	})
	hangSub := createSubscription(t, db, uuid.NewString(), hanging.URL())
	slowSub := createSubscription(t, db, uuid.NewString(), slow.URL())
	hangEvs := publishN(t, db, hangSub.OrganizationUUID, "hang", 3)
	slowEvs := publishN(t, db, slowSub.OrganizationUUID, "slow", 3)

	e := newEngine(t, db, newClient(testTimeout))
	e.PerSubscription = 1
	stop := runEngine(t, e)
	e.Notify()
	waitFor(t, 3*time.Second, "a request in flight at each destination", func() bool {
		return hanging.current() == 1 && slow.current() == 1
	})
	err, took := stop()
	if err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	t.Logf("Run returned %v after the cancel (client timeout %v)", took, testTimeout)
	if took > testTimeout+time.Second {
		t.Errorf("Run returned %v after the cancel, want about the %v client timeout", took, testTimeout)
	}

	// The attempts in flight at the cancel were recorded or are still leased.
	slowHead := messages(t, db, slowSub)[slowEvs[0].Envelope.MessageID]
	if slowHead.State != store.StateDelivered && slowHead.State != store.StateLeased {
		t.Errorf("message accepted during shutdown is %q, want delivered or leased", slowHead.State)
	}
	hangHead := messages(t, db, hangSub)[hangEvs[0].Envelope.MessageID]
	switch {
	case hangHead.State == store.StateLeased:
	case hangHead.State == store.StatePending && hangHead.Attempts == 1:
		if as := attempts(t, db, hangHead); len(as) != 1 || as[0].ErrorClass != webhook.ClassTimeout {
			t.Errorf("timed-out attempt recorded as %+v, want class timeout", as)
		}
	default:
		t.Errorf("message that timed out during shutdown is %q after %d attempts, want leased, or pending after 1", hangHead.State, hangHead.Attempts)
	}
	t.Logf("after shutdown: accepted message %s, timed-out message %s (%d attempts)", slowHead.State, hangHead.State, hangHead.Attempts)

	// Restart: a new process opens the store and runs a new engine.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = reopenDB(t, path)
	if n := countState(t, db, hangSub, store.StateLeased) + countState(t, db, slowSub, store.StateLeased); n != 0 {
		t.Errorf("%d messages still leased after reopening the store, want 0", n)
	}
	e2 := newEngine(t, db, newClient(testTimeout))
	e2.PerSubscription = 1
	runEngine(t, e2)
	e2.Notify()
	waitFor(t, 5*time.Second, "every message to be delivered after the restart", func() bool {
		return countState(t, db, hangSub, store.StateDelivered) == len(hangEvs) &&
			countState(t, db, slowSub, store.StateDelivered) == len(slowEvs)
	})
	if !hanging.hasAccepted(messageIDs(hangEvs)) || !slow.hasAccepted(messageIDs(slowEvs)) {
		t.Error("a message recorded as delivered was never accepted by its destination")
	}
	if st := status(t, db, hangSub); st != webhook.Active {
		t.Errorf("status after the restart = %q, want ACTIVE", st)
	}
}

// Messages leased by a process that died without recording its attempts
// are delivered by the next process once their lease expires; opening the
// store does not steal leases, which another instance might hold.
func TestEngineRestartAfterCrashDeliversLeasedMessages(t *testing.T) {
	db, path := openDB(t)
	rc := newReceiver(t, ok)
	org := uuid.NewString()
	sub := createSubscription(t, db, org, rc.URL())
	evs := publishN(t, db, org, "crash", 2)
	ds, err := db.ClaimMessages(bg, store.ClaimParams{Now: time.Now(), Limit: 10, PerSubscription: 4, LeaseFor: time.Second})
	if err != nil || len(ds) != 2 {
		t.Fatalf("ClaimMessages = %d deliveries, %v; want 2", len(ds), err)
	}
	if err := db.Close(); err != nil { // the crash: leases held for a second, never recorded
		t.Fatal(err)
	}

	db = reopenDB(t, path)
	if n := countState(t, db, sub, store.StateLeased); n != 2 {
		t.Fatalf("leased after reopening = %d, want 2: Open must not release live leases", n)
	}
	e := newEngine(t, db, newClient(testTimeout))
	e.LeaseFor = time.Second
	runEngine(t, e)
	e.Notify()
	waitFor(t, 3*time.Second, "the leased messages to be delivered", func() bool {
		return countState(t, db, sub, store.StateDelivered) == 2
	})
	if !rc.hasAccepted(messageIDs(evs)) {
		t.Error("messages recorded as delivered were not accepted by the destination")
	}
}
