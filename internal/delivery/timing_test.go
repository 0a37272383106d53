package delivery_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// These tests run in synctest bubbles (see fake_test.go): time.Sleep in a
// test moves the fake clock, and synctest.Wait lets the engine finish
// whatever that instant started.

// checkOnTime reports an error unless at is in [due, due+poll]: a retry is
// claimed at the first poll once it is due.
func checkOnTime(t *testing.T, what string, at, due time.Time, poll time.Duration) {
	t.Helper()
	if at.Before(due) || at.After(due.Add(poll)) {
		t.Errorf("%s at %v, want within %v after it was due at %v", what, at.Format(time.StampMilli), poll, due.Format(time.StampMilli))
	}
}

// A destination that fails makes its subscription FAILING; while FAILING
// only the oldest message is retried, one attempt at a time, each when the
// schedule says (within a poll interval); when it is accepted the
// subscription is ACTIVE again and the backlog follows at once. The contact
// gets a "failing" and a "recovered" notice.
func TestEngineRetriesOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		var healthy atomic.Bool
		p := newFakePoster(func(c *call) delivery.Outcome {
			if healthy.Load() {
				return accept(c)
			}
			return statusAnswer(503)(c)
		})
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://recover.example.com/hook")
		evs := publishN(t, db, org, "recover", 5)
		head := evs[0].Envelope.MessageID

		e := fakeEngine(t, db, p)
		e.PerSubscription = 4
		e.Schedule = webhook.Schedule{{Count: 3, Interval: time.Minute}, {Count: 2, Interval: 10 * time.Minute}}
		e.PollInterval = 10 * time.Second
		start := time.Now()
		startEngine(t, e)
		e.Notify()

		// Retries 1–4 are due 1, 2, 3 and 13 minutes after the first
		// failure, the last one (5) after 23 minutes.
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		if st := status(t, db, sub); st != webhook.Failing {
			t.Fatalf("status while the destination answers 503 = %q, want FAILING", st)
		}
		healthy.Store(true)
		time.Sleep(5 * time.Minute)
		synctest.Wait()

		calls := p.callsTo("")
		if len(calls) != 4+5+4 {
			t.Fatalf("%d calls, want 13: 4 first attempts, 5 retries of the head message, then the other 4", len(calls))
		}
		var first []string
		for _, c := range calls[:4] {
			if !c.At.Equal(start) || c.Outcome.StatusCode != 503 {
				t.Errorf("call %d at +%v answered %d, want at +0 with 503", c.N, c.At.Sub(start), c.Outcome.StatusCode)
			}
			first = append(first, c.Envelope.MessageID)
		}
		if want := messageIDs(evs[:4]); !slices.Equal(sorted(first), sorted(want)) {
			t.Errorf("first calls carried %v, want the 4 oldest messages %v", first, want)
		}
		failingSince := calls[0].Ended
		for i, c := range calls[4:9] {
			due, _ := e.Schedule.Next(failingSince, i+1)
			checkOnTime(t, fmt.Sprintf("retry %d", i+1), c.At, due, e.PollInterval)
			if c.Envelope.MessageID != head || c.InFlight != 1 {
				t.Errorf("retry %d carried %s with %d calls in flight, want the head message %s alone", i+1, c.Envelope.MessageID, c.InFlight, head)
			}
			want := 503
			if i == 4 {
				want = 200 // the destination is back
			}
			if c.Outcome.StatusCode != want {
				t.Errorf("retry %d answered %d, want %d", i+1, c.Outcome.StatusCode, want)
			}
		}
		recovered := calls[8].Ended
		var rest []string
		for _, c := range calls[9:] {
			if c.At.Before(recovered) || c.At.After(recovered.Add(e.PollInterval)) || !c.Outcome.OK() {
				t.Errorf("backlog call %d at +%v (%d), want accepted right after the recovery at +%v", c.N, c.At.Sub(start), c.Outcome.StatusCode, recovered.Sub(start))
			}
			rest = append(rest, c.Envelope.MessageID)
		}
		if want := messageIDs(evs[1:]); !slices.Equal(sorted(rest), sorted(want)) {
			t.Errorf("backlog calls carried %v, want %v", rest, want)
		}

		if st := status(t, db, sub); st != webhook.Active {
			t.Errorf("status after recovery = %q, want ACTIVE", st)
		}
		if n := countState(t, db, sub, store.StateDelivered); n != len(evs) {
			t.Errorf("%d messages delivered, want %d", n, len(evs))
		}
		m := messages(t, db, sub)[head]
		as := attempts(t, db, m)
		if len(as) != 6 || m.Attempts != 6 || as[5].StatusCode != 200 || as[0].ErrorClass != webhook.ClassHTTPStatus {
			t.Errorf("head message: %d attempts recorded (counter %d), want 6: five 503 and a 200", len(as), m.Attempts)
		}
		ns := notices(t, db)
		if kinds := noticeKinds(ns); !slices.Equal(kinds, []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeRecovered}) {
			t.Fatalf("notices = %v, want [failing recovered]", kinds)
		}
		f := ns[0]
		if got, want := f.Reason(), "HTTP 503 from "+sub.Destination; got != want || f.To != sub.ContactEmail || f.SubscriptionUUID != sub.UUID {
			t.Errorf("failing notice: reason %q to %s for %s, want %q to %s for %s", got, f.To, f.SubscriptionUUID, want, sub.ContactEmail, sub.UUID)
		}
		if want := failingSince.Add(time.Minute); !f.NextAttemptAt.Equal(want) {
			t.Errorf("failing notice: next attempt %v, want %v", f.NextAttemptAt, want)
		}
		if want := e.Schedule.Last(failingSince); !f.DeleteAt.Equal(want) {
			t.Errorf("failing notice: deletion at %v, want %v (23 min after the first failure)", f.DeleteAt, want)
		}
		if r := ns[1]; r.HeldMessages != len(evs)-1 || !r.FailingSince.Equal(failingSince) {
			t.Errorf("recovered notice: %d held messages, failing since %v; want %d and %v", r.HeldMessages, r.FailingSince, len(evs)-1, failingSince)
		}
	})
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// A Retry-After on a 503 delays the next retry past the schedule, by at
// most an hour (webhook.DefaultMaxRetryAfter); one sooner than the
// schedule changes nothing.
func TestEngineRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		retryAfter, want time.Duration
	}{
		{0, time.Minute},
		{30 * time.Second, time.Minute},
		{30 * time.Minute, 30 * time.Minute},
		{5 * time.Hour, time.Hour},
	} {
		t.Run(tt.retryAfter.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db, _ := openDB(t)
				p := newFakePoster(func(c *call) delivery.Outcome {
					out := statusAnswer(503)(c)
					out.RetryAfter = tt.retryAfter
					return out
				})
				org := uuid.NewString()
				createSubscription(t, db, org, "https://busy.example.com/hook")
				publishN(t, db, org, "busy", 1)
				e := fakeEngine(t, db, p)
				e.Schedule = webhook.Schedule{{Count: 5, Interval: time.Minute}}
				e.PollInterval = 10 * time.Second
				startEngine(t, e)
				e.Notify()
				time.Sleep(tt.want + e.PollInterval + time.Second)
				synctest.Wait()

				calls := p.callsTo("")
				if len(calls) != 2 {
					t.Fatalf("%d calls in %v, want the first attempt and one retry", len(calls), tt.want+e.PollInterval)
				}
				checkOnTime(t, "the first retry", calls[1].At, calls[0].Ended.Add(tt.want), e.PollInterval)
			})
		})
	}
}

// When a destination never accepts, its subscription is retried on the
// schedule — here Zettle's shape, shortened: 2×1 min, 2×10 min, 2×1 h —
// and deleted when the last retry fails, the schedule's span after the
// first failure; its messages become dead letters, and the contact gets a
// "failing" and a "deleted" notice.
func TestEngineExhaustsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		p := newFakePoster(statusAnswer(500))
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://broken.example.com/hook")
		evs := publishN(t, db, org, "exhaust", 3)
		e := fakeEngine(t, db, p)
		e.Schedule = webhook.Schedule{{Count: 2, Interval: time.Minute}, {Count: 2, Interval: 10 * time.Minute}, {Count: 2, Interval: time.Hour}}
		e.PollInterval = 10 * time.Second
		span := 2*time.Hour + 22*time.Minute
		startEngine(t, e)
		e.Notify()

		time.Sleep(span - time.Minute)
		synctest.Wait()
		if st := status(t, db, sub); st != webhook.Failing {
			t.Fatalf("status before the last retry = %q, want FAILING", st)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if st := status(t, db, sub); st != "" {
			t.Fatalf("status after the last retry = %q, want deleted", st)
		}

		calls := p.callsTo("")
		if len(calls) != 3+6 {
			t.Fatalf("%d calls, want 9: 3 first attempts and 6 retries", len(calls))
		}
		failingSince := calls[0].Ended
		for i, c := range calls[3:] {
			due, _ := e.Schedule.Next(failingSince, i+1)
			checkOnTime(t, fmt.Sprintf("retry %d", i+1), c.At, due, e.PollInterval)
		}
		checkOnTime(t, "the last retry", calls[len(calls)-1].At, failingSince.Add(span), e.PollInterval)
		if _, err := db.Subscription(bg, org, testClientID, sub.UUID); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("Subscription after exhaustion = %v, want NotFound", err)
		}
		ms := messages(t, db, sub)
		for _, id := range messageIDs(evs) {
			if ms[id].State != store.StateDead {
				t.Errorf("message %s state %q, want dead", id, ms[id].State)
			}
		}
		ns := notices(t, db)
		if kinds := noticeKinds(ns); !slices.Equal(kinds, []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeDeleted}) {
			t.Fatalf("notices = %v, want [failing deleted]", kinds)
		}
		if want := failingSince.Add(span); !ns[0].DeleteAt.Equal(want) {
			t.Errorf("failing notice announces the deletion at %v, want %v", ns[0].DeleteAt, want)
		}
		if d := ns[1]; d.Undelivered != len(evs) || d.SubscriptionUUID != sub.UUID || !d.FailingSince.Equal(failingSince) {
			t.Errorf("deleted notice = %+v, want %d undelivered, failing since %v", d, len(evs), failingSince)
		}
	})
}

// A failed attempt is recorded as the poster classified it: class, status,
// the response body, the error detail and the attempt's duration; the
// message waits for its retry, the subscription is FAILING, and the failing
// notice puts the failure into words, with the engine's timeout.
func TestEngineRecordsFailedAttempt(t *testing.T) {
	const timeout = 7 * time.Second
	body := []byte(strings.Repeat("x", 1024))
	for _, tt := range []struct {
		name     string
		answer   func(*call) delivery.Outcome
		class    webhook.Class
		status   int
		body     []byte
		detail   string
		duration time.Duration
		reason   string
	}{
		{"timeout", hang(timeout), webhook.ClassTimeout, 0, nil, "context deadline exceeded", timeout, "no answer within 7 s"},
		{"http status with body", func(*call) delivery.Outcome {
			time.Sleep(latency)
			return delivery.Outcome{Class: webhook.ClassHTTPStatus, StatusCode: 410, Body: body}
		}, webhook.ClassHTTPStatus, 410, body, "", latency, "HTTP 410 from https://dest.example.com/hook"},
		{"redirect", func(*call) delivery.Outcome {
			time.Sleep(latency)
			return delivery.Outcome{Class: webhook.ClassRedirect, StatusCode: 302}
		}, webhook.ClassRedirect, 302, nil, "", latency, "redirect (HTTP 302) — redirects are not followed"},
		{"connection reset", func(*call) delivery.Outcome {
			time.Sleep(latency)
			return delivery.Outcome{Class: webhook.ClassConnectionReset, Detail: "EOF"}
		}, webhook.ClassConnectionReset, 0, nil, "EOF", latency, "connection closed before a response"},
		{"other", func(*call) delivery.Outcome {
			time.Sleep(latency)
			return delivery.Outcome{Class: webhook.ClassOther, Detail: "unsupported protocol scheme"}
		}, webhook.ClassOther, 0, nil, "unsupported protocol scheme", latency, "delivery failed: unsupported protocol scheme"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db, _ := openDB(t)
				org := uuid.NewString()
				sub := createSubscription(t, db, org, "https://dest.example.com/hook")
				ev := publishN(t, db, org, "fail", 1)[0]
				e := fakeEngine(t, db, newFakePoster(tt.answer))
				e.Timeout = timeout
				startEngine(t, e)
				e.Notify()
				time.Sleep(timeout + time.Second) // the retry is due after a minute
				synctest.Wait()

				if st := status(t, db, sub); st != webhook.Failing {
					t.Errorf("status = %q, want FAILING", st)
				}
				m := messages(t, db, sub)[ev.Envelope.MessageID]
				as := attempts(t, db, m)
				if m.State != store.StatePending || len(as) != 1 {
					t.Fatalf("message %s with %d attempts recorded, want pending with 1", m.State, len(as))
				}
				a := as[0]
				if a.ErrorClass != tt.class || a.StatusCode != tt.status || string(a.ResponseBody) != string(tt.body) ||
					a.ErrorDetail != tt.detail || a.Duration != tt.duration {
					t.Errorf("attempt = %s %d body %d bytes %q after %v, want %s %d body %d bytes %q after %v",
						a.ErrorClass, a.StatusCode, len(a.ResponseBody), a.ErrorDetail, a.Duration,
						tt.class, tt.status, len(tt.body), tt.detail, tt.duration)
				}
				ns := notices(t, db)
				if len(ns) != 1 || ns[0].Kind != webhook.NoticeFailing || ns[0].Reason() != tt.reason {
					t.Errorf("notices = %+v, want one failing notice with reason %q", ns, tt.reason)
				}
			})
		})
	}
}

// A destination that never answers does not hold up another
// organization's: 50 messages are delivered while the first 4 attempts at
// the slow destination are still waiting for their timeout.
func TestEngineIsolatesSlowDestination(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		const timeout = 10 * time.Second
		slowSub := createSubscription(t, db, uuid.NewString(), "https://slow.example.com/hook")
		healthySub := createSubscription(t, db, uuid.NewString(), "https://healthy.example.com/hook")
		p := newFakePoster(byDestination(map[string]func(*call) delivery.Outcome{
			slowSub.Destination:    hang(timeout),
			healthySub.Destination: accept,
		}))
		e := fakeEngine(t, db, p)
		e.Timeout, e.Workers, e.PerSubscription = timeout, 8, 4
		e.Schedule = webhook.Schedule{{Count: 5, Interval: time.Minute}}
		startEngine(t, e)

		publishN(t, db, slowSub.OrganizationUUID, "slow", 10)
		e.Notify()
		synctest.Wait()
		if n := p.current(slowSub.Destination); n != 4 {
			t.Fatalf("%d calls in flight at the slow destination, want 4 (PerSubscription)", n)
		}

		start := time.Now()
		evs := publishN(t, db, healthySub.OrganizationUUID, "fast", 50)
		e.Notify()
		for !slices.Equal(sorted(p.acceptedIDs(healthySub.Destination)), sorted(messageIDs(evs))) {
			if time.Since(start) >= timeout/2 {
				t.Fatalf("%d of 50 messages delivered in %v", len(p.acceptedIDs(healthySub.Destination)), timeout/2)
			}
			time.Sleep(latency)
		}
		synctest.Wait()
		t.Logf("50 messages delivered in %v (fake clock) while 4 attempts hung", time.Since(start))
		if n := p.current(slowSub.Destination); n != 4 {
			t.Errorf("%d calls in flight at the slow destination when the healthy one was served, want still 4", n)
		}
		if n := countState(t, db, healthySub, store.StateDelivered); n != 50 {
			t.Errorf("%d messages recorded as delivered, want 50", n)
		}
		if st := status(t, db, slowSub); st != webhook.Active {
			t.Errorf("slow subscription is %q before its first timeout, want ACTIVE", st)
		}

		time.Sleep(timeout)
		synctest.Wait()
		if st := status(t, db, slowSub); st != webhook.Failing {
			t.Errorf("slow subscription is %q after its timeouts, want FAILING", st)
		}
		if st := status(t, db, healthySub); st != webhook.Active {
			t.Errorf("healthy subscription is %q, want ACTIVE", st)
		}
		if n := len(p.callsTo(slowSub.Destination)); n != 4 {
			t.Errorf("%d calls to the slow destination, want the 4 first ones (the retry is due in a minute)", n)
		}
	})
}

// Within one organization too: a subscription whose destination never
// answers leases messages ahead of its 4 hanging attempts, but only those 4
// count toward the organization's limit, so the organization's other
// subscription is served meanwhile.
func TestEngineSlowSubscriptionDoesNotHoldBackItsOrganization(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		const timeout = 10 * time.Second
		org := uuid.NewString()
		slowSub := createSubscription(t, db, org, "https://slow.example.com/hook")
		p := newFakePoster(byDestination(map[string]func(*call) delivery.Outcome{
			slowSub.Destination:                hang(timeout),
			"https://healthy.example.com/hook": accept,
		}))
		e := fakeEngine(t, db, p)
		e.Timeout, e.Workers, e.PerSubscription, e.PerOrganization = timeout, 64, 4, 8
		e.Schedule = webhook.Schedule{{Count: 5, Interval: time.Minute}}
		startEngine(t, e)

		publishN(t, db, org, "slow", 100)
		e.Notify()
		synctest.Wait()
		if n := p.current(slowSub.Destination); n != 4 {
			t.Fatalf("%d calls in flight at the slow destination, want 4 (PerSubscription)", n)
		}
		if n := countState(t, db, slowSub, store.StateLeased); n <= e.PerOrganization {
			t.Fatalf("%d of the slow subscription's messages leased, want more than the organization's limit of %d (leased ahead)", n, e.PerOrganization)
		}

		healthySub := createSubscription(t, db, org, "https://healthy.example.com/hook")
		start := time.Now()
		evs := publishN(t, db, org, "fast", 50)
		e.Notify()
		for len(p.acceptedIDs(healthySub.Destination)) < len(evs) {
			if time.Since(start) >= timeout/2 {
				t.Fatalf("%d of 50 messages of the organization's healthy subscription delivered in %v", len(p.acceptedIDs(healthySub.Destination)), timeout/2)
			}
			time.Sleep(latency)
		}
		synctest.Wait()
		if n := p.current(slowSub.Destination); n != 4 {
			t.Errorf("%d calls in flight at the slow destination, want still 4", n)
		}
	})
}

// With PerSubscription 1 messages arrive one at a time in publish order.
func TestEngineStrictOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		p := newFakePoster(accept)
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://ordered.example.com/hook")
		e := fakeEngine(t, db, p)
		e.PerSubscription = 1
		startEngine(t, e)

		var want []string
		for i := range 20 {
			ev := makeEvent(org, fmt.Sprintf("order-%02d", i), fmt.Sprintf(`{"n":%d}`, i))
			publish(t, db, ev)
			e.Notify()
			want = append(want, ev.Envelope.MessageID)
			time.Sleep(latency / 3) // publish faster than the destination answers
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := p.acceptedIDs(""); !slices.Equal(got, want) {
			t.Errorf("arrival order =\n%v\nwant publish order\n%v", got, want)
		}
		if n := p.maxInFlight(); n != 1 {
			t.Errorf("max calls in flight = %d, want 1", n)
		}
		if n := countState(t, db, sub, store.StateDelivered); n != 20 {
			t.Errorf("%d messages delivered, want 20", n)
		}
	})
}

// Cancelling Run stops claiming at once, lets the attempts in flight finish
// (each is bounded by the timeout), records them and returns. After a
// restart a new engine delivers everything: at least once.
func TestEngineShutdownAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, path := openDB(t)
		const timeout = 10 * time.Second
		hangSub := createSubscription(t, db, uuid.NewString(), "https://hang.example.com/hook")
		slowSub := createSubscription(t, db, uuid.NewString(), "https://slow.example.com/hook")
		p := newFakePoster(byDestination(map[string]func(*call) delivery.Outcome{
			hangSub.Destination: hang(timeout),
			slowSub.Destination: func(c *call) delivery.Outcome { time.Sleep(timeout / 2); return accept(c) },
		}))
		hangEvs := publishN(t, db, hangSub.OrganizationUUID, "hang", 3)
		slowEvs := publishN(t, db, slowSub.OrganizationUUID, "slow", 3)

		e := fakeEngine(t, db, p)
		e.Timeout, e.PerSubscription = timeout, 1
		e.Schedule = webhook.Schedule{{Count: 5, Interval: time.Minute}}
		stop := startEngine(t, e)
		e.Notify()
		synctest.Wait()
		if p.current(hangSub.Destination) != 1 || p.current(slowSub.Destination) != 1 {
			t.Fatalf("calls in flight: %d hanging, %d slow; want 1 each", p.current(hangSub.Destination), p.current(slowSub.Destination))
		}
		time.Sleep(time.Second)
		cancelled := time.Now()
		if err := stop(); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		// The hanging attempt started a second before the cancel.
		if took, want := time.Since(cancelled), timeout-time.Second; took < want || took > want+e.PollInterval {
			t.Errorf("Run returned %v after the cancel, want when the last attempt in flight ended, %v", took, want)
		}
		if n := len(p.callsTo("")); n != 2 {
			t.Errorf("%d calls, want 2: nothing is claimed after the cancel", n)
		}
		slowHead := messages(t, db, slowSub)[slowEvs[0].Envelope.MessageID]
		if slowHead.State != store.StateDelivered {
			t.Errorf("message accepted during shutdown is %q, want delivered", slowHead.State)
		}
		hangHead := messages(t, db, hangSub)[hangEvs[0].Envelope.MessageID]
		if as := attempts(t, db, hangHead); hangHead.State != store.StatePending || len(as) != 1 || as[0].ErrorClass != webhook.ClassTimeout {
			t.Errorf("message that timed out during shutdown is %q with attempts %+v, want pending after one timeout", hangHead.State, as)
		}

		// Restart: a new process opens the store and runs a new engine,
		// and the destination is back.
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db = reopenDB(t, path)
		if n := countState(t, db, hangSub, store.StateLeased) + countState(t, db, slowSub, store.StateLeased); n != 0 {
			t.Errorf("%d messages still leased after a clean shutdown, want 0", n)
		}
		p2 := newFakePoster(accept)
		e2 := fakeEngine(t, db, p2)
		e2.PerSubscription = 1
		e2.Schedule = e.Schedule
		startEngine(t, e2)
		e2.Notify()
		time.Sleep(time.Minute + e2.PollInterval) // the FAILING subscription's retry
		synctest.Wait()
		if got := countState(t, db, hangSub, store.StateDelivered) + countState(t, db, slowSub, store.StateDelivered); got != 6 {
			t.Errorf("%d of 6 messages delivered after the restart", got)
		}
		if want := append(messageIDs(hangEvs), messageIDs(slowEvs[1:])...); !slices.Equal(sorted(p2.acceptedIDs("")), sorted(want)) {
			t.Errorf("after the restart the destinations accepted %v, want %v", p2.acceptedIDs(""), want)
		}
		if st := status(t, db, hangSub); st != webhook.Active {
			t.Errorf("status after the restart = %q, want ACTIVE", st)
		}
	})
}

// Messages leased by a process that died without recording its attempts
// are delivered by the next process once their lease expires: at once if
// it expired before Run started, else at the first release after it
// expired. Opening the store does not steal leases, which another instance
// might hold.
func TestEngineReleasesExpiredLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, path := openDB(t)
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://crash.example.com/hook")
		claim := func(leaseFor time.Duration) {
			t.Helper()
			if ds, err := db.ClaimMessages(bg, store.ClaimParams{Now: time.Now(), Limit: 10, PerSubscription: 4, LeaseFor: leaseFor}); err != nil || len(ds) == 0 {
				t.Fatalf("ClaimMessages = %d deliveries, %v", len(ds), err)
			}
		}
		crashed := time.Now()
		early := publishN(t, db, org, "early", 1)
		claim(10 * time.Second)
		late := publishN(t, db, org, "late", 2)
		claim(100 * time.Second)
		if err := db.Close(); err != nil { // the crash: leases held, never recorded
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)

		db = reopenDB(t, path)
		if n := countState(t, db, sub, store.StateLeased); n != 3 {
			t.Fatalf("leased after reopening = %d, want 3: Open must not release live leases", n)
		}
		p := newFakePoster(accept)
		e := fakeEngine(t, db, p)
		e.ReleaseInterval = 45 * time.Second
		started := time.Now()
		startEngine(t, e)
		time.Sleep(2 * time.Minute)
		synctest.Wait()

		calls := p.callsTo("")
		if len(calls) != 3 {
			t.Fatalf("%d calls, want 3", len(calls))
		}
		if c := calls[0]; c.Envelope.MessageID != early[0].Envelope.MessageID || !c.At.Equal(started) {
			t.Errorf("first call carried %s at +%v, want %s at once: its lease had expired", c.Envelope.MessageID, c.At.Sub(started), early[0].Envelope.MessageID)
		}
		// The late leases expire 100 s after the crash, 70 s after the
		// start: the releases at 45 s and 90 s see them leased, then expired.
		for _, c := range calls[1:] {
			if !c.At.Equal(started.Add(90 * time.Second)) {
				t.Errorf("call %d at +%v, want at the release 90 s after the start (lease expired at +%v)", c.N, c.At.Sub(started), crashed.Add(100*time.Second).Sub(started))
			}
		}
		want := messageIDs(append(early, late...))
		if !slices.Equal(sorted(p.acceptedIDs("")), sorted(want)) || countState(t, db, sub, store.StateDelivered) != 3 {
			t.Errorf("accepted %v, %d recorded as delivered; want all 3 messages", p.acceptedIDs(""), countState(t, db, sub, store.StateDelivered))
		}
	})
}

// An attempt stuck past its lease (a worker that hangs longer than any
// timeout) does not hold its message forever: the lease, 3×timeout + 30 s
// by default, expires, the message is released at the next release
// (every 5 s by default) and delivered again; the late result of the stuck
// attempt is not recorded over it.
func TestEngineStuckAttemptLosesLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://stuck.example.com/hook")
		ev := publishN(t, db, org, "stuck", 1)[0]
		const timeout, lease, release = 2 * time.Second, 36 * time.Second, 5 * time.Second
		p := newFakePoster(func(c *call) delivery.Outcome {
			if c.N == 0 {
				return hang(3 * lease)(c)
			}
			return accept(c)
		})
		e := fakeEngine(t, db, p)
		e.Timeout, e.ReleaseInterval = timeout, 0 // the default lease and release
		start := time.Now()
		startEngine(t, e)
		e.Notify()
		time.Sleep(lease + release)
		synctest.Wait()
		calls := p.callsTo("")
		if len(calls) != 2 || !calls[1].Outcome.OK() {
			t.Fatalf("%d calls, want the stuck one and a second, accepted, after the lease expired", len(calls))
		}
		checkOnTime(t, "the second attempt", calls[1].At, start.Add(lease), release)
		if n := countState(t, db, sub, store.StateDelivered); n != 1 {
			t.Errorf("%d messages delivered, want 1", n)
		}

		time.Sleep(3 * lease) // the stuck attempt ends
		synctest.Wait()
		m := messages(t, db, sub)[ev.Envelope.MessageID]
		if as := attempts(t, db, m); m.State != store.StateDelivered || len(as) != 1 || as[0].StatusCode != 200 {
			t.Errorf("message %s with attempts %+v, want delivered with the one accepted attempt", m.State, as)
		}
		if st := status(t, db, sub); st != webhook.Active {
			t.Errorf("status = %q, want ACTIVE", st)
		}
	})
}

// The zero fields of an Engine take the documented defaults; Timeout is a
// *Client's timeout, and DefaultTimeout for another Poster.
func TestEngineDefaults(t *testing.T) {
	e := &delivery.Engine{Client: newClient(3 * time.Second)}
	e.Notify() // sets the defaults
	got := []any{e.Workers, e.PerSubscription, e.LeaseAhead, e.PerOrganization, e.PollInterval, e.FailingNoticeEvery,
		e.Retention, e.PruneInterval, e.Timeout, e.LeaseFor, e.ReleaseInterval, len(e.Schedule)}
	want := []any{512, 4, 16, 64, 250 * time.Millisecond, 24 * time.Hour,
		7 * 24 * time.Hour, time.Hour, 3 * time.Second, 39 * time.Second, 5 * time.Second, len(webhook.ZettleSchedule)}
	if !slices.Equal(got, want) {
		t.Errorf("defaults (workers, per subscription, lease ahead, per organization, poll, notice every, retention, prune, timeout, lease, release, schedule steps) =\n%v\nwant\n%v", got, want)
	}

	e = &delivery.Engine{Client: newFakePoster(accept), LeaseFor: 4 * time.Second}
	e.Notify()
	if e.Timeout != delivery.DefaultTimeout || e.ReleaseInterval != 2*time.Second {
		t.Errorf("with a fake poster and a 4 s lease: timeout %v, release every %v; want %v and 2s", e.Timeout, e.ReleaseInterval, delivery.DefaultTimeout)
	}
}

// Delivered messages are pruned every PruneInterval once they are older
// than Retention.
func TestEnginePrunesAfterRetention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://prune.example.com/hook")
		publishN(t, db, org, "prune", 3)
		e := fakeEngine(t, db, newFakePoster(accept))
		e.PollInterval, e.Retention, e.PruneInterval = time.Minute, 2*time.Hour, 30*time.Minute
		startEngine(t, e)
		e.Notify()
		time.Sleep(time.Second)
		synctest.Wait()
		if n := countState(t, db, sub, store.StateDelivered); n != 3 {
			t.Fatalf("%d messages delivered, want 3", n)
		}
		time.Sleep(e.Retention) // prunes at 30 min … 2 h find nothing older than 2 h
		synctest.Wait()
		if n := countState(t, db, sub, store.StateDelivered); n != 3 {
			t.Fatalf("%d delivered messages after %v, want all 3 kept", n, e.Retention)
		}
		time.Sleep(e.PruneInterval)
		synctest.Wait()
		if ms := messages(t, db, sub); len(ms) != 0 {
			t.Errorf("%d messages left %v after they were delivered, want them pruned", len(ms), e.Retention+e.PruneInterval)
		}
	})
}

// A panic in Post costs one attempt, not the process: it is logged and
// recorded as a failure of class other with the panic in its detail, and
// the retry is delivered.
func TestEngineRecoversPanicInPost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, _ := openDB(t)
		org := uuid.NewString()
		sub := createSubscription(t, db, org, "https://panic.example.com/hook")
		ev := publishN(t, db, org, "panic", 1)[0]
		p := newFakePoster(func(c *call) delivery.Outcome {
			if c.N == 0 {
				panic("transport bug")
			}
			return accept(c)
		})
		var log webhooktest.Buffer
		e := fakeEngine(t, db, p)
		e.Logger = slog.New(slog.NewTextHandler(&log, nil))
		e.Schedule = webhook.Schedule{{Count: 5, Interval: time.Minute}}
		startEngine(t, e)
		e.Notify()
		synctest.Wait()

		if st := status(t, db, sub); st != webhook.Failing {
			t.Errorf("status after the panic = %q, want FAILING", st)
		}
		m := messages(t, db, sub)[ev.Envelope.MessageID]
		as := attempts(t, db, m)
		if len(as) != 1 || as[0].ErrorClass != webhook.ClassOther || as[0].ErrorDetail != "panic: transport bug" {
			t.Fatalf("attempts = %+v, want one of class other with detail %q", as, "panic: transport bug")
		}
		l := log.String()
		for _, want := range []string{"panic in delivery attempt", "messageId=" + ev.Envelope.MessageID, "transport bug", "timing_test.go"} {
			if !strings.Contains(l, want) {
				t.Errorf("log does not say %q (the panic, its message and its stack):\n%s", want, l)
			}
		}

		time.Sleep(time.Minute + e.PollInterval)
		synctest.Wait()
		if n := countState(t, db, sub, store.StateDelivered); n != 1 {
			t.Errorf("%d messages delivered after the retry, want 1", n)
		}
		if st := status(t, db, sub); st != webhook.Active {
			t.Errorf("status after the retry = %q, want ACTIVE", st)
		}
	})
}
