package main

import (
	"context"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestServerDSN(t *testing.T) {
	got, err := serverDSN("postgres://u:p%40w@h:5432/db?sslmode=disable&search_path=old", "bench_ab")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(got)
	if q := u.Query(); q.Get("search_path") != "bench_ab" || q.Get("application_name") != "bench_ab" || q.Get("sslmode") != "disable" {
		t.Errorf("query %v", q)
	}
	if p, _ := u.User.Password(); p != "p@w" || u.Host != "h:5432" || u.Path != "/db" {
		t.Errorf("URL %s", got)
	}
	if _, err := serverDSN("host=h dbname=db", "bench_ab"); err == nil {
		t.Error("key=value DSN accepted")
	}
}

// TestSchema needs PUSHER_TEST_POSTGRES: the schema is created, is the only
// one the DSN's connections see, and is dropped.
func TestSchema(t *testing.T) {
	admin := os.Getenv("PUSHER_TEST_POSTGRES")
	if admin == "" {
		t.Skip("PUSHER_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	s, err := createSchema(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := conn.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 't'").Scan(&schema); err != nil || schema != s.name {
		t.Errorf("table in schema %q (%v), want %s", schema, err, s.name)
	}
	conn.Close(ctx)
	if err := s.drop(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", s.name).Scan(&n); err != nil || n != 0 {
		t.Errorf("schema %s still there (%d, %v)", s.name, n, err)
	}
}
