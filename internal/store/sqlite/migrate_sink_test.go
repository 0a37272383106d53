package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// Migration 0007 makes the notices written before it e-mails.
func TestMigrationOfTheOperatorSink(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustExec(t, db, `CREATE TABLE migrations (name TEXT PRIMARY KEY) STRICT`)
	for _, name := range []string{"0001_init", "0002_queue_stats", "0003_rules_out_of_driver", "0004_isolation",
		"0005_heartbeat", "0006_delivery_log"} {
		if err := applyMigration(ctx, db, "migrations/"+name+".sql"); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixMicro()
	mustExec(t, db, `INSERT INTO notices (kind, subscription_uuid, organization_uuid, recipient, destination, event_names,
		created_at, next_send_at) VALUES ('failing', 's', 'org', 'ops@example.com', 'https://x.example/', '[]', ?, ?)`, at, at)
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ns, err := st.UnsentNotices(ctx)
	if err != nil || len(ns) != 1 || ns[0].Channel != webhook.ChannelEmail || !ns[0].PreviousKeyExpires.IsZero() {
		t.Errorf("notices after the migration = %+v, %v; want the e-mail", ns, err)
	}
}
