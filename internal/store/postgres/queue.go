package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// ReleaseLeases implements store.Store. A lease whose result is being
// recorded at this moment (its row locked) is left to that transaction.
func (db *DB) ReleaseLeases(ctx context.Context, expiredBefore time.Time) (n int, err error) {
	defer wrap(&err, "postgres.ReleaseLeases")
	tag, err := db.pool.Exec(ctx, `UPDATE messages SET state = 'pending', lease_token = NULL
		WHERE state = 'leased' AND id IN (SELECT id FROM messages WHERE state = 'leased' AND lease_expires_at < $1
			ORDER BY id FOR NO KEY UPDATE SKIP LOCKED)`, expiredBefore)
	return int(tag.RowsAffected()), err
}

// Messages implements store.Store.
func (db *DB) Messages(ctx context.Context, subscriptionUUID, state string) (msgs []store.Message, err error) {
	defer wrap(&err, "postgres.Messages(%s, %q)", subscriptionUUID, state)
	rows, _ := db.pool.Query(ctx, `SELECT m.id, m.message_id, m.subscription_uuid, e.event_name, m.state, m.attempts,
			m.created_at
		FROM messages m JOIN events e ON e.message_id = m.message_id
		WHERE m.subscription_uuid = $1 AND ($2 = '' OR m.state = $2) ORDER BY m.id`, subscriptionUUID, state)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Message, error) {
		var m store.Message
		err := row.Scan(&m.ID, &m.MessageID, &m.SubscriptionUUID, &m.EventName, &m.State, &m.Attempts, &m.CreatedAt)
		m.CreatedAt = m.CreatedAt.UTC()
		return m, err
	})
}

// QueueStats implements store.Store.
func (db *DB) QueueStats(ctx context.Context) (st store.QueueStats, err error) {
	defer wrap(&err, "postgres.QueueStats")
	var oldest pgtype.Timestamptz
	err = db.pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM messages WHERE state = 'pending'),
			(SELECT count(*) FROM messages WHERE state = 'leased'),
			(SELECT count(*) FROM messages WHERE state = 'dead'),
			(SELECT min(created_at) FROM messages WHERE state IN ('pending', 'leased'))`).
		Scan(&st.Pending, &st.Leased, &st.Dead, &oldest)
	st.OldestPending = fromNull(oldest)
	return st, err
}

// Attempts implements store.Store.
func (db *DB) Attempts(ctx context.Context, messageRow int64) (attempts []store.Attempt, err error) {
	defer wrap(&err, "postgres.Attempts(%d)", messageRow)
	rows, _ := db.pool.Query(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE message_row = $1 ORDER BY id`, messageRow)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Attempt, error) {
		a, _, err := scanAttempt(row)
		return a, err
	})
}

const attemptColumns = `started_at, duration_us, status_code, error_class, error_detail, retry_after_us, response_body,
	remote_addr, message_row`

// scanAttempt reads a row of attemptColumns and returns it with its
// message row.
func scanAttempt(row pgx.Row) (store.Attempt, int64, error) {
	var (
		a          store.Attempt
		us, retry  int64
		class      string
		messageRow int64
	)
	err := row.Scan(&a.StartedAt, &us, &a.StatusCode, &class, &a.ErrorDetail, &retry, &a.ResponseBody, &a.RemoteAddr, &messageRow)
	a.StartedAt, a.Duration, a.ErrorClass = a.StartedAt.UTC(), time.Duration(us)*time.Microsecond, webhook.Class(class)
	a.RetryAfter = time.Duration(retry) * time.Microsecond
	return a, messageRow, err
}

// Prune implements store.Store.
func (db *DB) Prune(ctx context.Context, before time.Time) (n int, err error) {
	defer wrap(&err, "postgres.Prune")
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM attempts a USING messages m
			WHERE m.id = a.message_row AND m.state IN ('delivered', 'dead') AND m.finished_at < $1`, before)
		b.Queue(`DELETE FROM messages WHERE state IN ('delivered', 'dead') AND finished_at < $1`, before)
		b.Queue(`DELETE FROM notices WHERE sent_at < $1`, before)
		b.Queue(`DELETE FROM deleted_subscriptions d WHERE d.deleted_at < $1
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.subscription_uuid = d.uuid AND m.state = 'dead')`, before)
		b.Queue(`DELETE FROM replays WHERE created_at < $1`, before)
		b.Queue(`DELETE FROM events e WHERE e.created_at < $1
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.message_id = e.message_id)`, before).
			Exec(func(tag pgconn.CommandTag) error { n = int(tag.RowsAffected()); return nil })
		return tx.SendBatch(ctx, b).Close()
	})
	return n, err
}
