// Package dashboard serves pusher's operator dashboard under /dashboard:
// server-rendered pages (html/template, assets embedded with go:embed, no
// CDN, usable without JavaScript) over the same store calls as the
// extension API (docs/extensions.md).
//
// Pages: the overview (events in, deliveries and failures per minute over
// the last hour and day, subscriptions by status, backlog, outbox), the
// organizations and their subscriptions (filtered by status, event and
// destination host), a subscription with its delivery log, a message with
// its envelope and attempts, and the notifications. Actions: redeliver a
// message, replay a time range (its dry-run count is shown and confirmed
// first) and delete a subscription (after a confirmation page).
//
// Access: an operator logs in at /dashboard/login with the configured
// password or a bearer token carrying the PUSHER:ADMIN scope, and gets a
// signed session cookie (Secure, HttpOnly, SameSite=Lax, 8 hours). With
// neither configured the dashboard is refused, unless the local mode
// serves it without login to loopback clients. Every form carries a CSRF
// token bound to the session, and every action is logged with the
// session's id. See session.go.
package dashboard

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Prefix is the path the dashboard is served under.
const Prefix = "/dashboard"

// Store is the part of the store the dashboard reads and acts through.
type Store interface {
	OrganizationSubscriptions(ctx context.Context, org string) ([]*webhook.Subscription, error)
	SubscriptionByUUID(ctx context.Context, uuid string) (*webhook.Subscription, error)
	DeletedSubscription(ctx context.Context, uuid string) (store.DeletedSubscription, error)
	LogMessages(ctx context.Context, f store.MessageFilter) ([]store.LogMessage, error)
	LogMessage(ctx context.Context, subscriptionUUID, messageID string) (store.LogMessage, error)
	AttemptStats(ctx context.Context, subscriptionUUID string, since time.Time) (store.AttemptStats, error)
	Redeliver(ctx context.Context, subscriptionUUID, messageID string, now time.Time) error
	Replay(ctx context.Context, p store.ReplayParams) (store.ReplayResult, error)
	DeleteSubscription(ctx context.Context, org, clientID, uuid string, now time.Time) error
	QueueStats(ctx context.Context) (store.QueueStats, error)
	Notices(ctx context.Context, limit int) ([]store.NoticeRecord, error)
	ActivitySeries(ctx context.Context, q store.ActivityQuery) (store.ActivitySeries, error)
}

// Authenticator verifies bearer tokens, as the API does (auth.Verifier).
type Authenticator interface {
	Authenticate(r *http.Request) (auth.Principal, error)
}

// Config configures the dashboard.
type Config struct {
	Store  Store
	Logger *slog.Logger

	// Password is the operator password of the login page; "" for none.
	Password string
	// Tokens, when set, lets an operator log in with a bearer token that
	// it verifies and that carries ScopeAdmin.
	Tokens Authenticator
	// Local serves the dashboard without login to clients on a loopback
	// address that name a loopback host and come through no proxy.
	Local bool

	// SessionKey signs session cookies and CSRF tokens. Instances that
	// share it accept each other's sessions; empty means a random key of
	// this process (sessions end when it stops).
	SessionKey []byte
	// SessionFor is how long a session lasts; default 8 hours.
	SessionFor time.Duration

	// Schedule is the retry schedule in force, for the time until a
	// failing subscription is deleted; default webhook.ZettleSchedule.
	Schedule webhook.Schedule
	// Timeout is the delivery timeout, for the words of a timed-out
	// attempt; 0 if unknown.
	Timeout time.Duration
	// Retention is how long delivered messages are kept (the replay
	// window shown on forms); default 7 days.
	Retention time.Duration
	// Refresh is the auto-refresh period of the pages (JavaScript, can be
	// switched off on the page); default 10 s.
	Refresh time.Duration
	// Wake is called after a redelivery or replay queued messages (the
	// delivery engine's Notify); may be nil.
	Wake func()
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Enabled reports whether c lets anyone in.
func (c Config) Enabled() bool { return c.Password != "" || c.Tokens != nil || c.Local }

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// handler is the dashboard.
type handler struct {
	cfg    Config
	log    *slog.Logger
	keys   sessionKeys
	pages  map[string]*template.Template
	logins *loginLimiter
	mux    *http.ServeMux
}

// New returns the dashboard handler, to be served for Prefix and every
// path under it.
func New(cfg Config) (http.Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("dashboard: no store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionFor <= 0 {
		cfg.SessionFor = 8 * time.Hour
	}
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = webhook.ZettleSchedule
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 10 * time.Second
	}
	if cfg.Wake == nil {
		cfg.Wake = func() {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	key := cfg.SessionKey
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &handler{cfg: cfg, log: cfg.Logger, keys: newSessionKeys(key, cfg.Password), pages: pages,
		logins: newLoginLimiter(cfg.Now)}
	h.routes()
	return h, nil
}

// Mount returns a handler that serves dash for Prefix and the paths under
// it and api for every other path.
func Mount(api, dash http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == Prefix || strings.HasPrefix(p, Prefix+"/") {
			dash.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

func (h *handler) routes() {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", staticHandler(static)))
	mux.HandleFunc("GET "+Prefix+"/login", h.loginPage)
	mux.HandleFunc("POST "+Prefix+"/login", h.login)
	mux.Handle("POST "+Prefix+"/logout", h.action(h.logout))
	mux.Handle("GET "+Prefix+"/{$}", h.page(h.overview))
	mux.Handle("GET "+Prefix+"/subscriptions", h.page(h.subscriptions))
	mux.Handle("GET "+Prefix+"/subscriptions/{sub}", h.page(h.subscription))
	mux.Handle("GET "+Prefix+"/subscriptions/{sub}/messages/{msg}", h.page(h.message))
	mux.Handle("POST "+Prefix+"/subscriptions/{sub}/messages/{msg}/redeliver", h.action(h.redeliver))
	mux.Handle("POST "+Prefix+"/subscriptions/{sub}/replay", h.action(h.replay))
	mux.Handle("GET "+Prefix+"/subscriptions/{sub}/delete", h.page(h.deletePage))
	mux.Handle("POST "+Prefix+"/subscriptions/{sub}/delete", h.action(h.deleteSubscription))
	mux.Handle("GET "+Prefix+"/notifications", h.page(h.notifications))
	mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
	})
	mux.Handle(Prefix+"/", h.page(func(*request) (*view, error) {
		return nil, webhook.Errorf(webhook.NotFound, "There is no such page.")
	}))
	h.mux = mux
}

// ServeHTTP implements http.Handler: security headers, then the routes.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	if !h.cfg.Enabled() {
		h.refuse(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// refuse answers every request while nothing lets anyone in.
func (h *handler) refuse(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintln(w, "The pusher dashboard is off. Set PUSHER_DASHBOARD_PASSWORD (-dashboard-password) or "+
		"PUSHER_DASHBOARD_ADMIN_TOKENS=true (-dashboard-admin-tokens) to log in, or PUSHER_DASHBOARD_LOCAL=true "+
		"(-dashboard-local) to serve it without login on loopback only.")
}

// staticHandler serves the embedded assets; they change only with the
// binary, so browsers may keep them for an hour.
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
