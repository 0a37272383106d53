package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// fakeClock is an injected clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// idp is a real JWKS endpoint on httptest that counts its fetches. It serves
// the public halves of the keys named in serve, answers status when it is
// not 200, and, while block is set, holds each request until block is closed.
type idp struct {
	*httptest.Server
	rsa map[string]*rsa.PrivateKey
	ec  map[string]*ecdsa.PrivateKey

	mu      sync.Mutex
	serve   []string
	status  int
	block   chan struct{}
	fetches int
	entered chan int // receives the fetch number when a fetch arrives
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	p := &idp{rsa: map[string]*rsa.PrivateKey{}, ec: map[string]*ecdsa.PrivateKey{}, status: 200, entered: make(chan int, 100)}
	for _, kid := range []string{"r1", "r2"} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		p.rsa[kid] = k
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.ec["e1"] = k
	p.serve = []string{"r1", "r2", "e1"}
	p.Server = httptest.NewServer(http.HandlerFunc(p.handle))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) handle(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.fetches++
	n, status, block, serve := p.fetches, p.status, p.block, append([]string(nil), p.serve...)
	p.mu.Unlock()
	p.entered <- n
	if block != nil {
		<-block
	}
	if status != 200 {
		http.Error(w, "down", status)
		return
	}
	var keys []map[string]string
	b64 := base64.RawURLEncoding.EncodeToString
	for _, kid := range serve {
		if k, ok := p.rsa[kid]; ok {
			keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256",
				"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())})
		}
		if k, ok := p.ec[kid]; ok {
			keys = append(keys, map[string]string{"kty": "EC", "kid": kid, "crv": "P-256",
				"x": b64(k.X.FillBytes(make([]byte, 32))), "y": b64(k.Y.FillBytes(make([]byte, 32)))})
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

func (p *idp) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
}

func (p *idp) set(f func(p *idp)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// token signs a token valid for a day from now with the key named kid
// (r… RSA, e… EC); header kid is the kid written in the header.
func (p *idp) token(t *testing.T, now time.Time, kid, header string) string {
	t.Helper()
	c := jwt.MapClaims{"exp": now.Add(24 * time.Hour).Unix(), "organizationUuid": org, "client_id": "app", "scope": "READ:PRODUCT"}
	var tk *jwt.Token
	var key any
	if k, ok := p.rsa[kid]; ok {
		tk, key = jwt.NewWithClaims(jwt.SigningMethodRS256, c), k
	} else {
		tk, key = jwt.NewWithClaims(jwt.SigningMethodES256, c), p.ec[kid]
	}
	if header != "" {
		tk.Header["kid"] = header
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setup returns a verifier on p's JWKS with an injected clock.
func setup(t *testing.T, p *idp) (*auth.Verifier, *auth.JWKS, *fakeClock) {
	clk := &fakeClock{t: time.Now()}
	j := &auth.JWKS{URL: p.URL, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &auth.Verifier{Keys: j, Now: clk.Now}, j, clk
}

func randomKID(t *testing.T) string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func mustVerify(t *testing.T, v *auth.Verifier, tok string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify = %v, want success", err)
	}
}

func mustReject(t *testing.T, v *auth.Verifier, tok string, code webhook.Code) {
	t.Helper()
	if _, err := v.Verify(context.Background(), tok); !webhook.IsCode(err, code) {
		t.Fatalf("Verify = %v, want %s", err, code)
	}
}

// settle returns once no fetch runs: a token with an unknown kid joins the
// running fetch and waits for it, or, when none runs and MinRefresh has not
// passed on the fake clock, is rejected at once without fetching.
func settle(t *testing.T, v *auth.Verifier, p *idp, now time.Time) {
	t.Helper()
	mustReject(t, v, p.token(t, now, "r1", "settle-"+randomKID(t)), webhook.Unauthorized)
}

func TestJWKSUnknownKIDIsRateLimited(t *testing.T) {
	p := newIdP(t)
	v, _, clk := setup(t, p)
	mustVerify(t, v, p.token(t, clk.Now(), "r1", "r1"))
	if p.count() != 1 {
		t.Fatalf("fetches after the first token = %d, want 1", p.count())
	}
	for range 30 {
		mustReject(t, v, p.token(t, clk.Now(), "r1", randomKID(t)), webhook.Unauthorized)
	}
	if got := p.count() - 1; got != 0 {
		t.Errorf("30 random kids within MinRefresh of the last fetch caused %d fetches, want 0", got)
	}
	t.Logf("random kid, within MinRefresh of the last fetch: %d fetches for 30 requests", p.count()-1)

	clk.Advance(auth.DefaultMinRefresh)
	before := p.count()
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for range 30 {
		tok := p.token(t, clk.Now(), "r1", randomKID(t))
		wg.Go(func() {
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !webhook.IsCode(err, webhook.Unauthorized) {
			t.Errorf("random kid = %v, want Unauthorized", err)
		}
	}
	if got := p.count() - before; got != 1 {
		t.Errorf("30 concurrent random kids after MinRefresh caused %d fetches, want 1", got)
	}
	t.Logf("random kid, 30 concurrent requests once MinRefresh passed: %d fetch (%.3f per request)", p.count()-before, float64(p.count()-before)/30)
	mustVerify(t, v, p.token(t, clk.Now(), "e1", "e1"))
	if p.count() != before+1 {
		t.Errorf("a known kid caused a fetch")
	}
}

func TestJWKSFailingIdPIsNotFetchedPerRequest(t *testing.T) {
	t.Run("never fetched", func(t *testing.T) {
		p := newIdP(t)
		p.set(func(p *idp) { p.status = 500 })
		v, _, clk := setup(t, p)
		good := p.token(t, clk.Now(), "r1", "r1")
		for range 30 {
			mustReject(t, v, good, webhook.Unavailable) // no key set at all: 503, the token may be fine
		}
		if p.count() != 1 {
			t.Errorf("30 requests against a failing JWKS caused %d fetches, want 1", p.count())
		}
		t.Logf("failing JWKS, never fetched: %d fetch for 30 requests", p.count())
		clk.Advance(auth.DefaultMinRefresh)
		for range 30 {
			mustReject(t, v, good, webhook.Unavailable)
		}
		if p.count() != 2 {
			t.Errorf("after MinRefresh: %d fetches, want 2 (one retry)", p.count())
		}
		p.set(func(p *idp) { p.status = 200 })
		mustReject(t, v, good, webhook.Unavailable) // still within MinRefresh of the retry
		clk.Advance(auth.DefaultMinRefresh)
		mustVerify(t, v, good)
		if p.count() != 3 {
			t.Errorf("recovery: %d fetches, want 3", p.count())
		}
	})
	t.Run("last good set keeps serving", func(t *testing.T) {
		p := newIdP(t)
		v, _, clk := setup(t, p)
		good := p.token(t, clk.Now(), "r1", "r1")
		mustVerify(t, v, good)
		p.set(func(p *idp) { p.status = 503 })
		clk.Advance(auth.DefaultRefreshInterval) // stale: the next check refreshes in the background
		for range 30 {
			mustVerify(t, v, good)
		}
		settle(t, v, p, clk.Now())
		for range 30 {
			mustReject(t, v, p.token(t, clk.Now(), "r1", randomKID(t)), webhook.Unauthorized)
			mustVerify(t, v, good)
		}
		if p.count() != 2 {
			t.Errorf("IdP down with a cached set: %d fetches for 90 requests, want 2 (first + one refresh)", p.count())
		}
		t.Logf("failing JWKS, warm cache: %d refresh for 90 requests (30 of them unknown kids), all known-kid requests accepted", p.count()-1)
	})
}

func TestJWKSSlowFetchDoesNotHoldKnownKeys(t *testing.T) {
	p := newIdP(t)
	v, _, clk := setup(t, p)
	known := p.token(t, clk.Now(), "e1", "e1")
	mustVerify(t, v, known)
	<-p.entered
	baseline := timeVerifies(t, v, known, 200)

	release := make(chan struct{})
	p.set(func(p *idp) { p.block = release })
	clk.Advance(auth.DefaultMinRefresh)
	unknown := make(chan error, 1)
	rotatedIn := p.token(t, clk.Now(), "r1", "rotated-in")
	go func() {
		_, err := v.Verify(context.Background(), rotatedIn)
		unknown <- err
	}()
	<-p.entered // the fetch is at the IdP and stays there until release

	// A caller that gives up stops waiting; the fetch goes on for the others.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, p.token(t, clk.Now(), "r1", "impatient")); err == nil {
		t.Error("a cancelled caller was accepted")
	}

	during := timeVerifies(t, v, known, 200)
	select {
	case err := <-unknown:
		t.Fatalf("the unknown-kid request returned (%v) before the IdP was released", err)
	default: // the fetch is still held: the 200 known-key checks above did not wait for it
	}
	close(release)
	if err := <-unknown; !webhook.IsCode(err, webhook.Unauthorized) {
		t.Errorf("unknown kid after the fetch = %v, want Unauthorized", err)
	}
	if p.count() != 2 {
		t.Errorf("fetches = %d, want 2", p.count())
	}
	t.Logf("known-kid verification: %v per check idle, %v per check while a fetch hangs (added %v)",
		baseline, during, during-baseline)
}

// timeVerifies returns the mean duration of n successful checks of tok.
func timeVerifies(t *testing.T, v *auth.Verifier, tok string, n int) time.Duration {
	t.Helper()
	start := time.Now()
	for range n {
		mustVerify(t, v, tok)
	}
	return time.Since(start) / time.Duration(n)
}

func TestJWKSStaleRefreshRunsInBackground(t *testing.T) {
	p := newIdP(t)
	v, _, clk := setup(t, p)
	known := p.token(t, clk.Now(), "r2", "r2")
	mustVerify(t, v, known)
	<-p.entered
	release := make(chan struct{})
	p.set(func(p *idp) { p.block = release })
	clk.Advance(auth.DefaultRefreshInterval)
	mustVerify(t, v, known) // starts the refresh, does not wait for it
	<-p.entered
	for range 30 {
		mustVerify(t, v, known)
	}
	close(release)
	settle(t, v, p, clk.Now())
	if p.count() != 2 {
		t.Errorf("fetches = %d, want 2 (one background refresh for 31 stale checks)", p.count())
	}
}

func TestJWKSRotation(t *testing.T) {
	p := newIdP(t)
	v, _, clk := setup(t, p)
	old, kept := p.token(t, clk.Now(), "r1", "r1"), p.token(t, clk.Now(), "r2", "r2")
	mustVerify(t, v, old)
	p.set(func(p *idp) { p.serve = []string{"r2"} }) // the IdP retires r1
	clk.Advance(auth.DefaultRefreshInterval - time.Second)
	mustVerify(t, v, old) // cached until the next refresh
	clk.Advance(time.Second)
	mustVerify(t, v, old) // stale: answered from the cache, refreshed in the background
	settle(t, v, p, clk.Now())
	mustReject(t, v, old, webhook.Unauthorized)
	mustVerify(t, v, kept)
	mustVerify(t, v, p.token(t, clk.Now(), "r2", "")) // the only key left needs no kid
	if p.count() != 2 {
		t.Errorf("fetches = %d, want 2", p.count())
	}
}

func TestJWKSKeyChecks(t *testing.T) {
	p := newIdP(t)
	v, _, clk := setup(t, p)
	now := clk.Now()
	mustVerify(t, v, p.token(t, now, "r1", "r1"))
	mustVerify(t, v, p.token(t, now, "e1", "e1"))
	mustReject(t, v, p.token(t, now, "e1", "r1"), webhook.Unauthorized) // ES256 under an RSA kid
	mustReject(t, v, p.token(t, now, "r1", "e1"), webhook.Unauthorized) // RS256 under an EC kid
	mustReject(t, v, p.token(t, now, "r1", ""), webhook.Unauthorized)   // no kid, three keys
	mustReject(t, v, p.token(t, now, "r2", "r1"), webhook.Unauthorized) // r2's signature, r1's kid

	empty := newIdP(t)
	empty.set(func(p *idp) { p.serve = nil }) // {"keys":null}: a failed fetch, not an empty set
	ve, _, _ := setup(t, empty)
	mustReject(t, ve, empty.token(t, now, "r1", "r1"), webhook.Unavailable)
}
