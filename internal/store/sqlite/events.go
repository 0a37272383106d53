package sqlite

import (
	"context"
	"fmt"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Publish implements store.Store. The whole batch is one job of a
// group-commit transaction: it is stored completely or not at all.
func (db *DB) Publish(ctx context.Context, events []store.Event) (_ []store.PublishResult, err error) {
	defer wrap(&err, "sqlite.Publish(%d events)", len(events))
	results := make([]store.PublishResult, len(events))
	err = db.writeBulk(ctx, len(events), func(tx *wtx) error {
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

// enqueueDisconnect applies the disconnect rule (webhook.WantsDisconnect)
// to the client's subscriptions in the organization: those that want the
// event get it, marked to delete the subscription once delivered; the
// others are deleted at once.
func enqueueDisconnect(tx *wtx, ev store.Event) (int, error) {
	rows, err := tx.Query(`SELECT `+subscriptionColumns+` FROM subscriptions WHERE organization_uuid = ? AND client_id = ?`,
		ev.Envelope.OrganizationUUID, ev.ClientID)
	if err != nil {
		return 0, err
	}
	var subs []*webhook.Subscription
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		subs = append(subs, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range subs {
		if !s.WantsDisconnect() {
			if _, err := deleteSubscription(tx, s.UUID, ev.Now, false); err != nil {
				return 0, err
			}
			continue
		}
		if _, err := tx.Exec(`INSERT INTO messages (message_id, subscription_uuid, state, created_at, then_delete_subscription)
			VALUES (?, ?, 'pending', ?, 1)`, ev.Envelope.MessageID, s.UUID, micros(ev.Now)); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}
