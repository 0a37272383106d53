// Package signing computes and checks the X-iZettle-Signature header.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// Header is the name of the signature header.
const Header = "X-iZettle-Signature"

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
