package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

func recordParams(now time.Time, rs ...store.AttemptResult) store.RecordParams {
	return store.RecordParams{Results: rs, Policy: policy, Now: now}
}

// failOnce creates subA with n messages and fails the first attempt at t0.
func failOnce(t *testing.T, st store.Store, n int) *store.Delivery {
	t.Helper()
	mustCreate(t, st, newSub(subA))
	publishN(t, st, "f", n)
	return attempt(t, st, t0, 503)
}

var failingCases = []testCase{
	{"FirstFailureMakesFailing", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		s := mustGet(t, e.st, subA)
		if s.Status != webhook.Failing || s.Failures != 1 || !s.FailingSince.Equal(t0) || !s.NextRetryAt.Equal(t0.Add(10*time.Second)) {
			t.Errorf("after first failure: %s failures %d since %v next %v; want FAILING 1 %v %v",
				s.Status, s.Failures, s.FailingSince, s.NextRetryAt, t0, t0.Add(10*time.Second))
		}
		if n := countState(t, e.st, subA, store.StatePending); n != 1 {
			t.Errorf("pending = %d, want the message back in the queue", n)
		}
	}},
	{"NoClaimBeforeTheRetryIsDue", func(t *testing.T, e *env) {
		failOnce(t, e.st, 2)
		if got := mustClaim(t, e.st, t0.Add(9*time.Second), 10, 2); len(got) != 0 {
			t.Errorf("claimed %d before the retry is due, want 0", len(got))
		}
	}},
	{"OnlyTheHeadMessageIsProbed", func(t *testing.T, e *env) {
		first := failOnce(t, e.st, 3)
		head := mustClaim(t, e.st, t0.Add(10*time.Second), 10, 4)
		if len(head) != 1 || head[0].ID != first.ID || head[0].Attempts != 1 {
			t.Fatalf("claimed %v while failing, want only the oldest message %d with 1 attempt", head, first.ID)
		}
		if more := mustClaim(t, e.st, t0.Add(10*time.Second), 10, 4); len(more) != 0 {
			t.Errorf("claimed %d more while the probe is in flight, want 0", len(more))
		}
	}},
	{"FailedProbeSchedulesTheNextRetry", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		attempt(t, e.st, t0.Add(10*time.Second), 500)
		s := mustGet(t, e.st, subA)
		if s.Failures != 2 || !s.NextRetryAt.Equal(t0.Add(20*time.Second)) || !s.FailingSince.Equal(t0) {
			t.Errorf("after a failed retry: failures %d next %v since %v; want 2 %v %v", s.Failures, s.NextRetryAt, s.FailingSince, t0.Add(20*time.Second), t0)
		}
	}},
	{"SuccessRecovers", func(t *testing.T, e *env) {
		failOnce(t, e.st, 3)
		attempt(t, e.st, t0.Add(10*time.Second), 200)
		s := mustGet(t, e.st, subA)
		if s.Status != webhook.Active || s.Failures != 0 || !s.FailingSince.IsZero() || !s.NextRetryAt.IsZero() {
			t.Errorf("after success: %+v, want ACTIVE with no failing state", s)
		}
		if rest := mustClaim(t, e.st, t0.Add(10*time.Second), 10, 5); len(rest) != 2 {
			t.Errorf("backlog claimed %d, want 2", len(rest))
		}
	}},
	{"FailureOfAMessageLeasedBeforeTheEpisodeOnlyRequeues", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "f", 2)
		ds := mustClaim(t, e.st, t0, 10, 2)
		later := t0.Add(time.Second)
		mustRecord(t, e.st, later, result(ds[0], later, 503), result(ds[1], later, 500))
		if s := mustGet(t, e.st, subA); s.Failures != 1 {
			t.Errorf("failures = %d after two failures of messages leased before the episode, want 1", s.Failures)
		}
	}},
	{"RetryAfterDelaysTheRetryAndIsRecorded", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "f", 1)
		d := claimOne(t, e.st, t0)
		r := result(d, t0, 503)
		r.RetryAfter = 5 * time.Minute
		p := recordParams(t0, r)
		p.Policy.MaxRetryAfter = time.Hour
		if _, err := e.st.RecordAndClaim(ctx, p, store.ClaimParams{}); err != nil {
			t.Fatal(err)
		}
		if s := mustGet(t, e.st, subA); !s.NextRetryAt.Equal(t0.Add(5 * time.Minute)) {
			t.Errorf("next retry %v, want %v (Retry-After beats the 10 s schedule)", s.NextRetryAt, t0.Add(5*time.Minute))
		}
		if as, _ := e.st.Attempts(ctx, d.ID); len(as) != 1 || as[0].RetryAfter != 5*time.Minute {
			t.Errorf("attempts = %+v, want the Retry-After recorded", as)
		}
	}},
	{"AttemptsAreRecorded", func(t *testing.T, e *env) {
		first := failOnce(t, e.st, 1)
		attempt(t, e.st, t0.Add(10*time.Second), 200)
		as, err := e.st.Attempts(ctx, first.ID)
		if err != nil || len(as) != 2 || as[0].StatusCode != 503 || as[0].ErrorClass != webhook.ClassHTTPStatus ||
			as[1].StatusCode != 200 || as[1].ErrorClass != "" || !as[0].StartedAt.Equal(t0) || as[0].Duration != time.Millisecond {
			t.Errorf("Attempts = %+v, %v", as, err)
		}
	}},
	{"FailingAndRecoveredNotices", func(t *testing.T, e *env) {
		failOnce(t, e.st, 3)
		attempt(t, e.st, t0.Add(10*time.Second), 200)
		ns := allNotices(t, e.st)
		if kinds := noticeKinds(t, e.st); !slices.Equal(kinds, []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeRecovered}) {
			t.Fatalf("notices = %v, want [failing recovered]", kinds)
		}
		f := ns[0]
		wantFailure := webhook.Failure{Class: webhook.ClassHTTPStatus, StatusCode: 503, Timeout: 10 * time.Second}
		if f.Failure != wantFailure || !f.NextAttemptAt.Equal(t0.Add(10*time.Second)) || !f.DeleteAt.Equal(t0.Add(30*time.Second)) ||
			f.To != "ops@example.com" || f.SubscriptionUUID != subA || f.OrganizationUUID != org || !f.CreatedAt.Equal(t0) ||
			f.Destination != "https://example.com/"+subA || f.EventNames == nil {
			t.Errorf("failing notice = %+v", f)
		}
		r := ns[1]
		if r.HeldMessages != 2 || !r.FailingSince.Equal(t0) || !r.CreatedAt.Equal(t0.Add(10*time.Second)) {
			t.Errorf("recovered notice = %+v, want 2 held messages, failing since %v", r, t0)
		}
	}},
	{"FailingNoticeAtMostOncePerPeriod", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		attempt(t, e.st, t0.Add(10*time.Second), 200)
		publishN(t, e.st, "again", 1)
		attempt(t, e.st, t0.Add(time.Hour), 500)
		if kinds := noticeKinds(t, e.st); len(kinds) != 2 {
			t.Errorf("notices = %v, want [failing recovered]: the second failing notice within 24 h is throttled", kinds)
		}
		if s := mustGet(t, e.st, subA); s.Status != webhook.Failing || !s.LastFailingNoticeAt.Equal(t0) {
			t.Errorf("subscription %s, last failing notice %v; want FAILING, %v", s.Status, s.LastFailingNoticeAt, t0)
		}
	}},
	{"ExhaustionDeletesWithDeadLetters", func(t *testing.T, e *env) {
		failOnce(t, e.st, 2)
		for i := 1; i <= 3; i++ {
			attempt(t, e.st, t0.Add(time.Duration(i)*10*time.Second), 500)
		}
		mustBeGone(t, e.st, subA)
		if dead := countState(t, e.st, subA, store.StateDead); dead != 2 {
			t.Errorf("dead letters = %d, want 2", dead)
		}
		ns := allNotices(t, e.st)
		if len(ns) != 2 || ns[1].Kind != webhook.NoticeDeleted || ns[1].Undelivered != 2 || !ns[1].FailingSince.Equal(t0) ||
			ns[1].Failure.StatusCode != 500 || !ns[1].CreatedAt.Equal(t0.Add(30*time.Second)) {
			t.Errorf("notices = %+v, want failing then deleted with 2 undelivered", ns)
		}
	}},
	{"EmptyScheduleDeletesAtTheFirstFailure", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "f", 1)
		d := claimOne(t, e.st, t0)
		p := store.RecordParams{Results: []store.AttemptResult{result(d, t0, 500)}, Now: t0}
		if _, err := e.st.RecordAndClaim(ctx, p, store.ClaimParams{}); err != nil {
			t.Fatal(err)
		}
		mustBeGone(t, e.st, subA)
	}},
}
