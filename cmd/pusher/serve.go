package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/notify"
	"github.com/pusher-hq/pusher/internal/secrets"
	"github.com/pusher-hq/pusher/internal/ssrf"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// serveConfig holds every setting of pusher serve.
type serveConfig struct {
	Addr            string
	DataDir         string
	DatabaseURL     string
	JWKSURL         string
	Issuer          string
	Audience        string
	AllowHTTP       bool
	AllowCIDRs      []netip.Prefix // internal ranges destinations may resolve to
	Timeout         time.Duration
	LeaseTimeout    time.Duration
	Schedule        webhook.Schedule
	Workers         int
	PerSubscription int
	PerOrganization int
	PollInterval    time.Duration
	Retention       time.Duration
	MaxBody         int
	MaxIngestBody   int
	Limits          limitsConfig
	SMTPURL         string
	MailFrom        string
	NoticeEvery     time.Duration
	NoticePoll      time.Duration
	NoticeBackoff   time.Duration // first wait after a failed send; later ones grow as in notify.DefaultBackoff
	OperatorURL     string        // operator event sink; "" = off
	OperatorSecret  string        // its Standard Webhooks secret (whsec_… or raw)
	ShutdownTimeout time.Duration
	SecretKey       string
	SecretKeysOld   []string
	LogLevel        string
	LogFormat       string
	DebugAddr       string
	Dashboard       dashboardConfig
}

const serveSummary = `Runs the subscription API, the ingest API and the delivery engine on the
embedded SQLite database in the data directory, or on PostgreSQL when
-database-url is set (then any number of instances may share it). Stops
gracefully on SIGTERM or Ctrl-C: no new requests, attempts in flight finish,
then the database closes.`

func parseServeConfig(args []string, getenv env, stderr io.Writer) (serveConfig, error) {
	var c serveConfig
	fs := newFlagSet("serve", serveSummary, getenv, stderr)
	fs.StringVar(&c.Addr, "addr", envOr(getenv, "PUSHER_ADDR", ":8080"), "listen address (env PUSHER_ADDR)")
	dataDir := dataDirFlag(fs)
	dbURL := databaseURLFlag(fs)
	jwks := fs.string("jwks-url", "PUSHER_JWKS_URL", "", "verify tokens with this JWKS URL instead of the local key")
	issuer := fs.string("jwt-issuer", "PUSHER_JWT_ISSUER", "", "required token issuer (iss); empty = not checked")
	audience := fs.string("jwt-audience", "PUSHER_JWT_AUDIENCE", "", "required token audience (aud); empty = not checked")
	allowHTTP := fs.bool("allow-http", "PUSHER_ALLOW_HTTP", false, "DEVELOPMENT ONLY: accept http:// destinations (Zettle requires HTTPS)")
	allowCIDRs := fs.string("allow-destination-cidrs", "PUSHER_ALLOW_DESTINATION_CIDRS", "", "comma-separated CIDRs destinations may resolve to although internal (loopback, private, link-local…), e.g. 10.20.0.0/16 for on-premise receivers or 127.0.0.0/8,::1/128 for local development; -allow-http does not imply it; empty = only public addresses")
	timeout := fs.duration("delivery-timeout", "PUSHER_DELIVERY_TIMEOUT", delivery.DefaultTimeout, "time a destination has to answer, also for the TestMessage")
	lease := fs.duration("lease-timeout", "PUSHER_LEASE_TIMEOUT", 0, "how long a claimed message stays leased; a crashed instance's messages are redelivered after this; 0 = 3×delivery-timeout + 30 s")
	schedule := fs.string("retry-schedule", "PUSHER_RETRY_SCHEDULE", webhook.ZettleSchedule.String(), "retry schedule after a failure, COUNTxINTERVAL steps; the default is Zettle's")
	workers := fs.int("workers", "PUSHER_WORKERS", delivery.DefaultWorkers, "concurrent delivery attempts in all (each is a goroutine waiting on its destination)")
	perOrg := fs.int("per-organization", "PUSHER_PER_ORGANIZATION", delivery.DefaultPerOrganization, "concurrent attempts per organization, so one tenant's slow destinations cannot take every worker")
	perSub := fs.int("per-subscription", "PUSHER_PER_SUBSCRIPTION", delivery.DefaultPerSubscription, "concurrent attempts per ACTIVE subscription; 1 = strict per-subscription order")
	poll := fs.duration("poll-interval", "PUSHER_POLL_INTERVAL", delivery.DefaultPollInterval, "how often due retries are looked for")
	retention := fs.duration("retention", "PUSHER_RETENTION", delivery.DefaultRetention, "delivered messages are kept, and re-posted events recognised as duplicates, for this long")
	maxBody := fs.int("max-body", "PUSHER_MAX_BODY", httpapi.DefaultMaxBody, "largest subscription API request body in bytes")
	maxIngest := fs.int("max-ingest-body", "PUSHER_MAX_INGEST_BODY", httpapi.DefaultMaxIngestBody, "largest ingest request body in bytes")
	limits := limitFlags(fs)
	smtpURL := fs.string("smtp-url", "PUSHER_SMTP_URL", "", "SMTP server for failure notices, e.g. smtp://user:pass@smtp.example.com:587; empty = notices stay in the outbox and are logged")
	mailFrom := fs.string("mail-from", "PUSHER_MAIL_FROM", "", "From address of notices, e.g. Pusher <pusher@example.com>; empty = from= in the SMTP URL, else the SMTP user name if it is an address, else pusher@<SMTP host>")
	noticeEvery := fs.duration("failing-notice-every", "PUSHER_FAILING_NOTICE_EVERY", delivery.DefaultFailingNoticeEvery, "at most one 'failing' notice per subscription per this")
	noticePoll := fs.duration("notice-poll-interval", "PUSHER_NOTICE_POLL_INTERVAL", notify.DefaultPollInterval, "how often the notice outbox is checked; failing and deleted notices are sent at once, recovered ones within this")
	noticeBackoff := fs.duration("notice-retry-backoff", "PUSHER_NOTICE_RETRY_BACKOFF", notify.DefaultBackoff(1), "wait before a notice whose e-mail (or operator event) could not be sent is tried again; each further failure waits longer (2×, 4×, 10×, then 20× this)")
	operatorURL := fs.string("operator-webhook-url", "PUSHER_OPERATOR_WEBHOOK_URL", "", "POST signed subscription.failing, .recovered, .deleted and .key_rotated events to this URL through the notice outbox (docs/extensions.md); empty = off")
	operatorSecret := fs.secret("operator-webhook-secret", "PUSHER_OPERATOR_WEBHOOK_SECRET", "Standard Webhooks secret the operator events are signed with: whsec_ and base64, or any other text used as the HMAC key as it is (set it in the environment, not on the command line); required with -operator-webhook-url")
	secretKey := fs.secret("secret-key", "PUSHER_SECRET_KEY", "encrypt signing keys at rest with this AES-256 key (64 hex digits or base64; set it in the environment, not on the command line); empty = stored as they are")
	secretOld := fs.secret("secret-key-old", "PUSHER_SECRET_KEY_OLD", "earlier secret keys, comma-separated, that still open values sealed before a rotation")
	shutdown := fs.duration("shutdown-timeout", "PUSHER_SHUTDOWN_TIMEOUT", 30*time.Second, "how long shutdown waits for requests in flight")
	level := fs.string("log-level", "PUSHER_LOG_LEVEL", "info", "debug, info, warn or error")
	format := fs.string("log-format", "PUSHER_LOG_FORMAT", "text", "text or json")
	debugAddr := fs.string("debug-addr", "PUSHER_DEBUG_ADDR", "", "serve Go's pprof profiles on this separate address, e.g. 127.0.0.1:6060; empty = off")
	dash := dashboardFlags(fs)
	if err := fs.parse(args); err != nil {
		return c, err
	}
	c.Dashboard = dash()
	sched, err := webhook.ParseSchedule(*schedule)
	if err != nil {
		return c, err
	}
	c.DatabaseURL = *dbURL
	c.DataDir, c.JWKSURL, c.Issuer, c.Audience, c.AllowHTTP = *dataDir, *jwks, *issuer, *audience, *allowHTTP
	c.LeaseTimeout, c.PerOrganization = *lease, *perOrg
	c.Timeout, c.Schedule, c.Workers, c.PerSubscription, c.PollInterval = *timeout, sched, *workers, *perSub, *poll
	c.Retention, c.MaxBody, c.MaxIngestBody = *retention, *maxBody, *maxIngest
	c.Limits = limits()
	c.SMTPURL, c.MailFrom, c.NoticeEvery, c.NoticePoll, c.ShutdownTimeout = *smtpURL, *mailFrom, *noticeEvery, *noticePoll, *shutdown
	c.NoticeBackoff = *noticeBackoff
	c.OperatorURL, c.OperatorSecret = *operatorURL, *operatorSecret
	c.LogLevel, c.LogFormat, c.DebugAddr = *level, *format, *debugAddr
	if c.AllowCIDRs, err = ssrf.ParseCIDRs(*allowCIDRs); err != nil {
		return c, fmt.Errorf("allow-destination-cidrs: %w", err)
	}
	c.SecretKey, c.SecretKeysOld = *secretKey, splitList(*secretOld)
	return c, c.validate()
}

func (c serveConfig) validate() error {
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if err := c.Dashboard.validate(c.Addr); err != nil {
		return err
	}
	switch {
	case c.Timeout <= 0:
		return errors.New("delivery-timeout must be positive")
	case c.LeaseTimeout < 0 || c.LeaseTimeout > 0 && c.LeaseTimeout <= c.Timeout:
		return errors.New("lease-timeout must be longer than delivery-timeout (or 0 for the default)")
	case c.Workers < 1 || c.PerSubscription < 1 || c.PerOrganization < 1:
		return errors.New("workers, per-subscription and per-organization must be at least 1")
	case c.NoticePoll <= 0:
		return errors.New("notice-poll-interval must be positive")
	case c.NoticeBackoff <= 0:
		return errors.New("notice-retry-backoff must be positive")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("log-format %q: want text or json", c.LogFormat)
	case c.OperatorURL == "" && c.OperatorSecret != "":
		return errors.New("operator-webhook-secret is set but operator-webhook-url is not")
	case c.OperatorURL != "" && c.OperatorSecret == "":
		return errors.New("operator-webhook-url needs operator-webhook-secret (PUSHER_OPERATOR_WEBHOOK_SECRET)")
	case c.OperatorURL != "":
		if _, err := notify.NewOperatorSink(c.OperatorURL, c.OperatorSecret, "", nil); err != nil {
			return err
		}
	}
	return nil
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func envOr(getenv env, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func dataDirFlag(fs *flagSet) *string {
	return fs.string("data-dir", "PUSHER_DATA_DIR", "data", "directory of the SQLite database and the local token key")
}

func newLogger(c serveConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runServe runs pusher serve until ctx is cancelled.
func runServe(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	cfg, err := parseServeConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	sealer := secrets.Unsealed() // refuses keys sealed by an instance that had PUSHER_SECRET_KEY
	if cfg.SecretKey != "" {
		if sealer, err = secrets.NewSealer(cfg.SecretKey, cfg.SecretKeysOld...); err != nil {
			return err
		}
		log.Info("signing keys are encrypted at rest")
	}
	db.Store = secrets.Store{Store: db.Store, Sealer: sealer}
	keys, err := keySource(cfg)
	if err != nil {
		return err
	}
	if cfg.AllowHTTP {
		log.Warn("http:// destinations are allowed: development mode, Zettle requires HTTPS")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	delivery.RegisterMetrics(reg)
	httpapi.RegisterMetrics(reg)
	reg.MustRegister(delivery.QueueCollector{Store: db})
	if len(cfg.AllowCIDRs) > 0 {
		log.Warn("destinations may resolve to these internal ranges", "allow_destination_cidrs", cfg.AllowCIDRs)
	}
	client := delivery.NewClient(userAgent(), cfg.Timeout, cfg.PerSubscription*4, delivery.WithGuard(&ssrf.Guard{Allow: cfg.AllowCIDRs}))
	engine := &delivery.Engine{
		Queue: db, Client: client, Logger: log, Schedule: cfg.Schedule, Workers: cfg.Workers,
		PerSubscription: cfg.PerSubscription, PerOrganization: cfg.PerOrganization, PollInterval: cfg.PollInterval, FailingNoticeEvery: cfg.NoticeEvery,
		Retention: cfg.Retention, LeaseFor: cfg.LeaseTimeout, OperatorSink: cfg.OperatorURL != "",
	}
	sender, wakeSender, err := noticeSender(cfg, db, log)
	if err != nil {
		return err
	}
	engine.OnRecorded = delivery.ObserveAttempts(wakeSender)
	verifier := &auth.Verifier{Keys: keys, Issuer: cfg.Issuer, Audience: cfg.Audience}
	handler := httpapi.NewHandler(log, db, verifier, client, engine.Notify, cfg.Limits.apply(httpapi.Config{
		AllowHTTPDestinations: cfg.AllowHTTP, MaxBodyBytes: int64(cfg.MaxBody), MaxIngestBytes: int64(cfg.MaxIngestBody),
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), OperatorSink: cfg.OperatorURL != "",
		KeysChanged: engine.KeysChanged,
	}))
	loops := []func(context.Context) error{engine.Run, sender.Run}
	if db.listen != nil {
		loops = append(loops, func(ctx context.Context) error { return db.listen(ctx, engine.Notify) })
	}
	log.Info("database", "store", db.where)
	if handler, err = withDashboard(cfg, log, db, verifier, engine.Notify, handler); err != nil {
		return err
	}
	return serve(ctx, cfg, log, handler, stdout, loops...)
}

// serve listens, runs the background loops, and on cancellation shuts down
// in order: HTTP first (no new events), then the loops, then returns.
func serve(ctx context.Context, cfg serveConfig, log *slog.Logger, h http.Handler, stdout io.Writer, loops ...func(context.Context) error) error {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := newHTTPServer(cfg, h)
	stopDebug, err := startDebug(cfg.DebugAddr, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer stopDebug()
	loopCtx, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Go(func() {
			if err := loop(loopCtx); err != nil {
				log.Error("background loop stopped", "err", err)
			}
		})
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	url := "http://" + displayAddr(ln.Addr())
	log.Info("pusher started", "version", Version(), "addr", url, "data_dir", cfg.DataDir)
	fmt.Fprintf(stdout, "pusher %s listening on %s\n", Version(), url)

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
	}
	stopLoops()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

func displayAddr(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") {
		return "localhost:" + strings.TrimPrefix(s, "[::]:")
	}
	if strings.HasPrefix(s, "0.0.0.0:") {
		return "localhost:" + strings.TrimPrefix(s, "0.0.0.0:")
	}
	return s
}

func keySource(cfg serveConfig) (auth.KeySource, error) {
	if cfg.JWKSURL != "" {
		return &auth.JWKS{URL: cfg.JWKSURL}, nil
	}
	return auth.LoadOrCreateLocalKey(cfg.DataDir)
}

// noticeSender returns the outbox sender; without SMTP it only logs the
// e-mails, and it POSTs operator events when the operator sink is on.
// The returned func wakes the sender without blocking.
func noticeSender(cfg serveConfig, outbox notify.Outbox, log *slog.Logger) (*notify.Sender, func(), error) {
	wake := make(chan struct{}, 1)
	s := &notify.Sender{Outbox: outbox, Logger: log, Wake: wake, Interval: cfg.NoticePoll,
		Backoff: notify.ScaledBackoff(cfg.NoticeBackoff)}
	wakeFn := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	if cfg.OperatorURL != "" {
		sink, err := notify.NewOperatorSink(cfg.OperatorURL, cfg.OperatorSecret, userAgent(), nil)
		if err != nil {
			return nil, nil, fmt.Errorf("PUSHER_OPERATOR_WEBHOOK_URL: %w", err)
		}
		s.Operator = sink
		log.Info("operator events are sent to the operator webhook", "url", webhook.DisplayURL(cfg.OperatorURL))
	}
	if cfg.SMTPURL == "" {
		return s, wakeFn, nil
	}
	smtp, err := notify.ParseSMTPURL(cfg.SMTPURL)
	if err != nil {
		return nil, nil, fmt.Errorf("PUSHER_SMTP_URL: %w", err)
	}
	if cfg.MailFrom != "" {
		smtp.From = cfg.MailFrom
	}
	if smtp.From == "" && !strings.Contains(smtp.Username, "@") {
		smtp.From = "pusher@" + smtp.Host
	}
	m, err := notify.NewMailer(smtp)
	if err != nil {
		return nil, nil, err
	}
	s.Mailer = m
	return s, wakeFn, nil
}
