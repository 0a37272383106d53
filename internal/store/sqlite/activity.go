package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// ActivitySeries implements store.Store: three grouped reads over the
// events_created and attempts_started indexes and the undelivered messages.
func (db *DB) ActivitySeries(ctx context.Context, q store.ActivityQuery) (out store.ActivitySeries, err error) {
	defer wrap(&err, "sqlite.ActivitySeries(%v, %v, %v)", q.Since, q.Until, q.Bucket)
	if err := q.Check(); err != nil {
		return out, err
	}
	since, until, width := micros(q.Since), micros(q.Until), int64(q.Bucket/time.Microsecond)
	if width <= 0 {
		width = 1
	}
	out = q.NewSeries()
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()

	if err := activityRows(ctx, tx, func(rows *sql.Rows) error {
		var i int64
		var n int
		if err := rows.Scan(&i, &n); err != nil {
			return err
		}
		if b := out.Bucket(i); b != nil {
			b.Events += n
		}
		return nil
	}, `SELECT (created_at - ?1) / ?2, count(*) FROM events WHERE created_at >= ?1 AND created_at < ?3 GROUP BY 1`,
		since, width, until); err != nil {
		return out, err
	}
	if err := activityRows(ctx, tx, func(rows *sql.Rows) error {
		var i int64
		var ok, failed int
		if err := rows.Scan(&i, &ok, &failed); err != nil {
			return err
		}
		if b := out.Bucket(i); b != nil {
			b.Delivered += ok
			b.Failed += failed
		}
		return nil
	}, `SELECT (started_at - ?1) / ?2, sum(error_class = ''), sum(error_class <> '') FROM attempts
		WHERE started_at >= ?1 AND started_at < ?3 GROUP BY 1`, since, width, until); err != nil {
		return out, err
	}

	lastFailure := map[int64]string{} // attempt id → subscription
	if err := activityRows(ctx, tx, func(rows *sql.Rows) error {
		var (
			sub         string
			ok, failed  int
			lastOK, bad sql.NullInt64
		)
		if err := rows.Scan(&sub, &ok, &failed, &lastOK, &bad); err != nil {
			return err
		}
		a := out.Subscriptions[sub]
		a.Delivered, a.Failed, a.LastSuccess = ok, failed, fromNullMicros(lastOK)
		out.Subscriptions[sub] = a
		if bad.Valid {
			lastFailure[bad.Int64] = sub
		}
		return nil
	}, `SELECT m.subscription_uuid, sum(a.error_class = ''), sum(a.error_class <> ''),
			max(CASE WHEN a.error_class = '' THEN a.started_at END),
			max(CASE WHEN a.error_class <> '' THEN a.id END)
		FROM attempts a JOIN messages m ON m.id = a.message_row
		WHERE a.started_at >= ?1 AND a.started_at < ?2 GROUP BY m.subscription_uuid`, since, until); err != nil {
		return out, err
	}
	if len(lastFailure) > 0 {
		ids := make([]int64, 0, len(lastFailure))
		for id := range lastFailure {
			ids = append(ids, id)
		}
		list, err := json.Marshal(ids)
		if err != nil {
			return out, err
		}
		if err := activityRows(ctx, tx, func(rows *sql.Rows) error {
			var (
				id, started, us, retry int64
				at                     store.Attempt
				class                  string
			)
			if err := rows.Scan(&id, &started, &us, &at.StatusCode, &class, &at.ErrorDetail, &retry, &at.ResponseBody); err != nil {
				return err
			}
			at.StartedAt, at.Duration, at.ErrorClass = fromMicros(started), time.Duration(us)*time.Microsecond, webhook.Class(class)
			at.RetryAfter = time.Duration(retry) * time.Microsecond
			sub := lastFailure[id]
			a := out.Subscriptions[sub]
			a.LastFailure = &at
			out.Subscriptions[sub] = a
			return nil
		}, `SELECT id, started_at, duration_us, status_code, error_class, error_detail, retry_after_us, response_body
			FROM attempts WHERE id IN (SELECT value FROM json_each(?))`, string(list)); err != nil {
			return out, err
		}
	}
	err = activityRows(ctx, tx, func(rows *sql.Rows) error {
		var (
			sub    string
			n      int
			oldest int64
		)
		if err := rows.Scan(&sub, &n, &oldest); err != nil {
			return err
		}
		a := out.Subscriptions[sub]
		a.Backlog, a.OldestUndelivered = n, fromMicros(oldest)
		out.Subscriptions[sub] = a
		return nil
	}, `SELECT subscription_uuid, count(*), min(created_at) FROM messages WHERE state IN ('pending', 'leased')
		GROUP BY subscription_uuid`)
	return out, err
}

// activityRows runs query in tx and calls fn for each row.
func activityRows(ctx context.Context, tx *sql.Tx, fn func(*sql.Rows) error, query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
