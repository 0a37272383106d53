package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/webhook"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// TestCrashRecovery kills a real pusher serve process with SIGKILL while
// events are being published and delivered, restarts it on the same data
// directory and checks that every event whose publish request was answered
// 202 reaches the destination at least once, and that re-posting acknowledged
// events after the restart is recognised as a duplicate and not delivered
// again.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the pusher binary")
	}
	t.Parallel()
	start := time.Now()
	tmp := t.TempDir()
	bin := buildPusher(t, tmp)
	dataDir := filepath.Join(tmp, "data")

	// Tokens are minted with the local key that pusher serve will load.
	key, err := auth.LoadOrCreateLocalKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	org := simulate.Orgs(7, 1)[0]
	const client = "crash-test"
	subToken, err := key.Mint(auth.Claims{OrganizationUUID: org, ClientID: client, Scope: subscriberScopes}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pubToken, err := key.Mint(auth.Claims{ClientID: "producer", Scope: []string{auth.ScopePublish}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	rcv := webhooktest.NewServer(t)

	srv1 := startPusher(t, bin, dataDir, "1")
	signingKey := createSubscription(t, srv1.url, subToken, rcv.URL+"/hook")
	rcv.SetKeys(signingKey)

	// ~3000 realistic events of one organization, in batches of 1–20.
	events := crashEvents(org, 3000)
	batches := randomBatches(events, 1)

	// Phase 1: 8 publishers until the server is killed. A batch is acked
	// only when its request was answered 202; a batch whose request failed
	// is "in doubt" (maybe committed, maybe not) and is re-posted later.
	acked := newAckSet()
	var next atomic.Int64 // index of the next batch to post
	var doubtMu sync.Mutex
	var inDoubt [][]simulate.Event
	killed := make(chan struct{})
	var publishers sync.WaitGroup
	for range 8 {
		publishers.Go(func() {
			for {
				select {
				case <-killed:
					return
				default:
				}
				i := int(next.Add(1)) - 1
				if i >= len(batches) {
					return
				}
				res, err := postEvents(srv1.url, pubToken, batches[i])
				if err != nil {
					doubtMu.Lock()
					inDoubt = append(inDoubt, batches[i])
					doubtMu.Unlock()
					continue
				}
				acked.add(res.MessageIDs)
			}
		})
	}
	// Kill after ~1 s of load, or earlier once about half the events were
	// acked, so the kill always lands mid-stream.
	loadStart := time.Now()
	deadline := loadStart.Add(time.Second)
	for time.Now().Before(deadline) && acked.len() < len(events)/2 {
		time.Sleep(5 * time.Millisecond)
	}
	close(killed) // publishers take no new batch; those in flight fail
	loadTime := time.Since(loadStart)
	srv1.kill(t)
	publishers.Wait()
	ackedBeforeKill := acked.len()
	receivedAtKill := rcv.Distinct()
	posted := min(int(next.Load()), len(batches))
	t.Logf("killed after %v of load: %d events acked, %d batches in doubt, %d distinct messages received so far",
		loadTime.Round(time.Millisecond), ackedBeforeKill, len(inDoubt), receivedAtKill)
	if ackedBeforeKill == 0 {
		t.Fatalf("no publish request was acknowledged before the kill; server log:\n%s", srv1.logTail())
	}
	if ackedBeforeKill == len(events) {
		t.Fatalf("every event was acknowledged before the kill: the kill did not land mid-stream")
	}

	// Phase 2: restart on the same data directory, re-post the batches in
	// doubt and publish the rest.
	restarted := time.Now()
	srv2 := startPusher(t, bin, dataDir, "2")
	committedInDoubt := 0
	for i, b := range append(inDoubt, batches[posted:]...) {
		res, err := postEvents(srv2.url, pubToken, b)
		if err != nil {
			t.Fatalf("publish after restart: %v\nserver log:\n%s", err, srv2.logTail())
		}
		if i < len(inDoubt) {
			committedInDoubt += res.Duplicates
		} else if res.Duplicates > 0 {
			t.Errorf("batch never posted before: %d duplicates", res.Duplicates)
		}
		acked.add(res.MessageIDs)
	}
	t.Logf("re-posted %d batches in doubt: %d of their events had been committed before the kill", len(inDoubt), committedInDoubt)
	if acked.len() != len(events) {
		t.Fatalf("%d events acked in all, want %d", acked.len(), len(events))
	}

	// Every acked message must arrive; wait at most 30 s.
	want := acked.ids()
	waitUntil := time.Now().Add(30 * time.Second)
	var missing []string
	for {
		missing = rcv.Missing(want)
		if len(missing) == 0 || time.Now().After(waitUntil) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("restart to all %d acked messages received: %v", len(want), time.Since(restarted).Round(time.Millisecond))
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged messages never reached the receiver, e.g. %v\nserver log:\n%s",
			len(missing), len(want), missing[:min(5, len(missing))], srv2.logTail())
	}
	rcv.Settle(300*time.Millisecond, 5*time.Second)
	if bad := rcv.BadSignatures(); bad > 0 {
		t.Errorf("%d deliveries had a bad signature", bad)
	}
	if extra := rcv.Unknown(want); len(extra) > 0 {
		t.Errorf("%d received messageIds were never published, e.g. %v", len(extra), extra[:min(5, len(extra))])
	}

	// Idempotency across the restart: re-posting acked events (some acked by
	// the first process, some by the second) returns the same messageIds as
	// duplicates, and they are not delivered again.
	var sample []simulate.Event
	for i := 0; i < len(events); i += 25 {
		sample = append(sample, events[i])
	}
	// Messages leased at the kill are delivered again once their lease
	// expires, which may be after every acked message arrived: the counts
	// are taken once nothing is pending or leased any more.
	waitForEmptyQueue(t, dataDir, "before the re-post")
	rcv.Settle(300*time.Millisecond, 5*time.Second)
	before := rcv.Counts()
	res, err := postEvents(srv2.url, pubToken, sample)
	if err != nil {
		t.Fatalf("re-post: %v", err)
	}
	if res.Duplicates != len(sample) {
		t.Errorf("re-post of %d acked events: duplicates=%d, want %d", len(sample), res.Duplicates, len(sample))
	}
	for i, ev := range sample {
		if want := expectedMessageID(ev); i >= len(res.MessageIDs) || res.MessageIDs[i] != want {
			t.Errorf("re-post [%d]: messageId %v, want %s", i, res.MessageIDs, want)
			break
		}
	}
	// The re-post was committed before it was answered, so a redelivery
	// would be queued now; once the queue is empty, every delivery it caused
	// has reached the receiver, and the counts are final.
	waitForEmptyQueue(t, dataDir, "after the re-post")
	after := rcv.Counts()
	for _, id := range res.MessageIDs {
		if after[id] != before[id] {
			t.Errorf("re-posted duplicate %s was delivered again (%d → %d times)", id, before[id], after[id])
		}
	}

	// Nothing may be left in the queue of the subscription.
	if n := queuedMessages(t, dataDir); n != 0 {
		t.Errorf("%d messages still pending or leased after everything arrived", n)
	}
	srv2.stop(t)

	delivered, total := rcv.Delivered()
	t.Logf("acked=%d (before kill %d) received-before-kill=%d delivered=%d deliveries=%d duplicates=%d elapsed=%v",
		len(want), ackedBeforeKill, receivedAtKill, delivered, total, total-delivered, time.Since(start).Round(time.Millisecond))
}

// buildPusher builds this command into dir once per test run.
func buildPusher(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found: ", err)
	}
	bin := filepath.Join(dir, "pusher")
	cmd := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// pusherProcess is a pusher serve child process.
type pusherProcess struct {
	cmd     *exec.Cmd
	url     string
	logPath string
	done    chan error
}

// startPusher starts pusher serve from bin on dataDir (SQLite unless extra
// names a -database-url), with a fast retry schedule and short leases.
func startPusher(t *testing.T, bin, dataDir, name string, extra ...string) *pusherProcess {
	t.Helper()
	logPath := filepath.Join(filepath.Dir(dataDir), "serve-"+name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	args := append([]string{"serve", "-addr", "127.0.0.1:0", "-data-dir", dataDir, "-allow-http",
		"-allow-destination-cidrs", "127.0.0.0/8,::1/128", "-retry-schedule", "50x200ms", "-log-level", "warn", "-delivery-timeout", "2s", "-lease-timeout", "3s"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "PUSHER_LOG_LEVEL=warn")
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pusherProcess{cmd: cmd, logPath: logPath, done: make(chan error, 1)}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if !sent && strings.Contains(sc.Text(), " listening on ") {
				lines <- sc.Text()
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		p.url = strings.TrimSpace(line[strings.Index(line, "http://"):])
	case <-time.After(15 * time.Second):
		t.Fatalf("pusher serve %s did not print its address; log:\n%s", name, p.logTail())
	}
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *pusherProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *pusherProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("pusher serve exited with %v after SIGTERM; log:\n%s", err, p.logTail())
		}
	case <-time.After(15 * time.Second):
		t.Errorf("pusher serve did not stop within 15 s of SIGTERM")
	}
}

func (p *pusherProcess) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// createSubscription creates a subscription to dest for all events and
// returns its signing key.
func createSubscription(t *testing.T, base, token, dest string) string {
	t.Helper()
	_, key := createSub(t, base, token, dest)
	return key
}

// createSub creates a subscription to dest for all events and returns its
// uuid and signing key.
func createSub(t *testing.T, base, token, dest string) (subUUID, signingKey string) {
	t.Helper()
	id, err := uuid.NewUUID()
	if err != nil {
		t.Fatal(err)
	}
	body := map[string]any{
		"uuid": id.String(), "transportName": "WEBHOOK", "eventNames": []string{},
		"destination": dest, "contactEmail": "crash-test@example.com",
	}
	var sub struct {
		UUID       string `json:"uuid"`
		Status     string `json:"status"`
		SigningKey string `json:"signingKey"`
	}
	if err := postJSON(context.Background(), base+"/organizations/self/subscriptions", token, body, &sub); err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	if sub.SigningKey == "" || sub.Status != "ACTIVE" {
		t.Fatalf("create subscription: got %+v", sub)
	}
	return sub.UUID, sub.SigningKey
}

type ingestResponse struct {
	MessageIDs []string `json:"messageIds"`
	Duplicates int      `json:"duplicates"`
}

// crashClient has its own connections so killed-server errors stay local.
var crashClient = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// postEvents posts one batch and returns the 202 answer; any other outcome
// is an error.
func postEvents(base, token string, events []simulate.Event) (ingestResponse, error) {
	var res ingestResponse
	body, err := json.Marshal(events)
	if err != nil {
		return res, err
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := crashClient.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return res, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return res, fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, err
	}
	if len(res.MessageIDs) != len(events) {
		return res, fmt.Errorf("%d messageIds for %d events", len(res.MessageIDs), len(events))
	}
	return res, nil
}

// randomBatches cuts events into batches of 1–20, the sizes drawn from seed.
func randomBatches(events []simulate.Event, seed uint64) [][]simulate.Event {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	var batches [][]simulate.Event
	for i := 0; i < len(events); {
		n := min(1+rng.IntN(20), len(events)-i)
		batches = append(batches, events[i:i+n])
		i += n
	}
	return batches
}

// crashEvents returns n realistic events of org from the simulated shop.
func crashEvents(org string, n int) []simulate.Event {
	shop := simulate.NewShop(7, []string{org}, simulate.DefaultStart(7))
	var out []simulate.Event
	for len(out) < n {
		out = append(out, shop.Next()...)
	}
	return out[:n]
}

func expectedMessageID(ev simulate.Event) string {
	return webhook.MessageID(strings.ToLower(ev.OrganizationUUID), ev.EventName, ev.EventID)
}

// queuedMessages counts the pending and leased messages of every subscription.
// waitForEmptyQueue waits up to 30 s until no message of the crash test's
// subscriptions is pending or leased.
func waitForEmptyQueue(t *testing.T, dataDir, when string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); queuedMessages(t, dataDir) != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("messages still queued 30 s %s", when)
		}
	}
}

func queuedMessages(t *testing.T, dataDir string) int {
	t.Helper()
	db, err := sqlite.OpenReadOnly(context.Background(), filepath.Join(dataDir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	for _, sub := range crashSubscriptions(t, db) {
		for _, state := range []string{"pending", "leased"} {
			ms, err := db.Messages(context.Background(), sub, state)
			if err != nil {
				t.Fatal(err)
			}
			n += len(ms)
		}
	}
	return n
}

func crashSubscriptions(t *testing.T, db *sqlite.DB) []string {
	t.Helper()
	org := simulate.Orgs(7, 1)[0]
	subs, err := db.Subscriptions(context.Background(), org, "crash-test")
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions in the database, want 1", len(subs))
	}
	return []string{subs[0].UUID}
}

// ackSet is the set of acknowledged messageIds.
type ackSet struct {
	mu  sync.Mutex
	set map[string]bool
}

func newAckSet() *ackSet { return &ackSet{set: map[string]bool{}} }

func (a *ackSet) add(ids []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		a.set[id] = true
	}
}

func (a *ackSet) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.set)
}

func (a *ackSet) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.set))
	for id := range a.set {
		out = append(out, id)
	}
	return out
}
