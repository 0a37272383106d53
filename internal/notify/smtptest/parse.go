package smtptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
)

// Message is a received e-mail taken apart.
type Message struct {
	Header  mail.Header
	From    string   // address of the From header
	To      []string // addresses of the To header
	Subject string   // decoded
	Text    string   // text/plain part, decoded
	HTML    string   // text/html part, decoded
}

// Parse parses raw DATA with net/mail and mime/multipart. It returns an
// error unless the message is multipart/alternative with exactly a text/plain
// and a text/html part, both in UTF-8, and has a valid From and To.
func Parse(data []byte) (Message, error) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Message{}, fmt.Errorf("smtptest: reading message: %w", err)
	}
	p := Message{Header: m.Header}
	if p.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
		return p, fmt.Errorf("smtptest: decoding Subject: %w", err)
	}
	from, err := mail.ParseAddress(m.Header.Get("From"))
	if err != nil {
		return p, fmt.Errorf("smtptest: parsing From %q: %w", m.Header.Get("From"), err)
	}
	p.From = from.Address
	to, err := m.Header.AddressList("To")
	if err != nil {
		return p, fmt.Errorf("smtptest: parsing To %q: %w", m.Header.Get("To"), err)
	}
	for _, a := range to {
		p.To = append(p.To, a.Address)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		return p, fmt.Errorf("smtptest: Content-Type = %q (%v); want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return p, fmt.Errorf("smtptest: next part: %w", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			return p, fmt.Errorf("smtptest: reading part: %w", err)
		}
		pt, pparams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			return p, fmt.Errorf("smtptest: part Content-Type %q: %w", part.Header.Get("Content-Type"), err)
		}
		if cs := strings.ToLower(pparams["charset"]); cs != "utf-8" {
			return p, fmt.Errorf("smtptest: part %s charset = %q; want utf-8", pt, cs)
		}
		switch {
		case pt == "text/plain" && p.Text == "":
			p.Text = string(body)
		case pt == "text/html" && p.HTML == "":
			p.HTML = string(body)
		default:
			return p, fmt.Errorf("smtptest: unexpected or repeated part %s", pt)
		}
	}
	if p.Text == "" || p.HTML == "" {
		return p, fmt.Errorf("smtptest: text part present %v, html part present %v; want both", p.Text != "", p.HTML != "")
	}
	return p, nil
}

// MustParse is Parse that fails the test on error, showing the raw message.
func MustParse(t testing.TB, data []byte) Message {
	t.Helper()
	p, err := Parse(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	return p
}
