package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// Migration 0007 makes the notices written before it e-mails.
func TestMigrationOfTheOperatorSink(t *testing.T) {
	ctx := context.Background()
	path, db := migratedTo(t, "0006_delivery_log")
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
