package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/pusher-hq/pusher/internal/webhook"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode says how the connection to the SMTP server is protected.
type TLSMode string

// The TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain text; credentials are sent unencrypted
	TLSStartTLS TLSMode = "starttls" // STARTTLS is required; the send fails if the server does not offer it
	TLSImplicit TLSMode = "tls"      // TLS from the first byte ("SMTPS", usually port 465)
)

// Default ports per URL scheme.
const (
	DefaultSMTPPort  = 587 // smtp:// (submission with STARTTLS)
	DefaultSMTPSPort = 465 // smtps:// (implicit TLS)
)

// DefaultSMTPTimeout is the SMTP connect and per-command timeout used when
// SMTPConfig.Timeout is zero.
const DefaultSMTPTimeout = 15 * time.Second

// SMTPConfig is how the Mailer reaches its SMTP server.
type SMTPConfig struct {
	Host     string
	Port     int    // 0 means DefaultSMTPSPort for TLSImplicit and DefaultSMTPPort otherwise
	Username string // empty means no SMTP AUTH
	Password string
	TLS      TLSMode // empty means TLSStartTLS
	From     string  // sender address, e.g. "Pusher <pusher@example.com>"; see NewMailer for the default
	Timeout  time.Duration
	// InsecureSkipVerify accepts any server certificate (TLSStartTLS and
	// TLSImplicit). Avoid it outside tests.
	InsecureSkipVerify bool
}

// ParseSMTPURL parses the PUSHER_SMTP_URL setting:
//
//	smtp://user:pass@host:587    STARTTLS (required), default port 587
//	smtp://host:25?tls=none      no TLS
//	smtps://user:pass@host:465   implicit TLS, default port 465
//
// The port defaults to 587 for smtp:// (also with tls=none) and 465 for
// smtps://. User name and password are percent-decoded; a password that
// contains "/", "?", "#", "@" or "%" must be written percent-encoded. Query
// parameters:
//
//	tls=none|starttls            only on smtp:// (tls=tls is accepted on smtps://)
//	from=pusher@example.com      sender address (SMTPConfig.From)
//	timeout=10s                  SMTPConfig.Timeout, a Go duration
//	insecure_skip_verify=true    SMTPConfig.InsecureSkipVerify
//
// Errors start with "notify: SMTP URL:" and name the part that is wrong
// (scheme, user info, host, port, path, a parameter). They never contain the
// password, nor the URL itself.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return SMTPConfig{}, smtpURLError("empty")
	}
	cfg, rest, err := parseSMTPScheme(raw)
	if err != nil {
		return SMTPConfig{}, err
	}
	u := smtpURL{rest: rest, end: len(rest), lastAt: strings.LastIndex(rest, "@")}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		u.end = i
	}
	hostPort, off, err := u.userInfo(&cfg)
	if err == nil {
		err = u.hostPort(&cfg, hostPort, off)
	}
	if err == nil {
		err = u.params(&cfg)
	}
	if err != nil {
		return SMTPConfig{}, err
	}
	return cfg, nil
}

// smtpURLError returns an error of ParseSMTPURL.
func smtpURLError(format string, args ...any) error {
	return fmt.Errorf("notify: SMTP URL: "+format, args...)
}

// encodeHint ends the errors about the parts of the URL that a password
// with an unencoded special character spills into.
const encodeHint = "; a password with / ? # @ or % must be percent-encoded"

// parseSMTPScheme returns the TLS mode and default port of raw's scheme, and
// what follows "://".
func parseSMTPScheme(raw string) (cfg SMTPConfig, rest string, err error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme == "" {
		return cfg, "", smtpURLError("missing scheme (want smtp:// or smtps://)")
	}
	switch strings.ToLower(scheme) {
	case "smtp":
		cfg.TLS, cfg.Port = TLSStartTLS, DefaultSMTPPort
	case "smtps":
		cfg.TLS, cfg.Port = TLSImplicit, DefaultSMTPSPort
	default:
		return cfg, "", smtpURLError("unsupported scheme %q (want smtp or smtps)", scheme)
	}
	return cfg, rest, nil
}

// smtpURL is an SMTP URL after its "://". It is split by hand rather than
// with url.Parse, whose errors quote the whole URL, password included. A
// password with an unencoded "/", "?" or "#" spills into the host, port or
// query; so a value quoted in an error is hidden if it starts at or before
// the URL's last "@".
type smtpURL struct {
	rest   string
	end    int // end of the authority (user info and host:port) in rest
	lastAt int // index of the last "@" in rest, or -1
}

// quote quotes s, found at rest[off:], for an error, or hides it if it may
// be part of the password.
func (u smtpURL) quote(s string, off int) string {
	if off <= u.lastAt {
		return "(value hidden)"
	}
	return strconv.Quote(s)
}

// userInfo sets the user name and password, if any, and returns the
// host:port that follows them and its offset in rest.
func (u smtpURL) userInfo(cfg *SMTPConfig) (hostPort string, off int, err error) {
	authority := u.rest[:u.end]
	i := strings.LastIndex(authority, "@")
	if i < 0 {
		return authority, 0, nil
	}
	user, pass, _ := strings.Cut(authority[:i], ":")
	if cfg.Username, err = url.PathUnescape(user); err != nil {
		return "", 0, smtpURLError("invalid percent-encoding in user name")
	}
	if cfg.Password, err = url.PathUnescape(pass); err != nil {
		return "", 0, smtpURLError("invalid percent-encoding in password")
	}
	if cfg.Username == "" && cfg.Password != "" {
		return "", 0, smtpURLError("password given without a user name")
	}
	return authority[i+1:], i + 1, nil
}

// hostPort sets the host and, if given, the port from hostPort, found at
// rest[off:].
func (u smtpURL) hostPort(cfg *SMTPConfig, hostPort string, off int) error {
	host := hostPort
	if i := strings.LastIndex(hostPort, ":"); i >= 0 && !strings.HasSuffix(hostPort, "]") {
		host = hostPort[:i]
		port, err := u.port(hostPort[i+1:], off+i+1)
		if err != nil {
			return err
		}
		cfg.Port = port
	}
	if host == "" {
		return smtpURLError("missing host")
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if net.ParseIP(host) == nil {
			return smtpURLError("invalid IPv6 address %s in host", u.quote(host, off+1))
		}
	} else if strings.ContainsAny(host, " %:[]<>\"\\") || strings.ContainsFunc(host, unicode.IsControl) {
		return smtpURLError("invalid host %s%s", u.quote(host, off), encodeHint)
	}
	cfg.Host = host
	return nil
}

// port parses the port s, found at rest[off:].
func (u smtpURL) port(s string, off int) (int, error) {
	if s == "" {
		return 0, smtpURLError("empty port after host")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, smtpURLError("invalid port %s (want 1 to 65535%s)", u.quote(s, off), encodeHint)
	}
	return n, nil
}

// params applies the ?parameters after host:port; only an optional "/" may
// come between.
func (u smtpURL) params(cfg *SMTPConfig) error {
	tail := u.rest[u.end:]
	if strings.Contains(tail, "#") {
		return smtpURLError("unexpected fragment (#...)%s", encodeHint)
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" {
		return smtpURLError("unexpected path (nothing may follow host:port but ?parameters%s)", encodeHint)
	}
	off := u.end + len(path) + 1
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair != "" {
			if err := u.param(cfg, pair, off); err != nil {
				return err
			}
		}
		off += len(pair) + 1
	}
	return nil
}

// param applies one key=value parameter, found at rest[off:].
func (u smtpURL) param(cfg *SMTPConfig, pair string, off int) error {
	rawKey, rawVal, _ := strings.Cut(pair, "=")
	key, err1 := url.QueryUnescape(rawKey)
	val, err2 := url.QueryUnescape(rawVal)
	if err1 != nil || err2 != nil {
		return smtpURLError("invalid percent-encoding in parameter %s", u.quote(rawKey, off))
	}
	quoted := u.quote(val, off+len(rawKey)+1)
	switch key {
	case "tls":
		return tlsParam(cfg, val, quoted)
	case "from":
		if _, err := mail.ParseAddress(val); err != nil {
			return smtpURLError("invalid from address %s", quoted)
		}
		cfg.From = val
	case "timeout":
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 {
			return smtpURLError("invalid timeout %s (want a positive Go duration such as 10s)", quoted)
		}
		cfg.Timeout = d
	case "insecure_skip_verify":
		b, err := strconv.ParseBool(val)
		if err != nil {
			return smtpURLError("invalid insecure_skip_verify %s (want true or false)", quoted)
		}
		cfg.InsecureSkipVerify = b
	default:
		return smtpURLError("unknown parameter %s", u.quote(key, off))
	}
	return nil
}

// tlsParam applies tls=val; quoted is val as an error may show it.
func tlsParam(cfg *SMTPConfig, val, quoted string) error {
	mode := TLSMode(strings.ToLower(val))
	switch {
	case cfg.TLS == TLSImplicit && mode != TLSImplicit:
		return smtpURLError("tls=%s conflicts with smtps:// (implicit TLS); use smtp:// instead", quoted)
	case cfg.TLS != TLSImplicit && mode == TLSImplicit:
		return smtpURLError("tls=tls on smtp://: use smtps:// for implicit TLS")
	case mode != TLSNone && mode != TLSStartTLS && mode != TLSImplicit:
		return smtpURLError("invalid tls=%s (want none or starttls)", quoted)
	}
	cfg.TLS = mode
	return nil
}

// Mailer sends notices over SMTP. It opens one connection per message, so it
// holds no connection between sends and is safe for concurrent use.
type Mailer struct {
	cfg  SMTPConfig
	from *mail.Address
}

// NewMailer checks cfg and returns a Mailer. It does not connect.
//
// Defaults: TLS TLSStartTLS, Port 587 (465 with TLSImplicit), Timeout
// DefaultSMTPTimeout, and From the Username when that is an e-mail address.
// It returns an error if Host is empty, Port or Timeout is out of range,
// TLS is unknown, or From is missing or not a valid address.
//
// With a Username, Send authenticates with PLAIN (LOGIN if the server offers
// only that); without TLS (TLSNone) the password then travels unencrypted.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("notify: SMTP host is empty")
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("notify: unknown SMTP TLS mode %q (want none, starttls or tls)", cfg.TLS)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultSMTPPort
		if cfg.TLS == TLSImplicit {
			cfg.Port = DefaultSMTPSPort
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("notify: SMTP port %d out of range", cfg.Port)
	}
	switch {
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultSMTPTimeout
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("notify: negative SMTP timeout %v", cfg.Timeout)
	}
	if cfg.From == "" && strings.Contains(cfg.Username, "@") {
		cfg.From = cfg.Username
	}
	if cfg.From == "" {
		return nil, errors.New("notify: SMTP sender address (From) is empty")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: invalid SMTP sender address %q: %w", cfg.From, err)
	}
	return &Mailer{cfg: cfg, from: from}, nil
}

// Send renders n and sends it to n.To as one multipart/alternative message
// (text/plain and text/html). ctx bounds the connection attempt; each SMTP
// command has the configured Timeout. The error says which step failed
// (address, connection, TLS, AUTH, MAIL/RCPT/DATA); it never contains the
// password.
func (m *Mailer) Send(ctx context.Context, n webhook.Notice) error {
	msg, err := m.message(n)
	if err != nil {
		return err
	}
	c, err := gomail.NewClient(m.cfg.Host, m.clientOptions()...)
	if err != nil {
		return fmt.Errorf("notify: SMTP client: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("notify: send %s notice %d to %s via %s: %w",
			n.Kind, n.ID, n.To, net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port)), err)
	}
	return nil
}

func (m *Mailer) clientOptions() []gomail.Option {
	cfg := m.cfg
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
	}
	tlsConf := &tls.Config{
		ServerName:         cfg.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // operator's explicit choice, documented as test-only
	}
	switch cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSConfig(tlsConf))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tlsConf))
	}
	if cfg.Username != "" {
		plain, login := gomail.SMTPAuthPlain, gomail.SMTPAuthLogin
		if cfg.TLS == TLSNone {
			// The operator chose no TLS; go-mail refuses PLAIN/LOGIN over an
			// unencrypted connection unless told so.
			plain, login = gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc
		}
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(plain, login),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password))
	}
	return opts
}

// message builds the e-mail for n.
func (m *Mailer) message(n webhook.Notice) (*gomail.Msg, error) {
	subject, text, html := Render(n)
	msg := gomail.NewMsg()
	msg.FromMailAddress(m.from)
	if err := msg.To(n.To); err != nil {
		return nil, fmt.Errorf("notify: notice %d: invalid recipient %q: %w", n.ID, n.To, err)
	}
	msg.Subject(subject)
	// RFC 3834: tells auto-responders (vacation replies) not to answer.
	msg.SetUserAgent("pusher")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader("X-Pusher-Notice", string(n.Kind))
	msg.SetGenHeader("X-Pusher-Subscription", oneLine(n.SubscriptionUUID))
	if n.ID != 0 {
		// A stable Message-ID lets mail systems drop a duplicate if a notice
		// is sent twice (sent, but the outbox could not record it).
		msg.SetMessageIDWithValue(fmt.Sprintf("pusher-notice-%d.%s@%s",
			n.ID, messageIDPart(n.SubscriptionUUID), domainOf(m.from.Address)))
	}
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, html)
	return msg, nil
}

// domainOf returns the domain of an address, or "pusher.invalid".
func domainOf(addr string) string {
	if i := strings.LastIndex(addr, "@"); i >= 0 && i < len(addr)-1 {
		return messageIDPart(addr[i+1:])
	}
	return "pusher.invalid"
}

// messageIDPart keeps only characters that are safe in a Message-ID.
func messageIDPart(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return -1
	}, s)
}
