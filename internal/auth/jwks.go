package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults of JWKS.
const (
	// DefaultRefreshInterval is the age of the cached key set after which
	// the next token check refreshes it in the background.
	DefaultRefreshInterval = time.Hour
	// DefaultMinRefresh is the least time between two fetches of the key
	// set, whatever asks for them: a token with an unknown kid, a stale set,
	// or a retry after a failed fetch.
	DefaultMinRefresh = 5 * time.Minute
	// DefaultJWKSTimeout bounds one fetch, connection to last byte.
	DefaultJWKSTimeout = 10 * time.Second
	// MaxJWKSBytes bounds the size of a key set document.
	MaxJWKSBytes = 1 << 20
)

// ErrKeysUnavailable means that no key set has been fetched yet and the last
// fetch failed, so no token can be verified; Verify reports it as
// Unavailable (503), not as a bad token.
var ErrKeysUnavailable = errors.New("the JWKS could not be fetched")

// JWKS is a KeySource that fetches RSA and P-256 EC verification keys from a
// JSON Web Key Set URL and caches them. The zero value with URL set is ready
// to use.
//
// Token checks never wait for a fetch when the token's kid is cached: a
// set older than RefreshInterval is refreshed in the background while the
// cached one keeps serving. A token with an unknown kid (or any token before
// the first successful fetch) starts a fetch and waits for it, or joins the
// fetch already running; when the last fetch began less than MinRefresh ago
// it is rejected at once instead. Failed fetches count against MinRefresh
// too, so an IdP that is down is asked once per MinRefresh, not once per
// request, and the last good set keeps serving meanwhile. A successful fetch
// replaces the whole set: keys removed from it stop verifying. A response
// that is not 200, not JSON, or holds no usable key is a failed fetch.
//
// No lock is held during a fetch.
type JWKS struct {
	URL             string
	Client          *http.Client     // default: http.Client with DefaultJWKSTimeout
	RefreshInterval time.Duration    // default DefaultRefreshInterval
	MinRefresh      time.Duration    // default DefaultMinRefresh
	Now             func() time.Time // default time.Now
	Log             *slog.Logger     // failed fetches are logged here; default slog.Default()

	mu       sync.Mutex
	keys     map[string]crypto.PublicKey // the last good set; replaced, never changed
	fetched  time.Time                   // when the fetch of keys began
	tried    time.Time                   // when the last fetch began; zero before the first
	lastErr  error                       // outcome of the last finished fetch
	inflight chan struct{}               // closed when the running fetch ends; nil when none runs
	version  uint64                      // counts the sets fetched; see Version
}

// Version implements Versioned: it changes whenever a fetch replaced the
// key set. Like Key, it starts a background refresh when the set is stale,
// so tokens served from Verifier's cache still let the set refresh.
func (j *JWKS) Version() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	if now := j.now(); j.keys != nil && now.Sub(j.fetched) >= orDefault(j.RefreshInterval, DefaultRefreshInterval) {
		j.start(now)
	}
	return j.version
}

// Key implements KeySource: it returns the key named by the token's kid, or
// the only key of the set when the token has no kid. Errors: unknown kid;
// ErrKeysUnavailable when there is no set at all; ctx.Err() when the caller
// gives up waiting for a fetch.
func (j *JWKS) Key(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	key, wait, err := j.find(kid)
	if wait == nil {
		return key, err
	}
	select {
	case <-wait:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cached(kid)
}

// find returns the cached key for kid, starting a background refresh when
// the set is stale. Without a cached key it returns the channel of the
// fetch to wait for, or an error when no fetch may start now.
func (j *JWKS) find(kid string) (crypto.PublicKey, <-chan struct{}, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.now()
	if k, ok := lookup(j.keys, kid); ok {
		if now.Sub(j.fetched) >= orDefault(j.RefreshInterval, DefaultRefreshInterval) {
			j.start(now)
		}
		return k, nil, nil
	}
	if wait := j.start(now); wait != nil {
		return nil, wait, nil
	}
	k, err := j.cached(kid)
	return k, nil, err
}

// cached looks kid up in the current set; j.mu must be held.
func (j *JWKS) cached(kid string) (crypto.PublicKey, error) {
	if k, ok := lookup(j.keys, kid); ok {
		return k, nil
	}
	if j.keys == nil && j.lastErr != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, j.lastErr)
	}
	return nil, fmt.Errorf("unknown key id %q", kid)
}

// start begins a fetch unless one runs or the last began less than
// MinRefresh before now; j.mu must be held. It returns the channel of the
// running fetch, or nil when none runs.
func (j *JWKS) start(now time.Time) <-chan struct{} {
	if j.inflight != nil {
		return j.inflight
	}
	if !j.tried.IsZero() && now.Sub(j.tried) < orDefault(j.MinRefresh, DefaultMinRefresh) {
		return nil
	}
	done := make(chan struct{})
	j.tried, j.inflight = now, done
	go j.run(now, done)
	return done
}

// run fetches the set, detached from any request: a caller that gives up
// does not cancel the fetch the others wait for.
func (j *JWKS) run(began time.Time, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultJWKSTimeout)
	defer cancel()
	keys, err := j.fetch(ctx)
	j.mu.Lock()
	if err == nil {
		j.keys, j.fetched = keys, began
		j.version++
	}
	j.lastErr, j.inflight = err, nil
	cached := len(j.keys)
	j.mu.Unlock()
	close(done)
	if err != nil {
		j.logger().Warn("JWKS fetch failed; the last good key set keeps serving", "url", j.URL, "err", err,
			"cached_keys", cached, "retry_after", orDefault(j.MinRefresh, DefaultMinRefresh))
	}
}

func (j *JWKS) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func (j *JWKS) logger() *slog.Logger {
	if j.Log != nil {
		return j.Log
	}
	return slog.Default()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func lookup(keys map[string]crypto.PublicKey, kid string) (crypto.PublicKey, bool) {
	if kid == "" && len(keys) == 1 {
		for _, k := range keys {
			return k, true
		}
	}
	k, ok := keys[kid]
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

// fetch GETs the set. Keys of other types or curves are skipped; a set
// without any usable key is an error.
func (j *JWKS) fetch(ctx context.Context) (map[string]crypto.PublicKey, error) {
	client := j.Client
	if client == nil {
		client = &http.Client{Timeout: DefaultJWKSTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch JWKS: HTTP %d", resp.StatusCode)
	}
	var set struct{ Keys []jwk }
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxJWKSBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	keys := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if pub, err := k.publicKey(); err == nil {
			keys[k.Kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("JWKS holds no RSA or P-256 key")
	}
	return keys, nil
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
