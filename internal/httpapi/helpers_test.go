package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/ssrf"
	"github.com/pusher-hq/pusher/internal/ssrf/ssrftest"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/pgtest"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

const (
	org      = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"
	otherOrg = "1ce52f60-645f-11ea-a80e-0cec44ada668"
	subUUID  = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	subUUID2 = "7c9e43ce-912c-11eb-a8b3-0242ac130003"
)

var allScopes = []string{"READ:PURCHASE", "READ:PRODUCT", "READ:USERINFO"}

// onPostgres is set for the second run of the tests (see TestMain).
var onPostgres bool

// TestMain runs the tests on SQLite, then again on PostgreSQL when
// PUSHER_TEST_POSTGRES is set, so the API behaves the same on both drivers.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && os.Getenv("PUSHER_TEST_POSTGRES") != "" {
		fmt.Println("== httpapi: the same tests on PostgreSQL")
		onPostgres = true
		code = m.Run()
	}
	os.Exit(code)
}

// openStore opens an empty store for a test: SQLite in dir, or a fresh
// PostgreSQL schema in the second run.
func openStore(t *testing.T, dir string) store.Store {
	t.Helper()
	if onPostgres {
		return pgtest.Open(t)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testAPI is the whole HTTP API on a real store (SQLite, or PostgreSQL),
// with real JWTs and a real delivery client for the TestMessage handshake.
type testAPI struct {
	t      *testing.T
	url    string
	db     store.Store
	key    *auth.LocalKey
	client *delivery.Client
	cfg    httpapi.Config

	mu  sync.Mutex
	now time.Time

	wakes atomic.Int64 // calls of NewHandler's wake
}

func newAPI(t *testing.T, configure ...func(*httpapi.Config)) *testAPI {
	t.Helper()
	dir := t.TempDir()
	db := openStore(t, dir)
	key, err := auth.LoadOrCreateLocalKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	a := &testAPI{t: t, db: db, key: key, now: time.Date(2021, 3, 29, 16, 31, 47, 87507000, time.UTC)}
	a.client = trustingClient(t)
	a.cfg = httpapi.Config{Now: a.clock}
	for _, c := range configure {
		c(&a.cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(httpapi.NewHandler(log, db, &auth.Verifier{Keys: key}, a.client, func() { a.wakes.Add(1) }, a.cfg))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// trustingClient is a delivery client that trusts httptest's TLS certificate
// and may deliver to loopback (as -allow-destination-cidrs
// 127.0.0.0/8,::1/128 allows). It resolves with a test DNS server that
// knows no names, so tests do not depend on the machine's DNS.
func trustingClient(t *testing.T) *delivery.Client {
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(tlsSrv.Close)
	loopback := &ssrf.Guard{
		Allow:    []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		Resolver: ssrftest.NewDNS(t).Resolver(),
	}
	c := delivery.NewClient("pusher/test", 2*time.Second, 4, delivery.WithGuard(loopback))
	c.HTTP.Transport.(*http.Transport).TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	return c
}

func (a *testAPI) clock() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.now
}

func (a *testAPI) setNow(t time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = t
}

// token mints a token for org and client "shop" with the given scopes.
func (a *testAPI) token(org string, scopes ...string) string {
	return a.tokenFor(org, "shop", scopes...)
}

func (a *testAPI) tokenFor(org, client string, scopes ...string) string {
	a.t.Helper()
	tok, err := a.key.Mint(auth.Claims{OrganizationUUID: org, ClientID: client, Scope: scopes}, time.Now(), time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request; body "" sends none. Extra headers are "Name: value".
func (a *testAPI) do(method, path, token, body string, headers ...string) response {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// zettleError decodes an error body and checks it has exactly Zettle's keys.
func zettleError(t *testing.T, r response) (errorType, message string, violations []map[string]string) {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &raw); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if len(raw) != 3 || raw["developerMessage"] == nil || raw["errorType"] == nil || raw["violations"] == nil {
		t.Fatalf("error body %s lacks developerMessage/errorType/violations", r.body)
	}
	json.Unmarshal(raw["errorType"], &errorType)
	json.Unmarshal(raw["developerMessage"], &message)
	if err := json.Unmarshal(raw["violations"], &violations); err != nil {
		t.Fatalf("violations: %v", err)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("error Content-Type = %q", r.header.Get("Content-Type"))
	}
	return errorType, message, violations
}

// wantError checks status and errorType of an error response.
func wantError(t *testing.T, r response, status int, errorType string) []map[string]string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	got, msg, v := zettleError(t, r)
	if got != errorType {
		t.Errorf("errorType = %q, want %q (message %q)", got, errorType, msg)
	}
	if msg == "" {
		t.Error("empty developerMessage")
	}
	return v
}

// newReceiver starts an HTTPS webhook receiver that records every request
// and answers every one, the TestMessage included, with status.
func newReceiver(t *testing.T, status int) *webhooktest.Server {
	r := webhooktest.NewTLSServer(t)
	r.ScriptTestMessages(true)
	r.SetStatus(status)
	return r
}

func createBody(uuid, dest string, events ...string) string {
	if events == nil {
		events = []string{}
	}
	b, _ := json.Marshal(map[string]any{
		"uuid": uuid, "transportName": "WEBHOOK", "eventNames": events,
		"destination": dest, "contactEmail": "your_email@domain.com",
	})
	return string(b)
}

func readGolden(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
