package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the pg_advisory_lock key that serializes migrations
// of instances starting together ("pusher" in ASCII).
const migrationLockKey int64 = 0x707573686572

// Migrate applies pending migrations to the database named by dsn and
// returns the names of those it applied, in order (none if it is up to
// date). The error wraps a webhook.Unavailable *webhook.Error if the
// database cannot be reached.
func Migrate(ctx context.Context, dsn string) (applied []string, err error) {
	defer wrap(&err, "postgres.Migrate")
	pool, err := newPool(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	return migrate(ctx, pool)
}

// migrate applies each embedded migration not yet recorded in
// schema_migrations, in name order, each in its own transaction, while
// holding the migration advisory lock on one connection.
func migrate(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return nil, err
	}
	// The lock is a session lock: a connection that breaks releases it.
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey)
	return applyPending(ctx, conn.Conn())
}

// applyPending applies the migrations that schema_migrations lacks.
func applyPending(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY)`); err != nil {
		return nil, err
	}
	rows, _ := conn.Query(ctx, `SELECT name FROM schema_migrations`)
	done, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var applied []string
	for _, name := range names {
		base := path.Base(name)
		if slices.Contains(done, base) {
			continue
		}
		if err := applyMigration(ctx, conn, name); err != nil {
			return applied, fmt.Errorf("migration %s: %w", base, err)
		}
		applied = append(applied, base)
	}
	return applied, nil
}

// applyMigration runs one migration file and records it, in one
// transaction.
func applyMigration(ctx context.Context, conn *pgx.Conn, name string) error {
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, string(body)); err != nil { // no arguments: simple protocol, many statements
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, path.Base(name))
		return err
	})
}
