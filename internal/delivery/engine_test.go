package delivery_test

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The engine tests on real HTTP: end to end through *Client to a
// receiver. The tests about timing use a fake Poster on a fake clock
// (timing_test.go).

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
