package webhook

import "time"

// RetryPolicy is what decides a subscription's fate after failed attempts:
// the retry schedule, how often a "failing" notice may be sent and whether
// the operator event sink is told too.
type RetryPolicy struct {
	Schedule           Schedule      // ZettleSchedule unless configured
	FailingNoticeEvery time.Duration // at most one failing notice per subscription per this; 0 = no limit
	// OperatorSink adds to every failing, recovered and deleted (retries
	// exhausted) notice a copy for the operator event sink
	// (ChannelOperator). The copy of a failing notice is made at every
	// start of a failing episode: FailingNoticeEvery throttles e-mails only.
	OperatorSink bool
	// MaxRetryAfter caps how far a destination's Retry-After (on 429 or
	// 503) may push its next retry; 0 ignores Retry-After.
	MaxRetryAfter time.Duration
}

// DefaultMaxRetryAfter is the RetryPolicy.MaxRetryAfter pusher uses: a
// destination may ask for at most an hour's pause.
const DefaultMaxRetryAfter = time.Hour

// Attempt is the outcome of one delivery attempt of a message, as
// AfterAttempt needs it.
type Attempt struct {
	OK       bool      // the destination accepted the message
	Failure  Failure   // what went wrong, when !OK
	LeasedAt time.Time // when the message was leased for this attempt
	// ThenDelete is set for a disconnect event: the subscription is deleted
	// once it is delivered.
	ThenDelete bool
	Now        time.Time // when the outcome is recorded
	// RetryAfter is the pause the destination asked for with Retry-After
	// on a 429 or 503; 0 if none.
	RetryAfter time.Duration
}

// Transition is what a store writes after an attempt, besides marking the
// message delivered (attempt OK) or pending again (attempt failed).
type Transition struct {
	// Subscription is the subscription's new delivery state (Status,
	// FailingSince, Failures, NextRetryAt, LastFailingNoticeAt); nil when it
	// does not change.
	Subscription *Subscription
	// Delete says to delete the subscription and turn its undelivered
	// messages into dead letters.
	Delete bool
	// Notice is the e-mail notice to queue, or nil. The store fills in
	// HeldMessages (recovered) or Undelivered (deleted), also of Operator.
	Notice *Notice
	// Operator is the operator-sink notice to queue (RetryPolicy.OperatorSink),
	// or nil.
	Operator *Notice
}

// Notices returns the notices of t to queue: Notice, then Operator, each
// if set.
func (t Transition) Notices() []*Notice {
	var ns []*Notice
	for _, n := range []*Notice{t.Notice, t.Operator} {
		if n != nil {
			ns = append(ns, n)
		}
	}
	return ns
}

// AfterAttempt decides what follows an attempt of one of s's messages:
//
//   - success: a delivered disconnect event deletes s; a FAILING s becomes
//     ACTIVE with its failing state cleared and a "recovered" notice;
//   - first failure of an ACTIVE s: it becomes FAILING, failing since now,
//     with one failure and the first retry at p.Schedule.Next(now, 1), and a
//     "failing" notice unless one was queued less than p.FailingNoticeEvery
//     ago;
//   - failure of a FAILING s's probe (a message leased since the episode
//     began): failures+1 and the next retry from the schedule;
//   - a failure of a message leased before the episode began changes nothing;
//   - when the schedule is exhausted, s is deleted with a "deleted" notice;
//   - with p.OperatorSink, each of these notices has an operator copy, and
//     a failing episode that starts within p.FailingNoticeEvery of the last
//     failing e-mail has one too (without the e-mail);
//   - a Retry-After from the destination delays the next retry (never
//     earlier than the schedule), by at most p.MaxRetryAfter;
//   - an attempt that timed out marks s LastAttemptTimedOut (one attempt in
//     flight until one succeeds, see store.ClaimParams); a success clears it.
//
// It is pure: s is not modified.
func (s *Subscription) AfterAttempt(p RetryPolicy, a Attempt) Transition {
	var t Transition
	switch {
	case a.OK:
		t = s.afterSuccess(p, a)
	case s.Status != Failing:
		t = s.startFailing(p, a)
	case !a.LeasedAt.Before(s.FailingSince):
		t = s.failAgain(p, a)
	}
	return s.markTimeout(t, a)
}

// markTimeout records in t whether the attempt timed out, when that changes
// and s is not deleted.
func (s *Subscription) markTimeout(t Transition, a Attempt) Transition {
	// A success clears the mark; a failure sets it if it timed out and
	// otherwise leaves it as it was.
	timedOut := !a.OK && (a.Failure.Class == ClassTimeout || s.LastAttemptTimedOut)
	if t.Delete || (t.Subscription == nil && s.LastAttemptTimedOut == timedOut) {
		return t
	}
	if t.Subscription == nil {
		next := *s
		t.Subscription = &next
	}
	t.Subscription.LastAttemptTimedOut = timedOut
	return t
}

// retryAt is when the next retry is due: the schedule's time, or later if
// the destination asked for a pause (capped at p.MaxRetryAfter).
func (p RetryPolicy) retryAt(scheduled time.Time, a Attempt) time.Time {
	if a.RetryAfter <= 0 || p.MaxRetryAfter <= 0 {
		return scheduled
	}
	asked := a.Now.Add(min(a.RetryAfter, p.MaxRetryAfter))
	if asked.After(scheduled) {
		return asked
	}
	return scheduled
}

// withOperator adds to t the operator copy of n, if p asks for one.
func (p RetryPolicy) withOperator(t Transition, n *Notice) Transition {
	if p.OperatorSink {
		t.Operator = n.forOperator()
	}
	return t
}

func (s *Subscription) afterSuccess(p RetryPolicy, a Attempt) Transition {
	if a.ThenDelete {
		return Transition{Delete: true}
	}
	if s.Status != Failing {
		return Transition{}
	}
	next := *s
	next.Status, next.FailingSince, next.Failures, next.NextRetryAt = Active, time.Time{}, 0, time.Time{}
	n := newNotice(NoticeRecovered, s, a.Now)
	n.FailingSince = s.FailingSince
	return p.withOperator(Transition{Subscription: &next, Notice: n}, n)
}

func (s *Subscription) startFailing(p RetryPolicy, a Attempt) Transition {
	retry, ok := p.Schedule.Next(a.Now, 1)
	if !ok {
		return s.exhaust(p, a)
	}
	next := *s
	next.Status, next.FailingSince, next.Failures, next.NextRetryAt = Failing, a.Now, 1, p.retryAt(retry, a)
	t := Transition{Subscription: &next}
	n := newNotice(NoticeFailing, s, a.Now)
	n.Failure, n.NextAttemptAt, n.DeleteAt = a.Failure, next.NextRetryAt, p.Schedule.Last(a.Now)
	if s.LastFailingNoticeAt.IsZero() || a.Now.Sub(s.LastFailingNoticeAt) >= p.FailingNoticeEvery {
		next.LastFailingNoticeAt = a.Now
		t.Notice = n
	}
	return p.withOperator(t, n)
}

func (s *Subscription) failAgain(p RetryPolicy, a Attempt) Transition {
	failures := s.Failures + 1
	retry, ok := p.Schedule.Next(s.FailingSince, failures)
	if !ok {
		return s.exhaust(p, a)
	}
	next := *s
	next.Failures, next.NextRetryAt = failures, p.retryAt(retry, a)
	return Transition{Subscription: &next}
}

func (s *Subscription) exhaust(p RetryPolicy, a Attempt) Transition {
	n := newNotice(NoticeDeleted, s, a.Now)
	n.FailingSince, n.Failure = s.FailingSince, a.Failure
	return p.withOperator(Transition{Delete: true, Notice: n}, n)
}
