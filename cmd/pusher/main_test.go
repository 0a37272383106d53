package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/store/pgtest"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

const testOrg = "d3f03ffa-4a18-4282-bbfa-efd5f642ffb7"

func envMap(m map[string]string) env { return func(k string) string { return m[k] } }

// startServe runs "pusher serve" through run() on a free port and returns
// its base URL and a stop function that cancels it and returns run's error.
func startServe(t *testing.T, dataDir string, extra ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	args := append([]string{"serve", "-addr", "127.0.0.1:0", "-data-dir", dataDir, "-allow-http",
		"-allow-destination-cidrs", "127.0.0.0/8,::1/128", "-poll-interval", "20ms"}, extra...)
	go func() {
		done <- run(ctx, args, envMap(nil), pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve printed nothing: %v (run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	url := strings.TrimSpace(line[strings.LastIndex(line, " ")+1:])
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop within 20 s")
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return url, stop
}

// apiCaller returns a function that sends a JSON request with token to
// the API at base and returns the status and body.
func apiCaller(t *testing.T, base, token string) func(method, path, body string) (int, string) {
	return func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

func runCmd(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), args, envMap(nil), &out, &errOut); err != nil {
		t.Fatalf("pusher %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

func TestEndToEnd(t *testing.T) { testEndToEnd(t) }

// The same run on PostgreSQL (skipped when PUSHER_TEST_POSTGRES is not set).
func TestEndToEndOnPostgres(t *testing.T) { testEndToEnd(t, "-database-url", pgtest.DSN(t)) }

// The same run with signing keys encrypted at rest: deliveries are signed
// with the key the create returned.
func TestEndToEndWithSecretKey(t *testing.T) {
	testEndToEnd(t, "-secret-key", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
}

func testEndToEnd(t *testing.T, extra ...string) {
	dataDir := filepath.Join(t.TempDir(), "data")
	url, stop := startServe(t, dataDir, extra...)

	rcv := webhooktest.NewServer(t)

	token := runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", "demo", "-scope", "READ:PRODUCT")
	call := apiCaller(t, url, token)

	status, body := call("POST", "/organizations/self/subscriptions", `{"uuid":"f02f80f8-8f35-11eb-8dcd-0242ac130003",
		"transportName":"WEBHOOK","eventNames":["ProductCreated"],"destination":"`+rcv.URL+`","contactEmail":"ops@shop.example"}`)
	if status != 200 {
		t.Fatalf("create = %d %s", status, body)
	}
	var sub struct{ SigningKey string }
	json.Unmarshal([]byte(body), &sub)

	out := runCmd(t, "publish", "-server", url, "-data-dir", dataDir, "-org", testOrg, "-event", "ProductCreated",
		"-event-id", "e-1", "-payload", `{"uuid":"e4cc8750-a110-11eb-adc0-ffd446d76f99","name":"Crème brûlée & <co>"}`)
	if !strings.Contains(out, "messageId=") {
		t.Errorf("publish printed %q", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for rcv.Len() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	got := rcv.Requests()
	if len(got) != 2 || got[0].Envelope.EventName != "TestMessage" || got[1].Envelope.EventName != "ProductCreated" {
		t.Fatalf("receiver got\n%s\nwant TestMessage then ProductCreated", rcv)
	}
	ev := got[1].Envelope
	if ev.Payload != `{"uuid":"e4cc8750-a110-11eb-adc0-ffd446d76f99","name":"Crème brûlée & <co>"}` {
		t.Errorf("payload = %q", ev.Payload)
	}
	if !signing.Verify(sub.SigningKey, ev.Timestamp, ev.Payload, got[1].Header.Get("X-iZettle-Signature")) {
		t.Error("delivered event's signature does not verify with the subscription's key")
	}

	if status, body := call("PUT", "/organizations/self/subscriptions/f02f80f8-8f35-11eb-8dcd-0242ac130003", `{"contactEmail":"new@shop.example"}`); status != 200 || body != "" {
		t.Errorf("update = %d %q", status, body)
	}
	if status, _ := call("DELETE", "/organizations/self/subscriptions/uuid/f02f80f8-8f35-11eb-8dcd-0242ac130003/", ""); status != 204 {
		t.Errorf("delete = %d", status)
	}
	if status, body := call("GET", "/organizations/self/subscriptions", ""); status != 200 || body != "[]" {
		t.Errorf("list after delete = %d %s", status, body)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), `pusher_delivery_attempts_total{outcome="ok"}`) ||
		!strings.Contains(string(metrics), `pusher_events_published_total{event="ProductCreated"}`) ||
		!strings.Contains(string(metrics), `pusher_queue_messages{state="pending"} 0`) {
		t.Errorf("/metrics does not count the published event and the delivered attempt:\n%.2000s", metrics)
	}
	if err := stop(); err != nil {
		t.Errorf("graceful shutdown: run returned %v", err)
	}
}

// Every setting of pusher serve is in the README's configuration table, and
// every row of the table is a setting of pusher serve.
func TestServeHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	run(context.Background(), []string{"serve", "-h"}, envMap(nil), &out, &out)
	help := map[string]bool{}
	for _, m := range regexp.MustCompile(`\(env (PUSHER_[A-Z_]+)\)`).FindAllStringSubmatch(out.String(), -1) {
		help[m[1]] = true
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(PUSHER_[A-Z_]+)` \\| `-").FindAllStringSubmatch(string(readme), -1) {
		table[m[1]] = true
	}
	if len(help) < 20 {
		t.Fatalf("serve -h names %d settings; the pattern no longer matches its output:\n%s", len(help), out.String())
	}
	for env := range help {
		if !table[env] {
			t.Errorf("%s is a setting of pusher serve but not in the README's configuration table", env)
		}
	}
	for env := range table {
		if !help[env] {
			t.Errorf("the README's configuration table lists %s, which pusher serve does not have", env)
		}
	}
}

func TestBadSettingsFailFast(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"serve", "-retry-schedule", "sometimes"}, nil},
		{[]string{"serve"}, map[string]string{"PUSHER_DELIVERY_TIMEOUT": "ten"}},
		{[]string{"serve", "-log-format", "xml"}, nil},
		{[]string{"serve", "-allow-destination-cidrs", "10.0.0.0/33"}, nil},
		{[]string{"serve"}, map[string]string{"PUSHER_ALLOW_DESTINATION_CIDRS": "127.0.0.1/8"}},
		{[]string{"token"}, nil},
		{[]string{"frobnicate"}, nil},
	} {
		err := run(context.Background(), tt.args, envMap(tt.env), io.Discard, io.Discard)
		if err == nil {
			t.Errorf("run(%v, %v) succeeded, want an error", tt.args, tt.env)
		}
	}
}

// -debug-addr serves pprof on its own listener, and only there.
func TestDebugListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url, _ := startServe(t, filepath.Join(t.TempDir(), "data"), "-debug-addr", addr)
	resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET pprof on the debug address = %v, %v; want 200", resp, err)
	}
	resp.Body.Close()
	if resp, err := http.Get(url + "/debug/pprof/cmdline"); err != nil || resp.StatusCode == http.StatusOK {
		t.Errorf("GET pprof on the API port = %v, %v; want no profile there", resp, err)
	}
}
