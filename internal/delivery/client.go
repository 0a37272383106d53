package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/ssrf"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// DefaultTimeout is Zettle's delivery timeout: a destination that has not
// answered within 10 s has failed.
const DefaultTimeout = 10 * time.Second

// maxResponseBody is how much of a response body an attempt records.
const maxResponseBody = 1024

// Client POSTs signed envelopes. Redirects are not followed (a 3xx is a
// failure) and connections are kept alive per destination.
type Client struct {
	HTTP      *http.Client
	Timeout   time.Duration // per attempt; DefaultTimeout when zero
	UserAgent string
	// Now is the clock of the webhook-timestamp header (Standard
	// Webhooks); time.Now when nil. StartedAt and Duration always use
	// time.Now.
	Now func() time.Time

	// guard is the SSRF policy: NewClient's transport checks every dial
	// with it, and Handshake checks the destination's host before dialling.
	// nil (a Client not made by NewClient) means ssrf's default policy.
	guard *ssrf.Guard
}

// Option configures NewClient.
type Option func(*Client)

// WithGuard makes the client deliver only to addresses g accepts; use it to
// give an allow-list (ssrf.Guard.Allow) or a test resolver. Without it,
// NewClient uses a Guard without allow-list: every loopback, private,
// link-local and other special-purpose address is refused.
func WithGuard(g *ssrf.Guard) Option {
	return func(c *Client) { c.guard = g }
}

// NewClient returns a Client with a transport tuned for many requests to
// few hosts: up to maxConnsPerHost idle keep-alive connections per host.
// Every connection is checked by the client's ssrf.Guard (see WithGuard) at
// the address actually dialled, and proxies from the environment are not
// used, so the check sees the real peer.
func NewClient(userAgent string, timeout time.Duration, maxConnsPerHost int, opts ...Option) *Client {
	c := &Client{Timeout: timeout, UserAgent: userAgent, guard: &ssrf.Guard{}}
	for _, o := range opts {
		o(c)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = c.guard.Dialer().DialContext
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = maxConnsPerHost
	tr.IdleConnTimeout = 90 * time.Second
	tr.ResponseHeaderTimeout = 0 // the request context carries the deadline
	c.HTTP = &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c
}

// Outcome is the result of one POST.
type Outcome struct {
	StartedAt  time.Time
	Duration   time.Duration
	StatusCode int           // 0 when there was no HTTP response
	Class      webhook.Class // "" on success (any 2xx)
	Detail     string        // error text for transport failures
	Body       []byte        // first 1 KiB of the response body
	RetryAfter time.Duration // Retry-After of a 429 or 503 answer; 0 if none or unreadable
	RemoteAddr string        // IP:port of the connection the request went out on; "" if none was made
}

// OK reports whether the destination accepted the message.
func (o Outcome) OK() bool { return o.Class == "" }

// Post sends env to destination signed with keys and classifies the
// result. It never returns an error: every failure is an Outcome.
//
// Every request carries X-iZettle-Signature made with keys.Current; with
// keys.Previous, X-Pusher-Previous-Signature made with it too; with
// keys.StandardWebhooks, webhook-id (the messageId), webhook-timestamp (the
// Unix seconds of c.Now) and webhook-signature ("v1,<base64>" with the
// secret of keys.Current, then one with that of keys.Previous).
func (c *Client) Post(ctx context.Context, destination string, keys webhook.Keys, env webhook.Envelope) (out Outcome) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out = Outcome{StartedAt: time.Now()}
	var conn peer
	defer func() {
		out.Duration = time.Since(out.StartedAt)
		out.RemoteAddr = conn.get()
	}()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: conn.got})

	body := env.Bytes()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, destination, bytes.NewReader(body))
	if err != nil {
		out.Class, out.Detail = webhook.ClassOther, err.Error()
		return out
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.Header, signing.Sign(keys.Current, env.Timestamp, env.Payload))
	if keys.Previous != "" {
		req.Header.Set(signing.PreviousHeader, signing.Sign(keys.Previous, env.Timestamp, env.Payload))
	}
	if keys.StandardWebhooks {
		c.setStandardWebhooks(req.Header, keys, env.MessageID, body)
	}
	req.Header.Set("User-Agent", c.UserAgent)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		out.Class, out.Detail = classifyError(err), err.Error()
		return out
	}
	out.StatusCode = resp.StatusCode
	out.Body, err = readBody(resp.Body)
	if err != nil && resp.StatusCode/100 == 2 && errors.Is(err, context.DeadlineExceeded) {
		out.Class, out.Detail = webhook.ClassTimeout, err.Error()
		return out
	}
	out.Class = classifyStatus(resp.StatusCode)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		out.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), out.StartedAt)
	}
	return out
}

// setStandardWebhooks adds the Standard Webhooks headers of one attempt of
// the message id with body. They are set with the spec's lower-case names
// (HTTP/1.1 writes them as given; HTTP/2 lower-cases every name anyway).
func (c *Client) setStandardWebhooks(h http.Header, keys webhook.Keys, id string, body []byte) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ts := now()
	signWith := []string{keys.Current}
	if keys.Previous != "" {
		signWith = append(signWith, keys.Previous)
	}
	sigs := make([]string, 0, len(signWith))
	for _, k := range signWith {
		// A secret made by StandardWebhooksSecret always decodes.
		if sig, err := signing.StandardWebhooks(webhook.StandardWebhooksSecret(k), id, ts, body); err == nil {
			sigs = append(sigs, sig)
		}
	}
	h[signing.WebhookIDHeader] = []string{id}
	h[signing.WebhookTimestampHeader] = []string{strconv.FormatInt(ts.Unix(), 10)}
	h[signing.WebhookSignatureHeader] = []string{strings.Join(sigs, " ")}
}

// peer records the remote address of the connection a request got.
type peer struct {
	mu   sync.Mutex
	addr string
}

func (p *peer) got(info httptrace.GotConnInfo) {
	if info.Conn == nil || info.Conn.RemoteAddr() == nil {
		return
	}
	p.mu.Lock()
	p.addr = info.Conn.RemoteAddr().String()
	p.mu.Unlock()
}

func (p *peer) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date
// (measured from now). It returns 0 for an empty, unreadable or past value.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// readBody keeps the first 1 KiB and drains a little more so the connection
// can be reused, then closes the body.
func readBody(body io.ReadCloser) ([]byte, error) {
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxResponseBody))
	if err != nil {
		return b, err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	return b, err
}

func classifyStatus(code int) webhook.Class {
	switch code / 100 {
	case 2:
		return ""
	case 3:
		return webhook.ClassRedirect
	}
	return webhook.ClassHTTPStatus
}

// classifyError puts a transport error into an outcome class.
func classifyError(err error) webhook.Class {
	var (
		dnsErr   *net.DNSError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		hostErr  x509.HostnameError
		authErr  x509.UnknownAuthorityError
		invalErr x509.CertificateInvalidError
		recErr   tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, ssrf.ErrForbidden):
		return webhook.ClassForbiddenDestination
	case errors.As(err, &dnsErr):
		return webhook.ClassDNS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return webhook.ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return webhook.ClassRefused
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr),
		errors.As(err, &invalErr), errors.As(err, &recErr), strings.Contains(err.Error(), "tls: "), strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		return webhook.ClassTLS
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.EPIPE):
		return webhook.ClassConnectionReset
	}
	return webhook.ClassOther
}
