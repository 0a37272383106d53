package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/pgtest"
	"github.com/pusher-hq/pusher/internal/store/postgres"
	"github.com/pusher-hq/pusher/internal/store/storetest"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// TestConformance runs the suite with a fresh schema per case; every handle
// of a case is a DB of its own on that schema, as N instances would be.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() store.Store {
		dsn := pgtest.DSN(t)
		return func() store.Store { return pgtest.OpenDSN(t, dsn) }
	})
}

var ctx = context.Background()

const org = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"

func TestListenWakesAnotherInstance(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := pgtest.OpenDSN(t, dsn), pgtest.OpenDSN(t, dsn)
	listenCtx, stop := context.WithCancel(ctx)
	woken := make(chan struct{}, 100)
	returned := make(chan error, 1)
	go func() {
		returned <- b.Listen(listenCtx, func() { woken <- struct{}{} })
	}()
	waitWake(t, woken, "Listen did not wake once listening")
	create(t, a, "s1")
	ev := newEvent(webhook.ProductCreated, "1", `{}`)
	for len(woken) > 0 { // wake-ups of other tests' publishes on this server
		<-woken
	}
	if res, err := a.Publish(ctx, []store.Event{ev}); err != nil || res[0].Messages != 1 {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	waitWake(t, woken, "a publish on another handle did not wake Listen")
	stop()
	select {
	case err := <-returned:
		if err != nil {
			t.Errorf("Listen returned %v after its context was done, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not return after its context was done")
	}
}

func waitWake(t *testing.T, woken <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal(msg)
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Go(func() {
			db, err := postgres.Open(ctx, dsn)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE name = '0001_init.sql'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("0001_init.sql recorded %d times, %v; want once", n, err)
	}
	if applied, err := postgres.Migrate(ctx, dsn); err != nil || len(applied) != 0 {
		t.Errorf("Migrate after Open = %v, %v; want nothing to apply", applied, err)
	}
}

func TestMigrateAppliesOnce(t *testing.T) {
	dsn := pgtest.DSN(t)
	applied, err := postgres.Migrate(ctx, dsn)
	if err != nil || len(applied) == 0 || applied[0] != "0001_init.sql" {
		t.Fatalf("Migrate = %v, %v; want 0001_init.sql first", applied, err)
	}
	if again, err := postgres.Migrate(ctx, dsn); err != nil || len(again) != 0 {
		t.Errorf("Migrate again = %v, %v; want none", again, err)
	}
}

func TestOpenUnreachableIsUnavailable(t *testing.T) {
	pgtest.DSN(t) // skips without a server, like the other tests
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = postgres.Open(ctx, "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	if !webhook.IsCode(err, webhook.Unavailable) {
		t.Errorf("Open(closed port) = %v, want code %s", err, webhook.Unavailable)
	}
}

// TestServerGoneIsUnavailable connects through a TCP proxy, then stops the
// proxy: the pool's connections break and new ones are refused.
func TestServerGoneIsUnavailable(t *testing.T) {
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	u.Host = p.addr()
	db := pgtest.OpenDSN(t, u.String())
	create(t, db, "s1")
	p.stop()
	checks := map[string]func() error{
		"Subscriptions": func() error { _, err := db.Subscriptions(ctx, org, "c"); return err },
		"ClaimMessages": func() error {
			_, err := db.ClaimMessages(ctx, store.ClaimParams{Now: t0, Limit: 1, PerSubscription: 1, LeaseFor: time.Minute})
			return err
		},
		"Ping": func() error { return db.Ping(ctx) },
	}
	for name, call := range checks {
		err := call()
		var we *webhook.Error
		if !errors.As(err, &we) || we.Code != webhook.Unavailable || we.Message != "Database unavailable, retry later" {
			t.Errorf("%s with the server gone = %v, want code %s", name, err, webhook.Unavailable)
		}
	}
}

func TestPublishAfterCloseFails(t *testing.T) {
	db := pgtest.Open(t)
	db.Close()
	ev := newEvent(webhook.ProductCreated, "1", `{}`)
	if _, err := db.Publish(ctx, []store.Event{ev}); err == nil {
		t.Error("Publish after Close succeeded, want an error")
	}
}

// proxy forwards TCP connections to a target until stopped.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		go io.Copy(up, down)
		go io.Copy(down, up)
	}
}

// stop closes the listener and every forwarded connection.
func (p *proxy) stop() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// terminate ends every server connection opened with dsn and returns how
// many there were.
func terminate(t *testing.T, dsn string) int {
	t.Helper()
	admin, err := pgx.Connect(ctx, pgtest.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, pgtest.ApplicationName(dsn)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRecoversAfterConnectionsAreTerminated: once the server ends the
// pool's connections (as in a restart), calls fail with Unavailable at
// worst, and soon succeed again on new connections.
func TestRecoversAfterConnectionsAreTerminated(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := pgtest.OpenDSN(t, dsn)
	create(t, db, "s1")
	if n := terminate(t, dsn); n == 0 {
		t.Fatal("no connection to terminate")
	}
	for i := range 2 {
		_, err := db.Publish(ctx, []store.Event{newEvent(webhook.ProductCreated, fmt.Sprint(i), `{}`)})
		t.Logf("Publish %d after the connections were terminated: %v", i, err)
		if err != nil && !webhook.IsCode(err, webhook.Unavailable) {
			t.Errorf("Publish after the connections were terminated = %v, want nil or code %s", err, webhook.Unavailable)
		}
	}
	if _, err := db.Subscriptions(ctx, org, "c"); err != nil {
		t.Errorf("Subscriptions on new connections = %v", err)
	}
}

func TestListenReconnects(t *testing.T) {
	dsn := pgtest.DSN(t)
	db := pgtest.OpenDSN(t, dsn)
	create(t, db, "s1")
	listenCtx, stop := context.WithCancel(ctx)
	defer stop()
	woken := make(chan struct{}, 100)
	go db.Listen(listenCtx, func() { woken <- struct{}{} })
	waitWake(t, woken, "Listen did not wake once listening")
	terminate(t, dsn)
	waitWake(t, woken, "Listen did not listen again after its connection was terminated")
	ev := newEvent(webhook.ProductCreated, "1", `{}`)
	if _, err := db.Publish(ctx, []store.Event{ev}); err != nil { // the pool's connection was terminated too
		if _, err := db.Publish(ctx, []store.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	waitWake(t, woken, "a publish did not wake the reconnected Listen")
}
