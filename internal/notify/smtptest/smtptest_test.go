package smtptest

import (
	"net/smtp"
	"strings"
	"testing"
	"time"
)

func TestSMTPServerReceivesAndRejectsWhileDown(t *testing.T) {
	srv := Start(t)
	msg := "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nplain body\r\n"
	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	got := srv.WaitInbox(t, 1, 5*time.Second)
	if got[0].From != "a@example.com" || len(got[0].To) != 1 || got[0].To[0] != "b@example.com" || got[0].TLS {
		t.Errorf("received %+v", got[0])
	}
	if _, err := Parse(got[0].Data); err == nil || !strings.Contains(err.Error(), "multipart/alternative") {
		t.Errorf("Parse of a plain message: error %v; want a complaint about multipart/alternative", err)
	}

	srv.SetDown(true)
	err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(msg))
	if err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("SendMail while down: error %v; want 451", err)
	}
	if n := srv.Rejected(); n != 1 {
		t.Errorf("Rejected() = %d; want 1", n)
	}
	if n := len(srv.Inbox()); n != 1 {
		t.Errorf("inbox has %d messages; want 1", n)
	}
}

func TestSMTPParse(t *testing.T) {
	raw := "From: Pusher <pusher@example.com>\r\nTo: ops@shop.example\r\nSubject: =?UTF-8?q?Caf=C3=A9?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9\r\n" +
		"--b\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<p>Caf\xc3\xa9</p>\r\n--b--\r\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "pusher@example.com" || len(m.To) != 1 || m.To[0] != "ops@shop.example" || m.Subject != "Café" ||
		m.Text != "Café" || m.HTML != "<p>Café</p>" {
		t.Errorf("Parse = %+v", m)
	}
}
