package secrets_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/secrets"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/store/storetest"
	"github.com/pusher-hq/pusher/internal/webhook"
)

const (
	keyA = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	keyB = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=" // base64 of bytes 32…63
)

func sealer(t *testing.T, current string, old ...string) *secrets.Sealer {
	t.Helper()
	s, err := secrets.NewSealer(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// openSQLite opens a SQLite store in a temporary directory, closed when
// the test ends.
func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSealOpen(t *testing.T) {
	a := sealer(t, keyA)
	sealed, err := a.Seal("signing-key")
	if err != nil || !secrets.IsSealed(sealed) || strings.Contains(sealed, "signing-key") {
		t.Fatalf("Seal = %q, %v", sealed, err)
	}
	if again, _ := a.Seal("signing-key"); again == sealed {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if plain, err := a.Open(sealed); err != nil || plain != "signing-key" {
		t.Errorf("Open = %q, %v", plain, err)
	}
	if plain, err := a.Open("stored-before-encryption"); err != nil || plain != "stored-before-encryption" {
		t.Errorf("Open(plain) = %q, %v; want it as it is", plain, err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := a.Open(tampered); err == nil {
		t.Error("a tampered value opened")
	}
	if _, err := sealer(t, keyB).Open(sealed); err == nil || !strings.Contains(err.Error(), "PUSHER_SECRET_KEY_OLD") {
		t.Errorf("Open with another key = %v, want an error naming PUSHER_SECRET_KEY_OLD", err)
	}
	rotated := sealer(t, keyB, keyA)
	if plain, err := rotated.Open(sealed); err != nil || plain != "signing-key" {
		t.Errorf("after rotation Open(old value) = %q, %v", plain, err)
	}
	if _, err := secrets.NewSealer("too-short"); err == nil || strings.Contains(err.Error(), "too-short") {
		t.Errorf("NewSealer(bad key) = %v, want an error that does not quote the key", err)
	}
}

// The store contract holds through the wrapper.
func TestConformanceThroughSealingStore(t *testing.T) {
	s := sealer(t, keyA)
	storetest.Run(t, func(t *testing.T) func() store.Store {
		db := openSQLite(t)
		return func() store.Store { return secrets.Store{Store: db, Sealer: s} }
	})
}

// What reaches the database is sealed; deliveries get the plain key.
func TestSigningKeysAreSealedAtRest(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	st := secrets.Store{Store: db, Sealer: sealer(t, keyA)}
	now := time.Now()
	sub := &webhook.Subscription{UUID: "f02f80f8-8f35-11eb-8dcd-0242ac130003", OrganizationUUID: "org", ClientID: "c",
		TransportName: webhook.TransportWebhook, Destination: "https://x.example/", ContactEmail: "ops@example.com",
		Status: webhook.Active, SigningKey: "the-key", Created: now, Updated: now}
	if err := st.CreateSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	raw, _ := db.AllSubscriptions(ctx)
	if len(raw) != 1 || !secrets.IsSealed(raw[0].SigningKey) {
		t.Fatalf("stored signing key %q, want it sealed", raw[0].SigningKey)
	}
	mid := webhook.MessageID("org", webhook.ProductCreated, "e1")
	st.Publish(ctx, []store.Event{{SourceEventName: webhook.ProductCreated, EventID: "e1", Now: now,
		Envelope: webhook.NewEnvelope("org", webhook.ProductCreated, mid, `{}`, now)}})
	ds, err := st.ClaimMessages(ctx, store.ClaimParams{Now: now, Limit: 1, PerSubscription: 1, LeaseFor: time.Minute})
	if err != nil || len(ds) != 1 || ds[0].SigningKey != "the-key" {
		t.Errorf("claimed %+v, %v; want the plain key for signing", ds, err)
	}
	if got, _ := st.Subscription(ctx, "org", "c", sub.UUID); got.SigningKey != "the-key" {
		t.Errorf("Subscription key = %q", got.SigningKey)
	}
	if sub.SigningKey != "the-key" {
		t.Error("CreateSubscription changed the caller's subscription")
	}
}

// A key that does not open never reaches the signer: that delivery is left
// out (with an error), the others of the claim are delivered with their
// plain keys. A server without PUSHER_SECRET_KEY refuses sealed keys too.
func TestUnopenableKeysAreNotSignedWith(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	sealedWithA := secrets.Store{Store: db, Sealer: sealer(t, keyA)}
	now := time.Now()
	for i, uuid := range []string{"a1000000-8f35-11eb-8dcd-0242ac130003", "b2000000-8f35-11eb-8dcd-0242ac130003"} {
		st := store.Store(db) // the second one stored before encryption was on
		if i == 0 {
			st = sealedWithA
		}
		if err := st.CreateSubscription(ctx, &webhook.Subscription{UUID: uuid, OrganizationUUID: "org", ClientID: "c",
			TransportName: webhook.TransportWebhook, Destination: "https://x.example/", ContactEmail: "ops@example.com",
			Status: webhook.Active, SigningKey: "plain-" + uuid[:2], Created: now, Updated: now}); err != nil {
			t.Fatal(err)
		}
	}
	mid := webhook.MessageID("org", webhook.ProductCreated, "e1")
	db.Publish(ctx, []store.Event{{SourceEventName: webhook.ProductCreated, EventID: "e1", Now: now,
		Envelope: webhook.NewEnvelope("org", webhook.ProductCreated, mid, `{}`, now)}})
	for name, s := range map[string]*secrets.Sealer{"another key": sealer(t, keyB), "no key": secrets.Unsealed()} {
		st := secrets.Store{Store: db, Sealer: s}
		ds, err := st.ClaimMessages(ctx, store.ClaimParams{Now: now, Limit: 10, PerSubscription: 1, LeaseFor: time.Millisecond})
		if err == nil || len(ds) != 1 || ds[0].SigningKey != "plain-b2" {
			t.Errorf("%s: claimed %d (%v), %v; want only the plain-key message and an error for the other", name, len(ds), ds, err)
		}
		db.ReleaseLeases(ctx, now.Add(time.Second))
	}
}

// The previous signing key of a rotation is sealed at rest too, on every
// write (SaveSigning, CreateSubscription, Import), and opened on every read
// and claim.
func TestPreviousSigningKeysAreSealedAtRest(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t)
	st := secrets.Store{Store: db, Sealer: sealer(t, keyA)}
	now := time.Now()
	sub := &webhook.Subscription{UUID: "f02f80f8-8f35-11eb-8dcd-0242ac130003", OrganizationUUID: "org", ClientID: "c",
		TransportName: webhook.TransportWebhook, Destination: "https://x.example/", ContactEmail: "ops@example.com",
		Status: webhook.Active, SigningKey: "first-key", Created: now, Updated: now, Settings: webhook.DefaultSettings()}
	if err := st.CreateSubscription(ctx, sub); err != nil {
		t.Fatal(err)
	}
	rotated := *sub
	rotated.Rotate("second-key", now, time.Hour)
	if err := st.SaveSigning(ctx, &rotated); err != nil {
		t.Fatal(err)
	}
	if rotated.SigningKey != "second-key" || rotated.PreviousSigningKey != "first-key" {
		t.Error("SaveSigning changed the caller's subscription")
	}
	raw, err := db.SubscriptionByUUID(ctx, sub.UUID)
	if err != nil || !secrets.IsSealed(raw.SigningKey) || !secrets.IsSealed(raw.PreviousSigningKey) {
		t.Fatalf("stored keys %q / %q, %v; want both sealed", raw.SigningKey, raw.PreviousSigningKey, err)
	}
	check := func(where string, s *webhook.Subscription, err error) {
		t.Helper()
		if err != nil || s.SigningKey != "second-key" || s.PreviousSigningKey != "first-key" {
			t.Errorf("%s = %+v, %v; want the plain keys", where, s, err)
		}
	}
	byUUID, err := st.SubscriptionByUUID(ctx, sub.UUID)
	check("SubscriptionByUUID", byUUID, err)
	orgSubs, err := st.OrganizationSubscriptions(ctx, "org")
	if len(orgSubs) != 1 {
		t.Fatalf("OrganizationSubscriptions = %v, %v", orgSubs, err)
	}
	check("OrganizationSubscriptions", orgSubs[0], err)
	one, err := st.Subscription(ctx, "org", "c", sub.UUID)
	check("Subscription", one, err)
	mid := webhook.MessageID("org", webhook.ProductCreated, "e1")
	st.Publish(ctx, []store.Event{{SourceEventName: webhook.ProductCreated, EventID: "e1", Now: now,
		Envelope: webhook.NewEnvelope("org", webhook.ProductCreated, mid, `{}`, now)}})
	ds, err := st.ClaimMessages(ctx, store.ClaimParams{Now: now, Limit: 1, PerSubscription: 1, LeaseFor: time.Minute})
	if err != nil || len(ds) != 1 || ds[0].SigningKey != "second-key" || ds[0].PreviousSigningKey != "first-key" {
		t.Errorf("claimed %+v, %v; want both plain keys for signing", ds, err)
	}
	db.ReleaseLeases(ctx, now.Add(time.Hour))
	other := secrets.Store{Store: db, Sealer: sealer(t, keyB)}
	if ds, err := other.ClaimMessages(ctx, store.ClaimParams{Now: now, Limit: 1, PerSubscription: 1, LeaseFor: time.Minute}); err == nil || len(ds) != 0 {
		t.Errorf("claim with the wrong key = %+v, %v; want the delivery left out with an error", ds, err)
	}
}
