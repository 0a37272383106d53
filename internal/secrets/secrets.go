// Package secrets encrypts subscription signing keys at rest with
// AES-256-GCM, as a store.Store wrapper: the drivers keep storing strings,
// and a database dump or backup without PUSHER_SECRET_KEY holds no key a
// receiver could be impersonated with.
//
// A sealed value reads "enc:v1:<key id>:<base64 of nonce and ciphertext>";
// the key id is the first 8 hex digits of the key's SHA-256, so a value
// names the key that opens it. Values without the prefix (stored before
// encryption was turned on) are read as they are, so turning it on needs no
// migration. Rotation: make the new key PUSHER_SECRET_KEY and list the old
// one in PUSHER_SECRET_KEY_OLD; new values are sealed with the new key, old
// ones still open, and a key can leave the old list once no value needs it
// (pusher copy into a fresh database re-seals everything).
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

const prefix = "enc:v1:"

// Sealer seals with its current key and opens with any of its keys.
type Sealer struct {
	current string // key id
	aeads   map[string]cipher.AEAD
}

// NewSealer returns a Sealer for the current key and any old ones. Each key
// is 32 bytes, written as 64 hex digits or in standard or URL base64. It
// fails on a key of another length or encoding, without quoting it.
func NewSealer(current string, old ...string) (*Sealer, error) {
	s := &Sealer{aeads: map[string]cipher.AEAD{}}
	for i, text := range append([]string{current}, old...) {
		id, aead, err := parseKey(text)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("PUSHER_SECRET_KEY: %w", err)
			}
			return nil, fmt.Errorf("PUSHER_SECRET_KEY_OLD, key %d: %w", i, err)
		}
		if i == 0 {
			s.current = id
		}
		s.aeads[id] = aead
	}
	return s, nil
}

func parseKey(text string) (string, cipher.AEAD, error) {
	key, err := decodeKey(strings.TrimSpace(text))
	if err != nil {
		return "", nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4]), aead, nil
}

func decodeKey(text string) ([]byte, error) {
	for _, dec := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString,
		base64.URLEncoding.DecodeString, base64.RawStdEncoding.DecodeString, base64.RawURLEncoding.DecodeString} {
		if b, err := dec(text); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("want 32 bytes as 64 hex digits or base64 (e.g. openssl rand -hex 32)")
}

// Unsealed returns a Sealer without keys, for a server started without
// PUSHER_SECRET_KEY: it stores values as they are and refuses to open a
// sealed one (rather than sign with it), naming the key it needs.
func Unsealed() *Sealer { return &Sealer{aeads: map[string]cipher.AEAD{}} }

// Seal encrypts plain with the current key; without one (Unsealed), and for
// an empty value, it returns plain as it is.
func (s *Sealer) Seal(plain string) (string, error) {
	if plain == "" || IsSealed(plain) || s.current == "" {
		return plain, nil
	}
	aead := s.aeads[s.current]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, []byte(plain), []byte(s.current))
	return prefix + s.current + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a sealed value; a value without the prefix is returned as
// it is. It fails when the value names a key the Sealer does not have, or
// does not decrypt (tampered with, or a wrong key).
func (s *Sealer) Open(value string) (string, error) {
	if !IsSealed(value) {
		return value, nil
	}
	id, data, ok := strings.Cut(strings.TrimPrefix(value, prefix), ":")
	aead := s.aeads[id]
	if !ok || aead == nil {
		return "", fmt.Errorf("secrets: sealed with key %s, which is neither PUSHER_SECRET_KEY nor in PUSHER_SECRET_KEY_OLD", id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(data)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", errors.New("secrets: sealed value is damaged")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", errors.New("secrets: sealed value does not open with its key (damaged or tampered with)")
	}
	return string(plain), nil
}

// IsSealed reports whether value was written by Seal.
func IsSealed(value string) bool { return strings.HasPrefix(value, prefix) }
