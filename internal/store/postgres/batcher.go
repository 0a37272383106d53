package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pusher-hq/pusher/internal/store"
)

// Group-commit limits: a transaction takes the queued Publish calls until
// it has maxBatchCalls of them or maxBatchEvents events.
const (
	maxBatchCalls  = 128
	maxBatchEvents = 1024
)

// batchTimeout bounds one group-commit transaction, so an unreachable
// database cannot hold Publish callers forever.
const batchTimeout = time.Minute

// publishCall is one Publish call waiting for its group commit.
type publishCall struct {
	events  []store.Event
	results []store.PublishResult
	err     error
	done    chan struct{} // closed once results or err are final
}

// enqueue hands c to the group-commit goroutine, or fails if the DB is
// closed or ctx is done first.
func (db *DB) enqueue(ctx context.Context, c *publishCall) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return errClosed
	}
	select {
	case db.calls <- c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkOpen returns errClosed after Close.
func (db *DB) checkOpen() error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return errClosed
	}
	return nil
}

// runPublisher commits the queued Publish calls in groups until Close
// closed the queue and it is drained.
func (db *DB) runPublisher() {
	defer close(db.stopped)
	for first := range db.calls {
		db.commitGroup(db.collect(first))
	}
}

// collect adds the calls queued now to first, within the group limits.
func (db *DB) collect(first *publishCall) []*publishCall {
	group := []*publishCall{first}
	events := len(first.events)
	for len(group) < maxBatchCalls && events < maxBatchEvents {
		select {
		case c, ok := <-db.calls:
			if !ok {
				return group
			}
			group = append(group, c)
			events += len(c.events)
		default:
			return group
		}
	}
	return group
}

// commitGroup runs the calls of group in one transaction, each in its own
// savepoint so that one failing call does not fail the others, notifies
// the listeners if messages were enqueued, and commits. Each call learns
// its outcome only after the commit.
func (db *DB) commitGroup(group []*publishCall) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		enqueued := 0
		for _, c := range group {
			n, err := runCall(ctx, tx, c)
			if err != nil {
				return err
			}
			enqueued += n
		}
		if enqueued == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify('pusher_messages', '')`) // sent on commit
		return err
	})
	for _, c := range group {
		if err != nil {
			c.results, c.err = nil, err
		}
		close(c.done)
	}
}

// runCall publishes c's events in a savepoint. A failure of the call is
// recorded in c and rolled back to the savepoint; only an error that
// breaks the transaction (including a deadlock, so that inTx retries the
// group) is returned. It returns how many messages c enqueued.
func runCall(ctx context.Context, tx pgx.Tx, c *publishCall) (int, error) {
	sp, err := tx.Begin(ctx) // a savepoint
	if err != nil {
		return 0, err
	}
	c.results, c.err = publish(ctx, sp, c.events)
	if c.err == nil {
		return enqueuedBy(c.results), sp.Commit(ctx) // releases the savepoint
	}
	if isRetryable(c.err) || isUnavailable(c.err) {
		return 0, c.err
	}
	c.results = nil
	return 0, sp.Rollback(ctx)
}

func enqueuedBy(results []store.PublishResult) int {
	n := 0
	for _, r := range results {
		n += r.Messages
	}
	return n
}
