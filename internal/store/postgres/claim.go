package postgres

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pusher-hq/pusher/internal/store"
)

// ClaimMessages implements store.Store. A Limit of 0 or less claims
// nothing.
func (db *DB) ClaimMessages(ctx context.Context, p store.ClaimParams) (out []*store.Delivery, err error) {
	defer wrap(&err, "postgres.ClaimMessages(limit %d)", p.Limit)
	if p.Limit <= 0 {
		return nil, nil
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		queueClaim(b, p, false, &out)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, err // what was claimed is not committed
	}
	return out, nil
}

// A claim takes two statements of one READ COMMITTED transaction, sent
// together in one round trip.
//
// The first statement picks the subscriptions that may have messages to
// lease (an ACTIVE one with pending messages and fewer than PerSubscription
// leased, or than 1 after a timeout or with strict order, a FAILING one that is due, has pending messages and none leased;
// and of an organization below PerOrganization, unless the subscription
// has InFlight leased already and leases only ahead of them),
// those whose oldest pending message is oldest first, at most Limit of
// them, and locks them FOR NO KEY UPDATE in uuid order. It keeps the locked
// uuids in the transaction-local setting pusher.claim for the second
// statement. ClaimMessages holds no other lock, so it waits for the
// subscriptions another instance is claiming for or recording results of
// (claimLockSQL): locks taken in uuid order cannot deadlock, and a
// claimer that skipped them would go away empty-handed while a few busy
// subscriptions are all locked. RecordAndClaim already holds the locks of
// its results' subscriptions, so it skips the locked ones
// (claimLockSkipSQL) rather than wait while holding locks.
//
// claimLeaseSQL then decides with a new snapshot, taken after the locks
// were granted, so it sees every lease committed by the other instances:
// it counts each locked subscription's leased messages again and leases
// its oldest pending messages into the free slots, round-robin across the
// subscriptions (by rank within the subscription, then age) up to Limit.
// Leases are only added under these row locks, so no other transaction
// can add one to these subscriptions before this one commits. One
// statement would not do: its snapshot predates the locks, and would miss
// leases committed while it waited for them. The organization cap
// (PerOrganization, each subscription's leases counted up to InFlight)
// counts the leases committed when the second statement
// starts; organizations are not locked, so across instances claiming at the
// same moment it may be exceeded by what they lease together.
const (
	claimCandidatesSQL = `SELECT c.uuid FROM subscriptions c
	WHERE EXISTS (SELECT 1 FROM messages m WHERE m.subscription_uuid = c.uuid AND m.state = 'pending')
	  AND CASE c.status
		WHEN 'ACTIVE' THEN (SELECT count(*) FROM messages m
			WHERE m.subscription_uuid = c.uuid AND m.state = 'leased') < CASE WHEN c.last_attempt_timed_out OR c.strict_order THEN 1 ELSE $2::int END
		ELSE c.next_retry_at <= $1
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.subscription_uuid = c.uuid AND m.state = 'leased')
	  END
	  AND ($4::int <= 0 OR (SELECT coalesce(sum(least(n, $5::int)), 0) FROM (SELECT count(*) AS n
		FROM messages m JOIN subscriptions os ON os.uuid = m.subscription_uuid
		WHERE os.organization_uuid = c.organization_uuid AND m.state = 'leased' GROUP BY m.subscription_uuid) per_sub) < $4::int
		OR (SELECT count(*) FROM messages m WHERE m.subscription_uuid = c.uuid AND m.state = 'leased') >= $5::int)
	ORDER BY (SELECT min(m.id) FROM messages m WHERE m.subscription_uuid = c.uuid AND m.state = 'pending')
	LIMIT $3::int`
	claimLockHead = `SELECT set_config('pusher.claim', coalesce(array_agg(uuid)::text, '{}'), true) FROM (
	SELECT s.uuid FROM subscriptions s WHERE s.uuid IN (` + claimCandidatesSQL + `)
	ORDER BY s.uuid FOR NO KEY UPDATE OF s`
	claimLockSQL     = claimLockHead + `) locked`
	claimLockSkipSQL = claimLockHead + ` SKIP LOCKED) locked`

	claimLeaseSQL = `WITH free AS (
	SELECT s.uuid, s.organization_uuid AS org, l.leased, CASE s.status
		WHEN 'ACTIVE' THEN CASE WHEN s.last_attempt_timed_out OR s.strict_order THEN 1 ELSE $2::int END - l.leased
		ELSE CASE WHEN s.next_retry_at <= $1 AND l.leased = 0 THEN 1 ELSE 0 END
		END AS slots
	FROM subscriptions s CROSS JOIN LATERAL (SELECT count(*) AS leased FROM messages m
		WHERE m.subscription_uuid = s.uuid AND m.state = 'leased') l
	WHERE s.uuid = ANY (current_setting('pusher.claim')::text[])
), org_free AS (
	SELECT o.org, CASE WHEN $6::int <= 0 THEN $3::int ELSE $6::int - (SELECT coalesce(sum(least(n, $7::int)), 0) FROM (
		SELECT count(*) AS n FROM messages m JOIN subscriptions os ON os.uuid = m.subscription_uuid
		WHERE os.organization_uuid = o.org AND m.state = 'leased' GROUP BY m.subscription_uuid) per_sub) END AS slots
	FROM (SELECT DISTINCT org FROM free) o
), ranked AS (
	SELECT p.id, f.uuid, f.org, row_number() OVER (PARTITION BY f.uuid ORDER BY p.id) AS rank, f.leased
	FROM free f CROSS JOIN LATERAL (SELECT m.id FROM messages m
		WHERE m.subscription_uuid = f.uuid AND m.state = 'pending'
		ORDER BY m.id LIMIT greatest(least(f.slots, $3::int), 0)) p
), counted AS (
	SELECT r.*, r.leased + r.rank <= $7::int AS counts FROM ranked r
), org_ranked AS (
	SELECT c.*, sum(CASE WHEN c.counts THEN 1 ELSE 0 END) OVER (PARTITION BY c.org ORDER BY c.rank, c.id) AS org_used
	FROM counted c
), sub_used AS (
	SELECT r.*, max(CASE WHEN r.counts THEN r.org_used END) OVER (PARTITION BY r.uuid) AS last_counted
	FROM org_ranked r
), chosen AS (
	SELECT r.id FROM sub_used r JOIN org_free o ON o.org = r.org
	WHERE CASE WHEN r.counts THEN r.org_used <= o.slots ELSE r.last_counted IS NULL OR r.last_counted <= o.slots END
	ORDER BY r.rank, r.id LIMIT $3::int
)
UPDATE messages m SET state = 'leased', lease_token = $4, leased_at = $1, lease_expires_at = $5
FROM chosen c, subscriptions s, events e
WHERE m.id = c.id AND m.state = 'pending' AND s.uuid = m.subscription_uuid AND e.message_id = m.message_id
RETURNING m.id, m.lease_token, m.leased_at, m.attempts, s.uuid, s.organization_uuid, s.destination,
	s.signing_key, s.contact_email, s.event_names, s.previous_signing_key, s.previous_key_expires_at,
	s.standard_webhooks, s.strict_order,
	e.organization_uuid, e.message_uuid, e.event_name, e.message_id, e.payload, e.timestamp`
)

// queueClaim queues the two statements of a claim with p to b, the first
// one skipping locked subscriptions if skipLocked is set; once b's results
// are read, *out holds the leased messages, oldest first. p.Limit must be
// positive.
func queueClaim(b *pgx.Batch, p store.ClaimParams, skipLocked bool, out *[]*store.Delivery) {
	lock := claimLockSQL
	if skipLocked {
		lock = claimLockSkipSQL
	}
	inFlight := p.InFlight
	if inFlight <= 0 {
		inFlight = math.MaxInt32 // every leased message counts
	}
	b.Queue(lock, p.Now, p.PerSubscription, p.Limit, p.PerOrganization, inFlight)
	b.Queue(claimLeaseSQL, p.Now, p.PerSubscription, p.Limit, newLeaseToken(), p.Now.Add(p.LeaseFor), p.PerOrganization, inFlight).
		Query(func(rows pgx.Rows) error {
			ds, err := pgx.CollectRows(rows, scanDelivery)
			slices.SortFunc(ds, func(a, b *store.Delivery) int { return cmp.Compare(a.ID, b.ID) })
			*out = ds
			return err
		})
}

func scanDelivery(row pgx.CollectableRow) (*store.Delivery, error) {
	var (
		d           store.Delivery
		e           = &d.Envelope
		prevExpires pgtype.Timestamptz
	)
	err := row.Scan(&d.ID, &d.LeaseToken, &d.LeasedAt, &d.Attempts, &d.SubscriptionUUID, &d.OrganizationUUID,
		&d.Destination, &d.SigningKey, &d.ContactEmail, &d.EventNames, &d.PreviousSigningKey, &prevExpires,
		&d.StandardWebhooks, &d.StrictOrder,
		&e.OrganizationUUID, &e.MessageUUID, &e.EventName, &e.MessageID, &e.Payload, &e.Timestamp)
	d.LeasedAt, d.EventNames, d.PreviousKeyExpires = d.LeasedAt.UTC(), nonNil(d.EventNames), fromNull(prevExpires)
	return &d, err
}
