package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Inserting a notice: insertNoticeSQL takes held_messages and undelivered
// as $18 and $19; the two others count them (the subscription's pending
// and leased messages) when the statement runs, for RecordAndClaim, whose
// writes are all sent before any result is read. A notice with the same
// subscription, kind, creation time and channel exists already only after an
// import, or when one RecordAndClaim call writes the same notice twice;
// it is kept once.
const (
	noticeInsertHead = `INSERT INTO notices (kind, subscription_uuid, organization_uuid, recipient, destination,
	event_names, failure_class, failure_status_code, failure_detail, failure_timeout_us, next_attempt_at, delete_at,
	failing_since, created_at, next_send_at, attempts, channel, previous_key_expires_at, held_messages, undelivered)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17, `
	noticeInsertTail   = `) ON CONFLICT (subscription_uuid, kind, created_at, channel) DO NOTHING`
	countUndelivered   = `(SELECT count(*) FROM messages WHERE subscription_uuid = $2 AND state IN ('pending', 'leased'))`
	insertNoticeSQL    = noticeInsertHead + `$18, $19` + noticeInsertTail
	insertRecoveredSQL = noticeInsertHead + countUndelivered + `, 0` + noticeInsertTail
	insertDeletedSQL   = noticeInsertHead + `0, ` + countUndelivered + noticeInsertTail
)

// noticeArgs are the arguments $1 to $17 of the notice inserts.
func noticeArgs(n *webhook.Notice) []any {
	f := n.Failure
	return []any{string(n.Kind), n.SubscriptionUUID, n.OrganizationUUID, n.To, n.Destination, nonNil(n.EventNames),
		string(f.Class), f.StatusCode, f.Detail, f.Timeout.Microseconds(), nullTime(n.NextAttemptAt),
		nullTime(n.DeleteAt), nullTime(n.FailingSince), n.CreatedAt, n.Attempts, string(n.Channel.OrEmail()),
		nullTime(n.PreviousKeyExpires)}
}

// queueNotice queues the insert of a notice of a transition; the store
// fills in HeldMessages (recovered) or Undelivered (deleted).
func queueNotice(b *pgx.Batch, n *webhook.Notice) {
	switch n.Kind {
	case webhook.NoticeRecovered:
		b.Queue(insertRecoveredSQL, noticeArgs(n)...)
	case webhook.NoticeDeleted:
		b.Queue(insertDeletedSQL, noticeArgs(n)...)
	default:
		b.Queue(insertNoticeSQL, append(noticeArgs(n), n.HeldMessages, n.Undelivered)...)
	}
}

const noticeColumns = `id, kind, subscription_uuid, organization_uuid, recipient, destination, event_names,
	failure_class, failure_status_code, failure_detail, failure_timeout_us, next_attempt_at, delete_at,
	failing_since, held_messages, undelivered, created_at, attempts, last_error, sent_at, channel, previous_key_expires_at`

// DueNotices implements store.Store and notify.Outbox: it leases up to
// limit due notices until now+store.NoticeLease, skipping those another
// caller is leasing at the same moment.
func (db *DB) DueNotices(ctx context.Context, now time.Time, limit int) (due []webhook.Notice, err error) {
	defer wrap(&err, "postgres.DueNotices(limit %d)", limit)
	rows, _ := db.pool.Query(ctx, `UPDATE notices SET next_send_at = $2 WHERE id IN (
			SELECT id FROM notices WHERE sent_at IS NULL AND next_send_at <= $1
			ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+noticeColumns, now, now.Add(store.NoticeLease), limit)
	recs, err := pgx.CollectRows(rows, scanNotice)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recs, func(a, b store.NoticeRecord) int { return cmp.Compare(a.ID, b.ID) })
	return notices(recs), nil
}

// MarkNoticeSent implements store.Store and notify.Outbox. An unknown id
// is not an error.
func (db *DB) MarkNoticeSent(ctx context.Context, id int64, at time.Time) (err error) {
	defer wrap(&err, "postgres.MarkNoticeSent(%d)", id)
	_, err = db.pool.Exec(ctx, `UPDATE notices SET sent_at = $2 WHERE id = $1`, id, at)
	return err
}

// MarkNoticeFailed implements store.Store and notify.Outbox: it counts a
// failed send and makes the notice due at retryAt. An unknown id is not an
// error.
func (db *DB) MarkNoticeFailed(ctx context.Context, id int64, errText string, retryAt time.Time) (err error) {
	defer wrap(&err, "postgres.MarkNoticeFailed(%d)", id)
	_, err = db.pool.Exec(ctx, `UPDATE notices SET attempts = attempts + 1, last_error = $2, next_send_at = $3
		WHERE id = $1`, id, errText, retryAt)
	return err
}

// Notices implements store.Store.
func (db *DB) Notices(ctx context.Context, limit int) (recs []store.NoticeRecord, err error) {
	defer wrap(&err, "postgres.Notices(%d)", limit)
	rows, _ := db.pool.Query(ctx, `SELECT `+noticeColumns+` FROM notices ORDER BY id DESC LIMIT $1`, limit)
	return pgx.CollectRows(rows, scanNotice)
}

// UnsentNotices implements store.Store.
func (db *DB) UnsentNotices(ctx context.Context) (unsent []webhook.Notice, err error) {
	defer wrap(&err, "postgres.UnsentNotices")
	rows, _ := db.pool.Query(ctx, `SELECT `+noticeColumns+` FROM notices WHERE sent_at IS NULL ORDER BY id`)
	recs, err := pgx.CollectRows(rows, scanNotice)
	return notices(recs), err
}

func notices(recs []store.NoticeRecord) []webhook.Notice {
	out := make([]webhook.Notice, len(recs))
	for i, r := range recs {
		out[i] = r.Notice
	}
	return out
}

// scanNotice reads a row of noticeColumns.
func scanNotice(row pgx.CollectableRow) (store.NoticeRecord, error) {
	var (
		r                                         store.NoticeRecord
		n                                         = &r.Notice
		kind, class, channel                      string
		timeoutUS                                 int64
		nextAttempt, deleteAt, failingSince, sent pgtype.Timestamptz
		previousExpires                           pgtype.Timestamptz
	)
	err := row.Scan(&n.ID, &kind, &n.SubscriptionUUID, &n.OrganizationUUID, &n.To, &n.Destination, &n.EventNames,
		&class, &n.Failure.StatusCode, &n.Failure.Detail, &timeoutUS, &nextAttempt, &deleteAt, &failingSince,
		&n.HeldMessages, &n.Undelivered, &n.CreatedAt, &n.Attempts, &r.LastError, &sent, &channel, &previousExpires)
	n.Kind, n.Failure.Class, n.Failure.Timeout = webhook.NoticeKind(kind), webhook.Class(class), time.Duration(timeoutUS)*time.Microsecond
	n.EventNames, n.CreatedAt = nonNil(n.EventNames), n.CreatedAt.UTC()
	n.NextAttemptAt, n.DeleteAt, n.FailingSince = fromNull(nextAttempt), fromNull(deleteAt), fromNull(failingSince)
	r.Attempts, r.SentAt = n.Attempts, fromNull(sent)
	n.Channel, n.PreviousKeyExpires = webhook.NoticeChannel(channel), fromNull(previousExpires)
	return r, err
}
