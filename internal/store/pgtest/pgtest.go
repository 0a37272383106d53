// Package pgtest gives tests a fresh PostgreSQL schema of their own in the
// database named by the environment variable PUSHER_TEST_POSTGRES (a
// postgres:// URL of a role that may create schemas), and skips them when
// it is not set. .ci/postgres starts a throwaway server for it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pusher-hq/pusher/internal/store/postgres"
)

// EnvVar names the database tests use.
const EnvVar = "PUSHER_TEST_POSTGRES"

// DSN creates an empty schema with a random name in the database of
// PUSHER_TEST_POSTGRES, drops it (CASCADE) when t ends, and returns the DSN
// with search_path set to it, so every connection opened with the DSN
// works in the schema, and application_name set to the schema name, so a
// test can find its connections in pg_stat_activity (see ApplicationName).
// It skips t when PUSHER_TEST_POSTGRES is not set and fails t when the
// schema cannot be created.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Skip(SkipNotice)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	exec(t, base, `CREATE SCHEMA `+schema)
	t.Cleanup(func() { exec(t, base, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	return WithParam(t, WithParam(t, base, "search_path", schema), "application_name", schema)
}

// SkipNotice is why a PostgreSQL test is skipped when PUSHER_TEST_POSTGRES
// is not set.
const SkipNotice = EnvVar + " not set: skipping PostgreSQL tests"

// ApplicationName returns the application_name a DSN from DSN gives its
// connections; "" if dsn cannot be parsed or sets none.
func ApplicationName(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return cfg.RuntimeParams["application_name"]
}

// AdminDSN returns PUSHER_TEST_POSTGRES itself, for a connection outside
// the test schemas (e.g. to terminate a test's connections); "" when it is
// not set.
func AdminDSN() string { return os.Getenv(EnvVar) }

// Open opens a store on a fresh schema (see DSN) and closes it when t
// ends; it fails t if Open fails.
func Open(t testing.TB) *postgres.DB {
	t.Helper()
	return OpenDSN(t, DSN(t))
}

// OpenDSN opens a store on dsn and closes it when t ends; it fails t if
// Open fails.
func OpenDSN(t testing.TB, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// WithParam returns dsn, a postgres:// URL or a key=value string, with the
// parameter key set to value; it fails t on a URL it cannot parse.
func WithParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return dsn + " " + key + "=" + value
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// exec runs one statement on its own connection to dsn, failing t on error.
func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
