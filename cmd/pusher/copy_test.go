package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store/pgtest"
	"github.com/pusher-hq/pusher/internal/store/postgres"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// A SQLite installation with live state — an ACTIVE subscription with
// delivered history, a FAILING one with a backlog and an unsent notice —
// moves to PostgreSQL with pusher copy, and deliveries continue there: no
// message lost, none repeated. copy refuses while serve runs and can be
// re-run.
func TestCopySQLiteToPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	key, err := auth.LoadOrCreateLocalKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	org := testOrg
	subTok, _ := key.Mint(auth.Claims{OrganizationUUID: org, ClientID: "copy-test", Scope: subscriberScopes}, time.Now(), time.Hour)
	pubTok, _ := key.Mint(auth.Claims{ClientID: "producer", Scope: []string{auth.ScopePublish}}, time.Now(), time.Hour)
	healthy, failing := webhooktest.NewServer(t), webhooktest.NewServer(t)

	url, stop := startServe(t, dataDir, "-retry-schedule", "50x200ms")
	createSubscription(t, url, subTok, healthy.URL)
	createSubscription(t, url, subTok, failing.URL)
	failing.SetStatus(http.StatusServiceUnavailable)
	events := crashEvents(org, 20)
	if _, err := postEvents(url, pubTok, events[:10]); err != nil {
		t.Fatal(err)
	}
	waitForCond(t, "the first 10 to reach the healthy receiver", func() bool { return healthy.Distinct() == 10 })
	if _, err := postEvents(url, pubTok, events[10:]); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	err = run(context.Background(), []string{"copy", "--from", filepath.Join(dataDir, "pusher.db"), "--to", dsn}, envMap(nil), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "refusing to copy while pusher serve runs") {
		t.Fatalf("copy while serve runs = %v, want a refusal", err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	first := runCmd(t, "copy", "--from", filepath.Join(dataDir, "pusher.db"), "--to", dsn)
	t.Logf("pusher copy:\n%s", first)
	if !strings.Contains(first, "subscriptions: 2 copied, 0 already there") || !strings.Contains(first, "notices: 1 copied") {
		t.Errorf("copy output lacks the counts:\n%s", first)
	}
	again := runCmd(t, "copy", "--from", dataDir, "--to", dsn)
	if !strings.Contains(again, "subscriptions: 0 copied, 2 already there") || !strings.Contains(again, "messages: 0 copied") {
		t.Errorf("second copy copied something again:\n%s", again)
	}

	failing.SetStatus(http.StatusOK)
	healthyBefore := healthy.Distinct()
	startServe(t, filepath.Join(t.TempDir(), "pg-data"), "-database-url", dsn, "-retry-schedule", "50x200ms")
	waitForCond(t, "all 20 messages at both receivers", func() bool {
		return healthy.Distinct() == 20 && failing.Distinct() == 20
	})
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	waitForCond(t, "an empty queue (nothing left that could be sent again)", func() bool {
		qs, err := db.QueueStats(context.Background())
		return err == nil && qs.Pending == 0 && qs.Leased == 0
	})
	if d, total := healthy.Delivered(); d != 20 || total != 20 {
		t.Errorf("healthy receiver: %d distinct, %d deliveries (had %d before the move); want 20 and 20", d, total, healthyBefore)
	}
	if d, total := failing.Delivered(); d != 20 || total != 20 {
		t.Errorf("failing receiver: %d distinct, %d deliveries; want 20 and 20", d, total)
	}
}

func waitForCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after 20 s waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
