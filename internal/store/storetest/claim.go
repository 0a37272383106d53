package storetest

import (
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
)

func mustClaimP(t *testing.T, st store.Store, p store.ClaimParams) []*store.Delivery {
	t.Helper()
	ds, err := st.ClaimMessages(ctx, p)
	if err != nil {
		t.Fatalf("ClaimMessages = %v", err)
	}
	return ds
}

var claimCases = []testCase{
	{"PerSubscriptionCap", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		publishN(t, e.st, "c", 5)
		per := map[string]int{}
		for _, d := range mustClaim(t, e.st, t0, 100, 2) {
			per[d.SubscriptionUUID]++
		}
		if per[subA] != 2 || per[subB] != 2 {
			t.Errorf("claimed per subscription %v, want 2 each", per)
		}
	}},
	{"NothingMoreWhileSlotsAreFull", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 5)
		mustClaim(t, e.st, t0, 100, 2)
		if more := mustClaim(t, e.st, t0, 100, 2); len(more) != 0 {
			t.Errorf("claimed %d more while the slots are full, want 0", len(more))
		}
	}},
	{"OldestFirst", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 3)
		ds := mustClaim(t, e.st, t0, 100, 3)
		if len(ds) != 3 || ds[0].ID >= ds[1].ID || ds[1].ID >= ds[2].ID || ds[0].Envelope.Payload != `{"id":"c-0"}` {
			t.Errorf("claimed %d, first payload %q; want 3 in publishing order", len(ds), ds[0].Envelope.Payload)
		}
	}},
	{"LimitHolds", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 5)
		if ds := mustClaim(t, e.st, t0, 1, 10); len(ds) != 1 {
			t.Errorf("claimed %d with limit 1", len(ds))
		}
		if ds := mustClaim(t, e.st, t0, 0, 10); len(ds) != 0 {
			t.Errorf("claimed %d with limit 0", len(ds))
		}
	}},
	{"RoundRobinAcrossSubscriptions", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		publishN(t, e.st, "c", 5)
		ds := mustClaim(t, e.st, t0, 2, 10)
		if len(ds) != 2 || ds[0].SubscriptionUUID == ds[1].SubscriptionUUID {
			t.Errorf("claimed %d with limit 2, want one of each subscription", len(ds))
		}
	}},
	{"DeliveryCarriesWhatSendingNeeds", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 1)
		d := claimOne(t, e.st, t0)
		env := d.Envelope
		if d.SigningKey != "k-"+subA || d.Destination != "https://example.com/"+subA || d.OrganizationUUID != org ||
			d.ContactEmail != "ops@example.com" || d.LeaseToken == "" || !d.LeasedAt.Equal(t0) || d.Attempts != 0 {
			t.Errorf("delivery = %+v", d)
		}
		want := event(org, "ProductCreated", "c-0").Envelope
		if env != want {
			t.Errorf("envelope = %+v, want %+v", env, want)
		}
	}},
	{"RecordAndClaimLeasesTheNextMessage", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 3)
		ds := mustClaim(t, e.st, t0, 100, 2)
		next, err := e.st.RecordAndClaim(ctx, recordParams(t0, result(ds[0], t0, 204)), claimParams(t0, 100, 2))
		if err != nil || len(next) != 1 || next[0].Envelope.Payload != `{"id":"c-2"}` {
			t.Errorf("RecordAndClaim after one delivery = %v, %v; want the third message", next, err)
		}
	}},
	{"PerOrganizationCap", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		other := newSub(subC)
		other.OrganizationUUID = "another-org"
		mustCreate(t, e.st, other)
		publishN(t, e.st, "c", 5)
		mustPublish(t, e.st, event("another-org", "ProductCreated", "o1"), event("another-org", "ProductCreated", "o2"))
		p := claimParams(t0, 100, 4)
		p.PerOrganization = 3
		per := map[string]int{}
		for _, d := range mustClaimP(t, e.st, p) {
			per[d.OrganizationUUID]++
		}
		if per[org] != 3 || per["another-org"] != 2 {
			t.Errorf("claimed per organization %v, want 3 of %s and both of another-org", per, org)
		}
		if more := mustClaimP(t, e.st, p); len(more) != 0 {
			t.Errorf("claimed %d more while the organizations are at their cap", len(more))
		}
	}},
	{"OrganizationCapCountsWhatMayBeInFlight", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 8) // subA's backlog
		p := claimParams(t0, 100, 8)
		p.PerOrganization, p.InFlight = 4, 2
		if ds := mustClaimP(t, e.st, p); len(ds) != 8 {
			t.Fatalf("claimed %d, want all 8 of subA: they count as its 2 requests at a time", len(ds))
		}
		mustCreate(t, e.st, newSub(subB))
		mustCreate(t, e.st, newSub(subC))
		publishN(t, e.st, "d", 3) // to each of the three
		per := map[string]int{}
		for _, d := range mustClaimP(t, e.st, p) {
			per[d.SubscriptionUUID]++
		}
		if per[subA] != 0 || per[subB] != 1 || per[subC] != 1 {
			t.Errorf("claimed per subscription %v, want one each of subB and subC: the cap of 4 less subA's 2", per)
		}
		if more := mustClaimP(t, e.st, p); len(more) != 0 {
			t.Errorf("claimed %d more with the organization at its cap", len(more))
		}
		p.InFlight = 0 // every leased message counts: 10 leased, far over the cap
		if more := mustClaimP(t, e.st, p); len(more) != 0 {
			t.Errorf("claimed %d with InFlight 0 and 10 leased", len(more))
		}
	}},
	{"LeasingAheadNeedsNoOrganizationSlot", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 8)
		p := claimParams(t0, 100, 2)
		p.PerOrganization, p.InFlight = 2, 2
		claimWanting := func(want int) {
			t.Helper()
			if ds := mustClaimP(t, e.st, p); len(ds) != want {
				t.Fatalf("claimed %d with depth %d, want %d", len(ds), p.PerSubscription, want)
			}
		}
		claimWanting(2) // the organization is at its cap now
		p.PerSubscription = 8
		claimWanting(6) // behind the 2 that may be in flight: no slot needed
	}},
	{"OrganizationAtItsCapDoesNotBlockOthers", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		other := newSub(subC)
		other.OrganizationUUID = "another-org"
		mustCreate(t, e.st, other)
		publishN(t, e.st, "c", 3) // older backlog of org
		p := claimParams(t0, 10, 4)
		p.PerOrganization = 2
		if ds := mustClaimP(t, e.st, p); len(ds) != 2 {
			t.Fatalf("claimed %d, want org's 2", len(ds))
		}
		mustPublish(t, e.st, event("another-org", "ProductCreated", "o1"))
		p.Limit = 1 // one free worker: it must not go to the capped organization's older messages
		ds := mustClaimP(t, e.st, p)
		if len(ds) != 1 || ds[0].OrganizationUUID != "another-org" {
			t.Errorf("claimed %+v with one free worker, want another-org's message", ds)
		}
	}},
	{"TimedOutSubscriptionGetsOneSlotEvenAfterAnUpdate", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 5)
		d := claimOne(t, e.st, t0)
		r := result(d, t0, 0)
		r.ErrorClass = "timeout"
		mustRecord(t, e.st, t0, r)
		upd := newSub(subA) // PUT {}: ACTIVE again
		upd.Updated = t0.Add(time.Second)
		if err := e.st.UpdateSubscription(ctx, upd); err != nil {
			t.Fatal(err)
		}
		if s := mustGet(t, e.st, subA); s.Status != "ACTIVE" || !s.LastAttemptTimedOut {
			t.Fatalf("after update: %s timed out %v, want ACTIVE and still marked", s.Status, s.LastAttemptTimedOut)
		}
		if ds := mustClaim(t, e.st, t0.Add(time.Second), 100, 4); len(ds) != 1 {
			t.Errorf("claimed %d for a subscription whose last attempt timed out, want 1", len(ds))
		}
	}},
	{"QueueStatsCountsByState", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "c", 3)
		d := claimOne(t, e.st, t0)
		mustRecord(t, e.st, t0, result(d, t0, 200))
		claimOne(t, e.st, t0.Add(time.Second))
		qs, err := e.st.QueueStats(ctx)
		if err != nil || qs.Pending != 1 || qs.Leased != 1 || qs.Dead != 0 || !qs.OldestPending.Equal(t0) {
			t.Errorf("QueueStats = %+v, %v; want 1 pending, 1 leased, oldest at %v", qs, err, t0)
		}
	}},
}
