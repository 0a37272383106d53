package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
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

// JWKS fetches verification keys from a JSON Web Key Set URL. Keys are
// cached; an unknown kid triggers a refetch at most once per MinRefresh.
type JWKS struct {
	URL        string
	Client     *http.Client  // default: 10 s timeout
	MinRefresh time.Duration // default 1 min

	mu      sync.Mutex
	keys    map[string]crypto.PublicKey
	fetched time.Time
}

// Key implements KeySource: it returns the key named by the token's kid, or
// the only key of the set when the token has no kid.
func (j *JWKS) Key(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	j.mu.Lock()
	defer j.mu.Unlock()
	if k, ok := j.lookup(kid); ok {
		return k, nil
	}
	minRefresh := j.MinRefresh
	if minRefresh == 0 {
		minRefresh = time.Minute
	}
	if !j.fetched.IsZero() && time.Since(j.fetched) < minRefresh {
		return nil, fmt.Errorf("unknown key id %q", kid)
	}
	if err := j.fetch(ctx); err != nil {
		return nil, err
	}
	if k, ok := j.lookup(kid); ok {
		return k, nil
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

func (j *JWKS) lookup(kid string) (crypto.PublicKey, bool) {
	if kid == "" && len(j.keys) == 1 {
		for _, k := range j.keys {
			return k, true
		}
	}
	k, ok := j.keys[kid]
	return k, ok
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (j *JWKS) fetch(ctx context.Context) error {
	client := j.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.URL, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS: HTTP %d", resp.StatusCode)
	}
	var set struct{ Keys []jwk }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return fmt.Errorf("decode JWKS: %w", err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if pub, err := k.publicKey(); err == nil {
			keys[k.Kid] = pub
		}
	}
	j.keys, j.fetched = keys, time.Now()
	return nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := base64.RawURLEncoding.DecodeString(k.X)
		y, err2 := base64.RawURLEncoding.DecodeString(k.Y)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		uncompressed := append(append([]byte{4}, leftPad(x, 32)...), leftPad(y, 32)...)
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), uncompressed)
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}

func leftPad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}
