package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/webhook"
	"github.com/pusher-hq/pusher/verify"
)

const listenSummary = `Runs a local webhook receiver that prints each delivery and checks its
X-iZettle-Signature. Keys come from --signing-key, or, with --org, from the
server's subscription list (read with a token minted from the local key for
--org and --client, refreshed when a signature matches no known key).

  pusher listen --addr :9000 --org <uuid> --client demo`

// listener receives deliveries and verifies them.
type listener struct {
	out       io.Writer
	status    int
	full      bool
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
	if err := fs.parse(args); err != nil {
		return err
	}
	l := &listener{out: stdout, status: *status, full: *full}
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
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	env, err := webhook.ParseEnvelope(body)
	if err != nil {
		fmt.Fprintf(l.out, "%s %s %s: not a pusher envelope (%d bytes)\n", time.Now().Format("15:04:05.000"), r.Method, r.URL.Path, len(body))
	} else {
		verdict := "not checked (the TestMessage comes before the subscription and its key exist)"
		if env.EventName != "TestMessage" {
			verdict = l.verify(r.Context(), env.Timestamp, env.Payload, r.Header.Get(verify.Header))
		}
		payload := env.Payload
		if !l.full && len(payload) > 300 {
			payload = payload[:300] + "…"
		}
		fmt.Fprintf(l.out, "%s %-26s messageId=%s signature=%s\n  %s\n", time.Now().Format("15:04:05.000"),
			env.EventName, env.MessageID, verdict, payload)
	}
	w.WriteHeader(l.status)
}

// verify returns "ok", "BAD" or why it could not check.
func (l *listener) verify(ctx context.Context, ts, payload, sig string) string {
	if sig == "" {
		return "MISSING"
	}
	if l.matches(ts, payload, sig) {
		return "ok"
	}
	if l.keySource == nil {
		if len(l.keys) == 0 {
			return "unchecked (no --signing-key or --org)"
		}
		return "BAD"
	}
	if err := l.refreshKeys(ctx); err != nil {
		return "unchecked (" + err.Error() + ")"
	}
	if l.matches(ts, payload, sig) {
		return "ok"
	}
	return "BAD"
}

func (l *listener) matches(ts, payload, sig string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys {
		if verify.Signature(k, ts, payload, sig) {
			return true
		}
	}
	return false
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
