package notify

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"

	"github.com/pusher-hq/pusher/internal/notify/smtptest"
)

// memOutbox is an in-memory Outbox, standing in for the store.
type memOutbox struct {
	mu      sync.Mutex
	nextID  int64
	rows    []*outboxRow
	markErr int // fail this many MarkNoticeSent calls (after recording nothing)
	dueErr  int // fail this many DueNotices calls
}

type outboxRow struct {
	n      webhook.Notice
	nextAt time.Time
	sentAt time.Time
	errs   []string
}

func (o *memOutbox) add(n webhook.Notice, at time.Time) int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.nextID++
	n.ID = o.nextID
	n.CreatedAt = at
	o.rows = append(o.rows, &outboxRow{n: n, nextAt: at})
	return n.ID
}

func (o *memOutbox) row(id int64) outboxRow {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.rows {
		if r.n.ID == id {
			return *r
		}
	}
	return outboxRow{}
}

func (o *memOutbox) DueNotices(_ context.Context, now time.Time, limit int) ([]webhook.Notice, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.dueErr > 0 {
		o.dueErr--
		return nil, errors.New("database is locked")
	}
	var due []webhook.Notice
	for _, r := range o.rows { // rows are in creation order
		if r.sentAt.IsZero() && !r.nextAt.After(now) && len(due) < limit {
			n := r.n
			n.Attempts = len(r.errs)
			due = append(due, n)
		}
	}
	return due, nil
}

func (o *memOutbox) MarkNoticeSent(_ context.Context, id int64, at time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.markErr > 0 {
		o.markErr--
		return errors.New("disk I/O error")
	}
	for _, r := range o.rows {
		if r.n.ID == id {
			r.sentAt = at
			return nil
		}
	}
	return errors.New("no such notice")
}

func (o *memOutbox) MarkNoticeFailed(_ context.Context, id int64, errText string, retryAt time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.rows {
		if r.n.ID == id {
			r.errs = append(r.errs, errText)
			r.nextAt = retryAt
			return nil
		}
	}
	return errors.New("no such notice")
}

var _ Outbox = (*memOutbox)(nil)

// syncBuffer is a bytes.Buffer safe for a logger and a test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// runSender starts s.Run and returns a function that stops it and checks
// that Run returned nil promptly.
func runSender(t *testing.T, s *Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v; want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it is true or the timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSenderSMTPOutage(t *testing.T) {
	srv := smtptest.Start(t)
	srv.SetDown(true)
	ob := &memOutbox{}
	id := ob.add(failingNotice(), time.Now())
	log, logs := testLogger()
	var mu sync.Mutex
	var attempts []int
	s := &Sender{
		Outbox:   ob,
		Mailer:   testMailer(t, srv.Addr(), "", ""),
		Logger:   log,
		Interval: 10 * time.Millisecond,
		Backoff: func(attempt int) time.Duration {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, attempt)
			return 20 * time.Millisecond
		},
	}
	runSender(t, s)

	waitFor(t, "three failed attempts", func() bool { return len(ob.row(id).errs) >= 3 })
	if n := len(srv.Inbox()); n != 0 {
		t.Fatalf("inbox has %d messages while the server is down", n)
	}
	r := ob.row(id)
	if !r.sentAt.IsZero() {
		t.Fatal("notice marked sent while the server is down")
	}
	if !strings.Contains(r.errs[0], "451") {
		t.Errorf("recorded error = %q; want the server's 451 answer", r.errs[0])
	}
	mu.Lock()
	if !slices.Equal(attempts[:3], []int{1, 2, 3}) {
		t.Errorf("Backoff called with attempts %v; want 1, 2, 3, …", attempts)
	}
	mu.Unlock()
	mustContain(t, "log", logs.String(), "sending notice failed", "attempt=1", "451")

	srv.SetDown(false)
	waitFor(t, "the notice to arrive", func() bool { return len(srv.Inbox()) > 0 })
	waitFor(t, "the notice to be marked sent", func() bool { return !ob.row(id).sentAt.IsZero() })
	time.Sleep(100 * time.Millisecond) // ten more polls: nothing may be sent again
	got := srv.Inbox()
	if len(got) != 1 {
		t.Fatalf("inbox has %d messages after recovery; want exactly 1", len(got))
	}
	checkFailingMailAt(t, got[0], ob.row(id).n)
}

// checkFailingMailAt checks a received failing notice against n.
func checkFailingMailAt(t *testing.T, r smtptest.Received, n webhook.Notice) {
	t.Helper()
	if !slices.Equal(r.To, []string{n.To}) {
		t.Errorf("recipients = %q; want [%s]", r.To, n.To)
	}
	p := smtptest.MustParse(t, r.Data)
	want, _, _ := Render(n)
	if p.Subject != want {
		t.Errorf("Subject = %q; want %q", p.Subject, want)
	}
	mustContain(t, "text part", p.Text, n.Destination, n.SubscriptionUUID, n.Reason())
}

func TestSenderSendsInOrderAndOnlyOnce(t *testing.T) {
	srv := smtptest.Start(t)
	ob := &memOutbox{}
	start := time.Now()
	var ids []int64
	for i := range batchSize + 5 { // more than one batch
		n := failingNotice()
		n.SubscriptionUUID = testSub[:len(testSub)-2] + string(rune('a'+i%26)) + string(rune('a'+i/26))
		ids = append(ids, ob.add(n, start.Add(time.Duration(i-100)*time.Millisecond)))
	}
	log, _ := testLogger()
	runSender(t, &Sender{Outbox: ob, Mailer: testMailer(t, srv.Addr(), "", ""), Logger: log, Interval: time.Hour})

	// Interval is an hour: all batches must go out in the first round.
	waitFor(t, "all notices", func() bool { return len(srv.Inbox()) == len(ids) })
	got := srv.Inbox()
	for i, r := range got {
		p := smtptest.MustParse(t, r.Data)
		want, _, _ := Render(ob.row(ids[i]).n)
		if p.Subject != want {
			t.Errorf("message %d subject = %q; want %q (oldest first)", i, p.Subject, want)
		}
	}
	for _, id := range ids {
		if ob.row(id).sentAt.IsZero() {
			t.Errorf("notice %d not marked sent", id)
		}
	}
}

func TestSenderWake(t *testing.T) {
	srv := smtptest.Start(t)
	ob := &memOutbox{}
	wake := make(chan struct{}, 1)
	log, _ := testLogger()
	runSender(t, &Sender{Outbox: ob, Mailer: testMailer(t, srv.Addr(), "", ""), Logger: log, Interval: time.Hour, Wake: wake})

	time.Sleep(20 * time.Millisecond) // the first poll finds nothing
	ob.add(failingNotice(), time.Now())
	wake <- struct{}{}
	waitFor(t, "the notice after a wake-up", func() bool { return len(srv.Inbox()) == 1 })
}

func TestSenderMarkSentFails(t *testing.T) {
	srv := smtptest.Start(t)
	ob := &memOutbox{markErr: 2}
	id := ob.add(failingNotice(), time.Now())
	log, logs := testLogger()
	runSender(t, &Sender{Outbox: ob, Mailer: testMailer(t, srv.Addr(), "", ""), Logger: log, Interval: 10 * time.Millisecond})

	waitFor(t, "the notice to be marked sent", func() bool { return !ob.row(id).sentAt.IsZero() })
	if n := len(srv.Inbox()); n != 1 {
		t.Errorf("inbox has %d messages; want 1 (not re-sent while marking failed)", n)
	}
	mustContain(t, "log", logs.String(), "recording sent notice failed")
}

func TestSenderOutboxErrors(t *testing.T) {
	srv := smtptest.Start(t)
	ob := &memOutbox{dueErr: 3}
	ob.add(failingNotice(), time.Now())
	log, logs := testLogger()
	runSender(t, &Sender{Outbox: ob, Mailer: testMailer(t, srv.Addr(), "", ""), Logger: log, Interval: 10 * time.Millisecond})

	waitFor(t, "the notice", func() bool { return len(srv.Inbox()) == 1 })
	if got := strings.Count(logs.String(), "reading due notices failed"); got != 3 {
		t.Errorf("logged %d outbox errors; want 3", got)
	}
}

func TestSenderNoMailer(t *testing.T) {
	ob := &memOutbox{}
	first := ob.add(failingNotice(), time.Now())
	log, logs := testLogger()
	var nilMailer *Mailer // a typed nil counts as "no SMTP"
	stop := runSender(t, &Sender{Outbox: ob, Mailer: nilMailer, Logger: log, Interval: 5 * time.Millisecond})

	waitFor(t, "the notice to be logged", func() bool {
		return strings.Contains(logs.String(), "notice kept in the outbox")
	})
	time.Sleep(50 * time.Millisecond) // about ten polls
	n := failingNotice()
	n.Kind = webhook.NoticeRecovered
	second := ob.add(n, time.Now())
	waitFor(t, "the second notice to be logged", func() bool {
		return strings.Count(logs.String(), "notice kept in the outbox") == 2
	})
	time.Sleep(50 * time.Millisecond)
	stop()

	out := logs.String()
	if got := strings.Count(out, "notice kept in the outbox"); got != 2 {
		t.Errorf("logged %d notices; want each of 2 logged once:\n%s", got, out)
	}
	wantSubject, _, _ := Render(ob.row(first).n)
	mustContain(t, "log", out, "level=INFO", "no SMTP server configured",
		"id=1 kind=failing to=ops@shop.example", `subject="`+wantSubject+`"`,
		"id=2 kind=recovered")
	for _, id := range []int64{first, second} {
		if r := ob.row(id); !r.sentAt.IsZero() || len(r.errs) != 0 {
			t.Errorf("notice %d: sent %v, errors %q; want untouched in the outbox", id, r.sentAt, r.errs)
		}
	}

	// A new process logs the still-pending notices again, once.
	log2, logs2 := testLogger()
	stop = runSender(t, &Sender{Outbox: ob, Logger: log2, Interval: 5 * time.Millisecond})
	waitFor(t, "the restart to log both", func() bool {
		return strings.Count(logs2.String(), "notice kept in the outbox") == 2
	})
	time.Sleep(30 * time.Millisecond)
	stop()
	if got := strings.Count(logs2.String(), "notice kept in the outbox"); got != 2 {
		t.Errorf("after restart logged %d times; want 2", got)
	}
}

func TestSenderNoMailerManyNotices(t *testing.T) {
	// More unsent notices than a batch: every one is logged, none twice.
	ob := &memOutbox{}
	total := 2*batchSize + 3
	for range total {
		ob.add(failingNotice(), time.Now())
	}
	log, logs := testLogger()
	stop := runSender(t, &Sender{Outbox: ob, Logger: log, Interval: 2 * time.Millisecond})
	waitFor(t, "all notices logged", func() bool {
		return strings.Count(logs.String(), "notice kept in the outbox") >= total
	})
	time.Sleep(20 * time.Millisecond)
	stop()
	if got := strings.Count(logs.String(), "notice kept in the outbox"); got != total {
		t.Errorf("logged %d; want %d", got, total)
	}
}

func TestSenderRunErrors(t *testing.T) {
	if err := (&Sender{}).Run(context.Background()); err == nil {
		t.Error("Run without Outbox succeeded; want error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	log, _ := testLogger()
	if err := (&Sender{Outbox: &memOutbox{}, Logger: log}).Run(ctx); err != nil {
		t.Errorf("Run with cancelled context = %v; want nil", err)
	}
}

func TestDefaultBackoff(t *testing.T) {
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := DefaultBackoff(i + 1); got != w {
			t.Errorf("DefaultBackoff(%d) = %v; want %v", i+1, got, w)
		}
	}
	if got := DefaultBackoff(0); got != 30*time.Second {
		t.Errorf("DefaultBackoff(0) = %v; want 30s", got)
	}
}
