package simulate

import (
	"slices"
	"strconv"
	"time"
)

// stockMove records how one product's stock changed: the variants touched,
// in order, and each one's balance before the first change.
type stockMove struct {
	it       *item
	variants []int
	before   []int
}

// stockMoves collects the stock changes of one action, one entry per
// product; each becomes one InventoryBalanceChanged.
type stockMoves []*stockMove

// change adds delta to the stock of variant v of it.
func (ms *stockMoves) change(it *item, v, delta int) {
	i := slices.IndexFunc(*ms, func(m *stockMove) bool { return m.it == it })
	if i < 0 {
		*ms = append(*ms, &stockMove{it: it})
		i = len(*ms) - 1
	}
	m := (*ms)[i]
	if !slices.Contains(m.variants, v) {
		m.variants = append(m.variants, v)
		m.before = append(m.before, it.stock[v])
	}
	it.stock[v] += delta
}

// changeBy is the who-and-when object of inventory events.
func (o *org) changeBy(u user, client string, t time.Time) changeInfo {
	return changeInfo{UUID: u.uuid, Timestamp: zettleTime(t), UserType: "USER", ClientUUID: client}
}

// balanceDrafts returns one InventoryBalanceChanged per product in moves,
// the first at time at, each a few milliseconds after the previous one.
func (s *Shop) balanceDrafts(o *org, moves stockMoves, at time.Time, by changeInfo, external *string) []draft {
	drafts := make([]draft, 0, len(moves))
	for _, m := range moves {
		by.Timestamp = zettleTime(at)
		created := at.Add(s.jitter(10, 40))
		payload := encodeJSON(o.balanceChange(m, by, created, external))
		drafts = append(drafts, draft{name: inventoryBalanceChanged, at: created, payload: payload})
		at = created.Add(s.jitter(5, 30))
	}
	return drafts
}

func (o *org) balanceChange(m *stockMove, by changeInfo, created time.Time, external *string) balanceChange {
	c := balanceChange{OrganizationUUID: o.uuid, Updated: by, ExternalUUID: external}
	for i, v := range m.variants {
		entry := balance{
			OrganizationUUID: o.uuid,
			LocationUUID:     o.storeLocation,
			ProductUUID:      m.it.product.UUID,
			VariantUUID:      m.it.product.Variants[v].UUID,
		}
		before, after := entry, entry
		before.Balance = strconv.Itoa(m.before[i])
		after.Created = zettleTime(created)
		after.Balance = strconv.Itoa(m.it.stock[v])
		c.BalanceBefore = append(c.BalanceBefore, before)
		c.BalanceAfter = append(c.BalanceAfter, after)
	}
	return c
}

// restock refills the tracked product with the least stock, by hand in the
// app or through the Inventory API (which passes an externalUuid through).
// It returns nil if no product is tracked.
func (s *Shop) restock(o *org, t time.Time) []draft {
	it := lowestStock(o.tracked(true))
	if it == nil {
		return nil
	}
	var moves stockMoves
	for v, n := range it.stock {
		if n < 30 {
			moves.change(it, v, 20+s.rng.IntN(81))
		}
	}
	if len(moves) == 0 {
		moves.change(it, s.rng.IntN(len(it.stock)), 10+s.rng.IntN(41))
	}
	by := o.changeBy(o.clerk(s.rng), o.posClient, t)
	var external *string
	if s.rng.IntN(2) == 0 {
		by.ClientUUID = o.integrationClient
		external = ptr(randomV4(s.rng))
	}
	return s.balanceDrafts(o, moves, t, by, external)
}

func lowestStock(items []*item) *item {
	var low *item
	lowSum := 0
	for _, it := range items {
		sum := 0
		for _, n := range it.stock {
			sum += n
		}
		if low == nil || sum < lowSum {
			low, lowSum = it, sum
		}
	}
	return low
}

// startTracking turns inventory tracking on for an untracked product and
// counts its stock: InventoryTrackingStarted, then InventoryBalanceChanged
// from 0. It returns nil if every product is tracked.
func (s *Shop) startTracking(o *org, t time.Time) []draft {
	candidates := o.tracked(false)
	goods := slices.DeleteFunc(slices.Clone(candidates), func(it *item) bool { return templates[it.template].service })
	if len(goods) > 0 {
		candidates = goods
	}
	if len(candidates) == 0 {
		return nil
	}
	return s.track(o, pick(s.rng, candidates), t)
}

func (s *Shop) track(o *org, it *item, t time.Time) []draft {
	it.tracked = true
	clerk := o.clerk(s.rng)
	started := trackingStarted{
		OrganizationUUID: o.uuid,
		ProductUUID:      it.product.UUID,
		Created:          o.changeBy(clerk, o.posClient, t),
	}
	var moves stockMoves
	for v := range it.stock {
		moves.change(it, v, 5+s.rng.IntN(76))
	}
	counted := t.Add(s.jitter(2_000, 30_000))
	d := draft{name: inventoryTrackingStarted, at: t, payload: encodeJSON(started)}
	return append([]draft{d}, s.balanceDrafts(o, moves, counted, o.changeBy(clerk, o.posClient, counted), nil)...)
}

// stopTracking turns inventory tracking off for a tracked product. It
// returns nil if no product is tracked.
func (s *Shop) stopTracking(o *org, t time.Time) []draft {
	candidates := o.tracked(true)
	if len(candidates) == 0 {
		return nil
	}
	it := pick(s.rng, candidates)
	it.tracked = false
	clear(it.stock)
	stopped := trackingStopped{
		OrganizationUUID:  o.uuid,
		ProductUUID:       it.product.UUID,
		ChangeInformation: o.changeBy(o.clerk(s.rng), o.posClient, t),
	}
	return []draft{{name: inventoryTrackingStopped, at: t, payload: encodeJSON(stopped)}}
}

// variantIndex returns the index of the variant with id, or -1.
func (it *item) variantIndex(id string) int {
	return slices.IndexFunc(it.product.Variants, func(v variant) bool { return v.UUID == id })
}
