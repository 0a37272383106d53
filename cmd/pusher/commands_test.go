package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestListenVerifiesSignatures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := signing.NewKey()
	out := &webhooktest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"listen", "-addr", "127.0.0.1:0", "-signing-key", key, "-status", "202"}, envMap(nil), out, io.Discard)
	}()
	waitFor(t, "listen to start", func() bool { return strings.Contains(out.String(), "listening on") })
	line := out.String()
	url := strings.Fields(line[strings.Index(line, "http://"):])[0]

	env := webhook.NewEnvelope(testOrg, "ProductCreated", webhook.MessageID(testOrg, "ProductCreated", "1"), `{"uuid":"x"}`, time.Now())
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(env.Bytes()))
		req.Header.Set(signing.Header, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post(signing.Sign(key, env.Timestamp, env.Payload)); status != 202 {
		t.Errorf("listen answered %d, want the --status 202", status)
	}
	post(signing.Sign("another key", env.Timestamp, env.Payload))
	waitFor(t, "two deliveries printed", func() bool { return strings.Count(out.String(), "ProductCreated") == 2 })
	if !strings.Contains(out.String(), "signature=ok") || !strings.Contains(out.String(), "signature=BAD") {
		t.Errorf("listen output lacks signature=ok and signature=BAD:\n%s", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("listen returned %v after Ctrl-C", err)
	}
}

func TestSimulateDeliversToSubscribers(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	url, _ := startServe(t, dataDir)
	rcv := webhooktest.NewServer(t)
	rcvURL := rcv.URL + "/hook"
	token := runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", "demo")
	req, _ := http.NewRequest("POST", url+"/organizations/self/subscriptions", strings.NewReader(`{"uuid":"f02f80f8-8f35-11eb-8dcd-0242ac130003",
		"transportName":"WEBHOOK","eventNames":[],"destination":"`+rcvURL+`","contactEmail":"ops@shop.example"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("create = %v, %v", resp, err)
	}
	resp.Body.Close()

	out := runCmd(t, "simulate", "-server", url, "-data-dir", dataDir, "-orgs", testOrg, "-rate", "0", "-count", "40", "-seed", "7")
	if !strings.Contains(out, "40 acknowledged") {
		t.Errorf("simulate summary lacks '40 acknowledged':\n%s", out)
	}
	waitFor(t, "40 events delivered", func() bool { return len(rcv.Deliveries()) >= 40 })
	names := map[string]int{}
	for _, r := range rcv.Deliveries() {
		names[r.Envelope.EventName]++
	}
	if names["PurchaseCreated"] == 0 || names["InventoryBalanceChanged"] == 0 {
		t.Errorf("event mix %v lacks purchases or inventory changes", names)
	}
}

func TestMigrateAndVersion(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	if out := runCmd(t, "migrate", "-data-dir", dataDir); !strings.Contains(out, "applied 0002_queue_stats.sql") {
		t.Errorf("first migrate printed %q", out)
	}
	if out := runCmd(t, "migrate", "-data-dir", dataDir); !strings.Contains(out, "up to date") {
		t.Errorf("second migrate printed %q", out)
	}
	if out := runCmd(t, "version"); !strings.HasPrefix(out, "pusher ") {
		t.Errorf("version printed %q", out)
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	url, _ := startServe(t, dataDir)
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"publish", "-server", url, "-data-dir", dataDir, "-org", testOrg,
		"-event", "ProductExploded", "-payload", "{}"}, envMap(nil), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "ProductExploded") {
		t.Errorf("publish of an unknown event = %v, want the server's 422 naming it", err)
	}
	err = run(context.Background(), []string{"publish", "-server", url, "-data-dir", dataDir, "-org", testOrg,
		"-event", "ProductCreated", "-payload", "{not json"}, envMap(nil), io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("publish of bad JSON = %v", err)
	}
}
