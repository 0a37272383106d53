package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/postgres"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
)

// databaseURLFlag adds -database-url (PUSHER_DATABASE_URL): a postgres://
// URL selects PostgreSQL; empty keeps the embedded SQLite database in the
// data directory.
func databaseURLFlag(fs *flagSet) *string {
	return fs.string("database-url", "PUSHER_DATABASE_URL", "",
		"PostgreSQL URL (postgres://user:pass@host:5432/db, pool size with ?pool_max_conns=N) for N instances on one database; empty = SQLite in the data directory")
}

// isPostgres reports whether url names a PostgreSQL database.
func isPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// database is an open store and what only some drivers can do.
type database struct {
	store.Store
	// listen, when set, wakes the engine on messages enqueued by other
	// instances (PostgreSQL LISTEN/NOTIFY) until ctx is done.
	listen func(ctx context.Context, wake func()) error
	where  string // for logs: the data directory or the redacted URL
}

// openDatabase opens the store serve and the operator commands use: the
// PostgreSQL database at url, or else the SQLite database in dataDir
// (created if missing).
func openDatabase(ctx context.Context, url, dataDir string) (*database, error) {
	if url != "" {
		if !isPostgres(url) {
			return nil, fmt.Errorf("database-url %q: want a postgres:// URL (or nothing for SQLite)", redactURL(url))
		}
		db, err := postgres.Open(ctx, url)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL %s: %w", redactURL(url), err)
		}
		return &database{Store: db, listen: db.Listen, where: redactURL(url)}, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, sqlite.FileName))
	if errors.Is(err, sqlite.ErrLocked) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("open SQLite in %s: %w", dataDir, err)
	}
	return &database{Store: db, where: dataDir}, nil
}

// redactURL hides the password of a database URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// openForReading opens the configured database for an operator command that
// only reads: PostgreSQL as usual, SQLite read-only without taking the data
// directory, so it works while pusher serve runs.
func openForReading(ctx context.Context, url, dataDir string) (store.Store, error) {
	if url != "" {
		db, err := openDatabase(ctx, url, dataDir)
		if err != nil {
			return nil, err
		}
		return db.Store, nil
	}
	return sqlite.OpenReadOnly(ctx, filepath.Join(dataDir, sqlite.FileName))
}
