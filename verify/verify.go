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
//		// env.EventName, env.MessageID (de-duplicate on it), env.Payload …
//	}
//
// Answer 2xx only once the event is stored; pusher retries anything else.
package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/pusher-hq/pusher/internal/signing"
)

// Header is the signature header of a delivery.
const Header = signing.Header

// MaxBody is the largest body Request reads (pusher's ingest limit).
const MaxBody = 10 << 20

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

// Errors of Request and Body; compare with errors.Is.
var (
	ErrNoSignature  = errors.New("verify: no " + Header + " header")
	ErrBadSignature = errors.New("verify: signature does not match any signing key")
	ErrNotEnvelope  = errors.New("verify: body is not a webhook envelope")
)

// Request reads r's body (at most MaxBody bytes) and checks its signature
// against each of signingKeys (pass the previous key too while a new one
// rolls out). It returns the envelope when one key matches; otherwise
// ErrNoSignature, ErrBadSignature, ErrNotEnvelope or the read error. The
// TestMessage pusher sends when a subscription is created is signed with
// the new key like any other delivery.
func Request(r *http.Request, signingKeys ...string) (Envelope, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return Envelope{}, fmt.Errorf("verify: reading the body: %w", err)
	}
	if len(body) > MaxBody {
		return Envelope{}, fmt.Errorf("%w: larger than %d bytes", ErrNotEnvelope, MaxBody)
	}
	return Body(body, r.Header.Get(Header), signingKeys...)
}

// Body checks a delivery body and its X-iZettle-Signature header value, as
// Request does.
func Body(body []byte, signature string, signingKeys ...string) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.Timestamp == "" || env.EventName == "" {
		return Envelope{}, ErrNotEnvelope
	}
	if signature == "" {
		return Envelope{}, ErrNoSignature
	}
	for _, key := range signingKeys {
		if Signature(key, env.Timestamp, env.Payload, signature) {
			return env, nil
		}
	}
	return Envelope{}, ErrBadSignature
}

// Signature reports whether signature (lower-case hex) is the signature
// of timestamp and payload with signingKey, comparing in constant time.
func Signature(signingKey, timestamp, payload, signature string) bool {
	return signing.Verify(signingKey, timestamp, payload, signature)
}
