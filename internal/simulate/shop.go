package simulate

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// Event is one event as the ingest API takes it.
type Event struct {
	OrganizationUUID string          `json:"organizationUuid"`
	EventName        string          `json:"eventName"`
	EventID          string          `json:"eventId"`
	Timestamp        string          `json:"timestamp,omitempty"` // RFC 3339 UTC with ms, e.g. 2021-04-19T13:17:56.585Z
	Payload          json.RawMessage `json:"payload"`
	ClientID         string          `json:"clientId,omitempty"`
}

// Shop simulates the organizations of a point-of-sale system: each has
// staff, devices, a product catalogue and stock levels, and every event it
// emits is consistent with that state. A Shop is deterministic: the same
// seed, organizations and start give the same events, byte for byte. It is
// not safe for concurrent use.
type Shop struct {
	rng         *rand.Rand
	seed        uint64
	start       time.Time
	clock       time.Time // the simulated now; never goes backwards
	orgs        []*org
	totalWeight int
	issued      uint64 // events handed out so far
}

// draft is an event before it is given its id and envelope timestamp.
type draft struct {
	name     string
	at       time.Time
	payload  []byte
	clientID string
}

// NewShop returns a shop for the given organizations (Orgs(seed, 1) if
// none) whose simulated clock starts at start.
func NewShop(seed uint64, orgs []string, start time.Time) *Shop {
	if len(orgs) == 0 {
		orgs = Orgs(seed, 1)
	}
	start = start.UTC().Truncate(time.Millisecond)
	s := &Shop{rng: rand.New(rand.NewPCG(seed, shopStream)), seed: seed, start: start, clock: start}
	for _, id := range orgs {
		o := newOrg(s.rng, id, start)
		s.orgs = append(s.orgs, o)
		s.totalWeight += o.weight
	}
	return s
}

// Next returns the next burst of events of one organization: mostly a
// purchase followed by the InventoryBalanceChanged events it causes (one per
// tracked product sold, balances decreasing), sometimes a refund (a
// PurchaseCreated with negative amount and refundsPurchaseUuid, putting
// stock back) or a restock, occasionally ProductCreated, ProductUpdated,
// ProductDeleted, InventoryTrackingStarted or InventoryTrackingStopped, and
// rarely OrganizationUpdated. It never returns ApplicationConnectionRemoved
// or PersonalAssertionDeleted, which would remove subscriptions.
func (s *Shop) Next() []Event {
	o := s.pickOrg()
	t := s.tick()
	return s.stamp(o, s.burst(o, t))
}

// NextOf returns one event named eventName (any of EventNames) for a
// randomly chosen organization, changing the shop's state as the event says.
// Events that the same action would also cause are dropped, so NextOf suits
// benchmarks that need payloads of one type rather than a consistent stream.
func (s *Shop) NextOf(eventName string) (Event, error) {
	o := s.pickOrg()
	t := s.tick()
	drafts, err := s.buildOne(eventName, o, t)
	if err != nil {
		return Event{}, err
	}
	for _, d := range drafts {
		if d.name == eventName {
			return s.stamp(o, []draft{d})[0], nil
		}
	}
	return Event{}, fmt.Errorf("simulate: no %s event was generated", eventName)
}

// Payload returns one payload of eventName generated from seed alone: the
// same seed always gives the same bytes.
func Payload(eventName string, seed uint64) (json.RawMessage, error) {
	ev, err := NewShop(seed, Orgs(seed, 1), DefaultStart(seed)).NextOf(eventName)
	return ev.Payload, err
}

// burstKind is one kind of burst Next may emit, with its relative weight.
// build returns nil when the organization's state does not allow it now.
type burstKind struct {
	weight int
	build  func(s *Shop, o *org, t time.Time) []draft
}

var burstKinds = []burstKind{
	{800, (*Shop).purchase},
	{60, (*Shop).refund},
	{40, (*Shop).restock},
	{14, func(s *Shop, o *org, t time.Time) []draft { return s.createProduct(o, t, false) }},
	{10, func(s *Shop, o *org, t time.Time) []draft { return s.createProduct(o, t, true) }},
	{35, (*Shop).updateProduct},
	{12, (*Shop).deleteProduct},
	{8, (*Shop).startTracking},
	{12, (*Shop).stopTracking},
	{10, (*Shop).updateOrganization},
}

func (s *Shop) burst(o *org, t time.Time) []draft {
	if d := s.pickBurstKind().build(s, o, t); d != nil {
		return d
	}
	if d := s.purchase(o, t); d != nil {
		return d
	}
	return s.restock(o, t) // a purchase fails only if all tracked stock is sold out
}

func (s *Shop) pickBurstKind() burstKind {
	total := 0
	for _, k := range burstKinds {
		total += k.weight
	}
	n := s.rng.IntN(total)
	for _, k := range burstKinds {
		if n < k.weight {
			return k
		}
		n -= k.weight
	}
	panic("unreachable")
}

// buildOne performs an action that emits eventName, first creating whatever
// state the action needs (a tracked product, a purchase to refund, …).
func (s *Shop) buildOne(eventName string, o *org, t time.Time) ([]draft, error) {
	later := t.Add(time.Second)
	switch eventName {
	case purchaseCreated:
		if d := s.purchase(o, t); d != nil {
			return d, nil
		}
		s.restock(o, t)
		return s.purchase(o, later), nil
	case inventoryBalanceChanged:
		if len(o.tracked(true)) == 0 {
			s.startTracking(o, t)
		}
		return s.restock(o, later), nil
	case productCreated:
		return s.createProduct(o, t, false), nil
	case productUpdated:
		return s.updateProduct(o, t), nil
	case productDeleted:
		if len(o.catalogue) <= minCatalogue {
			s.createProduct(o, t, false)
		}
		return s.deleteProduct(o, later), nil
	case inventoryTrackingStarted:
		if len(o.tracked(false)) == 0 {
			s.createProduct(o, t, false)
		}
		return s.startTracking(o, later), nil
	case inventoryTrackingStopped:
		if len(o.tracked(true)) == 0 {
			s.startTracking(o, t)
		}
		return s.stopTracking(o, later), nil
	case organizationUpdated:
		return s.updateOrganization(o, t), nil
	case applicationConnectionRemoved, personalAssertionDeleted:
		return s.disconnect(o, t, eventName), nil
	}
	return nil, fmt.Errorf("simulate: unknown event name %q", eventName)
}

func (s *Shop) pickOrg() *org {
	n := s.rng.IntN(s.totalWeight)
	for _, o := range s.orgs {
		if n < o.weight {
			return o
		}
		n -= o.weight
	}
	panic("unreachable")
}

// tick advances the simulated clock by a random pause between customers.
func (s *Shop) tick() time.Time {
	gap := 50 + int64(s.rng.ExpFloat64()*4000)
	s.clock = s.clock.Add(time.Duration(gap) * time.Millisecond)
	return s.clock
}

// stamp turns drafts into Events: ids in issue order and an envelope
// timestamp a few milliseconds after the payload's own time (and never
// before the previous event's).
func (s *Shop) stamp(o *org, drafts []draft) []Event {
	events := make([]Event, len(drafts))
	for i, d := range drafts {
		s.issued++
		at := d.at.Add(time.Duration(7+s.rng.IntN(24)) * time.Millisecond)
		if at.Before(s.clock) {
			at = s.clock // envelope timestamps never go back
		}
		s.clock = at
		events[i] = Event{
			OrganizationUUID: o.uuid,
			EventName:        d.name,
			EventID:          eventID(s.seed, s.start, s.issued),
			Timestamp:        envelopeTime(at),
			Payload:          d.payload,
			ClientID:         d.clientID,
		}
	}
	return events
}
