package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// claimers is how many handles race; each runs rounds claims.
const (
	claimers = 4
	rounds   = 10
)

// race runs fn on claimers handles of e's database at once, i = 0…claimers-1.
func race(e *env, fn func(st store.Store, i int)) {
	handles := make([]store.Store, claimers)
	for i := range handles {
		handles[i] = e.open()
	}
	var start, done sync.WaitGroup
	start.Add(1)
	for i, h := range handles {
		done.Go(func() {
			start.Wait()
			fn(h, i)
		})
	}
	start.Done()
	done.Wait()
}

// raceClaims has every handle claim with p rounds times at once and
// returns how many messages were leased in all.
func raceClaims(t *testing.T, e *env, p store.ClaimParams) int {
	var mu sync.Mutex
	total := 0
	race(e, func(st store.Store, _ int) {
		for range rounds {
			ds, err := st.ClaimMessages(ctx, p)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			total += len(ds)
			mu.Unlock()
		}
	})
	return total
}

var concurrencyCases = []testCase{
	{"NoMessageIsLeasedTwice", func(t *testing.T, e *env) {
		for _, s := range []string{subA, subB, subC} {
			mustCreate(t, e.st, newSub(s))
		}
		publishN(t, e.st, "r", 40)
		var mu sync.Mutex
		seen := map[int64]int{}
		race(e, func(st store.Store, _ int) {
			for range rounds {
				ds, err := st.ClaimMessages(ctx, claimParams(t0, 5, 100))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, d := range ds {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
		for id, n := range seen {
			if n > 1 {
				t.Errorf("message %d leased %d times", id, n)
			}
		}
		if len(seen) != 120 {
			t.Errorf("%d messages leased, want all 120", len(seen))
		}
	}},
	{"PerSubscriptionCapHoldsAcrossClaimers", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 30)
		if total := raceClaims(t, e, claimParams(t0, 10, 3)); total != 3 {
			t.Errorf("%d messages leased in all with a cap of 3, want 3", total)
		}
	}},
	{"OneProbeAcrossClaimers", func(t *testing.T, e *env) {
		failOnce(t, e.st, 10)
		if total := raceClaims(t, e, claimParams(t0.Add(10*time.Second), 10, 4)); total != 1 {
			t.Errorf("%d probes of a FAILING subscription, want exactly 1", total)
		}
	}},
	{"ConcurrentPublishesOfOneEventStoreItOnce", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		var mu sync.Mutex
		fresh := 0
		race(e, func(st store.Store, _ int) {
			for range rounds {
				res, err := st.Publish(ctx, []store.Event{event(org, webhook.ProductCreated, "same")})
				if err != nil {
					t.Error(err)
					return
				}
				if !res[0].Duplicate {
					mu.Lock()
					fresh++
					mu.Unlock()
				}
			}
		})
		if n := countState(t, e.st, subA, ""); fresh != 1 || n != 1 {
			t.Errorf("%d publishes were new and %d messages exist, want 1 and 1", fresh, n)
		}
	}},
	{"ConcurrentPublishesOfDifferentEventsAllCount", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		race(e, func(st store.Store, i int) {
			for r := range rounds {
				if _, err := st.Publish(ctx, []store.Event{event(org, webhook.ProductCreated, fmt.Sprintf("%d-%d", i, r))}); err != nil {
					t.Error(err)
				}
			}
		})
		if n := countState(t, e.st, subA, store.StatePending); n != claimers*rounds {
			t.Errorf("%d messages, want %d", n, claimers*rounds)
		}
	}},
	{"LeaseTakenOverAfterExpiryFencesTheOldHolder", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 1)
		a, b := e.open(), e.open()
		old := claimOne(t, a, t0)
		if n, err := b.ReleaseLeases(ctx, t0.Add(2*time.Minute)); err != nil || n != 1 {
			t.Fatalf("ReleaseLeases = %d, %v", n, err)
		}
		taken := claimOne(t, b, t0.Add(2*time.Minute))
		mustRecord(t, a, t0.Add(2*time.Minute), result(old, t0, 500))
		if s := mustGet(t, e.st, subA); s.Status != webhook.Active {
			t.Errorf("the old holder's failure made the subscription %s", s.Status)
		}
		mustRecord(t, b, t0.Add(2*time.Minute), result(taken, t0.Add(2*time.Minute), 200))
		if n := countState(t, e.st, subA, store.StateDelivered); n != 1 {
			t.Errorf("delivered = %d, want 1", n)
		}
	}},
	{"ConcurrentResultsKeepCounts", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		publishN(t, e.st, "r", 20)
		ds := mustClaim(t, e.st, t0, 100, 100)
		race(e, func(st store.Store, i int) {
			for j := i; j < len(ds); j += claimers {
				if err := record(st, t0, result(ds[j], t0, 200)); err != nil {
					t.Error(err)
				}
			}
		})
		if n := countState(t, e.st, subA, store.StateDelivered) + countState(t, e.st, subB, store.StateDelivered); n != 40 {
			t.Errorf("delivered = %d, want 40", n)
		}
	}},
}
