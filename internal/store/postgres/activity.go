package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// ActivitySeries implements store.Store: grouped reads over the
// events_created and attempts_started indexes and the undelivered messages,
// in one read-only snapshot.
func (db *DB) ActivitySeries(ctx context.Context, q store.ActivityQuery) (out store.ActivitySeries, err error) {
	defer wrap(&err, "postgres.ActivitySeries(%v, %v, %v)", q.Since, q.Until, q.Bucket)
	if err := q.Check(); err != nil {
		return out, err
	}
	width := max(int64(q.Bucket/time.Microsecond), 1)
	out = q.NewSeries()
	// The bucket of a time t is the whole microseconds from since to t
	// divided by the width (timestamptz has microsecond resolution).
	const index = `((extract(epoch FROM (%s - $1::timestamptz)) * 1000000)::bigint / $2::bigint)`
	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT `+fmt.Sprintf(index, "created_at")+`, count(*) FROM events
			WHERE created_at >= $1 AND created_at < $3 GROUP BY 1`, q.Since, width, q.Until)
		var i, n, ok, failed int64
		if _, err := pgx.ForEachRow(rows, []any{&i, &n}, func() error {
			if b := out.Bucket(i); b != nil {
				b.Events += int(n)
			}
			return nil
		}); err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT `+fmt.Sprintf(index, "started_at")+`,
				count(*) FILTER (WHERE error_class = ''), count(*) FILTER (WHERE error_class <> '')
			FROM attempts WHERE started_at >= $1 AND started_at < $3 GROUP BY 1`, q.Since, width, q.Until)
		if _, err := pgx.ForEachRow(rows, []any{&i, &ok, &failed}, func() error {
			if b := out.Bucket(i); b != nil {
				b.Delivered += int(ok)
				b.Failed += int(failed)
			}
			return nil
		}); err != nil {
			return err
		}

		var (
			sub    string
			lastOK pgtype.Timestamptz
			bad    pgtype.Int8
		)
		lastFailure := map[int64]string{} // attempt id → subscription
		rows, _ = tx.Query(ctx, `SELECT m.subscription_uuid, count(*) FILTER (WHERE a.error_class = ''),
				count(*) FILTER (WHERE a.error_class <> ''),
				max(a.started_at) FILTER (WHERE a.error_class = ''), max(a.id) FILTER (WHERE a.error_class <> '')
			FROM attempts a JOIN messages m ON m.id = a.message_row
			WHERE a.started_at >= $1 AND a.started_at < $2 GROUP BY m.subscription_uuid`, q.Since, q.Until)
		if _, err := pgx.ForEachRow(rows, []any{&sub, &ok, &failed, &lastOK, &bad}, func() error {
			a := out.Subscriptions[sub]
			a.Delivered, a.Failed, a.LastSuccess = int(ok), int(failed), fromNull(lastOK)
			out.Subscriptions[sub] = a
			if bad.Valid {
				lastFailure[bad.Int64] = sub
			}
			return nil
		}); err != nil {
			return err
		}
		if len(lastFailure) > 0 {
			ids := make([]int64, 0, len(lastFailure))
			for id := range lastFailure {
				ids = append(ids, id)
			}
			var (
				id, us, retry int64
				at            store.Attempt
				class         string
			)
			rows, _ = tx.Query(ctx, `SELECT id, started_at, duration_us, status_code, error_class, error_detail,
					retry_after_us, response_body
				FROM attempts WHERE id = ANY($1)`, ids)
			if _, err := pgx.ForEachRow(rows, []any{&id, &at.StartedAt, &us, &at.StatusCode, &class, &at.ErrorDetail, &retry, &at.ResponseBody}, func() error {
				f := at
				f.StartedAt, f.Duration, f.ErrorClass = at.StartedAt.UTC(), time.Duration(us)*time.Microsecond, webhook.Class(class)
				f.RetryAfter = time.Duration(retry) * time.Microsecond
				f.ResponseBody = append([]byte(nil), at.ResponseBody...)
				s := lastFailure[id]
				a := out.Subscriptions[s]
				a.LastFailure = &f
				out.Subscriptions[s] = a
				return nil
			}); err != nil {
				return err
			}
		}

		var oldest time.Time
		rows, _ = tx.Query(ctx, `SELECT subscription_uuid, count(*), min(created_at) FROM messages
			WHERE state IN ('pending', 'leased') GROUP BY subscription_uuid`)
		_, err := pgx.ForEachRow(rows, []any{&sub, &n, &oldest}, func() error {
			a := out.Subscriptions[sub]
			a.Backlog, a.OldestUndelivered = int(n), oldest.UTC()
			out.Subscriptions[sub] = a
			return nil
		})
		return err
	})
	return out, err
}
