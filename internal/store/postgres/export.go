package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pusher-hq/pusher/internal/store"
)

// UndeliveredMessages implements store.Store. The events table keeps only
// the delivered event name, so Event.SourceEventName is that name (a
// PersonalAssertionDeleted event comes back as ApplicationConnectionRemoved,
// a disconnect event still), and Event.ClientID is empty.
func (db *DB) UndeliveredMessages(ctx context.Context, after int64, limit int) (recs []store.MessageRecord, err error) {
	defer wrap(&err, "postgres.UndeliveredMessages(after %d)", after)
	rows, _ := db.pool.Query(ctx, `SELECT m.id, m.subscription_uuid, m.state, m.attempts, m.then_delete_subscription,
			m.created_at, m.finished_at, e.organization_uuid, e.message_uuid, e.event_name, e.message_id, e.payload,
			e.timestamp, e.event_id, e.created_at,
			d.organization_uuid, d.client_id, d.event_names, d.destination, d.deleted_at, d.exhausted
		FROM messages m JOIN events e ON e.message_id = m.message_id
		LEFT JOIN deleted_subscriptions d ON d.uuid = m.subscription_uuid AND m.state = 'dead'
		WHERE m.state <> 'delivered' AND m.id > $1 ORDER BY m.id LIMIT $2`, after, limit)
	return pgx.CollectRows(rows, scanMessageRecord)
}

func scanMessageRecord(row pgx.CollectableRow) (store.MessageRecord, error) {
	var (
		r        store.MessageRecord
		e        = &r.Event.Envelope
		finished pgtype.Timestamptz
		tOrg     pgtype.Text
		tClient  pgtype.Text
		tNames   []string
		tDest    pgtype.Text
		tDeleted pgtype.Timestamptz
		tExh     pgtype.Bool
	)
	err := row.Scan(&r.ID, &r.SubscriptionUUID, &r.State, &r.Attempts, &r.ThenDelete, &r.CreatedAt, &finished,
		&e.OrganizationUUID, &e.MessageUUID, &e.EventName, &e.MessageID, &e.Payload, &e.Timestamp,
		&r.Event.EventID, &r.Event.Now, &tOrg, &tClient, &tNames, &tDest, &tDeleted, &tExh)
	if tOrg.Valid {
		r.Tombstone = &store.DeletedSubscription{UUID: r.SubscriptionUUID, OrganizationUUID: tOrg.String,
			ClientID: tClient.String, EventNames: nonNil(tNames), Destination: tDest.String, DeletedAt: fromNull(tDeleted),
			Exhausted: tExh.Bool}
	}
	r.CreatedAt, r.FinishedAt, r.Event.Now = r.CreatedAt.UTC(), fromNull(finished), r.Event.Now.UTC()
	r.Event.SourceEventName = e.EventName
	return r, err
}

// Import implements store.Store, in one transaction. Imported messages
// wake the listeners as published ones do.
func (db *DB) Import(ctx context.Context, b store.ImportBatch) (counts store.ImportCounts, err error) {
	defer wrap(&err, "postgres.Import(%d subscriptions, %d messages, %d notices)",
		len(b.Subscriptions), len(b.Messages), len(b.Notices))
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		counts = store.ImportCounts{}
		if err := tx.SendBatch(ctx, importBatch(b, &counts)).Close(); err != nil || counts.Messages == 0 {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify('pusher_messages', '')`)
		return err
	})
	return counts, err
}

// importBatch returns the inserts of b, each skipping what exists; as the
// results are read, counts adds up the rows written.
func importBatch(b store.ImportBatch, counts *store.ImportCounts) *pgx.Batch {
	batch := &pgx.Batch{}
	count := func(n *int) func(pgconn.CommandTag) error {
		return func(tag pgconn.CommandTag) error { *n += int(tag.RowsAffected()); return nil }
	}
	for _, s := range b.Subscriptions {
		batch.Queue(insertSubscriptionSQL+` ON CONFLICT (uuid) DO NOTHING`, subscriptionArgs(s)...).Exec(count(&counts.Subscriptions))
	}
	for _, m := range b.Messages {
		ev, e := m.Event, m.Event.Envelope
		batch.Queue(`INSERT INTO events (message_id, organization_uuid, event_name, event_id, message_uuid, payload,
				timestamp, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id) DO NOTHING`,
			e.MessageID, e.OrganizationUUID, e.EventName, ev.EventID, e.MessageUUID, e.Payload, e.Timestamp, ev.Now)
		state := m.State
		if state == store.StateLeased {
			state = store.StatePending
		}
		if d := m.Tombstone; d != nil {
			batch.Queue(`INSERT INTO deleted_subscriptions (uuid, organization_uuid, client_id, event_names, destination,
					deleted_at, exhausted) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (uuid) DO NOTHING`,
				m.SubscriptionUUID, d.OrganizationUUID, d.ClientID, nonNil(d.EventNames), d.Destination, d.DeletedAt, d.Exhausted)
		}
		batch.Queue(`INSERT INTO messages (message_id, subscription_uuid, state, attempts, then_delete_subscription,
				created_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (message_id, subscription_uuid) DO NOTHING`,
			e.MessageID, m.SubscriptionUUID, state, m.Attempts, m.ThenDelete, m.CreatedAt, nullTime(m.FinishedAt)).
			Exec(count(&counts.Messages))
	}
	for i := range b.Notices {
		n := &b.Notices[i]
		batch.Queue(insertNoticeSQL, append(noticeArgs(n), n.HeldMessages, n.Undelivered)...).Exec(count(&counts.Notices))
	}
	return batch
}
