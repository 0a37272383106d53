package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// A database written before notices became columns keeps its notices and
// its failing-notice throttle through migration 0003.
func TestMigrationKeepsOldNotices(t *testing.T) {
	ctx := context.Background()
	path, db := migratedTo(t, "0002_queue_stats")
	created := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	mustExec(t, db, `INSERT INTO subscriptions VALUES ('s1', 'org', 'client', 'WEBHOOK', '[]', 'https://x.example/', 'ops@example.com',
		'FAILING', 'key', 1, 1, ?, 1, ?)`, created.UnixMicro(), created.Add(time.Minute).UnixMicro())
	mustExec(t, db, `INSERT INTO notices (kind, subscription_uuid, recipient, data, created_at, next_send_at) VALUES
		('failing', 's1', 'ops@example.com', ?, ?, ?)`, `{"Kind":"failing","To":"ops@example.com","OrganizationUUID":"org",
		"SubscriptionUUID":"s1","Destination":"https://x.example/","EventNames":[],"CreatedAt":"2026-11-30T12:00:00Z",
		"Reason":"HTTP 503 from https://x.example/","NextAttemptAt":"2026-11-30T12:01:00.5Z","DeleteAt":"2026-12-03T11:40:00Z",
		"FailingSince":"0001-01-01T00:00:00Z","HeldMessages":0,"Undelivered":0}`, created.UnixMicro(), created.UnixMicro())
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	store, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ns, err := store.UnsentNotices(ctx)
	if err != nil || len(ns) != 1 {
		t.Fatalf("UnsentNotices = %v, %v", ns, err)
	}
	n := ns[0]
	if n.Kind != webhook.NoticeFailing || n.OrganizationUUID != "org" || n.Destination != "https://x.example/" ||
		!n.NextAttemptAt.Equal(created.Add(time.Minute+500*time.Millisecond)) || !n.FailingSince.IsZero() ||
		n.Reason() != "HTTP 503 from https://x.example/" || n.EventNames == nil {
		t.Errorf("migrated notice = %+v (reason %q)", n, n.Reason())
	}
	subs, _ := store.AllSubscriptions(ctx)
	if len(subs) != 1 || !subs[0].LastFailingNoticeAt.Equal(created) {
		t.Errorf("migrated subscription = %+v, want its last failing notice at %v", subs, created)
	}
}

// migratedTo opens a new database in a temporary directory with the
// migrations up to last applied, and returns its path and the connection,
// closed when the test ends.
func migratedTo(t *testing.T, last string) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mustExec(t, db, `CREATE TABLE migrations (name TEXT PRIMARY KEY) STRICT`)
	names, err := migrationNames()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := applyMigration(context.Background(), db, name); err != nil {
			t.Fatal(err)
		}
		if name == "migrations/"+last+".sql" {
			return path, db
		}
	}
	t.Fatalf("no migration %s", last)
	return "", nil
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// Migration 0006 gives existing subscriptions the default settings, the
// dead letters of subscriptions deleted before it a tombstone, and
// existing attempts their subscription.
func TestMigrationOfTheDeliveryLog(t *testing.T) {
	ctx := context.Background()
	path, db := migratedTo(t, "0005_heartbeat")
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixMicro()
	mustExec(t, db, `INSERT INTO subscriptions (uuid, organization_uuid, client_id, transport_name, event_names, destination,
		contact_email, status, signing_key, created_at, updated_at) VALUES
		('live', 'org', 'client', 'WEBHOOK', '[]', 'https://x.example/', 'ops@example.com', 'ACTIVE', 'key', ?, ?)`, at, at)
	mustExec(t, db, `INSERT INTO events (message_id, organization_uuid, event_name, event_id, message_uuid, payload, timestamp,
		created_at) VALUES ('m1', 'org', 'ProductCreated', 'e1', 'u1', '{}', 't', ?)`, at)
	mustExec(t, db, `INSERT INTO messages (id, message_id, subscription_uuid, state, attempts, created_at, finished_at) VALUES
		(1, 'm1', 'live', 'delivered', 1, ?, ?), (2, 'm1', 'gone', 'dead', 1, ?, ?)`, at, at, at, at+1)
	mustExec(t, db, `INSERT INTO attempts (message_row, started_at, duration_us, status_code, error_class, error_detail,
		response_body) VALUES (1, ?, 1000, 200, '', '', x''), (2, ?, 1000, 500, 'status', '', x'')`, at, at)
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.SubscriptionByUUID(ctx, "live")
	if err != nil || s.Settings != webhook.DefaultSettings() || s.PreviousSigningKey != "" || !s.PreviousKeyExpires.IsZero() {
		t.Errorf("migrated subscription = %+v, %v; want the default settings", s, err)
	}
	d, err := st.DeletedSubscription(ctx, "gone")
	if err != nil || d.OrganizationUUID != "org" || d.ClientID != "" || d.EventNames == nil || d.DeletedAt.UnixMicro() != at+1 {
		t.Errorf("tombstone of a subscription deleted before the migration = %+v, %v", d, err)
	}
	if _, err := st.DeletedSubscription(ctx, "live"); err == nil {
		t.Error("a live subscription got a tombstone")
	}
	for sub, want := range map[string][2]int{"live": {1, 0}, "gone": {0, 1}} {
		stats, err := st.AttemptStats(ctx, sub, time.UnixMicro(at))
		if err != nil || stats.Delivered != want[0] || stats.Failed != want[1] {
			t.Errorf("AttemptStats(%s) = %+v, %v; want %v", sub, stats, err, want)
		}
	}
}
