package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The database belongs to one process, so every handle the suite asks for
// is the same one; the concurrency group races its goroutines.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() store.Store {
		db := open(t, filepath.Join(t.TempDir(), sqlite.FileName))
		return func() store.Store { return db }
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

func TestSecondOpenOfADirectoryIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	first := open(t, path)
	_, err := sqlite.Open(context.Background(), path)
	if !errors.Is(err, sqlite.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	first.Close()
	open(t, path) // the lock went with the first handle
}

// The database and its WAL and shared-memory files hold signing keys and
// payloads: only their owner may read them.
func TestDatabaseFilesArePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlite.FileName)
	db := open(t, path)
	if err := db.Ping(context.Background()); err != nil { // a write: the WAL exists
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", filepath.Join(filepath.Dir(path), sqlite.LockFileName)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode&0o077 != 0 {
			t.Errorf("%s mode %v, want no access for group and others", filepath.Base(p), mode)
		}
	}
}
