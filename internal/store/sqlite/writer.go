package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// maxBatch bounds how many writes share one transaction.
const maxBatch = 512

// writeJob is one unit of work for the writer: fn runs inside a savepoint of
// the batch transaction; done receives its error, or the commit error.
type writeJob struct {
	fn   func(tx *sql.Tx) error
	done chan error
}

var errClosed = errors.New("sqlite: store closed")

// write runs fn in the next group-commit transaction and returns once that
// transaction committed (nil) or fn failed (fn's error; its changes are
// rolled back, other writes of the batch are not affected). It waits for
// the outcome even if ctx is cancelled after fn was queued, so a caller
// never reports failure for a write that was committed.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if db.w == nil {
		return errors.New("sqlite: store opened read-only")
	}
	job := writeJob{fn: fn, done: make(chan error, 1)}
	defer func() {
		if recover() != nil { // send on a closed channel: the store is closed
			err = errClosed
		}
	}()
	select {
	case db.jobs <- job:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-job.done
}

// writeLoop runs until Close closes db.jobs and the queued jobs are done.
func (db *DB) writeLoop() {
	defer close(db.stopped)
	for job := range db.jobs {
		batch := []writeJob{job}
	drain:
		for len(batch) < maxBatch {
			select {
			case j, ok := <-db.jobs:
				if !ok {
					break drain
				}
				batch = append(batch, j)
			default:
				break drain
			}
		}
		db.commitBatch(batch)
	}
}

func (db *DB) commitBatch(batch []writeJob) {
	errs := make([]error, len(batch))
	err := db.runBatch(batch, errs)
	for i, j := range batch {
		if err != nil {
			j.done <- err
		} else {
			j.done <- errs[i]
		}
	}
}

// runBatch runs the jobs of one batch in one transaction, each in a
// savepoint; errs receives each job's own error.
func (db *DB) runBatch(batch []writeJob, errs []error) error {
	ctx := context.Background()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	for i, j := range batch {
		if _, err := tx.Exec(`SAVEPOINT job`); err != nil {
			return err
		}
		errs[i] = runJob(j.fn, tx)
		if errs[i] != nil {
			if _, err := tx.Exec(`ROLLBACK TO job`); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(`RELEASE job`); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// runJob runs fn, turning a panic into an error so one bad write cannot
// stop the writer.
func runJob(fn func(tx *sql.Tx) error, tx *sql.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: write panicked: %v", r)
		}
	}()
	return fn(tx)
}
