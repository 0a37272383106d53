package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// RecordAndClaim implements store.Store. It takes four round trips: the
// locks, every write and the claim in one batch, and the commit (plus the
// begin).
func (db *DB) RecordAndClaim(ctx context.Context, rec store.RecordParams, next store.ClaimParams) (out []*store.Delivery, err error) {
	defer wrap(&err, "postgres.RecordAndClaim(%d results, %d releases)", len(rec.Results), len(rec.Release))
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		out = nil
		subs, msgs, err := lockForRecord(ctx, tx, rec.Results, rec.Release)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		queueRecords(b, rec, subs, msgs)
		queueRelease(b, rec.Release)
		if next.Limit > 0 {
			queueClaim(b, next, true, &out)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err // what was claimed is not committed
	}
	return out, nil
}

// lease names a lease: a message row and its lease token.
type lease struct {
	id    int64
	token string
}

// leasedMessage is what recording an attempt needs to know of its message.
type leasedMessage struct {
	subscriptionUUID string
	leasedAt         time.Time
	thenDelete       bool
}

// The rows RecordAndClaim changes are locked subscriptions first, by
// uuid, then messages, by id, the order every writer of this package
// follows, so instances do not deadlock. A subscription's uuid never
// changes, so it is read before the message row is locked. A message is
// found only while the result's lease holds (the fence). The messages of
// rec.Release are locked with those of the results; their subscriptions
// are not, since a release only takes a lease away.
const (
	lockRecordSubscriptionsSQL = `SELECT ` + subscriptionColumns + ` FROM subscriptions
	WHERE uuid IN (SELECT subscription_uuid FROM messages WHERE id = ANY ($1))
	ORDER BY uuid FOR NO KEY UPDATE`
	lockRecordMessagesSQL = `SELECT m.id, m.lease_token, m.subscription_uuid, m.leased_at, m.then_delete_subscription
	FROM messages m JOIN unnest($1::bigint[], $2::text[]) AS r (id, token) ON m.id = r.id AND m.lease_token = r.token
	WHERE m.state = 'leased' ORDER BY m.id FOR NO KEY UPDATE OF m`
)

// lockForRecord locks the subscriptions and the still-leased messages of
// results, and the still-leased messages of release, and returns them; a
// subscription deleted meanwhile is missing.
func lockForRecord(ctx context.Context, tx pgx.Tx, results []store.AttemptResult, release []store.Lease) (map[string]*webhook.Subscription, map[lease]leasedMessage, error) {
	subs := map[string]*webhook.Subscription{}
	msgs := map[lease]leasedMessage{}
	if len(results)+len(release) == 0 {
		return subs, msgs, nil
	}
	ids, tokens := make([]int64, 0, len(results)+len(release)), make([]string, 0, len(results)+len(release))
	for _, r := range results {
		ids, tokens = append(ids, r.DeliveryID), append(tokens, r.LeaseToken)
	}
	for _, l := range release {
		ids, tokens = append(ids, l.DeliveryID), append(tokens, l.LeaseToken)
	}
	b := &pgx.Batch{}
	if len(results) > 0 {
		b.Queue(lockRecordSubscriptionsSQL, ids[:len(results)]).Query(func(rows pgx.Rows) error {
			list, err := pgx.CollectRows(rows, scanSubscription)
			for _, s := range list {
				subs[s.UUID] = s
			}
			return err
		})
	}
	b.Queue(lockRecordMessagesSQL, ids, tokens).Query(func(rows pgx.Rows) error {
		var (
			l lease
			m leasedMessage
		)
		_, err := pgx.ForEachRow(rows, []any{&l.id, &l.token, &m.subscriptionUUID, &m.leasedAt, &m.thenDelete}, func() error {
			m.leasedAt = m.leasedAt.UTC()
			msgs[l] = m
			return nil
		})
		return err
	})
	return subs, msgs, tx.SendBatch(ctx, b).Close()
}

// queueRecords queues the writes of the results whose lease holds, by
// subscription uuid (results of one subscription in their order), each
// result's transition decided on the state the previous one left. A
// deleted subscription stays in subs as nil.
func queueRecords(b *pgx.Batch, rec store.RecordParams, subs map[string]*webhook.Subscription, msgs map[lease]leasedMessage) {
	type held struct {
		r store.AttemptResult
		m leasedMessage
	}
	var todo []held
	for _, r := range rec.Results {
		l := lease{r.DeliveryID, r.LeaseToken}
		if m, ok := msgs[l]; ok {
			todo = append(todo, held{r, m})
			delete(msgs, l) // a result repeated in the call counts once
		}
	}
	slices.SortStableFunc(todo, func(a, b held) int { return cmp.Compare(a.m.subscriptionUUID, b.m.subscriptionUUID) })
	for _, h := range todo {
		sub, found := subs[h.m.subscriptionUUID]
		if found && sub == nil { // deleted by an earlier result: the lease died with its message
			continue
		}
		queueAttempt(b, h.r, h.m.subscriptionUUID, rec.Now)
		if !found { // deleted before: the attempt is recorded, nothing more
			continue
		}
		t := sub.AfterAttempt(rec.Policy, webhook.Attempt{OK: h.r.Succeeded(), Failure: h.r.Failure(),
			LeasedAt: h.m.leasedAt, ThenDelete: h.m.thenDelete, Now: rec.Now, RetryAfter: h.r.RetryAfter})
		subs[sub.UUID] = queueTransition(b, sub, t, rec.Now)
	}
}

// queueRelease queues the release of the messages of ls still leased with
// their token: pending again, attempts unchanged. Their rows are locked
// already (lockForRecord).
func queueRelease(b *pgx.Batch, ls []store.Lease) {
	if len(ls) == 0 {
		return
	}
	ids, tokens := make([]int64, len(ls)), make([]string, len(ls))
	for i, l := range ls {
		ids[i], tokens[i] = l.DeliveryID, l.LeaseToken
	}
	b.Queue(`UPDATE messages m SET state = 'pending', lease_token = NULL
		FROM unnest($1::bigint[], $2::text[]) AS r (id, token)
		WHERE m.id = r.id AND m.lease_token = r.token AND m.state = 'leased'`, ids, tokens)
}

// queueAttempt queues the attempt row of r (a message of the subscription
// subUUID) and its message's new state: delivered, or pending again.
func queueAttempt(b *pgx.Batch, r store.AttemptResult, subUUID string, now time.Time) {
	body := r.ResponseBody
	if body == nil {
		body = []byte{}
	}
	b.Queue(`INSERT INTO attempts (message_row, subscription_uuid, started_at, duration_us, status_code, error_class,
		error_detail, retry_after_us, response_body, remote_addr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		r.DeliveryID, subUUID, r.StartedAt, r.Duration.Microseconds(), r.StatusCode, string(r.ErrorClass), r.ErrorDetail,
		r.RetryAfter.Microseconds(), body, r.RemoteAddr)
	state, finished := store.StatePending, time.Time{}
	if r.Succeeded() {
		state, finished = store.StateDelivered, now
	}
	b.Queue(`UPDATE messages SET state = $2, attempts = attempts + 1, lease_token = NULL, finished_at = $3 WHERE id = $1`,
		r.DeliveryID, state, nullTime(finished))
}

// queueTransition queues the writes of t for sub and returns the
// subscription as they leave it (nil once deleted).
func queueTransition(b *pgx.Batch, sub *webhook.Subscription, t webhook.Transition, now time.Time) *webhook.Subscription {
	if s := t.Subscription; s != nil {
		b.Queue(`UPDATE subscriptions SET status = $2, failing_since = $3, failures = $4, next_retry_at = $5,
			last_failing_notice_at = $6, last_attempt_timed_out = $7 WHERE uuid = $1`, s.UUID, string(s.Status),
			nullTime(s.FailingSince), s.Failures, nullTime(s.NextRetryAt), nullTime(s.LastFailingNoticeAt), s.LastAttemptTimedOut)
		sub = s
	}
	if !t.Delete {
		for _, n := range t.Notices() {
			queueNotice(b, n)
		}
		return sub
	}
	uuids := []string{sub.UUID}
	exhausted := t.Notice != nil && t.Notice.Kind == webhook.NoticeDeleted // not a delivered disconnect
	b.Queue(deleteSubscriptionsSQL, uuids, now, exhausted)
	for _, n := range t.Notices() {
		queueNotice(b, n) // counts the undelivered messages before they die
	}
	b.Queue(killMessagesSQL, uuids, now)
	return nil
}
