package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pusher-hq/pusher/internal/webhook"
)

const subscriptionColumns = `uuid, organization_uuid, client_id, transport_name, event_names, destination,
	contact_email, status, signing_key, created_at, updated_at, failing_since, failures, next_retry_at,
	last_failing_notice_at, last_attempt_timed_out, strict_order, standard_webhooks, rotation_overlap_us,
	previous_signing_key, previous_key_expires_at`

// insertSubscriptionSQL stores a subscription with its delivery state.
const insertSubscriptionSQL = `INSERT INTO subscriptions (` + subscriptionColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`

// subscriptionArgs are the arguments of insertSubscriptionSQL for s.
func subscriptionArgs(s *webhook.Subscription) []any {
	return []any{s.UUID, s.OrganizationUUID, s.ClientID, s.TransportName, nonNil(s.EventNames), s.Destination,
		s.ContactEmail, string(s.Status), s.SigningKey, s.Created, s.Updated, nullTime(s.FailingSince), s.Failures,
		nullTime(s.NextRetryAt), nullTime(s.LastFailingNoticeAt), s.LastAttemptTimedOut, s.Settings.StrictOrder,
		s.Settings.StandardWebhooks, s.Settings.RotationOverlap.Microseconds(), s.PreviousSigningKey, nullTime(s.PreviousKeyExpires)}
}

// CreateSubscription implements store.Store: it stores s as given,
// delivery state included. A uuid in use returns
// webhook.ErrSubscriptionExists.
func (db *DB) CreateSubscription(ctx context.Context, s *webhook.Subscription) (err error) {
	defer wrap(&err, "postgres.CreateSubscription(%s)", s.UUID)
	_, err = db.pool.Exec(ctx, insertSubscriptionSQL, subscriptionArgs(s)...)
	if isUniqueViolation(err) {
		return webhook.ErrSubscriptionExists(s.UUID)
	}
	return err
}

// Subscriptions implements store.Store. It returns an empty, non-nil list
// when the client has none.
func (db *DB) Subscriptions(ctx context.Context, org, clientID string) (subs []*webhook.Subscription, err error) {
	defer wrap(&err, "postgres.Subscriptions(%s, %s)", org, clientID)
	rows, _ := db.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE organization_uuid = $1 AND client_id = $2 ORDER BY created_at, seq`, org, clientID)
	return collectSubscriptions(rows)
}

// Subscription implements store.Store; an unknown uuid, or one of another
// organization or client, returns webhook.ErrSubscriptionNotFound.
func (db *DB) Subscription(ctx context.Context, org, clientID, uuid string) (s *webhook.Subscription, err error) {
	defer wrap(&err, "postgres.Subscription(%s)", uuid)
	rows, _ := db.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE organization_uuid = $1 AND client_id = $2 AND uuid = $3`, org, clientID, uuid)
	s, err = pgx.CollectExactlyOneRow(rows, scanSubscription)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, webhook.ErrSubscriptionNotFound(uuid)
	}
	return s, err
}

// AllSubscriptions implements store.Store.
func (db *DB) AllSubscriptions(ctx context.Context) (subs []*webhook.Subscription, err error) {
	defer wrap(&err, "postgres.AllSubscriptions")
	rows, _ := db.pool.Query(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions ORDER BY created_at, seq`)
	return collectSubscriptions(rows)
}

// UpdateSubscription implements store.Store. It keeps
// LastFailingNoticeAt, so an update does not lift the throttle of
// "failing" notices. An unknown subscription returns
// webhook.ErrSubscriptionNotFound.
func (db *DB) UpdateSubscription(ctx context.Context, s *webhook.Subscription) (err error) {
	defer wrap(&err, "postgres.UpdateSubscription(%s)", s.UUID)
	tag, err := db.pool.Exec(ctx, `UPDATE subscriptions SET event_names = $1, destination = $2, contact_email = $3,
			updated_at = $4, status = 'ACTIVE', failing_since = NULL, failures = 0, next_retry_at = NULL
		WHERE organization_uuid = $5 AND client_id = $6 AND uuid = $7`,
		nonNil(s.EventNames), s.Destination, s.ContactEmail, s.Updated, s.OrganizationUUID, s.ClientID, s.UUID)
	if err == nil && tag.RowsAffected() == 0 {
		return webhook.ErrSubscriptionNotFound(s.UUID)
	}
	return err
}

// DeleteSubscription implements store.Store. An unknown subscription
// returns webhook.ErrSubscriptionNotFound.
func (db *DB) DeleteSubscription(ctx context.Context, org, clientID, uuid string, now time.Time) (err error) {
	defer wrap(&err, "postgres.DeleteSubscription(%s)", uuid)
	return db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `WITH gone AS (DELETE FROM subscriptions
				WHERE uuid = ANY ($1) AND organization_uuid = $4 AND client_id = $5 RETURNING *)`+insertTombstonesSQL,
			[]string{uuid}, now, false, org, clientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return webhook.ErrSubscriptionNotFound(uuid)
		}
		_, err = tx.Exec(ctx, killMessagesSQL, []string{uuid}, now)
		return err
	})
}

// Deleting subscriptions takes two statements, in this order:
// deleteSubscriptionsSQL, then killMessagesSQL. The DELETE waits for the
// transactions that enqueue messages for the subscriptions (they hold FOR
// KEY SHARE locks, see publish.go), and the UPDATE, with its fresh
// snapshot, then sees their messages too: no pending message outlives its
// subscription. The DELETE leaves a tombstone of each subscription
// (deleted_subscriptions, see DeletedSubscription), deleted at $2 and
// exhausted if $3 (insertTombstonesSQL).
const (
	deleteSubscriptionsSQL = `WITH gone AS (DELETE FROM subscriptions WHERE uuid = ANY ($1) RETURNING *)` +
		insertTombstonesSQL
	killMessagesSQL = `UPDATE messages SET state = 'dead', lease_token = NULL, finished_at = $2
		WHERE subscription_uuid = ANY ($1) AND state IN ('pending', 'leased')`
)

// insertTombstonesSQL ends a statement whose CTE gone deleted
// subscriptions: it stores their tombstones, deleted at $2 and exhausted
// if $3.
const insertTombstonesSQL = ` INSERT INTO deleted_subscriptions (uuid, organization_uuid, client_id, event_names, destination,
		deleted_at, exhausted)
	SELECT uuid, organization_uuid, client_id, event_names, destination, $2, $3 FROM gone
	ON CONFLICT (uuid) DO UPDATE SET organization_uuid = excluded.organization_uuid, client_id = excluded.client_id,
		event_names = excluded.event_names, destination = excluded.destination, deleted_at = excluded.deleted_at,
		exhausted = excluded.exhausted`

// deleteSubscriptions deletes the subscriptions named by uuids, leaving
// their tombstones (not exhausted), and turns their undelivered messages
// into dead letters finished at now; it returns how many messages died.
func deleteSubscriptions(ctx context.Context, tx pgx.Tx, uuids []string, now time.Time) (int, error) {
	if _, err := tx.Exec(ctx, deleteSubscriptionsSQL, uuids, now, false); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, killMessagesSQL, uuids, now)
	return int(tag.RowsAffected()), err
}

func collectSubscriptions(rows pgx.Rows) ([]*webhook.Subscription, error) {
	subs, err := pgx.CollectRows(rows, scanSubscription)
	if err != nil {
		return nil, err
	}
	if subs == nil {
		subs = []*webhook.Subscription{}
	}
	return subs, nil
}

// scanSubscription reads a row of subscriptionColumns.
func scanSubscription(row pgx.CollectableRow) (*webhook.Subscription, error) {
	var (
		s                                   webhook.Subscription
		status                              string
		failingSince, nextRetry, lastNotice pgtype.Timestamptz
		prevExpires                         pgtype.Timestamptz
		overlapUS                           int64
	)
	err := row.Scan(&s.UUID, &s.OrganizationUUID, &s.ClientID, &s.TransportName, &s.EventNames, &s.Destination,
		&s.ContactEmail, &status, &s.SigningKey, &s.Created, &s.Updated, &failingSince, &s.Failures, &nextRetry,
		&lastNotice, &s.LastAttemptTimedOut, &s.Settings.StrictOrder, &s.Settings.StandardWebhooks, &overlapUS,
		&s.PreviousSigningKey, &prevExpires)
	if err != nil {
		return nil, err
	}
	s.Status, s.EventNames = webhook.Status(status), nonNil(s.EventNames)
	s.Created, s.Updated = s.Created.UTC(), s.Updated.UTC()
	s.FailingSince, s.NextRetryAt, s.LastFailingNoticeAt = fromNull(failingSince), fromNull(nextRetry), fromNull(lastNotice)
	s.Settings.RotationOverlap, s.PreviousKeyExpires = time.Duration(overlapUS)*time.Microsecond, fromNull(prevExpires)
	return &s, nil
}
