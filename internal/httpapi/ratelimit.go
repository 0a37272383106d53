package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The abuse limits pusher serve uses unless told otherwise (see Config).
const (
	DefaultAPIRate          = 20  // subscription API requests/s per (OAuth client, organization)
	DefaultAPIBurst         = 40  // requests a (client, organization) may make at once
	DefaultIngestRate       = 200 // ingest requests/s per producer client (a request holds up to 1000 events)
	DefaultIngestBurst      = 400 // ingest requests a producer may make at once
	DefaultMaxSubscriptions = 100 // subscriptions per (organization, OAuth client)
)

// Buckets are swept (see rateLimiter.sweep) at least this often, and
// whenever their number has doubled since the last sweep, from at least
// minSweepSize on.
const (
	sweepEvery   = time.Minute
	minSweepSize = 1024
)

var requestsThrottled = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "pusher_requests_throttled_total",
	Help: "Requests answered 429 because their client was over its rate limit, by API (subscriptions, ingest).",
}, []string{"api"})

// rateLimiter is a token bucket per key (a client). A nil *rateLimiter
// allows everything. Memory stays bounded: a bucket that has refilled is
// dropped at the next sweep, since a new one would behave the same, so only
// the clients active in the last burst/rate seconds (2 s by default) or so
// hold one.
type rateLimiter struct {
	api   string // metrics label
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
	nextSweep int // sweep when len(buckets) reaches this
}

// newRateLimiter returns a limiter of perSecond requests per key with
// bursts of burst (0 = twice perSecond, at least 1), on the clock now.
// It returns nil, no limit, when perSecond is not positive.
func newRateLimiter(api string, perSecond float64, burst int, now func() time.Time) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(1, int(math.Ceil(2*perSecond)))
	}
	return &rateLimiter{api: api, limit: rate.Limit(perSecond), burst: burst, now: now,
		buckets: make(map[string]*rate.Limiter), nextSweep: minSweepSize}
}

// allow takes a token from key's bucket. Without one it returns false and
// how long until the next token; the request then counts for nothing.
func (l *rateLimiter) allow(key string) (ok bool, wait time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops the buckets that are full again, every sweepEvery or when
// the map has doubled; l.mu is held.
func (l *rateLimiter) sweep(now time.Time) {
	if len(l.buckets) < l.nextSweep && now.Sub(l.lastSweep) < sweepEvery {
		return
	}
	for key, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, key)
		}
	}
	l.lastSweep = now
	l.nextSweep = max(minSweepSize, 2*len(l.buckets))
}

// size returns the number of buckets held (for tests).
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// check returns TooManyRequests, after setting Retry-After (whole seconds,
// at least 1) on w, when key is over its limit.
func (l *rateLimiter) check(w http.ResponseWriter, key string) error {
	ok, wait := l.allow(key)
	if ok {
		return nil
	}
	requestsThrottled.WithLabelValues(l.api).Inc()
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return webhook.Errorf(webhook.TooManyRequests,
		"Too many requests: this client may make %s requests per second (bursts of %d); retry after %d s", formatRate(l.limit), l.burst, secs)
}

func formatRate(r rate.Limit) string {
	return strconv.FormatFloat(float64(r), 'f', -1, 64)
}

// apiKey is the rate-limit key of a subscription API caller: its OAuth
// client and organization, as subscriptions are owned.
func apiKey(p auth.Principal) string {
	return clientKey(p) + "\x00" + strings.ToLower(p.OrganizationUUID)
}

// clientKey is the rate-limit key of a producer: its OAuth client id, or
// for a token without one its subject.
func clientKey(p auth.Principal) string {
	if p.ClientID != "" {
		return "client:" + p.ClientID
	}
	return "subject:" + p.Subject
}
