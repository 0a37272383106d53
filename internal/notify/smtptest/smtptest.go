// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) in
// process for tests, records the messages it accepts, and takes received
// messages apart into their headers, text part and HTML part.
//
// A test starts a server with Start, points the code under test at Addr
// (plain text, or TLS with WithTLS), and reads Inbox. SetDown simulates an
// outage: while the server is down it answers MAIL with 451, a temporary
// error, so a sender has to retry.
//
//	srv := smtptest.Start(t)
//	... send to srv.Addr() ...
//	got := srv.WaitInbox(t, 1, 10*time.Second)
//	m := smtptest.MustParse(t, got[0].Data)
//
// The package is for tests only; it imports "testing".
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message accepted by the server.
type Received struct {
	AuthUser string   // user name of a successful AUTH PLAIN, or ""
	From     string   // envelope sender (MAIL FROM)
	To       []string // envelope recipients (RCPT TO)
	Data     []byte   // raw DATA; see Parse
	TLS      bool     // the message came over TLS
}

type options struct {
	user, pass string // require AUTH PLAIN with these when user != ""
	useTLS     bool
	implicit   bool
}

// Option configures a Server.
type Option func(*options)

// WithAuth makes the server offer and require AUTH PLAIN with user and pass.
// Without TLS the server accepts AUTH over the plain connection.
func WithAuth(user, pass string) Option {
	return func(o *options) { o.user, o.pass = user, pass }
}

// WithTLS gives the server a self-signed certificate for 127.0.0.1 and
// localhost. With implicit false it offers STARTTLS; with implicit true it
// speaks TLS from the first byte (SMTPS). Clients must skip certificate
// verification or trust Server.Certificate.
func WithTLS(implicit bool) Option {
	return func(o *options) { o.useTLS, o.implicit = true, implicit }
}

// Server is a running test SMTP server. Its methods are safe for concurrent
// use.
type Server struct {
	addr string
	cert *x509.Certificate

	opts     options
	mu       sync.Mutex
	down     bool
	inbox    []Received
	rejected int
}

// Start runs a server on 127.0.0.1 on a free port until the test ends; its
// cleanup closes the server and reports a failure if serving failed.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{}
	for _, o := range opts {
		o(&s.opts)
	}
	var tlsConf *tls.Config
	if s.opts.useTLS {
		cert, err := selfSigned()
		if err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
		s.cert = cert.Leaf
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = tlsConf == nil // plain-text tests use AUTH without TLS
	srv.TLSConfig = tlsConf
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	if s.opts.implicit {
		ln = tls.NewListener(ln, tlsConf)
	}
	s.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("smtptest: closing server: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtptest: server: %v", err)
		}
	})
	return s
}

// Addr returns the server's host:port, e.g. "127.0.0.1:41234".
func (s *Server) Addr() string { return s.addr }

// Certificate returns the server's self-signed certificate, or nil without
// WithTLS.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// Inbox returns a copy of the messages accepted so far, oldest first.
func (s *Server) Inbox() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.inbox...)
}

// SetDown starts (true) or ends (false) a simulated outage: while down, the
// server answers every MAIL command with "451 4.3.0 Service temporarily
// unavailable". Connections, EHLO and AUTH still work.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Rejected returns how many MAIL commands were answered 451 while down.
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// WaitInbox waits until the inbox holds at least n messages and returns it.
// It fails the test if that takes longer than timeout.
func (s *Server) WaitInbox(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := s.Inbox()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("smtptest: inbox has %d messages after %v; want %d", len(got), timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// selfSigned makes a throwaway certificate for 127.0.0.1 and localhost.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pusher test SMTP"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// backend is the go-smtp backend of a Server.
type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: b.s, conn: c}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	user string // authenticated user
	msg  Received
}

var errTempUnavailable = &smtp.SMTPError{
	Code:         451,
	EnhancedCode: smtp.EnhancedCode{4, 3, 0},
	Message:      "Service temporarily unavailable, try again later",
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.opts.user || pass != ss.s.opts.pass {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.down {
		ss.s.rejected++
		return errTempUnavailable
	}
	if ss.s.opts.user != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.msg = Received{AuthUser: ss.user, From: from, TLS: isTLS}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.msg.Data = data
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.inbox = append(ss.s.inbox, ss.msg)
	return nil
}

func (ss *session) Reset()        { ss.msg = Received{AuthUser: ss.user} }
func (ss *session) Logout() error { return nil }
