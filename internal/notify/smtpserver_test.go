package notify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message accepted by the test SMTP server.
type Received struct {
	AuthUser string // user name of a successful AUTH PLAIN, or ""
	From     string // envelope sender (MAIL FROM)
	To       []string
	Data     []byte // raw DATA
	TLS      bool   // the message came over TLS
}

type smtpOptions struct {
	user, pass string      // require AUTH PLAIN with these when user != ""
	tlsConf    *tls.Config // offer STARTTLS, or speak TLS from the start if implicit
	implicit   bool
}

type smtpOption func(*smtpOptions)

// withAuth makes the server require AUTH PLAIN with user and pass.
func withAuth(user, pass string) smtpOption {
	return func(o *smtpOptions) { o.user, o.pass = user, pass }
}

// withTLS gives the server a self-signed certificate for 127.0.0.1: it offers
// STARTTLS, or with implicit speaks TLS from the first byte (SMTPS).
func withTLS(t *testing.T, implicit bool) smtpOption {
	conf := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, MinVersion: tls.VersionTLS12}
	return func(o *smtpOptions) { o.tlsConf, o.implicit = conf, implicit }
}

// selfSigned makes a throwaway certificate for 127.0.0.1 and localhost.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// testBackend is a go-smtp backend that records what it receives.
type testBackend struct {
	opts smtpOptions

	mu       sync.Mutex
	down     bool
	inbox    []Received
	rejected int // MAIL commands answered 451 while down
}

// startSMTP runs a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1:0 for the duration of the test. inbox returns the messages
// received so far. setDown(true) simulates an outage: MAIL is answered with
// 451 until setDown(false).
func startSMTP(t *testing.T, opts ...smtpOption) (addr string, inbox func() []Received, setDown func(bool)) {
	t.Helper()
	be := &testBackend{}
	for _, o := range opts {
		o(&be.opts)
	}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = be.opts.tlsConf == nil // plain-text tests use AUTH without TLS
	srv.TLSConfig = be.opts.tlsConf
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if be.opts.implicit {
		ln = tls.NewListener(ln, be.opts.tlsConf)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing SMTP server: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("SMTP server: %v", err)
		}
	})
	inbox = func() []Received {
		be.mu.Lock()
		defer be.mu.Unlock()
		return append([]Received(nil), be.inbox...)
	}
	setDown = func(down bool) {
		be.mu.Lock()
		defer be.mu.Unlock()
		be.down = down
	}
	return ln.Addr().String(), inbox, setDown
}

func (be *testBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &testSession{be: be, conn: c}, nil
}

type testSession struct {
	be   *testBackend
	conn *smtp.Conn
	user string // authenticated user
	msg  Received
}

var errTempUnavailable = &smtp.SMTPError{
	Code:         451,
	EnhancedCode: smtp.EnhancedCode{4, 3, 0},
	Message:      "Service temporarily unavailable, try again later",
}

func (s *testSession) AuthMechanisms() []string {
	if s.be.opts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != s.be.opts.user || pass != s.be.opts.pass {
			return smtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	if s.be.down {
		s.be.rejected++
		return errTempUnavailable
	}
	if s.be.opts.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.msg = Received{AuthUser: s.user, From: from, TLS: isTLS}
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = data
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.inbox = append(s.be.inbox, s.msg)
	return nil
}

func (s *testSession) Reset()        { s.msg = Received{AuthUser: s.user} }
func (s *testSession) Logout() error { return nil }

// parsedMail is a received message taken apart.
type parsedMail struct {
	Header  mail.Header
	From    string // From header address
	Subject string // decoded
	Text    string // text/plain part, decoded
	HTML    string // text/html part, decoded
}

// parseMail parses raw DATA with net/mail and mime/multipart. It fails the
// test unless the message is multipart/alternative with a text/plain and a
// text/html part.
func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("mail.ReadMessage: %v\n%s", err, data)
	}
	var p parsedMail
	p.Header = m.Header
	dec := new(mime.WordDecoder)
	if p.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatalf("decoding Subject: %v", err)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		t.Fatalf("parsing From %q: %v", m.Header.Get("From"), err)
	}
	p.From = from.Address
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v); want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("reading part: %v", err)
		}
		pt, pparams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part Content-Type %q: %v", part.Header.Get("Content-Type"), err)
		}
		if cs := strings.ToLower(pparams["charset"]); cs != "utf-8" {
			t.Errorf("part %s charset = %q; want utf-8", pt, cs)
		}
		switch pt {
		case "text/plain":
			p.Text = string(body)
		case "text/html":
			p.HTML = string(body)
		default:
			t.Errorf("unexpected part %s", pt)
		}
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("text part present %v, html part present %v; want both", p.Text != "", p.HTML != "")
	}
	return p
}
