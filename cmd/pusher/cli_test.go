package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// cli runs one pusher command the way main does: on an error it prints one
// line "pusher: …" to stderr and returns the exit code main would use.
func cli(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, envMap(nil), &out, &errOut)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintln(&errOut, "pusher:", err)
		code = 2
	default:
		fmt.Fprintln(&errOut, "pusher:", err)
		code = 1
	}
	return out.String(), errOut.String(), code
}

// apiCmd runs an API command against url with token and fails the test
// if it fails.
func apiCmd(t *testing.T, url, token string, args ...string) string {
	t.Helper()
	args = append(args, "--url", url, "--token", token)
	out, errOut, code := cli(args...)
	if code != 0 {
		t.Fatalf("pusher %s: exit %d\n%s", strings.Join(args[:len(args)-4], " "), code, errOut)
	}
	return out
}

// cliServer starts pusher serve with retries an hour apart (a failed
// message stays failing for the test) and returns its URL, data
// directory and a subscriber token of testOrg, client "demo", with the
// scopes of every event.
func cliServer(t *testing.T) (url, dataDir, token string) {
	t.Helper()
	dataDir = filepath.Join(t.TempDir(), "data")
	url, _ = startServe(t, dataDir, "-retry-schedule", "5x1h")
	token = runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", "demo")
	return url, dataDir, token
}

// Zettle's four calls through pusher subs, and errors as one line.
func TestCLISubscriptions(t *testing.T) {
	url, dataDir, token := cliServer(t)
	rcv := webhooktest.NewServer(t)

	out := apiCmd(t, url, token, "subs", "create", "--destination", rcv.URL+"/hook", "--email", "ops@shop.example",
		"--event", "ProductCreated", "--event", "ProductUpdated")
	m := regexp.MustCompile(`^created subscription (\S+) \(ACTIVE\)\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("subs create printed\n%s", out)
	}
	id := m[1]
	if u, err := uuid.Parse(id); err != nil || u.Version() != 1 {
		t.Errorf("subs create generated uuid %s, want a version 1 UUID", id)
	}
	if !strings.Contains(out, "ProductCreated,ProductUpdated") || !regexp.MustCompile(`signing key:\s+[A-Za-z0-9]{64}\n`).MatchString(out) {
		t.Errorf("subs create output lacks the events or the signing key:\n%s", out)
	}
	if got := rcv.Requests(); len(got) != 1 || !got[0].IsTestMessage() {
		t.Errorf("receiver got %d requests, want the TestMessage", len(got))
	}

	// --uuid and --json: Zettle's create answer as sent.
	const given = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	out = apiCmd(t, url, token, "subs", "create", "--json", "--uuid", given, "--destination", rcv.URL, "--email", "a@shop.example")
	var created struct {
		UUID          string   `json:"uuid"`
		TransportName string   `json:"transportName"`
		EventNames    []string `json:"eventNames"`
		SigningKey    string   `json:"signingKey"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.UUID != given || created.TransportName != "WEBHOOK" ||
		created.EventNames == nil || len(created.EventNames) != 0 || len(created.SigningKey) != 64 {
		t.Errorf("subs create --json printed %s (%v)", out, err)
	}

	out = apiCmd(t, url, token, "subs", "update", given, "--email", "team@shop.example", "--event", "PurchaseCreated")
	if !strings.Contains(out, "updated subscription "+given) || !strings.Contains(out, "team@shop.example") ||
		!strings.Contains(out, "PurchaseCreated") {
		t.Errorf("subs update printed\n%s", out)
	}
	out = apiCmd(t, url, token, "subs", "update", given, "--all-events", "--json")
	var updated struct {
		UUID         string   `json:"uuid"`
		EventNames   []string `json:"eventNames"`
		ContactEmail string   `json:"contactEmail"`
	}
	if err := json.Unmarshal([]byte(out), &updated); err != nil || updated.UUID != given || len(updated.EventNames) != 0 ||
		updated.ContactEmail != "team@shop.example" {
		t.Errorf("subs update --all-events --json printed %s (%v)", out, err)
	}

	// An operator token names the organization and sees every client's.
	other := runCmd(t, "token", "-data-dir", dataDir, "-org", testOrg, "-client", "other-app")
	apiCmd(t, url, other, "subs", "create", "--destination", rcv.URL, "--email", "b@shop.example")
	admin := runCmd(t, "token", "-data-dir", dataDir, "-admin")
	out = apiCmd(t, url, admin, "subs", "list", "--org", testOrg)
	if !strings.Contains(out, "CLIENT") || !strings.Contains(out, "other-app") || !strings.Contains(out, "demo") || strings.Count(out, "\n") != 4 {
		t.Errorf("an operator's subs list shows not every client's subscriptions:\n%s", out)
	}
	if out := apiCmd(t, url, token, "subs", "list"); strings.Contains(out, "other-app") || strings.Count(out, "\n") != 3 {
		t.Errorf("a subscriber's subs list shows another client's subscription:\n%s", out)
	}

	if out := apiCmd(t, url, token, "subs", "delete", given); out != "deleted subscription "+given+"\n" {
		t.Errorf("subs delete printed %q", out)
	}

	// An unknown subscription: Zettle's developerMessage on one line, exit 1.
	stdout, stderr, code := cli("subs", "delete", given, "--url", url, "--token", token)
	if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "pusher: ") ||
		!strings.Contains(strings.ToLower(stderr), "not found") {
		t.Errorf("delete of a deleted subscription: exit %d, stdout %q, stderr %q; want one line pusher: …not found, exit 1", code, stdout, stderr)
	}
	// A bad request: the violation's words, still one line.
	_, stderr, code = cli("subs", "create", "--destination", "ftp://x", "--email", "nope", "--url", url, "--token", token)
	if code != 1 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("invalid create: exit %d, stderr %q", code, stderr)
	}
	// A wrong token.
	_, stderr, code = cli("subs", "list", "--url", url, "--token", "not-a-token")
	if code != 1 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("bad token: exit %d, stderr %q", code, stderr)
	}
	// No server.
	_, stderr, code = cli("subs", "delete", given, "--url", "http://127.0.0.1:1", "--token", token)
	if code != 1 || !strings.HasPrefix(stderr, "pusher: cannot reach http://127.0.0.1:1") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("unreachable server: exit %d, stderr %q", code, stderr)
	}
}

// Usage mistakes exit 2 without calling the server.
func TestCLIUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"subs"},
		{"subs", "frobnicate"},
		{"subs", "list"}, // no token
		{"subs", "create", "--token", "t", "--email", "a@b.example"},
		{"subs", "update", "--token", "t", "f02f80f8-8f35-11eb-8dcd-0242ac130003"},
		{"subs", "delete", "--token", "t"},
		{"messages", "--token", "t"},
		{"messages", "--token", "t", "--undelivered", "extra-argument"},
		{"messages", "--token", "t", "f02f80f8-8f35-11eb-8dcd-0242ac130003", "--since", "yesterday-ish"},
		{"attempts", "--token", "t", "f02f80f8-8f35-11eb-8dcd-0242ac130003"},
		{"redeliver", "--token", "t"},
		{"replay", "--token", "t", "f02f80f8-8f35-11eb-8dcd-0242ac130003"},
		{"subs", "list", "--token", "t", "--url", "localhost:8080"},
	} {
		stdout, stderr, code := cli(args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "pusher: ") {
			t.Errorf("pusher %s: exit %d, stdout %q, stderr %q; want exit 2 with a usage error", strings.Join(args, " "), code, stdout, stderr)
		}
	}
	if _, stderr, code := cli("subs", "-h"); code != 0 || !strings.Contains(stderr, "rotate-key") {
		t.Errorf("subs -h: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := cli("replay", "-h"); code != 0 || !strings.Contains(stderr, "--dry-run") && !strings.Contains(stderr, "-dry-run") {
		t.Errorf("replay -h: exit %d\n%s", code, stderr)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"now":                       now,
		"2026-12-01T10:00:00Z":      time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		"2026-12-01T11:00:00+01:00": time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		"2026-11-30":                time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		"2h":                        now.Add(-2 * time.Hour),
		"-90m":                      now.Add(-90 * time.Minute),
		"24h ago":                   now.Add(-24 * time.Hour),
	} {
		got, err := parseWhen("since", in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWhen("since", "last tuesday", now); !errors.Is(err, errUsage) {
		t.Errorf("parseWhen of nonsense = %v, want a usage error", err)
	}
}

// The walk-through of issue 13: a receiver fails, pusher messages shows
// the failing message, pusher attempts its attempts, replay --dry-run the
// count, redeliver delivers it once the receiver is fixed; --json parses.
func TestCLIDeliveryLog(t *testing.T) {
	url, dataDir, token := cliServer(t)
	rcv := webhooktest.NewServer(t)

	out := apiCmd(t, url, token, "subs", "create", "--json", "--destination", rcv.URL+"/hook", "--email", "ops@shop.example",
		"--event", "ProductCreated")
	var sub struct {
		UUID       string `json:"uuid"`
		SigningKey string `json:"signingKey"`
	}
	if err := json.Unmarshal([]byte(out), &sub); err != nil {
		t.Fatalf("subs create --json printed %s: %v", out, err)
	}
	rcv.SetKeys(sub.SigningKey)
	rcv.SetStatus(500)

	out = runCmd(t, "publish", "-server", url, "-data-dir", dataDir, "-org", testOrg, "-event", "ProductCreated",
		"-event-id", "e-1", "-payload", `{"uuid":"e4cc8750-a110-11eb-adc0-ffd446d76f99","name":"Crème brûlée"}`)
	msgID := strings.TrimPrefix(regexp.MustCompile(`messageId=\S+`).FindString(out), "messageId=")
	if msgID == "" {
		t.Fatalf("publish printed %q", out)
	}
	waitFor(t, "the first attempt to fail", func() bool { return rcv.Attempts(msgID) >= 1 })

	// pusher messages: the failing message in a table…
	waitFor(t, "pusher messages to show the message failing", func() bool {
		out = apiCmd(t, url, token, "messages", sub.UUID)
		return strings.Contains(out, msgID) && strings.Contains(out, "failing")
	})
	for _, col := range []string{"MESSAGE ID", "EVENT", "STATE", "ATTEMPTS", "CREATED", "LAST OUTCOME", "ProductCreated", "500"} {
		if !strings.Contains(out, col) {
			t.Errorf("pusher messages lacks %q:\n%s", col, out)
		}
	}
	// …and as the API's JSON.
	out = apiCmd(t, url, token, "messages", sub.UUID, "--json", "--state", "failing")
	var page struct {
		Messages []struct {
			MessageID   string `json:"messageId"`
			State       string `json:"state"`
			Attempts    int    `json:"attempts"`
			LastAttempt *struct {
				StatusCode int `json:"statusCode"`
			} `json:"lastAttempt"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Messages) != 1 || page.Messages[0].MessageID != msgID ||
		page.Messages[0].Attempts < 1 || page.Messages[0].LastAttempt == nil || page.Messages[0].LastAttempt.StatusCode != 500 {
		t.Errorf("pusher messages --json printed %s (%v)", out, err)
	}
	if out := apiCmd(t, url, token, "messages", "--undelivered"); !strings.Contains(out, msgID) || !strings.Contains(out, sub.UUID) {
		t.Errorf("pusher messages --undelivered lacks the message:\n%s", out)
	}
	if out := apiCmd(t, url, token, "messages", sub.UUID, "--state", "delivered"); !strings.Contains(out, "no messages") {
		t.Errorf("pusher messages --state delivered printed\n%s", out)
	}

	// pusher subs list: FAILING with a backlog of 1.
	out = apiCmd(t, url, token, "subs", "list")
	if !regexp.MustCompile(`(?m)^` + sub.UUID + `\s+FAILING.*\s1\s*$`).MatchString(out) {
		t.Errorf("pusher subs list does not show the subscription FAILING with backlog 1:\n%s", out)
	}
	for _, col := range []string{"UUID", "STATUS", "EVENTS", "DESTINATION", "BACKLOG"} {
		if !strings.Contains(out, col) {
			t.Errorf("pusher subs list lacks column %s:\n%s", col, out)
		}
	}
	if out := apiCmd(t, url, token, "subs", "list", "--json"); !json.Valid([]byte(out)) || !strings.Contains(out, sub.UUID) {
		t.Errorf("pusher subs list --json printed %s", out)
	}

	// pusher attempts: time, duration, status, remote address.
	out = apiCmd(t, url, token, "attempts", sub.UUID, msgID)
	for _, want := range []string{"message " + msgID, "ProductCreated", "TIME", "DURATION", "STATUS", "REMOTE ADDR", "500", "127.0.0.1:"} {
		if !strings.Contains(out, want) {
			t.Errorf("pusher attempts lacks %q:\n%s", want, out)
		}
	}
	out = apiCmd(t, url, token, "attempts", sub.UUID, msgID, "--json")
	var detail map[string]any
	if err := json.Unmarshal([]byte(out), &detail); err != nil || detail["messageId"] != msgID || detail["envelope"] == nil {
		t.Errorf("pusher attempts --json printed %s (%v)", out, err)
	}

	// pusher replay --dry-run counts and sends nothing.
	before := rcv.Attempts(msgID)
	if out := apiCmd(t, url, token, "replay", sub.UUID, "--since", "1h", "--dry-run"); out != "would replay 1 event\n" {
		t.Errorf("replay --dry-run printed %q", out)
	}
	out = apiCmd(t, url, token, "replay", sub.UUID, "--since", "1h", "--until", "now", "--event", "ProductCreated", "--dry-run", "--json")
	var dry struct {
		DryRun bool `json:"dryRun"`
		Count  int  `json:"count"`
	}
	if err := json.Unmarshal([]byte(out), &dry); err != nil || !dry.DryRun || dry.Count != 1 {
		t.Errorf("replay --dry-run --json printed %s (%v)", out, err)
	}

	// The receiver is fixed; pusher redeliver delivers the message now.
	rcv.SetStatus(200)
	if out := apiCmd(t, url, token, "redeliver", sub.UUID, msgID); !strings.Contains(out, "redelivering "+msgID) {
		t.Errorf("redeliver printed %q", out)
	}
	waitFor(t, "the redelivered message to arrive", func() bool { return rcv.Counts()[msgID] == 1 })
	if rcv.Attempts(msgID) <= before {
		t.Errorf("receiver saw %d attempts after redeliver, %d before", rcv.Attempts(msgID), before)
	}
	waitFor(t, "pusher messages to show it delivered", func() bool {
		return strings.Contains(apiCmd(t, url, token, "messages", sub.UUID, "--state", "delivered"), msgID)
	})
	if got := rcv.BadSignatures(); got != 0 {
		t.Errorf("%d deliveries did not verify with the subscription's key", got)
	}

	// A real replay, idempotent with a key.
	since := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	until := time.Now().UTC().Add(time.Minute).Format(time.RFC3339)
	for range 2 {
		if out := apiCmd(t, url, token, "replay", sub.UUID, "--since", since, "--until", until, "--idempotency-key", "k-1"); out != "replayed 1 event\n" {
			t.Errorf("replay printed %q", out)
		}
	}
	waitFor(t, "the replayed message to arrive again", func() bool { return rcv.Counts()[msgID] == 2 })
	time.Sleep(200 * time.Millisecond)
	if n := rcv.Counts()[msgID]; n != 2 {
		t.Errorf("message delivered %d times after a replay repeated with its idempotency key, want 2", n)
	}

	// Stats, settings and key rotation.
	if out := apiCmd(t, url, token, "subs", "stats", sub.UUID); !strings.Contains(out, "last hour") || !strings.Contains(out, "backlog: ") {
		t.Errorf("subs stats printed\n%s", out)
	}
	if out := apiCmd(t, url, token, "subs", "settings", sub.UUID); !strings.Contains(out, "rotationOverlap:") || !strings.Contains(out, "24h") {
		t.Errorf("subs settings printed\n%s", out)
	}
	out = apiCmd(t, url, token, "subs", "settings", sub.UUID, "--standard-webhooks", "--rotation-overlap", "2h", "--json")
	var settings struct {
		StandardWebhooks bool   `json:"standardWebhooks"`
		RotationOverlap  string `json:"rotationOverlap"`
	}
	if err := json.Unmarshal([]byte(out), &settings); err != nil || !settings.StandardWebhooks {
		t.Errorf("subs settings --standard-webhooks --json printed %s (%v)", out, err)
	}
	if d, err := time.ParseDuration(settings.RotationOverlap); err != nil || d != 2*time.Hour {
		t.Errorf("rotationOverlap after the change = %q", settings.RotationOverlap)
	}
	out = apiCmd(t, url, token, "subs", "rotate-key", sub.UUID)
	m := regexp.MustCompile(`new signing key: ([A-Za-z0-9]{64})\n`).FindStringSubmatch(out)
	if m == nil || m[1] == sub.SigningKey {
		t.Errorf("subs rotate-key printed\n%s", out)
	}

	// Errors: one line with the developerMessage, exit 1.
	for _, args := range [][]string{
		{"messages", "0fa8a5e2-8f35-11eb-8dcd-0242ac130003"},
		{"attempts", sub.UUID, "6a1cbd0e-0000-4000-8000-000000000000"},
		{"redeliver", "0fa8a5e2-8f35-11eb-8dcd-0242ac130003", msgID},
		{"replay", "0fa8a5e2-8f35-11eb-8dcd-0242ac130003", "--since", "1h", "--dry-run"},
	} {
		stdout, stderr, code := cli(append(args, "--url", url, "--token", token)...)
		if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "pusher: ") ||
			!strings.Contains(strings.ToLower(stderr), "not found") {
			t.Errorf("pusher %s: exit %d, stdout %q, stderr %q; want one line pusher: …not found, exit 1", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}
