package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), sqlite.FileName))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestMigrateIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	applied, err := sqlite.Migrate(context.Background(), path)
	if err != nil || len(applied) == 0 {
		t.Fatalf("Migrate = %v, %v; want migrations applied", applied, err)
	}
	again, err := sqlite.Migrate(context.Background(), path)
	if err != nil || len(again) != 0 {
		t.Fatalf("Migrate again = %v, %v; want none", again, err)
	}
}
