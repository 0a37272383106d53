// Package postgres implements store.Store on PostgreSQL (pgx/v5 with
// pgxpool), so that any number of pusher instances can share one database.
//
// PostgreSQL holds all of pusher's state: subscriptions, events, the
// delivery queue (one messages row per event and subscription), the attempt
// log and the notice outbox. Instances keep nothing but caches of
// connections, so any instance can serve any request and deliver any
// message, and instances can be added or stopped at any time. Times come
// from the callers (no SQL reads now()), and are stored as timestamptz.
//
// Claims are safe across instances: a claim first locks the subscriptions
// it will serve (FOR NO KEY UPDATE, in uuid order), then, in a second
// statement of the same READ COMMITTED transaction, counts their leased
// messages and leases pending ones. The second statement's fresh snapshot
// sees every lease committed by other instances, and the row locks keep
// other instances off these subscriptions until the commit, so no
// subscription ever has more than PerSubscription leased messages, and a
// FAILING subscription has at most one. ClaimMessages waits for the locks;
// RecordAndClaim, which holds locks already, skips locked subscriptions
// (SKIP LOCKED). Every writer locks subscriptions before messages, in a
// fixed order, so instances do not deadlock; the rare deadlock PostgreSQL
// still detects (or a serialization failure) is retried.
//
// Publish commits in groups: one goroutine per instance collects the
// concurrent calls into one transaction, each call in its own savepoint.
// A commit that enqueued messages sends a notification on the channel
// pusher_messages; Listen turns those into wake-ups, so an event ingested on
// one instance is delivered by another at once.
//
// Open applies the embedded migrations under a PostgreSQL advisory lock, so
// instances starting together migrate once; each migration runs in its own
// transaction and is recorded in the table schema_migrations.
//
// The DSN is a postgres:// URL or key=value string as pgx reads it. The pool
// size is pgxpool's default (the larger of 4 and the number of CPUs) unless
// the DSN sets pool_max_conns (e.g. ?pool_max_conns=20); Listen holds one
// more connection outside the pool. Any other unknown parameter, such as
// search_path, is set on every connection.
//
// Errors say which method failed. When the database cannot be reached they
// wrap a *webhook.Error with code webhook.Unavailable.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// DB is a PostgreSQL-backed store.Store. Create it with Open; it is safe for
// concurrent use.
type DB struct {
	pool *pgxpool.Pool

	calls     chan *publishCall // Publish calls for the group-commit goroutine
	closeMu   sync.RWMutex      // guards closed against Publish
	closed    bool
	stopped   chan struct{} // closed when the group-commit goroutine exited
	closeOnce sync.Once
}

var _ store.Store = (*DB)(nil)

// errClosed is returned by Publish after Close.
var errClosed = errors.New("store closed")

// Open connects to the database named by dsn, applies pending migrations
// and starts the publish group-commit goroutine. The error wraps a
// webhook.Unavailable *webhook.Error if the database cannot be reached.
// Close releases the DB.
func Open(ctx context.Context, dsn string) (db *DB, err error) {
	defer wrap(&err, "postgres.Open")
	pool, err := newPool(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	db = &DB{pool: pool, calls: make(chan *publishCall, maxBatchCalls), stopped: make(chan struct{})}
	go db.runPublisher()
	return db, nil
}

// newPool parses dsn and returns a pool that connects lazily.
func newPool(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return pgxpool.NewWithConfig(ctx, cfg)
}

// Ping checks that the database answers. Its error wraps a
// webhook.Unavailable *webhook.Error if it does not.
func (db *DB) Ping(ctx context.Context) (err error) {
	defer wrap(&err, "postgres.Ping")
	return db.pool.Ping(ctx)
}

// Close stops accepting Publish calls, waits for the queued ones to commit
// and closes the pool; a second Close does nothing. It does not stop
// Listen, which ends with its context. It always returns nil.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.closeMu.Lock()
		db.closed = true
		close(db.calls)
		db.closeMu.Unlock()
		<-db.stopped
		db.pool.Close()
	})
	return nil
}

// maxTxAttempts is how often inTx runs a transaction that PostgreSQL
// aborted to break a deadlock or for a serialization failure.
const maxTxAttempts = 3

// inTx runs fn in a READ COMMITTED transaction and commits it, retrying it
// when isRetryable(err). fn must not keep state across runs.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, db.pool, fn)
		if err == nil || attempt == maxTxAttempts || !isRetryable(err) {
			return err
		}
	}
}

// isRetryable reports whether err is a deadlock or serialization failure,
// or a failure before anything reached the server (such as a pooled
// connection that broke while idle).
func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40P01" || pgErr.Code == "40001"
	}
	return pgconn.SafeToRetry(err)
}

// wrap prefixes a non-nil *errp with what failed, for example
// "postgres.RecordAndClaim(12 results)". An error that means the database
// cannot be reached also wraps a webhook.Unavailable *webhook.Error, so the
// HTTP layer answers 503. Deferred by every exported method.
func wrap(errp *error, format string, args ...any) {
	if *errp == nil {
		return
	}
	what := fmt.Sprintf(format, args...)
	if isUnavailable(*errp) {
		unavailable := webhook.Errorf(webhook.Unavailable, "Database unavailable, retry later")
		*errp = fmt.Errorf("%s: %w: %w", what, unavailable, *errp)
		return
	}
	*errp = fmt.Errorf("%s: %w", what, *errp)
}

// isUnavailable reports whether err says that the database cannot be
// reached or cannot store anything now: a failed connection, a connection
// lost, a server that shuts down or does not accept connections yet, or one
// out of disk space, memory or connections, or in read-only mode.
func isUnavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		case "25006": // read_only_sql_transaction (a standby, or default_transaction_read_only)
			return true
		}
		// 08: connection exception; 53: insufficient resources (disk full,
		// out of memory, too many connections); 58: system error (I/O).
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") || strings.HasPrefix(pgErr.Code, "58")
	}
	var connectErr *pgconn.ConnectError
	var opErr *net.OpError
	return errors.As(err, &connectErr) || errors.As(err, &opErr) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// newLeaseToken returns a random lease token.
func newLeaseToken() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// nullTime is t for a nullable timestamptz column: NULL when t is zero.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromNull is the time of a nullable timestamptz column in UTC, zero for
// NULL.
func fromNull(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}

// nonNil returns names, or an empty list for nil: event_names is NOT NULL.
func nonNil(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}
