package notify

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/notify/smtptest"
)

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		raw  string
		want SMTPConfig
	}{
		{"smtp://user:pass@mail.example:2525",
			SMTPConfig{Host: "mail.example", Port: 2525, Username: "user", Password: "pass", TLS: TLSStartTLS}},
		{"smtp://mail.example",
			SMTPConfig{Host: "mail.example", Port: 587, TLS: TLSStartTLS}},
		{"SMTP://mail.example/",
			SMTPConfig{Host: "mail.example", Port: 587, TLS: TLSStartTLS}},
		{"smtps://user:pass@mail.example",
			SMTPConfig{Host: "mail.example", Port: 465, Username: "user", Password: "pass", TLS: TLSImplicit}},
		{"smtps://mail.example:2465?tls=tls",
			SMTPConfig{Host: "mail.example", Port: 2465, TLS: TLSImplicit}},
		{"smtp://relay:25?tls=none",
			SMTPConfig{Host: "relay", Port: 25, TLS: TLSNone}},
		{"smtp://relay?tls=STARTTLS",
			SMTPConfig{Host: "relay", Port: 587, TLS: TLSStartTLS}},
		{"smtp://apikey%40example.com:p%40ss%3Aw%2Frd%25@mail.example",
			SMTPConfig{Host: "mail.example", Port: 587, Username: "apikey@example.com", Password: "p@ss:w/rd%", TLS: TLSStartTLS}},
		{"smtp://user@mail.example",
			SMTPConfig{Host: "mail.example", Port: 587, Username: "user", TLS: TLSStartTLS}},
		{"smtp://user:@mail.example",
			SMTPConfig{Host: "mail.example", Port: 587, Username: "user", TLS: TLSStartTLS}},
		{"smtp://u:p@[::1]:25?tls=none&from=Pusher+%3Cpusher%40example.com%3E&timeout=3s&insecure_skip_verify=true",
			SMTPConfig{Host: "::1", Port: 25, Username: "u", Password: "p", TLS: TLSNone,
				From: "Pusher <pusher@example.com>", Timeout: 3 * time.Second, InsecureSkipVerify: true}},
		{"  smtp://mail.example  ",
			SMTPConfig{Host: "mail.example", Port: 587, TLS: TLSStartTLS}},
	}
	for _, tt := range tests {
		got, err := ParseSMTPURL(tt.raw)
		if err != nil {
			t.Errorf("ParseSMTPURL(%q) error: %v", tt.raw, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseSMTPURL(%q) =\n  %+v\nwant\n  %+v", tt.raw, got, tt.want)
		}
	}
}

// urlSecret is the password in parseSMTPURLErrorTests; no error may contain it.
const urlSecret = "Zq9secretPW"

// parseSMTPURLErrorTests are bad SMTP URLs and a part of their error.
var parseSMTPURLErrorTests = []struct {
	raw  string
	want string // part of the error message
}{
	{"", "empty"},
	{"mail.example:587", "missing scheme"},
	{"http://mail.example", `unsupported scheme "http"`},
	{"smtp://", "missing host"},
	{"smtp://u:" + urlSecret + "@", "missing host"},
	{"smtp://u:" + urlSecret + "@:25", "missing host"},
	{"smtp://u:" + urlSecret + "@mail.example:0", `invalid port "0"`},
	{"smtp://u:" + urlSecret + "@mail.example:70000", `invalid port "70000"`},
	{"smtp://u:" + urlSecret + "@mail.example:abc", `invalid port "abc"`},
	{"smtp://u:" + urlSecret + "@mail.example:", "empty port"},
	{"smtp://u:" + urlSecret + "@[::g]:25", `invalid IPv6 address "::g"`},
	{"smtp://u:" + urlSecret + "@::1", `invalid host ":"`},
	{"smtp://u:" + urlSecret + "@mail example", `invalid host "mail example"`},
	{"smtp://u:" + urlSecret + "%zz@mail.example", "invalid percent-encoding in password"},
	{"smtp://u%zz:" + urlSecret + "@mail.example", "invalid percent-encoding in user name"},
	{"smtp://:" + urlSecret + "@mail.example", "password given without a user name"},
	{"smtp://u:" + urlSecret + "@mail.example/inbox", "unexpected path"},
	{"smtp://u:" + urlSecret + "@mail.example#x", "unexpected fragment"},
	{"smtp://u:" + urlSecret + "@mail.example?tls=ssl", `invalid tls="ssl"`},
	{"smtp://u:" + urlSecret + "@mail.example?tls=tls", "use smtps://"},
	{"smtps://u:" + urlSecret + "@mail.example?tls=none", `tls="none" conflicts with smtps://`},
	{"smtps://u:" + urlSecret + "@mail.example?tls=starttls", "conflicts with smtps://"},
	{"smtp://u:" + urlSecret + "@mail.example?from=not-an-address", `invalid from address "not-an-address"`},
	{"smtp://u:" + urlSecret + "@mail.example?timeout=soon", `invalid timeout "soon"`},
	{"smtp://u:" + urlSecret + "@mail.example?timeout=-1s", `invalid timeout "-1s"`},
	{"smtp://u:" + urlSecret + "@mail.example?insecure_skip_verify=maybe", `invalid insecure_skip_verify "maybe"`},
	{"smtp://u:" + urlSecret + "@mail.example?pasword=x", `unknown parameter "pasword"`},
	{"smtp://u:" + urlSecret + "@mail.example?a=%zz", `invalid percent-encoding in parameter "a"`},
	// Unencoded "/", "?" or "#" in the password: the error hides the pieces.
	{"smtp://u:" + urlSecret + "/x@mail.example", "invalid port (value hidden)"},
	{"smtp://u:" + urlSecret + "?x=1@mail.example", "invalid port (value hidden)"},
	{"smtp://u:" + urlSecret + "#x@mail.example", "invalid port (value hidden)"},
	{"smtp://u:12#" + urlSecret + "@mail.example", "unexpected fragment"},
	{"smtp://u:12/" + urlSecret + "@mail.example", "unexpected path"},
	{"smtp://u:12?" + urlSecret + "=1@mail.example", "unknown parameter (value hidden)"},
	{"smtp://u:12?timeout=" + urlSecret + "@mail.example", "invalid timeout (value hidden)"},
	{"smtp://mail.example?from=pusher@example.com&timeout=x", `invalid timeout "x"`},
	{"smtp://u:12?tls=" + urlSecret + "@mail.example", "invalid tls=(value hidden)"},
	{"smtps://u:12?tls=" + urlSecret + "@mail.example", "tls=(value hidden) conflicts with smtps://"},
	{"smtp://u:12?insecure_skip_verify=" + urlSecret + "@mail.example", "invalid insecure_skip_verify (value hidden)"},
	{"smtp://u:12?%zz" + urlSecret + "=1@mail.example", "invalid percent-encoding in parameter (value hidden)"},
	{"smtp://u:12/" + urlSecret + "@[::g]", "unexpected path"},
	{"smtp://u:[" + urlSecret + "@[::g]:25", `invalid IPv6 address "::g"`},
	{"smtp://u:" + urlSecret + "@mail.example:25%", `invalid port "25%"`},
}

func TestParseSMTPURLErrors(t *testing.T) {
	for _, tt := range parseSMTPURLErrorTests {
		_, err := ParseSMTPURL(tt.raw)
		if err == nil {
			t.Errorf("ParseSMTPURL(%q) succeeded; want error containing %q", tt.raw, tt.want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) {
			t.Errorf("ParseSMTPURL(%q) error = %q; want it to contain %q", tt.raw, msg, tt.want)
		}
		if !strings.HasPrefix(msg, "notify: SMTP URL: ") {
			t.Errorf("ParseSMTPURL(%q) error = %q; want prefix %q", tt.raw, msg, "notify: SMTP URL: ")
		}
		for _, leak := range []string{urlSecret, "secret", "PW"} {
			if strings.Contains(msg, leak) {
				t.Errorf("ParseSMTPURL(%q) error %q leaks the password (%q)", tt.raw, msg, leak)
			}
		}
	}
}

// TestParseSMTPURLNeverQuotesPassword puts each character that has a
// meaning in a URL, unencoded, into the password of URLs of every shape: the
// URL is then either read with exactly that password or rejected with an
// error that contains no piece of it.
func TestParseSMTPURLNeverQuotesPassword(t *testing.T) {
	const before, after = "Zq9se", "cretPW"
	for _, c := range []string{"/", "?", "#", "%", "%zz", "@", ":", "[", "]", "&", "=", " ", "<", "\"", "\\", "\n", "/?#"} {
		pass := before + c + after
		for _, raw := range []string{
			"smtp://u:" + pass + "@mail.example",
			"smtp://u:" + pass + "@mail.example:25",
			"smtp://u:" + pass + "@mail.example/?tls=none&timeout=3s",
			"smtps://u:" + pass + "@[::1]:465?from=pusher%40example.com",
		} {
			cfg, err := ParseSMTPURL(raw)
			if err == nil {
				if cfg.Password != pass {
					t.Errorf("ParseSMTPURL(%q) succeeded with password %q; want %q or an error", raw, cfg.Password, pass)
				}
				continue
			}
			for _, piece := range []string{before, after} {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("ParseSMTPURL(%q) error %q contains %q, a piece of the password", raw, err, piece)
				}
			}
		}
	}
}

func TestNewMailer(t *testing.T) {
	m, err := NewMailer(SMTPConfig{Host: "mail.example", From: "pusher@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.TLS != TLSStartTLS || m.cfg.Port != 587 || m.cfg.Timeout != DefaultSMTPTimeout {
		t.Errorf("defaults = %+v; want starttls, 587, %v", m.cfg, DefaultSMTPTimeout)
	}
	m, err = NewMailer(SMTPConfig{Host: "mail.example", TLS: TLSImplicit, Username: "bot@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.Port != 465 || m.from.Address != "bot@example.com" {
		t.Errorf("smtps defaults = %+v; want port 465, From = Username", m.cfg)
	}

	bad := []struct {
		cfg  SMTPConfig
		want string
	}{
		{SMTPConfig{From: "a@b.c"}, "host is empty"},
		{SMTPConfig{Host: "h", From: "a@b.c", TLS: "ssl"}, `unknown SMTP TLS mode "ssl"`},
		{SMTPConfig{Host: "h", From: "a@b.c", Port: 70000}, "port 70000 out of range"},
		{SMTPConfig{Host: "h", From: "a@b.c", Timeout: -time.Second}, "negative SMTP timeout"},
		{SMTPConfig{Host: "h", Username: "user"}, "sender address (From) is empty"},
		{SMTPConfig{Host: "h", From: "nobody"}, `invalid SMTP sender address "nobody"`},
	}
	for _, tt := range bad {
		_, err := NewMailer(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewMailer(%+v) error = %v; want %q", tt.cfg, err, tt.want)
		}
	}
}

// testMailer returns a Mailer for the test server at addr, without TLS.
func testMailer(t *testing.T, addr, user, pass string) *Mailer {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	m, err := NewMailer(SMTPConfig{
		Host: host, Port: port, Username: user, Password: pass, TLS: TLSNone,
		From: "Pusher <pusher@pusher.example>", Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkFailingMail asserts that r is failingNotice() as sent by testMailer.
func checkFailingMail(t *testing.T, r smtptest.Received) {
	t.Helper()
	if r.From != "pusher@pusher.example" {
		t.Errorf("envelope sender = %q; want pusher@pusher.example", r.From)
	}
	if !slices.Equal(r.To, []string{"ops@shop.example"}) {
		t.Errorf("recipients = %q; want [ops@shop.example]", r.To)
	}
	p := smtptest.MustParse(t, r.Data)
	wantSubject, _, _ := Render(failingNotice())
	if p.Subject != wantSubject {
		t.Errorf("Subject = %q; want %q", p.Subject, wantSubject)
	}
	if p.From != "pusher@pusher.example" {
		t.Errorf("From = %q; want pusher@pusher.example", p.From)
	}
	if got := p.Header.Get("To"); !strings.Contains(got, "ops@shop.example") {
		t.Errorf("To = %q; want ops@shop.example", got)
	}
	if got := p.Header.Get("Auto-Submitted"); got != "auto-generated" {
		t.Errorf("Auto-Submitted = %q; want auto-generated", got)
	}
	if got, want := p.Header.Get("Message-Id"), "<pusher-notice-7."+testSub+"@pusher.example>"; got != want {
		t.Errorf("Message-Id = %q; want %q", got, want)
	}
	for what, body := range map[string]string{"text part": p.Text, "html part": p.HTML} {
		mustContain(t, what, body, testDest, testSub, testOrg,
			"ProductCreated, InventoryBalanceChanged", "HTTP 503 from https://shop.example/hook",
			"Mon, 29 Mar 2021 16:32:47 UTC (in 1 min)")
	}
	mustContain(t, "html part", p.HTML, "<table")
}

func TestMailerSendNoAuth(t *testing.T) {
	srv := smtptest.Start(t)
	m := testMailer(t, srv.Addr(), "", "")
	if err := m.Send(context.Background(), failingNotice()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Inbox()
	if len(got) != 1 {
		t.Fatalf("server received %d messages; want 1", len(got))
	}
	if got[0].AuthUser != "" {
		t.Errorf("AuthUser = %q; want no AUTH", got[0].AuthUser)
	}
	checkFailingMail(t, got[0])
}

func TestMailerSendAuthPlain(t *testing.T) {
	const user, pass = "pusher", "p@ss:w/rd"
	srv := smtptest.Start(t, smtptest.WithAuth(user, pass))

	// Configured through the URL, as in production.
	raw := "smtp://pusher:p%40ss%3Aw%2Frd@" + srv.Addr() + "?tls=none&from=pusher%40pusher.example"
	cfg, err := ParseSMTPURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), failingNotice()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Inbox()
	if len(got) != 1 {
		t.Fatalf("server received %d messages; want 1", len(got))
	}
	if got[0].AuthUser != user {
		t.Errorf("AuthUser = %q; want %q", got[0].AuthUser, user)
	}
	checkFailingMail(t, got[0])
}

func TestMailerSendErrors(t *testing.T) {
	const pass = "Zq9secretPW"
	srv := smtptest.Start(t, smtptest.WithAuth("pusher", pass))
	ctx := context.Background()

	t.Run("wrong password", func(t *testing.T) {
		err := testMailer(t, srv.Addr(), "pusher", "wrong-"+pass).Send(ctx, failingNotice())
		if err == nil || !strings.Contains(err.Error(), "AUTH") {
			t.Fatalf("Send error = %v; want an AUTH error", err)
		}
		if strings.Contains(err.Error(), pass) {
			t.Errorf("error %q contains the password", err)
		}
	})
	t.Run("auth required", func(t *testing.T) {
		err := testMailer(t, srv.Addr(), "", "").Send(ctx, failingNotice())
		if err == nil {
			t.Fatal("Send without AUTH succeeded; want error")
		}
	})
	t.Run("server answers 451", func(t *testing.T) {
		srv.SetDown(true)
		defer srv.SetDown(false)
		err := testMailer(t, srv.Addr(), "pusher", pass).Send(ctx, failingNotice())
		if err == nil || !strings.Contains(err.Error(), "451") {
			t.Fatalf("Send error = %v; want 451", err)
		}
	})
	t.Run("starttls required", func(t *testing.T) {
		m := testMailer(t, srv.Addr(), "pusher", pass)
		m.cfg.TLS = TLSStartTLS // the test server offers no STARTTLS
		err := m.Send(ctx, failingNotice())
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send error = %v; want STARTTLS error", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		err = testMailer(t, closed, "", "").Send(ctx, failingNotice())
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("Send error = %v; want connection refused", err)
		}
	})
	t.Run("bad recipient", func(t *testing.T) {
		n := failingNotice()
		n.To = "not an address"
		err := testMailer(t, srv.Addr(), "pusher", pass).Send(ctx, n)
		if err == nil || !strings.Contains(err.Error(), "invalid recipient") {
			t.Fatalf("Send error = %v; want invalid recipient", err)
		}
	})
	if n := len(srv.Inbox()); n != 0 {
		t.Errorf("server received %d messages; want 0", n)
	}
}

func TestMailerSendTLS(t *testing.T) {
	const user, pass = "pusher", "Zq9secretPW"
	for _, tt := range []struct {
		name     string
		implicit bool
		mode     TLSMode
	}{
		{"starttls", false, TLSStartTLS},
		{"implicit", true, TLSImplicit},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.WithTLS(tt.implicit), smtptest.WithAuth(user, pass))
			m := testMailer(t, srv.Addr(), user, pass)
			m.cfg.TLS = tt.mode

			// The certificate is self-signed: verification must fail first.
			err := m.Send(context.Background(), failingNotice())
			if err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("Send with an untrusted certificate: error = %v; want a certificate error", err)
			}

			m.cfg.InsecureSkipVerify = true
			if err := m.Send(context.Background(), failingNotice()); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Inbox()
			if len(got) != 1 {
				t.Fatalf("server received %d messages; want 1", len(got))
			}
			if !got[0].TLS || got[0].AuthUser != user {
				t.Errorf("TLS = %v, AuthUser = %q; want TLS and AUTH as %q", got[0].TLS, got[0].AuthUser, user)
			}
			checkFailingMail(t, got[0])
		})
	}
}
