package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// RecordAndClaim implements store.Store. All results and the claim share
// one savepoint of a group-commit transaction.
func (db *DB) RecordAndClaim(ctx context.Context, rec store.RecordParams, next store.ClaimParams) (out []*store.Delivery, err error) {
	defer wrap(&err, "sqlite.RecordAndClaim(%d results)", len(rec.Results))
	err = db.write(ctx, func(tx *wtx) error {
		for _, r := range rec.Results {
			if err := recordAttempt(tx, rec, r); err != nil && !errors.Is(err, errNoLease) {
				return err
			}
		}
		var err error
		out, err = claim(tx, next)
		return err
	})
	return out, err
}

// errNoLease reports a result whose lease is no longer held.
var errNoLease = errors.New("lease not held")

// recordAttempt writes one result and applies its subscription's transition.
func recordAttempt(tx *wtx, rec store.RecordParams, r store.AttemptResult) error {
	var (
		subUUID    string
		leasedAt   int64
		thenDelete bool
	)
	err := tx.QueryRow(`SELECT subscription_uuid, leased_at, then_delete_subscription FROM messages
		WHERE id = ? AND lease_token = ? AND state = 'leased'`, r.DeliveryID, r.LeaseToken).
		Scan(&subUUID, &leasedAt, &thenDelete)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoLease
	}
	if err != nil {
		return err
	}
	if err := insertAttempt(tx, r); err != nil {
		return err
	}
	if err := finishMessage(tx, r, rec.Now); err != nil {
		return err
	}
	sub, err := loadSubscription(tx, subUUID)
	if errors.Is(err, sql.ErrNoRows) { // deleted meanwhile: nothing more to change
		return nil
	}
	if err != nil {
		return err
	}
	t := sub.AfterAttempt(rec.Policy, webhook.Attempt{
		OK: r.Succeeded(), Failure: r.Failure(), LeasedAt: fromMicros(leasedAt), ThenDelete: thenDelete, Now: rec.Now,
		RetryAfter: r.RetryAfter,
	})
	return applyTransition(tx, sub.UUID, t, rec.Now)
}

func insertAttempt(tx *wtx, r store.AttemptResult) error {
	body := r.ResponseBody
	if body == nil {
		body = []byte{}
	}
	_, err := tx.Exec(`INSERT INTO attempts (message_row, started_at, duration_us, status_code, error_class, error_detail,
			retry_after_us, response_body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.DeliveryID, micros(r.StartedAt),
		r.Duration.Microseconds(), r.StatusCode, string(r.ErrorClass), r.ErrorDetail, r.RetryAfter.Microseconds(), body)
	return err
}

// finishMessage marks the message delivered, or returns it to the queue.
func finishMessage(tx *wtx, r store.AttemptResult, now time.Time) error {
	if r.Succeeded() {
		_, err := tx.Exec(`UPDATE messages SET state = 'delivered', lease_token = NULL, attempts = attempts + 1, finished_at = ?
			WHERE id = ?`, micros(now), r.DeliveryID)
		return err
	}
	_, err := tx.Exec(`UPDATE messages SET state = 'pending', lease_token = NULL, attempts = attempts + 1 WHERE id = ?`,
		r.DeliveryID)
	return err
}

// applyTransition writes t for the subscription uuid.
func applyTransition(tx *wtx, uuid string, t webhook.Transition, now time.Time) error {
	if t.Delete {
		dead, err := deleteSubscription(tx, uuid, now)
		if err != nil {
			return err
		}
		if t.Notice != nil {
			t.Notice.Undelivered = dead
		}
	} else if s := t.Subscription; s != nil {
		if _, err := tx.Exec(`UPDATE subscriptions SET status = ?, failing_since = ?, failures = ?, next_retry_at = ?,
				last_failing_notice_at = ?, last_attempt_timed_out = ? WHERE uuid = ?`, string(s.Status), nullMicros(s.FailingSince),
			s.Failures, nullMicros(s.NextRetryAt), nullMicros(s.LastFailingNoticeAt), s.LastAttemptTimedOut, uuid); err != nil {
			return err
		}
	}
	if t.Notice == nil {
		return nil
	}
	if t.Notice.Kind == webhook.NoticeRecovered {
		if err := tx.QueryRow(`SELECT count(*) FROM messages WHERE subscription_uuid = ? AND state IN ('pending', 'leased')`,
			uuid).Scan(&t.Notice.HeldMessages); err != nil {
			return err
		}
	}
	return insertNotice(tx, t.Notice)
}
