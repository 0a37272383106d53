package notify

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// memOutbox is an in-memory Outbox, standing in for the store.
type memOutbox struct {
	mu      sync.Mutex
	nextID  int64
	rows    []*outboxRow
	markErr int // fail this many MarkNoticeSent calls (after recording nothing)
	dueErr  int // fail this many DueNotices calls
	polled  int // DueNotices calls, failed ones included
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

// polls returns the number of DueNotices calls so far.
func (o *memOutbox) polls() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.polled
}

func (o *memOutbox) DueNotices(_ context.Context, now time.Time, limit int) ([]webhook.Notice, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.polled++
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

func testLogger() (*slog.Logger, *webhooktest.Buffer) {
	buf := &webhooktest.Buffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// fakeMailer stands in for the SMTP Mailer. While down, every Send fails
// with downErr, as a server in trouble answers.
type fakeMailer struct {
	mu    sync.Mutex
	down  bool
	calls int              // Send calls, failed ones included
	sent  []webhook.Notice // accepted notices, in order
}

const downErr = "451 4.3.0 mail server temporarily unavailable"

func (m *fakeMailer) Send(_ context.Context, n webhook.Notice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.down {
		return errors.New(downErr)
	}
	m.sent = append(m.sent, n)
	return nil
}

func (m *fakeMailer) setDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

// counts returns the number of Send calls and of accepted notices.
func (m *fakeMailer) counts() (calls, sent int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls, len(m.sent)
}

func (m *fakeMailer) sentIDs() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []int64
	for _, n := range m.sent {
		ids = append(ids, n.ID)
	}
	return ids
}

// The Sender tests run in a synctest bubble: time is fake, time.Sleep moves
// it on as soon as every goroutine is blocked, and synctest.Wait returns
// once the sender has done all it can do at the current instant. Each check
// is therefore exact: how many polls, Send calls and log lines there were
// at a given fake time.

// runSender starts s.Run in the current bubble and returns a function that
// cancels it and checks that Run returned nil without any time passing. The
// test's cleanup calls it too.
func runSender(t *testing.T, s *Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v; want nil", err)
			}
		default:
			t.Error("Run did not return after cancel")
		}
	})
	t.Cleanup(stop)
	return stop
}

// settle waits until the sender is idle, after sleeping d of fake time.
func settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestSenderSMTPOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, wait = 10 * time.Second, time.Minute
		start := time.Now()
		ob, m := &memOutbox{}, &fakeMailer{down: true}
		id := ob.add(failingNotice(), start)
		log, logs := testLogger()
		b := &recordingBackoff{wait: wait}
		runSender(t, &Sender{Outbox: ob, Mailer: m, Logger: log, Interval: interval, Backoff: b.backoff})

		synctest.Wait()
		checkRetries(t, ob, m, id, 3, wait)
		if got := ob.polls(); got != 1+2*int(wait/interval) {
			t.Errorf("%d polls in %v; want one at start and one per %v", got, time.Since(start), interval)
		}
		if got := b.calls(); !slices.Equal(got, []int{1, 2, 3}) {
			t.Errorf("Backoff called with attempts %v; want 1, 2, 3", got)
		}
		if r := ob.row(id); !slices.Equal(r.errs, []string{downErr, downErr, downErr}) {
			t.Errorf("recorded errors %q; want the mailer's error three times", r.errs)
		}
		mustContain(t, "log", logs.String(), "sending notice failed", "attempt=1", "attempt=3", downErr)

		// The server is back; the notice goes out at its retry time, once.
		m.setDown(false)
		r := ob.row(id)
		settle(r.nextAt.Sub(time.Now()) - time.Nanosecond)
		if calls, _ := m.counts(); calls != 3 {
			t.Fatal("sent before its retry time")
		}
		settle(time.Nanosecond)
		if calls, sent := m.counts(); calls != 4 || sent != 1 {
			t.Fatalf("at the retry time: %d sends, %d accepted; want 4, 1", calls, sent)
		}
		if got := ob.row(id).sentAt; !got.Equal(r.nextAt) {
			t.Errorf("marked sent at %v; want %v", got, r.nextAt)
		}
		polls := ob.polls()
		settle(10 * interval)
		if got := ob.polls(); got != polls+10 {
			t.Errorf("%d polls in %v; want 10", got-polls, 10*interval)
		}
		if calls, sent := m.counts(); calls != 4 || sent != 1 || !slices.Equal(m.sentIDs(), []int64{id}) {
			t.Errorf("after ten more polls: %d sends, %d accepted (%v); want the notice sent once", calls, sent, m.sentIDs())
		}
	})
}

// recordingBackoff is a Sender.Backoff that always waits the same and
// records the attempt numbers it was called with.
type recordingBackoff struct {
	wait     time.Duration
	mu       sync.Mutex
	attempts []int
}

func (b *recordingBackoff) backoff(attempt int) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.attempts = append(b.attempts, attempt)
	return b.wait
}

func (b *recordingBackoff) calls() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.attempts)
}

// checkRetries starts at the first failed send of notice id, while the
// mailer is down, and checks that each failure is recorded and retried
// exactly wait later, not at the polls before. It returns at failure number
// failures.
func checkRetries(t *testing.T, ob *memOutbox, m *fakeMailer, id int64, failures int, wait time.Duration) {
	t.Helper()
	for failure := 1; ; failure++ {
		r := ob.row(id)
		if calls, _ := m.counts(); calls != failure || len(r.errs) != failure {
			t.Fatalf("%d sends, %d recorded failures; want %d", calls, len(r.errs), failure)
		}
		if want := time.Now().Add(wait); !r.nextAt.Equal(want) || !r.sentAt.IsZero() {
			t.Fatalf("after failure %d: next send at %v, sent at %v; want next at %v, unsent", failure, r.nextAt, r.sentAt, want)
		}
		if failure == failures {
			return
		}
		settle(wait - time.Nanosecond)
		if calls, _ := m.counts(); calls != failure {
			t.Fatalf("failure %d retried before its backoff", failure)
		}
		settle(time.Nanosecond)
	}
}

func TestSenderOutageCostsOneSendPerPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		ob, m := &memOutbox{}, &fakeMailer{down: true}
		var ids []int64
		for range 3 {
			ids = append(ids, ob.add(failingNotice(), time.Now()))
		}
		log, _ := testLogger()
		runSender(t, &Sender{Outbox: ob, Mailer: m, Logger: log, Interval: interval,
			Backoff: func(int) time.Duration { return time.Hour }})

		// The first failure leaves the rest of the batch for the next poll.
		synctest.Wait()
		for poll, want := range []int{1, 2, 3, 3} {
			if calls, _ := m.counts(); calls != want {
				t.Errorf("poll %d: %d sends; want %d", poll+1, calls, want)
			}
			settle(interval)
		}
		for i, id := range ids {
			if got := len(ob.row(id).errs); got != 1 {
				t.Errorf("notice %d: %d failures recorded; want 1", i+1, got)
			}
		}
	})
}

func TestSenderSendsInOrderAndOnlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob, m := &memOutbox{}, &fakeMailer{}
		start := time.Now()
		var ids []int64
		for i := range batchSize + 5 { // more than one batch
			ids = append(ids, ob.add(failingNotice(), start.Add(time.Duration(i-100)*time.Millisecond)))
		}
		log, _ := testLogger()
		runSender(t, &Sender{Outbox: ob, Mailer: m, Logger: log, Interval: time.Hour})

		// Interval is an hour: both batches go out in the first round, at once.
		synctest.Wait()
		if got := m.sentIDs(); !slices.Equal(got, ids) {
			t.Errorf("sent %v; want %v (oldest first, each once)", got, ids)
		}
		if got := ob.polls(); got != 2 {
			t.Errorf("%d polls; want 2 (a full batch, then the rest at once)", got)
		}
		for _, id := range ids {
			if got := ob.row(id).sentAt; !got.Equal(start) {
				t.Errorf("notice %d marked sent at %v; want %v", id, got, start)
			}
		}
		settle(time.Hour)
		if calls, sent := m.counts(); calls != len(ids) || sent != len(ids) || ob.polls() != 3 {
			t.Errorf("after the next poll: %d polls, %d sends, %d accepted; want 3, %d, %d",
				ob.polls(), calls, sent, len(ids), len(ids))
		}
	})
}

func TestSenderWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ob, m := &memOutbox{}, &fakeMailer{}
		wake := make(chan struct{}, 1)
		log, _ := testLogger()
		runSender(t, &Sender{Outbox: ob, Mailer: m, Logger: log, Interval: time.Hour, Wake: wake})

		synctest.Wait()
		if got := ob.polls(); got != 1 {
			t.Fatalf("%d polls at start; want 1", got)
		}
		start := time.Now()
		id := ob.add(failingNotice(), start)
		synctest.Wait()
		if got := ob.polls(); got != 1 {
			t.Fatalf("%d polls without a wake-up; want still 1", got)
		}
		wake <- struct{}{}
		synctest.Wait()
		if got := m.sentIDs(); ob.polls() != 2 || !slices.Equal(got, []int64{id}) || time.Since(start) != 0 {
			t.Errorf("after a wake-up: %d polls, sent %v after %v; want 2 polls, [%d] at once", ob.polls(), got, time.Since(start), id)
		}
	})
}

func TestSenderMarkSentFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		start := time.Now()
		ob, m := &memOutbox{markErr: 2}, &fakeMailer{}
		id := ob.add(failingNotice(), start)
		log, logs := testLogger()
		runSender(t, &Sender{Outbox: ob, Mailer: m, Logger: log, Interval: interval})

		// Marking fails at the send and at the next poll; the poll after
		// records the send, with the time it was sent.
		for poll := 1; poll <= 2; poll++ {
			synctest.Wait()
			if got := strings.Count(logs.String(), "recording sent notice failed"); got != poll {
				t.Errorf("poll %d: logged %d marking failures; want %d", poll, got, poll)
			}
			if got := ob.row(id).sentAt; !got.IsZero() {
				t.Fatalf("poll %d: marked sent at %v while marking fails", poll, got)
			}
			time.Sleep(interval)
		}
		synctest.Wait()
		if got := ob.row(id).sentAt; !got.Equal(start) {
			t.Errorf("marked sent at %v; want the send time %v", got, start)
		}
		settle(10 * interval)
		if calls, _ := m.counts(); calls != 1 {
			t.Errorf("%d sends; want 1 (not re-sent while marking failed)", calls)
		}
	})
}

func TestSenderOutboxErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		ob, m := &memOutbox{dueErr: 3}, &fakeMailer{}
		id := ob.add(failingNotice(), time.Now())
		log, logs := testLogger()
		runSender(t, &Sender{Outbox: ob, Mailer: m, Logger: log, Interval: interval})

		// Each outbox error costs one poll, retried an interval later.
		for poll := 1; poll <= 3; poll++ {
			synctest.Wait()
			if got := strings.Count(logs.String(), "reading due notices failed"); got != poll || ob.polls() != poll {
				t.Fatalf("poll %d: %d polls, %d errors logged; want %d, %d", poll, ob.polls(), got, poll, poll)
			}
			if calls, _ := m.counts(); calls != 0 {
				t.Fatalf("poll %d: %d sends while the outbox fails", poll, calls)
			}
			time.Sleep(interval)
		}
		synctest.Wait()
		if got := m.sentIDs(); ob.polls() != 4 || !slices.Equal(got, []int64{id}) {
			t.Errorf("fourth poll: %d polls, sent %v; want 4, [%d]", ob.polls(), got, id)
		}
	})
}

func TestSenderNoMailer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		const kept = "notice kept in the outbox"
		ob := &memOutbox{}
		first := ob.add(failingNotice(), time.Now())
		log, logs := testLogger()
		var nilMailer *Mailer // a typed nil counts as "no SMTP"
		stop := runSender(t, &Sender{Outbox: ob, Mailer: nilMailer, Logger: log, Interval: interval})

		synctest.Wait()
		checkLogged(t, "first poll", logs, kept, 1)
		settle(10 * interval)
		checkLogged(t, "ten polls later", logs, kept, 1)
		n := failingNotice()
		n.Kind = webhook.NoticeRecovered
		second := ob.add(n, time.Now())
		settle(interval)
		checkLogged(t, "the poll after a second notice", logs, kept, 2)
		settle(10 * interval)
		checkLogged(t, "ten polls later", logs, kept, 2)
		if got := ob.polls(); got != 22 {
			t.Errorf("%d polls; want 22", got)
		}
		stop()

		out := logs.String()
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
		runSender(t, &Sender{Outbox: ob, Logger: log2, Interval: interval})
		synctest.Wait()
		checkLogged(t, "after a restart", logs2, kept, 2)
		settle(10 * interval)
		checkLogged(t, "ten polls after a restart", logs2, kept, 2)
	})
}

// checkLogged checks that line was logged exactly want times.
func checkLogged(t *testing.T, when string, logs *webhooktest.Buffer, line string, want int) {
	t.Helper()
	if got := strings.Count(logs.String(), line); got != want {
		t.Errorf("%s: %q logged %d times; want %d:\n%s", when, line, got, want, logs)
	}
}

func TestSenderNoMailerManyNotices(t *testing.T) {
	// More unsent notices than a batch: every one is logged, none twice.
	// Each poll asks for the logged notices plus one more batch.
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		ob := &memOutbox{}
		total := 2*batchSize + 3
		for range total {
			ob.add(failingNotice(), time.Now())
		}
		log, logs := testLogger()
		runSender(t, &Sender{Outbox: ob, Logger: log, Interval: interval})
		synctest.Wait()
		for poll, want := range []int{batchSize, 2 * batchSize, total, total, total} {
			checkLogged(t, "poll "+strconv.Itoa(poll+1), logs, "notice kept in the outbox", want)
			settle(interval)
		}
	})
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

func TestScaledBackoff(t *testing.T) {
	for attempt := range 8 {
		if got, want := ScaledBackoff(DefaultBackoff(1))(attempt), DefaultBackoff(attempt); got != want {
			t.Errorf("ScaledBackoff(DefaultBackoff(1))(%d) = %v; want %v", attempt, got, want)
		}
	}
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := ScaledBackoff(500 * time.Millisecond)(i + 1); got != w {
			t.Errorf("ScaledBackoff(500ms)(%d) = %v; want %v", i+1, got, w)
		}
	}
}
