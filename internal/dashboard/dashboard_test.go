package dashboard

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

const (
	org      = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"
	org2     = "8a1c2f7e-3b4d-4e5f-9a6b-7c8d9e0f1a2b"
	subOK    = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	subBad   = "7c9e43ce-912c-11eb-a8b3-0242ac130003"
	subOther = "bc281bd9-bdb0-1011-ad31-6744c6f2972c"
	subGone  = "0e9a5b4c-1111-11eb-8dcd-0242ac130003"
	msgOK    = "5d7e1c02-6b1a-5c39-9b7e-3a1f0d4c2b11"
	msgBad   = "9a0b1c2d-3e4f-5a6b-8c7d-0e1f2a3b4c5d"
	password = "correct horse battery"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture returns a store with an ACTIVE and a FAILING subscription in
// org, one ACTIVE in org2 and a deleted one.
func fixture() *fakeStore {
	sub := func(uuid, o, dest string, status webhook.Status, events ...string) *webhook.Subscription {
		return &webhook.Subscription{UUID: uuid, OrganizationUUID: o, ClientID: "shop-app", TransportName: webhook.TransportWebhook,
			EventNames: events, Destination: dest, ContactEmail: "ops@shop.example", Status: status, SigningKey: "secret-signing-key",
			Created: t0.Add(-48 * time.Hour), Updated: t0.Add(-48 * time.Hour)}
	}
	bad := sub(subBad, org, "https://broken.example/hook?token=hunter2", webhook.Failing, webhook.PurchaseCreated)
	bad.FailingSince, bad.Failures, bad.NextRetryAt = t0.Add(-30*time.Minute), 12, t0.Add(10*time.Minute)
	failed := &store.Attempt{StartedAt: t0.Add(-5 * time.Minute), Duration: 12 * time.Millisecond, StatusCode: 503,
		ErrorClass: webhook.ClassHTTPStatus, ResponseBody: []byte("<h1>Service Unavailable</h1>"), RemoteAddr: "203.0.113.7:443"}
	ok := &store.Attempt{StartedAt: t0.Add(-2 * time.Minute), Duration: 4 * time.Millisecond, StatusCode: 200}
	return &fakeStore{
		subs: []*webhook.Subscription{
			sub(subOK, org, "https://shop.example/zettle", webhook.Active, webhook.ProductCreated, webhook.ProductUpdated),
			bad,
			sub(subOther, org2, "https://other.example/in", webhook.Active),
		},
		deleted: map[string]store.DeletedSubscription{subGone: {UUID: subGone, OrganizationUUID: org, ClientID: "shop-app",
			EventNames: []string{webhook.PurchaseCreated}, Destination: "https://gone.example/x", DeletedAt: t0.Add(-time.Hour), Exhausted: true}},
		messages: map[string][]store.LogMessage{
			subOK: {{ID: 2, MessageID: msgOK, SubscriptionUUID: subOK, EventName: webhook.ProductCreated, State: store.LogDelivered,
				Attempts: 1, CreatedAt: t0.Add(-2 * time.Minute), FinishedAt: t0.Add(-2 * time.Minute), LastAttempt: ok,
				Envelope:    []byte(`{"organizationUuid":"` + org + `","eventName":"ProductCreated","payload":"{\"a\":1}"}`),
				AttemptList: []store.Attempt{*ok}}},
			subBad: {{ID: 3, MessageID: msgBad, SubscriptionUUID: subBad, EventName: webhook.PurchaseCreated, State: store.LogFailing,
				Attempts: 12, CreatedAt: t0.Add(-31 * time.Minute), LastAttempt: failed, NextAttemptAt: t0.Add(10 * time.Minute),
				Envelope: []byte(`{"eventName":"PurchaseCreated","payload":"{}"}`), AttemptList: []store.Attempt{*failed}}},
			subGone: {{ID: 1, MessageID: "11111111-2222-5333-8444-555555555555", SubscriptionUUID: subGone, EventName: webhook.PurchaseCreated,
				State: store.LogDead, CreatedAt: t0.Add(-3 * time.Hour), FinishedAt: t0.Add(-time.Hour)}},
		},
		notices: []store.NoticeRecord{
			{Notice: webhook.Notice{ID: 2, Kind: webhook.NoticeFailing, To: "ops@shop.example", OrganizationUUID: org, SubscriptionUUID: subBad,
				Destination: bad.Destination, CreatedAt: t0.Add(-30 * time.Minute), Failure: webhook.Failure{Class: webhook.ClassHTTPStatus, StatusCode: 503},
				NextAttemptAt: t0.Add(-29 * time.Minute), DeleteAt: t0.Add(71 * time.Hour)}, Attempts: 2, LastError: "dial tcp: connection refused"},
			{Notice: webhook.Notice{ID: 1, Kind: webhook.NoticeRecovered, To: "ops@shop.example", OrganizationUUID: org, SubscriptionUUID: subOK,
				Destination: "https://shop.example/zettle", CreatedAt: t0.Add(-20 * time.Hour)}, SentAt: t0.Add(-20 * time.Hour)},
		},
		queue: store.QueueStats{Pending: 7, Leased: 1, Dead: 1, OldestPending: t0.Add(-31 * time.Minute)},
		activity: store.ActivitySeries{
			Buckets: []store.ActivityBucket{{Events: 5, Delivered: 4, Failed: 1}, {Events: 3, Delivered: 3}, {Events: 0, Failed: 2}},
			Subscriptions: map[string]store.SubscriptionActivity{
				subBad: {Failed: 12, LastFailure: failed, Backlog: 7, OldestUndelivered: t0.Add(-31 * time.Minute)},
				subOK:  {Delivered: 40, LastSuccess: t0.Add(-2 * time.Minute)},
			},
		},
		stats:       store.AttemptStats{Delivered: 40, Failed: 2, Durations: []time.Duration{time.Millisecond, 3 * time.Millisecond, 40 * time.Millisecond}, Backlog: 7},
		replayCount: 42,
	}
}

// fakeTokens accepts "admin-token" (PUSHER:ADMIN) and "subscriber-token".
type fakeTokens struct{}

func (fakeTokens) Authenticate(r *http.Request) (auth.Principal, error) {
	switch r.Header.Get("Authorization") {
	case "Bearer admin-token":
		return auth.Principal{Subject: "alice", ClientID: "ops", Scopes: []string{auth.ScopeAdmin}}, nil
	case "Bearer short-admin-token": // expires 30 minutes after t0
		return auth.Principal{Subject: "bob", ClientID: "ops", Scopes: []string{auth.ScopeAdmin}, Expires: t0.Add(30 * time.Minute)}, nil
	case "Bearer subscriber-token":
		return auth.Principal{OrganizationUUID: org, ClientID: "shop-app", Scopes: []string{"READ:PRODUCT"}}, nil
	}
	return auth.Principal{}, webhook.TypedErrorf(webhook.Unauthorized, webhook.TypeUnauthorized, "The access token signature is not valid")
}

// env is a dashboard under test.
type env struct {
	t     *testing.T
	st    *fakeStore
	clock *clock
	h     http.Handler
	logs  *bytes.Buffer
	wakes int
}

func newEnv(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	e := &env{t: t, st: fixture(), clock: &clock{t: t0}, logs: &bytes.Buffer{}}
	cfg := Config{Store: e.st, Password: password, Tokens: fakeTokens{}, Now: e.clock.Now, SessionKey: []byte("test session key"),
		Logger:   slog.New(slog.NewTextHandler(syncWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Schedule: webhook.ZettleSchedule, Wake: func() { e.wakes++ }, Timeout: 10 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

type syncWriter struct{ w io.Writer }

var logMu sync.Mutex

func (s syncWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return s.w.Write(p)
}

// browser is a client with cookies (what a browser sends back).
type browser struct {
	e       *env
	cookies map[string]*http.Cookie
	header  http.Header // extra request headers
	remote  string
}

func (e *env) browser() *browser {
	return &browser{e: e, cookies: map[string]*http.Cookie{}, header: http.Header{}, remote: "192.0.2.10:50000"}
}

type response struct {
	*http.Response
	body string
}

func (b *browser) do(method, target string, form url.Values) response {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = b.remote
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range b.header {
		r.Header[k] = vs
	}
	for _, c := range b.cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	b.e.h.ServeHTTP(w, r)
	res := w.Result()
	res.Request = r
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return response{Response: res, body: w.Body.String()}
}

func (b *browser) get(target string) response {
	b.e.t.Helper()
	return b.do(http.MethodGet, target, nil)
}

func (b *browser) post(target string, form url.Values) response {
	b.e.t.Helper()
	return b.do(http.MethodPost, target, form)
}

var (
	nonceRE = regexp.MustCompile(`name="nonce" value="([^"]+)"`)
	csrfRE  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

func field(t *testing.T, re *regexp.Regexp, body string) string {
	t.Helper()
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in the page:\n%s", re, body)
	}
	return html.UnescapeString(m[1])
}

// login logs b in with form (password or token) and returns the answer.
func (b *browser) login(form url.Values) response {
	b.e.t.Helper()
	page := b.get(Prefix + "/login")
	if page.StatusCode != http.StatusOK {
		b.e.t.Fatalf("GET login = %d", page.StatusCode)
	}
	form.Set("nonce", field(b.e.t, nonceRE, page.body))
	return b.post(Prefix+"/login", form)
}

// loggedIn returns a browser logged in with the password.
func (e *env) loggedIn() *browser {
	e.t.Helper()
	b := e.browser()
	if res := b.login(url.Values{"password": {password}}); res.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login = %d\n%s", res.StatusCode, res.body)
	}
	return b
}

// csrf returns the CSRF token of b's session, from a page.
func (b *browser) csrf() string {
	b.e.t.Helper()
	return field(b.e.t, csrfRE, b.get(Prefix+"/").body)
}

func wantStatus(t *testing.T, res response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s = %d, want %d\n%s", res.Request.Method, res.Request.URL, res.StatusCode, status, res.body)
	}
}

func wantContains(t *testing.T, res response, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(res.body, p) {
			t.Errorf("%s %s: page lacks %q", res.Request.Method, res.Request.URL, p)
		}
	}
}

func wantLocation(t *testing.T, res response, prefix string) {
	t.Helper()
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, prefix) {
		t.Errorf("%s %s: Location %q, want %s…", res.Request.Method, res.Request.URL, loc, prefix)
	}
}

// pages are every page with a path that exists in the fixture.
var pages = []string{
	Prefix + "/",
	Prefix + "/subscriptions",
	Prefix + "/subscriptions?status=FAILING&event=PurchaseCreated&host=broken",
	Prefix + "/subscriptions/" + subBad,
	Prefix + "/subscriptions/" + subGone,
	Prefix + "/subscriptions/" + subBad + "/messages/" + msgBad,
	Prefix + "/subscriptions/" + subBad + "/delete",
	Prefix + "/notifications",
	Prefix + "/notifications?show=pending",
}

// actions are every action with a form that would succeed.
func actions() []struct {
	path string
	form url.Values
} {
	return []struct {
		path string
		form url.Values
	}{
		{Prefix + "/subscriptions/" + subBad + "/messages/" + msgBad + "/redeliver", url.Values{}},
		{Prefix + "/subscriptions/" + subBad + "/replay", url.Values{"since": {"2026-12-01T10:00"}, "until": {"2026-12-01T12:00"}}},
		{Prefix + "/subscriptions/" + subBad + "/replay", url.Values{"step": {"confirm"}, "key": {strings.Repeat("ab", 16)},
			"since": {"2026-12-01T10:00:00Z"}, "until": {"2026-12-01T12:00:00Z"}}},
		{Prefix + "/subscriptions/" + subBad + "/delete", url.Values{"confirm": {"yes"}}},
		{Prefix + "/logout", url.Values{}},
	}
}

func TestRefusedWhenNothingIsConfigured(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Password, c.Tokens, c.Local = "", nil, false })
	for _, p := range append(pages, Prefix+"/login", Prefix+"/static/dashboard.css") {
		res := e.browser().get(p)
		wantStatus(t, res, http.StatusForbidden)
		wantContains(t, res, "dashboard is off", "PUSHER_DASHBOARD_PASSWORD")
	}
	res := e.browser().post(Prefix+"/login", url.Values{"password": {""}})
	wantStatus(t, res, http.StatusForbidden)
}

func TestPagesNeedASession(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range pages {
		res := e.browser().get(p)
		wantStatus(t, res, http.StatusSeeOther)
		wantLocation(t, res, Prefix+"/login?next="+url.QueryEscape(p))
	}
	if res := e.browser().get(Prefix); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != Prefix+"/" {
		t.Errorf("GET /dashboard = %d %s, want a redirect to /dashboard/", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestLoginWithThePassword(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	page := b.get(Prefix + "/login?next=" + url.QueryEscape(Prefix+"/notifications"))
	wantStatus(t, page, http.StatusOK)
	wantContains(t, page, `<label for="password">`, `<label for="token">`, `name="next" value="/dashboard/notifications"`)
	if c := b.cookies[loginCookie]; c == nil || !c.Secure || !c.HttpOnly {
		t.Fatalf("login cookie = %+v, want a Secure HttpOnly nonce", c)
	}

	res := b.login(url.Values{"password": {"wrong"}})
	wantStatus(t, res, http.StatusUnauthorized)
	wantContains(t, res, "That password is not right.")
	if b.cookies[sessionCookie] != nil {
		t.Fatal("a wrong password got a session cookie")
	}

	res = b.login(url.Values{"password": {password}, "next": {Prefix + "/notifications"}})
	wantStatus(t, res, http.StatusSeeOther)
	wantLocation(t, res, Prefix+"/notifications")
	c := b.cookies[sessionCookie]
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != Prefix || c.MaxAge != 8*3600 {
		t.Fatalf("session cookie = %+v, want Secure, HttpOnly, SameSite=Lax, Path=/dashboard, 8 h", c)
	}
	wantStatus(t, b.get(Prefix+"/notifications"), http.StatusOK)
	if !strings.Contains(e.logs.String(), "dashboard login") || !strings.Contains(e.logs.String(), "method=password") {
		t.Errorf("login not logged:\n%s", e.logs)
	}
	// Logged in, the login page sends the browser on.
	wantStatus(t, b.get(Prefix+"/login"), http.StatusSeeOther)
}

func TestLoginRefusesOpenRedirects(t *testing.T) {
	e := newEnv(t, nil)
	for _, next := range []string{"https://evil.example/", "//evil.example/dashboard/", "/dashboard/../x", "/other", Prefix + "/login"} {
		res := e.browser().login(url.Values{"password": {password}, "next": {next}})
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != Prefix+"/" {
			t.Errorf("next %q: Location %q, want the overview", next, loc)
		}
	}
}

func TestLoginWithAnAdminToken(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Password = "" })
	page := e.browser().get(Prefix + "/login")
	if strings.Contains(page.body, `id="password"`) {
		t.Error("the login page asks for a password although none is configured")
	}
	for _, c := range []struct {
		token  string
		status int
		text   string
	}{
		{"forged", http.StatusUnauthorized, "The access token signature is not valid."},
		{"subscriber-token", http.StatusForbidden, "lacks the PUSHER:ADMIN scope"},
		{"", http.StatusBadRequest, "Enter the password or an admin token."},
	} {
		res := e.browser().login(url.Values{"token": {c.token}})
		wantStatus(t, res, c.status)
		wantContains(t, res, c.text)
	}
	// A password is not accepted when none is configured.
	wantStatus(t, e.browser().login(url.Values{"password": {"anything"}}), http.StatusBadRequest)

	b := e.browser()
	res := b.login(url.Values{"token": {"  admin-token\n"}})
	wantStatus(t, res, http.StatusSeeOther)
	home := b.get(Prefix + "/")
	wantStatus(t, home, http.StatusOK)
	wantContains(t, home, "token alice")
}

func TestLoginNeedsTheFormsNonce(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	b.get(Prefix + "/login")
	res := b.post(Prefix+"/login", url.Values{"password": {password}, "nonce": {"made-up"}})
	wantStatus(t, res, http.StatusForbidden)
	// A nonce without its cookie (another browser's form) fails too.
	nonce := field(t, nonceRE, e.browser().get(Prefix+"/login").body)
	res = e.browser().post(Prefix+"/login", url.Values{"password": {password}, "nonce": {nonce}})
	wantStatus(t, res, http.StatusForbidden)
	// From another site.
	b = e.browser()
	b.header.Set("Origin", "https://evil.example")
	wantStatus(t, b.login(url.Values{"password": {password}}), http.StatusForbidden)
}

func TestFailedLoginsAreLimited(t *testing.T) {
	e := newEnv(t, nil)
	for i := range loginBurst {
		if res := e.browser().login(url.Values{"password": {"guess"}}); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d, want 401", i, res.StatusCode)
		}
	}
	res := e.browser().login(url.Values{"password": {password}})
	wantStatus(t, res, http.StatusTooManyRequests)
	other := e.browser()
	other.remote = "198.51.100.1:4000"
	wantStatus(t, other.login(url.Values{"password": {password}}), http.StatusSeeOther)
	e.clock.Add(loginEvery)
	wantStatus(t, e.browser().login(url.Values{"password": {password}}), http.StatusSeeOther)
}

func TestSessionsExpireAndEndWithThePassword(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	e.clock.Add(8*time.Hour - time.Second)
	wantStatus(t, b.get(Prefix+"/"), http.StatusOK)
	e.clock.Add(time.Second)
	wantStatus(t, b.get(Prefix+"/"), http.StatusSeeOther)

	e = newEnv(t, nil)
	b = e.loggedIn()
	changed := newEnv(t, func(c *Config) { c.Password = "another password" })
	b.e = changed
	wantStatus(t, b.get(Prefix+"/"), http.StatusSeeOther)

	// A tampered cookie is no session.
	e = newEnv(t, nil)
	b = e.loggedIn()
	c := b.cookies[sessionCookie]
	c.Value = strings.Replace(c.Value, c.Value[:4], "eyJp", 1) + "x"
	wantStatus(t, b.get(Prefix+"/"), http.StatusSeeOther)
}

func TestEveryPageRenders(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	for _, p := range pages {
		res := b.get(p)
		wantStatus(t, res, http.StatusOK)
		if ct := res.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", p, cc)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p, csp)
		}
		wantContains(t, res, `<html lang="en">`, `name="viewport"`, `<main id="main"`, "<h1>", "All times are UTC")
		if strings.Contains(res.body, "secret-signing-key") || strings.Contains(res.body, "hunter2") {
			t.Errorf("%s shows a signing key or a destination's query value", p)
		}
	}
}

func TestOverview(t *testing.T) {
	e := newEnv(t, nil)
	res := e.loggedIn().get(Prefix + "/")
	wantContains(t, res,
		`<svg viewBox="0 0 720 220" role="img"`, `id="chart-hour"`, `id="chart-day"`, "Last hour, per minute", "Last 24 hours, per minute",
		`<polyline class="line events"`, `<polyline class="line failed"`,
		"8 events in", // 5+3 in the fixture's buckets
		`id="count-active">2<`, `id="count-failing" class="bad">1<`,
		`id="backlog-count">8<`, "31 min</strong> old",
		"Send failed, retrying", // the outbox
		`data-subscription="`+subBad+`" data-status="FAILING"`, "HTTP 503 from https://broken.example/hook?token=xxxxx",
		"2 d 23 h", "2026-12-04 11:10:00 UTC", // deleted in: the last retry is 71 h 40 min after the first failure, 30 min ago
		`data-refresh="10"`, `id="autorefresh"`)
}

func TestSubscriptionsFilter(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	for _, c := range []struct {
		query      string
		want, skip []string
	}{
		{"", []string{subOK, subBad, subOther, "Organization <span class=\"mono\">" + org2}, nil},
		{"?status=FAILING", []string{subBad}, []string{subOK, subOther}},
		{"?status=active", []string{subOK, subOther}, []string{subBad}},
		{"?event=ProductUpdated", []string{subOK, subOther}, []string{subBad}}, // subOther has every event
		{"?host=BROKEN", []string{subBad}, []string{subOK, subOther}},
		{"?org=8a1c", []string{subOther}, []string{subOK, subBad}},
	} {
		res := b.get(Prefix + "/subscriptions" + c.query)
		wantStatus(t, res, http.StatusOK)
		for _, s := range c.want {
			if !strings.Contains(res.body, s) {
				t.Errorf("%s: %s missing", c.query, s)
			}
		}
		for _, s := range c.skip {
			if strings.Contains(res.body, `data-subscription="`+s+`"`) {
				t.Errorf("%s: %s listed", c.query, s)
			}
		}
	}
	res := b.get(Prefix + "/subscriptions?status=FAILING")
	wantContains(t, res, "1 of 3 subscriptions", "12 failed attempts so far", "none in 24 h", `<label for="f-host">Destination host</label>`)
}

func TestSubscriptionPage(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	res := b.get(Prefix + "/subscriptions/" + subBad + "?state=failing")
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "FAILING", "Failing since", "12 failed attempts", "Next retry", "Deleted in",
		`data-message="`+msgBad+`" data-state="failing"`, "HTTP 503 from", "Redeliver", `action="/dashboard/subscriptions/`+subBad+`/replay"`,
		`<input type="datetime-local" id="r-since" name="since" value="2026-12-01T11:00"`, `value="PurchaseCreated"`,
		"95.2 %", ">40 ms<") // stats: 40 of 42, p99 of the durations
	if f := e.st.lastFilter; f.OrganizationUUID != org || f.SubscriptionUUID != subBad || len(f.States) != 1 || f.States[0] != "failing" || f.Limit != pageSize {
		t.Errorf("LogMessages filter = %+v", f)
	}
	res = b.get(Prefix + "/subscriptions/" + subGone)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "Deleted subscription", "because its retries ran out", `data-state="dead"`)
	if strings.Contains(res.body, "/redeliver") || strings.Contains(res.body, "/replay") {
		t.Error("a deleted subscription's page offers redelivery or replay into it")
	}
	wantStatus(t, b.get(Prefix+"/subscriptions/"+"00000000-0000-1000-8000-000000000000"), http.StatusNotFound)
	wantStatus(t, b.get(Prefix+"/subscriptions/"+subBad+"?state=bogus"), http.StatusBadRequest)
	wantStatus(t, b.get(Prefix+"/subscriptions/"+subBad+"?before=x"), http.StatusBadRequest)
}

func TestMessagePage(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	res := b.get(Prefix + "/subscriptions/" + subBad + "/messages/" + msgBad)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, `id="message-state" data-state="failing" data-attempts="12"`, "✗ HTTP 503 from https://broken.example/hook?token=xxxxx",
		"203.0.113.7:443", "&lt;h1&gt;Service Unavailable&lt;/h1&gt;", `&#34;eventName&#34;: &#34;PurchaseCreated&#34;`,
		"The subscription is FAILING", `id="redeliver"`)
	res = b.get(Prefix + "/subscriptions/" + subOK + "/messages/" + msgOK)
	wantContains(t, res, `data-state="delivered"`, "✓ delivered")
	wantStatus(t, b.get(Prefix+"/subscriptions/"+subOK+"/messages/"+msgBad), http.StatusNotFound)
}

func TestNotificationsPage(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	res := b.get(Prefix + "/notifications")
	wantContains(t, res, `data-notice="2" data-kind="failing"`, "2 failed sends", "dial tcp: connection refused", `data-notice="1" data-kind="recovered"`,
		"0 waiting,\n1 retrying after a failed send, 1 sent")
	res = b.get(Prefix + "/notifications?show=sent")
	if strings.Contains(res.body, `data-notice="2"`) {
		t.Error("show=sent lists a pending notice")
	}
	wantStatus(t, b.get(Prefix+"/notifications?show=bogus"), http.StatusBadRequest)
}

func TestActionsNeedTheCSRFToken(t *testing.T) {
	for _, a := range actions() {
		e := newEnv(t, nil)
		b := e.loggedIn()
		token := b.csrf()
		for name, form := range map[string]url.Values{"none": {}, "wrong": {"csrf": {"x" + token}}} {
			for k, v := range a.form {
				form[k] = v
			}
			res := b.post(a.path, form)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s CSRF token = %d, want 403", a.path, name, res.StatusCode)
			}
		}
		// Another session's token.
		other := e.loggedIn()
		form := url.Values{"csrf": {other.csrf()}}
		for k, v := range a.form {
			form[k] = v
		}
		wantStatus(t, b.post(a.path, form), http.StatusForbidden)
		// The right token from another site.
		form.Set("csrf", token)
		b.header.Set("Origin", "https://evil.example")
		wantStatus(t, b.post(a.path, form), http.StatusForbidden)
		b.header = http.Header{"Sec-Fetch-Site": {"cross-site"}}
		wantStatus(t, b.post(a.path, form), http.StatusForbidden)
		// Without a session.
		wantStatus(t, e.browser().post(a.path, form), http.StatusForbidden)
		if len(e.st.redelivered)+len(e.st.replays)+len(e.st.deletions) != 0 {
			t.Errorf("POST %s: refused requests reached the store: %v %v %v", a.path, e.st.redelivered, e.st.replays, e.st.deletions)
		}
		if !strings.Contains(e.logs.String(), "dashboard action refused") {
			t.Errorf("POST %s: refusals not logged", a.path)
		}
		// Same origin with the token works.
		b.header = http.Header{"Origin": {"http://example.com"}, "Sec-Fetch-Site": {"same-origin"}}
		if res := b.post(a.path, form); res.StatusCode != http.StatusSeeOther && res.StatusCode != http.StatusOK {
			t.Errorf("POST %s with the token = %d\n%s", a.path, res.StatusCode, res.body)
		}
	}
}

func TestRedeliver(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	path := Prefix + "/subscriptions/" + subOK + "/messages/" + msgOK
	res := b.post(path+"/redeliver", url.Values{"csrf": {b.csrf()}})
	wantStatus(t, res, http.StatusSeeOther)
	wantLocation(t, res, path+"?done=redelivered")
	if len(e.st.redelivered) != 1 || e.st.redelivered[0] != subOK+"/"+msgOK || !e.st.lastNow.Equal(t0) || e.wakes != 1 {
		t.Fatalf("redelivered %v at %v, %d wakes", e.st.redelivered, e.st.lastNow, e.wakes)
	}
	sid := sessionID(t, b)
	if !regexp.MustCompile(`msg="dashboard action" action=redeliver session=` + sid + ` operator=operator login=password .*subscription=` + subOK + ` messageId=` + msgOK).MatchString(e.logs.String()) {
		t.Errorf("redelivery not logged with the session:\n%s", e.logs)
	}
	page := b.get(res.Header.Get("Location"))
	wantContains(t, page, "Redelivery queued", `data-state="pending"`)

	// Unknown message; a deleted subscription's.
	res = b.post(Prefix+"/subscriptions/"+subOK+"/messages/"+msgBad+"/redeliver", url.Values{"csrf": {b.csrf()}})
	wantStatus(t, res, http.StatusNotFound)
	res = b.post(Prefix+"/subscriptions/"+subGone+"/messages/x/redeliver", url.Values{"csrf": {b.csrf()}})
	wantStatus(t, res, http.StatusNotFound)
	wantContains(t, res, "replay its dead letters into another subscription")
}

func sessionID(t *testing.T, b *browser) string {
	t.Helper()
	s, ok := b.e.h.(*handler).keys.decode(b.cookies[sessionCookie].Value, b.e.clock.Now())
	if !ok {
		t.Fatal("no session")
	}
	return s.ID
}

func TestReplayShowsTheCountAndNeedsConfirming(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	csrf := b.csrf()
	base := Prefix + "/subscriptions/" + subOK
	res := b.post(base+"/replay", url.Values{"csrf": {csrf}, "since": {"2026-12-01T10:00"}, "until": {"2026-12-01T12:00"},
		"event": {webhook.ProductUpdated}, "from": {subGone}})
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "Confirm the replay", `data-count="42"`, "<strong>42</strong> retained events", "Queue 42 events",
		"2026-12-01 10:00:00 UTC", "ProductUpdated", subGone)
	if len(e.st.replays) != 1 || !e.st.replays[0].DryRun {
		t.Fatalf("replays %+v, want one dry run", e.st.replays)
	}
	p := e.st.replays[0]
	if p.SubscriptionUUID != subOK || p.OrganizationUUID != org || !p.Since.Equal(t0.Add(-2*time.Hour)) || !p.Until.Equal(t0) ||
		len(p.EventNames) != 1 || p.EventNames[0] != webhook.ProductUpdated || p.FromSubscriptionUUID != subGone {
		t.Errorf("dry run %+v", p)
	}

	// The confirmation form, as the browser sends it.
	confirm := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([a-z]+)" value="([^"]*)">`).FindAllStringSubmatch(res.body, -1) {
		confirm.Add(m[1], html.UnescapeString(m[2]))
	}
	if confirm.Get("step") != "confirm" || confirm.Get("key") == "" {
		t.Fatalf("confirmation form %v", confirm)
	}
	res = b.post(base+"/replay", confirm)
	wantStatus(t, res, http.StatusSeeOther)
	wantLocation(t, res, base+"?done=replayed&n=42")
	p = e.st.replays[1]
	if p.DryRun || p.IdempotencyKey != "dashboard:"+confirm.Get("key") || p.RequestHash == "" || !p.Since.Equal(t0.Add(-2*time.Hour)) {
		t.Errorf("replay %+v", p)
	}
	if e.wakes != 1 {
		t.Errorf("%d wakes, want 1", e.wakes)
	}
	wantContains(t, b.get(res.Header.Get("Location")), "Replay queued 42 events")
	// Confirming twice queues once.
	res = b.post(base+"/replay", confirm)
	wantLocation(t, res, base+"?done=repeated&n=42")
	if !strings.Contains(e.logs.String(), "action=replay session="+sessionID(t, b)) {
		t.Errorf("replay not logged with the session:\n%s", e.logs)
	}

	for _, c := range []struct {
		form   url.Values
		status int
	}{
		{url.Values{"until": {"2026-12-01T12:00"}}, http.StatusBadRequest},
		{url.Values{"since": {"2026-12-01T12:00"}, "until": {"2026-12-01T12:00"}}, http.StatusBadRequest},
		{url.Values{"since": {"yesterday"}, "until": {"2026-12-01T12:00"}}, http.StatusBadRequest},
		{url.Values{"since": {"2026-12-01T10:00"}, "until": {"2026-12-01T12:00"}, "event": {webhook.PurchaseCreated}}, http.StatusUnprocessableEntity},
		{url.Values{"since": {"2026-12-01T10:00"}, "until": {"2026-12-01T12:00"}, "from": {"nope"}}, http.StatusBadRequest},
		{url.Values{"since": {"2026-12-01T10:00"}, "until": {"2026-12-01T12:00"}, "step": {"confirm"}, "key": {"short"}}, http.StatusBadRequest},
	} {
		c.form.Set("csrf", csrf)
		if res := b.post(base+"/replay", c.form); res.StatusCode != c.status {
			t.Errorf("replay %v = %d, want %d", c.form, res.StatusCode, c.status)
		}
	}

	// No match: nothing to confirm.
	e.st.replayCount = 0
	res = b.post(base+"/replay", url.Values{"csrf": {csrf}, "since": {"2026-12-01T10:00"}, "until": {"2026-12-01T12:00"}})
	wantContains(t, res, `data-count="0"`, "nothing to replay")
	if strings.Contains(res.body, `id="replay-confirm"`) {
		t.Error("a replay of nothing can be confirmed")
	}
}

func TestDeleteSubscription(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	path := Prefix + "/subscriptions/" + subBad + "/delete"
	page := b.get(path)
	wantContains(t, page, "Delete subscription", "7 undelivered messages become dead letters", `id="delete-confirm"`)
	csrf := field(t, csrfRE, page.body)
	wantStatus(t, b.post(path, url.Values{"csrf": {csrf}}), http.StatusBadRequest)
	if len(e.st.deletions) != 0 {
		t.Fatal("deleted without confirmation")
	}
	res := b.post(path, url.Values{"csrf": {csrf}, "confirm": {"yes"}})
	wantStatus(t, res, http.StatusSeeOther)
	wantLocation(t, res, Prefix+"/subscriptions?done=deleted&sub="+subBad)
	if len(e.st.deletions) != 1 || e.st.deletions[0] != org+"/shop-app/"+subBad || !e.st.lastNow.Equal(t0) {
		t.Fatalf("deletions %v at %v", e.st.deletions, e.st.lastNow)
	}
	if !strings.Contains(e.logs.String(), `action="delete subscription" session=`+sessionID(t, b)) {
		t.Errorf("deletion not logged:\n%s", e.logs)
	}
	wantContains(t, b.get(res.Header.Get("Location")), "was deleted")
	wantStatus(t, b.post(path, url.Values{"csrf": {csrf}, "confirm": {"yes"}}), http.StatusNotFound)
	wantStatus(t, b.get(path), http.StatusNotFound)
}

func TestLogout(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	res := b.post(Prefix+"/logout", url.Values{"csrf": {b.csrf()}})
	wantStatus(t, res, http.StatusSeeOther)
	wantLocation(t, res, Prefix+"/login?out=1")
	if b.cookies[sessionCookie] != nil {
		t.Error("the session cookie was not cleared")
	}
	wantStatus(t, b.get(Prefix+"/"), http.StatusSeeOther)
	wantContains(t, b.get(Prefix+"/login?out=1"), "You are logged out.")
}

func TestLocalMode(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Password, c.Tokens, c.Local = "", nil, true })
	local := func() *browser {
		b := e.browser()
		b.remote = "127.0.0.1:40000"
		return b
	}
	b := local()
	res := b.do(http.MethodGet, "http://localhost:8080"+Prefix+"/", nil)
	wantStatus(t, res, http.StatusOK)
	wantContains(t, res, "local 127.0.0.1")
	if b.cookies[sessionCookie] == nil {
		t.Fatal("the local mode gave no session (needed for the CSRF token)")
	}
	// Actions still need the CSRF token.
	path := "http://localhost:8080" + Prefix + "/subscriptions/" + subOK + "/messages/" + msgOK + "/redeliver"
	wantStatus(t, b.do(http.MethodPost, path, url.Values{}), http.StatusForbidden)
	csrf := field(t, csrfRE, res.body)
	wantStatus(t, b.do(http.MethodPost, path, url.Values{"csrf": {csrf}}), http.StatusSeeOther)
	if !strings.Contains(e.logs.String(), "login=local") {
		t.Errorf("local action not logged as such:\n%s", e.logs)
	}

	for name, edit := range map[string]func(*browser) string{
		"another address":  func(b *browser) string { b.remote = "192.0.2.1:40000"; return "http://localhost" },
		"a proxy":          func(b *browser) string { b.header.Set("X-Forwarded-For", "203.0.113.9"); return "http://localhost" },
		"another hostname": func(b *browser) string { return "http://rebound.example:8080" }, // DNS rebinding
	} {
		b := local()
		res := b.do(http.MethodGet, edit(b)+Prefix+"/", nil)
		wantStatus(t, res, http.StatusSeeOther)
		wantLocation(t, res, Prefix+"/login")
		if name == "another hostname" {
			res = b.do(http.MethodGet, "http://rebound.example:8080"+Prefix+"/login", nil)
			wantStatus(t, res, http.StatusOK)
			wantContains(t, res, "served without login only to this machine")
		}
	}
	for _, host := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost."} {
		b := local()
		if host == "[::1]:8080" {
			b.remote = "[::1]:40000"
		}
		wantStatus(t, b.do(http.MethodGet, "http://"+host+Prefix+"/", nil), http.StatusOK)
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t, nil)
	for path, ct := range map[string]string{"dashboard.css": "text/css", "dashboard.js": "text/javascript", "icon.svg": "image/svg+xml"} {
		res := e.browser().get(Prefix + "/static/" + path)
		wantStatus(t, res, http.StatusOK)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), ct) {
			t.Errorf("%s: Content-Type %q", path, res.Header.Get("Content-Type"))
		}
	}
	wantStatus(t, e.browser().get(Prefix+"/static/"), http.StatusNotFound)
	wantStatus(t, e.browser().get(Prefix+"/static/nope.js"), http.StatusNotFound)
}

func TestUnknownPagesAndErrors(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	res := b.get(Prefix + "/nope")
	wantStatus(t, res, http.StatusNotFound)
	wantContains(t, res, "There is no such page.")
	e.h.(*handler).cfg.Store = failingStore{e.st}
	res = b.get(Prefix + "/")
	wantStatus(t, res, http.StatusInternalServerError)
	if strings.Contains(res.body, "disk on fire") {
		t.Error("an internal error's text reached the page")
	}
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Error("an internal error was not logged")
	}
}

type failingStore struct{ *fakeStore }

func (failingStore) QueueStats(context.Context) (store.QueueStats, error) {
	return store.QueueStats{}, errors.New("disk on fire")
}

func TestMount(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api") })
	dash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dash") })
	h := Mount(api, dash)
	for path, want := range map[string]string{"/dashboard": "dash", "/dashboard/": "dash", "/dashboard/x": "dash",
		"/dashboards": "api", "/": "api", "/organizations/self/subscriptions": "api"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Body.String() != want {
			t.Errorf("%s went to %s, want %s", path, w.Body.String(), want)
		}
	}
}

// A replay without event names covers what the subscription subscribes to
// except the disconnect events, which were addressed to one client; asking
// for one of those is refused.
func TestReplayNeverResendsDisconnectEvents(t *testing.T) {
	e := newEnv(t, nil)
	b := e.loggedIn()
	csrf := b.csrf()
	base := Prefix + "/subscriptions/" + subOK
	res := b.post(base+"/replay", url.Values{"csrf": {csrf}, "since": {"2026-12-01T10:00"}, "until": {"2026-12-01T12:00"}})
	wantStatus(t, res, http.StatusOK)
	if len(e.st.replays) != 1 {
		t.Fatalf("replays %+v, want one dry run", e.st.replays)
	}
	if got, want := e.st.replays[0].EventNames, []string{webhook.ProductCreated, webhook.ProductUpdated}; !slices.Equal(got, want) {
		t.Errorf("dry run for every event asked for %v, want the subscribed %v", got, want)
	}
	for _, s := range e.st.subs {
		if s.UUID == subOK {
			s.EventNames = nil // every event, the disconnect ones included
		}
	}
	res = b.post(base+"/replay", url.Values{"csrf": {csrf}, "since": {"2026-12-01T10:00"}, "until": {"2026-12-01T12:00"},
		"event": {webhook.ApplicationConnectionRemoved}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantContains(t, res, "not replayed")
}

// A session from a token login ends when the token expires, if that is
// before the session's own end.
func TestTokenSessionEndsWithTheToken(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Password = "" })
	b := e.browser()
	wantStatus(t, b.login(url.Values{"token": {"short-admin-token"}}), http.StatusSeeOther)
	wantStatus(t, b.get(Prefix+"/"), http.StatusOK)
	e.clock.Add(31 * time.Minute)
	res := b.get(Prefix + "/")
	if res.StatusCode == http.StatusOK && strings.Contains(res.body, "token bob") {
		t.Errorf("the session outlived its token: %d", res.StatusCode)
	}
}
