package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/pusher-hq/pusher/internal/notify"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// RecordAttempts implements store.Store. All results share one savepoint.
func (db *DB) RecordAttempts(ctx context.Context, p store.Policy, results []store.AttemptResult) error {
	_, err := db.RecordAndClaim(ctx, p, results, store.ClaimParams{})
	return err
}

// RecordAndClaim implements store.Store.
func (db *DB) RecordAndClaim(ctx context.Context, p store.Policy, results []store.AttemptResult, next store.ClaimParams) ([]*store.Delivery, error) {
	var out []*store.Delivery
	err := db.write(ctx, func(tx *wtx) error {
		for _, r := range results {
			if err := recordAttempt(tx, p, r); err != nil && !errors.Is(err, errNoLease) {
				return err
			}
		}
		var err error
		out, err = claim(tx, next)
		return err
	})
	return out, err
}

// leasedMessage is what recordAttempt needs to know about the message.
type leasedMessage struct {
	subscriptionUUID string
	leasedAt         time.Time
	thenDelete       bool
}

func recordAttempt(tx *wtx, p store.Policy, r store.AttemptResult) error {
	var m leasedMessage
	var leasedAt int64
	err := tx.QueryRow(`SELECT subscription_uuid, leased_at, then_delete_subscription FROM messages
		WHERE id = ? AND lease_token = ? AND state = 'leased'`, r.DeliveryID, r.LeaseToken).
		Scan(&m.subscriptionUUID, &leasedAt, &m.thenDelete)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoLease
	}
	if err != nil {
		return err
	}
	m.leasedAt = fromMicros(leasedAt)
	body := r.ResponseBody
	if body == nil {
		body = []byte{}
	}
	if _, err := tx.Exec(`INSERT INTO attempts (message_row, started_at, duration_us, status_code, error_class, error_detail, response_body)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, r.DeliveryID, micros(r.StartedAt), r.Duration.Microseconds(), r.StatusCode,
		r.ErrorClass, r.ErrorDetail, body); err != nil {
		return err
	}
	if err := finishAttempt(tx, p, r); err != nil {
		return err
	}
	sub, err := loadSubscription(tx, m.subscriptionUUID)
	if errors.Is(err, sql.ErrNoRows) { // deleted meanwhile: nothing more to change
		return nil
	}
	if err != nil {
		return err
	}
	if r.Succeeded() {
		return recordSuccess(tx, p, sub, m)
	}
	return recordFailure(tx, p, r, sub, m)
}

// finishAttempt marks the message delivered, or returns it to the queue.
func finishAttempt(tx *wtx, p store.Policy, r store.AttemptResult) error {
	if r.Succeeded() {
		_, err := tx.Exec(`UPDATE messages SET state = 'delivered', lease_token = NULL, attempts = attempts + 1, finished_at = ?
			WHERE id = ?`, micros(p.Now), r.DeliveryID)
		return err
	}
	_, err := tx.Exec(`UPDATE messages SET state = 'pending', lease_token = NULL, attempts = attempts + 1 WHERE id = ?`,
		r.DeliveryID)
	return err
}

// recordSuccess deletes the subscription after a delivered disconnect event
// and makes a FAILING subscription ACTIVE again.
func recordSuccess(tx *wtx, p store.Policy, sub *webhook.Subscription, m leasedMessage) error {
	if m.thenDelete {
		_, err := deleteSubscription(tx, sub.UUID, p.Now)
		return err
	}
	if sub.Status != webhook.Failing {
		return nil
	}
	if _, err := tx.Exec(`UPDATE subscriptions SET status = 'ACTIVE', failing_since = NULL, failures = 0, next_retry_at = NULL
		WHERE uuid = ?`, sub.UUID); err != nil {
		return err
	}
	var held int
	if err := tx.QueryRow(`SELECT count(*) FROM messages WHERE subscription_uuid = ? AND state IN ('pending', 'leased')`,
		sub.UUID).Scan(&held); err != nil {
		return err
	}
	n := newNotice(notify.KindRecovered, sub, p.Now)
	n.FailingSince, n.HeldMessages = sub.FailingSince, held
	return insertNotice(tx, n)
}

// recordFailure applies the retry policy to the subscription.
func recordFailure(tx *wtx, p store.Policy, r store.AttemptResult, sub *webhook.Subscription, m leasedMessage) error {
	switch {
	case sub.Status == webhook.Active:
		return startFailing(tx, p, r, sub)
	case !m.leasedAt.Before(sub.FailingSince):
		return failAgain(tx, p, r, sub)
	default: // leased before the subscription started failing: just requeued
		return nil
	}
}

// startFailing makes an ACTIVE subscription FAILING after its first failed
// attempt and queues a "failing" notice unless one was queued recently.
func startFailing(tx *wtx, p store.Policy, r store.AttemptResult, sub *webhook.Subscription) error {
	next, ok := p.Schedule(p.Now, 1)
	if !ok {
		return exhaust(tx, p, r, sub)
	}
	if _, err := tx.Exec(`UPDATE subscriptions SET status = 'FAILING', failing_since = ?, failures = 1, next_retry_at = ?
		WHERE uuid = ?`, micros(p.Now), micros(next), sub.UUID); err != nil {
		return err
	}
	var recent int
	if err := tx.QueryRow(`SELECT count(*) FROM notices WHERE subscription_uuid = ? AND kind = 'failing' AND created_at > ?`,
		sub.UUID, micros(p.Now.Add(-p.FailingNoticeEvery))).Scan(&recent); err != nil {
		return err
	}
	if recent > 0 {
		return nil
	}
	n := newNotice(notify.KindFailing, sub, p.Now)
	n.Reason, n.NextAttemptAt, n.DeleteAt = r.Reason, next, lastRetry(p, p.Now)
	return insertNotice(tx, n)
}

// failAgain counts a failed retry of a FAILING subscription's head message
// and schedules the next, or deletes the subscription when none is left.
func failAgain(tx *wtx, p store.Policy, r store.AttemptResult, sub *webhook.Subscription) error {
	failures := sub.Failures + 1
	next, ok := p.Schedule(sub.FailingSince, failures)
	if !ok {
		return exhaust(tx, p, r, sub)
	}
	_, err := tx.Exec(`UPDATE subscriptions SET failures = ?, next_retry_at = ? WHERE uuid = ?`,
		failures, micros(next), sub.UUID)
	return err
}

// exhaust deletes a subscription whose retries ran out and queues a
// "deleted" notice with the reason of the last failure.
func exhaust(tx *wtx, p store.Policy, r store.AttemptResult, sub *webhook.Subscription) error {
	dead, err := deleteSubscription(tx, sub.UUID, p.Now)
	if err != nil {
		return err
	}
	n := newNotice(notify.KindDeleted, sub, p.Now)
	n.FailingSince, n.Undelivered, n.Reason = sub.FailingSince, dead, r.Reason
	return insertNotice(tx, n)
}

// lastRetry returns when the last retry of an episode starting at since is
// due: the subscription is deleted if that one fails too.
func lastRetry(p store.Policy, since time.Time) time.Time {
	last := since
	for n := 1; ; n++ {
		next, ok := p.Schedule(since, n)
		if !ok || n > 100000 {
			return last
		}
		last = next
	}
}
