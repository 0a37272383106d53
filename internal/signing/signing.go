// Package signing computes and checks delivery signatures: Zettle's
// X-iZettle-Signature, pusher's X-Pusher-Previous-Signature (the same rule
// with the previous key during a rotation overlap) and, opt-in, the
// Standard Webhooks headers (docs/extensions.md). It is the one place the
// signing math lives: the delivery client signs with it and the public
// verify package checks with it.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header is the name of the signature header.
const Header = "X-iZettle-Signature"

// PreviousHeader carries, during a rotation overlap, the signature made
// by Sign with the previous signing key.
const PreviousHeader = "X-Pusher-Previous-Signature"

// Sign returns the lower-case hex HMAC-SHA256 of timestamp + "." + payload,
// keyed with signingKey as UTF-8 text. payload is the envelope's payload
// string value (the inner JSON text), not its escaped wire form.
func Sign(signingKey, timestamp, payload string) string {
	m := hmac.New(sha256.New, []byte(signingKey))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is the signature of timestamp and payload
// under signingKey, comparing in constant time.
func Verify(signingKey, timestamp, payload, signature string) bool {
	want := Sign(signingKey, timestamp, payload)
	return hmac.Equal([]byte(want), []byte(signature))
}

const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// KeyLength is the length of a subscription signing key.
const KeyLength = 64

// NewKey returns a random 64-character [A-Za-z0-9] signing key from
// crypto/rand, without modulo bias.
func NewKey() string {
	key := make([]byte, 0, KeyLength)
	var buf [KeyLength * 2]byte
	for len(key) < KeyLength {
		rand.Read(buf[:]) // never returns an error (Go 1.24+)
		for _, b := range buf {
			if int(b) < 256-256%len(keyAlphabet) && len(key) < KeyLength {
				key = append(key, keyAlphabet[int(b)%len(keyAlphabet)])
			}
		}
	}
	return string(key)
}

// The Standard Webhooks headers (https://www.standardwebhooks.com), sent
// with these lower-case names.
const (
	WebhookIDHeader        = "webhook-id"        // the envelope's messageId
	WebhookTimestampHeader = "webhook-timestamp" // Unix seconds of the attempt
	WebhookSignatureHeader = "webhook-signature" // space-separated "v1,<base64>" entries
)

// SecretPrefix starts a Standard Webhooks symmetric secret.
const SecretPrefix = "whsec_"

// StandardWebhooksTolerance is how far webhook-timestamp may be from the
// receiver's clock, either way, as in the reference libraries.
const StandardWebhooksTolerance = 5 * time.Minute

// StandardWebhooksSecret is the Standard Webhooks secret of a signing key:
// SecretPrefix and the standard base64 of the key's bytes, so the HMAC key
// is the signing key itself and the secret rotates with it.
func StandardWebhooksSecret(signingKey string) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString([]byte(signingKey))
}

// ErrBadSecret is returned for a Standard Webhooks secret that is not
// base64 after its optional "whsec_" prefix.
var ErrBadSecret = errors.New("signing: Standard Webhooks secret is not whsec_ and base64")

// StandardWebhooksKey returns the HMAC key of a Standard Webhooks secret:
// the base64 decoding of secret without its "whsec_" prefix.
func StandardWebhooksKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, ErrBadSecret
	}
	return key, nil
}

// StandardWebhooks returns one webhook-signature entry: "v1," and the
// standard base64 of HMAC-SHA256 over id + "." + the Unix seconds of ts +
// "." + body, keyed with the decoded secret.
func StandardWebhooks(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := StandardWebhooksKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(standardWebhooksMAC(key, id, ts, body)), nil
}

func standardWebhooksMAC(key []byte, id string, ts time.Time, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyStandardWebhooks reports whether one "v1," entry of the
// space-separated webhook-signature value header is the signature of id,
// ts and body under secret, comparing each in constant time. Entries of
// other versions are skipped. It does not check ts against a clock.
func VerifyStandardWebhooks(secret, id string, ts time.Time, body []byte, header string) bool {
	key, err := StandardWebhooksKey(secret)
	if err != nil {
		return false
	}
	want := []byte(base64.StdEncoding.EncodeToString(standardWebhooksMAC(key, id, ts, body)))
	ok := false
	for _, entry := range strings.Split(header, " ") {
		version, sig, found := strings.Cut(entry, ",")
		if found && version == "v1" && hmac.Equal([]byte(sig), want) {
			ok = true
		}
	}
	return ok
}
