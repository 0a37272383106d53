package notify

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// Outbox is the durable queue of notices, written by the store. Sender reads
// due notices from it and records each send attempt.
type Outbox interface {
	// DueNotices returns up to limit unsent notices whose next send time is
	// <= now, oldest first. Attempts is the number of failed sends so far.
	DueNotices(ctx context.Context, now time.Time, limit int) ([]webhook.Notice, error)
	// MarkNoticeSent records that notice id was sent at `at`.
	MarkNoticeSent(ctx context.Context, id int64, at time.Time) error
	// MarkNoticeFailed records a failed send and when to try again.
	MarkNoticeFailed(ctx context.Context, id int64, errText string, retryAt time.Time) error
}

// DefaultPollInterval is Sender.Interval when it is zero.
const DefaultPollInterval = 5 * time.Second

// batchSize is how many due notices one poll asks for.
const batchSize = 20

// markTimeout bounds an outbox write made after a send. Such writes are not
// cancelled with Run's context, so a shutdown right after a send still
// records it.
const markTimeout = 10 * time.Second

// DefaultBackoff is Sender.Backoff when it is nil: after failed attempt 1, 2,
// 3, 4 it waits 30 s, 1 min, 2 min, 5 min, and 10 min after every later one.
func DefaultBackoff(attempt int) time.Duration {
	switch {
	case attempt <= 1:
		return 30 * time.Second
	case attempt == 2:
		return time.Minute
	case attempt == 3:
		return 2 * time.Minute
	case attempt == 4:
		return 5 * time.Minute
	default:
		return 10 * time.Minute
	}
}

// ScaledBackoff returns DefaultBackoff scaled so that its first wait is
// first: first, 2×, 4× and 10× first after failed attempt 1, 2, 3 and 4, and
// 20× first after every later one. ScaledBackoff(DefaultBackoff(1)) waits as
// DefaultBackoff does.
func ScaledBackoff(first time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		return first * (DefaultBackoff(attempt) / DefaultBackoff(1))
	}
}

// Sender sends the notices of an Outbox in the background. Set the fields,
// then call Run; the fields must not change while Run runs.
type Sender struct {
	Outbox Outbox // required

	// Mailer sends one e-mail notice (webhook.ChannelEmail), normally a
	// *Mailer. Nil means no SMTP server is configured: each due e-mail
	// notice is then logged once per Run at Info (id, kind, to, subject)
	// and stays unsent in the outbox, so it goes out once a later process
	// has a Mailer. As nothing is marked, each poll then asks the outbox for
	// all pending notices (logged ones plus a batch).
	Mailer interface {
		Send(ctx context.Context, n webhook.Notice) error
	}

	// Operator sends one operator-sink notice (webhook.ChannelOperator),
	// normally an *OperatorSink. Nil means the sink is off: such notices
	// (queued while it was on) are logged and kept as e-mails are without
	// a Mailer.
	Operator interface {
		Send(ctx context.Context, n webhook.Notice) error
	}

	Logger *slog.Logger     // nil means slog.Default()
	Now    func() time.Time // nil means time.Now

	// Interval is the time between polls of the outbox; zero or negative
	// means DefaultPollInterval.
	Interval time.Duration

	// Backoff gives the wait before the next send of a notice whose send
	// failed for the attempt-th time (1 for the first failure); nil means
	// DefaultBackoff.
	Backoff func(attempt int) time.Duration

	// Wake, if not nil, makes Run poll at once whenever it receives. Use a
	// buffered channel of size 1 and send without blocking:
	//
	//	select { case wake <- struct{}{}: default: }
	Wake <-chan struct{}
}

// Run sends due notices until ctx is cancelled, then returns nil. It polls
// the outbox every Interval, at once when Wake receives, and again at once
// while a poll finds a full batch.
//
// An SMTP outage never stops it: a failed notice is marked failed with
// retryAt = now + Backoff(Attempts+1) and the rest of that batch's notices
// of the same channel wait for the next poll, so an outage costs one send
// attempt per poll; the other channel's notices go on (an outage of the
// operator sink is handled alike, and delays no e-mail). Outbox errors
// are logged and retried at the next poll. A notice that was sent but could
// not be marked sent is not sent again by this Run; marking is retried.
//
// Run returns an error only if Outbox is nil.
func (s *Sender) Run(ctx context.Context) error {
	if s.Outbox == nil {
		return errors.New("notify: Sender.Outbox is nil")
	}
	r := &run{
		Sender:       s,
		log:          s.Logger,
		now:          s.Now,
		backoff:      s.Backoff,
		mailer:       s.Mailer,
		operator:     s.Operator,
		logged:       map[int64]bool{},
		sentUnmarked: map[int64]time.Time{},
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.backoff == nil {
		r.backoff = DefaultBackoff
	}
	if m, ok := r.mailer.(*Mailer); ok && m == nil {
		r.mailer = nil // a nil *Mailer in the interface is "no SMTP", not a crash
	}
	if o, ok := r.operator.(*OperatorSink); ok && o == nil {
		r.operator = nil
	}
	interval := s.Interval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if r.mailer == nil {
		r.log.Info("notify: no SMTP server configured; notices stay in the outbox and are only logged")
	}

	timer := time.NewTimer(0) // first poll at once
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-s.Wake:
		}
		for r.poll(ctx) && ctx.Err() == nil {
		}
		timer.Reset(interval)
	}
}

// run is the state of one Run call.
type run struct {
	*Sender
	log     *slog.Logger
	now     func() time.Time
	backoff func(int) time.Duration
	mailer  noticeSender
	// operator is the operator sink's sender; nil when it is off.
	operator     noticeSender
	logged       map[int64]bool      // notices logged without a sender for their channel
	sentUnmarked map[int64]time.Time // sent, but MarkNoticeSent failed
}

// noticeSender sends one notice of a channel.
type noticeSender interface {
	Send(context.Context, webhook.Notice) error
}

// senderOf returns the sender of n's channel, or nil if it has none.
func (r *run) senderOf(n webhook.Notice) noticeSender {
	if n.Channel == webhook.ChannelOperator {
		return r.operator
	}
	return r.mailer
}

// outcome is what became of one send.
type outcome int

const (
	sent       outcome = iota // sent and marked
	sendFailed                // the channel failed; marked failed with a retry time
	stopBatch                 // shutting down, or the outbox failed: the batch ends
)

// poll handles one batch of due notices. It reports whether to poll again
// at once: the batch was full and every notice in it was sent.
func (r *run) poll(ctx context.Context) bool {
	// Notices without a sender are not marked, so the oldest stay due: ask
	// for enough to also see the ones not logged yet.
	limit := len(r.logged) + batchSize
	due, err := r.Outbox.DueNotices(ctx, r.now(), limit)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("notify: reading due notices failed", "err", err)
		}
		return false
	}
	kept := map[int64]bool{}                   // due notices without a sender
	failed := map[webhook.NoticeChannel]bool{} // channels that failed in this batch
	for _, n := range due {
		if ctx.Err() != nil {
			return false
		}
		to, ch := r.senderOf(n), n.Channel.OrEmail()
		switch {
		case to == nil:
			kept[n.ID] = true
			r.logKept(n)
		case failed[ch]:
			// Most failures (server down, AUTH refused) hit every notice
			// of a channel alike: leave the rest for the next poll.
		default:
			switch r.send(ctx, to, n) {
			case sendFailed:
				failed[ch] = true
			case stopBatch:
				return false
			}
		}
	}
	if len(due) < limit {
		r.logged = kept // every due notice was seen: forget those that left the outbox
	}
	return len(kept) == 0 && len(failed) == 0 && len(due) == limit
}

// noticeAttrs are the log attributes naming n: an e-mail's recipient, or
// the operator channel.
func noticeAttrs(n webhook.Notice) []any {
	if n.Channel == webhook.ChannelOperator {
		return []any{"id", n.ID, "kind", n.Kind, "channel", webhook.ChannelOperator}
	}
	return []any{"id", n.ID, "kind", n.Kind, "to", n.To}
}

// send sends one notice with to and records the outcome.
func (r *run) send(ctx context.Context, to noticeSender, n webhook.Notice) outcome {
	if at, ok := r.sentUnmarked[n.ID]; ok {
		if !r.markSent(ctx, n, at) {
			return stopBatch
		}
		delete(r.sentUnmarked, n.ID)
		return sent
	}
	err := to.Send(ctx, n)
	if err != nil {
		if ctx.Err() != nil {
			return stopBatch // shutting down; the notice stays due
		}
		attempt := n.Attempts + 1
		retryAt := r.now().Add(r.backoff(attempt))
		r.log.Warn("notify: sending notice failed; will retry", append(noticeAttrs(n), "attempt", attempt,
			"retry_at", retryAt.UTC().Format(time.RFC3339), "err", err)...)
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
		defer cancel()
		if err := r.Outbox.MarkNoticeFailed(mctx, n.ID, err.Error(), retryAt); err != nil {
			r.log.Error("notify: recording failed notice failed", "id", n.ID, "err", err)
		}
		return sendFailed
	}
	at := r.now()
	r.log.Info("notify: notice sent", append(noticeAttrs(n), "subscription", n.SubscriptionUUID)...)
	if !r.markSent(ctx, n, at) {
		r.sentUnmarked[n.ID] = at
		return stopBatch
	}
	return sent
}

// markSent records a sent notice and reports whether that worked.
func (r *run) markSent(ctx context.Context, n webhook.Notice, at time.Time) bool {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	if err := r.Outbox.MarkNoticeSent(mctx, n.ID, at); err != nil {
		r.log.Error("notify: recording sent notice failed; will not send it again, will retry recording",
			"id", n.ID, "err", err)
		return false
	}
	return true
}

// logKept logs a notice without a sender for its channel, unless this Run
// logged it before.
func (r *run) logKept(n webhook.Notice) {
	if r.logged[n.ID] {
		return
	}
	r.logged[n.ID] = true
	if n.Channel == webhook.ChannelOperator {
		r.log.Info("notify: no operator webhook configured; notice kept in the outbox",
			"id", n.ID, "kind", n.Kind, "subscription", n.SubscriptionUUID)
		return
	}
	subject, _, _ := Render(n)
	r.log.Info("notify: no SMTP configured; notice kept in the outbox",
		"id", n.ID, "kind", n.Kind, "to", n.To, "subject", subject)
}
