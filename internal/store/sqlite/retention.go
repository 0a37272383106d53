package sqlite

import (
	"context"
	"time"
)

// Prune implements store.Store.
func (db *DB) Prune(ctx context.Context, before time.Time) (n int, err error) {
	defer wrap(&err, "sqlite.Prune(%s)", before.Format(time.RFC3339))
	err = db.write(ctx, func(tx *wtx) error {
		cutoff := micros(before)
		if _, err := tx.Exec(`DELETE FROM attempts WHERE message_row IN
			(SELECT id FROM messages WHERE state IN ('delivered', 'dead') AND finished_at < ?)`, cutoff); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM messages WHERE state IN ('delivered', 'dead') AND finished_at < ?`, cutoff); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM notices WHERE sent_at < ?`, cutoff); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM deleted_subscriptions WHERE deleted_at < ? AND NOT EXISTS
			(SELECT 1 FROM messages m WHERE m.subscription_uuid = deleted_subscriptions.uuid AND m.state = 'dead')`, cutoff); err != nil {
			return err
		}
		if _, err := tx.Exec(`DELETE FROM replays WHERE created_at < ?`, cutoff); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM events WHERE created_at < ?
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.message_id = events.message_id)`, cutoff)
		if err == nil {
			n64, _ := res.RowsAffected()
			n = int(n64)
		}
		return err
	})
	return n, err
}
