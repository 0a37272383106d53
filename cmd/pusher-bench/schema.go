package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgSchema is the schema a run on PostgreSQL keeps all its tables in, so
// that every run starts from an empty database.
type pgSchema struct {
	name  string // bench_<random hex>
	admin string // the -database-url as given
	dsn   string // admin with search_path and application_name set to name, for the servers
}

// createSchema creates a fresh schema bench_<random> in the database at
// rawURL, a postgres:// URL.
func createSchema(ctx context.Context, rawURL string) (*pgSchema, error) {
	s := &pgSchema{name: randomSchemaName(), admin: rawURL}
	dsn, err := serverDSN(rawURL, s.name)
	if err != nil {
		return nil, err
	}
	s.dsn = dsn
	if err := s.exec(ctx, "CREATE SCHEMA "+pgx.Identifier{s.name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create schema %s: %w", s.name, err)
	}
	return s, nil
}

// randomSchemaName returns bench_ and 12 lower-case hex digits (unquoted in
// search_path, so it must not need quoting).
func randomSchemaName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "bench_" + hex.EncodeToString(b)
}

// serverDSN returns rawURL with the query parameters search_path=schema and
// application_name=schema, replacing any it had. pgx sends unknown
// parameters as runtime parameters, so every connection of the servers uses
// only that schema, and shows as the run's in pg_stat_activity.
func serverDSN(rawURL, schema string) (string, error) {
	if !strings.HasPrefix(rawURL, "postgres://") && !strings.HasPrefix(rawURL, "postgresql://") {
		return "", fmt.Errorf("-database-url: want a postgres:// URL, as pusher serve does")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("-database-url: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// drop drops the schema and everything in it.
func (s *pgSchema) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.exec(ctx, "DROP SCHEMA "+pgx.Identifier{s.name}.Sanitize()+" CASCADE")
}

// dropAndReport drops the schema and reports a failure on stderr.
func (s *pgSchema) dropAndReport() {
	if err := s.drop(); err != nil {
		fmt.Fprintf(os.Stderr, "pusher-bench: drop schema %s: %v\n", s.name, err)
	}
}

// exec runs one statement on a connection of its own to the admin URL.
func (s *pgSchema) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// backendPIDs returns the processes of the servers' connections: the
// backends whose application_name is the schema's name.
func (s *pgSchema) backendPIDs(ctx context.Context) ([]int, error) {
	conn, err := pgx.Connect(ctx, s.admin)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", s.name)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}
