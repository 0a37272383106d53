package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// SubscriptionByUUID implements store.DeliveryLog.
func (db *DB) SubscriptionByUUID(ctx context.Context, uuid string) (s *webhook.Subscription, err error) {
	defer wrap(&err, "postgres.SubscriptionByUUID(%s)", uuid)
	rows, _ := db.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE uuid = $1`, uuid)
	s, err = pgx.CollectExactlyOneRow(rows, scanSubscription)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, webhook.ErrSubscriptionNotFound(uuid)
	}
	return s, err
}

// OrganizationSubscriptions implements store.DeliveryLog.
func (db *DB) OrganizationSubscriptions(ctx context.Context, org string) (subs []*webhook.Subscription, err error) {
	defer wrap(&err, "postgres.OrganizationSubscriptions(%s)", org)
	rows, _ := db.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE $1 = '' OR organization_uuid = $1 ORDER BY created_at, seq`, org)
	return collectSubscriptions(rows)
}

// DeletedSubscription implements store.DeliveryLog.
func (db *DB) DeletedSubscription(ctx context.Context, uuid string) (d store.DeletedSubscription, err error) {
	defer wrap(&err, "postgres.DeletedSubscription(%s)", uuid)
	err = db.pool.QueryRow(ctx, `SELECT uuid, organization_uuid, client_id, event_names, destination, deleted_at, exhausted
		FROM deleted_subscriptions WHERE uuid = $1`, uuid).
		Scan(&d.UUID, &d.OrganizationUUID, &d.ClientID, &d.EventNames, &d.Destination, &d.DeletedAt, &d.Exhausted)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, webhook.ErrSubscriptionNotFound(uuid)
	}
	d.EventNames, d.DeletedAt = nonNil(d.EventNames), d.DeletedAt.UTC()
	return d, err
}

// SaveSigning implements store.DeliveryLog: one statement, or a
// transaction with the inserts of the notices.
func (db *DB) SaveSigning(ctx context.Context, s *webhook.Subscription, notices ...webhook.Notice) (err error) {
	defer wrap(&err, "postgres.SaveSigning(%s)", s.UUID)
	save := func(ctx context.Context, q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}) error {
		tag, err := q.Exec(ctx, `UPDATE subscriptions SET signing_key = $2, previous_signing_key = $3, previous_key_expires_at = $4, updated_at = $5
			WHERE uuid = $1`, s.UUID, s.SigningKey, s.PreviousSigningKey, nullTime(s.PreviousKeyExpires), s.Updated)
		if err == nil && tag.RowsAffected() == 0 {
			return webhook.ErrSubscriptionNotFound(s.UUID)
		}
		return err
	}
	if len(notices) == 0 {
		return save(ctx, db.pool)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		if err := save(ctx, tx); err != nil {
			return err
		}
		for i := range notices {
			n := &notices[i]
			if _, err := tx.Exec(ctx, insertNoticeSQL, append(noticeArgs(n), n.HeldMessages, n.Undelivered)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// SaveSettings implements store.DeliveryLog: one statement.
func (db *DB) SaveSettings(ctx context.Context, uuid string, settings webhook.Settings) (err error) {
	defer wrap(&err, "postgres.SaveSettings(%s)", uuid)
	tag, err := db.pool.Exec(ctx, `UPDATE subscriptions SET strict_order = $2, standard_webhooks = $3, rotation_overlap_us = $4
		WHERE uuid = $1`, uuid, settings.StrictOrder, settings.StandardWebhooks, settings.RotationOverlap.Microseconds())
	if err == nil && tag.RowsAffected() == 0 {
		return webhook.ErrSubscriptionNotFound(uuid)
	}
	return err
}

// logColumns are the columns of a LogMessage, of messages m joined with
// events e and (left) subscriptions s.
const logColumns = `m.id, m.message_id, m.subscription_uuid, e.event_name, m.state, m.attempts, m.created_at, m.finished_at,
	CASE WHEN m.state IN ('pending', 'leased') AND s.status = 'FAILING' THEN s.next_retry_at END`

const logFrom = ` FROM messages m JOIN events e ON e.message_id = m.message_id LEFT JOIN subscriptions s ON s.uuid = m.subscription_uuid`

func scanLogMessage(row pgx.Row, extra ...any) (store.LogMessage, error) {
	var (
		m                     store.LogMessage
		state                 string
		finished, nextAttempt pgtype.Timestamptz
	)
	dest := append([]any{&m.ID, &m.MessageID, &m.SubscriptionUUID, &m.EventName, &state, &m.Attempts, &m.CreatedAt,
		&finished, &nextAttempt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return m, err
	}
	m.State = store.LogState(state, m.Attempts)
	m.CreatedAt, m.FinishedAt, m.NextAttemptAt = m.CreatedAt.UTC(), fromNull(finished), fromNull(nextAttempt)
	return m, nil
}

// selectionCondition is the condition on messages m of a queue selection,
// with the state as a literal so that the partial indexes of the state
// serve it.
func selectionCondition(sel store.QueueSelection) string {
	c := `m.state = '` + sel.State + `'`
	switch sel.Attempts {
	case store.NoAttempts:
		c += ` AND m.attempts = 0`
	case store.SomeAttempts:
		c += ` AND m.attempts > 0`
	}
	return c
}

// clientSubscriptionsSQL lists the uuids of a client's subscriptions, live
// and deleted: %[1]s is the client's parameter, %[2]s the organization's
// (empty for every organization).
const clientSubscriptionsSQL = `SELECT uuid FROM subscriptions WHERE client_id = %[1]s AND (%[2]s = '' OR organization_uuid = %[2]s)
	UNION SELECT uuid FROM deleted_subscriptions WHERE client_id = %[1]s AND (%[2]s = '' OR organization_uuid = %[2]s)`

// LogMessages implements store.DeliveryLog as store.PlanLogRead plans
// it: each part an index range newest first, merged with UNION ALL.
func (db *DB) LogMessages(ctx context.Context, f store.MessageFilter) (out []store.LogMessage, err error) {
	defer wrap(&err, "postgres.LogMessages(%s, %s)", f.OrganizationUUID, f.SubscriptionUUID)
	read, err := store.PlanLogRead(f, func(limit int) ([]string, error) { return db.logSubscriptions(ctx, f, limit) })
	if err != nil || len(read.Parts) == 0 {
		return []store.LogMessage{}, err
	}
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	common := logConditions(f, read.ByClient, arg)
	limit := arg(f.Limit)
	subArgs := map[string]string{} // a subscription's parameter, shared by its parts
	var parts []string
	for _, part := range read.Parts {
		where := slices.Clone(common)
		if sub := part.SubscriptionUUID; sub != "" {
			if _, ok := subArgs[sub]; !ok {
				subArgs[sub] = arg(sub)
			}
			where = append(where, `m.subscription_uuid = `+subArgs[sub])
		}
		if part.Selection != nil {
			where = append(where, selectionCondition(*part.Selection))
		}
		q := `SELECT ` + logColumns + logFrom
		if len(where) > 0 {
			q += ` WHERE ` + strings.Join(where, ` AND `)
		}
		parts = append(parts, q+` ORDER BY m.id DESC LIMIT `+limit)
	}
	q := parts[0]
	if len(parts) > 1 {
		q = `(` + strings.Join(parts, `) UNION ALL (`) + `) ORDER BY 1 DESC LIMIT ` + limit
	}
	rows, _ := db.pool.Query(ctx, q, args...)
	out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.LogMessage, error) { return scanLogMessage(row) })
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []store.LogMessage{}
	}
	return out, db.addLastAttempts(ctx, out)
}

// logConditions are the conditions of f every part of a LogMessages read
// has, their arguments numbered by arg; byClient adds that of f's client
// (store.LogRead.ByClient).
func logConditions(f store.MessageFilter, byClient bool, arg func(any) string) []string {
	var conds []string
	if f.OrganizationUUID != "" {
		conds = append(conds, `e.organization_uuid = `+arg(f.OrganizationUUID))
	}
	if byClient {
		conds = append(conds, `m.subscription_uuid IN (`+fmt.Sprintf(clientSubscriptionsSQL, arg(f.ClientID), arg(f.OrganizationUUID))+`)`)
	}
	if f.EventName != "" {
		conds = append(conds, `e.event_name = `+arg(f.EventName))
	}
	if !f.Since.IsZero() {
		conds = append(conds, `m.created_at >= `+arg(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, `m.created_at < `+arg(f.Until))
	}
	if f.Before > 0 {
		conds = append(conds, `m.id < `+arg(f.Before))
	}
	return conds
}

// logSubscriptions returns at most limit uuids of the subscriptions, live
// and deleted, of f's organization, and of f's client if it has one: the
// list of store.PlanLogRead.
func (db *DB) logSubscriptions(ctx context.Context, f store.MessageFilter, limit int) ([]string, error) {
	q, args := `SELECT uuid FROM subscriptions WHERE organization_uuid = $1
		UNION SELECT uuid FROM deleted_subscriptions WHERE organization_uuid = $1 LIMIT $2`, []any{f.OrganizationUUID}
	if f.ClientID != "" {
		q, args = fmt.Sprintf(clientSubscriptionsSQL, "$1", "$2")+` LIMIT $3`, []any{f.ClientID, f.OrganizationUUID}
	}
	rows, _ := db.pool.Query(ctx, q, append(args, limit)...)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// addLastAttempts sets the LastAttempt of each message of ms that has one.
func (db *DB) addLastAttempts(ctx context.Context, ms []store.LogMessage) error {
	if len(ms) == 0 {
		return nil
	}
	ids, byRow := store.MessagesByRow(ms)
	rows, _ := db.pool.Query(ctx, `SELECT DISTINCT ON (message_row) `+attemptColumns+` FROM attempts
		WHERE message_row = ANY ($1) ORDER BY message_row, id DESC`, ids)
	_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		a, messageRow, err := scanAttempt(row)
		if m := byRow[messageRow]; err == nil && m != nil {
			m.LastAttempt = &a
		}
		return struct{}{}, err
	})
	return err
}

// LogMessage implements store.DeliveryLog.
func (db *DB) LogMessage(ctx context.Context, subscriptionUUID, messageID string) (m store.LogMessage, err error) {
	defer wrap(&err, "postgres.LogMessage(%s, %s)", subscriptionUUID, messageID)
	var env webhook.Envelope
	m, err = scanLogMessage(db.pool.QueryRow(ctx, `SELECT `+logColumns+`,
			e.organization_uuid, e.message_uuid, e.event_name, e.message_id, e.payload, e.timestamp`+logFrom+`
		WHERE m.subscription_uuid = $1 AND m.message_id = $2`, subscriptionUUID, messageID),
		&env.OrganizationUUID, &env.MessageUUID, &env.EventName, &env.MessageID, &env.Payload, &env.Timestamp)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, store.ErrMessageNotFound(messageID)
	}
	if err != nil {
		return m, err
	}
	m.OrganizationUUID, m.Envelope = env.OrganizationUUID, env.Bytes()
	rows, _ := db.pool.Query(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE message_row = $1 ORDER BY id`, m.ID)
	attempts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Attempt, error) {
		a, _, err := scanAttempt(row)
		return a, err
	})
	if err != nil {
		return m, err
	}
	m.SetAttemptList(attempts)
	return m, nil
}

// AttemptStats implements store.DeliveryLog.
func (db *DB) AttemptStats(ctx context.Context, subscriptionUUID string, since time.Time) (st store.AttemptStats, err error) {
	defer wrap(&err, "postgres.AttemptStats(%s)", subscriptionUUID)
	b := &pgx.Batch{}
	b.Queue(`SELECT count(*) FILTER (WHERE error_class = ''), count(*) FILTER (WHERE error_class <> ''),
			(SELECT count(*) FROM messages WHERE subscription_uuid = $1 AND state IN ('pending', 'leased'))
		FROM attempts WHERE subscription_uuid = $1 AND started_at >= $2`, subscriptionUUID, since).
		QueryRow(func(row pgx.Row) error { return row.Scan(&st.Delivered, &st.Failed, &st.Backlog) })
	b.Queue(`SELECT duration_us FROM attempts WHERE subscription_uuid = $1 AND started_at >= $2
		ORDER BY started_at DESC LIMIT $3`, subscriptionUUID, since, store.MaxStatsDurations).
		Query(func(rows pgx.Rows) error {
			st.Durations = []time.Duration{}
			var us int64
			_, err := pgx.ForEachRow(rows, []any{&us}, func() error {
				st.Durations = append(st.Durations, time.Duration(us)*time.Microsecond)
				return nil
			})
			return err
		})
	err = db.pool.SendBatch(ctx, b).Close()
	return st, err
}

// lockSubscriptionSQL finds a subscription and locks it FOR KEY SHARE, as
// Publish does: a deletion waits for the transaction, then kills the
// messages it queued (see deleteSubscriptionsSQL).
const lockSubscriptionSQL = `SELECT EXISTS (SELECT 1 FROM subscriptions WHERE uuid = $1 FOR KEY SHARE)`

func lockSubscription(ctx context.Context, tx pgx.Tx, uuid string) error {
	var found bool
	if err := tx.QueryRow(ctx, lockSubscriptionSQL, uuid).Scan(&found); err != nil {
		return err
	}
	if !found {
		return webhook.ErrSubscriptionNotFound(uuid)
	}
	return nil
}

// Redeliver implements store.DeliveryLog. A message made pending wakes
// the listeners.
func (db *DB) Redeliver(ctx context.Context, subscriptionUUID, messageID string, now time.Time) (err error) {
	defer wrap(&err, "postgres.Redeliver(%s, %s)", subscriptionUUID, messageID)
	return db.inTx(ctx, func(tx pgx.Tx) error {
		// The subscription row is locked first (FOR NO KEY UPDATE, as
		// claims do), then the message: the order of every writer here.
		var failingLater bool
		err := tx.QueryRow(ctx, `SELECT status = 'FAILING' AND next_retry_at > $2 FROM subscriptions WHERE uuid = $1
			FOR NO KEY UPDATE`, subscriptionUUID, now).Scan(&failingLater)
		if errors.Is(err, pgx.ErrNoRows) {
			return webhook.ErrSubscriptionNotFound(subscriptionUUID)
		}
		if err != nil {
			return err
		}
		var state string
		err = tx.QueryRow(ctx, `SELECT state FROM messages WHERE subscription_uuid = $1 AND message_id = $2 FOR NO KEY UPDATE`,
			subscriptionUUID, messageID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrMessageNotFound(messageID)
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		if state == store.StateDelivered || state == store.StateDead {
			b.Queue(`UPDATE messages SET state = 'pending', lease_token = NULL, finished_at = NULL
				WHERE subscription_uuid = $1 AND message_id = $2`, subscriptionUUID, messageID)
		}
		if failingLater {
			b.Queue(`UPDATE subscriptions SET next_retry_at = $2 WHERE uuid = $1`, subscriptionUUID, now)
		}
		if b.Len() == 0 {
			return nil
		}
		b.Queue(`SELECT pg_notify('pusher_messages', '')`)
		return tx.SendBatch(ctx, b).Close()
	})
}

// replaySelectionSQL selects the events of a replay: $1 organization, $2
// since, $3 until, $4 delivered event names (NULL for all), $5 the
// subscription whose dead letters they must be (empty for any). Events
// created at the same time are ordered by their first message row, that
// is in publication order.
const replaySelectionSQL = `SELECT e.message_id, e.created_at,
		(SELECT min(m.id) FROM messages m WHERE m.message_id = e.message_id) AS first_row
	FROM events e
	WHERE e.organization_uuid = $1 AND e.created_at >= $2 AND e.created_at < $3
	  AND ($4::text[] IS NULL OR e.event_name = ANY ($4::text[]))
	  AND ($5 = '' OR EXISTS (SELECT 1 FROM messages d WHERE d.message_id = e.message_id AND d.subscription_uuid = $5
		AND d.state = 'dead'))`

// Replay implements store.DeliveryLog in one transaction. An idempotency
// key is claimed first, so of two calls with one key racing, the second
// waits for the first and then sees its key.
func (db *DB) Replay(ctx context.Context, p store.ReplayParams) (res store.ReplayResult, err error) {
	defer wrap(&err, "postgres.Replay(%s)", p.SubscriptionUUID)
	sel := []any{p.OrganizationUUID, p.Since, p.Until, p.DeliveredEventNames(), p.FromSubscriptionUUID}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		res = store.ReplayResult{}
		if err := lockSubscription(ctx, tx, p.SubscriptionUUID); err != nil {
			return err
		}
		if p.DryRun {
			return tx.QueryRow(ctx, `SELECT count(*) FROM (`+replaySelectionSQL+`) sel`, sel...).Scan(&res.Count)
		}
		keyed := p.IdempotencyKey != ""
		if keyed {
			tag, err := tx.Exec(ctx, `INSERT INTO replays (subscription_uuid, idempotency_key, request_hash, count, created_at)
				VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING`, p.SubscriptionUUID, p.IdempotencyKey, p.RequestHash, p.Now)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				var (
					hash  string
					count int
				)
				if err := tx.QueryRow(ctx, `SELECT request_hash, count FROM replays WHERE subscription_uuid = $1 AND idempotency_key = $2`,
					p.SubscriptionUUID, p.IdempotencyKey).Scan(&hash, &count); err != nil {
					return err
				}
				res, err = store.RepeatedReplay(p, hash, count)
				return err
			}
		}
		var queued int
		if err := tx.QueryRow(ctx, `WITH sel AS (`+replaySelectionSQL+`), ins AS (
				INSERT INTO messages (message_id, subscription_uuid, state, created_at)
				SELECT message_id, $6, 'pending', $7 FROM sel ORDER BY created_at, first_row, message_id
				ON CONFLICT (message_id, subscription_uuid) DO UPDATE SET state = 'pending', lease_token = NULL, finished_at = NULL
					WHERE messages.state IN ('delivered', 'dead')
				RETURNING 1
			)
			SELECT (SELECT count(*) FROM sel), (SELECT count(*) FROM ins)`, append(sel, p.SubscriptionUUID, p.Now)...).
			Scan(&res.Count, &queued); err != nil {
			return err
		}
		b := &pgx.Batch{}
		if keyed {
			b.Queue(`UPDATE replays SET count = $3 WHERE subscription_uuid = $1 AND idempotency_key = $2`,
				p.SubscriptionUUID, p.IdempotencyKey, res.Count)
		}
		if queued > 0 {
			b.Queue(`SELECT pg_notify('pusher_messages', '')`)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	return res, err
}
