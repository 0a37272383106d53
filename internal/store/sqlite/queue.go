package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"math"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// ClaimMessages implements store.Store.
func (db *DB) ClaimMessages(ctx context.Context, p store.ClaimParams) (out []*store.Delivery, err error) {
	defer wrap(&err, "sqlite.ClaimMessages(%d)", p.Limit)
	err = db.write(ctx, func(tx *wtx) error {
		var err error
		out, err = claim(tx, p)
		return err
	})
	if err != nil {
		return nil, err // what was claimed is not committed
	}
	return out, nil
}

// claim leases the messages claimableIDs picks and returns them.
func claim(tx *wtx, p store.ClaimParams) ([]*store.Delivery, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	ids, err := claimableIDs(tx, p)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`UPDATE messages SET state = 'leased', lease_token = ?, leased_at = ?, lease_expires_at = ?
		WHERE id IN (SELECT value FROM json_each(?))`, newLeaseToken(), micros(p.Now), micros(p.Now.Add(p.LeaseFor)), string(list)); err != nil {
		return nil, err
	}
	return loadDeliveries(tx, string(list))
}

// claimableIDs picks the messages ClaimMessages leases: for each FAILING
// subscription that is due and idle its head message, and for each ACTIVE
// subscription its oldest pending messages up to its free slots, taken
// round-robin across subscriptions up to p.Limit and p.PerOrganization.
func claimableIDs(tx *wtx, p store.ClaimParams) ([]int64, error) {
	orgs, err := orgSlots(tx, p.PerOrganization, p.InFlight)
	if err != nil {
		return nil, err
	}
	probes, err := probeQueues(tx, p)
	if err != nil {
		return nil, err
	}
	active, err := activeQueues(tx, p.PerSubscription)
	if err != nil {
		return nil, err
	}
	return roundRobin(append(probes, active...), p.Limit, orgs, p.InFlight), nil
}

// queue is one subscription's claimable messages, oldest first.
type queue struct {
	org    string
	leased int // messages of the subscription leased already
	ids    []int64
}

// orgSlots returns how many more messages each organization with leased
// messages may have leased, counting a subscription's leased messages up to
// inFlight (all when 0); nil when perOrganization is 0 (no limit).
func orgSlots(tx *wtx, perOrganization, inFlight int) (map[string]int, error) {
	if perOrganization <= 0 {
		return nil, nil
	}
	if inFlight <= 0 {
		inFlight = math.MaxInt32
	}
	rows, err := tx.Query(`SELECT s.organization_uuid, sum(min(l.n, ?)) FROM (SELECT subscription_uuid, count(*) AS n
			FROM messages WHERE state = 'leased' GROUP BY subscription_uuid) l
		JOIN subscriptions s ON s.uuid = l.subscription_uuid GROUP BY s.organization_uuid`, inFlight)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	free := map[string]int{"": perOrganization} // "" holds the limit for organizations not listed
	for rows.Next() {
		var org string
		var leased int
		if err := rows.Scan(&org, &leased); err != nil {
			return nil, err
		}
		free[org] = perOrganization - leased
	}
	return free, rows.Err()
}

// probeQueues returns the head message of each FAILING subscription that is
// due and has nothing leased, at most p.Limit.
//
// The claim's queries take no LIMIT parameter: they stop reading instead.
// SQLite (3.54) re-prepares a cached statement whenever such a parameter
// changes between 1 and another value, and a claim's limits often do; the
// re-parse was 6% of the writer's CPU in a drain.
func probeQueues(tx *wtx, p store.ClaimParams) ([]queue, error) {
	rows, err := tx.Query(`SELECT s.organization_uuid, (SELECT m.id FROM messages m WHERE m.subscription_uuid = s.uuid
			AND m.state = 'pending' ORDER BY m.id LIMIT 1) AS head
		FROM subscriptions s
		WHERE s.status = 'FAILING' AND s.next_retry_at <= ?
		  AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.subscription_uuid = s.uuid AND m.state = 'leased')
		  AND head IS NOT NULL
		ORDER BY s.next_retry_at`, micros(p.Now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []queue
	for len(out) < p.Limit && rows.Next() {
		var q queue
		var id int64
		if err := rows.Scan(&q.org, &id); err != nil {
			return nil, err
		}
		q.ids = []int64{id}
		out = append(out, q)
	}
	return out, rows.Err()
}

// activeQueues returns, per ACTIVE subscription with pending messages, the
// ids of its oldest pending messages that fit in its free slots (one slot
// while its last attempt timed out, or with strict order).
func activeQueues(tx *wtx, perSubscription int) ([]queue, error) {
	rows, err := tx.Query(`SELECT s.uuid, s.organization_uuid,
			CASE WHEN s.last_attempt_timed_out OR s.strict_order THEN 1 ELSE ? END,
			(SELECT count(*) FROM messages m WHERE m.subscription_uuid = s.uuid AND m.state = 'leased')
		FROM subscriptions s
		WHERE s.status = 'ACTIVE' AND EXISTS (SELECT 1 FROM messages m WHERE m.subscription_uuid = s.uuid AND m.state = 'pending')
		ORDER BY random()`, perSubscription)
	if err != nil {
		return nil, err
	}
	type slot struct {
		uuid, org     string
		depth, leased int
	}
	var slots []slot
	for rows.Next() {
		var s slot
		if err := rows.Scan(&s.uuid, &s.org, &s.depth, &s.leased); err != nil {
			rows.Close()
			return nil, err
		}
		if s.depth > s.leased {
			slots = append(slots, s)
		}
	}
	rows.Close()
	var queues []queue
	for _, s := range slots {
		ids, err := queryIDs(tx, s.depth-s.leased, `SELECT id FROM messages WHERE subscription_uuid = ? AND state = 'pending' ORDER BY id`,
			s.uuid)
		if err != nil {
			return nil, err
		}
		queues = append(queues, queue{org: s.org, leased: s.leased, ids: ids})
	}
	return queues, nil
}

// roundRobin takes one id from each queue in turn until limit ids are taken
// or the queues are empty, so one busy subscription cannot crowd out
// others. With orgs set, a message that may be in flight (one of the first
// inFlight leased of its subscription; every one when inFlight is 0) uses
// one of its organization's free slots, and a queue stops at the first
// message that finds none.
func roundRobin(queues []queue, limit int, orgs map[string]int, inFlight int) []int64 {
	var out []int64
	stopped := make([]bool, len(queues))
	for i := 0; len(out) < limit; i++ {
		took := false
		for qi, q := range queues {
			if stopped[qi] || i >= len(q.ids) || len(out) >= limit {
				continue
			}
			if (inFlight <= 0 || q.leased+i < inFlight) && !takeOrgSlot(orgs, q.org) {
				stopped[qi] = true
				continue
			}
			out = append(out, q.ids[i])
			took = true
		}
		if !took {
			break
		}
	}
	return out
}

// takeOrgSlot uses one of org's free slots and reports whether there was
// one; with no limit (orgs nil) there always is.
func takeOrgSlot(orgs map[string]int, org string) bool {
	if orgs == nil {
		return true
	}
	free, ok := orgs[org]
	if !ok {
		free = orgs[""]
	}
	if free <= 0 {
		return false
	}
	orgs[org] = free - 1
	return true
}

// queryIDs returns the first limit ids query returns.
func queryIDs(tx *wtx, limit int, query string, args ...any) ([]int64, error) {
	rows, err := tx.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for len(ids) < limit && rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// loadDeliveries reads the messages whose ids are in the JSON array ids,
// oldest first.
func loadDeliveries(tx *wtx, ids string) ([]*store.Delivery, error) {
	rows, err := tx.Query(`SELECT m.id, m.lease_token, m.leased_at, m.attempts, s.uuid, s.organization_uuid, s.destination,
			s.signing_key, s.contact_email, s.event_names, s.previous_signing_key, s.previous_key_expires_at,
			s.standard_webhooks, s.strict_order,
			e.organization_uuid, e.message_uuid, e.event_name, e.message_id, e.payload, e.timestamp
		FROM messages m JOIN subscriptions s ON s.uuid = m.subscription_uuid JOIN events e ON e.message_id = m.message_id
		WHERE m.id IN (SELECT value FROM json_each(?)) ORDER BY m.id`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Delivery
	for rows.Next() {
		var (
			d           store.Delivery
			leasedAt    int64
			names       string
			prevExpires sql.NullInt64
		)
		if err := rows.Scan(&d.ID, &d.LeaseToken, &leasedAt, &d.Attempts, &d.SubscriptionUUID,
			&d.OrganizationUUID, &d.Destination, &d.SigningKey, &d.ContactEmail, &names,
			&d.PreviousSigningKey, &prevExpires, &d.StandardWebhooks, &d.StrictOrder,
			&d.Envelope.OrganizationUUID, &d.Envelope.MessageUUID, &d.Envelope.EventName, &d.Envelope.MessageID,
			&d.Envelope.Payload, &d.Envelope.Timestamp); err != nil {
			return nil, err
		}
		d.LeasedAt, d.PreviousKeyExpires = fromMicros(leasedAt), fromNullMicros(prevExpires)
		if err := json.Unmarshal([]byte(names), &d.EventNames); err != nil {
			return nil, err
		}
		out = append(out, &d)
	}
	return out, rows.Err()
}

func newLeaseToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ReleaseLeases implements store.Store.
func (db *DB) ReleaseLeases(ctx context.Context, expiredBefore time.Time) (_ int, err error) {
	defer wrap(&err, "sqlite.ReleaseLeases")
	var n int64
	err = db.write(ctx, func(tx *wtx) error {
		res, err := tx.Exec(`UPDATE messages SET state = 'pending', lease_token = NULL
			WHERE state = 'leased' AND lease_expires_at < ?`, micros(expiredBefore))
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// Messages implements store.Store.
func (db *DB) Messages(ctx context.Context, subscriptionUUID, state string) (_ []store.Message, err error) {
	defer wrap(&err, "sqlite.Messages(%s)", subscriptionUUID)
	rows, err := db.r.QueryContext(ctx, `SELECT m.id, m.message_id, m.subscription_uuid, e.event_name, m.state, m.attempts, m.created_at
		FROM messages m JOIN events e ON e.message_id = m.message_id
		WHERE m.subscription_uuid = ? AND (? = '' OR m.state = ?) ORDER BY m.id`, subscriptionUUID, state, state)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var m store.Message
		var created int64
		if err := rows.Scan(&m.ID, &m.MessageID, &m.SubscriptionUUID, &m.EventName, &m.State, &m.Attempts, &created); err != nil {
			return nil, err
		}
		m.CreatedAt = fromMicros(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Attempts implements store.Store.
func (db *DB) Attempts(ctx context.Context, messageRow int64) (_ []store.Attempt, err error) {
	defer wrap(&err, "sqlite.Attempts(%d)", messageRow)
	rows, err := db.r.QueryContext(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE message_row = ? ORDER BY id`, messageRow)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Attempt
	for rows.Next() {
		a, _, err := scanAttempt(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

const attemptColumns = `started_at, duration_us, status_code, error_class, error_detail, retry_after_us, response_body,
	remote_addr, message_row`

// scanAttempt reads a row of attemptColumns and returns it with its
// message row.
func scanAttempt(row scanner) (store.Attempt, int64, error) {
	var (
		a                        store.Attempt
		started, dur, retryAfter int64
		class                    string
		messageRow               int64
	)
	if err := row.Scan(&started, &dur, &a.StatusCode, &class, &a.ErrorDetail, &retryAfter, &a.ResponseBody,
		&a.RemoteAddr, &messageRow); err != nil {
		return a, 0, err
	}
	a.RetryAfter = time.Duration(retryAfter) * time.Microsecond
	a.ErrorClass = webhook.Class(class)
	a.StartedAt, a.Duration = fromMicros(started), time.Duration(dur)*time.Microsecond
	return a, messageRow, nil
}

// QueueStats implements store.Store.
func (db *DB) QueueStats(ctx context.Context) (_ store.QueueStats, err error) {
	defer wrap(&err, "sqlite.QueueStats")
	var (
		st     store.QueueStats
		oldest sql.NullInt64
	)
	err = db.r.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM messages WHERE state = 'pending'),
			(SELECT count(*) FROM messages WHERE state = 'leased'),
			(SELECT count(*) FROM messages WHERE state = 'dead'),
			(SELECT min(created_at) FROM messages WHERE state IN ('pending', 'leased'))`).
		Scan(&st.Pending, &st.Leased, &st.Dead, &oldest)
	st.OldestPending = fromNullMicros(oldest)
	return st, err
}
