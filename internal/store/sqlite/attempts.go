package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// RecordAndClaim implements store.Store. All results and the claim are one
// job of a group-commit transaction: written completely or not at all.
func (db *DB) RecordAndClaim(ctx context.Context, rec store.RecordParams, next store.ClaimParams) (out []*store.Delivery, err error) {
	defer wrap(&err, "sqlite.RecordAndClaim(%d results, %d releases)", len(rec.Results), len(rec.Release))
	err = db.write(ctx, func(tx *wtx) error {
		subs := subscriptionCache{}
		for _, r := range rec.Results {
			if err := recordAttempt(tx, subs, rec, r); err != nil && !errors.Is(err, errNoLease) {
				return err
			}
		}
		if err := releaseUnsent(tx, rec.Release); err != nil {
			return err
		}
		var err error
		out, err = claim(tx, next)
		return err
	})
	if err != nil {
		return nil, err // what was claimed is not committed
	}
	return out, nil
}

// subscriptionCache holds the subscriptions a RecordAndClaim read, as its
// earlier results left them, so each is read once per call: nil for one
// that is gone.
type subscriptionCache map[string]*webhook.Subscription

// get returns the subscription uuid, or nil if it does not exist.
func (c subscriptionCache) get(tx *wtx, uuid string) (*webhook.Subscription, error) {
	if s, ok := c[uuid]; ok {
		return s, nil
	}
	s, err := loadSubscription(tx, uuid)
	if errors.Is(err, sql.ErrNoRows) {
		s, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	c[uuid] = s
	return s, nil
}

// applied updates the cache after transition t of the subscription uuid.
func (c subscriptionCache) applied(uuid string, t webhook.Transition) {
	switch {
	case t.Delete:
		c[uuid] = nil
	case t.Subscription != nil:
		c[uuid] = t.Subscription
	}
}

// releaseUnsent returns the messages of ls whose lease is still held to
// the queue, as never attempted.
func releaseUnsent(tx *wtx, ls []store.Lease) error {
	if len(ls) == 0 {
		return nil
	}
	list, err := json.Marshal(leasePairs(ls))
	if err != nil {
		return err
	}
	_, err = tx.Exec(`UPDATE messages SET state = 'pending', lease_token = NULL
		WHERE state = 'leased' AND (id, lease_token) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?))`, string(list))
	return err
}

// leasePairs returns ls as [id, token] pairs, for json_each.
func leasePairs(ls []store.Lease) [][2]any {
	out := make([][2]any, len(ls))
	for i, l := range ls {
		out[i] = [2]any{l.DeliveryID, l.LeaseToken}
	}
	return out
}

// errNoLease reports a result whose lease is no longer held.
var errNoLease = errors.New("lease not held")

// recordAttempt writes one result and applies its subscription's transition.
func recordAttempt(tx *wtx, subs subscriptionCache, rec store.RecordParams, r store.AttemptResult) error {
	subUUID, leasedAt, thenDelete, err := finishMessage(tx, r, rec.Now)
	if err != nil {
		return err
	}
	if err := insertAttempt(tx, r, subUUID); err != nil {
		return err
	}
	sub, err := subs.get(tx, subUUID)
	if err != nil || sub == nil { // deleted meanwhile: nothing more to change
		return err
	}
	t := sub.AfterAttempt(rec.Policy, webhook.Attempt{
		OK: r.Succeeded(), Failure: r.Failure(), LeasedAt: fromMicros(leasedAt), ThenDelete: thenDelete, Now: rec.Now,
		RetryAfter: r.RetryAfter,
	})
	if err := applyTransition(tx, sub.UUID, t, rec.Now); err != nil {
		return err
	}
	subs.applied(sub.UUID, t)
	return nil
}

func insertAttempt(tx *wtx, r store.AttemptResult, subUUID string) error {
	body := r.ResponseBody
	if body == nil {
		body = []byte{}
	}
	_, err := tx.Exec(`INSERT INTO attempts (message_row, subscription_uuid, started_at, duration_us, status_code, error_class,
			error_detail, retry_after_us, response_body, remote_addr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.DeliveryID, subUUID,
		micros(r.StartedAt), r.Duration.Microseconds(), r.StatusCode, string(r.ErrorClass), r.ErrorDetail,
		r.RetryAfter.Microseconds(), body, r.RemoteAddr)
	return err
}

// finishMessage marks the message of r delivered, or returns it to the
// queue, if r's lease is still held (errNoLease if not), and returns its
// subscription, when it was leased and whether it deletes the
// subscription once delivered.
func finishMessage(tx *wtx, r store.AttemptResult, now time.Time) (subUUID string, leasedAt int64, thenDelete bool, err error) {
	const held = ` WHERE id = ? AND lease_token = ? AND state = 'leased'
		RETURNING subscription_uuid, leased_at, then_delete_subscription`
	query, args := `UPDATE messages SET state = 'pending', lease_token = NULL, attempts = attempts + 1`+held,
		[]any{r.DeliveryID, r.LeaseToken}
	if r.Succeeded() {
		query = `UPDATE messages SET state = 'delivered', lease_token = NULL, attempts = attempts + 1, finished_at = ?` + held
		args = append([]any{micros(now)}, args...)
	}
	err = tx.QueryRow(query, args...).Scan(&subUUID, &leasedAt, &thenDelete)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNoLease
	}
	return subUUID, leasedAt, thenDelete, err
}

// applyTransition writes t for the subscription uuid.
func applyTransition(tx *wtx, uuid string, t webhook.Transition, now time.Time) error {
	if t.Delete {
		exhausted := t.Notice != nil && t.Notice.Kind == webhook.NoticeDeleted // not a delivered disconnect
		dead, err := deleteSubscription(tx, uuid, now, exhausted)
		if err != nil {
			return err
		}
		for _, n := range t.Notices() {
			n.Undelivered = dead
		}
	} else if s := t.Subscription; s != nil {
		if _, err := tx.Exec(`UPDATE subscriptions SET status = ?, failing_since = ?, failures = ?, next_retry_at = ?,
				last_failing_notice_at = ?, last_attempt_timed_out = ? WHERE uuid = ?`, string(s.Status), nullMicros(s.FailingSince),
			s.Failures, nullMicros(s.NextRetryAt), nullMicros(s.LastFailingNoticeAt), s.LastAttemptTimedOut, uuid); err != nil {
			return err
		}
	}
	for _, n := range t.Notices() {
		if n.Kind == webhook.NoticeRecovered {
			if err := tx.QueryRow(`SELECT count(*) FROM messages WHERE subscription_uuid = ? AND state IN ('pending', 'leased')`,
				uuid).Scan(&n.HeldMessages); err != nil {
				return err
			}
		}
		if err := insertNotice(tx, n); err != nil {
			return err
		}
	}
	return nil
}
