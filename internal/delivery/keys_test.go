package delivery_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/signing/signingtest"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The signature headers of a delivery (docs/extensions.md, "Signing-key
// rotation" and "Per-subscription settings"), checked on real requests.

// signatureHeaders are every header a delivery may be signed with.
var signatureHeaders = []string{signing.Header, signing.PreviousHeader,
	signing.WebhookIDHeader, signing.WebhookTimestampHeader, signing.WebhookSignatureHeader}

// swTolerance is the reference libraries' timestamp tolerance.
const swTolerance = 5 * time.Minute

// standardWebhooksVerify checks a request as the reference standardwebhooks
// library does (standard-webhooks libraries/go/webhook.go), written out
// here without internal/signing: the three headers must be present; the
// timestamp is integer Unix seconds no more than 5 minutes from now either
// way; the key is the standard base64 decoding of the secret without its
// whsec_ prefix; the expected signature is the standard base64 of
// HMAC-SHA256 over "${id}.${timestamp}.${payload}"; and one space-separated
// "v1," entry must equal it, compared in constant time.
func standardWebhooksVerify(secret string, body []byte, h http.Header, now time.Time) error {
	id, sigs, tsHeader := h.Get("webhook-id"), h.Get("webhook-signature"), h.Get("webhook-timestamp")
	if id == "" || sigs == "" || tsHeader == "" {
		return errors.New("missing required headers")
	}
	unix, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return errors.New("invalid signature headers")
	}
	ts := time.Unix(unix, 0)
	if now.Sub(ts) > swTolerance {
		return errors.New("message timestamp too old")
	}
	if ts.Unix() > now.Add(swTolerance).Unix() {
		return errors.New("message timestamp too new")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(fmt.Sprintf("%s.%d.%s", id, ts.Unix(), body)))
	expected := []byte(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	for _, versioned := range strings.Split(sigs, " ") {
		parts := strings.Split(versioned, ",")
		if len(parts) < 2 || parts[0] != "v1" {
			continue
		}
		if hmac.Equal([]byte(parts[1]), expected) {
			return nil
		}
	}
	return errors.New("no matching signature found")
}

// The headers a delivery carries follow its keys: X-iZettle-Signature
// always, as before; X-Pusher-Previous-Signature during a rotation
// overlap; the Standard Webhooks headers when the subscription opted in,
// with a second signature during the overlap.
func TestClientSignatureHeaders(t *testing.T) {
	current, previous, other := signing.NewKey(), signing.NewKey(), signing.NewKey()
	org := uuid.NewString()
	env := webhook.NewEnvelope(org, webhook.ProductUpdated, webhook.MessageID(org, webhook.ProductUpdated, "keys-1"),
		`{"name":"Fish & Chips <large>","note":"say \"hi\""}`, time.Now())
	attempt := time.Now().Truncate(time.Second).Add(-time.Minute) // within the tolerance

	for _, keys := range []webhook.Keys{
		{Current: current},
		{Current: current, Previous: previous},
		{Current: current, StandardWebhooks: true},
		{Current: current, Previous: previous, StandardWebhooks: true},
	} {
		name := fmt.Sprintf("previous=%v standardWebhooks=%v", keys.Previous != "", keys.StandardWebhooks)
		t.Run(name, func(t *testing.T) {
			rc := newReceiver(t, ok)
			c := newClient(testTimeout)
			c.Now = func() time.Time { return attempt }
			if out := c.Post(bg, rc.URL(), keys, env); !out.OK() {
				t.Fatalf("Post = %+v", out)
			}
			r := rc.requests()[0]
			if string(r.Body) != string(env.Bytes()) {
				t.Errorf("body = %s, want %s", r.Body, env.Bytes())
			}
			if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != testUserAgent {
				t.Errorf("Content-Type %q, User-Agent %q", r.Header.Get("Content-Type"), r.Header.Get("User-Agent"))
			}

			if got, want := r.Header.Get(signing.Header), signing.Sign(current, env.Timestamp, env.Payload); got != want {
				t.Errorf("%s = %q, want %q (the current key, as always)", signing.Header, got, want)
			}

			prev := r.Header.Get(signing.PreviousHeader)
			switch {
			case keys.Previous == "" && prev != "":
				t.Errorf("%s = %q without a previous key", signing.PreviousHeader, prev)
			case keys.Previous != "" && !signing.Verify(previous, env.Timestamp, env.Payload, prev):
				t.Errorf("%s = %q does not verify with the previous key", signing.PreviousHeader, prev)
			case keys.Previous != "" && signing.Verify(current, env.Timestamp, env.Payload, prev):
				t.Errorf("%s verifies with the current key", signing.PreviousHeader)
			}

			if !keys.StandardWebhooks {
				for _, h := range []string{signing.WebhookIDHeader, signing.WebhookTimestampHeader, signing.WebhookSignatureHeader} {
					if v, ok := r.Header[http.CanonicalHeaderKey(h)]; ok {
						t.Errorf("%s = %q without Standard Webhooks", h, v)
					}
				}
				return
			}
			if id := r.Header.Get("webhook-id"); id != env.MessageID {
				t.Errorf("webhook-id = %q, want the messageId %s", id, env.MessageID)
			}
			if ts := r.Header.Get("webhook-timestamp"); ts != strconv.FormatInt(attempt.Unix(), 10) {
				t.Errorf("webhook-timestamp = %q, want the attempt's Unix seconds %d", ts, attempt.Unix())
			}
			entries := strings.Split(r.Header.Get("webhook-signature"), " ")
			if want := 1 + btoi(keys.Previous != ""); len(entries) != want {
				t.Errorf("webhook-signature has %d entries %q, want %d", len(entries), entries, want)
			}
			now := time.Now()
			if err := standardWebhooksVerify(webhook.StandardWebhooksSecret(current), r.Body, r.Header, now); err != nil {
				t.Errorf("Standard Webhooks verification with the current secret: %v", err)
			}
			if err := standardWebhooksVerify(webhook.StandardWebhooksSecret(previous), r.Body, r.Header, now); (err == nil) != (keys.Previous != "") {
				t.Errorf("Standard Webhooks verification with the previous secret = %v, want success only during the overlap", err)
			}
			if err := standardWebhooksVerify(webhook.StandardWebhooksSecret(other), r.Body, r.Header, now); err == nil {
				t.Error("Standard Webhooks verification succeeds with another key's secret")
			}
			if err := standardWebhooksVerify(webhook.StandardWebhooksSecret(current), r.Body, r.Header, attempt.Add(swTolerance+time.Second)); err == nil {
				t.Error("Standard Webhooks verification succeeds more than 5 minutes after webhook-timestamp")
			}
			// The first entry is the current key's.
			only := r.Header.Clone()
			only.Set("webhook-signature", entries[0])
			if err := standardWebhooksVerify(webhook.StandardWebhooksSecret(current), r.Body, only, now); err != nil {
				t.Errorf("the first webhook-signature entry is not the current key's: %v", err)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The client sends the shared vectors (testdata/signatures.json) byte for
// byte: the body, and every signature header with the vector's value or
// not at all.
func TestClientSendsSignatureVectors(t *testing.T) {
	for _, d := range signingtest.Load(t).Deliveries {
		t.Run(d.Name, func(t *testing.T) {
			env, err := webhook.ParseEnvelope([]byte(d.Wire))
			if err != nil || string(env.Bytes()) != d.Wire {
				t.Fatalf("the vector's wire does not round-trip through webhook.Envelope (%v):\n%s\n%s", err, env.Bytes(), d.Wire)
			}
			rc := newReceiver(t, ok)
			c := newClient(testTimeout)
			attempt := time.Unix(d.AttemptUnix, 0)
			c.Now = func() time.Time { return attempt }
			keys := webhook.Keys{Current: d.SigningKey, Previous: d.PreviousSigningKey, StandardWebhooks: d.StandardWebhooks}
			if out := c.Post(bg, rc.URL(), keys, env); !out.OK() {
				t.Fatalf("Post = %+v", out)
			}
			r := rc.requests()[0]
			if string(r.Body) != d.Wire {
				t.Errorf("body = %s, want %s", r.Body, d.Wire)
			}
			for _, h := range signatureHeaders {
				if got := r.Header.Get(h); got != d.Headers[h] {
					t.Errorf("%s = %q, want %q", h, got, d.Headers[h])
				}
			}
			if !d.StandardWebhooks {
				return
			}
			for _, secret := range []string{d.StandardWebhooksSecret, d.PreviousStandardWebhooksSecret} {
				if secret == "" {
					continue
				}
				if err := standardWebhooksVerify(secret, r.Body, r.Header, attempt.Add(time.Second)); err != nil {
					t.Errorf("Standard Webhooks verification with %s: %v", secret, err)
				}
			}
		})
	}
}

// Outcome.RemoteAddr is the address the request went to, whenever a
// connection was made, answered or not.
func TestClientRemoteAddr(t *testing.T) {
	org := uuid.NewString()
	env := webhook.NewEnvelope(org, webhook.ProductUpdated, webhook.MessageID(org, webhook.ProductUpdated, "addr"), `{}`, time.Now())
	keys := webhook.Keys{Current: signing.NewKey()}

	t.Run("answered, twice on one connection", func(t *testing.T) {
		rc := newReceiver(t, answering(500))
		c := newClient(testTimeout)
		want := rc.srv.Listener.Addr().String()
		for i := range 2 {
			if out := c.Post(bg, rc.URL(), keys, env); out.RemoteAddr != want || out.StatusCode != 500 {
				t.Errorf("Post %d: RemoteAddr %q, status %d; want %s, 500", i, out.RemoteAddr, out.StatusCode, want)
			}
		}
	})
	t.Run("HTTPS", func(t *testing.T) {
		rc, _ := newTLSReceiver(t, ok)
		c := newClient(tlsTimeout)
		trustServer(c, rc.srv)
		if out := c.Post(bg, rc.URL(), keys, env); !out.OK() || out.RemoteAddr != rc.srv.Listener.Addr().String() {
			t.Errorf("Post = %+v, want OK from %s", out, rc.srv.Listener.Addr())
		}
	})
	t.Run("no answer in time", func(t *testing.T) {
		var rc *receiver
		rc = newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) int { return rc.hang(r) })
		out := newClient(testTimeout).Post(bg, rc.URL(), keys, env)
		if out.Class != webhook.ClassTimeout || out.RemoteAddr != rc.srv.Listener.Addr().String() {
			t.Errorf("Post = class %q RemoteAddr %q, want timeout from %s", out.Class, out.RemoteAddr, rc.srv.Listener.Addr())
		}
	})
	t.Run("refused", func(t *testing.T) {
		if out := newClient(testTimeout).Post(bg, closedPortURL(t), keys, env); out.Class != webhook.ClassRefused || out.RemoteAddr != "" {
			t.Errorf("Post = class %q RemoteAddr %q, want refused and no address", out.Class, out.RemoteAddr)
		}
	})
}

// The TestMessage is signed with the subscription's keys at the
// handshake, as deliveries are.
func TestHandshakeSignsWithSubscriptionKeys(t *testing.T) {
	now := time.Now()
	previous := signing.NewKey()
	for _, tt := range []struct {
		name             string
		expires          time.Time
		standardWebhooks bool
		wantPrevious     bool
	}{
		{"new subscription", time.Time{}, false, false},
		{"Standard Webhooks", time.Time{}, true, false},
		{"rotation overlap with Standard Webhooks", now.Add(time.Hour), true, true},
		{"overlap ended", now.Add(-time.Second), true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, ok)
			s := newSubscription(uuid.NewString(), rc.URL())
			s.Settings = webhook.DefaultSettings()
			s.Settings.StandardWebhooks = tt.standardWebhooks
			if !tt.expires.IsZero() {
				s.PreviousSigningKey, s.PreviousKeyExpires = previous, tt.expires
			}
			if err := newClient(testTimeout).Handshake(bg, s, now); err != nil {
				t.Fatalf("Handshake = %v", err)
			}
			r := rc.requests()[0]
			if want := delivery.TestMessage(s.OrganizationUUID, s.UUID, now).Bytes(); string(r.Body) != string(want) {
				t.Errorf("body = %s, want the TestMessage %s", r.Body, want)
			}
			if !signing.Verify(s.SigningKey, r.Envelope["timestamp"], r.Envelope["payload"], r.Header.Get(signing.Header)) {
				t.Errorf("%s does not verify with the new key", signing.Header)
			}
			prev := r.Header.Get(signing.PreviousHeader)
			if tt.wantPrevious != (prev != "") || (prev != "" && !signing.Verify(previous, r.Envelope["timestamp"], r.Envelope["payload"], prev)) {
				t.Errorf("%s = %q, want a signature with the previous key: %v", signing.PreviousHeader, prev, tt.wantPrevious)
			}
			if !tt.standardWebhooks {
				if v := r.Header.Get("webhook-signature"); v != "" {
					t.Errorf("webhook-signature = %q without Standard Webhooks", v)
				}
				return
			}
			if err := standardWebhooksVerify(webhook.StandardWebhooksSecret(s.SigningKey), r.Body, r.Header, time.Now()); err != nil {
				t.Errorf("Standard Webhooks verification with the new key: %v", err)
			}
			err := standardWebhooksVerify(webhook.StandardWebhooksSecret(previous), r.Body, r.Header, time.Now())
			if (err == nil) != tt.wantPrevious {
				t.Errorf("Standard Webhooks verification with the previous key = %v, want success %v", err, tt.wantPrevious)
			}
		})
	}
}

// End to end: the engine signs with the keys the store claims with the
// message, and records the address it delivered to.
func TestEngineSignsWithDeliveryKeys(t *testing.T) {
	db, _ := openDB(t)
	rc := newReceiver(t, ok)
	org := uuid.NewString()
	s := newSubscription(org, rc.URL())
	s.Settings = webhook.DefaultSettings()
	s.Settings.StandardWebhooks = true
	s.PreviousSigningKey, s.PreviousKeyExpires = signing.NewKey(), time.Now().Add(time.Hour)
	if err := db.CreateSubscription(bg, s); err != nil {
		t.Fatalf("CreateSubscription = %v", err)
	}
	ev := makeEvent(org, "keys-e2e", `{"id":"keys-e2e"}`)
	publish(t, db, ev)

	recorded := make(chan []store.AttemptResult, 10)
	e := newEngine(t, db, newClient(testTimeout))
	e.OnRecorded = func(batch []store.AttemptResult) { recorded <- batch }
	stop := runEngine(t, e)
	e.Notify()
	var batch []store.AttemptResult
	select {
	case batch = <-recorded:
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt recorded within 10 s")
	}
	if err, _ := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}

	addr := rc.srv.Listener.Addr().String()
	if len(batch) != 1 || !batch[0].Succeeded() || batch[0].RemoteAddr != addr {
		t.Fatalf("recorded %+v, want one success from %s", batch, addr)
	}
	m := messages(t, db, s)[ev.Envelope.MessageID]
	if as := attempts(t, db, m); len(as) != 1 || as[0].RemoteAddr != addr {
		t.Errorf("stored attempts %+v, want one with RemoteAddr %s", as, addr)
	}

	r := rc.requests()[0]
	env := ev.Envelope
	if !signing.Verify(s.SigningKey, env.Timestamp, env.Payload, r.Header.Get(signing.Header)) ||
		!signing.Verify(s.PreviousSigningKey, env.Timestamp, env.Payload, r.Header.Get(signing.PreviousHeader)) {
		t.Errorf("headers %v: want %s with the current key and %s with the previous one", r.Header, signing.Header, signing.PreviousHeader)
	}
	for _, k := range []string{s.SigningKey, s.PreviousSigningKey} {
		if err := standardWebhooksVerify(webhook.StandardWebhooksSecret(k), r.Body, r.Header, time.Now()); err != nil {
			t.Errorf("Standard Webhooks verification: %v", err)
		}
	}
}
