package dashboard

// Sessions, CSRF and the login.
//
// A session is a cookie holding {id, method, who, issued, expires} and an
// HMAC-SHA256 of it, so any instance with the same session key accepts it
// and nothing is stored server-side. The MAC key is derived from the
// configured session key and the password, so changing the password ends
// every session. The cookie is Secure, HttpOnly, SameSite=Lax and scoped to
// /dashboard.
//
// Every form that acts carries a CSRF token, the HMAC of the session id
// under a key of its own; an action is refused without it, and also when the
// browser says the request is cross-origin (Origin, Sec-Fetch-Site). The
// login form carries a nonce bound to a short-lived cookie instead (login
// CSRF), and failed logins are rate-limited per client address.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Cookie names.
const (
	sessionCookie = "pusher_dashboard"
	loginCookie   = "pusher_dashboard_login"
)

// Login methods of a session.
const (
	methodPassword = "password"
	methodToken    = "token"
	methodLocal    = "local"
)

// session is an operator's login.
type session struct {
	ID      string `json:"id"`
	Method  string `json:"m"`
	Who     string `json:"who"`
	Issued  int64  `json:"iat"` // Unix seconds
	Expires int64  `json:"exp"`
}

// sessionKeys are the MAC keys of sessions, CSRF tokens and login nonces.
type sessionKeys struct{ sessionKey, csrfKey, loginKey []byte }

func newSessionKeys(key []byte, password string) sessionKeys {
	pw := sha256.Sum256([]byte(password))
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("pusher dashboard " + label + "\x00"))
		m.Write(pw[:])
		return m.Sum(nil)
	}
	return sessionKeys{sessionKey: derive("session"), csrfKey: derive("csrf"), loginKey: derive("login")}
}

func mac(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// encode returns the cookie value of s.
func (k sessionKeys) encode(s session) string {
	payload, _ := json.Marshal(s)
	p := b64.EncodeToString(payload)
	return p + "." + b64.EncodeToString(mac(k.sessionKey, p))
}

// decode returns the session of a cookie value if its MAC is right and it
// has not expired at now.
func (k sessionKeys) decode(value string, now time.Time) (session, bool) {
	p, sig, ok := strings.Cut(value, ".")
	if !ok {
		return session{}, false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(k.sessionKey, p)) {
		return session{}, false
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return session{}, false
	}
	var s session
	if json.Unmarshal(payload, &s) != nil || s.ID == "" || now.Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// csrf returns the CSRF token of a session.
func (k sessionKeys) csrf(s session) string { return b64.EncodeToString(mac(k.csrfKey, s.ID)) }

// checkCSRF reports whether token is the CSRF token of s.
func (k sessionKeys) checkCSRF(s session, token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(k.csrf(s))) == 1
}

// secretEqual compares two secrets in constant time (of their hashes, so
// not even their lengths leak).
func secretEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// loginToken is the form field that goes with a login cookie's nonce.
func (k sessionKeys) loginToken(nonce string) string {
	return b64.EncodeToString(mac(k.loginKey, nonce))
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSession starts a session at now.
func (h *handler) newSession(method, who string, now time.Time) session {
	return session{ID: randomID(), Method: method, Who: who, Issued: now.Unix(), Expires: now.Add(h.cfg.SessionFor).Unix()}
}

// setSession sends the session cookie.
func (h *handler) setSession(w http.ResponseWriter, s session) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: h.keys.encode(s), Path: Prefix,
		MaxAge: int(s.Expires - s.Issued), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// clearCookie tells the browser to drop a cookie.
func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: Prefix, MaxAge: -1, Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
}

// sessionOf returns the request's valid session.
func (h *handler) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	return h.keys.decode(c.Value, h.cfg.Now())
}

// localAllowed reports whether the local mode serves r without login: it
// is on, and r comes from a loopback address, names a loopback host (so a
// page on another site cannot reach it by DNS rebinding) and carries no
// proxy header (a reverse proxy on this host would make every client look
// local).
func (h *handler) localAllowed(r *http.Request) bool {
	if !h.cfg.Local {
		return false
	}
	for _, name := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Real-Ip", "Forwarded"} {
		if r.Header.Get(name) != "" {
			return false
		}
	}
	return isLoopbackAddr(r.RemoteAddr) && isLoopbackHost(r.Host)
}

func isLoopbackAddr(hostPort string) bool {
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func isLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// crossOrigin reports whether the browser says r comes from another
// origin: Sec-Fetch-Site other than same-origin or none, or an Origin
// whose host is not the request's.
func crossOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || !strings.EqualFold(u.Host, r.Host)
}

// secureContext reports whether a browser keeps a Secure cookie of r:
// HTTPS (directly or, as the X-Forwarded-Proto of a proxy, in front) or a
// loopback host.
func secureContext(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") || isLoopbackHost(r.Host)
}

// clientIP is the address failed logins are counted by.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter limits failed logins per client address: 10 at once, then
// one per 30 s.
type loginLimiter struct {
	now func() time.Time
	mu  sync.Mutex
	ips map[string]*rate.Limiter
}

const (
	loginBurst = 10
	loginEvery = 30 * time.Second
	maxLoginIP = 10000
)

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, ips: map[string]*rate.Limiter{}}
}

// blocked reports whether ip has no failed login left now.
func (l *loginLimiter) blocked(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.ips[ip]
	return ok && lim.TokensAt(l.now()) < 1
}

// failed counts a failed login of ip.
func (l *loginLimiter) failed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	lim, ok := l.ips[ip]
	if !ok {
		if len(l.ips) >= maxLoginIP {
			for k, v := range l.ips { // forget those that have refilled
				if v.TokensAt(now) >= loginBurst {
					delete(l.ips, k)
				}
			}
			if len(l.ips) >= maxLoginIP { // a flood of addresses: start over
				l.ips = map[string]*rate.Limiter{}
			}
		}
		lim = rate.NewLimiter(rate.Every(loginEvery), loginBurst)
		l.ips[ip] = lim
	}
	lim.AllowN(now, 1)
}
