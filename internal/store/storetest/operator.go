package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// sinkPolicy is policy with the operator event sink on.
var sinkPolicy = func() webhook.RetryPolicy { p := policy; p.OperatorSink = true; return p }()

// attemptSink claims one message at now and records status for it under
// sinkPolicy.
func attemptSink(t *testing.T, st store.Store, now time.Time, status int) {
	t.Helper()
	d := claimOne(t, st, now)
	p := store.RecordParams{Results: []store.AttemptResult{result(d, now, status)}, Policy: sinkPolicy, Now: now}
	if _, err := st.RecordAndClaim(ctx, p, store.ClaimParams{}); err != nil {
		t.Fatalf("RecordAndClaim = %v", err)
	}
}

// kindsOn returns the kinds of the notices of channel, oldest first.
func kindsOn(ns []webhook.Notice, channel webhook.NoticeChannel) []webhook.NoticeKind {
	var kinds []webhook.NoticeKind
	for _, n := range ns {
		if n.Channel == channel {
			kinds = append(kinds, n.Kind)
		}
	}
	return kinds
}

// operatorCases: a transition's operator notices are written with its
// e-mail notices, with the same facts (HeldMessages and Undelivered
// included) and their channel; SaveSigning queues a key rotation's notice
// in its transaction; the channel survives a copy.
var operatorCases = []testCase{
	{"TransitionWritesOperatorCopies", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "f", 3)
		attemptSink(t, e.st, t0, 503)
		attemptSink(t, e.st, t0.Add(10*time.Second), 200)
		ns := allNotices(t, e.st)
		want := []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeRecovered}
		if got := kindsOn(ns, webhook.ChannelEmail); !slices.Equal(got, want) {
			t.Errorf("e-mail notices = %v, want %v", got, want)
		}
		if got := kindsOn(ns, webhook.ChannelOperator); !slices.Equal(got, want) {
			t.Fatalf("operator notices = %v, want %v", got, want)
		}
		for _, n := range ns {
			if n.Kind == webhook.NoticeRecovered && (n.HeldMessages != 2 || !n.FailingSince.Equal(t0)) {
				t.Errorf("%s recovered notice = %+v, want 2 held messages, failing since %v", n.Channel, n, t0)
			}
			if n.Kind == webhook.NoticeFailing && (n.Failure.StatusCode != 503 || !n.NextAttemptAt.Equal(t0.Add(10*time.Second)) ||
				n.To != "ops@example.com" || n.OrganizationUUID != org || n.SubscriptionUUID != subA) {
				t.Errorf("%s failing notice = %+v", n.Channel, n)
			}
		}
		due, err := e.st.DueNotices(ctx, t0.Add(10*time.Second), 10)
		if err != nil || len(due) != 4 {
			t.Errorf("DueNotices = %d notices, %v; want all 4", len(due), err)
		}
	}},
	{"ThrottledFailingStillReachesTheSink", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "f", 1)
		attemptSink(t, e.st, t0, 503)
		attemptSink(t, e.st, t0.Add(10*time.Second), 200)
		publishN(t, e.st, "again", 1)
		attemptSink(t, e.st, t0.Add(time.Hour), 500)
		ns := allNotices(t, e.st)
		if got, want := kindsOn(ns, webhook.ChannelEmail), []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeRecovered}; !slices.Equal(got, want) {
			t.Errorf("e-mail notices = %v, want %v (the second failing e-mail within 24 h is throttled)", got, want)
		}
		want := []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeRecovered, webhook.NoticeFailing}
		if got := kindsOn(ns, webhook.ChannelOperator); !slices.Equal(got, want) {
			t.Errorf("operator notices = %v, want %v", got, want)
		}
		if s := mustGet(t, e.st, subA); !s.LastFailingNoticeAt.Equal(t0) {
			t.Errorf("last failing notice %v, want %v (the e-mail's)", s.LastFailingNoticeAt, t0)
		}
	}},
	{"ExhaustionWritesOperatorCopy", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "f", 2)
		attemptSink(t, e.st, t0, 503)
		for i := 1; i <= 3; i++ {
			attemptSink(t, e.st, t0.Add(time.Duration(i)*10*time.Second), 500)
		}
		mustBeGone(t, e.st, subA)
		var deleted []webhook.Notice
		for _, n := range allNotices(t, e.st) {
			if n.Kind == webhook.NoticeDeleted {
				deleted = append(deleted, n)
			}
		}
		if len(deleted) != 2 || deleted[0].Channel != webhook.ChannelEmail || deleted[1].Channel != webhook.ChannelOperator {
			t.Fatalf("deleted notices = %+v, want an e-mail and an operator copy", deleted)
		}
		for _, n := range deleted {
			if n.Undelivered != 2 || !n.FailingSince.Equal(t0) || n.Failure.StatusCode != 500 {
				t.Errorf("%s deleted notice = %+v, want 2 undelivered", n.Channel, n)
			}
		}
	}},
	{"SinkOffWritesEMailsOnly", func(t *testing.T, e *env) {
		failOnce(t, e.st, 1)
		attempt(t, e.st, t0.Add(10*time.Second), 200)
		for _, n := range allNotices(t, e.st) {
			if n.Channel != webhook.ChannelEmail {
				t.Errorf("notice %s on channel %q, want only e-mails", n.Kind, n.Channel)
			}
		}
	}},
	{"SaveSigningQueuesNotices", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		s := mustGet(t, e.st, subA)
		at := t0.Add(time.Hour)
		s.Rotate("k2", at, 2*time.Hour)
		if err := e.st.SaveSigning(ctx, s, *s.KeyRotatedNotice(at)); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, e.st, subA); got.SigningKey != "k2" {
			t.Errorf("signing key %q after SaveSigning, want k2", got.SigningKey)
		}
		due, err := e.st.DueNotices(ctx, at, 10)
		if err != nil || len(due) != 1 {
			t.Fatalf("DueNotices = %+v, %v; want the key_rotated notice", due, err)
		}
		n := due[0]
		if n.Kind != webhook.NoticeKeyRotated || n.Channel != webhook.ChannelOperator || n.SubscriptionUUID != subA ||
			n.OrganizationUUID != org || !n.CreatedAt.Equal(at) || !n.PreviousKeyExpires.Equal(at.Add(2*time.Hour)) ||
			n.EventNames == nil {
			t.Errorf("key_rotated notice = %+v", n)
		}
		// Unknown subscription: nothing is saved, nothing queued.
		other := newSub(subC)
		if err := e.st.SaveSigning(ctx, other, *other.KeyRotatedNotice(at)); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("SaveSigning(unknown) = %v, want NotFound", err)
		}
		if ns := allNotices(t, e.st); len(ns) != 1 {
			t.Errorf("%d notices after SaveSigning(unknown), want still 1", len(ns))
		}
	}},
	{"ImportKeepsChannels", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "f", 2)
		attemptSink(t, e.st, t0, 503)
		b := exportAll(t, e.st)
		target := e.another()
		c, err := target.Import(ctx, b)
		if err != nil || c.Notices != 2 {
			t.Fatalf("Import = %+v, %v; want 2 notices (the e-mail and its operator copy)", c, err)
		}
		if again, err := target.Import(ctx, b); err != nil || again.Notices != 0 {
			t.Errorf("Import again = %+v, %v; want no notice", again, err)
		}
		ns, _ := target.UnsentNotices(ctx)
		if got := kindsOn(ns, webhook.ChannelOperator); len(ns) != 2 || !slices.Equal(got, []webhook.NoticeKind{webhook.NoticeFailing}) {
			t.Errorf("imported notices = %+v", ns)
		}
	}},
}
