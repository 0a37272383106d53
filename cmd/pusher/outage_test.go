package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/store/pgtest"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// While PostgreSQL drops every connection of pusher for a while (as in a
// restart), ingest answers 503 with Retry-After and /readyz 503; once the
// database is back pusher recovers by itself and every acknowledged event
// is delivered.
func TestPostgresOutage(t *testing.T) {
	dsn := pgtest.DSN(t)
	app := pgtest.ApplicationName(dsn)
	dataDir := filepath.Join(t.TempDir(), "data")
	key, err := auth.LoadOrCreateLocalKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	subTok, _ := key.Mint(auth.Claims{OrganizationUUID: testOrg, ClientID: "outage", Scope: subscriberScopes}, time.Now(), time.Hour)
	pubTok, _ := key.Mint(auth.Claims{ClientID: "producer", Scope: []string{auth.ScopePublish}}, time.Now(), time.Hour)
	rcv := webhooktest.NewServer(t)
	url, _ := startServe(t, dataDir, "-database-url", dsn, "-delivery-timeout", "2s", "-lease-timeout", "3s")
	createSubscription(t, url, subTok, rcv.URL)

	admin, err := pgx.Connect(context.Background(), pgtest.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	killed := make(chan int)
	go func() { // terminate pusher's connections, new ones too, for 2 s
		n := 0
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
			var k int
			admin.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1`, app).Scan(&k)
			n += k
			time.Sleep(10 * time.Millisecond)
		}
		killed <- n
	}()

	acked := newAckSet()
	events := crashEvents(testOrg, 200)
	unavailable, retryAfter := 0, true
	for i := 0; i < len(events); {
		res, status, header := postEventsStatus(t, url, pubTok, events[i:i+10])
		switch status {
		case http.StatusAccepted:
			acked.add(res.MessageIDs)
			i += 10
		case http.StatusServiceUnavailable:
			unavailable++
			retryAfter = retryAfter && header.Get("Retry-After") != ""
			time.Sleep(50 * time.Millisecond)
		default:
			t.Fatalf("publish during the outage answered %d; want 202 or 503", status)
		}
	}
	terminated := <-killed
	t.Logf("terminated %d connections; %d publishes answered 503", terminated, unavailable)
	if terminated == 0 {
		t.Fatal("no connection of pusher was terminated: the outage did not happen")
	}
	if !retryAfter {
		t.Error("a 503 had no Retry-After")
	}
	waitForCond(t, "every acknowledged event delivered", func() bool { return rcv.Distinct() == acked.len() })
	if resp, err := http.Get(url + "/readyz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("readyz after the outage = %v, %v; want 200", resp, err)
	}
}

// postEventsStatus posts one batch and returns the answer whatever its
// status; a transport error fails the test.
func postEventsStatus(t *testing.T, base, token string, events []simulate.Event) (ingestResponse, int, http.Header) {
	t.Helper()
	body, err := json.Marshal(events)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := crashClient.Do(req)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer resp.Body.Close()
	var res ingestResponse
	if resp.StatusCode == http.StatusAccepted {
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
	}
	return res, resp.StatusCode, resp.Header
}
