// Package httpapi serves pusher's HTTP API: Zettle's subscription API
// (/organizations/{organizationUuid}/subscriptions…), pusher's extensions
// to it (/v1/organizations/…, docs/extensions.md), the ingest API for
// producers (/v1/events), health checks, metrics and the OpenAPI document
// of it all (/openapi.json).
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Store is the part of the store the API uses.
type Store interface {
	CreateSubscription(ctx context.Context, s *webhook.Subscription) error
	Subscriptions(ctx context.Context, org, clientID string) ([]*webhook.Subscription, error)
	Subscription(ctx context.Context, org, clientID, uuid string) (*webhook.Subscription, error)
	UpdateSubscription(ctx context.Context, s *webhook.Subscription) error
	DeleteSubscription(ctx context.Context, org, clientID, uuid string, now time.Time) error
	Publish(ctx context.Context, events []store.Event) ([]store.PublishResult, error)
	Ping(ctx context.Context) error
	store.DeliveryLog // the extension API's
}

// Authenticator returns the principal of a request or an Unauthorized error.
type Authenticator interface {
	Authenticate(r *http.Request) (auth.Principal, error)
}

// Handshaker sends the TestMessage of a subscription (see delivery.Client.Handshake).
type Handshaker interface {
	Handshake(ctx context.Context, s *webhook.Subscription, now time.Time) error
}

// Defaults of the Config's zero fields, and of pusher serve's flags.
const (
	DefaultMaxBody         = 64 << 10 // subscription API request body: 64 KiB
	DefaultMaxIngestBody   = 10 << 20 // ingest request body: 10 MiB
	DefaultMaxIngestEvents = 1000     // events per ingest request
)

// Config holds the API's settings.
type Config struct {
	AllowHTTPDestinations bool             // accept http:// destinations (development only)
	MaxBodyBytes          int64            // subscription API request limit; default DefaultMaxBody
	MaxIngestBytes        int64            // ingest request limit; default DefaultMaxIngestBody
	MaxIngestEvents       int              // events per ingest request; default DefaultMaxIngestEvents
	Now                   func() time.Time // default time.Now; also the clock of the rate limits
	Metrics               http.Handler     // served at /metrics when set
	// OperatorSink: a key rotation also queues a key_rotated notice for
	// the operator event sink (docs/extensions.md).
	OperatorSink bool
	// KeysChanged, when set, is told the uuid of a subscription whose
	// signing key was rotated, after it was stored (the delivery engine's
	// KeysChanged, so deliveries it holds are signed with the new key).
	KeysChanged func(subscriptionUUID string)

	// Abuse limits. Zero means none for each; pusher serve sets the
	// Default… values of ratelimit.go unless told otherwise. A client over
	// its rate is answered 429 TOO_MANY_REQUESTS with Retry-After before its
	// body is read; a burst of 0 is twice the rate (at least 1).
	APIRate          float64 // subscription API requests/s per (OAuth client, organization)
	APIBurst         int     // bucket size of APIRate
	IngestRate       float64 // ingest requests/s per producer (OAuth client)
	IngestBurst      int     // bucket size of IngestRate
	MaxSubscriptions int     // subscriptions per (organization, OAuth client); more are refused at create
}

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBody
	}
	if c.MaxIngestBytes <= 0 {
		c.MaxIngestBytes = DefaultMaxIngestBody
	}
	if c.MaxIngestEvents <= 0 {
		c.MaxIngestEvents = DefaultMaxIngestEvents
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// handlerFunc is an HTTP handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// NewHandler returns the whole API. wake is called after events were
// published or messages queued again (the delivery engine's Notify); it
// may be nil.
func NewHandler(log *slog.Logger, st Store, authn Authenticator, hs Handshaker, wake func(), cfg Config) http.Handler {
	cfg.defaults()
	if wake == nil {
		wake = func() {}
	}
	mux := newRouteMux()
	h := func(fn handlerFunc) http.Handler { return errorHandler(log, fn) }
	apiLimit := newRateLimiter("subscriptions", cfg.APIRate, cfg.APIBurst, cfg.Now)
	ingestLimit := newRateLimiter("ingest", cfg.IngestRate, cfg.IngestBurst, cfg.Now)
	limited := func(lim *rateLimiter, key func(auth.Principal) string, fn principalFunc) http.Handler {
		return h(authenticated(authn, lim, key, fn))
	}
	authed := func(fn principalFunc) http.Handler { return limited(apiLimit, apiKey, fn) }
	subs := subscriptionHandlers{st: st, hs: hs, cfg: cfg, handshakes: newHandshakes()}
	const coll = "/organizations/{org}/subscriptions"
	route(mux, h, coll, map[string]http.Handler{
		"POST":   authed(subs.create),
		"GET":    authed(subs.list),
		"PUT":    h(methodNotAllowed("Subscription uuid is missing: PUT /organizations/{organizationUuid}/subscriptions/{subscriptionUuid}")),
		"DELETE": h(notFound("Subscription uuid is missing: DELETE /organizations/{organizationUuid}/subscriptions/{subscriptionUuid}")),
	})
	route(mux, h, coll+"/{id}", map[string]http.Handler{
		"PUT":    authed(subs.update),
		"DELETE": authed(subs.delete),
	})
	route(mux, h, coll+"/uuid/{id}", map[string]http.Handler{"DELETE": authed(subs.delete)})
	ext := extHandlers{st: st, wake: wake, cfg: cfg}
	const extOrg = "/v1/organizations/{org}"
	const extSub = extOrg + "/subscriptions/{id}"
	route(mux, h, extOrg+"/subscriptions", map[string]http.Handler{"GET": authed(ext.subscriptions)})
	route(mux, h, extOrg+"/undelivered", map[string]http.Handler{"GET": authed(ext.undelivered)})
	route(mux, h, extSub+"/messages", map[string]http.Handler{"GET": authed(ext.messages)})
	route(mux, h, extSub+"/messages/{msg}", map[string]http.Handler{"GET": authed(ext.message)})
	route(mux, h, extSub+"/messages/{msg}/redeliver", map[string]http.Handler{"POST": authed(ext.redeliver)})
	route(mux, h, extSub+"/stats", map[string]http.Handler{"GET": authed(ext.stats)})
	route(mux, h, extSub+"/replay", map[string]http.Handler{"POST": authed(ext.replay)})
	route(mux, h, extSub+"/rotate-key", map[string]http.Handler{"POST": authed(ext.rotateKey)})
	route(mux, h, extSub+"/settings", map[string]http.Handler{"GET": authed(ext.getSettings), "PUT": authed(ext.putSettings)})
	ingest := ingestHandler{st: st, wake: wake, cfg: cfg}
	route(mux, h, "/v1/events", map[string]http.Handler{"POST": limited(ingestLimit, clientKey, ingest.publish)})
	route(mux, h, "/healthz", map[string]http.Handler{"GET": h(healthz)})
	route(mux, h, "/readyz", map[string]http.Handler{"GET": h(readyz(st))})
	route(mux, h, "/openapi.json", map[string]http.Handler{"GET": h(serveOpenAPI)})
	if cfg.Metrics != nil {
		route(mux, h, "/metrics", map[string]http.Handler{"GET": cfg.Metrics})
	}
	mux.Handle("/", h(notFound("No such resource")))
	return &apiHandler{Handler: logRequests(log, trimTrailingSlash(recoverPanics(log, mux))), mux: mux}
}

// principalFunc is a handlerFunc of an authenticated request.
type principalFunc func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// authenticated returns fn behind authentication (Unauthorized without a
// valid token) and then lim, keyed by key of the principal (TooManyRequests
// over the limit; a nil lim limits nothing).
func authenticated(authn Authenticator, lim *rateLimiter, key func(auth.Principal) string, fn principalFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := authn.Authenticate(r)
		if err != nil {
			return err
		}
		if err := lim.check(w, key(p)); err != nil {
			return err
		}
		return fn(w, r, p)
	}
}

// route registers a handler per method for path, and a fallback that
// answers every other method with 405 and an Allow header.
func route(mux *routeMux, h func(handlerFunc) http.Handler, path string, methods map[string]http.Handler) {
	allowed := make([]string, 0, len(methods))
	for m, handler := range methods {
		mux.Handle(m+" "+path, handler)
		allowed = append(allowed, m)
	}
	sort.Strings(allowed)
	mux.Handle(path, h(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		return webhook.Errorf(webhook.MethodNotAllowed, "Method %s is not allowed on %s", r.Method, r.URL.Path)
	}))
}

func methodNotAllowed(msg string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", "GET, POST")
		return webhook.Errorf(webhook.MethodNotAllowed, "%s", msg)
	}
}

func notFound(msg string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return webhook.Errorf(webhook.NotFound, "%s", msg)
	}
}

// errorHandler adapts a handlerFunc: a returned error goes to writeError.
func errorHandler(log *slog.Logger, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			writeError(w, r, log, err)
		}
	})
}

func healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func readyz(st Store) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			return webhook.Errorf(webhook.Unavailable, "Database is not reachable")
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return nil
	}
}
