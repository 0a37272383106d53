// Package webhooktest is a webhook destination for tests: an http.Handler
// that records every request pusher sends it, checks the X-iZettle-Signature
// of each delivery against the subscription's signing key, counts the
// deliveries of each messageId, and answers as the test scripts it.
//
// A test starts a receiver with NewServer (plain HTTP) or NewTLSServer,
// subscribes its URL, hands it the signing key the create returned, and
// reads what arrived:
//
//	rcv := webhooktest.NewServer(t)
//	rcv.SetKeys(createSubscription(t, rcv.URL+"/hook"))
//	... publish ...
//	if missing := rcv.Missing(acked); len(missing) > 0 { ... }
//	if n := rcv.BadSignatures(); n > 0 { ... }
//
// # Requests and deliveries
//
// Every request is recorded (Requests). A request whose body is an envelope
// (webhook.ParseEnvelope) other than a TestMessage is a delivery: its
// signature is checked, and it counts towards its messageId's Attempts. A
// delivery answered 2xx is delivered; Counts, Distinct, Delivered,
// Duplicates and Missing are about delivered messages, Unknown and
// FirstArrival about every delivery whatever its answer.
//
// # TestMessages
//
// pusher sends a TestMessage while the create request is in progress, so
// before the test has the signing key from the create answer. A receiver
// therefore answers TestMessages 200 at once, does not check their
// signature on arrival and does not count them; Verify checks one once the
// key is set. ScriptTestMessages makes the script answer them too, for
// tests of the handshake itself.
//
// # Scripts
//
// Every other request is answered by the script, which by default answers
// 200 at once. SetStatus sets a sequence of statuses (the last one repeats),
// SetDelay a sequence of delays before answering, SetHang makes the receiver
// never answer, SetRetryAfter adds a Retry-After header to non-2xx answers,
// and SetAnswer lets a function decide each status. A closed gate
// (CloseGate) answers every request 200 at once, without using up the
// script, until OpenGate. Delays and hangs end early when the client gives
// up, and hangs end when the test ends (Release).
//
// Buffer, a bytes.Buffer safe for concurrent use, captures the output of a
// command or a logger while the test reads it.
//
// Everything in the package is safe for concurrent use. It is for tests
// only; it imports "testing".
package webhooktest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Signature is the outcome of checking a request's X-iZettle-Signature.
type Signature int

const (
	// SignatureUnchecked: a TestMessage, not an envelope, or no signing key
	// was set when the request arrived.
	SignatureUnchecked Signature = iota
	// SignatureValid: the header verifies with one of the keys.
	SignatureValid
	// SignatureInvalid: the header is missing or verifies with no key.
	SignatureInvalid
)

// Request is one recorded request. Body and Header must not be modified.
type Request struct {
	Time        time.Time // arrival
	Method      string
	Path        string
	Remote      string // client address
	Header      http.Header
	Body        []byte
	Envelope    webhook.Envelope // the parsed body; zero unless EnvelopeErr is nil
	EnvelopeErr error            // why the body is not an envelope
	Signature   Signature        // checked on arrival (deliveries only)
	Attempt     int              // n for the n-th delivery of Envelope.MessageID; 0 if not a delivery
	Gated       bool             // answered 200 by the closed gate
	InFlight    int              // requests in progress at arrival, this one included
	Status      int              // status answered; 0 while in progress or if none was sent
}

// IsTestMessage reports whether r carried a TestMessage envelope.
func (r Request) IsTestMessage() bool {
	return r.EnvelopeErr == nil && r.Envelope.EventName == webhook.TestMessage
}

// IsDelivery reports whether r carried an envelope other than a TestMessage.
func (r Request) IsDelivery() bool {
	return r.EnvelopeErr == nil && r.Envelope.EventName != webhook.TestMessage
}

// Receiver is a webhook destination that records and answers requests; see
// the package documentation. Create it with New, or start it behind a test
// server with NewServer or NewTLSServer.
type Receiver struct {
	done        chan struct{} // closed by Release
	releaseOnce sync.Once

	mu            sync.Mutex
	keys          []string
	reqs          []*Request
	attempts      map[string]int // deliveries per messageId, any answer
	delivered     map[string]int // deliveries per messageId answered 2xx
	first         map[string]time.Time
	last          time.Time // arrival of the latest request
	bad           int
	inFlight, max int

	// The script.
	status        []int
	delays        []time.Duration
	hang          bool
	retryAfter    string
	answer        func(Request) int
	scriptTests   bool
	gateClosed    bool
	scriptedSoFar int // requests the script answered since it last changed
}

// New returns a receiver that answers 200 to everything until scripted.
// Whoever serves it calls Release when the test ends.
func New() *Receiver {
	return &Receiver{
		done:      make(chan struct{}),
		attempts:  map[string]int{},
		delivered: map[string]int{},
		first:     map[string]time.Time{},
	}
}

// SetKeys replaces the signing keys deliveries are checked against; a
// signature is valid if it verifies with any of them. Deliveries that
// arrive while no key is set stay unchecked, so set the key before
// publishing.
func (rv *Receiver) SetKeys(keys ...string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.keys = append([]string(nil), keys...)
}

// AddKey adds a signing key, for a receiver that several subscriptions
// deliver to.
func (rv *Receiver) AddKey(key string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.keys = append(rv.keys, key)
}

// SetStatus makes the script answer its n-th request with codes[n], and
// every request after the last code with the last code. No codes means 200.
// Like every Set method of the script, it restarts the sequences.
func (rv *Receiver) SetStatus(codes ...int) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.status = append([]int(nil), codes...)
	rv.scriptedSoFar = 0
}

// SetDelay makes the script wait delays[n] before answering its n-th
// request, the last delay repeating. The wait ends early, without an
// answer, when the client gives up or the test ends.
func (rv *Receiver) SetDelay(delays ...time.Duration) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.delays = append([]time.Duration(nil), delays...)
	rv.scriptedSoFar = 0
}

// SetHang makes the script accept requests and never answer them: each
// one is held until the client gives up, or until the test ends, when its
// connection is closed without an answer.
func (rv *Receiver) SetHang(hang bool) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.hang = hang
	rv.scriptedSoFar = 0
}

// SetRetryAfter sends value as the Retry-After header of every non-2xx
// answer of the script; "" sends none.
func (rv *Receiver) SetRetryAfter(value string) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.retryAfter = value
	rv.scriptedSoFar = 0
}

// SetAnswer makes answer decide the status of every request the script
// answers, instead of SetStatus's sequence; it runs after the delay and
// may block. Request.Attempt tells which delivery of its messageId the
// request is. A status of 0 closes the connection without an answer. A nil
// answer goes back to the status sequence.
func (rv *Receiver) SetAnswer(answer func(Request) int) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.answer = answer
	rv.scriptedSoFar = 0
}

// ScriptTestMessages makes the script answer TestMessages too (on), or
// lets them through with 200 at once (off, the default).
func (rv *Receiver) ScriptTestMessages(on bool) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.scriptTests = on
}

// CloseGate makes the receiver answer every request 200 at once, without
// using up the script, until OpenGate.
func (rv *Receiver) CloseGate() {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.gateClosed = true
}

// OpenGate hands the requests over to the script again.
func (rv *Receiver) OpenGate() {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.gateClosed = false
}

// Release ends every hang and delay, now and later: held requests are
// closed without an answer. NewServer and NewTLSServer call it when the
// test ends.
func (rv *Receiver) Release() { rv.releaseOnce.Do(func() { close(rv.done) }) }

// plan is how the script answers one request.
type plan struct {
	scripted   bool // otherwise 200 at once
	status     int
	delay      time.Duration
	hang       bool
	retryAfter string
	answer     func(Request) int
}

// ServeHTTP records the request and answers it as scripted.
func (rv *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Remote: r.RemoteAddr, Header: r.Header.Clone()}
	body, err := io.ReadAll(r.Body)
	req.Body = body
	if err != nil {
		req.EnvelopeErr = fmt.Errorf("reading the body: %w", err)
	} else {
		req.Envelope, req.EnvelopeErr = webhook.ParseEnvelope(body)
	}
	p := rv.arrive(req)
	if !p.scripted {
		rv.finish(req, http.StatusOK)
		w.WriteHeader(http.StatusOK)
		return
	}
	if p.delay > 0 && !rv.wait(r, p.delay) {
		rv.hangUp(r, req)
		return
	}
	if p.hang {
		rv.wait(r, -1)
		rv.hangUp(r, req)
		return
	}
	status := p.status
	if p.answer != nil {
		rv.mu.Lock()
		cp := *req
		rv.mu.Unlock()
		if status = p.answer(cp); status == 0 {
			rv.finish(req, 0)
			panic(http.ErrAbortHandler) // close the connection, answer nothing
		}
	}
	if p.retryAfter != "" && status/100 != 2 {
		w.Header().Set("Retry-After", p.retryAfter)
	}
	if status/100 == 3 {
		w.Header().Set("Location", "/redirected") // a client following it would be recorded
	}
	rv.finish(req, status)
	w.WriteHeader(status)
}

// arrive records req, checks its signature and decides its answer.
func (rv *Receiver) arrive(req *Request) plan {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.reqs = append(rv.reqs, req)
	rv.last = req.Time
	rv.inFlight++
	rv.max = max(rv.max, rv.inFlight)
	req.InFlight = rv.inFlight
	if req.IsDelivery() {
		id := req.Envelope.MessageID
		rv.attempts[id]++
		req.Attempt = rv.attempts[id]
		if _, ok := rv.first[id]; !ok {
			rv.first[id] = req.Time
		}
		if len(rv.keys) > 0 {
			req.Signature = SignatureInvalid
			if verifies(rv.keys, *req) {
				req.Signature = SignatureValid
			} else {
				rv.bad++
			}
		}
	}
	if rv.gateClosed {
		req.Gated = true
		return plan{}
	}
	if req.IsTestMessage() && !rv.scriptTests {
		return plan{}
	}
	n := rv.scriptedSoFar
	rv.scriptedSoFar++
	p := plan{scripted: true, status: http.StatusOK, hang: rv.hang, retryAfter: rv.retryAfter, answer: rv.answer}
	if len(rv.status) > 0 {
		p.status = rv.status[min(n, len(rv.status)-1)]
	}
	if len(rv.delays) > 0 {
		p.delay = rv.delays[min(n, len(rv.delays)-1)]
	}
	return p
}

// wait waits d (forever if d < 0) and reports whether it did: false if the
// client gave up or the receiver was released first.
func (rv *Receiver) wait(r *http.Request, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return true
	case <-r.Context().Done():
	case <-rv.done:
	}
	return false
}

// hangUp ends a request without an answer: if the client is still there
// (the receiver was released), by closing its connection.
func (rv *Receiver) hangUp(r *http.Request, req *Request) {
	rv.finish(req, 0)
	if r.Context().Err() == nil {
		panic(http.ErrAbortHandler)
	}
}

// finish records the answer of req.
func (rv *Receiver) finish(req *Request, status int) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	req.Status = status
	rv.inFlight--
	if status/100 == 2 && req.IsDelivery() {
		rv.delivered[req.Envelope.MessageID]++
	}
}

func verifies(keys []string, r Request) bool {
	sig := r.Header.Get(signing.Header)
	for _, k := range keys {
		if signing.Verify(k, r.Envelope.Timestamp, r.Envelope.Payload, sig) {
			return true
		}
	}
	return false
}

// Verify reports whether r carries an envelope whose signature verifies
// with one of the keys set now: for a TestMessage, which arrives before its
// key is known.
func (rv *Receiver) Verify(r Request) bool {
	if r.EnvelopeErr != nil {
		return false
	}
	rv.mu.Lock()
	keys := rv.keys
	rv.mu.Unlock()
	return verifies(keys, r)
}

// String lists the requests, one a line: arrival, event, payload (cut at
// 60 bytes) and answer.
func (rv *Receiver) String() string {
	var b strings.Builder
	for _, r := range rv.Requests() {
		what := r.Method + " " + r.Path + " (not an envelope)"
		if r.EnvelopeErr == nil {
			p := r.Envelope.Payload
			if len(p) > 60 {
				p = p[:60] + "…"
			}
			what = r.Envelope.EventName + " " + p
		}
		answer := "no answer"
		if r.Status != 0 {
			answer = fmt.Sprint(r.Status, " ", http.StatusText(r.Status))
		}
		fmt.Fprintf(&b, "%s %s -> %s\n", r.Time.Format("15:04:05.000"), what, answer)
	}
	return b.String()
}
