package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var (
	jsonUnmarshal = json.Unmarshal
	jsonMarshal   = json.Marshal
)

// LocalKeyFile is the file in the data directory that holds the local
// signing key (PKCS #8 PEM, mode 0600).
const LocalKeyFile = "jwt-signing-key.pem"

// LocalIssuer is the iss of tokens minted with the local key.
const LocalIssuer = "pusher-local"

// LocalKey is the ES256 key pair pusher creates in its data directory when no
// JWKS URL is configured. It signs tokens (pusher token) and verifies them.
type LocalKey struct {
	Private *ecdsa.PrivateKey
	KeyID   string
}

// LoadOrCreateLocalKey reads dir/LocalKeyFile, creating the key (and dir)
// when it does not exist.
func LoadOrCreateLocalKey(dir string) (*LocalKey, error) {
	path := filepath.Join(dir, LocalKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return createLocalKey(dir, path)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an ECDSA key", path)
	}
	return newLocalKey(ec), nil
}

func createLocalKey(dir, path string) (*LocalKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) { // another process won the race
			return LoadOrCreateLocalKey(dir)
		}
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	return newLocalKey(k), f.Close()
}

func newLocalKey(k *ecdsa.PrivateKey) *LocalKey {
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	sum := sha256.Sum256(der)
	return &LocalKey{Private: k, KeyID: base64.RawURLEncoding.EncodeToString(sum[:8])}
}

// Key implements KeySource.
func (k *LocalKey) Key(_ context.Context, _ *jwt.Token) (any, error) {
	return &k.Private.PublicKey, nil
}

// Mint signs a token with the given claims, valid for ttl from now.
func (k *LocalKey) Mint(c Claims, now time.Time, ttl time.Duration) (string, error) {
	if c.Issuer == "" {
		c.Issuer = LocalIssuer
	}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = k.KeyID
	return t.SignedString(k.Private)
}
