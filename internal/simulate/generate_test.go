package simulate

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSameSeedSameBytes(t *testing.T) {
	a, b := stream(42, 3, 2000), stream(42, 3, 2000)
	if !bytes.Equal(encodeJSON(a), encodeJSON(b)) {
		t.Fatal("two shops with seed 42 produced different events")
	}
	c := stream(43, 3, 2000)
	if bytes.Equal(encodeJSON(a), encodeJSON(c)) {
		t.Fatal("seeds 42 and 43 produced the same events")
	}
	for _, name := range EventNames() {
		p1, err1 := Payload(name, 9)
		p2, err2 := Payload(name, 9)
		if err1 != nil || err2 != nil || !bytes.Equal(p1, p2) {
			t.Errorf("Payload(%s, 9) twice: %v, %v; equal %t", name, err1, err2, bytes.Equal(p1, p2))
		}
		if p3, _ := Payload(name, 10); bytes.Equal(p1, p3) && !strings.Contains(name, "Removed") && !strings.Contains(name, "Deleted") {
			t.Errorf("Payload(%s) is the same for seeds 9 and 10", name)
		}
	}
}

func TestOrgs(t *testing.T) {
	orgs := Orgs(1, 20)
	if !slices.Equal(orgs, Orgs(1, 20)) {
		t.Error("Orgs(1, 20) differs between calls")
	}
	if slices.Equal(orgs, Orgs(2, 20)) {
		t.Error("Orgs(1, 20) == Orgs(2, 20)")
	}
	seen := map[string]bool{}
	for _, o := range orgs {
		u, err := uuid.Parse(o)
		if err != nil || u.Version() != 4 || u.Variant() != uuid.RFC4122 || seen[o] {
			t.Errorf("org %s: version %d, err %v, duplicate %t", o, u.Version(), err, seen[o])
		}
		seen[o] = true
	}
}

var envelopeTimePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestStreamEnvelope(t *testing.T) {
	orgs := Orgs(3, 4)
	events := stream(3, 4, 5000)
	ids := map[string]bool{}
	byOrg := map[string]int{}
	last := time.Time{}
	for _, e := range events {
		if ids[e.EventID] {
			t.Fatalf("duplicate event id %s", e.EventID)
		}
		ids[e.EventID] = true
		byOrg[e.OrganizationUUID]++
		if e.EventName == applicationConnectionRemoved || e.EventName == personalAssertionDeleted {
			t.Fatalf("Next returned %s", e.EventName)
		}
		if !envelopeTimePattern.MatchString(e.Timestamp) {
			t.Fatalf("timestamp %q", e.Timestamp)
		}
		ts, _ := time.Parse(time.RFC3339, e.Timestamp)
		if ts.Before(last) {
			t.Fatalf("timestamp %s goes back from %s", ts, last)
		}
		last = ts
	}
	for _, o := range orgs {
		if byOrg[o] == 0 {
			t.Errorf("organization %s has no events", o)
		}
	}
	if len(byOrg) != len(orgs) {
		t.Errorf("events for %d organizations, want %d", len(byOrg), len(orgs))
	}
}

func TestStreamMix(t *testing.T) {
	counts := map[string]int{}
	for _, e := range stream(8, 5, 5000) {
		counts[e.EventName]++
	}
	t.Logf("event mix: %v", counts)
	if counts[purchaseCreated] < 1500 || counts[inventoryBalanceChanged] < 1000 {
		t.Errorf("purchases %d, balance changes %d; want mostly purchases and their stock changes",
			counts[purchaseCreated], counts[inventoryBalanceChanged])
	}
	for _, name := range EventNames()[:8] {
		if counts[name] == 0 {
			t.Errorf("no %s in 5000 events", name)
		}
	}
	if counts[organizationUpdated] > counts[productUpdated] {
		t.Errorf("OrganizationUpdated (%d) should be rarer than ProductUpdated (%d)", counts[organizationUpdated], counts[productUpdated])
	}
}

// TestRawText checks that payloads carry non-ASCII, <, & and quotes as
// Zettle writes them: raw UTF-8, no \u003c or \u0026 escapes.
func TestRawText(t *testing.T) {
	var all []byte
	for _, e := range stream(4, 6, 5000) {
		all = append(all, e.Payload...)
	}
	for _, escaped := range []string{`\u003c`, `\u003e`, `\u0026`, `\u00`} {
		if bytes.Contains(all, []byte(escaped)) {
			t.Errorf("payloads contain %s", escaped)
		}
	}
	for _, raw := range []string{"<", "&", `\"`, "Ö", "é", "ø", "–"} {
		if !bytes.Contains(all, []byte(raw)) {
			t.Errorf("no payload contains %q", raw)
		}
	}
	for _, name := range []string{"Kaffe Örebro", "Crème brûlée", "Smørbrød", "Äpple"} {
		p, _ := Payload(productCreated, 0)
		found := bytes.Contains(all, []byte(name)) || bytes.Contains(p, []byte(name))
		if !found {
			t.Errorf("product %q never appears", name)
		}
	}
}

func TestPurchases(t *testing.T) {
	currencies := map[string]string{}
	maxLines := 0
	for _, e := range stream(6, 30, 6000) {
		if e.EventName != purchaseCreated {
			continue
		}
		var p purchaseJSON
		decode(t, e.Payload, &p)
		if n := len(p.Products); n < 1 || n > 20 {
			t.Fatalf("purchase with %d lines", n)
		}
		maxLines = max(maxLines, len(p.Products))
		if got := time.UnixMilli(p.Timestamp).UTC().Format(zettleLayout); got != p.Created {
			t.Fatalf("timestamp %d is %s, created %s", p.Timestamp, got, p.Created)
		}
		if want := p.expectedAmount(); p.Amount != want {
			t.Fatalf("amount %d, want %d from lines and discount:\n%s", p.Amount, want, e.Payload)
		}
		if p.Payments[0].Amount != p.Amount {
			t.Fatalf("payment %d for amount %d", p.Payments[0].Amount, p.Amount)
		}
		if c, ok := currencies[p.Currency]; ok && !strings.Contains(c, p.Country) || !ok {
			currencies[p.Currency] += p.Country + " "
		}
	}
	if maxLines < 10 {
		t.Errorf("largest basket had %d lines; want some big ones", maxLines)
	}
	want := map[string]string{"GBP": "GB", "SEK": "SE", "NOK": "NO", "DKK": "DK", "USD": "US", "EUR": "DE FR NL ES"}
	for cur, countries := range currencies {
		for _, c := range strings.Fields(countries) {
			if !strings.Contains(want[cur], c) {
				t.Errorf("currency %s used in %s", cur, c)
			}
		}
	}
	if len(currencies) < 6 {
		t.Errorf("currencies %v; want all six", currencies)
	}
}

func TestRefunds(t *testing.T) {
	sold := map[string]purchaseJSON{}
	refunds := 0
	for _, e := range stream(2, 3, 8000) {
		if e.EventName != purchaseCreated {
			continue
		}
		var p purchaseJSON
		decode(t, e.Payload, &p)
		if p.RefundsPurchaseUUID == "" {
			sold[p.PurchaseUUID] = p
			continue
		}
		refunds++
		orig, ok := sold[p.RefundsPurchaseUUID]
		if !ok {
			t.Fatalf("refund of unknown purchase %s", p.RefundsPurchaseUUID)
		}
		if p.Amount >= 0 || p.VatAmount > 0 {
			t.Fatalf("refund amount %d, vat %d; want negative", p.Amount, p.VatAmount)
		}
		for _, l := range p.Products {
			if q, err := strconv.Atoi(l.Quantity); err != nil || q >= 0 {
				t.Fatalf("refund line quantity %q; want a negative number as a string", l.Quantity)
			}
		}
		if ref := p.Payments[0].References.RefundsPayment; ref != orig.Payments[0].UUID {
			t.Fatalf("refund payment references %q, want %s", ref, orig.Payments[0].UUID)
		}
		delete(sold, p.RefundsPurchaseUUID) // refunded once only
	}
	if refunds < 50 {
		t.Errorf("%d refunds in 8000 events; want more", refunds)
	}
}

// TestInventoryFollowsSales replays the stream's stock changes: every
// InventoryBalanceChanged starts from the balance the previous one left,
// balances stay non-negative, and a purchase lowers stock by what it sold.
func TestInventoryFollowsSales(t *testing.T) {
	shop := NewShop(12, Orgs(12, 3), DefaultStart(12))
	known := map[string]int{} // product/variant → balance
	checked := 0
	for range 3000 {
		burst := shop.Next()
		sold := map[string]int{}
		for _, e := range burst {
			switch e.EventName {
			case purchaseCreated:
				var p purchaseJSON
				decode(t, e.Payload, &p)
				for _, l := range p.Products {
					q, _ := strconv.Atoi(l.Quantity)
					sold[l.ProductUUID+"/"+l.VariantUUID] += q
				}
			case inventoryTrackingStopped:
				var s struct{ ProductUUID string }
				decode(t, e.Payload, &s)
				for k := range known {
					if strings.HasPrefix(k, s.ProductUUID+"/") {
						delete(known, k)
					}
				}
			case inventoryBalanceChanged:
				checked += checkBalances(t, e.Payload, known, sold)
			}
		}
	}
	if checked < 1000 {
		t.Errorf("only %d balance entries checked", checked)
	}
}

func checkBalances(t *testing.T, payload []byte, known, sold map[string]int) int {
	t.Helper()
	var c struct {
		BalanceBefore, BalanceAfter []struct {
			ProductUUID, VariantUUID, Balance string
		}
	}
	decode(t, payload, &c)
	if len(c.BalanceBefore) == 0 || len(c.BalanceBefore) != len(c.BalanceAfter) {
		t.Fatalf("balanceBefore/After lengths %d/%d", len(c.BalanceBefore), len(c.BalanceAfter))
	}
	for i, b := range c.BalanceBefore {
		a := c.BalanceAfter[i]
		key := b.ProductUUID + "/" + b.VariantUUID
		before, _ := strconv.Atoi(b.Balance)
		after, _ := strconv.Atoi(a.Balance)
		if a.ProductUUID+"/"+a.VariantUUID != key || after < 0 {
			t.Fatalf("entry %d: before %s, after %s/%s = %d", i, key, a.ProductUUID, a.VariantUUID, after)
		}
		if prev, ok := known[key]; ok && prev != before {
			t.Fatalf("%s: balance before %d, but the last change left %d", key, before, prev)
		}
		if q, ok := sold[key]; ok && before-after != q {
			t.Fatalf("%s: sold %d but stock went %d → %d", key, q, before, after)
		}
		known[key] = after
	}
	return len(c.BalanceBefore)
}

func TestProductIDsAreVersion1AtCreation(t *testing.T) {
	shop := NewShop(21, Orgs(21, 2), DefaultStart(21))
	for range 50 {
		e, err := shop.NextOf(productCreated)
		if err != nil {
			t.Fatal(err)
		}
		var p struct {
			UUID     string
			Created  string
			Variants []struct{ UUID string }
		}
		decode(t, e.Payload, &p)
		created, err := time.Parse(zettleLayout, p.Created)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range append([]string{p.UUID}, variantIDs(p.Variants)...) {
			u := uuid.MustParse(id)
			sec, nsec := u.Time().UnixTime()
			at := time.Unix(sec, nsec)
			if u.Version() != 1 || at.Sub(created).Abs() > time.Millisecond {
				t.Fatalf("id %s: version %d, time %s; want version 1 at %s", id, u.Version(), at.UTC(), created)
			}
		}
	}
}

func variantIDs(vs []struct{ UUID string }) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.UUID)
	}
	return ids
}

func TestNextOf(t *testing.T) {
	shop := NewShop(1, nil, DefaultStart(1))
	for _, name := range EventNames() {
		e, err := shop.NextOf(name)
		if err != nil || e.EventName != name {
			t.Errorf("NextOf(%s) = %s, %v", name, e.EventName, err)
		}
	}
	e, _ := shop.NextOf(personalAssertionDeleted)
	if string(e.Payload) != `{"type":"PersonalAssertionDeleted"}` || e.ClientID == "" {
		t.Errorf("PersonalAssertionDeleted = %s, client %q", e.Payload, e.ClientID)
	}
	if _, err := shop.NextOf("PurchaseUpdated"); err == nil {
		t.Error("NextOf(PurchaseUpdated) succeeded")
	}
}

func TestProductUpdatedHasBothEntities(t *testing.T) {
	shop := NewShop(31, Orgs(31, 2), DefaultStart(31))
	for range 100 {
		e, _ := shop.NextOf(productUpdated)
		var c struct {
			OrganizationUUID     string
			NewEntity, OldEntity json.RawMessage
		}
		decode(t, e.Payload, &c)
		if bytes.Equal(c.NewEntity, c.OldEntity) {
			t.Fatalf("ProductUpdated without a change: %s", e.Payload)
		}
		var n, o struct{ UUID, Etag, Created string }
		decode(t, c.NewEntity, &n)
		decode(t, c.OldEntity, &o)
		if n.UUID != o.UUID || n.Created != o.Created || n.Etag == o.Etag {
			t.Fatalf("new %+v, old %+v", n, o)
		}
	}
}

// purchaseJSON is the part of a PurchaseCreated payload the tests read.
type purchaseJSON struct {
	PurchaseUUID        string
	RefundsPurchaseUUID string
	Currency, Country   string
	Amount, VatAmount   int64
	Timestamp           int64
	Created             string
	TaxationMode        string
	Products            []struct {
		ProductUUID, VariantUUID string
		UnitPrice                int64
		Quantity                 string
	}
	Discounts []struct{ Amount int64 }
	Payments  []struct {
		UUID       string
		Amount     int64
		References struct{ RefundsPayment string }
	}
}

func (p purchaseJSON) expectedAmount() int64 {
	var sum int64
	for _, l := range p.Products {
		q, _ := strconv.Atoi(l.Quantity)
		sum += l.UnitPrice * int64(q)
	}
	for _, d := range p.Discounts {
		sum -= d.Amount
	}
	if p.TaxationMode == "EXCLUSIVE" {
		sum += p.VatAmount
	}
	return sum
}

func decode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v in %s", err, data)
	}
}
