package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/pusher-hq/pusher/internal/notify"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

func newNotice(kind notify.Kind, sub *webhook.Subscription, now time.Time) notify.Notice {
	return notify.Notice{
		Kind:             kind,
		To:               sub.ContactEmail,
		OrganizationUUID: sub.OrganizationUUID,
		SubscriptionUUID: sub.UUID,
		Destination:      sub.Destination,
		EventNames:       nonNil(sub.EventNames),
		CreatedAt:        now,
	}
}

func insertNotice(tx *wtx, n notify.Notice) error {
	data, err := json.Marshal(n)
	if err != nil {
		return err
	}
	_, err = tx.Exec(`INSERT INTO notices (kind, subscription_uuid, recipient, data, created_at, next_send_at)
		VALUES (?, ?, ?, ?, ?, ?)`, string(n.Kind), n.SubscriptionUUID, n.To, string(data), micros(n.CreatedAt), micros(n.CreatedAt))
	return err
}

// DueNotices implements store.Store and notify.Outbox.
func (db *DB) DueNotices(ctx context.Context, now time.Time, limit int) ([]notify.Notice, error) {
	recs, err := db.queryNotices(ctx, `WHERE sent_at IS NULL AND next_send_at <= ? ORDER BY id LIMIT ?`, micros(now), limit)
	if err != nil {
		return nil, err
	}
	out := make([]notify.Notice, len(recs))
	for i, r := range recs {
		out[i] = r.Notice
	}
	return out, nil
}

// Notices implements store.Store.
func (db *DB) Notices(ctx context.Context, limit int) ([]store.NoticeRecord, error) {
	return db.queryNotices(ctx, `ORDER BY id DESC LIMIT ?`, limit)
}

func (db *DB) queryNotices(ctx context.Context, where string, args ...any) ([]store.NoticeRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, data, attempts, last_error, sent_at FROM notices `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.NoticeRecord
	for rows.Next() {
		var (
			r      store.NoticeRecord
			id     int64
			data   string
			sentAt sql.NullInt64
		)
		if err := rows.Scan(&id, &data, &r.Attempts, &r.LastError, &sentAt); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(data), &r.Notice); err != nil {
			return nil, err
		}
		r.ID, r.Notice.Attempts, r.SentAt = id, r.Attempts, fromNullMicros(sentAt)
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkNoticeSent implements store.Store and notify.Outbox.
func (db *DB) MarkNoticeSent(ctx context.Context, id int64, at time.Time) error {
	return db.write(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`UPDATE notices SET sent_at = ? WHERE id = ?`, micros(at), id)
		return err
	})
}

// MarkNoticeFailed implements store.Store and notify.Outbox.
func (db *DB) MarkNoticeFailed(ctx context.Context, id int64, errText string, retryAt time.Time) error {
	return db.write(ctx, func(tx *wtx) error {
		_, err := tx.Exec(`UPDATE notices SET attempts = attempts + 1, last_error = ?, next_send_at = ? WHERE id = ?`,
			errText, micros(retryAt), id)
		return err
	})
}

// Prune implements store.Store.
func (db *DB) Prune(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := db.write(ctx, func(tx *wtx) error {
		cutoff := micros(before)
		if _, err := tx.Exec(`DELETE FROM attempts WHERE started_at < ? AND message_row IN
			(SELECT id FROM messages WHERE state = 'delivered')`, cutoff); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM messages WHERE state = 'delivered' AND finished_at < ?`, cutoff); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM events WHERE created_at < ?
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.message_id = events.message_id)`, cutoff)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}
