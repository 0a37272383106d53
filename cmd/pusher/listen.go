package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/verify"
)

const listenSummary = `Runs a local webhook receiver that prints each delivery and checks its
X-iZettle-Signature (or, after a key rotation, X-Pusher-Previous-Signature)
and, when present, its Standard Webhooks signature. Keys come from
--signing-key, or, with --org, from the server's subscription list (read
with a token minted from the local key for --org and --client, refreshed
when a signature matches no known key). It says which header and key
verified, marks the TestMessage, and warns when a PHP verifier using
stripslashes (Zettle's sample) would reject the payload.

  pusher listen --addr :9000 --org <uuid> --client demo`

// listener receives deliveries and verifies them.
type listener struct {
	out       io.Writer
	status    int
	full      bool
	maxAge    time.Duration // verify.Verifier.MaxAge
	keySource func(context.Context) ([]string, error)

	mu      sync.Mutex
	keys    []string
	fetched time.Time
}

func runListen(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("listen", listenSummary, getenv, stderr)
	addr := fs.string("addr", "", "127.0.0.1:9000", "listen address")
	keys := fs.string("signing-key", "", "", "comma-separated signing keys to verify with")
	server := serverFlag(fs)
	dataDir := dataDirFlag(fs)
	org := fs.string("org", "", "", "organization whose subscription keys verify signatures")
	client := fs.string("client", "", "cli", "client id owning the subscriptions (with --org)")
	status := fs.int("status", "", 200, "HTTP status to answer with (e.g. 503 to watch retries)")
	full := fs.bool("full", "", false, "print whole payloads instead of the first 300 characters")
	maxAge := fs.duration("max-age", "", 0, "refuse signatures on envelopes whose timestamp is further than this from now (0: any age)")
	if err := fs.parse(args); err != nil {
		return err
	}
	l := &listener{out: stdout, status: *status, full: *full, maxAge: *maxAge}
	if *keys != "" {
		l.keys = strings.Split(*keys, ",")
	}
	if *org != "" {
		l.keySource = serverKeys(*server, *dataDir, *org, *client)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	fmt.Fprintf(stdout, "listening on http://%s/ — answering %d; Ctrl-C to stop\n", displayAddr(ln.Addr()), *status)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (l *listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, verify.MaxBody))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	l.print(r.Context(), r, body)
	w.WriteHeader(l.status)
}

// print writes what a delivery is and how it verified: a line with the
// event, the messageId and the verdicts, the payload, and a warning when a
// stripslashes verifier would reject it.
func (l *listener) print(ctx context.Context, r *http.Request, body []byte) {
	now := time.Now().Format("15:04:05.000")
	env, err := verify.ParseUnverified(body)
	if err != nil {
		fmt.Fprintf(l.out, "%s %s %s: not a pusher envelope (%d bytes)\n", now, r.Method, r.URL.Path, len(body))
		return
	}
	line := fmt.Sprintf("%s %-26s messageId=%s signature=%s", now, env.EventName, env.MessageID, l.verify(ctx, env, body, r.Header))
	if r.Header.Get(verify.WebhookSignatureHeader) != "" {
		line += " standardWebhooks=" + l.verifyStandardWebhooks(env, body, r.Header)
	}
	if env.IsTestMessage() {
		line += " testMessage=yes"
	}
	payload := env.Payload
	if !l.full && len(payload) > 300 {
		payload = payload[:300] + "…"
	}
	fmt.Fprintf(l.out, "%s\n  %s\n", line, payload)
	if verify.WouldFailStripslashes(env.Payload) {
		fmt.Fprintln(l.out, "  warning: the payload contains backslashes: a PHP verifier applying stripslashes() to timestamp.payload"+
			" (Zettle's sample code) computes another HMAC and rejects this correctly signed delivery")
	}
}

// verify returns "ok" with the header and key that matched, "MISSING",
// "BAD", "STALE" (signed, but older than --max-age) or why it could not
// check. A signature that matches no known key refreshes the keys from the
// server once; for the TestMessage too, since pusher lists a subscription
// to its owner while its TestMessage is in flight.
func (l *listener) verify(ctx context.Context, env verify.Envelope, body []byte, h http.Header) string {
	keys := l.knownKeys()
	res, err := l.verifier(keys).Check(body, h)
	if errors.Is(err, verify.ErrBadSignature) && l.keySource != nil {
		if err := l.refreshKeys(ctx); err != nil {
			return "unchecked (" + err.Error() + ")"
		}
		keys = l.knownKeys()
		res, err = l.verifier(keys).Check(body, h)
	}
	switch {
	case err == nil:
		return fmt.Sprintf("ok header=%s key=%d/%d", res.Header, res.Key+1, len(keys))
	case errors.Is(err, verify.ErrNoSignature):
		return "MISSING"
	case errors.Is(err, verify.ErrTimestamp):
		return "STALE (" + err.Error() + ")"
	case env.IsTestMessage():
		return "unchecked (the TestMessage is signed with the new subscription's key, which the server did not list)"
	case len(keys) == 0:
		return "unchecked (no --signing-key or --org)"
	}
	return "BAD"
}

// verifyStandardWebhooks checks the Standard Webhooks headers with the
// secrets of the known keys.
func (l *listener) verifyStandardWebhooks(env verify.Envelope, body []byte, h http.Header) string {
	keys := l.knownKeys()
	secrets := make([]string, len(keys))
	for i, k := range keys {
		secrets[i] = signing.StandardWebhooksSecret(k)
	}
	res, err := l.verifier(keys).CheckStandardWebhooks(body, h, secrets...)
	switch {
	case err == nil:
		return fmt.Sprintf("ok key=%d/%d", res.Key+1, len(keys))
	case errors.Is(err, verify.ErrNoSignature):
		return "INCOMPLETE (" + err.Error() + ")"
	case errors.Is(err, verify.ErrTimestamp):
		return "STALE (" + err.Error() + ")"
	case env.IsTestMessage() || len(keys) == 0:
		return "unchecked"
	}
	return "BAD"
}

func (l *listener) verifier(keys []string) *verify.Verifier {
	return &verify.Verifier{Keys: keys, MaxAge: l.maxAge}
}

func (l *listener) knownKeys() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.keys)
}

func (l *listener) refreshKeys(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if time.Since(l.fetched) < 250*time.Millisecond {
		return nil
	}
	keys, err := l.keySource(ctx)
	if err != nil {
		return err
	}
	l.keys, l.fetched = keys, time.Now()
	return nil
}

// serverKeys lists the signing keys of org's subscriptions owned by client.
func serverKeys(server, dataDir, org, client string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		tok, err := mintToken(dataDir, auth.Claims{OrganizationUUID: org, ClientID: client, Scope: subscriberScopes}, time.Minute)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/organizations/self/subscriptions", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("listing subscriptions: HTTP %d", resp.StatusCode)
		}
		var subs []struct {
			SigningKey string `json:"signingKey"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&subs); err != nil {
			return nil, err
		}
		keys := make([]string, len(subs))
		for i, s := range subs {
			keys[i] = s.SigningKey
		}
		return keys, nil
	}
}
