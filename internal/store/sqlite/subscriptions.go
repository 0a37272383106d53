package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pusher-hq/pusher/internal/webhook"
)

const subscriptionColumns = `uuid, organization_uuid, client_id, transport_name, event_names, destination,
	contact_email, status, signing_key, created_at, updated_at, failing_since, failures, next_retry_at, last_failing_notice_at,
	last_attempt_timed_out, strict_order, standard_webhooks, rotation_overlap_us, previous_signing_key,
	previous_key_expires_at`

// CreateSubscription implements store.Store.
func (db *DB) CreateSubscription(ctx context.Context, s *webhook.Subscription) (err error) {
	defer wrap(&err, "sqlite.CreateSubscription(%s)", s.UUID)
	return db.writeOrRefuse(ctx, func(tx *wtx) error {
		_, err := insertSubscription(tx, s, false)
		return err
	})
}

// insertSubscription stores s with its delivery state. An existing uuid is
// ErrSubscriptionExists, or skipped (false) when skipExisting is set.
func insertSubscription(tx *wtx, s *webhook.Subscription, skipExisting bool) (bool, error) {
	names, err := json.Marshal(nonNil(s.EventNames))
	if err != nil {
		return false, err
	}
	_, err = tx.Exec(`INSERT INTO subscriptions (`+subscriptionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.UUID, s.OrganizationUUID, s.ClientID, s.TransportName, string(names), s.Destination,
		s.ContactEmail, string(s.Status), s.SigningKey, micros(s.Created), micros(s.Updated),
		nullMicros(s.FailingSince), s.Failures, nullMicros(s.NextRetryAt), nullMicros(s.LastFailingNoticeAt),
		s.LastAttemptTimedOut, s.Settings.StrictOrder, s.Settings.StandardWebhooks, s.Settings.RotationOverlap.Microseconds(),
		s.PreviousSigningKey, nullMicros(s.PreviousKeyExpires))
	switch {
	case isUniqueViolation(err) && skipExisting:
		return false, nil
	case isUniqueViolation(err):
		return false, webhook.ErrSubscriptionExists(s.UUID)
	}
	return err == nil, err
}

// Subscriptions implements store.Store.
func (db *DB) Subscriptions(ctx context.Context, org, clientID string) (_ []*webhook.Subscription, err error) {
	defer wrap(&err, "sqlite.Subscriptions(%s, %s)", org, clientID)
	return db.querySubscriptions(ctx, `WHERE organization_uuid = ? AND client_id = ? ORDER BY created_at, rowid`, org, clientID)
}

// AllSubscriptions implements store.Store.
func (db *DB) AllSubscriptions(ctx context.Context) (_ []*webhook.Subscription, err error) {
	defer wrap(&err, "sqlite.AllSubscriptions")
	return db.querySubscriptions(ctx, `ORDER BY created_at, rowid`)
}

func (db *DB) querySubscriptions(ctx context.Context, where string, args ...any) ([]*webhook.Subscription, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	subs := []*webhook.Subscription{}
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, err
		}
		subs = append(subs, s)
	}
	return subs, rows.Err()
}

// Subscription implements store.Store.
func (db *DB) Subscription(ctx context.Context, org, clientID, uuid string) (_ *webhook.Subscription, err error) {
	defer wrap(&err, "sqlite.Subscription(%s)", uuid)
	row := db.r.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE organization_uuid = ? AND client_id = ? AND uuid = ?`, org, clientID, uuid)
	s, err := scanSubscription(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, webhook.ErrSubscriptionNotFound(uuid)
	}
	return s, err
}

// UpdateSubscription implements store.Store.
func (db *DB) UpdateSubscription(ctx context.Context, s *webhook.Subscription) (err error) {
	defer wrap(&err, "sqlite.UpdateSubscription(%s)", s.UUID)
	names, err := json.Marshal(nonNil(s.EventNames))
	if err != nil {
		return err
	}
	return db.writeOrRefuse(ctx, func(tx *wtx) error {
		res, err := tx.Exec(`UPDATE subscriptions SET event_names = ?, destination = ?, contact_email = ?,
				updated_at = ?, status = 'ACTIVE', failing_since = NULL, failures = 0, next_retry_at = NULL
			WHERE organization_uuid = ? AND client_id = ? AND uuid = ?`,
			string(names), s.Destination, s.ContactEmail, micros(s.Updated), s.OrganizationUUID, s.ClientID, s.UUID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return webhook.ErrSubscriptionNotFound(s.UUID)
		}
		return nil
	})
}

// DeleteSubscription implements store.Store.
func (db *DB) DeleteSubscription(ctx context.Context, org, clientID, uuid string, now time.Time) (err error) {
	defer wrap(&err, "sqlite.DeleteSubscription(%s)", uuid)
	return db.writeOrRefuse(ctx, func(tx *wtx) error {
		var found string
		err := tx.QueryRow(`SELECT uuid FROM subscriptions WHERE organization_uuid = ? AND client_id = ? AND uuid = ?`,
			org, clientID, uuid).Scan(&found)
		if errors.Is(err, sql.ErrNoRows) {
			return webhook.ErrSubscriptionNotFound(uuid)
		}
		if err != nil {
			return err
		}
		_, err = deleteSubscription(tx, uuid, now, false)
		return err
	})
}

// deleteSubscription deletes a subscription, leaving its tombstone (see
// DeletedSubscription; exhausted when its retries ran out), and turns its
// undelivered messages into dead letters; it returns how many there were.
func deleteSubscription(tx *wtx, uuid string, now time.Time, exhausted bool) (int, error) {
	if _, err := tx.Exec(`INSERT INTO deleted_subscriptions (uuid, organization_uuid, client_id, event_names, destination,
			deleted_at, exhausted)
		SELECT uuid, organization_uuid, client_id, event_names, destination, ?, ? FROM subscriptions WHERE uuid = ?
		ON CONFLICT (uuid) DO UPDATE SET organization_uuid = excluded.organization_uuid, client_id = excluded.client_id,
			event_names = excluded.event_names, destination = excluded.destination, deleted_at = excluded.deleted_at,
			exhausted = excluded.exhausted`, micros(now), exhausted, uuid); err != nil {
		return 0, err
	}
	res, err := tx.Exec(`UPDATE messages SET state = 'dead', lease_token = NULL, finished_at = ?
		WHERE subscription_uuid = ? AND state IN ('pending', 'leased')`, micros(now), uuid)
	if err != nil {
		return 0, err
	}
	dead, _ := res.RowsAffected()
	_, err = tx.Exec(`DELETE FROM subscriptions WHERE uuid = ?`, uuid)
	return int(dead), err
}

// loadSubscription reads one subscription inside a write transaction.
func loadSubscription(tx *wtx, uuid string) (*webhook.Subscription, error) {
	return scanSubscription(tx.QueryRow(`SELECT `+subscriptionColumns+` FROM subscriptions WHERE uuid = ?`, uuid))
}

type scanner interface{ Scan(dest ...any) error }

func scanSubscription(row scanner) (*webhook.Subscription, error) {
	var (
		s                       webhook.Subscription
		names, status           string
		created, updated        int64
		failingSince, nextRetry sql.NullInt64
		lastNotice, prevExpires sql.NullInt64
		overlapUS               int64
	)
	err := row.Scan(&s.UUID, &s.OrganizationUUID, &s.ClientID, &s.TransportName, &names, &s.Destination,
		&s.ContactEmail, &status, &s.SigningKey, &created, &updated, &failingSince, &s.Failures, &nextRetry, &lastNotice,
		&s.LastAttemptTimedOut, &s.Settings.StrictOrder, &s.Settings.StandardWebhooks, &overlapUS,
		&s.PreviousSigningKey, &prevExpires)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(names), &s.EventNames); err != nil {
		return nil, err
	}
	s.Status = webhook.Status(status)
	s.Created, s.Updated = fromMicros(created), fromMicros(updated)
	s.FailingSince, s.NextRetryAt = fromNullMicros(failingSince), fromNullMicros(nextRetry)
	s.LastFailingNoticeAt = fromNullMicros(lastNotice)
	s.Settings.RotationOverlap = time.Duration(overlapUS) * time.Microsecond
	s.PreviousKeyExpires = fromNullMicros(prevExpires)
	return &s, nil
}

func nonNil(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// isUniqueViolation reports whether err is SQLite's primary key or unique
// constraint error, by its extended result code.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}
