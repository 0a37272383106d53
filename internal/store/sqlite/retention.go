package sqlite

import (
	"context"
	"time"
)

// pruneChunk is how many rows one write of Prune deletes from a table at
// most: a prune of a large backlog is many short writes, not one that holds
// the writer for long.
var pruneChunk = 5000 // a variable for tests

// Prune implements store.Store. It deletes in writes of at most pruneChunk
// rows per table, so deliveries and ingest keep committing between them.
func (db *DB) Prune(ctx context.Context, before time.Time) (n int, err error) {
	defer wrap(&err, "sqlite.Prune(%s)", before.Format(time.RFC3339))
	cutoff := micros(before)
	steps := []struct {
		counted bool // its rows are what Prune returns
		fn      func(tx *wtx) (int64, error)
	}{
		{false, func(tx *wtx) (int64, error) {
			// Attempts first, found through the same messages (the same
			// order and limit) that are deleted next.
			if _, err := tx.Exec(`DELETE FROM attempts WHERE message_row IN (SELECT id FROM messages
				WHERE state IN ('delivered', 'dead') AND finished_at < ? ORDER BY id LIMIT ?)`, cutoff, pruneChunk); err != nil {
				return 0, err
			}
			return affected(tx.Exec(`DELETE FROM messages WHERE id IN (SELECT id FROM messages
				WHERE state IN ('delivered', 'dead') AND finished_at < ? ORDER BY id LIMIT ?)`, cutoff, pruneChunk))
		}},
		{false, func(tx *wtx) (int64, error) {
			return affected(tx.Exec(`DELETE FROM notices WHERE id IN (SELECT id FROM notices WHERE sent_at < ? LIMIT ?)`,
				cutoff, pruneChunk))
		}},
		{false, func(tx *wtx) (int64, error) {
			return affected(tx.Exec(`DELETE FROM deleted_subscriptions WHERE uuid IN (SELECT uuid FROM deleted_subscriptions d
				WHERE d.deleted_at < ? AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.subscription_uuid = d.uuid AND m.state = 'dead')
				LIMIT ?)`, cutoff, pruneChunk))
		}},
		{false, func(tx *wtx) (int64, error) {
			return affected(tx.Exec(`DELETE FROM replays WHERE rowid IN (SELECT rowid FROM replays WHERE created_at < ? LIMIT ?)`,
				cutoff, pruneChunk))
		}},
		{true, func(tx *wtx) (int64, error) {
			return affected(tx.Exec(`DELETE FROM events WHERE message_id IN (SELECT message_id FROM events e
				WHERE e.created_at < ? AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.message_id = e.message_id) LIMIT ?)`,
				cutoff, pruneChunk))
		}},
	}
	for _, step := range steps {
		for {
			var rows int64
			if err := db.write(ctx, func(tx *wtx) (err error) { rows, err = step.fn(tx); return err }); err != nil {
				return n, err
			}
			if step.counted {
				n += int(rows)
			}
			if rows < int64(pruneChunk) {
				break
			}
		}
	}
	return n, nil
}

// affected returns the rows an Exec changed.
func affected(res interface{ RowsAffected() (int64, error) }, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
