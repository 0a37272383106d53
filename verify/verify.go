// Package verify checks, on the receiving side, that a webhook delivery
// came from pusher (or from Zettle itself: the rule is the same): its
// X-iZettle-Signature header must be the lower-case hex HMAC-SHA256, keyed
// with the subscription's signingKey, of the envelope's timestamp, a dot,
// and its payload string.
//
//	func hook(w http.ResponseWriter, r *http.Request) {
//		env, err := verify.Request(r, signingKey)
//		if err != nil {
//			http.Error(w, err.Error(), http.StatusUnauthorized)
//			return
//		}
//		// env.EventName, env.MessageID (de-duplicate on it), env.Decode(&event) …
//	}
//
// Answer 2xx only once the event is stored; pusher retries anything else.
//
// After a key rotation pusher signs with the new key in X-iZettle-Signature
// and, until the previous key expires, with the previous key in
// X-Pusher-Previous-Signature; Request accepts either header with any of
// the keys it is given. A Verifier also bounds the envelope's age and says
// which header and key matched. Subscriptions with Standard Webhooks on
// also carry webhook-id, webhook-timestamp and webhook-signature, which
// StandardWebhooks checks.
package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
)

// The signature headers of a delivery.
const (
	// Header carries the signature with the subscription's signing key.
	Header = signing.Header
	// PreviousHeader carries the signature with the previous signing key,
	// for a while after a rotation.
	PreviousHeader = signing.PreviousHeader

	// The Standard Webhooks headers, sent when the subscription's
	// standardWebhooks setting is on.
	WebhookIDHeader        = signing.WebhookIDHeader
	WebhookTimestampHeader = signing.WebhookTimestampHeader
	WebhookSignatureHeader = signing.WebhookSignatureHeader
)

// StandardWebhooksTolerance is how far webhook-timestamp may be from the
// receiver's clock, either way (the reference libraries' 5 minutes).
const StandardWebhooksTolerance = signing.StandardWebhooksTolerance

// MaxBody is the largest body Request reads (pusher's ingest limit).
const MaxBody = 10 << 20

// TestMessage is the event name of the message pusher (and Zettle) sends
// when a subscription is created.
const TestMessage = "TestMessage"

// Envelope is a delivery's body: Zettle's envelope. Payload is the event's
// JSON text, as a string.
type Envelope struct {
	OrganizationUUID string `json:"organizationUuid"`
	MessageUUID      string `json:"messageUuid"`
	EventName        string `json:"eventName"`
	MessageID        string `json:"messageId"`
	Payload          string `json:"payload"`
	Timestamp        string `json:"timestamp"`
}

// IsTestMessage reports whether e is the TestMessage a subscription's
// creation sends: event name TestMessage and payload {"data":"payload"}
// (the check Zettle's client libraries make). It carries no event to act
// on; answer it 2xx.
func (e Envelope) IsTestMessage() bool {
	if e.EventName != TestMessage {
		return false
	}
	var p struct {
		Data string `json:"data"`
	}
	return json.Unmarshal([]byte(e.Payload), &p) == nil && p.Data == "payload"
}

// Decode decodes the payload, the event's JSON text, into v, as
// json.Unmarshal does.
func (e Envelope) Decode(v any) error {
	if err := json.Unmarshal([]byte(e.Payload), v); err != nil {
		return fmt.Errorf("verify: decoding the %s payload: %w", e.EventName, err)
	}
	return nil
}

// Time returns the envelope's timestamp: when the event happened.
func (e Envelope) Time() (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: timestamp %q is not ISO-8601", ErrNotEnvelope, e.Timestamp)
	}
	return t, nil
}

// Errors of Request, Body, StandardWebhooks and Verifier; compare with
// errors.Is.
var (
	ErrNoSignature  = errors.New("verify: no " + Header + " header")
	ErrBadSignature = errors.New("verify: signature does not match any signing key")
	ErrNotEnvelope  = errors.New("verify: body is not a webhook envelope")
	// ErrTimestamp is a correctly signed delivery whose envelope timestamp
	// is further than Verifier.MaxAge from now, or whose webhook-timestamp
	// is further than StandardWebhooksTolerance: a replay, or a clock off.
	ErrTimestamp = errors.New("verify: timestamp outside the allowed window")
	// ErrBadSecret is a Standard Webhooks secret that is not "whsec_" and
	// base64.
	ErrBadSecret = signing.ErrBadSecret
)

// wrapped is an error with its own text that errors.Is matches to is.
type wrapped struct {
	text string
	is   error
}

func (e *wrapped) Error() string { return e.text }
func (e *wrapped) Unwrap() error { return e.is }

var (
	errNoStandardWebhooks = &wrapped{"verify: no " + WebhookIDHeader + ", " + WebhookTimestampHeader +
		" and " + WebhookSignatureHeader + " headers", ErrNoSignature}
	errBadStandardTimestamp = &wrapped{"verify: " + WebhookTimestampHeader + " is not Unix seconds", ErrBadSignature}
)

// Verifier checks deliveries with a set of keys. The zero MaxAge accepts
// any envelope timestamp.
type Verifier struct {
	// Keys are the subscription's signing keys: during a rotation, pass
	// the old and the new one.
	Keys []string
	// MaxAge bounds the distance between the envelope's timestamp and Now,
	// either way; 0 means no bound. The envelope timestamp is when the
	// event happened, not when this attempt was sent: pusher retries a
	// message for up to days (Zettle's schedule), so a bound shorter than
	// that refuses late retries (they fail with ErrTimestamp).
	MaxAge time.Duration
	// Now is the clock of MaxAge and of the Standard Webhooks tolerance;
	// time.Now when nil.
	Now func() time.Time
}

// Result is a verified delivery.
type Result struct {
	Envelope
	// Header is the header whose signature matched: Header, PreviousHeader
	// or WebhookSignatureHeader.
	Header string
	// Key is the index, in Verifier.Keys (or in the secrets given to
	// StandardWebhooks), of the key that matched.
	Key int
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Request reads r's body (at most MaxBody bytes) and checks it as Check
// does.
func (v *Verifier) Request(r *http.Request) (Result, error) {
	body, err := readBody(r)
	if err != nil {
		return Result{}, err
	}
	return v.Check(body, r.Header)
}

// Check checks a delivery body with its headers: the signature in Header,
// or else in PreviousHeader, must match one of v.Keys, and the envelope's
// timestamp must be within MaxAge. It returns ErrNotEnvelope,
// ErrNoSignature (neither header), ErrBadSignature or ErrTimestamp, and
// the zero Result with any error.
func (v *Verifier) Check(body []byte, h http.Header) (Result, error) {
	env, err := ParseUnverified(body)
	if err != nil {
		return Result{}, err
	}
	sigs := []string{Header, PreviousHeader}
	present := false
	for _, name := range sigs {
		sig := h.Get(name)
		if sig == "" {
			continue
		}
		present = true
		for i, key := range v.Keys {
			if Signature(key, env.Timestamp, env.Payload, sig) {
				return v.checkAge(Result{Envelope: env, Header: name, Key: i})
			}
		}
	}
	if !present {
		return Result{}, ErrNoSignature
	}
	return Result{}, ErrBadSignature
}

// checkAge applies MaxAge to a verified result.
func (v *Verifier) checkAge(res Result) (Result, error) {
	if v.MaxAge <= 0 {
		return res, nil
	}
	t, err := res.Time()
	if err != nil {
		return Result{}, err
	}
	if d := v.now().Sub(t); d > v.MaxAge || d < -v.MaxAge {
		return Result{}, fmt.Errorf("%w: envelope timestamp %s is %v from now, more than %v", ErrTimestamp, res.Timestamp, d.Round(time.Second), v.MaxAge)
	}
	return res, nil
}

// StandardWebhooks reads r's body (at most MaxBody bytes) and checks it as
// CheckStandardWebhooks does.
func (v *Verifier) StandardWebhooks(r *http.Request, secrets ...string) (Result, error) {
	body, err := readBody(r)
	if err != nil {
		return Result{}, err
	}
	return v.CheckStandardWebhooks(body, r.Header, secrets...)
}

// CheckStandardWebhooks checks a delivery's Standard Webhooks headers as
// the spec's reference libraries do: webhook-timestamp must be within
// StandardWebhooksTolerance of Now, and one "v1," entry of
// webhook-signature must be the base64 HMAC-SHA256 of webhook-id, ".",
// webhook-timestamp, "." and the body, keyed with one of secrets (the
// subscription's standardWebhooksSecret, "whsec_…"; during a rotation the
// previous key's too). The body must be an envelope, within MaxAge when v
// has one. It returns ErrNotEnvelope, ErrNoSignature (a header missing),
// ErrBadSignature, ErrTimestamp or ErrBadSecret, and the zero Result with
// any error. pusher's secret of a signing key k is "whsec_" and the base64
// of k, so a receiver that knows k needs no other secret.
func (v *Verifier) CheckStandardWebhooks(body []byte, h http.Header, secrets ...string) (Result, error) {
	env, err := ParseUnverified(body)
	if err != nil {
		return Result{}, err
	}
	id, tsHeader, sig := h.Get(WebhookIDHeader), h.Get(WebhookTimestampHeader), h.Get(WebhookSignatureHeader)
	if id == "" || tsHeader == "" || sig == "" {
		return Result{}, errNoStandardWebhooks
	}
	unix, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return Result{}, errBadStandardTimestamp
	}
	ts := time.Unix(unix, 0)
	if d := v.now().Sub(ts); d > StandardWebhooksTolerance || d < -StandardWebhooksTolerance {
		return Result{}, fmt.Errorf("%w: %s %s is %v from now, more than %v", ErrTimestamp, WebhookTimestampHeader, tsHeader, d.Round(time.Second), StandardWebhooksTolerance)
	}
	for i, secret := range secrets {
		if _, err := signing.StandardWebhooksKey(secret); err != nil {
			return Result{}, err
		}
		if signing.VerifyStandardWebhooks(secret, id, ts, body, sig) {
			return v.checkAge(Result{Envelope: env, Header: WebhookSignatureHeader, Key: i})
		}
	}
	return Result{}, ErrBadSignature
}

// Request reads r's body (at most MaxBody bytes) and checks its signature
// against each of signingKeys (pass the previous key too while a new one
// rolls out), in X-iZettle-Signature and, after a rotation,
// X-Pusher-Previous-Signature. It returns the envelope when one key
// matches; otherwise ErrNoSignature, ErrBadSignature, ErrNotEnvelope or the
// read error. The TestMessage pusher sends when a subscription is created
// is signed with the new key like any other delivery (Zettle's clients
// skip checking it: see Envelope.IsTestMessage).
func Request(r *http.Request, signingKeys ...string) (Envelope, error) {
	res, err := (&Verifier{Keys: signingKeys}).Request(r)
	return res.Envelope, err
}

// Body checks a delivery body and its X-iZettle-Signature (or
// X-Pusher-Previous-Signature) header value against each of signingKeys,
// as Request does.
func Body(body []byte, signature string, signingKeys ...string) (Envelope, error) {
	res, err := (&Verifier{Keys: signingKeys}).Check(body, http.Header{http.CanonicalHeaderKey(Header): {signature}})
	return res.Envelope, err
}

// StandardWebhooks reads r's body and checks its Standard Webhooks headers
// against each of secrets, with the reference libraries' 5-minute
// timestamp tolerance (see Verifier.CheckStandardWebhooks).
func StandardWebhooks(r *http.Request, secrets ...string) (Envelope, error) {
	res, err := (&Verifier{}).StandardWebhooks(r, secrets...)
	return res.Envelope, err
}

// Signature reports whether signature (lower-case hex) is the signature
// of timestamp and payload with signingKey, comparing in constant time.
func Signature(signingKey, timestamp, payload, signature string) bool {
	return signing.Verify(signingKey, timestamp, payload, signature)
}

// ParseUnverified decodes a delivery body without checking anything but
// its shape (a JSON object with an eventName and a timestamp), for logging
// what failed verification. Never act on what it returns.
func ParseUnverified(body []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Timestamp == "" || env.EventName == "" {
		return Envelope{}, ErrNotEnvelope
	}
	return env, nil
}

// WouldFailStripslashes reports whether a receiver following Zettle's PHP
// sample — hash_hmac('sha256', stripslashes($timestamp . '.' . $payload),
// $signingKey) with the decoded payload, as Shopware's plugin does — would
// reject this correctly signed payload (pusher-api.md §4). stripslashes
// drops every backslash (and turns "\\" into "\"), so that verifier signs
// other bytes than the sender whenever the payload holds one: an escaped
// quote (\"), a \n, a \u escape, an escaped solidus (\/), an escaped
// backslash. Timestamps never contain one.
func WouldFailStripslashes(payload string) bool {
	return strings.Contains(payload, `\`)
}

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("verify: reading the body: %w", err)
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrNotEnvelope, MaxBody)
	}
	return body, nil
}
