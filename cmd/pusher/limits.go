package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/pusher-hq/pusher/internal/httpapi"
)

// The HTTP server's limits (see newHTTPServer).
const (
	// readHeaderTimeout is how long a client has to send the request line
	// and headers; slow-header clients are cut off after it.
	readHeaderTimeout = 10 * time.Second
	// readTimeout is how long a client has to send a whole request, body
	// included: a 10 MiB ingest body needs about 350 KB/s.
	readTimeout = 30 * time.Second
	// writeSlack is the time a handler has besides reading the request and
	// the TestMessage: the database work and writing the answer.
	writeSlack = 20 * time.Second
	// idleTimeout is how long a keep-alive connection may wait for its next request.
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes bounds the request line and headers (a bearer JWT is
	// typically 1–2 KB); larger ones are answered 431.
	maxHeaderBytes = 16 << 10
)

// newHTTPServer returns the server of pusher serve with its limits: header
// and body read timeouts against slow clients, a write timeout of
// readTimeout + the delivery timeout (a create waits for its TestMessage)
// + writeSlack, 60 s by default, an idle timeout, and 16 KiB of headers.
func newHTTPServer(cfg serveConfig, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      readTimeout + cfg.Timeout + writeSlack,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// limitsConfig holds the abuse limits of pusher serve; 0 turns one off.
type limitsConfig struct {
	APIRate, APIBurst       int // subscription API requests/s and burst per (OAuth client, organization)
	IngestRate, IngestBurst int // ingest requests/s and burst per producer client
	MaxSubscriptions        int // per (organization, OAuth client)
}

// limitFlags registers the limit flags on fs; the returned function reads
// them after fs.parse. Defaults are httpapi's Default… constants.
func limitFlags(fs *flagSet) func() limitsConfig {
	apiRate := fs.int("api-rate", "PUSHER_API_RATE", httpapi.DefaultAPIRate, "subscription API requests per second per OAuth client and organization; over it: 429; 0 = no limit")
	apiBurst := fs.int("api-burst", "PUSHER_API_BURST", httpapi.DefaultAPIBurst, "subscription API requests a client may make at once (token bucket size); 0 = twice api-rate")
	ingestRate := fs.int("ingest-rate", "PUSHER_INGEST_RATE", httpapi.DefaultIngestRate, "ingest requests per second per producer (OAuth client); over it: 429; 0 = no limit")
	ingestBurst := fs.int("ingest-burst", "PUSHER_INGEST_BURST", httpapi.DefaultIngestBurst, "ingest requests a producer may make at once; 0 = twice ingest-rate")
	maxSubs := fs.int("max-subscriptions", "PUSHER_MAX_SUBSCRIPTIONS", httpapi.DefaultMaxSubscriptions, "subscriptions per organization and OAuth client; more are refused at create; 0 = no limit")
	return func() limitsConfig {
		return limitsConfig{APIRate: *apiRate, APIBurst: *apiBurst, IngestRate: *ingestRate, IngestBurst: *ingestBurst, MaxSubscriptions: *maxSubs}
	}
}

// validate returns an error if a limit is negative.
func (l limitsConfig) validate() error {
	if l.APIRate < 0 || l.APIBurst < 0 || l.IngestRate < 0 || l.IngestBurst < 0 || l.MaxSubscriptions < 0 {
		return errors.New("api-rate, api-burst, ingest-rate, ingest-burst and max-subscriptions must not be negative")
	}
	return nil
}

// apply sets the limits on an API configuration.
func (l limitsConfig) apply(c httpapi.Config) httpapi.Config {
	c.APIRate, c.APIBurst = float64(l.APIRate), l.APIBurst
	c.IngestRate, c.IngestBurst = float64(l.IngestRate), l.IngestBurst
	c.MaxSubscriptions = l.MaxSubscriptions
	return c
}
