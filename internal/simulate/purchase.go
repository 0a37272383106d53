package simulate

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// saleLine is one line of a basket before it is priced.
type saleLine struct {
	it  *item
	v   int // variant index
	qty int
}

// purchase sells a basket of 1–20 lines and returns the PurchaseCreated
// event followed by one InventoryBalanceChanged per tracked product sold.
// It returns nil if nothing could be sold.
func (s *Shop) purchase(o *org, t time.Time) []draft {
	var moves stockMoves
	basket := s.pickBasket(o, &moves)
	if len(basket) == 0 {
		return nil
	}
	clerk := o.clerk(s.rng)
	lines := make([]purchaseLine, len(basket))
	for i, l := range basket {
		lines[i] = o.purchaseLine(i, l.it, l.v, l.qty)
	}
	p := s.newPurchase(o, t, clerk, lines, s.pickDiscount())
	p.Payments = []payment{s.newPayment(o, p.Amount, t)}
	o.rememberRefundable(p)
	d := draft{name: purchaseCreated, at: t, payload: encodeJSON(p)}
	by := o.changeBy(clerk, o.posClient, t)
	return append([]draft{d}, s.balanceDrafts(o, moves, t.Add(s.jitter(150, 600)), by, nil)...)
}

// refund refunds some or all lines of an earlier purchase: a PurchaseCreated
// with negative quantities and amounts and refundsPurchaseUuid, then the
// InventoryBalanceChanged events of the stock put back. It returns nil if no
// purchase is left to refund.
func (s *Shop) refund(o *org, t time.Time) []draft {
	if len(o.refundable) == 0 {
		return nil
	}
	i := s.rng.IntN(len(o.refundable))
	orig := o.refundable[i]
	o.refundable = slices.Delete(o.refundable, i, i+1)

	var moves stockMoves
	lines := s.refundLines(o, orig.Products, &moves)
	clerk := o.clerk(s.rng)
	p := s.newPurchase(o, t, clerk, lines, discountOf(orig))
	p.RefundsPurchaseUUID = orig.PurchaseUUID
	p.Payments = []payment{s.refundPayment(o, orig.Payments[0], p.Amount, t)}
	d := draft{name: purchaseCreated, at: t, payload: encodeJSON(p)}
	by := o.changeBy(clerk, o.posClient, t)
	return append([]draft{d}, s.balanceDrafts(o, moves, t.Add(s.jitter(150, 600)), by, nil)...)
}

// pickBasket chooses the lines of a sale and takes them out of stock.
// Tracked variants are never sold beyond their stock.
func (s *Shop) pickBasket(o *org, moves *stockMoves) []saleLine {
	n := s.lineCount()
	var basket []saleLine
	for try := 0; len(basket) < n && try < 3*n; try++ {
		it := pick(s.rng, o.catalogue)
		v := s.rng.IntN(len(it.product.Variants))
		qty := s.quantity()
		if it.tracked {
			if it.stock[v] == 0 {
				continue
			}
			qty = min(qty, it.stock[v])
			moves.change(it, v, -qty)
		}
		basket = append(basket, saleLine{it: it, v: v, qty: qty})
	}
	return basket
}

// refundLines picks the lines to refund (usually all), negates their
// quantities and puts tracked stock back.
func (s *Shop) refundLines(o *org, sold []purchaseLine, moves *stockMoves) []purchaseLine {
	keep := sold
	if len(sold) > 1 && s.rng.IntN(10) < 4 {
		keep = nil
		for _, l := range sold {
			if s.rng.IntN(2) == 0 {
				keep = append(keep, l)
			}
		}
		if len(keep) == 0 {
			keep = sold[:1]
		}
	}
	lines := make([]purchaseLine, len(keep))
	for i, l := range keep {
		qty, _ := strconv.Atoi(l.Quantity)
		l.ID = strconv.Itoa(i)
		l.Quantity = strconv.Itoa(-qty)
		lines[i] = l
		if it := o.find(l.ProductUUID); it != nil && it.tracked {
			if v := it.variantIndex(l.VariantUUID); v >= 0 {
				moves.change(it, v, qty)
			}
		}
	}
	return lines
}

// lineCount is the number of lines of a basket: mostly one to three,
// sometimes a big order of up to 20.
func (s *Shop) lineCount() int {
	if s.rng.IntN(25) == 0 {
		return 10 + s.rng.IntN(11)
	}
	return min(20, 1+int(s.rng.ExpFloat64()*1.5))
}

func (s *Shop) quantity() int {
	switch r := s.rng.IntN(100); {
	case r < 72:
		return 1
	case r < 92:
		return 2
	default:
		return 3 + s.rng.IntN(4)
	}
}

func (o *org) purchaseLine(id int, it *item, v, qty int) purchaseLine {
	p, va := it.product, it.product.Variants[v]
	rate := o.loc.rates[templates[it.template].vat]
	line := purchaseLine{
		ID:               strconv.Itoa(id),
		ProductUUID:      p.UUID,
		VariantUUID:      va.UUID,
		Name:             p.Name,
		VariantName:      va.Name,
		SKU:              va.SKU,
		Barcode:          va.Barcode,
		UnitPrice:        va.Price.Amount,
		Quantity:         strconv.Itoa(qty),
		VatPercentage:    javaDouble(rate),
		TaxRates:         []taxRate{{Percentage: rate}},
		FromLocationUUID: o.storeLocation,
		ToLocationUUID:   o.soldLocation,
		Type:             "PRODUCT",
	}
	if va.CostPrice != nil {
		line.CostPrice = ptr(va.CostPrice.Amount)
	}
	return line
}

// discountRule is a purchase-wide percentage discount; zero means none.
type discountRule struct {
	name    string
	percent float64
}

func (s *Shop) pickDiscount() discountRule {
	if s.rng.IntN(100) >= 8 {
		return discountRule{}
	}
	return pick(s.rng, []discountRule{
		{"Staff discount", 20}, {"Happy hour", 15}, {"Loyalty card", 10}, {"Student <25", 10}, {"Rabatt 5 %", 5},
	})
}

func discountOf(p purchase) discountRule {
	if len(p.Discounts) == 0 {
		return discountRule{}
	}
	return discountRule{p.Discounts[0].Name, p.Discounts[0].Percentage}
}

// newPurchase prices lines and fills in everything but the payments.
func (s *Shop) newPurchase(o *org, t time.Time, clerk user, lines []purchaseLine, disc discountRule) purchase {
	amount, tax, off := o.totals(lines, disc.percent)
	checkoutStarted := t.Add(-s.jitter(3_000, 90_000))
	o.purchaseNumber++
	p := purchase{
		PurchaseUUID:     o.purchaseIDs.at(checkoutStarted),
		Source:           "POS",
		UserUUID:         clerk.uuid,
		Currency:         o.loc.currency,
		Country:          o.loc.country,
		Amount:           amount,
		VatAmount:        tax,
		Timestamp:        t.UnixMilli(),
		Created:          zettleTime(t),
		GPSCoordinates:   s.position(o),
		PurchaseNumber:   o.purchaseNumber,
		UserDisplayName:  clerk.name,
		UDID:             pick(s.rng, o.devices),
		OrganizationUUID: o.uuid,
		Products:         lines,
		Discounts:        []discount{},
		References:       references{CheckoutUUID: o.paymentIDs.at(checkoutStarted)},
		TaxationMode:     o.loc.taxationMode,
		TaxationType:     o.loc.taxationType,
	}
	if off != 0 {
		p.Discounts = append(p.Discounts, discount{Name: disc.name, Percentage: disc.percent, Amount: off, Quantity: "1"})
	}
	return p
}

// totals returns the amount to pay, the tax in it and the discount, all in
// minor units. Tax is included in prices (VAT) or added to them (US sales
// tax) as the locale says. Refund lines have negative quantities, so refunds
// come out negative.
func (o *org) totals(lines []purchaseLine, discountPercent float64) (amount, tax, off int64) {
	var gross int64
	var vat float64
	for _, l := range lines {
		qty, _ := strconv.Atoi(l.Quantity)
		sum := l.UnitPrice * int64(qty)
		gross += sum
		rate := float64(l.VatPercentage)
		if o.loc.taxationMode == "INCLUSIVE" {
			vat += float64(sum) * rate / (100 + rate)
		} else {
			vat += float64(sum) * rate / 100
		}
	}
	off = int64(math.Round(float64(gross) * discountPercent / 100))
	if gross != 0 {
		vat *= float64(gross-off) / float64(gross)
	}
	tax = int64(math.Round(vat))
	amount = gross - off
	if o.loc.taxationMode != "INCLUSIVE" {
		amount += tax
	}
	return amount, tax, off
}

func (s *Shop) position(o *org) *gpsPosition {
	if s.rng.IntN(10) < 2 {
		return nil
	}
	return &gpsPosition{
		Longitude:      o.city.lon + (s.rng.Float64()-0.5)*0.02,
		Latitude:       o.city.lat + (s.rng.Float64()-0.5)*0.02,
		AccuracyMeters: 5 + s.rng.Float64()*60,
	}
}

// newPayment pays amount by card, cash or the local mobile wallet.
func (s *Shop) newPayment(o *org, amount int64, t time.Time) payment {
	p := payment{UUID: o.paymentIDs.at(t.Add(-s.jitter(200, 2000))), Amount: amount}
	switch r := s.rng.IntN(100); {
	case o.loc.mobilePayment != "" && r < 12:
		p.Type, p.Attributes = o.loc.mobilePayment, struct{}{}
	case r < 72:
		p.Type, p.Attributes = "IZETTLE_CARD", s.cardAttributes()
	default:
		p.Type, p.Attributes = "IZETTLE_CASH", s.cashAttributes(o, amount)
	}
	return p
}

// refundPayment pays amount (negative) back the way orig was paid.
func (s *Shop) refundPayment(o *org, orig payment, amount int64, t time.Time) payment {
	p := payment{
		UUID:       o.paymentIDs.at(t),
		Amount:     amount,
		Type:       orig.Type,
		Attributes: orig.Attributes,
		References: &paymentRefs{RefundsPayment: orig.UUID},
	}
	if orig.Type == "IZETTLE_CASH" {
		p.Attributes = cashAttributes{ChangeAmount: 0, HandedAmount: amount}
	}
	return p
}

func (s *Shop) cashAttributes(o *org, amount int64) cashAttributes {
	handed := amount
	if s.rng.IntN(10) < 6 {
		step := o.loc.cashStep * int64(1+s.rng.IntN(2))
		handed = (amount + step - 1) / step * step
	}
	return cashAttributes{ChangeAmount: handed - amount, HandedAmount: handed}
}

type cardBrand struct {
	cardType, panPrefix, aid, appName string
}

var cardBrands = []cardBrand{
	{"VISA", "476173", "A0000000031010", "VISA DEBIT"},
	{"MASTERCARD", "537613", "A0000000041010", "Debit Mastercard"},
	{"MAESTRO", "675964", "A0000000043060", "Maestro"},
	{"AMEX", "374245", "A000000025010801", "AMERICAN EXPRESS"},
}

func (s *Shop) cardAttributes() cardAttributes {
	b := pick(s.rng, cardBrands)
	return cardAttributes{
		CardPaymentEntryMode:        pick(s.rng, []string{"CONTACTLESS_EMV", "CONTACTLESS_EMV", "CONTACTLESS_EMV", "EMV"}),
		MaskedPan:                   b.panPrefix + "******" + randomDigits(s.rng, 4),
		ReferenceNumber:             randomReference(s.rng),
		NrOfInstallments:            0,
		CardType:                    b.cardType,
		TerminalVerificationResults: pick(s.rng, []string{"0000000000", "0000008000", "0000048000"}),
		ApplicationIdentifier:       b.aid,
		ApplicationName:             b.appName,
	}
}

func randomReference(rng *rand.Rand) string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 10)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (o *org) rememberRefundable(p purchase) {
	o.refundable = append(o.refundable, p)
	if len(o.refundable) > maxRefundable {
		o.refundable = slices.Delete(o.refundable, 0, 1)
	}
}

// jitter returns a random duration of lo to hi milliseconds.
func (s *Shop) jitter(lo, hi int) time.Duration {
	return time.Duration(lo+s.rng.IntN(hi-lo+1)) * time.Millisecond
}
