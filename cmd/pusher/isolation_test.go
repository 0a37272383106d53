package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/webhook"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// The hostile-receiver measurement of the hardening issue: 100 subscriptions
// over 5 organizations whose destination accepts and never answers, each
// re-armed with PUT {} every second and fed events, next to a healthy
// organization publishing 200 events/s. It prints the healthy
// organization's latency from publish to arrival with and without the
// hostile tenants; it asserts only that every healthy event arrived.
func TestHostileReceiversCostTheirOwnOrganization(t *testing.T) {
	if testing.Short() {
		t.Skip("a 7 s measurement")
	}
	t.Parallel()
	for _, hostile := range []bool{false, true} {
		name := map[bool]string{false: "baseline", true: "with 100 hanging subscriptions"}[hostile]
		t.Run(name, func(t *testing.T) {
			p50, p99 := measureHealthyLatency(t, hostile)
			t.Logf("%s: healthy organization at 200 events/s: p50 %v, p99 %v", name, p50, p99)
		})
	}
}

func measureHealthyLatency(t *testing.T, hostile bool) (p50, p99 time.Duration) {
	dataDir := filepath.Join(t.TempDir(), "data")
	key, err := auth.LoadOrCreateLocalKey(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startServe(t, dataDir, "-delivery-timeout", "3s", "-ingest-rate", "0", "-api-rate", "0") // isolation, not rate limits
	pubTok, _ := key.Mint(auth.Claims{ClientID: "producer", Scope: []string{auth.ScopePublish}}, time.Now(), time.Hour)
	orgs := simulate.Orgs(21, 6)
	healthy := webhooktest.NewServer(t) // records when each messageId first arrived
	hTok, _ := key.Mint(auth.Claims{OrganizationUUID: orgs[0], ClientID: "healthy", Scope: subscriberScopes}, time.Now(), time.Hour)
	createSubscription(t, url, hTok, healthy.URL)

	ctx, stop := context.WithCancel(context.Background())
	var load sync.WaitGroup
	if hostile {
		startHostileLoad(t, ctx, &load, url, key, pubTok, orgs[1:])
	}
	sent := publishPaced(t, url, pubTok, orgs[0], 200, 3*time.Second)
	waitForCond(t, "every healthy event delivered", func() bool { return len(healthy.FirstArrivals()) == len(sent) })
	stop()
	load.Wait()
	var lat []time.Duration
	arrived := healthy.FirstArrivals()
	for id, at := range sent {
		lat = append(lat, arrived[id].Sub(at))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// startHostileLoad creates 20 hanging subscriptions in each of orgs, then
// until ctx ends publishes 10 events per organization every 100 ms and
// re-arms every subscription with PUT {} every second.
func startHostileLoad(t *testing.T, ctx context.Context, load *sync.WaitGroup, url string, key *auth.LocalKey, pubTok string, orgs []string) {
	// hang answers the TestMessage, then accepts every delivery and never
	// answers it, until the test ends.
	hang := webhooktest.NewServer(t)
	hang.SetHang(true)
	type sub struct{ token, uuid string }
	var subs []sub
	for i, org := range orgs {
		tok, _ := key.Mint(auth.Claims{OrganizationUUID: org, ClientID: fmt.Sprint("hostile-", i), Scope: subscriberScopes}, time.Now(), time.Hour)
		for range 20 {
			uuid, _ := createSub(t, url, tok, hang.URL)
			subs = append(subs, sub{tok, uuid})
		}
	}
	load.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ctx.Err() == nil; n++ {
			for _, org := range orgs {
				postEvents(url, pubTok, eventsOf(org, fmt.Sprint("hostile-", n), 10))
			}
			if n%10 == 0 {
				for _, s := range subs {
					putJSON(url+"/organizations/self/subscriptions/"+s.uuid, s.token, `{}`)
				}
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	})
}

// putJSON sends PUT with body and ignores the answer (the re-arming load).
func putJSON(url, token, body string) {
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := crashClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// publishPaced publishes one event per request for org at rate per second
// for d, and returns when each acknowledged messageId was sent.
func publishPaced(t *testing.T, url, token, org string, rate int, d time.Duration) map[string]time.Time {
	sent := map[string]time.Time{}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		at := time.Now()
		res, err := postEvents(url, token, eventsOf(org, fmt.Sprint("healthy-", i), 1))
		if err != nil {
			t.Fatalf("healthy publish: %v", err)
		}
		sent[res.MessageIDs[0]] = at
	}
	return sent
}

// eventsOf returns n small ProductCreated events of org with ids prefix-0…
func eventsOf(org, prefix string, n int) []simulate.Event {
	out := make([]simulate.Event, n)
	for i := range out {
		out[i] = simulate.Event{OrganizationUUID: org, EventName: webhook.ProductCreated,
			EventID: fmt.Sprintf("%s-%d", prefix, i), Payload: []byte(`{"uuid":"x"}`)}
	}
	return out
}
