package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Batch limits. A batch takes every queued urgent job (claims, attempt
// results, subscription changes) up to maxBatch, then bulk jobs (publishes)
// until their weight (events) reaches maxBulkWeight, so a flood of ingest
// cannot make a commit, and with it the delivery loop, slow.
const (
	maxBatch      = 512
	maxBulkWeight = 64
	// maxBulkBesideUrgent is the bulk budget of a batch that carries urgent
	// jobs, or follows one that did: a delivery's next claim waits for this
	// commit, so ingest rides along only in small portions then. The
	// recorder's next job is rarely queued yet when a batch is collected
	// (it is waiting for its workers), so the budget stays small for the
	// batch after an urgent one as well; with the full budget, a delivery
	// result arriving just then waited for 64 events and their commit.
	maxBulkBesideUrgent = 8
)

// writeJob is one unit of work for the writer: fn runs in the batch
// transaction, and is undone alone if it fails (see runBatch); done
// receives its error, or the commit error. fn may run twice.
type writeJob struct {
	fn        func(tx *wtx) error
	weight    int
	urgent    bool // came in the urgent lane
	savepoint bool // always run in a savepoint of its own (writeOrRefuse)
	done      chan error
}

var errClosed = errors.New("sqlite: store closed")

// write runs fn as an urgent job in the next group-commit transaction; see
// submit.
func (db *DB) write(ctx context.Context, fn func(tx *wtx) error) error {
	return db.submit(ctx, db.urgent, writeJob{fn: fn, weight: 1, urgent: true})
}

// writeOrRefuse is write for a request that may be refused (a
// subscription not found, one that exists already): fn always runs in a
// savepoint of its own, so a refusal undoes fn alone instead of making the
// whole batch run again (see runBatch).
func (db *DB) writeOrRefuse(ctx context.Context, fn func(tx *wtx) error) error {
	return db.submit(ctx, db.urgent, writeJob{fn: fn, weight: 1, urgent: true, savepoint: true})
}

// writeBulk runs fn, whose size is weight (e.g. events), as a bulk job.
func (db *DB) writeBulk(ctx context.Context, weight int, fn func(tx *wtx) error) error {
	return db.submit(ctx, db.bulk, writeJob{fn: fn, weight: max(weight, 1)})
}

// submit queues job and returns once its transaction committed (nil) or fn
// failed (fn's error; its changes are rolled back, other jobs of the batch
// are not affected). It waits for the outcome even if ctx is cancelled after
// the job was queued, so a caller never reports failure for a write that was
// committed.
func (db *DB) submit(ctx context.Context, lane chan writeJob, job writeJob) error {
	if db.w == nil {
		return errors.New("sqlite: store opened read-only")
	}
	job.done = make(chan error, 1)
	db.closeMu.RLock()
	if db.closing {
		db.closeMu.RUnlock()
		return errClosed
	}
	select {
	case lane <- job:
		db.closeMu.RUnlock()
	case <-ctx.Done():
		db.closeMu.RUnlock()
		return ctx.Err()
	}
	return <-job.done
}

// writeLoop runs batches until stop is closed and both lanes are drained.
func (db *DB) writeLoop() {
	defer close(db.stopped)
	for {
		var first writeJob
		select {
		case first = <-db.urgent:
		case first = <-db.bulk:
		case <-db.stop:
			db.drainAfterStop()
			return
		}
		db.commitBatch(db.collect(first))
	}
}

// collect adds queued jobs to first: urgent ones first, then bulk ones up to
// the weight budget, maxBulkBesideUrgent if this batch or the previous one
// carries urgent jobs. It runs on the writer goroutine only.
func (db *DB) collect(first writeJob) []writeJob {
	batch := []writeJob{first}
	weight, urgent := 0, first.urgent
	if !urgent {
		weight = first.weight
	}
	recent := db.lastUrgent
	defer func() { db.lastUrgent = urgent }()
	for len(batch) < maxBatch {
		select {
		case j := <-db.urgent:
			batch = append(batch, j)
			urgent = true
			continue
		default:
		}
		budget := maxBulkWeight
		if urgent || recent {
			budget = maxBulkBesideUrgent
		}
		if weight >= budget {
			break
		}
		select {
		case j := <-db.bulk:
			batch = append(batch, j)
			weight += j.weight
			continue
		default:
		}
		break
	}
	return batch
}

// drainAfterStop runs the jobs queued before Close.
func (db *DB) drainAfterStop() {
	for {
		select {
		case j := <-db.urgent:
			db.commitBatch(db.collect(j))
		case j := <-db.bulk:
			db.commitBatch(db.collect(j))
		default:
			return
		}
	}
}

func (db *DB) commitBatch(batch []writeJob) {
	errs := make([]error, len(batch))
	wrote, err := db.runBatch(batch, errs)
	db.recordFaults(errs, wrote, err)
	for i, j := range batch {
		if err != nil {
			j.done <- err
		} else {
			j.done <- errs[i]
		}
	}
}

// recordFaults notes whether the batch's writes failed with a fault, or
// stored something (wrote) and so prove the disk takes writes again. A
// batch that changed nothing (Ping, an empty claim) proves nothing.
func (db *DB) recordFaults(errs []error, wrote bool, err error) {
	if err != nil {
		db.faults.record(err)
		return
	}
	for _, e := range errs {
		if isFault(e) {
			db.faults.record(e)
			return
		}
	}
	if wrote {
		db.faults.record(nil)
	}
}

// runBatch runs the jobs of one batch in one transaction; errs receives
// each job's own error, and a job that fails leaves no change behind.
// It reports whether the transaction changed any row.
//
// Jobs of the delivery loop and of ingest rarely fail, so the batch runs
// first without savepoints, which cost two statements per job and a copy of
// every page a job changes; only jobs that may refuse a request
// (writeOrRefuse) get one. If a job without a savepoint fails, that
// transaction is rolled back and the batch runs again with each job in a
// savepoint of its own, so the others commit. Running a job twice is safe:
// a job's function only reads and writes the database and sets its
// results, which the second run sets again.
func (db *DB) runBatch(batch []writeJob, errs []error) (wrote bool, err error) {
	wrote, failed, err := db.runTx(batch, errs, false)
	if err != nil || !failed || len(batch) == 1 {
		return wrote, err // a single failed job: its rollback was all there was to undo
	}
	clear(errs)
	wrote, _, err = db.runTx(batch, errs, true)
	return wrote, err
}

// runTx runs batch in one transaction, each job in a savepoint if isolated
// (or if the job asks for one). Without isolation it stops at the first job
// without a savepoint that fails and rolls back (failed); a job in a
// savepoint that fails is rolled back alone.
func (db *DB) runTx(batch []writeJob, errs []error, isolated bool) (wrote, failed bool, err error) {
	tx, err := db.w.BeginTx(context.Background(), nil)
	if err != nil {
		return false, false, fmt.Errorf("begin: %w", err)
	}
	w := &wtx{tx: tx, stmts: &db.stmts}
	defer func() {
		tx.Rollback() // no-op after Commit
		w.prepareMissed(db.w)
	}()
	var before, after int64
	if err := w.QueryRow(`SELECT total_changes()`).Scan(&before); err != nil {
		return false, false, err
	}
	for i, j := range batch {
		if !isolated && !j.savepoint {
			if errs[i] = runJob(j.fn, w); errs[i] != nil {
				return false, true, nil
			}
			continue
		}
		if err := runIsolated(w, j, &errs[i]); err != nil {
			return false, false, err
		}
	}
	if err := w.QueryRow(`SELECT total_changes()`).Scan(&after); err != nil {
		return false, false, err
	}
	if err := tx.Commit(); err != nil {
		return false, false, fmt.Errorf("commit: %w", err)
	}
	return after > before, false, nil
}

// runIsolated runs j in a savepoint, rolled back if j fails; *jobErr
// receives j's error, the result the savepoint's own.
func runIsolated(w *wtx, j writeJob, jobErr *error) error {
	if _, err := w.Exec(`SAVEPOINT job`); err != nil {
		return err
	}
	if *jobErr = runJob(j.fn, w); *jobErr != nil {
		if _, err := w.Exec(`ROLLBACK TO job`); err != nil {
			return err
		}
	}
	_, err := w.Exec(`RELEASE job`)
	return err
}

// runJob runs fn, turning a panic into an error so one bad write cannot
// stop the writer.
func runJob(fn func(tx *wtx) error, tx *wtx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sqlite: write panicked: %v", r)
		}
	}()
	return fn(tx)
}

// wtx is the writer's transaction. It prepares each distinct query once on
// the writer connection and reuses it: modernc.org/sqlite does not cache
// statements, and parsing SQL was a sixth of the writer's CPU.
//
// The only writer connection is busy with the transaction, so a query seen
// for the first time is prepared for this transaction only and remembered;
// prepareMissed prepares it for good once the transaction is over.
type wtx struct {
	tx     *sql.Tx
	stmts  *sync.Map // query → *sql.Stmt prepared on the writer
	missed []string
}

func (w *wtx) stmt(query string) (*sql.Stmt, error) {
	if s, ok := w.stmts.Load(query); ok {
		return w.tx.Stmt(s.(*sql.Stmt)), nil
	}
	w.missed = append(w.missed, query)
	return w.tx.Prepare(query)
}

// prepareMissed prepares the queries first seen in this transaction; call
// it when the transaction has ended and the connection is free.
func (w *wtx) prepareMissed(db *sql.DB) {
	for _, q := range w.missed {
		if _, ok := w.stmts.Load(q); ok {
			continue
		}
		if s, err := db.Prepare(q); err == nil {
			w.stmts.Store(q, s)
		}
	}
}

// Exec runs a statement in the transaction.
func (w *wtx) Exec(query string, args ...any) (sql.Result, error) {
	s, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.Exec(args...)
}

// Query runs a query in the transaction.
func (w *wtx) Query(query string, args ...any) (*sql.Rows, error) {
	s, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return s.Query(args...)
}

// QueryRow runs a single-row query in the transaction.
func (w *wtx) QueryRow(query string, args ...any) *sql.Row {
	s, err := w.stmt(query)
	if err != nil {
		return w.tx.QueryRow(query, args...) // reports the same error on Scan
	}
	return s.QueryRow(args...)
}
