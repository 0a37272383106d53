package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Versioned is a KeySource whose keys can change (a JWKS): Version changes
// when they do, and Verifier then forgets the tokens it verified with the
// earlier keys. A KeySource without it (the local key) never changes.
type Versioned interface {
	Version() uint64
}

// maxCachedTokens bounds the verified-token cache; when it is full,
// expired entries are dropped, and if none were, the whole cache.
const maxCachedTokens = 10000

// tokenCache remembers verified tokens by the SHA-256 of their text, so a
// producer's repeated token costs a hash and a map lookup instead of a
// signature check (ES256 verification was a quarter of pusher's CPU under
// ingest load). An entry lives until the token's exp and only while the
// key set it was verified with is current; failures are never cached.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	p       Principal
	exp     time.Time
	version uint64
}

func (c *tokenCache) get(raw string, now time.Time, version uint64) (Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sha256.Sum256([]byte(raw))]
	if !ok || e.version != version || !now.Before(e.exp) {
		return Principal{}, false
	}
	return e.p, true
}

func (c *tokenCache) put(raw string, p Principal, exp time.Time, version uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[sha256.Size]byte]cachedToken{}
	}
	if len(c.entries) >= maxCachedTokens {
		for k, e := range c.entries {
			if !now.Before(e.exp) || e.version != version {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCachedTokens {
			clear(c.entries)
		}
	}
	c.entries[sha256.Sum256([]byte(raw))] = cachedToken{p: p, exp: exp, version: version}
}
