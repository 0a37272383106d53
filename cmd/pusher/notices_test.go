package main

import (
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/notify"
	"github.com/pusher-hq/pusher/internal/notify/smtptest"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// End-to-end tests of the failure e-mails: a real pusher serve (run()), a
// real SMTP server (smtptest), real HTTP receivers whose answers the tests
// script, subscriptions created over HTTP and events published with
// "pusher publish".

const mailFrom = "pusher@test.example"

// noticeServer is a running pusher serve wired to a test SMTP server.
type noticeServer struct {
	t       *testing.T
	url     string
	dataDir string
	token   string
	smtp    *smtptest.Server
}

// startNoticeServe starts the SMTP server, then pusher serve with fast
// retries (3 retries 150 ms apart, 1 s delivery timeout), a 50 ms notice poll
// and strict per-subscription order, and then the extra flags.
func startNoticeServe(t *testing.T, extra ...string) *noticeServer {
	t.Helper()
	smtp := smtptest.Start(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	url, _ := startServe(t, dataDir, append([]string{
		"-smtp-url", "smtp://" + smtp.Addr() + "?tls=none",
		"-mail-from", mailFrom,
		"-retry-schedule", "3x150ms",
		"-delivery-timeout", "1s",
		"-notice-poll-interval", "50ms",
		"-per-subscription", "1",
	}, extra...)...)
	token := runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", "notices", "-scope", "READ:PRODUCT")
	return &noticeServer{t: t, url: url, dataDir: dataDir, token: token, smtp: smtp}
}

// call sends an authorized subscription API request.
func (s *noticeServer) call(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// subscribe creates a ProductCreated subscription; the destination must
// accept the TestMessage.
func (s *noticeServer) subscribe(uuid, destination, contact string) {
	s.t.Helper()
	status, body := s.call("POST", "/organizations/self/subscriptions", `{"uuid":"`+uuid+`","transportName":"WEBHOOK",
		"eventNames":["ProductCreated"],"destination":"`+destination+`","contactEmail":"`+contact+`"}`)
	if status != 200 {
		s.t.Fatalf("create subscription %s = %d %s", uuid, status, body)
	}
}

// publish publishes a ProductCreated event with "pusher publish".
func (s *noticeServer) publish(eventID string) {
	s.t.Helper()
	out := runCmd(s.t, "publish", "-server", s.url, "-data-dir", s.dataDir, "-org", testOrg,
		"-event", "ProductCreated", "-event-id", eventID, "-payload", `{"eventId":"`+eventID+`"}`)
	if !strings.Contains(out, "messageId=") {
		s.t.Fatalf("publish %s printed %q", eventID, out)
	}
}

// notices runs "pusher notifications" and returns its rows, oldest first,
// with the KIND, STATE and DETAIL columns cut out.
func (s *noticeServer) notices() []noticeRow {
	s.t.Helper()
	out := runCmd(s.t, "notifications", "-data-dir", s.dataDir)
	if out == "no notices" {
		return nil
	}
	lines := strings.Split(out, "\n")
	header := lines[0]
	col := func(name string) int {
		i := strings.Index(header, name)
		if i < 0 {
			s.t.Fatalf("notifications header %q has no %s", header, name)
		}
		return i
	}
	kindCol, toCol, stateCol, detailCol := col("KIND"), col("TO"), col("STATE"), col("DETAIL")
	var rows []noticeRow
	for _, l := range slices.Backward(lines[1:]) {
		field := func(from, end int) string {
			end = min(end, len(l))
			if from >= end {
				return ""
			}
			return strings.TrimSpace(l[from:end])
		}
		rows = append(rows, noticeRow{
			Kind: field(kindCol, toCol), State: field(stateCol, detailCol), Detail: field(detailCol, len(l)), Line: l,
		})
	}
	return rows
}

type noticeRow struct {
	Kind, State, Detail string
	Line                string
}

func rowsText(rows []noticeRow) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.Line + "\n")
	}
	return b.String()
}

// eventually polls cond every 20 ms until it is true; it fails the test
// with what and the last state if timeout passes first.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state:\n%s", timeout, what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver is an HTTP destination whose answers a test scripts
// (webhooktest). It always accepts the TestMessage; every other delivery
// gets answer's status, a 3xx with a Location. Its String lists the
// requests and their answers.
type receiver struct{ *webhooktest.Server }

// newReceiver starts a receiver. answer gets the payload and the number of
// this delivery of that payload (1 for the first) and returns the status.
func newReceiver(t *testing.T, answer func(payload string, n int) int) receiver {
	rcv := webhooktest.NewServer(t)
	rcv.SetAnswer(func(r webhooktest.Request) int {
		if r.EnvelopeErr != nil {
			t.Errorf("receiver: bad envelope: %v", r.EnvelopeErr)
		}
		return answer(r.Envelope.Payload, r.Attempt) // one messageId per payload
	})
	return receiver{rcv}
}

// deliveries returns how many deliveries of payload arrived, TestMessage
// excluded, whatever the answer.
func (r receiver) deliveries(payload string) int {
	n := 0
	for _, d := range r.Deliveries() {
		if d.Envelope.Payload == payload {
			n++
		}
	}
	return n
}

// mailsOfKind returns the parsed messages of the inbox whose X-Pusher-Notice
// header is kind ("" for all), with their envelopes.
func mailsOfKind(t *testing.T, inbox []smtptest.Received, kind string) ([]smtptest.Received, []smtptest.Message) {
	t.Helper()
	var rs []smtptest.Received
	var ms []smtptest.Message
	for _, r := range inbox {
		m := smtptest.MustParse(t, r.Data)
		if kind == "" || m.Header.Get("X-Pusher-Notice") == kind {
			rs, ms = append(rs, r), append(ms, m)
		}
	}
	return rs, ms
}

func inboxSummary(t *testing.T, inbox []smtptest.Received) string {
	_, ms := mailsOfKind(t, inbox, "")
	var b strings.Builder
	for _, m := range ms {
		b.WriteString(m.Header.Get("X-Pusher-Notice") + ": " + m.Subject + " to " + strings.Join(m.To, ",") + "\n")
	}
	return b.String()
}

// checkMail checks the envelope, headers and both parts of a notice e-mail.
// want are phrases both parts must contain, besides the destination,
// subscription, organization and events.
func checkMail(t *testing.T, r smtptest.Received, m smtptest.Message, kind, subjectPrefix, contact, dest, sub string, want ...string) {
	t.Helper()
	if r.From != mailFrom || m.From != mailFrom {
		t.Errorf("%s: envelope sender %q, From %q; want %s", kind, r.From, m.From, mailFrom)
	}
	if !slices.Equal(r.To, []string{contact}) || !slices.Equal(m.To, []string{contact}) {
		t.Errorf("%s: envelope recipients %q, To %q; want %s", kind, r.To, m.To, contact)
	}
	if got := m.Header.Get("X-Pusher-Notice"); got != kind {
		t.Errorf("X-Pusher-Notice = %q; want %q", got, kind)
	}
	if !strings.HasPrefix(m.Subject, subjectPrefix) || !strings.Contains(m.Subject, dest) || !strings.Contains(m.Subject, sub) {
		t.Errorf("%s: Subject = %q; want %q… naming %s and %s", kind, m.Subject, subjectPrefix, dest, sub)
	}
	want = append([]string{dest, sub, testOrg, "ProductCreated"}, want...)
	for part, body := range map[string]string{"text/plain": m.Text, "text/html": m.HTML} {
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s notice, %s part does not contain %q:\n%s", kind, part, w, body)
			}
		}
	}
}

// hasLine reports whether text has a line that starts with label and ends
// with value, as in "Reason:        HTTP 503 from …".
func hasLine(text, label, value string) bool {
	for l := range strings.SplitSeq(text, "\n") {
		if strings.HasPrefix(l, label) && strings.TrimSpace(strings.TrimPrefix(l, label)) == value {
			return true
		}
	}
	return false
}

func TestNoticesFailureRecoveryExhaustion(t *testing.T) {
	t.Parallel()
	const (
		sub     = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
		contact = "ops@shop.example"
		first   = `{"eventId":"e-1"}`
	)
	srv := startNoticeServe(t)
	held := make(chan struct{}) // closed when the events of the second episode are all published
	rcv := newReceiver(t, func(payload string, n int) int {
		switch {
		case payload == first && n <= 2:
			return http.StatusServiceUnavailable // first episode: two failures…
		case payload == first:
			return http.StatusOK // …then a success: recovered
		case n == 1:
			// The second episode's first attempt waits until e-3 is published
			// too, so e-3 is held behind it and dies with the subscription.
			select {
			case <-held:
			case <-time.After(900 * time.Millisecond):
			}
		}
		return http.StatusInternalServerError // second episode: until deleted
	})
	srv.subscribe(sub, rcv.URL, contact)

	// First episode: failing, then recovered.
	srv.publish("e-1")
	eventually(t, 10*time.Second, "e-1 delivered on its third attempt", func() (bool, string) {
		return rcv.deliveries(first) >= 3, rcv.String()
	})
	eventually(t, 10*time.Second, "the failing and recovered e-mails", func() (bool, string) {
		in := srv.smtp.Inbox()
		return len(in) >= 2, inboxSummary(t, in)
	})

	// Second episode: its failing notice is throttled (one a day), and the
	// subscription is deleted when the 3 retries have failed too.
	srv.publish("e-2")
	srv.publish("e-3")
	close(held)
	eventually(t, 15*time.Second, "the subscription to be deleted", func() (bool, string) {
		status, body := srv.call("GET", "/organizations/self/subscriptions", "")
		return status == 200 && body == "[]", body
	})
	// The deleted notice is the last one that can be written; wait until it
	// and every other notice in the outbox is sent. A notice is marked sent
	// after its e-mail was accepted, so the inbox is complete then.
	var rows []noticeRow
	eventually(t, 10*time.Second, "the deleted notice and all others to be sent", func() (bool, string) {
		rows = srv.notices()
		done := slices.ContainsFunc(rows, func(r noticeRow) bool { return r.Kind == "deleted" })
		for _, r := range rows {
			done = done && strings.HasPrefix(r.State, "sent ")
		}
		return done, rowsText(rows)
	})
	var kinds []string
	for _, r := range rows {
		kinds = append(kinds, r.Kind)
	}
	if !slices.Equal(kinds, []string{"failing", "recovered", "deleted"}) {
		t.Errorf("outbox holds notices %q; want exactly failing, recovered, deleted:\n%s", kinds, rowsText(rows))
	}
	inbox := srv.smtp.Inbox()
	rs, ms := mailsOfKind(t, inbox, "")
	if len(ms) != 3 {
		t.Fatalf("got %d e-mails; want exactly 3 (failing, recovered, deleted):\n%s", len(ms), inboxSummary(t, inbox))
	}
	if got := rcv.deliveries(`{"eventId":"e-2"}`); got != 4 {
		t.Errorf("e-2 was attempted %d times; want 4 (first attempt + 3 retries)", got)
	}
	if got := rcv.deliveries(`{"eventId":"e-3"}`); got != 0 {
		t.Errorf("e-3 was attempted %d times; want 0 (held while failing)", got)
	}

	checkMail(t, rs[0], ms[0], "failing", "[pusher] Webhook failing: ", contact, rcv.URL, sub,
		"HTTP 503 from "+rcv.URL, "FAILING")
	checkMail(t, rs[1], ms[1], "recovered", "[pusher] Webhook recovered: ", contact, rcv.URL, sub,
		"ACTIVE", "No messages were waiting.")
	checkMail(t, rs[2], ms[2], "deleted", "[pusher] Webhook subscription deleted: ", contact, rcv.URL, sub,
		"2 messages were not delivered")
	if !hasLine(ms[0].Text, "Reason:", "HTTP 503 from "+rcv.URL) {
		t.Errorf("failing notice has no line \"Reason: HTTP 503 from %s\":\n%s", rcv.URL, ms[0].Text)
	}
	if !hasLine(ms[2].Text, "Not delivered:", "2 messages") {
		t.Errorf("deleted notice has no line \"Not delivered: 2 messages\":\n%s", ms[2].Text)
	}
}

func TestNoticeReasonPerFailureClass(t *testing.T) {
	t.Parallel()
	srv := startNoticeServe(t)

	// No answer within the 1 s delivery timeout.
	slow := newReceiver(t, func(string, int) int {
		time.Sleep(1500 * time.Millisecond)
		return http.StatusOK
	})
	// Connection refused: the destination is gone after the TestMessage.
	gone := newReceiver(t, func(string, int) int { return http.StatusOK })
	// A redirect, which is not followed.
	moved := newReceiver(t, func(string, int) int { return http.StatusFound })

	goneHost := strings.TrimPrefix(gone.URL, "http://")
	cases := []struct {
		class, sub, contact, dest, reason string
	}{
		{"timeout", "a1000000-8f35-11eb-8dcd-0242ac130003", "timeout@shop.example", slow.URL, "no answer within 1 s"},
		{"refused", "b2000000-8f35-11eb-8dcd-0242ac130003", "refused@shop.example", gone.URL, "connection refused by " + goneHost},
		{"redirect", "c3000000-8f35-11eb-8dcd-0242ac130003", "redirect@shop.example", moved.URL, "redirect (HTTP 302) — redirects are not followed"},
	}
	for _, c := range cases {
		srv.subscribe(c.sub, c.dest, c.contact)
	}
	gone.Close()
	srv.publish("e-1") // one message per subscription

	eventually(t, 15*time.Second, "a failing e-mail per subscription", func() (bool, string) {
		in := srv.smtp.Inbox()
		rs, _ := mailsOfKind(t, in, "failing")
		return len(rs) >= len(cases), inboxSummary(t, in)
	})
	rs, ms := mailsOfKind(t, srv.smtp.Inbox(), "failing")
	if len(rs) != len(cases) {
		t.Fatalf("got %d failing e-mails; want %d", len(rs), len(cases))
	}
	for _, c := range cases {
		i := slices.IndexFunc(rs, func(r smtptest.Received) bool { return slices.Equal(r.To, []string{c.contact}) })
		if i < 0 {
			t.Errorf("%s: no failing e-mail to %s", c.class, c.contact)
			continue
		}
		checkMail(t, rs[i], ms[i], "failing", "[pusher] Webhook failing: ", c.contact, c.dest, c.sub, c.reason)
		if !hasLine(ms[i].Text, "Reason:", c.reason) {
			t.Errorf("%s: text part has no line \"Reason: … %s\":\n%s", c.class, c.reason, ms[i].Text)
		}
	}
}

// TestNoticeSurvivesSMTPOutage shows through pusher serve what
// notify.TestSenderSMTPOutage (which checks the retry timing exactly, on a
// fake clock) cannot: with the real outbox and a real SMTP server answering
// 451, the failing and the deleted notice wait out the outage, "pusher
// notifications" shows them retrying with the server's answer, and each
// arrives exactly once when the server is back. -notice-retry-backoff is
// 500 ms; with the 30 s default the notices would miss the 10 s deadline.
func TestNoticeSurvivesSMTPOutage(t *testing.T) {
	t.Parallel()
	const (
		sub     = "d4000000-8f35-11eb-8dcd-0242ac130003"
		contact = "ops@shop.example"
	)
	srv := startNoticeServe(t, "-notice-retry-backoff", "500ms")
	rcv := newReceiver(t, func(string, int) int { return http.StatusServiceUnavailable })
	srv.subscribe(sub, rcv.URL, contact)

	// The SMTP server is down when the failing notice, and then the deleted
	// notice (after the 3 retries), is due.
	srv.smtp.SetDown(true)
	srv.publish("e-1")
	var rows []noticeRow
	eventually(t, 10*time.Second, "both notices to have failed to send", func() (bool, string) {
		rows = srv.notices()
		done := len(rows) == 2
		for _, r := range rows {
			done = done && strings.HasPrefix(r.State, "retrying (") && strings.Contains(r.Detail, "451")
		}
		return done, rowsText(rows)
	})
	t.Logf("pusher notifications during the outage:\n%s", rowsText(rows))
	if rows[0].Kind != "failing" || rows[1].Kind != "deleted" {
		t.Errorf("notices = %s, %s; want failing, deleted", rows[0].Kind, rows[1].Kind)
	}
	if n := len(srv.smtp.Inbox()); n != 0 {
		t.Fatalf("%d e-mails arrived while the SMTP server was down", n)
	}
	if got := srv.smtp.Rejected(); got < 2 {
		t.Errorf("the SMTP server rejected %d messages while down; want at least one per notice", got)
	}

	// The sender retries each notice 500 ms after its first failure, 1 s
	// after its second, …
	srv.smtp.SetDown(false)
	back := time.Now()
	eventually(t, 10*time.Second, "both notices to be sent after the outage", func() (bool, string) {
		rows = srv.notices()
		done := len(rows) == 2
		for _, r := range rows {
			done = done && strings.HasPrefix(r.State, "sent ")
		}
		return done, rowsText(rows)
	})
	t.Logf("notices sent %v after the SMTP server came back", time.Since(back).Round(10*time.Millisecond))
	inbox := srv.smtp.Inbox()
	rs, ms := mailsOfKind(t, inbox, "")
	if len(ms) != 2 {
		t.Fatalf("got %d e-mails; want each notice exactly once:\n%s", len(ms), inboxSummary(t, inbox))
	}
	checkMail(t, rs[0], ms[0], "failing", "[pusher] Webhook failing: ", contact, rcv.URL, sub,
		"HTTP 503 from "+rcv.URL)
	checkMail(t, rs[1], ms[1], "deleted", "[pusher] Webhook subscription deleted: ", contact, rcv.URL, sub,
		"1 message was not delivered")
}

func TestNoticePollIntervalSetting(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, notify.DefaultPollInterval},
		{nil, map[string]string{"PUSHER_NOTICE_POLL_INTERVAL": "2s"}, 2 * time.Second},
		{[]string{"-notice-poll-interval", "50ms"}, map[string]string{"PUSHER_NOTICE_POLL_INTERVAL": "2s"}, 50 * time.Millisecond},
	} {
		c, err := parseServeConfig(tt.args, envMap(tt.env), io.Discard)
		if err != nil {
			t.Fatalf("parseServeConfig(%v, %v): %v", tt.args, tt.env, err)
		}
		if c.NoticePoll != tt.want {
			t.Errorf("parseServeConfig(%v, %v): NoticePoll = %v; want %v", tt.args, tt.env, c.NoticePoll, tt.want)
		}
		s, _, err := noticeSender(c, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if s.Interval != tt.want {
			t.Errorf("Sender.Interval = %v; want %v", s.Interval, tt.want)
		}
	}
	for _, bad := range []string{"0s", "-1s", "soon"} {
		if _, err := parseServeConfig(nil, envMap(map[string]string{"PUSHER_NOTICE_POLL_INTERVAL": bad}), io.Discard); err == nil {
			t.Errorf("PUSHER_NOTICE_POLL_INTERVAL=%s accepted; want an error", bad)
		}
	}
	var help strings.Builder
	parseServeConfig([]string{"-h"}, envMap(nil), &help)
	if !strings.Contains(help.String(), "PUSHER_NOTICE_POLL_INTERVAL") {
		t.Error("serve -h does not mention PUSHER_NOTICE_POLL_INTERVAL")
	}
}

func TestNoticeRetryBackoffSetting(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, notify.DefaultBackoff(1)},
		{nil, map[string]string{"PUSHER_NOTICE_RETRY_BACKOFF": "2s"}, 2 * time.Second},
		{[]string{"-notice-retry-backoff", "500ms"}, map[string]string{"PUSHER_NOTICE_RETRY_BACKOFF": "2s"}, 500 * time.Millisecond},
	} {
		c, err := parseServeConfig(tt.args, envMap(tt.env), io.Discard)
		if err != nil {
			t.Fatalf("parseServeConfig(%v, %v): %v", tt.args, tt.env, err)
		}
		if c.NoticeBackoff != tt.want {
			t.Errorf("parseServeConfig(%v, %v): NoticeBackoff = %v; want %v", tt.args, tt.env, c.NoticeBackoff, tt.want)
		}
		s, _, err := noticeSender(c, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for attempt := 1; attempt <= 5; attempt++ {
			if got, want := s.Backoff(attempt), notify.ScaledBackoff(tt.want)(attempt); got != want {
				t.Errorf("%v, %v: Sender.Backoff(%d) = %v; want %v", tt.args, tt.env, attempt, got, want)
			}
		}
	}
	for _, bad := range []string{"0s", "-1s", "soon"} {
		if _, err := parseServeConfig(nil, envMap(map[string]string{"PUSHER_NOTICE_RETRY_BACKOFF": bad}), io.Discard); err == nil {
			t.Errorf("PUSHER_NOTICE_RETRY_BACKOFF=%s accepted; want an error", bad)
		}
		if _, err := parseServeConfig([]string{"-notice-retry-backoff", bad}, envMap(nil), io.Discard); err == nil {
			t.Errorf("-notice-retry-backoff %s accepted; want an error", bad)
		}
	}
	var help strings.Builder
	parseServeConfig([]string{"-h"}, envMap(nil), &help)
	if !strings.Contains(help.String(), "PUSHER_NOTICE_RETRY_BACKOFF") {
		t.Error("serve -h does not mention PUSHER_NOTICE_RETRY_BACKOFF")
	}
}
