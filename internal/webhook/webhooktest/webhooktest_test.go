package webhooktest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

const org = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"

// envelope returns an envelope of event with a fresh messageId for eventID.
func envelope(event, eventID string) webhook.Envelope {
	id := webhook.MessageID(org, event, eventID)
	return webhook.NewEnvelope(org, event, id, `{"eventId":"`+eventID+`"}`, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
}

// post sends env signed with key ("" sends no signature) as pusher does and
// returns the answer's status and headers.
func post(t *testing.T, c *http.Client, url string, env webhook.Envelope, key string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(env.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(signing.Header, signing.Sign(key, env.Timestamp, env.Payload))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func TestRecordsCountsAndVerifies(t *testing.T) {
	rcv := webhooktest.NewServer(t)
	key := signing.NewKey()
	c := rcv.Client()

	// The TestMessage arrives before the key is known.
	tm := envelope(webhook.TestMessage, "handshake")
	if status, _ := post(t, c, rcv.URL+"/hook", tm, key); status != 200 {
		t.Errorf("TestMessage answered %d, want 200", status)
	}
	rcv.SetKeys(key)
	a, b := envelope(webhook.ProductCreated, "a"), envelope(webhook.ProductCreated, "b")
	post(t, c, rcv.URL+"/hook", a, key)
	post(t, c, rcv.URL+"/hook", a, key) // a duplicate
	post(t, c, rcv.URL+"/hook", b, signing.NewKey())
	resp, err := c.Post(rcv.URL+"/other", "text/plain", strings.NewReader("not json"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	reqs := rcv.Requests()
	if len(reqs) != 5 || rcv.Len() != 5 {
		t.Fatalf("%d requests recorded (Len %d), want 5:\n%s", len(reqs), rcv.Len(), rcv)
	}
	if !reqs[0].IsTestMessage() || reqs[0].Signature != webhooktest.SignatureUnchecked || reqs[0].Attempt != 0 {
		t.Errorf("TestMessage recorded as %+v, want unchecked and not a delivery", reqs[0])
	}
	if !rcv.Verify(reqs[0]) {
		t.Error("Verify: the TestMessage does not verify with the key set after it arrived")
	}
	if r := reqs[1]; r.Method != "POST" || r.Path != "/hook" || r.Envelope != a || string(r.Body) != string(a.Bytes()) ||
		r.Header.Get("Content-Type") != "application/json" || r.Signature != webhooktest.SignatureValid || r.Attempt != 1 || r.Status != 200 {
		t.Errorf("first delivery recorded as %+v", r)
	}
	if reqs[2].Attempt != 2 || reqs[3].Signature != webhooktest.SignatureInvalid {
		t.Errorf("attempt of the duplicate %d (want 2), signature of the badly signed %v (want invalid)", reqs[2].Attempt, reqs[3].Signature)
	}
	if r := reqs[4]; r.EnvelopeErr == nil || r.IsDelivery() || r.Path != "/other" || string(r.Body) != "not json" {
		t.Errorf("non-envelope recorded as %+v", r)
	}
	if n := rcv.BadSignatures(); n != 1 {
		t.Errorf("BadSignatures = %d, want 1", n)
	}
	if d := rcv.Deliveries(); len(d) != 3 {
		t.Errorf("%d deliveries, want 3", len(d))
	}
	if got := rcv.Counts(); len(got) != 2 || got[a.MessageID] != 2 || got[b.MessageID] != 1 {
		t.Errorf("Counts = %v", got)
	}
	if distinct, total := rcv.Delivered(); distinct != 2 || total != 3 || rcv.Distinct() != 2 || rcv.Duplicates() != 1 {
		t.Errorf("Delivered = %d, %d; Distinct %d, Duplicates %d; want 2, 3; 2, 1", distinct, total, rcv.Distinct(), rcv.Duplicates())
	}
	if got := rcv.Attempts(a.MessageID); got != 2 {
		t.Errorf("Attempts(a) = %d, want 2", got)
	}
	c3 := envelope(webhook.ProductCreated, "c")
	if got := rcv.Missing([]string{a.MessageID, c3.MessageID}); !slices.Equal(got, []string{c3.MessageID}) {
		t.Errorf("Missing = %v, want [c]", got)
	}
	if got := rcv.Unknown([]string{a.MessageID}); !slices.Equal(got, []string{b.MessageID}) {
		t.Errorf("Unknown = %v, want [b]", got)
	}
	if at, ok := rcv.FirstArrival(a.MessageID); !ok || !at.Equal(reqs[1].Time) {
		t.Errorf("FirstArrival(a) = %v, %v; want %v", at, ok, reqs[1].Time)
	}
	if _, ok := rcv.FirstArrival(tm.MessageID); ok || len(rcv.FirstArrivals()) != 2 {
		t.Errorf("FirstArrivals = %v, want a and b only", rcv.FirstArrivals())
	}
	if s := rcv.String(); strings.Count(s, "\n") != 5 || !strings.Contains(s, `ProductCreated {"eventId":"a"} -> 200 OK`) {
		t.Errorf("String =\n%s", s)
	}
	if !rcv.Settle(20*time.Millisecond, time.Second) {
		t.Error("Settle: not quiet")
	}
}

func TestScriptedStatuses(t *testing.T) {
	rcv := webhooktest.NewServer(t)
	rcv.SetStatus(503, 302, 200)
	rcv.SetRetryAfter("7")
	c := rcv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	// The TestMessage does not use up the script.
	if status, _ := post(t, c, rcv.URL, envelope(webhook.TestMessage, "t"), ""); status != 200 {
		t.Errorf("TestMessage answered %d, want 200", status)
	}
	var got []string
	for i := range 5 {
		status, h := post(t, c, rcv.URL, envelope(webhook.ProductCreated, fmt.Sprint(i)), "")
		got = append(got, fmt.Sprintf("%d %q %q", status, h.Get("Retry-After"), h.Get("Location")))
	}
	want := []string{`503 "7" ""`, `302 "7" "/redirected"`, `200 "" ""`, `200 "" ""`, `200 "" ""`}
	if !slices.Equal(got, want) {
		t.Errorf("answers = %q\nwant      %q", got, want)
	}
	if d, _ := rcv.Delivered(); d != 3 || rcv.Attempts(envelope(webhook.ProductCreated, "0").MessageID) != 1 {
		t.Errorf("%d delivered, want 3 (the 2xx answers)", d)
	}

	// A new script starts from its first status; TestMessages can be
	// scripted too.
	rcv.SetStatus(410)
	rcv.ScriptTestMessages(true)
	if status, _ := post(t, c, rcv.URL, envelope(webhook.TestMessage, "t2"), ""); status != 410 {
		t.Errorf("scripted TestMessage answered %d, want 410", status)
	}
}

func TestGate(t *testing.T) {
	rcv := webhooktest.NewServer(t)
	rcv.SetStatus(500, 201)
	rcv.ScriptTestMessages(true)
	rcv.CloseGate()
	c := rcv.Client()
	for i := range 3 {
		if status, _ := post(t, c, rcv.URL, envelope(webhook.TestMessage, fmt.Sprint(i)), ""); status != 200 {
			t.Errorf("behind the closed gate: %d, want 200", status)
		}
	}
	rcv.OpenGate()
	s1, _ := post(t, c, rcv.URL, envelope(webhook.ProductCreated, "x"), "")
	s2, _ := post(t, c, rcv.URL, envelope(webhook.ProductCreated, "y"), "")
	if s1 != 500 || s2 != 201 {
		t.Errorf("after the gate opened: %d, %d; want the script from its start, 500 and 201", s1, s2)
	}
	reqs := rcv.Requests()
	if !reqs[0].Gated || reqs[3].Gated {
		t.Errorf("Gated = %v … %v, want true for the gated, false after", reqs[0].Gated, reqs[3].Gated)
	}
}

func TestDelayAndAnswer(t *testing.T) {
	rcv := webhooktest.NewServer(t)
	rcv.SetDelay(150*time.Millisecond, 0)
	var mu sync.Mutex
	var seen []string
	rcv.SetAnswer(func(r webhooktest.Request) int {
		mu.Lock()
		seen = append(seen, fmt.Sprint(r.Envelope.Payload, " #", r.Attempt))
		mu.Unlock()
		if r.Attempt == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	c := rcv.Client()
	e := envelope(webhook.ProductCreated, "d")
	start := time.Now()
	s1, _ := post(t, c, rcv.URL, e, "")
	took := time.Since(start)
	s2, _ := post(t, c, rcv.URL, e, "")
	if s1 != 503 || s2 != 202 {
		t.Errorf("answers %d, %d; want 503 then 202", s1, s2)
	}
	if took < 150*time.Millisecond {
		t.Errorf("first answer after %v, want at least the 150 ms delay", took)
	}
	if want := []string{`{"eventId":"d"} #1`, `{"eventId":"d"} #2`}; !slices.Equal(seen, want) {
		t.Errorf("answer saw %q, want %q", seen, want)
	}
	if got := rcv.Counts()[e.MessageID]; got != 1 {
		t.Errorf("delivered %d times, want 1 (the 202)", got)
	}

	// A client that gives up ends the delay early, unanswered.
	rcv.SetDelay(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", rcv.URL, bytes.NewReader(e.Bytes()))
	if _, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("delayed request: %v, want the client's deadline", err)
	}
	waitUntil(t, "the delayed request to end", func() bool { return rcv.InFlight() == 0 })
	if r := rcv.Requests()[2]; r.Status != 0 {
		t.Errorf("request whose client gave up: status %d, want 0", r.Status)
	}

	// An answer of 0 hangs up.
	rcv.SetDelay()
	rcv.SetAnswer(func(webhooktest.Request) int { return 0 })
	if _, err := c.Post(rcv.URL, "application/json", bytes.NewReader(e.Bytes())); err == nil {
		t.Error("answer 0: the client got an answer")
	}
}

func TestHang(t *testing.T) {
	rcv := webhooktest.NewServer(t)
	rcv.SetHang(true)
	c := rcv.Client()
	// The TestMessage is answered; deliveries are held.
	if status, _ := post(t, c, rcv.URL, envelope(webhook.TestMessage, "t"), ""); status != 200 {
		t.Fatalf("TestMessage answered %d", status)
	}
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			resp, err := c.Post(rcv.URL, "application/json", bytes.NewReader(envelope(webhook.ProductCreated, fmt.Sprint(i)).Bytes()))
			if err == nil {
				resp.Body.Close()
				err = fmt.Errorf("answered %d", resp.StatusCode)
			}
			errs <- err
		}()
	}
	waitUntil(t, "three held requests", func() bool { return rcv.InFlight() == 3 })
	if rcv.MaxInFlight() != 3 {
		t.Errorf("MaxInFlight = %d, want 3", rcv.MaxInFlight())
	}
	select {
	case err := <-errs:
		t.Fatalf("a held request ended before the release: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	rcv.Release() // as at the end of the test
	for range 3 {
		if err := <-errs; err == nil || strings.Contains(err.Error(), "answered") {
			t.Errorf("released request: %v, want the connection closed without an answer", err)
		}
	}
	if d, _ := rcv.Delivered(); d != 0 || len(rcv.Deliveries()) != 3 {
		t.Errorf("%d delivered of %d deliveries, want 0 of 3", d, len(rcv.Deliveries()))
	}
}

func TestTLSServerAndSharedKeys(t *testing.T) {
	rcv := webhooktest.NewTLSServer(t)
	if !strings.HasPrefix(rcv.URL, "https://") {
		t.Fatalf("URL %s is not https", rcv.URL)
	}
	k1, k2 := signing.NewKey(), signing.NewKey()
	rcv.SetKeys(k1)
	rcv.AddKey(k2)
	post(t, rcv.Client(), rcv.URL, envelope(webhook.PurchaseCreated, "1"), k1)
	post(t, rcv.Client(), rcv.URL, envelope(webhook.PurchaseCreated, "2"), k2)
	post(t, rcv.Client(), rcv.URL, envelope(webhook.PurchaseCreated, "3"), "")
	if n := rcv.BadSignatures(); n != 1 {
		t.Errorf("BadSignatures = %d, want 1 (the unsigned one)", n)
	}
}

func TestBuffer(t *testing.T) {
	var b webhooktest.Buffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 400 {
		t.Errorf("%d bytes, want 400", n)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
