package storetest

import (
	"testing"
	"time"
)

var noticeCases = []testCase{
	{"DueNoticesLeasesThem", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		now := t0.Add(time.Second)
		due, err := e.st.DueNotices(ctx, now, 10)
		if err != nil || len(due) != 1 || due[0].ID == 0 || due[0].Attempts != 0 {
			t.Fatalf("DueNotices = %+v, %v; want the failing notice", due, err)
		}
		if again, _ := e.st.DueNotices(ctx, now.Add(time.Second), 10); len(again) != 0 {
			t.Errorf("DueNotices again within the lease = %d notices, want 0", len(again))
		}
		if later, _ := e.st.DueNotices(ctx, now.Add(2*time.Minute), 10); len(later) != 1 {
			t.Errorf("DueNotices after the lease = %d notices, want 1 (its sender died)", len(later))
		}
	}},
	{"NotDueBeforeItsTime", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		if due, _ := e.st.DueNotices(ctx, t0.Add(-time.Second), 10); len(due) != 0 {
			t.Errorf("DueNotices before the notice was written = %d, want 0", len(due))
		}
	}},
	{"MarkSentIsFinal", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		due, _ := e.st.DueNotices(ctx, t0, 10)
		if err := e.st.MarkNoticeSent(ctx, due[0].ID, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if later, _ := e.st.DueNotices(ctx, t0.Add(time.Hour), 10); len(later) != 0 {
			t.Errorf("a sent notice is due again")
		}
		all, err := e.st.Notices(ctx, 10)
		if err != nil || len(all) != 1 || !all[0].SentAt.Equal(t0.Add(time.Second)) {
			t.Errorf("Notices = %+v, %v; want it sent at %v", all, err, t0.Add(time.Second))
		}
		if unsent, _ := e.st.UnsentNotices(ctx); len(unsent) != 0 {
			t.Errorf("UnsentNotices = %d, want 0", len(unsent))
		}
	}},
	{"MarkFailedRetriesLater", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		due, _ := e.st.DueNotices(ctx, t0, 10)
		if err := e.st.MarkNoticeFailed(ctx, due[0].ID, "smtp down", t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if early, _ := e.st.DueNotices(ctx, t0.Add(time.Hour), 10); len(early) != 0 {
			t.Errorf("due before its retry time: %d", len(early))
		}
		later, _ := e.st.DueNotices(ctx, t0.Add(3*time.Hour), 10)
		if len(later) != 1 || later[0].Attempts != 1 {
			t.Errorf("due later = %+v, want it with 1 failed attempt", later)
		}
		all, _ := e.st.Notices(ctx, 10)
		if len(all) != 1 || all[0].LastError != "smtp down" || !all[0].SentAt.IsZero() {
			t.Errorf("Notices = %+v", all)
		}
	}},
	{"NoticesNewestFirst", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		attempt(t, e.st, t0.Add(10*time.Second), 200)
		all, err := e.st.Notices(ctx, 10)
		if err != nil || len(all) != 2 || all[0].Kind != "recovered" || all[1].Kind != "failing" {
			t.Errorf("Notices = %+v, %v; want recovered, failing", all, err)
		}
		if one, _ := e.st.Notices(ctx, 1); len(one) != 1 {
			t.Errorf("Notices(1) = %d", len(one))
		}
	}},
}
