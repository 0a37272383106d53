// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go): one file, WAL journal, foreign keys on,
// embedded migrations applied at Open.
//
// All writes go through one writer goroutine that runs every write queued
// while the previous transaction committed in one transaction (group
// commit), so many concurrent requests share one fsync; a write that fails
// is undone alone (see runBatch). Reads use a separate pool of read-only connections.
//
// The database belongs to one process: Open takes an exclusive lock on the
// data directory (LockDir), so a second pusher serve on the same directory
// refuses to start instead of delivering every message twice. Leases of an
// earlier process are returned to the queue when they expire, like any
// other.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a SQLite-backed store.Store. Create it with Open.
type DB struct {
	w *sql.DB // the single writer connection
	r *sql.DB // read-only connections

	unlock func() // releases the data directory lock; nil when read-only
	faults faults // the last failed write, for Ping

	urgent, bulk chan writeJob // the writer's two lanes; see collect
	stmts        sync.Map      // prepared writer statements; see wtx
	lastUrgent   bool          // the writer's last batch carried urgent jobs; see collect (writer goroutine only)

	closeMu   sync.RWMutex // guards closing against submits
	closing   bool
	stop      chan struct{} // closed by Close: the writer drains and exits
	stopped   chan struct{} // closed by the writer when it exited
	closeOnce sync.Once
}

// FileName is the database file name inside the data directory.
const FileName = "pusher.db"

// Open opens (creating if needed) the database file at path, applies pending
// migrations and starts the writer. Close releases it. It fails with
// ErrLocked if another process (or another Open in this one) holds the
// directory of path.
func Open(ctx context.Context, path string) (*DB, error) {
	unlock, err := LockDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	db, err := open(ctx, path)
	if err != nil {
		unlock()
		return nil, err
	}
	db.unlock = unlock
	return db, nil
}

func open(ctx context.Context, path string) (*DB, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	// Savepoint journals stay in temporary files (temp_store is not
	// MEMORY): in memory they made the writer a few percent cheaper, but a
	// replay of 100,000 events doubled the peak RSS (43 → 86 MiB), and a
	// replay's size is the caller's choice.
	w, err := sql.Open("sqlite", dsn(path, "_txlock=immediate", "_pragma=synchronous(FULL)"))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, "_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(4)
	db := &DB{w: w, r: r, urgent: make(chan writeJob, 1024), bulk: make(chan writeJob, 1024),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go db.writeLoop()
	return db, nil
}

// createPrivate creates the database file readable by its owner only, if
// it does not exist yet (SQLite would create it 0644).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

func dsn(path string, extra ...string) string {
	params := append([]string{
		"_pragma=journal_mode(WAL)",
		"_pragma=busy_timeout(10000)",
		"_pragma=foreign_keys(1)",
	}, extra...)
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + strings.Join(params, "&")
}

// Migrate applies pending migrations to the database at path and returns
// the names of those it applied.
func Migrate(ctx context.Context, path string) ([]string, error) {
	w, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, err
	}
	defer w.Close()
	before, err := appliedMigrations(ctx, w)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, w); err != nil {
		return nil, err
	}
	after, err := appliedMigrations(ctx, w)
	if err != nil {
		return nil, err
	}
	var applied []string
	for name := range after {
		if !before[name] {
			applied = append(applied, name)
		}
	}
	sort.Strings(applied)
	return applied, nil
}

// migrate applies each embedded migration not yet recorded in the
// migrations table, in name order, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	done, err := appliedMigrations(ctx, db)
	if err != nil {
		return err
	}
	names, err := migrationNames()
	if err != nil {
		return err
	}
	for _, name := range names {
		if done[filepath.Base(name)] {
			continue
		}
		if err := applyMigration(ctx, db, name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// migrationNames returns the paths of the embedded migrations in the order
// they apply.
func migrationNames() ([]string, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	return names, err
}

func appliedMigrations(ctx context.Context, db *sql.DB) (map[string]bool, error) {
	done := map[string]bool{}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY) STRICT`); err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, `SELECT name FROM migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		done[name] = true
	}
	return done, rows.Err()
}

func applyMigration(ctx context.Context, db *sql.DB, name string) error {
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name) VALUES (?)`, filepath.Base(name)); err != nil {
		return err
	}
	return tx.Commit()
}

// Ping checks that both the reader and the writer answer, and that the
// last write that stored something did not fail for a fault of the
// database or its disk (full, read-only, I/O error); after such a fault it
// writes a heartbeat row to see whether writes work again.
func (db *DB) Ping(ctx context.Context) (err error) {
	defer wrap(&err, "sqlite.Ping")
	if db.faults.last() != nil {
		// A write failed for a fault: try a real one, so readiness comes back
		// once the disk takes writes again even if nothing else writes.
		if err := db.write(ctx, heartbeat); err != nil {
			return err
		}
		if err := db.faults.last(); err != nil {
			return err
		}
	}
	if err := db.r.PingContext(ctx); err != nil {
		return err
	}
	return db.write(ctx, func(tx *wtx) error { return nil })
}

// Close stops the writer after the queued writes and closes the database.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		db.closeMu.Lock()
		db.closing = true
		db.closeMu.Unlock()
		close(db.stop)
		<-db.stopped
		db.stmts.Range(func(_, s any) bool { s.(*sql.Stmt).Close(); return true })
		err = db.r.Close()
		if db.w != nil {
			err = errors.Join(err, db.w.Close())
		}
		if db.unlock != nil {
			db.unlock()
		}
	})
	return err
}

// heartbeat rewrites the one heartbeat row.
func heartbeat(tx *wtx) error {
	_, err := tx.Exec(`INSERT INTO heartbeat (id, beats) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET beats = beats + 1`)
	return err
}

// wrap prefixes a non-nil *errp with the method and its key argument, so a
// logged error says which store call failed; errors.As still finds the
// *webhook.Error inside.
func wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), unavailableIfFault(*errp))
	}
}

// OpenReadOnly opens an existing database for reading only, without
// migrating or touching leases, so operator commands can inspect the
// database of a running server. Writes return an error.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(path, "_pragma=query_only(1)"))
	if err != nil {
		return nil, err
	}
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		return nil, err
	}
	db := &DB{r: r, stop: make(chan struct{}), stopped: make(chan struct{})}
	close(db.stopped)
	return db, nil
}
