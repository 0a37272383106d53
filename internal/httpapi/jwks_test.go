package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/httpapi"
)

// jwksIdP is a real JWKS endpoint serving one P-256 key, "e1". It counts
// fetches, answers status when it is not 200 and, while block is set, holds
// each fetch until block is closed.
type jwksIdP struct {
	*httptest.Server
	key *ecdsa.PrivateKey

	mu      sync.Mutex
	status  int
	block   chan struct{}
	fetches int
	entered chan struct{}
}

func newJWKSIdP(t *testing.T) *jwksIdP {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &jwksIdP{key: k, status: 200, entered: make(chan struct{}, 100)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.fetches++
		status, block := p.status, p.block
		p.mu.Unlock()
		p.entered <- struct{}{}
		if block != nil {
			<-block
		}
		if status != 200 {
			http.Error(w, "down", status)
			return
		}
		b64 := base64.RawURLEncoding.EncodeToString
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "EC", "kid": "e1", "crv": "P-256",
			"x": b64(k.X.FillBytes(make([]byte, 32))), "y": b64(k.Y.FillBytes(make([]byte, 32)))}}})
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *jwksIdP) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fetches
}

func (p *jwksIdP) token(t *testing.T, kid string, c auth.Claims) string {
	t.Helper()
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
	tk := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tk.Header["kid"] = kid
	s, err := tk.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newJWKSAPI is the whole API on a real store, verifying tokens with p's
// JWKS; the JWKS runs on the returned clock.
func newJWKSAPI(t *testing.T, p *jwksIdP) (*testAPI, *jwksClock) {
	t.Helper()
	db := openStore(t, t.TempDir())
	clk := &jwksClock{t: time.Now()}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	v := &auth.Verifier{Keys: &auth.JWKS{URL: p.URL, Now: clk.now, Log: quiet}}
	a := &testAPI{t: t, db: db, client: trustingClient(t), now: time.Now()}
	a.cfg = httpapi.Config{Now: a.clock}
	srv := httptest.NewServer(httpapi.NewHandler(quiet, db, v, a.client, nil, a.cfg))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a, clk
}

type jwksClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *jwksClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *jwksClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestAPIWithSlowJWKS reproduces audit §2.2: while a fetch hangs at the IdP
// (started by a token with a made-up kid), requests with a cached kid are
// answered, and only the made-up one waits.
func TestAPIWithSlowJWKS(t *testing.T) {
	p := newJWKSIdP(t)
	a, clk := newJWKSAPI(t, p)
	sub := p.token(t, "e1", auth.Claims{OrganizationUUID: org, ClientID: "shop", Scope: allScopes})
	pub := p.token(t, "e1", auth.Claims{ClientID: "pos", Scope: []string{auth.ScopePublish}})
	if r := a.do("GET", "/organizations/self/subscriptions", sub, ""); r.status != 200 {
		t.Fatalf("GET = %d %s", r.status, r.body)
	}
	<-p.entered
	idle := timeRequests(a, sub, 50)

	release := make(chan struct{})
	p.mu.Lock()
	p.block = release
	p.mu.Unlock()
	clk.advance(auth.DefaultMinRefresh)
	forged := p.token(t, "unknown-kid-2", auth.Claims{OrganizationUUID: org, ClientID: "shop", Scope: allScopes})
	unknown := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", a.url+"/organizations/self/subscriptions", nil)
		req.Header.Set("Authorization", "Bearer "+forged)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			unknown <- 0
			return
		}
		resp.Body.Close()
		unknown <- resp.StatusCode
	}()
	<-p.entered // the fetch is held at the IdP until release

	during := timeRequests(a, sub, 50)
	for _, r := range []response{
		a.do("GET", "/organizations/self/subscriptions", sub, ""),
		a.do("POST", "/v1/events", pub, `{"organizationUuid":"`+org+`","eventName":"ProductCreated","eventId":"slow","payload":{}}`),
		a.do("GET", "/healthz", "", ""),
	} {
		if r.status != 200 && r.status != 202 {
			t.Errorf("during the hanging fetch: %d %s", r.status, r.body)
		}
	}
	select {
	case s := <-unknown:
		t.Fatalf("the unknown-kid request was answered (%d) before the IdP was released", s)
	default: // still waiting: the requests above did not wait for the fetch
	}
	close(release)
	if s := <-unknown; s != 401 {
		t.Errorf("unknown kid = %d, want 401", s)
	}
	if p.count() != 2 {
		t.Errorf("fetches = %d, want 2", p.count())
	}
	t.Logf("GET /subscriptions with a cached kid: %v idle, %v while a JWKS fetch hangs (added %v); audit before: 7.49 s",
		idle, during, during-idle)
}

// timeRequests returns the mean duration of n GET /subscriptions with tok.
func timeRequests(a *testAPI, tok string, n int) time.Duration {
	a.t.Helper()
	start := time.Now()
	for range n {
		if r := a.do("GET", "/organizations/self/subscriptions", tok, ""); r.status != 200 {
			a.t.Fatalf("GET = %d %s", r.status, r.body)
		}
	}
	return time.Since(start) / time.Duration(n)
}

// TestAPIWithFailingJWKS reproduces audit §2.2: an IdP answering 500 is
// fetched once per MinRefresh, not once per request, and the API answers
// 503 with Retry-After while it has no key set at all.
func TestAPIWithFailingJWKS(t *testing.T) {
	p := newJWKSIdP(t)
	p.status = 500
	a, clk := newJWKSAPI(t, p)
	sub := p.token(t, "e1", auth.Claims{OrganizationUUID: org, ClientID: "shop", Scope: allScopes})
	for range 30 {
		r := a.do("GET", "/organizations/self/subscriptions", sub, "")
		wantError(t, r, 503, "SERVICE_UNAVAILABLE")
		if r.header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	}
	if p.count() != 1 {
		t.Errorf("30 requests against a failing JWKS caused %d fetches, want 1", p.count())
	}
	t.Logf("failing JWKS: %d fetch for 30 requests (audit before: 30)", p.count())

	p.mu.Lock()
	p.status = 200
	p.mu.Unlock()
	clk.advance(auth.DefaultMinRefresh)
	if r := a.do("GET", "/organizations/self/subscriptions", sub, ""); r.status != 200 {
		t.Errorf("after the IdP recovered and MinRefresh passed: %d %s", r.status, r.body)
	}
}
