package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Publish implements store.Store. The call joins the next group commit (see
// the package comment) and returns once it committed: all of its events
// are stored, or none. An event whose messageId is stored already, by any
// instance or earlier in the same call, is a duplicate. Publish after Close
// returns an error.
func (db *DB) Publish(ctx context.Context, events []store.Event) (results []store.PublishResult, err error) {
	defer wrap(&err, "postgres.Publish(%d events)", len(events))
	if len(events) == 0 {
		return []store.PublishResult{}, db.checkOpen()
	}
	c := &publishCall{events: events, done: make(chan struct{})}
	if err := db.enqueue(ctx, c); err != nil {
		return nil, err
	}
	<-c.done // even if ctx is done meanwhile: the caller must not think a committed call failed
	return c.results, c.err
}

// publish stores events in tx: runs of ordinary events with one statement
// each, disconnect events one by one, in order, so that an event published
// after a disconnect does not reach the subscriptions it deleted.
func publish(ctx context.Context, tx pgx.Tx, events []store.Event) ([]store.PublishResult, error) {
	results := make([]store.PublishResult, len(events))
	seen := make(map[string]bool, len(events))
	var run []int // indexes of the current run of ordinary events
	for i, ev := range events {
		id := ev.Envelope.MessageID
		results[i] = store.PublishResult{MessageID: id, Duplicate: seen[id]}
		if seen[id] {
			continue
		}
		seen[id] = true
		if !webhook.IsDisconnect(ev.SourceEventName) {
			run = append(run, i)
			continue
		}
		if err := publishRun(ctx, tx, events, run, results); err != nil {
			return nil, err
		}
		run = nil
		var err error
		if results[i], err = publishDisconnect(ctx, tx, ev); err != nil {
			return nil, err
		}
	}
	if err := publishRun(ctx, tx, events, run, results); err != nil {
		return nil, err
	}
	return results, nil
}

// publishRunSQL inserts a run of ordinary events (distinct messageIds) and
// one pending message per matching subscription of each new one, and
// returns the new events with their message counts. Events are inserted in
// messageId order, so instances inserting the same events wait for each
// other in one order. The subscriptions are locked FOR KEY SHARE: a
// concurrent deletion waits for this transaction, then kills its messages
// (see deleteSubscriptionsSQL), or has committed, and the row is skipped.
const publishRunSQL = `WITH u AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::timestamptz[], $9::text[]) WITH ORDINALITY
		AS u (message_id, organization_uuid, event_name, event_id, message_uuid, payload, timestamp, created_at,
			source_name, n)
), ev AS (
	INSERT INTO events (message_id, organization_uuid, event_name, event_id, message_uuid, payload, timestamp, created_at)
	SELECT message_id, organization_uuid, event_name, event_id, message_uuid, payload, timestamp, created_at
	FROM u ORDER BY message_id
	ON CONFLICT (message_id) DO NOTHING
	RETURNING message_id
), msg AS (
	INSERT INTO messages (message_id, subscription_uuid, state, created_at)
	SELECT u.message_id, s.uuid, 'pending', u.created_at
	FROM ev JOIN u USING (message_id)
	JOIN subscriptions s ON s.organization_uuid = u.organization_uuid
		AND (cardinality(s.event_names) = 0 OR u.source_name = ANY (s.event_names))
	ORDER BY u.n, s.uuid
	FOR KEY SHARE OF s
	RETURNING message_id
)
SELECT ev.message_id, (SELECT count(*) FROM msg WHERE msg.message_id = ev.message_id)::int FROM ev`

// publishRun publishes the ordinary events events[i] for i in run and
// fills in their results.
func publishRun(ctx context.Context, tx pgx.Tx, events []store.Event, run []int, results []store.PublishResult) error {
	if len(run) == 0 {
		return nil
	}
	cols := make([][]string, 8)
	created := make([]time.Time, 0, len(run))
	for _, i := range run {
		ev := events[i]
		e := ev.Envelope
		for c, v := range []string{e.MessageID, e.OrganizationUUID, e.EventName, ev.EventID, e.MessageUUID,
			e.Payload, e.Timestamp, ev.SourceEventName} {
			cols[c] = append(cols[c], v)
		}
		created = append(created, ev.Now)
	}
	rows, _ := tx.Query(ctx, publishRunSQL, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], created, cols[7])
	counts := map[string]int{}
	var (
		id string
		n  int
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { counts[id] = n; return nil }); err != nil {
		return err
	}
	for _, i := range run {
		n, isNew := counts[results[i].MessageID]
		results[i].Duplicate, results[i].Messages = !isNew, n
	}
	return nil
}

// publishDisconnect publishes a disconnect event: the subscriptions of
// (org, ev.ClientID) that want it get a message that deletes them once it
// is delivered; the client's other subscriptions in the organization are
// deleted at once.
func publishDisconnect(ctx context.Context, tx pgx.Tx, ev store.Event) (store.PublishResult, error) {
	e := ev.Envelope
	r := store.PublishResult{MessageID: e.MessageID}
	tag, err := tx.Exec(ctx, `INSERT INTO events (message_id, organization_uuid, event_name, event_id, message_uuid,
			payload, timestamp, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id) DO NOTHING`,
		e.MessageID, e.OrganizationUUID, e.EventName, ev.EventID, e.MessageUUID, e.Payload, e.Timestamp, ev.Now)
	if err != nil {
		return r, err
	}
	if tag.RowsAffected() == 0 {
		r.Duplicate = true
		return r, nil
	}
	rows, _ := tx.Query(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE organization_uuid = $1 AND client_id = $2 ORDER BY uuid FOR UPDATE`, e.OrganizationUUID, ev.ClientID)
	subs, err := pgx.CollectRows(rows, scanSubscription)
	if err != nil {
		return r, err
	}
	var keep, drop []string
	for _, s := range subs {
		if s.WantsDisconnect() {
			keep = append(keep, s.UUID)
		} else {
			drop = append(drop, s.UUID)
		}
	}
	if len(keep) > 0 {
		if _, err := tx.Exec(ctx, `INSERT INTO messages (message_id, subscription_uuid, state, created_at, then_delete_subscription)
			SELECT $1, uuid, 'pending', $3, true FROM unnest($2::text[]) AS uuid`, e.MessageID, keep, ev.Now); err != nil {
			return r, err
		}
		r.Messages = len(keep)
	}
	if len(drop) > 0 {
		_, err = deleteSubscriptions(ctx, tx, drop, ev.Now)
	}
	return r, err
}
