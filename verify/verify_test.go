package verify_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/signing/signingtest"
	"github.com/pusher-hq/pusher/verify"
)

// The vectors are testdata/signatures.json at the repository root, the
// same bytes internal/signing's and internal/delivery's tests sign.

// Zettle's published envelopes and signatures verify; a changed byte or
// another key does not.
func TestPublishedExamples(t *testing.T) {
	for _, e := range signingtest.Load(t).ZettleExamples {
		env, err := verify.Body([]byte(e.Wire), e.XIzettleSignature, "old-key", e.SigningKey)
		if err != nil || env.MessageID == "" || env.Payload == "" {
			t.Errorf("%s: %+v, %v", e.Name, env, err)
		}
		tampered := strings.Replace(e.Wire, `"timestamp":"2`, `"timestamp":"3`, 1)
		if _, err := verify.Body([]byte(tampered), e.XIzettleSignature, e.SigningKey); !errors.Is(err, verify.ErrBadSignature) {
			t.Errorf("%s: tampered timestamp: %v, want ErrBadSignature", e.Name, err)
		}
		if _, err := verify.Body([]byte(e.Wire), e.XIzettleSignature, "another-key"); !errors.Is(err, verify.ErrBadSignature) {
			t.Errorf("%s: wrong key: %v, want ErrBadSignature", e.Name, err)
		}
	}
}

// pusher-api.md §4: the signature is over the decoded payload; the one over
// its escaped wire form does not verify.
func TestSignatureVector(t *testing.T) {
	v := signingtest.Load(t).SignatureVector
	if !verify.Signature(v.SigningKey, v.Timestamp, v.Payload, v.XIzettleSignature) {
		t.Error("the §4 vector does not verify")
	}
	if verify.Signature(v.SigningKey, v.Timestamp, v.Payload, v.EscapedPayloadSignature) {
		t.Error("the signature of the escaped payload verifies")
	}
}

// headers returns a delivery vector's headers as a request carries them.
func headers(d signingtest.Delivery) http.Header {
	h := http.Header{}
	for name, value := range d.Headers {
		h.Set(name, value)
	}
	return h
}

// Each shared delivery verifies with its current key in X-iZettle-Signature
// and, during a rotation overlap, with its previous key in
// X-Pusher-Previous-Signature; the result says which header and key.
func TestDeliveryVectors(t *testing.T) {
	for _, d := range signingtest.Load(t).Deliveries {
		t.Run(d.Name, func(t *testing.T) {
			h := headers(d)
			res, err := (&verify.Verifier{Keys: []string{"another-key", d.SigningKey}}).Check([]byte(d.Wire), h)
			if err != nil || res.Header != verify.Header || res.Key != 1 || res.MessageID == "" {
				t.Errorf("current key: %+v, %v; want %s with key 1", res, err, verify.Header)
			}
			old := &verify.Verifier{Keys: []string{d.PreviousSigningKey}}
			res, err = old.Check([]byte(d.Wire), h)
			switch {
			case d.PreviousSigningKey == "":
				// nothing signs with a previous key
			case err != nil || res.Header != verify.PreviousHeader || res.Key != 0:
				t.Errorf("previous key: %+v, %v; want %s with key 0", res, err, verify.PreviousHeader)
			}
			if d.PreviousSigningKey != "" {
				// An old receiver that knows only the previous key, through
				// the package-level helpers.
				if _, err := verify.Body([]byte(d.Wire), h.Get(verify.PreviousHeader), d.PreviousSigningKey); err != nil {
					t.Errorf("Body with the previous header and key: %v", err)
				}
				h2 := h.Clone()
				h2.Del(verify.PreviousHeader)
				if _, err := old.Check([]byte(d.Wire), h2); !errors.Is(err, verify.ErrBadSignature) {
					t.Errorf("previous key without %s: %v, want ErrBadSignature", verify.PreviousHeader, err)
				}
			}
			none := h.Clone()
			none.Del(verify.Header)
			none.Del(verify.PreviousHeader)
			if _, err := (&verify.Verifier{Keys: []string{d.SigningKey}}).Check([]byte(d.Wire), none); !errors.Is(err, verify.ErrNoSignature) {
				t.Errorf("no signature headers: %v, want ErrNoSignature", err)
			}
			if d.StandardWebhooks {
				checkStandardWebhooks(t, d, h)
			}
		})
	}
}

// checkStandardWebhooks checks a vector's Standard Webhooks headers.
func checkStandardWebhooks(t *testing.T, d signingtest.Delivery, h http.Header) {
	t.Helper()
	attempt := time.Unix(d.AttemptUnix, 0)
	at := func(offset time.Duration) *verify.Verifier {
		return &verify.Verifier{Now: func() time.Time { return attempt.Add(offset) }}
	}
	body := []byte(d.Wire)
	// pusher's secret is whsec_ and the base64 of the signing key.
	if want := "whsec_" + base64.StdEncoding.EncodeToString([]byte(d.SigningKey)); d.StandardWebhooksSecret != want {
		t.Errorf("standardWebhooksSecret = %s, want %s", d.StandardWebhooksSecret, want)
	}
	res, err := at(time.Second).CheckStandardWebhooks(body, h, d.StandardWebhooksSecret)
	if err != nil || res.Header != verify.WebhookSignatureHeader || res.Key != 0 || res.MessageID != h.Get("webhook-id") {
		t.Errorf("current secret: %+v, %v", res, err)
	}
	if d.PreviousStandardWebhooksSecret != "" {
		other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-key"))
		res, err := at(-time.Minute).CheckStandardWebhooks(body, h, other, d.PreviousStandardWebhooksSecret)
		if err != nil || res.Key != 1 {
			t.Errorf("previous secret: %+v, %v; want key 1", res, err)
		}
	}
	for _, offset := range []time.Duration{verify.StandardWebhooksTolerance + time.Second, -verify.StandardWebhooksTolerance - time.Second} {
		if _, err := at(offset).CheckStandardWebhooks(body, h, d.StandardWebhooksSecret); !errors.Is(err, verify.ErrTimestamp) {
			t.Errorf("checked %v from webhook-timestamp: %v, want ErrTimestamp", offset, err)
		}
	}
	if _, err := at(verify.StandardWebhooksTolerance).CheckStandardWebhooks(body, h, d.StandardWebhooksSecret); err != nil {
		t.Errorf("checked exactly at the tolerance: %v", err)
	}
	tampered := []byte(strings.Replace(d.Wire, `"timestamp":"2`, `"timestamp":"3`, 1))
	if _, err := at(0).CheckStandardWebhooks(tampered, h, d.StandardWebhooksSecret); !errors.Is(err, verify.ErrBadSignature) {
		t.Errorf("tampered body: %v, want ErrBadSignature", err)
	}
	later := h.Clone()
	later.Set("webhook-timestamp", strconv.FormatInt(d.AttemptUnix+1, 10))
	if _, err := at(0).CheckStandardWebhooks(body, later, d.StandardWebhooksSecret); !errors.Is(err, verify.ErrBadSignature) {
		t.Errorf("changed webhook-timestamp: %v, want ErrBadSignature", err)
	}
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		missing := h.Clone()
		missing.Del(name)
		if _, err := at(0).CheckStandardWebhooks(body, missing, d.StandardWebhooksSecret); !errors.Is(err, verify.ErrNoSignature) || !strings.Contains(err.Error(), "webhook-") {
			t.Errorf("without %s: %v, want ErrNoSignature naming the headers", name, err)
		}
	}
	if _, err := at(0).CheckStandardWebhooks(body, h, "whsec_not base64"); !errors.Is(err, verify.ErrBadSecret) {
		t.Errorf("bad secret: %v, want ErrBadSecret", err)
	}
}

// MaxAge bounds the envelope timestamp, either way, on an injected clock;
// the zero MaxAge accepts any.
func TestMaxAge(t *testing.T) {
	d := signingtest.Load(t).Deliveries[0]
	h := headers(d)
	sent, err := time.Parse(time.RFC3339Nano, "2021-04-19T13:17:56.585Z")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		maxAge, offset time.Duration
		ok             bool
	}{
		{0, 1000 * time.Hour, true},
		{time.Hour, 59 * time.Minute, true},
		{time.Hour, -59 * time.Minute, true},
		{time.Hour, 61 * time.Minute, false},
		{time.Hour, -61 * time.Minute, false},
	} {
		v := &verify.Verifier{Keys: []string{d.SigningKey}, MaxAge: tt.maxAge, Now: func() time.Time { return sent.Add(tt.offset) }}
		res, err := v.Check([]byte(d.Wire), h)
		if tt.ok && (err != nil || res.Timestamp != "2021-04-19T13:17:56.585Z") {
			t.Errorf("MaxAge %v at +%v: %+v, %v; want verified", tt.maxAge, tt.offset, res, err)
		}
		if !tt.ok && (!errors.Is(err, verify.ErrTimestamp) || res.MessageID != "") {
			t.Errorf("MaxAge %v at +%v: %+v, %v; want ErrTimestamp and no envelope", tt.maxAge, tt.offset, res, err)
		}
	}
	// A bad signature is reported as such, whatever the age.
	v := &verify.Verifier{Keys: []string{"another-key"}, MaxAge: time.Hour}
	if _, err := v.Check([]byte(d.Wire), h); !errors.Is(err, verify.ErrBadSignature) {
		t.Errorf("old and badly signed: %v, want ErrBadSignature", err)
	}
}

// The TestMessage is recognised by its event name and payload.
func TestIsTestMessage(t *testing.T) {
	for _, tt := range []struct {
		event, payload string
		want           bool
	}{
		{"TestMessage", `{"data":"payload"}`, true},
		{"TestMessage", `{"data":"other"}`, false},
		{"TestMessage", `not json`, false},
		{"ProductCreated", `{"data":"payload"}`, false},
	} {
		if got := (verify.Envelope{EventName: tt.event, Payload: tt.payload}).IsTestMessage(); got != tt.want {
			t.Errorf("IsTestMessage(%s, %s) = %v, want %v", tt.event, tt.payload, got, tt.want)
		}
	}
	for _, d := range signingtest.Load(t).Deliveries {
		env, err := verify.Body([]byte(d.Wire), d.Headers[verify.Header], d.SigningKey)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := env.IsTestMessage(), env.EventName == "TestMessage"; got != want {
			t.Errorf("%s: IsTestMessage = %v, want %v", d.Name, got, want)
		}
	}
}

// Decode decodes the payload string into the caller's value.
func TestDecode(t *testing.T) {
	d := signingtest.Load(t).Deliveries[0]
	env, err := verify.Request(httptest.NewRequest("POST", "/", strings.NewReader(d.Wire)), d.SigningKey)
	if err == nil {
		t.Fatal("a request without headers verified")
	}
	r := httptest.NewRequest("POST", "/", strings.NewReader(d.Wire))
	r.Header = headers(d)
	if env, err = verify.Request(r, d.SigningKey); err != nil {
		t.Fatal(err)
	}
	var p struct {
		ProductUUID string `json:"productUuid"`
		Created     struct {
			UserType string `json:"userType"`
		} `json:"created"`
	}
	if err := env.Decode(&p); err != nil || p.ProductUUID != "e4cc8750-a110-11eb-adc0-ffd446d76f99" || p.Created.UserType != "USER" {
		t.Errorf("Decode = %+v, %v", p, err)
	}
	if ts, err := env.Time(); err != nil || !ts.Equal(time.Date(2021, 4, 19, 13, 17, 56, 585e6, time.UTC)) {
		t.Errorf("Time = %v, %v", ts, err)
	}
	var n int
	if err := (verify.Envelope{EventName: "X", Payload: `{"a":1}`}).Decode(&n); err == nil {
		t.Error("Decode into the wrong type succeeded")
	}
}

// phpStripslashes is PHP's stripslashes: a backslash and the character
// after it become that character ("\0" a NUL byte); a trailing backslash
// goes.
func phpStripslashes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i < len(s) {
			if s[i] == '0' {
				b.WriteByte(0)
			} else {
				b.WriteByte(s[i])
			}
		}
	}
	return b.String()
}

// WouldFailStripslashes is true exactly when Zettle's PHP sample verifier,
// hash_hmac over stripslashes($timestamp . '.' . $payload) with the decoded
// payload, rejects a correctly signed payload.
func TestWouldFailStripslashes(t *testing.T) {
	v := signingtest.Load(t)
	key, ts := v.SignatureVector.SigningKey, v.SignatureVector.Timestamp
	for _, s := range v.Stripslashes {
		if got := verify.WouldFailStripslashes(s.Payload); got != s.WouldFailStripslashes {
			t.Errorf("%s: WouldFailStripslashes(%s) = %v, want %v", s.Name, s.Payload, got, s.WouldFailStripslashes)
		}
		sig := signing.Sign(key, ts, s.Payload)
		if !verify.Signature(key, ts, s.Payload, sig) {
			t.Fatalf("%s: the signature does not verify", s.Name)
		}
		phpOK := verify.Signature(key, ts, phpStripslashes(s.Payload), sig)
		if phpOK == s.WouldFailStripslashes {
			t.Errorf("%s: the PHP sample verifier accepts: %v, but WouldFailStripslashes says %v", s.Name, phpOK, s.WouldFailStripslashes)
		}
	}
}

// Through a real HTTP request: a missing header and a non-envelope body
// have their own errors; the previous-key header verifies on its own.
func TestRequest(t *testing.T) {
	var d signingtest.Delivery
	for _, x := range signingtest.Load(t).Deliveries {
		if x.PreviousSigningKey != "" && x.StandardWebhooks {
			d = x
		}
	}
	type check func(*http.Request) (verify.Envelope, error)
	checks, errs := make(chan check, 1), make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env, err := (<-checks)(r)
		if err == nil && env.MessageID == "" {
			err = errors.New("no envelope")
		}
		errs <- err
	}))
	defer srv.Close()
	post := func(c check, body string, h http.Header) error {
		checks <- c
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-errs
	}
	current := func(r *http.Request) (verify.Envelope, error) { return verify.Request(r, d.SigningKey) }
	h := headers(d)
	if err := post(current, d.Wire, h); err != nil {
		t.Errorf("signed delivery: %v", err)
	}
	if err := post(current, d.Wire, nil); !errors.Is(err, verify.ErrNoSignature) {
		t.Errorf("no header: %v, want ErrNoSignature", err)
	}
	if err := post(current, `{"hello":"world"}`, h); !errors.Is(err, verify.ErrNotEnvelope) {
		t.Errorf("not an envelope: %v, want ErrNotEnvelope", err)
	}
	previous := func(r *http.Request) (verify.Envelope, error) { return verify.Request(r, d.PreviousSigningKey) }
	if err := post(previous, d.Wire, h); err != nil {
		t.Errorf("with the previous key: %v", err)
	}
	standard := func(r *http.Request) (verify.Envelope, error) {
		return verify.StandardWebhooks(r, d.StandardWebhooksSecret)
	}
	if err := post(standard, d.Wire, h); !errors.Is(err, verify.ErrTimestamp) {
		t.Errorf("Standard Webhooks vector of 2021 checked now: %v, want ErrTimestamp", err)
	}
	fresh := h.Clone()
	now := time.Now()
	fresh.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	fresh.Set("webhook-signature", mustStandardWebhooks(t, d.StandardWebhooksSecret, d.Headers["webhook-id"], now, d.Wire))
	if err := post(standard, d.Wire, fresh); err != nil {
		t.Errorf("Standard Webhooks signed now: %v", err)
	}
}

func mustStandardWebhooks(t *testing.T, secret, id string, ts time.Time, body string) string {
	t.Helper()
	sig, err := signing.StandardWebhooks(secret, id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}
