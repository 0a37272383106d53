package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

const noticeColumns = `id, kind, subscription_uuid, organization_uuid, recipient, destination, event_names,
	failure_class, failure_status, failure_detail, failure_timeout_us, next_attempt_at, delete_at, failing_since,
	held_messages, undelivered, created_at, attempts, last_error, sent_at, channel, previous_key_expires_at`

// insertNotice queues n in the outbox, due at once.
func insertNotice(tx *wtx, n *webhook.Notice) error {
	names, err := json.Marshal(nonNil(n.EventNames))
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO notices (kind, subscription_uuid, organization_uuid, recipient, destination, event_names,
			failure_class, failure_status, failure_detail, failure_timeout_us, next_attempt_at, delete_at, failing_since,
			held_messages, undelivered, created_at, next_send_at, attempts, channel, previous_key_expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(n.Kind), n.SubscriptionUUID, n.OrganizationUUID, n.To, n.Destination, string(names),
		string(n.Failure.Class), n.Failure.StatusCode, n.Failure.Detail, n.Failure.Timeout.Microseconds(),
		nullMicros(n.NextAttemptAt), nullMicros(n.DeleteAt), nullMicros(n.FailingSince),
		n.HeldMessages, n.Undelivered, micros(n.CreatedAt), micros(n.CreatedAt), n.Attempts,
		string(n.Channel.OrEmail()), nullMicros(n.PreviousKeyExpires))
	return err
}

// DueNotices implements store.Store and notify.Outbox.
func (db *DB) DueNotices(ctx context.Context, now time.Time, limit int) (out []webhook.Notice, err error) {
	defer wrap(&err, "sqlite.DueNotices(%d)", limit)
	err = db.write(ctx, func(tx *wtx) error {
		rows, err := tx.Query(`UPDATE notices SET next_send_at = ?
			WHERE id IN (SELECT id FROM notices WHERE sent_at IS NULL AND next_send_at <= ? ORDER BY id LIMIT ?)
			RETURNING `+noticeColumns, micros(now.Add(store.NoticeLease)), micros(now), limit)
		if err != nil {
			return err
		}
		recs, err := scanNotices(rows)
		out = noticesOf(recs)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b webhook.Notice) int { return cmp.Compare(a.ID, b.ID) }) // RETURNING has no order
	return out, nil
}

// UnsentNotices implements store.Store.
func (db *DB) UnsentNotices(ctx context.Context) (out []webhook.Notice, err error) {
	defer wrap(&err, "sqlite.UnsentNotices")
	recs, err := db.queryNotices(ctx, `WHERE sent_at IS NULL ORDER BY id`)
	return noticesOf(recs), err
}

// Notices implements store.Store.
func (db *DB) Notices(ctx context.Context, limit int) (out []store.NoticeRecord, err error) {
	defer wrap(&err, "sqlite.Notices(%d)", limit)
	return db.queryNotices(ctx, `ORDER BY id DESC LIMIT ?`, limit)
}

func (db *DB) queryNotices(ctx context.Context, where string, args ...any) ([]store.NoticeRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+noticeColumns+` FROM notices `+where, args...)
	if err != nil {
		return nil, err
	}
	return scanNotices(rows)
}

func noticesOf(recs []store.NoticeRecord) []webhook.Notice {
	out := make([]webhook.Notice, len(recs))
	for i, r := range recs {
		out[i] = r.Notice
	}
	return out
}

// scanNotices reads rows of noticeColumns and closes them.
func scanNotices(rows *sql.Rows) ([]store.NoticeRecord, error) {
	defer rows.Close()
	var out []store.NoticeRecord
	for rows.Next() {
		r, err := scanNotice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanNotice(row scanner) (store.NoticeRecord, error) {
	var (
		r                                  store.NoticeRecord
		n                                  = &r.Notice
		kind, class, names, channel        string
		timeoutUS, created                 int64
		nextAttempt, deleteAt, since, sent sql.NullInt64
		previousExpires                    sql.NullInt64
	)
	if err := row.Scan(&n.ID, &kind, &n.SubscriptionUUID, &n.OrganizationUUID, &n.To, &n.Destination, &names,
		&class, &n.Failure.StatusCode, &n.Failure.Detail, &timeoutUS, &nextAttempt, &deleteAt, &since,
		&n.HeldMessages, &n.Undelivered, &created, &r.Attempts, &r.LastError, &sent, &channel, &previousExpires); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(names), &n.EventNames); err != nil {
		return r, err
	}
	n.Kind, n.Failure.Class, n.Failure.Timeout = webhook.NoticeKind(kind), webhook.Class(class), time.Duration(timeoutUS)*time.Microsecond
	n.NextAttemptAt, n.DeleteAt, n.FailingSince = fromNullMicros(nextAttempt), fromNullMicros(deleteAt), fromNullMicros(since)
	n.CreatedAt, n.Attempts, r.SentAt = fromMicros(created), r.Attempts, fromNullMicros(sent)
	n.Channel, n.PreviousKeyExpires = webhook.NoticeChannel(channel), fromNullMicros(previousExpires)
	return r, nil
}

// MarkNoticeSent implements store.Store and notify.Outbox.
func (db *DB) MarkNoticeSent(ctx context.Context, id int64, at time.Time) (err error) {
	defer wrap(&err, "sqlite.MarkNoticeSent(%d)", id)
	return db.write(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`UPDATE notices SET sent_at = ? WHERE id = ?`, micros(at), id)
		return err
	})
}

// MarkNoticeFailed implements store.Store and notify.Outbox.
func (db *DB) MarkNoticeFailed(ctx context.Context, id int64, errText string, retryAt time.Time) (err error) {
	defer wrap(&err, "sqlite.MarkNoticeFailed(%d)", id)
	return db.write(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`UPDATE notices SET attempts = attempts + 1, last_error = ?, next_send_at = ? WHERE id = ?`,
			errText, micros(retryAt), id)
		return err
	})
}
