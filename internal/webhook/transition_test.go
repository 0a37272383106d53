package webhook

import (
	"slices"
	"testing"
	"time"
)

func TestAfterAttempt(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := RetryPolicy{Schedule: Schedule{{Count: 2, Interval: time.Minute}}, FailingNoticeEvery: 24 * time.Hour}
	fail := Failure{Class: ClassHTTPStatus, StatusCode: 503}
	active := Subscription{UUID: "s", Status: Active, ContactEmail: "ops@example.com", Destination: "https://x.example/"}
	failing := active
	failing.Status, failing.FailingSince, failing.Failures, failing.NextRetryAt = Failing, t0, 1, t0.Add(time.Minute)
	lastRetry := failing
	lastRetry.Failures, lastRetry.NextRetryAt = 2, t0.Add(2*time.Minute)
	noticed := active
	noticed.LastFailingNoticeAt = t0.Add(-time.Hour)
	noticedLongAgo := active
	noticedLongAgo.LastFailingNoticeAt = t0.Add(-25 * time.Hour)

	type want struct {
		status       Status
		failures     int
		since, retry time.Time
		lastNotice   time.Time
		changed      bool
		deleted      bool
		notice       NoticeKind
	}
	later := t0.Add(time.Minute)
	tests := []struct {
		name string
		sub  Subscription
		a    Attempt
		want want
	}{
		{"success of an ACTIVE subscription changes nothing", active,
			Attempt{OK: true, LeasedAt: t0, Now: t0}, want{}},
		{"delivered disconnect deletes without a notice", active,
			Attempt{OK: true, ThenDelete: true, LeasedAt: t0, Now: t0}, want{deleted: true}},
		{"success of a FAILING subscription recovers", failing,
			Attempt{OK: true, LeasedAt: later, Now: later}, want{status: Active, changed: true, notice: NoticeRecovered}},
		{"first failure starts an episode with a notice", active,
			Attempt{Failure: fail, LeasedAt: t0, Now: t0},
			want{status: Failing, failures: 1, since: t0, retry: t0.Add(time.Minute), lastNotice: t0, changed: true, notice: NoticeFailing}},
		{"first failure within a day of the last notice is silent", noticed,
			Attempt{Failure: fail, LeasedAt: t0, Now: t0},
			want{status: Failing, failures: 1, since: t0, retry: t0.Add(time.Minute), lastNotice: t0.Add(-time.Hour), changed: true}},
		{"first failure a day after the last notice notifies again", noticedLongAgo,
			Attempt{Failure: fail, LeasedAt: t0, Now: t0},
			want{status: Failing, failures: 1, since: t0, retry: t0.Add(time.Minute), lastNotice: t0, changed: true, notice: NoticeFailing}},
		{"failed probe schedules the next retry from the episode start", failing,
			Attempt{Failure: fail, LeasedAt: later, Now: later.Add(time.Second)},
			want{status: Failing, failures: 2, since: t0, retry: t0.Add(2 * time.Minute), changed: true}},
		{"failure of a message leased before the episode changes nothing", failing,
			Attempt{Failure: fail, LeasedAt: t0.Add(-time.Second), Now: later}, want{}},
		{"failed last retry deletes with a notice", lastRetry,
			Attempt{Failure: fail, LeasedAt: t0.Add(2 * time.Minute), Now: t0.Add(2 * time.Minute)},
			want{deleted: true, notice: NoticeDeleted}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.sub
			tr := tt.sub.AfterAttempt(p, tt.a)
			if tt.sub.Status != before.Status || tt.sub.Failures != before.Failures {
				t.Fatal("AfterAttempt modified the subscription")
			}
			if tr.Delete != tt.want.deleted || (tr.Subscription != nil) != tt.want.changed {
				t.Fatalf("Transition = %+v, want deleted %v changed %v", tr, tt.want.deleted, tt.want.changed)
			}
			if s := tr.Subscription; s != nil {
				if s.Status != tt.want.status || s.Failures != tt.want.failures || !s.FailingSince.Equal(tt.want.since) ||
					!s.NextRetryAt.Equal(tt.want.retry) || !s.LastFailingNoticeAt.Equal(tt.want.lastNotice) {
					t.Errorf("new state = %s %d since %v retry %v notice %v; want %+v",
						s.Status, s.Failures, s.FailingSince, s.NextRetryAt, s.LastFailingNoticeAt, tt.want)
				}
			}
			switch {
			case tt.want.notice == "" && tr.Notice != nil:
				t.Errorf("notice %s, want none", tr.Notice.Kind)
			case tt.want.notice != "" && (tr.Notice == nil || tr.Notice.Kind != tt.want.notice):
				t.Errorf("notice %+v, want %s", tr.Notice, tt.want.notice)
			}
		})
	}
}

func TestAfterAttemptNoticeFacts(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := RetryPolicy{Schedule: ZettleSchedule, FailingNoticeEvery: 24 * time.Hour}
	s := &Subscription{UUID: "s", OrganizationUUID: "o", Status: Active, ContactEmail: "ops@example.com", Destination: "https://x.example/"}
	fail := Failure{Class: ClassTimeout, Timeout: 10 * time.Second}
	n := s.AfterAttempt(p, Attempt{Failure: fail, LeasedAt: t0, Now: t0}).Notice
	if n.Failure != fail || !n.NextAttemptAt.Equal(t0.Add(time.Minute)) || !n.DeleteAt.Equal(t0.Add(71*time.Hour+40*time.Minute)) ||
		n.To != s.ContactEmail || n.OrganizationUUID != "o" || n.Destination != s.Destination || !n.CreatedAt.Equal(t0) ||
		n.EventNames == nil || n.Reason() != "no answer within 10 s" {
		t.Errorf("failing notice = %+v (reason %q)", n, n.Reason())
	}
}

func TestWantsDisconnect(t *testing.T) {
	for _, tt := range []struct {
		names []string
		want  bool
	}{
		{nil, true},
		{[]string{ApplicationConnectionRemoved}, true},
		{[]string{PersonalAssertionDeleted}, true},
		{[]string{ProductCreated, PurchaseCreated}, false},
	} {
		s := Subscription{EventNames: tt.names}
		if got := s.WantsDisconnect(); got != tt.want {
			t.Errorf("WantsDisconnect(%v) = %v, want %v", tt.names, got, tt.want)
		}
	}
	if DeliveredName(PersonalAssertionDeleted) != ApplicationConnectionRemoved || DeliveredName(ProductCreated) != ProductCreated {
		t.Error("DeliveredName maps the wrong names")
	}
}

func TestAfterAttemptRetryAfter(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := RetryPolicy{Schedule: Schedule{{Count: 5, Interval: time.Minute}}, MaxRetryAfter: time.Hour}
	active := &Subscription{Status: Active}
	failing := &Subscription{Status: Failing, FailingSince: t0, Failures: 1, NextRetryAt: t0.Add(time.Minute)}
	later := t0.Add(time.Minute)
	for _, tt := range []struct {
		name       string
		sub        *Subscription
		retryAfter time.Duration
		policy     RetryPolicy
		now        time.Time
		want       time.Time
	}{
		{"none keeps the schedule", active, 0, p, t0, t0.Add(time.Minute)},
		{"shorter than the schedule keeps the schedule", active, 10 * time.Second, p, t0, t0.Add(time.Minute)},
		{"longer delays the first retry", active, 10 * time.Minute, p, t0, t0.Add(10 * time.Minute)},
		{"longer than the maximum is clamped", active, 48 * time.Hour, p, t0, t0.Add(time.Hour)},
		{"ignored when the maximum is 0", active, 10 * time.Minute, RetryPolicy{Schedule: p.Schedule}, t0, t0.Add(time.Minute)},
		{"delays a later retry too", failing, 30 * time.Minute, p, later, later.Add(30 * time.Minute)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr := tt.sub.AfterAttempt(tt.policy, Attempt{Failure: Failure{Class: ClassHTTPStatus, StatusCode: 503},
				LeasedAt: tt.now, Now: tt.now, RetryAfter: tt.retryAfter})
			if tr.Subscription == nil || !tr.Subscription.NextRetryAt.Equal(tt.want) {
				t.Fatalf("next retry = %+v, want %v", tr.Subscription, tt.want)
			}
		})
	}
}

func TestAfterAttemptMarksTimeouts(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := RetryPolicy{Schedule: ZettleSchedule}
	s := &Subscription{Status: Active}
	tr := s.AfterAttempt(p, Attempt{Failure: Failure{Class: ClassTimeout}, LeasedAt: t0, Now: t0})
	if tr.Subscription == nil || !tr.Subscription.LastAttemptTimedOut {
		t.Fatalf("after a timeout: %+v, want LastAttemptTimedOut", tr.Subscription)
	}
	slow := *tr.Subscription
	slow.Status = Active // as after an update: still marked
	if tr := slow.AfterAttempt(p, Attempt{OK: true, LeasedAt: t0, Now: t0}); tr.Subscription == nil || tr.Subscription.LastAttemptTimedOut {
		t.Errorf("after a success: %+v, want the mark cleared", tr.Subscription)
	}
	if tr := s.AfterAttempt(p, Attempt{Failure: Failure{Class: ClassHTTPStatus}, LeasedAt: t0, Now: t0}); tr.Subscription.LastAttemptTimedOut {
		t.Error("an HTTP error marked the subscription as timing out")
	}
}

func TestAfterAttemptOperatorSink(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	schedule := Schedule{{Count: 2, Interval: time.Minute}}
	fail := Failure{Class: ClassHTTPStatus, StatusCode: 503}
	active := Subscription{UUID: "s", OrganizationUUID: "o", Status: Active, ContactEmail: "ops@example.com",
		Destination: "https://x.example/", EventNames: []string{ProductCreated}}
	failing := active
	failing.Status, failing.FailingSince, failing.Failures, failing.NextRetryAt = Failing, t0, 1, t0.Add(time.Minute)
	lastRetry := failing
	lastRetry.Failures, lastRetry.NextRetryAt = 2, t0.Add(2*time.Minute)
	noticed := active
	noticed.LastFailingNoticeAt = t0.Add(-time.Hour)
	later := t0.Add(time.Minute)

	tests := []struct {
		name          string
		sub           Subscription
		a             Attempt
		sink          bool
		email, sinkTo NoticeKind // "" = none
	}{
		{"failing, sink off", active, Attempt{Failure: fail, LeasedAt: t0, Now: t0}, false, NoticeFailing, ""},
		{"failing, sink on", active, Attempt{Failure: fail, LeasedAt: t0, Now: t0}, true, NoticeFailing, NoticeFailing},
		{"throttled failing e-mail, sink off", noticed, Attempt{Failure: fail, LeasedAt: t0, Now: t0}, false, "", ""},
		{"throttled failing e-mail still reaches the sink", noticed, Attempt{Failure: fail, LeasedAt: t0, Now: t0}, true, "", NoticeFailing},
		{"recovered, sink off", failing, Attempt{OK: true, LeasedAt: later, Now: later}, false, NoticeRecovered, ""},
		{"recovered, sink on", failing, Attempt{OK: true, LeasedAt: later, Now: later}, true, NoticeRecovered, NoticeRecovered},
		{"deleted on exhaustion, sink off", lastRetry, Attempt{Failure: fail, LeasedAt: t0.Add(2 * time.Minute), Now: t0.Add(2 * time.Minute)}, false, NoticeDeleted, ""},
		{"deleted on exhaustion, sink on", lastRetry, Attempt{Failure: fail, LeasedAt: t0.Add(2 * time.Minute), Now: t0.Add(2 * time.Minute)}, true, NoticeDeleted, NoticeDeleted},
		{"delivered disconnect tells nobody", active, Attempt{OK: true, ThenDelete: true, LeasedAt: t0, Now: t0}, true, "", ""},
		{"failed probe tells nobody", failing, Attempt{Failure: fail, LeasedAt: later, Now: later}, true, "", ""},
		{"success of an ACTIVE subscription tells nobody", active, Attempt{OK: true, LeasedAt: t0, Now: t0}, true, "", ""},
	}
	kind := func(n *Notice) NoticeKind {
		if n == nil {
			return ""
		}
		return n.Kind
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := RetryPolicy{Schedule: schedule, FailingNoticeEvery: 24 * time.Hour, OperatorSink: tt.sink}
			tr := tt.sub.AfterAttempt(p, tt.a)
			if kind(tr.Notice) != tt.email || kind(tr.Operator) != tt.sinkTo {
				t.Fatalf("e-mail notice %q, operator notice %q; want %q, %q", kind(tr.Notice), kind(tr.Operator), tt.email, tt.sinkTo)
			}
			if tr.Notice != nil && tr.Notice.Channel != ChannelEmail {
				t.Errorf("e-mail notice on channel %q", tr.Notice.Channel)
			}
			var want []NoticeKind
			for _, k := range []NoticeKind{tt.email, tt.sinkTo} {
				if k != "" {
					want = append(want, k)
				}
			}
			var got []NoticeKind
			for _, n := range tr.Notices() {
				got = append(got, n.Kind)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Notices() = %v, want %v (e-mail first)", got, want)
			}
			op := tr.Operator
			if op == nil {
				return
			}
			if op.Channel != ChannelOperator || op.SubscriptionUUID != "s" || op.OrganizationUUID != "o" ||
				op.To != active.ContactEmail || !op.CreatedAt.Equal(tt.a.Now) || len(op.EventNames) != 1 {
				t.Errorf("operator notice = %+v", op)
			}
			if e := tr.Notice; e != nil {
				// The same facts; only the channel differs, and the copies
				// do not share the event names.
				c := *op
				c.Channel, c.EventNames = ChannelEmail, e.EventNames
				if c.Failure != e.Failure || !c.NextAttemptAt.Equal(e.NextAttemptAt) || !c.DeleteAt.Equal(e.DeleteAt) ||
					!c.FailingSince.Equal(e.FailingSince) || c.Kind != e.Kind {
					t.Errorf("operator copy %+v differs from the e-mail %+v", op, e)
				}
				op.EventNames[0] = "changed"
				if e.EventNames[0] == "changed" {
					t.Error("the operator copy shares its event names with the e-mail")
				}
			}
			if tt.sinkTo == NoticeFailing && (op.Failure != fail || !op.NextAttemptAt.Equal(t0.Add(time.Minute)) || !op.DeleteAt.Equal(t0.Add(2*time.Minute))) {
				t.Errorf("operator failing notice = %+v", op)
			}
		})
	}
}

func TestKeyRotatedNotice(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	s := &Subscription{UUID: "s", OrganizationUUID: "o", ContactEmail: "ops@example.com", Destination: "https://x.example/",
		SigningKey: "old"}
	s.Rotate("new", t0, time.Hour)
	n := s.KeyRotatedNotice(t0)
	if n.Kind != NoticeKeyRotated || n.Channel != ChannelOperator || n.SubscriptionUUID != "s" || n.OrganizationUUID != "o" ||
		!n.CreatedAt.Equal(t0) || !n.PreviousKeyExpires.Equal(t0.Add(time.Hour)) || n.EventNames == nil {
		t.Errorf("KeyRotatedNotice = %+v", n)
	}
}
