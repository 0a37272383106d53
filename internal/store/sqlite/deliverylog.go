package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// SubscriptionByUUID implements store.DeliveryLog.
func (db *DB) SubscriptionByUUID(ctx context.Context, uuid string) (_ *webhook.Subscription, err error) {
	defer wrap(&err, "sqlite.SubscriptionByUUID(%s)", uuid)
	s, err := scanSubscription(db.r.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE uuid = ?`, uuid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, webhook.ErrSubscriptionNotFound(uuid)
	}
	return s, err
}

// OrganizationSubscriptions implements store.DeliveryLog.
func (db *DB) OrganizationSubscriptions(ctx context.Context, org string) (_ []*webhook.Subscription, err error) {
	defer wrap(&err, "sqlite.OrganizationSubscriptions(%s)", org)
	return db.querySubscriptions(ctx, `WHERE ? = '' OR organization_uuid = ? ORDER BY created_at, rowid`, org, org)
}

// DeletedSubscription implements store.DeliveryLog.
func (db *DB) DeletedSubscription(ctx context.Context, uuid string) (_ store.DeletedSubscription, err error) {
	defer wrap(&err, "sqlite.DeletedSubscription(%s)", uuid)
	var (
		d       store.DeletedSubscription
		names   string
		deleted int64
	)
	err = db.r.QueryRowContext(ctx, `SELECT uuid, organization_uuid, client_id, event_names, destination, deleted_at, exhausted
		FROM deleted_subscriptions WHERE uuid = ?`, uuid).
		Scan(&d.UUID, &d.OrganizationUUID, &d.ClientID, &names, &d.Destination, &deleted, &d.Exhausted)
	if errors.Is(err, sql.ErrNoRows) {
		return d, webhook.ErrSubscriptionNotFound(uuid)
	}
	if err != nil {
		return d, err
	}
	d.DeletedAt = fromMicros(deleted)
	return d, json.Unmarshal([]byte(names), &d.EventNames)
}

// SaveSigning implements store.DeliveryLog.
func (db *DB) SaveSigning(ctx context.Context, s *webhook.Subscription, notices ...webhook.Notice) (err error) {
	defer wrap(&err, "sqlite.SaveSigning(%s)", s.UUID)
	return db.writeOrRefuse(ctx, func(tx *wtx) error {
		res, err := tx.Exec(`UPDATE subscriptions SET signing_key = ?, previous_signing_key = ?, previous_key_expires_at = ?, updated_at = ?
			WHERE uuid = ?`, s.SigningKey, s.PreviousSigningKey, nullMicros(s.PreviousKeyExpires), micros(s.Updated), s.UUID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return webhook.ErrSubscriptionNotFound(s.UUID)
		}
		for i := range notices {
			if err := insertNotice(tx, &notices[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// SaveSettings implements store.DeliveryLog.
func (db *DB) SaveSettings(ctx context.Context, uuid string, settings webhook.Settings) (err error) {
	defer wrap(&err, "sqlite.SaveSettings(%s)", uuid)
	return db.writeOrRefuse(ctx, func(tx *wtx) error {
		res, err := tx.Exec(`UPDATE subscriptions SET strict_order = ?, standard_webhooks = ?, rotation_overlap_us = ?
			WHERE uuid = ?`, settings.StrictOrder, settings.StandardWebhooks, settings.RotationOverlap.Microseconds(), uuid)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return webhook.ErrSubscriptionNotFound(uuid)
		}
		return nil
	})
}

// logColumns are the columns of a LogMessage, of messages m joined with
// events e and (left) subscriptions s.
const logColumns = `m.id, m.message_id, m.subscription_uuid, e.event_name, m.state, m.attempts, m.created_at, m.finished_at,
	CASE WHEN m.state IN ('pending', 'leased') AND s.status = 'FAILING' THEN s.next_retry_at END`

const logFrom = ` FROM messages m JOIN events e ON e.message_id = m.message_id LEFT JOIN subscriptions s ON s.uuid = m.subscription_uuid`

func scanLogMessage(row scanner, extra ...any) (store.LogMessage, error) {
	var (
		m                     store.LogMessage
		state                 string
		created               int64
		finished, nextAttempt sql.NullInt64
	)
	dest := append([]any{&m.ID, &m.MessageID, &m.SubscriptionUUID, &m.EventName, &state, &m.Attempts, &created,
		&finished, &nextAttempt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return m, err
	}
	m.State = store.LogState(state, m.Attempts)
	m.CreatedAt, m.FinishedAt, m.NextAttemptAt = fromMicros(created), fromNullMicros(finished), fromNullMicros(nextAttempt)
	return m, nil
}

// selectionCondition is the condition on messages m of a queue selection,
// with the state as a literal so that the partial indexes of the state
// serve it.
func selectionCondition(sel store.QueueSelection) string {
	c := `m.state = '` + sel.State + `'`
	switch sel.Attempts {
	case store.NoAttempts:
		c += ` AND m.attempts = 0`
	case store.SomeAttempts:
		c += ` AND m.attempts > 0`
	}
	return c
}

// LogMessages implements store.DeliveryLog, on the read connections, as
// store.PlanLogRead plans it: each part an index range newest first (see
// the partial indexes of the states), merged with UNION ALL.
func (db *DB) LogMessages(ctx context.Context, f store.MessageFilter) (_ []store.LogMessage, err error) {
	defer wrap(&err, "sqlite.LogMessages(%s, %s)", f.OrganizationUUID, f.SubscriptionUUID)
	read, err := store.PlanLogRead(f, func(limit int) ([]string, error) { return db.logSubscriptions(ctx, f, limit) })
	if err != nil || len(read.Parts) == 0 {
		return []store.LogMessage{}, err
	}
	common, args := logConditions(f, read.ByClient)
	var (
		parts    []string
		partArgs []any
	)
	for _, part := range read.Parts {
		where := slices.Clone(common)
		var a []any
		if part.SubscriptionUUID != "" {
			where, a = append(where, `m.subscription_uuid = ?`), append(a, part.SubscriptionUUID)
		}
		if part.Selection != nil {
			where = append(where, selectionCondition(*part.Selection))
		}
		q := `SELECT ` + logColumns + logFrom
		if len(where) > 0 {
			q += ` WHERE ` + strings.Join(where, ` AND `)
		}
		parts = append(parts, q+` ORDER BY m.id DESC LIMIT ?`)
		partArgs = append(append(append(partArgs, args...), a...), f.Limit)
	}
	q := parts[0]
	if len(parts) > 1 {
		q = `SELECT * FROM (` + strings.Join(parts, `) UNION ALL SELECT * FROM (`) + `) ORDER BY 1 DESC LIMIT ?`
		partArgs = append(partArgs, f.Limit)
	}
	out, err := db.queryLogMessages(ctx, q, partArgs...)
	if err != nil {
		return nil, err
	}
	return out, db.addLastAttempts(ctx, out)
}

// logConditions are the conditions of f every part of a LogMessages read
// has, with their arguments; byClient adds that of f's client
// (store.LogRead.ByClient).
func logConditions(f store.MessageFilter, byClient bool) (conds []string, args []any) {
	if f.OrganizationUUID != "" {
		// Unary + keeps SQLite off events_organization_created (Replay's),
		// which would sort every message of the organization.
		conds, args = append(conds, `+e.organization_uuid = ?`), append(args, f.OrganizationUUID)
	}
	if byClient {
		conds = append(conds, `m.subscription_uuid IN (`+clientSubscriptionsSQL+`)`)
		args = append(args, f.ClientID, f.OrganizationUUID, f.OrganizationUUID, f.ClientID, f.OrganizationUUID, f.OrganizationUUID)
	}
	if f.EventName != "" {
		conds, args = append(conds, `e.event_name = ?`), append(args, f.EventName)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, `m.created_at >= ?`), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, `m.created_at < ?`), append(args, micros(f.Until))
	}
	if f.Before > 0 {
		conds, args = append(conds, `m.id < ?`), append(args, f.Before)
	}
	return conds, args
}

// queryLogMessages returns the messages of q, a query of logColumns.
func (db *DB) queryLogMessages(ctx context.Context, q string, args ...any) ([]store.LogMessage, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.LogMessage{}
	for rows.Next() {
		m, err := scanLogMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// clientSubscriptionsSQL lists the uuids of a client's subscriptions,
// live and deleted; its arguments are the client and the organization
// twice ("" for every organization), twice.
const clientSubscriptionsSQL = `SELECT uuid FROM subscriptions WHERE client_id = ? AND (? = '' OR organization_uuid = ?)
	UNION SELECT uuid FROM deleted_subscriptions WHERE client_id = ? AND (? = '' OR organization_uuid = ?)`

// logSubscriptions returns at most limit uuids of the subscriptions, live
// and deleted, of f's organization, and of f's client if it has one: the
// list of store.PlanLogRead.
func (db *DB) logSubscriptions(ctx context.Context, f store.MessageFilter, limit int) ([]string, error) {
	q, args := `SELECT uuid FROM subscriptions WHERE organization_uuid = ?
		UNION SELECT uuid FROM deleted_subscriptions WHERE organization_uuid = ?`, []any{f.OrganizationUUID, f.OrganizationUUID}
	if f.ClientID != "" {
		q, args = clientSubscriptionsSQL, []any{f.ClientID, f.OrganizationUUID, f.OrganizationUUID, f.ClientID, f.OrganizationUUID, f.OrganizationUUID}
	}
	rows, err := db.r.QueryContext(ctx, q+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var subs []string
	for rows.Next() {
		var uuid string
		if err := rows.Scan(&uuid); err != nil {
			return nil, err
		}
		subs = append(subs, uuid)
	}
	return subs, rows.Err()
}

// addLastAttempts sets the LastAttempt of each message of ms that has one.
func (db *DB) addLastAttempts(ctx context.Context, ms []store.LogMessage) error {
	if len(ms) == 0 {
		return nil
	}
	ids, byRow := store.MessagesByRow(ms)
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE id IN
		(SELECT max(id) FROM attempts WHERE message_row IN (SELECT value FROM json_each(?)) GROUP BY message_row)`, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a, row, err := scanAttempt(rows)
		if err != nil {
			return err
		}
		if m := byRow[row]; m != nil {
			m.LastAttempt = &a
		}
	}
	return rows.Err()
}

// LogMessage implements store.DeliveryLog.
func (db *DB) LogMessage(ctx context.Context, subscriptionUUID, messageID string) (_ store.LogMessage, err error) {
	defer wrap(&err, "sqlite.LogMessage(%s, %s)", subscriptionUUID, messageID)
	var env webhook.Envelope
	m, err := scanLogMessage(db.r.QueryRowContext(ctx, `SELECT `+logColumns+`,
			e.organization_uuid, e.message_uuid, e.event_name, e.message_id, e.payload, e.timestamp`+logFrom+`
		WHERE m.subscription_uuid = ? AND m.message_id = ?`, subscriptionUUID, messageID),
		&env.OrganizationUUID, &env.MessageUUID, &env.EventName, &env.MessageID, &env.Payload, &env.Timestamp)
	if errors.Is(err, sql.ErrNoRows) {
		return m, store.ErrMessageNotFound(messageID)
	}
	if err != nil {
		return m, err
	}
	m.OrganizationUUID, m.Envelope = env.OrganizationUUID, env.Bytes()
	attempts, err := db.Attempts(ctx, m.ID)
	if err != nil {
		return m, err
	}
	m.SetAttemptList(attempts)
	return m, nil
}

// AttemptStats implements store.DeliveryLog.
func (db *DB) AttemptStats(ctx context.Context, subscriptionUUID string, since time.Time) (_ store.AttemptStats, err error) {
	defer wrap(&err, "sqlite.AttemptStats(%s)", subscriptionUUID)
	st := store.AttemptStats{Durations: []time.Duration{}}
	if err := db.r.QueryRowContext(ctx, `SELECT coalesce(sum(error_class = ''), 0), coalesce(sum(error_class <> ''), 0),
			(SELECT count(*) FROM messages WHERE subscription_uuid = ?1 AND state = 'pending')
			+ (SELECT count(*) FROM messages WHERE subscription_uuid = ?1 AND state = 'leased')
		FROM attempts WHERE subscription_uuid = ?1 AND started_at >= ?2`, subscriptionUUID, micros(since)).
		Scan(&st.Delivered, &st.Failed, &st.Backlog); err != nil {
		return st, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT duration_us FROM attempts WHERE subscription_uuid = ? AND started_at >= ?
		ORDER BY started_at DESC LIMIT ?`, subscriptionUUID, micros(since), store.MaxStatsDurations)
	if err != nil {
		return st, err
	}
	defer rows.Close()
	for rows.Next() {
		var us int64
		if err := rows.Scan(&us); err != nil {
			return st, err
		}
		st.Durations = append(st.Durations, time.Duration(us)*time.Microsecond)
	}
	return st, rows.Err()
}

// Redeliver implements store.DeliveryLog.
func (db *DB) Redeliver(ctx context.Context, subscriptionUUID, messageID string, now time.Time) (err error) {
	defer wrap(&err, "sqlite.Redeliver(%s, %s)", subscriptionUUID, messageID)
	return db.writeOrRefuse(ctx, func(tx *wtx) error {
		if err := subscriptionExists(tx, subscriptionUUID); err != nil {
			return err
		}
		res, err := tx.Exec(`UPDATE messages SET state = CASE WHEN state IN ('delivered', 'dead') THEN 'pending' ELSE state END,
				lease_token = CASE WHEN state IN ('delivered', 'dead') THEN NULL ELSE lease_token END,
				finished_at = CASE WHEN state IN ('delivered', 'dead') THEN NULL ELSE finished_at END
			WHERE subscription_uuid = ? AND message_id = ?`, subscriptionUUID, messageID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrMessageNotFound(messageID)
		}
		_, err = tx.Exec(`UPDATE subscriptions SET next_retry_at = ? WHERE uuid = ? AND status = 'FAILING' AND next_retry_at > ?`,
			micros(now), subscriptionUUID, micros(now))
		return err
	})
}

// subscriptionExists returns ErrSubscriptionNotFound unless a subscription
// with uuid exists.
func subscriptionExists(tx *wtx, uuid string) error {
	var found bool
	if err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM subscriptions WHERE uuid = ?)`, uuid).Scan(&found); err != nil {
		return err
	}
	if !found {
		return webhook.ErrSubscriptionNotFound(uuid)
	}
	return nil
}

// replaySelection is the condition on events e of a replay; its arguments
// come from replaySelectionArgs.
const replaySelection = `e.organization_uuid = ? AND e.created_at >= ? AND e.created_at < ?
	AND (? IS NULL OR e.event_name IN (SELECT value FROM json_each(?)))
	AND (? = '' OR EXISTS (SELECT 1 FROM messages d WHERE d.message_id = e.message_id AND d.subscription_uuid = ?
		AND d.state = 'dead'))`

func replaySelectionArgs(p store.ReplayParams) ([]any, error) {
	var names sql.NullString
	if delivered := p.DeliveredEventNames(); delivered != nil {
		b, err := json.Marshal(delivered)
		if err != nil {
			return nil, err
		}
		names = sql.NullString{String: string(b), Valid: true}
	}
	return []any{p.OrganizationUUID, micros(p.Since), micros(p.Until), names, names,
		p.FromSubscriptionUUID, p.FromSubscriptionUUID}, nil
}

// Replay implements store.DeliveryLog, in one write.
func (db *DB) Replay(ctx context.Context, p store.ReplayParams) (res store.ReplayResult, err error) {
	defer wrap(&err, "sqlite.Replay(%s)", p.SubscriptionUUID)
	sel, err := replaySelectionArgs(p)
	if err != nil {
		return res, err
	}
	err = db.writeOrRefuse(ctx, func(tx *wtx) error {
		res = store.ReplayResult{}
		if err := subscriptionExists(tx, p.SubscriptionUUID); err != nil {
			return err
		}
		keyed := p.IdempotencyKey != "" && !p.DryRun
		if keyed {
			var (
				hash  string
				count int
			)
			err := tx.QueryRow(`SELECT request_hash, count FROM replays WHERE subscription_uuid = ? AND idempotency_key = ?`,
				p.SubscriptionUUID, p.IdempotencyKey).Scan(&hash, &count)
			if err == nil {
				res, err = store.RepeatedReplay(p, hash, count)
				return err
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if err := tx.QueryRow(`SELECT count(*) FROM events e WHERE `+replaySelection, sel...).Scan(&res.Count); err != nil {
			return err
		}
		if p.DryRun || res.Count == 0 && !keyed {
			return nil
		}
		if _, err := tx.Exec(`INSERT INTO messages (message_id, subscription_uuid, state, created_at)
			SELECT e.message_id, ?, 'pending', ? FROM events e WHERE `+replaySelection+` ORDER BY e.created_at, e.rowid
			ON CONFLICT (message_id, subscription_uuid) DO UPDATE SET state = 'pending', lease_token = NULL, finished_at = NULL
				WHERE messages.state IN ('delivered', 'dead')`,
			append([]any{p.SubscriptionUUID, micros(p.Now)}, sel...)...); err != nil {
			return err
		}
		if !keyed {
			return nil
		}
		_, err := tx.Exec(`INSERT INTO replays (subscription_uuid, idempotency_key, request_hash, count, created_at)
			VALUES (?, ?, ?, ?, ?)`, p.SubscriptionUUID, p.IdempotencyKey, p.RequestHash, res.Count, micros(p.Now))
		return err
	})
	return res, err
}
