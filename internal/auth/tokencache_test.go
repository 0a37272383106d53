package auth_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// countingKeys is a Versioned KeySource that counts signature checks and
// can lose its key, as a JWKS rotation would.
type countingKeys struct {
	inner   auth.KeySource
	calls   atomic.Int64
	version atomic.Uint64
	gone    atomic.Bool
}

func (c *countingKeys) Key(ctx context.Context, t *jwt.Token) (any, error) {
	c.calls.Add(1)
	if c.gone.Load() {
		return nil, jwt.ErrTokenUnverifiable
	}
	return c.inner.Key(ctx, t)
}

func (c *countingKeys) Version() uint64 { return c.version.Load() }

func TestVerifiedTokensAreCached(t *testing.T) {
	key, err := auth.LoadOrCreateLocalKey(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := now
	keys := &countingKeys{inner: key}
	v := &auth.Verifier{Keys: keys, Now: func() time.Time { return clock }}
	tok, _ := key.Mint(auth.Claims{OrganizationUUID: "ORG", ClientID: "producer"}, now, 10*time.Minute)
	other, _ := key.Mint(auth.Claims{OrganizationUUID: "other", ClientID: "c2"}, now, 10*time.Minute)

	for range 100 {
		p, err := v.Verify(context.Background(), tok)
		if err != nil || p.ClientID != "producer" || p.OrganizationUUID != "org" {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	}
	if n := keys.calls.Load(); n != 1 {
		t.Errorf("100 verifications of one token checked %d signatures, want 1", n)
	}
	if p, _ := v.Verify(context.Background(), other); p.ClientID != "c2" {
		t.Errorf("another token got %+v from the cache", p)
	}

	keys.version.Add(1) // a new key set: verified again, and refused if its key is gone
	keys.gone.Store(true)
	if _, err := v.Verify(context.Background(), tok); !webhook.IsCode(err, webhook.Unauthorized) {
		t.Errorf("after the key left the set: %v, want Unauthorized", err)
	}
	keys.gone.Store(false)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(11 * time.Minute).Add(auth.Leeway) // past exp (and the leeway)
	if _, err := v.Verify(context.Background(), tok); !webhook.IsCode(err, webhook.Unauthorized) {
		t.Errorf("an expired cached token: %v, want Unauthorized", err)
	}
}
