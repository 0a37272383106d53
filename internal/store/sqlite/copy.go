package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// UndeliveredMessages implements store.Store.
func (db *DB) UndeliveredMessages(ctx context.Context, after int64, limit int) (_ []store.MessageRecord, err error) {
	defer wrap(&err, "sqlite.UndeliveredMessages(after %d)", after)
	rows, err := db.r.QueryContext(ctx, `SELECT m.id, m.subscription_uuid, m.state, m.attempts, m.then_delete_subscription,
			m.created_at, m.finished_at, e.message_id, e.organization_uuid, e.event_name, e.event_id, e.message_uuid,
			e.payload, e.timestamp, e.created_at,
			d.organization_uuid, d.client_id, d.event_names, d.destination, d.deleted_at, d.exhausted
		FROM messages m JOIN events e ON e.message_id = m.message_id
		LEFT JOIN deleted_subscriptions d ON d.uuid = m.subscription_uuid AND m.state = 'dead'
		WHERE m.id > ? AND m.state IN ('pending', 'leased', 'dead') ORDER BY m.id LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.MessageRecord
	for rows.Next() {
		var (
			m                  store.MessageRecord
			env                = &m.Event.Envelope
			created, evCreated int64
			finished           sql.NullInt64
			tOrg, tClient      sql.NullString
			tNames, tDest      sql.NullString
			tDeleted           sql.NullInt64
			tExhausted         sql.NullBool
		)
		if err := rows.Scan(&m.ID, &m.SubscriptionUUID, &m.State, &m.Attempts, &m.ThenDelete, &created, &finished,
			&env.MessageID, &env.OrganizationUUID, &env.EventName, &m.Event.EventID, &env.MessageUUID,
			&env.Payload, &env.Timestamp, &evCreated,
			&tOrg, &tClient, &tNames, &tDest, &tDeleted, &tExhausted); err != nil {
			return nil, err
		}
		if tOrg.Valid {
			m.Tombstone = &store.DeletedSubscription{UUID: m.SubscriptionUUID, OrganizationUUID: tOrg.String,
				ClientID: tClient.String, Destination: tDest.String, DeletedAt: fromMicros(tDeleted.Int64), Exhausted: tExhausted.Bool}
			if err := json.Unmarshal([]byte(tNames.String), &m.Tombstone.EventNames); err != nil {
				return nil, err
			}
		}
		m.CreatedAt, m.FinishedAt, m.Event.Now = fromMicros(created), fromNullMicros(finished), fromMicros(evCreated)
		m.Event.SourceEventName = env.EventName
		out = append(out, m)
	}
	return out, rows.Err()
}

// Import implements store.Store, in one transaction.
func (db *DB) Import(ctx context.Context, b store.ImportBatch) (c store.ImportCounts, err error) {
	defer wrap(&err, "sqlite.Import")
	err = db.writeOrRefuse(ctx, func(tx *wtx) error {
		c = store.ImportCounts{}
		for _, s := range b.Subscriptions {
			added, err := insertSubscription(tx, s, true)
			if err != nil {
				return err
			}
			c.Subscriptions += count(added)
		}
		for _, m := range b.Messages {
			added, err := importMessage(tx, m)
			if err != nil {
				return err
			}
			c.Messages += count(added)
		}
		for i := range b.Notices {
			added, err := importNotice(tx, &b.Notices[i])
			if err != nil {
				return err
			}
			c.Notices += count(added)
		}
		return nil
	})
	return c, err
}

func count(added bool) int {
	if added {
		return 1
	}
	return 0
}

func importMessage(tx *wtx, m store.MessageRecord) (bool, error) {
	e := m.Event.Envelope
	if _, err := tx.Exec(`INSERT INTO events (message_id, organization_uuid, event_name, event_id, message_uuid,
			payload, timestamp, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
		e.MessageID, e.OrganizationUUID, e.EventName, m.Event.EventID, e.MessageUUID, e.Payload, e.Timestamp,
		micros(m.Event.Now)); err != nil {
		return false, err
	}
	state := m.State
	if state == store.StateLeased {
		state = store.StatePending
	}
	if d := m.Tombstone; d != nil {
		names, err := json.Marshal(nonNil(d.EventNames))
		if err != nil {
			return false, err
		}
		if _, err := tx.Exec(`INSERT INTO deleted_subscriptions (uuid, organization_uuid, client_id, event_names, destination,
				deleted_at, exhausted) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uuid) DO NOTHING`,
			m.SubscriptionUUID, d.OrganizationUUID, d.ClientID, string(names), d.Destination, micros(d.DeletedAt), d.Exhausted); err != nil {
			return false, err
		}
	}
	res, err := tx.Exec(`INSERT INTO messages (message_id, subscription_uuid, state, attempts, then_delete_subscription,
			created_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id, subscription_uuid) DO NOTHING`,
		e.MessageID, m.SubscriptionUUID, state, m.Attempts, m.ThenDelete, micros(m.CreatedAt), nullMicros(m.FinishedAt))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func importNotice(tx *wtx, n *webhook.Notice) (bool, error) {
	var exists bool
	if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM notices WHERE subscription_uuid = ? AND kind = ? AND created_at = ?
			AND channel = ?)`,
		n.SubscriptionUUID, string(n.Kind), micros(n.CreatedAt), string(n.Channel.OrEmail())).Scan(&exists); err != nil || exists {
		return false, err
	}
	return true, insertNotice(tx, n)
}
