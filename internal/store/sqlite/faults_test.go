package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// smallDisk mounts a 4 MiB tmpfs for the test; it needs root, and skips
// without.
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fill writes a ballast file until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// A full disk: publishes fail with Unavailable (503 with Retry-After at the
// API) and Ping fails, nothing acknowledged is lost, and once there is
// space again pusher resumes by itself.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	dir := smallDisk(t)
	db := open(t, filepath.Join(dir, "pusher.db"))
	sub := &webhook.Subscription{UUID: "f02f80f8-8f35-11eb-8dcd-0242ac130003", OrganizationUUID: "org", ClientID: "c",
		TransportName: webhook.TransportWebhook, Destination: "https://x.example/", ContactEmail: "ops@example.com",
		Status: webhook.Active, SigningKey: "k", Created: time.Now(), Updated: time.Now()}
	if err := db.CreateSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	publish := func(i int) error {
		id := fmt.Sprint("e", i)
		mid := webhook.MessageID("org", webhook.ProductCreated, id)
		_, err := db.Publish(ctx, []store.Event{{SourceEventName: webhook.ProductCreated, EventID: id, Now: time.Now(),
			Envelope: webhook.NewEnvelope("org", webhook.ProductCreated, mid, fmt.Sprintf(`{"pad":"%01000d"}`, i), time.Now())}})
		return err
	}
	acked := 0
	for ; acked < 10; acked++ {
		if err := publish(acked); err != nil {
			t.Fatal(err)
		}
	}
	fill(t, filepath.Join(dir, "ballast"))
	var err error
	i := acked
	for ; i < acked+5000; i++ {
		if err = publish(i); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("5000 publishes fitted on a full disk")
	}
	acked = i
	t.Logf("disk full after %d events: %v", acked, err)
	if !webhook.IsCode(err, webhook.Unavailable) {
		t.Errorf("publish on a full disk = %v, want code Unavailable", err)
	}
	if err := db.Ping(ctx); !webhook.IsCode(err, webhook.Unavailable) {
		t.Errorf("Ping on a full disk = %v, want Unavailable", err)
	}

	os.Remove(filepath.Join(dir, "ballast"))
	if err := db.Ping(ctx); err != nil { // ready again although nothing else wrote yet
		t.Errorf("Ping after space was freed = %v, want nil", err)
	}
	if err := publish(acked); err != nil {
		t.Fatalf("publish after space was freed = %v, want success", err)
	}
	acked++
	ms, err := db.Messages(ctx, sub.UUID, "")
	if err != nil || len(ms) != acked {
		t.Errorf("%d messages stored, %v; want the %d acknowledged", len(ms), err, acked)
	}
}
