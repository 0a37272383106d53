package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/store/pgtest"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// cluster is N pusher serve processes on one PostgreSQL schema, sharing a
// data directory for the local token key.
type cluster struct {
	procs              []*pusherProcess
	subToken, pubToken string
	org                string
}

// perSubscription is the in-flight cap of the cluster tests. The
// duplicates a kill can cause are bounded by the messages of the
// subscription leased at once across instances, perSubscription ×
// delivery.DefaultLeaseAhead: attempts in flight, and attempts made but not
// yet recorded.
const perSubscription = 8

func startCluster(t *testing.T, n int, extra ...string) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the pusher binary")
	}
	dsn := pgtest.DSN(t)
	tmp := t.TempDir()
	bin := buildPusher(t, tmp)
	dataDir := filepath.Join(tmp, "data")
	key, err := auth.LoadOrCreateLocalKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{org: simulate.Orgs(11, 1)[0]}
	c.subToken, err = key.Mint(auth.Claims{OrganizationUUID: c.org, ClientID: "scale-test", Scope: subscriberScopes}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.pubToken, err = key.Mint(auth.Claims{ClientID: "producer", Scope: []string{auth.ScopePublish}}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-database-url", dsn, "-per-subscription", "8", "-poll-interval", "50ms"}, extra...)
	for i := range n {
		c.procs = append(c.procs, startPusher(t, bin, dataDir, string(rune('a'+i)), args...))
	}
	return c
}

// Three instances on one PostgreSQL, a producer publishing through all
// three, one instance killed with SIGKILL mid-load: every acknowledged
// message is delivered, and duplicates are at most the messages that can be
// leased for the subscription (its cap holds across instances).
func TestScaleOutSurvivesAKilledInstance(t *testing.T) {
	c := startCluster(t, 3)
	rcv := webhooktest.NewServer(t)
	rcv.SetKeys(createSubscription(t, c.procs[0].url, c.subToken, rcv.URL+"/hook"))

	events := crashEvents(c.org, 3000)
	batches := randomBatches(events, 3)

	acked := newAckSet()
	var next atomic.Int64
	var victimDead atomic.Bool
	var doubtMu sync.Mutex
	var inDoubt [][]simulate.Event
	var publishers sync.WaitGroup
	for range 6 {
		publishers.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(batches) {
					return
				}
				p := c.procs[i%3]
				if p == c.procs[1] && victimDead.Load() {
					p = c.procs[2]
				}
				res, err := postEvents(p.url, c.pubToken, batches[i])
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
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && acked.len() < len(events)/3 {
		time.Sleep(5 * time.Millisecond)
	}
	victimDead.Store(true)
	c.procs[1].kill(t)
	ackedAtKill := acked.len()
	publishers.Wait()
	for _, b := range inDoubt { // maybe committed by the victim: re-post, idempotent
		res, err := postEvents(c.procs[0].url, c.pubToken, b)
		if err != nil {
			t.Fatalf("re-post after the kill: %v\n%s", err, c.procs[0].logTail())
		}
		acked.add(res.MessageIDs)
	}
	if ackedAtKill == 0 || ackedAtKill == len(events) {
		t.Fatalf("%d of %d events acked at the kill: it did not land mid-stream", ackedAtKill, len(events))
	}
	if acked.len() != len(events) {
		t.Fatalf("%d events acked in all, want %d", acked.len(), len(events))
	}

	want := acked.ids()
	waitUntil := time.Now().Add(60 * time.Second)
	for len(rcv.Missing(want)) > 0 && time.Now().Before(waitUntil) {
		time.Sleep(20 * time.Millisecond)
	}
	if missing := rcv.Missing(want); len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged messages never arrived, e.g. %v\nsurvivor log:\n%s",
			len(missing), len(want), missing[:min(5, len(missing))], c.procs[0].logTail())
	}
	rcv.Settle(300*time.Millisecond, 5*time.Second)
	distinct, total := rcv.Delivered()
	dups := total - distinct
	t.Logf("acked %d (%d at the kill, %d batches in doubt), delivered %d distinct, %d deliveries, %d duplicates",
		acked.len(), ackedAtKill, len(inDoubt), distinct, total, dups)
	if leased := perSubscription * delivery.DefaultLeaseAhead; dups > leased {
		t.Errorf("%d duplicates, want at most %d (the messages that can be leased at the kill)", dups, leased)
	}
	if bad := rcv.BadSignatures(); bad > 0 {
		t.Errorf("%d deliveries had a bad signature", bad)
	}
	if extra := rcv.Unknown(want); len(extra) > 0 {
		t.Errorf("%d received messageIds were never published", len(extra))
	}
}

// With three instances racing for every probe, the retry schedule, FAILING
// and ACTIVE and the deletion on exhaustion come out as with one: a
// subscription that recovers after two failures, and one that never does.
func TestScaleOutRetriesAcrossInstances(t *testing.T) {
	const interval = 400 * time.Millisecond
	c := startCluster(t, 3, "-retry-schedule", "3x400ms")
	// The TestMessage of each create is answered 200 by a healthy
	// destination (the closed gate); the scripts start with the first
	// delivery.
	recovering, broken := webhooktest.NewServer(t), webhooktest.NewServer(t)
	recovering.SetStatus(503, 503, 200)
	broken.SetStatus(500)
	recovering.CloseGate()
	broken.CloseGate()
	recovering.SetKeys(createSubscription(t, c.procs[0].url, c.subToken, recovering.URL+"/recovering"))
	broken.SetKeys(createSubscription(t, c.procs[1].url, c.subToken, broken.URL+"/broken"))
	recovering.OpenGate()
	broken.OpenGate()

	events := crashEvents(c.org, 2)
	if _, err := postEvents(c.procs[2].url, c.pubToken, events[:1]); err != nil {
		t.Fatal(err)
	}
	waitForCond(t, "both subscriptions FAILING", func() bool {
		subs := listSubscriptions(t, c.procs[0].url, c.subToken)
		return len(subs) == 2 && subs[0].Status == "FAILING" && subs[1].Status == "FAILING"
	})
	// Held while failing: the broken subscription never sends it, the
	// recovering one sends it after it recovered.
	if _, err := postEvents(c.procs[1].url, c.pubToken, events[1:]); err != nil {
		t.Fatal(err)
	}
	waitForCond(t, "the broken subscription to be deleted", func() bool { return len(listSubscriptions(t, c.procs[0].url, c.subToken)) == 1 })
	waitForCond(t, "the recovering subscription to get both messages", func() bool { return len(attemptTimes(recovering)) == 4 })

	// broken: first attempt + 3 retries of the head message, due at
	// failingSince + 1, 2, 3 intervals, then deleted.
	bt := attemptTimes(broken)
	if len(bt) != 4 {
		t.Fatalf("broken destination got %d attempts, want 4 (first + 3 retries)", len(bt))
	}
	checkRetryTimes(t, "broken", bt, interval)
	// recovering: 503 (FAILING), 503, 200 (ACTIVE), then the held message.
	rt := attemptTimes(recovering)
	checkRetryTimes(t, "recovering", rt[:3], interval)
	subs := listSubscriptions(t, c.procs[2].url, c.subToken)
	if len(subs) != 1 || subs[0].Status != "ACTIVE" {
		t.Errorf("subscriptions after recovery = %+v, want the recovering one ACTIVE", subs)
	}
	if bad := recovering.BadSignatures() + broken.BadSignatures(); bad > 0 {
		t.Errorf("%d attempts had a missing or bad signature", bad)
	}
}

// attemptTimes returns when each attempt the script answered (the gate
// was open) arrived.
func attemptTimes(rcv *webhooktest.Server) []time.Time {
	var times []time.Time
	for _, r := range rcv.Requests() {
		if !r.Gated {
			times = append(times, r.Time)
		}
	}
	return times
}

// checkRetryTimes checks that retry i came about i intervals after the
// first attempt: not before it was due, and not much later.
func checkRetryTimes(t *testing.T, name string, times []time.Time, interval time.Duration) {
	t.Helper()
	for i := 1; i < len(times); i++ {
		want := time.Duration(i) * interval
		if gap := times[i].Sub(times[0]); gap < want-20*time.Millisecond || gap > want+time.Second {
			t.Errorf("%s: retry %d came %v after the first attempt, want about %v", name, i, gap.Round(time.Millisecond), want)
		}
	}
}

type listedSubscription struct {
	UUID   string `json:"uuid"`
	Status string `json:"status"`
}

func listSubscriptions(t *testing.T, base, token string) []listedSubscription {
	t.Helper()
	var out []listedSubscription
	if err := getJSON(base+"/organizations/self/subscriptions", token, &out); err != nil {
		t.Fatalf("list subscriptions: %v", err)
	}
	return out
}

// getJSON GETs url and decodes a 200 answer into out.
func getJSON(url, token string, out any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := crashClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
