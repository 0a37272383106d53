package sqlite

import (
	"context"
	"fmt"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Publish implements store.Store. The whole batch is one savepoint of a
// group-commit transaction: it is stored completely or not at all.
func (db *DB) Publish(ctx context.Context, events []store.Event) ([]store.PublishResult, error) {
	results := make([]store.PublishResult, len(events))
	err := db.writeBulk(ctx, len(events), func(tx *wtx) error {
		for i, ev := range events {
			r, err := publishOne(tx, ev)
			if err != nil {
				return fmt.Errorf("publish %s: %w", ev.Envelope.MessageID, err)
			}
			results[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func publishOne(tx *wtx, ev store.Event) (store.PublishResult, error) {
	e := ev.Envelope
	r := store.PublishResult{MessageID: e.MessageID}
	res, err := tx.Exec(`INSERT INTO events (message_id, organization_uuid, event_name, event_id, message_uuid,
			payload, timestamp, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
		e.MessageID, e.OrganizationUUID, e.EventName, ev.EventID, e.MessageUUID, e.Payload, e.Timestamp, micros(ev.Now))
	if err != nil {
		return r, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		r.Duplicate = true
		return r, nil
	}
	if webhook.IsDisconnect(ev.SourceEventName) {
		r.Messages, err = enqueueDisconnect(tx, ev)
		return r, err
	}
	res, err = tx.Exec(`INSERT INTO messages (message_id, subscription_uuid, state, created_at)
		SELECT ?, s.uuid, 'pending', ? FROM subscriptions s
		WHERE s.organization_uuid = ?
		  AND (s.event_names = '[]' OR EXISTS (SELECT 1 FROM json_each(s.event_names) WHERE value = ?))`,
		e.MessageID, micros(ev.Now), e.OrganizationUUID, ev.SourceEventName)
	if err != nil {
		return r, err
	}
	n, _ := res.RowsAffected()
	r.Messages = int(n)
	return r, nil
}

// enqueueDisconnect sends a disconnect event to the named client's
// subscriptions in the organization that want it, marked to delete the
// subscription once delivered, and deletes the client's other
// subscriptions there at once.
func enqueueDisconnect(tx *wtx, ev store.Event) (int, error) {
	e := ev.Envelope
	res, err := tx.Exec(`INSERT INTO messages (message_id, subscription_uuid, state, created_at, then_delete_subscription)
		SELECT ?, s.uuid, 'pending', ?, 1 FROM subscriptions s
		WHERE s.organization_uuid = ? AND s.client_id = ?
		  AND (s.event_names = '[]' OR EXISTS (SELECT 1 FROM json_each(s.event_names)
		       WHERE value IN ('ApplicationConnectionRemoved', 'PersonalAssertionDeleted')))`,
		e.MessageID, micros(ev.Now), e.OrganizationUUID, ev.ClientID)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	rows, err := tx.Query(`SELECT uuid FROM subscriptions s WHERE organization_uuid = ? AND client_id = ?
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.subscription_uuid = s.uuid AND m.message_id = ?)`,
		e.OrganizationUUID, ev.ClientID, e.MessageID)
	if err != nil {
		return 0, err
	}
	var drop []string
	for rows.Next() {
		var uuid string
		if err := rows.Scan(&uuid); err != nil {
			rows.Close()
			return 0, err
		}
		drop = append(drop, uuid)
	}
	rows.Close()
	for _, uuid := range drop {
		if _, err := deleteSubscription(tx, uuid, ev.Now); err != nil {
			return 0, err
		}
	}
	return int(n), nil
}
