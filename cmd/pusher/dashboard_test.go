package main

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dashDo sends a request with the cookies (a Secure cookie is sent back by
// hand: Go's cookie jar keeps it to HTTPS) and does not follow redirects.
func dashDo(t *testing.T, method, target string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// dashLogin logs in at the login page with form and returns the answer.
func dashLogin(t *testing.T, base string, form url.Values) *http.Response {
	t.Helper()
	resp, body := dashDo(t, "GET", base+"/dashboard/login", nil)
	m := regexp.MustCompile(`name="nonce" value="([^"]+)"`).FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("login page = %d\n%s", resp.StatusCode, body)
	}
	form.Set("nonce", html.UnescapeString(m[1]))
	resp, _ = dashDo(t, "POST", base+"/dashboard/login", form, cookieNamed(resp, "pusher_dashboard_login"))
	return resp
}

// Without a dashboard setting, pusher serve refuses the dashboard and the
// API is unchanged.
func TestDashboardOffByDefault(t *testing.T) {
	base, _ := startServe(t, filepath.Join(t.TempDir(), "data"))
	for _, p := range []string{"/dashboard", "/dashboard/", "/dashboard/login"} {
		resp, body := dashDo(t, "GET", base+p, nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "PUSHER_DASHBOARD_PASSWORD") {
			t.Errorf("GET %s = %d %q, want 403 saying how to turn it on", p, resp.StatusCode, body)
		}
	}
	if resp, _ := dashDo(t, "GET", base+"/healthz", nil); resp.StatusCode != 200 {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
}

// An operator logs in with a token from pusher token --admin, verified
// like the API's tokens; a subscriber token is refused.
func TestDashboardAdminTokenLogin(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	base, _ := startServe(t, dataDir, "-dashboard-admin-tokens")
	subscriber := runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", "demo", "-scope", "READ:PRODUCT")
	if resp := dashLogin(t, base, url.Values{"token": {subscriber}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a subscriber token logged in: %d", resp.StatusCode)
	}
	if resp := dashLogin(t, base, url.Values{"token": {subscriber + "x"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged token: %d, want 401", resp.StatusCode)
	}
	if resp := dashLogin(t, base, url.Values{"password": {"no password is configured"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a password without one configured: %d, want 400", resp.StatusCode)
	}
	admin := runCmd(t, "token", "-data-dir", dataDir, "-admin")
	resp := dashLogin(t, base, url.Values{"token": {admin}})
	session := cookieNamed(resp, "pusher_dashboard")
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("admin login = %d, cookie %+v", resp.StatusCode, session)
	}
	resp, body := dashDo(t, "GET", base+"/dashboard/", nil, session)
	if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Overview</h1>") || !strings.Contains(body, "token ") {
		t.Errorf("overview with the session = %d\n%.500s", resp.StatusCode, body)
	}
	// The API does not take the session cookie.
	if resp, _ := dashDo(t, "GET", base+"/organizations/self/subscriptions", nil, session); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the API with the dashboard cookie = %d, want 401", resp.StatusCode)
	}
}

// The local mode serves loopback clients without login; the password
// must be long enough.
func TestDashboardLocalMode(t *testing.T) {
	base, _ := startServe(t, filepath.Join(t.TempDir(), "data"), "-dashboard-local")
	resp, body := dashDo(t, "GET", base+"/dashboard/", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Overview</h1>") || cookieNamed(resp, "pusher_dashboard") == nil {
		t.Errorf("local overview = %d\n%.500s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", base+"/dashboard/", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther {
		t.Errorf("through a proxy = %d, want the login page", r.StatusCode)
	}

	var out bytes.Buffer
	err = run(context.Background(), []string{"serve", "-dashboard-password", "short"}, envMap(nil), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
		t.Errorf("a short dashboard password: %v", err)
	}
}
