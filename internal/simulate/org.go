package simulate

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// org is the simulated state of one organization: who works there, what it
// sells, how much is in stock and which purchases could still be refunded.
type org struct {
	uuid    string
	loc     *locale
	city    city
	profile organization
	weight  int // relative share of the stream's events

	users             []user // users[0] owns the organization
	posClient         string // the Zettle Go app
	integrationClient string // a third-party app using the Inventory API
	devices           []string

	storeLocation, soldLocation string
	productIDs, purchaseIDs     *v1Source
	paymentIDs                  *v1Source

	categories     []category
	catalogue      []*item
	unused         []int // indexes of templates not in the catalogue
	purchaseNumber int
	refundable     []purchase
}

type user struct {
	uuid, name string
}

// item is a catalogue entry: the product and, per variant, its stock.
type item struct {
	product  product
	template int
	tracked  bool
	stock    []int // parallel to product.Variants
}

const (
	minCatalogue  = 8
	maxRefundable = 30
)

func newOrg(rng *rand.Rand, uuid string, start time.Time) *org {
	loc := &locales[rng.IntN(len(locales))]
	created := start.Add(-time.Duration(365+rng.IntN(7*365)) * 24 * time.Hour).
		Add(-time.Duration(rng.IntN(86_400_000)) * time.Millisecond)
	o := &org{
		uuid:              uuid,
		loc:               loc,
		city:              loc.cities[rng.IntN(len(loc.cities))],
		weight:            1 + rng.IntN(4),
		posClient:         randomV4(rng),
		integrationClient: randomV4(rng),
		productIDs:        newV1Source(rng),
		purchaseIDs:       newV1Source(rng),
		paymentIDs:        newV1Source(rng),
		purchaseNumber:    1 + rng.IntN(20000),
	}
	o.users = newUsers(rng, loc)
	for range 1 + rng.IntN(3) {
		o.devices = append(o.devices, randomHex(rng, 40))
	}
	o.storeLocation = newV1Source(rng).at(created)
	o.soldLocation = newV1Source(rng).at(created)
	o.profile = newProfile(rng, o, created)
	for _, name := range categoryNames() {
		o.categories = append(o.categories, category{UUID: o.productIDs.at(created.Add(time.Hour)), Name: name})
	}
	o.stockCatalogue(rng, created.Add(24*time.Hour), start)
	return o
}

func newUsers(rng *rand.Rand, loc *locale) []user {
	names := slices.Clone(loc.people)
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	users := make([]user, 1+rng.IntN(len(names)))
	for i := range users {
		users[i] = user{uuid: randomV4(rng), name: names[i]}
	}
	return users
}

func newProfile(rng *rand.Rand, o *org, created time.Time) organization {
	loc, owner := o.loc, o.users[0]
	shopName := pick(rng, loc.shopNames)
	street := pick(rng, loc.streets)
	domain := slugify(shopName) + loc.webSuffix
	p := organization{
		UUID: o.uuid, Name: owner.name, ReceiptName: shopName,
		City: o.city.name, ZipCode: o.city.zip, Address: street,
		OptionalText: pick(rng, loc.openingHours),
		LegalName:    shopName, LegalAddress: street, LegalZipCode: o.city.zip, LegalCity: o.city.name,
		PhoneNumber: loc.phonePrefix + randomDigits(rng, 7),
		WebSite:     "www." + domain, ContactEmail: "info@" + domain, ReceiptEmail: "kvitto@" + domain,
		LegalEntityType: pick(rng, []string{"COMPANY", "SOLE_TRADER"}),
		LegalEntityNr:   randomDigits(rng, 8) + loc.country,
		VatPercentage:   javaDouble(loc.rates[vatStandard]),
		Country:         loc.country, Language: loc.language, Currency: loc.currency,
		Created: zettleTime(created), OwnerUUID: owner.uuid, CustomerStatus: "ACCEPTED",
		UsesVat:      loc.taxationType == "VAT",
		CustomerType: pick(rng, []string{"SelfEmployed", "LimitedCompany"}),
		TaxationType: loc.taxationType, TaxationMode: loc.taxationMode, TimeZone: loc.timeZone,
	}
	if rng.IntN(2) == 0 {
		p.VatNr = ptr(loc.country + randomDigits(rng, 10))
	}
	if rng.IntN(10) < 7 {
		p.ProfileImageURL = ptr("https://image.izettle.com/profileimage/[size]/" + randomBase64URL(rng, 27) + ".png")
	}
	return p
}

// stockCatalogue fills the catalogue with products created between from and
// to, in time order, about 60% of them with inventory tracking.
func (o *org) stockCatalogue(rng *rand.Rand, from, to time.Time) {
	perm := rng.Perm(len(templates))
	n := 12 + rng.IntN(19)
	o.unused = perm[n:]
	times := make([]time.Time, n)
	span := int64(to.Sub(from) / time.Millisecond)
	for i := range times {
		times[i] = from.Add(time.Duration(rng.Int64N(span)) * time.Millisecond)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i, t := range times {
		it := o.newItem(rng, perm[i], t, pick(rng, o.users))
		if !templates[it.template].service && rng.IntN(10) < 6 {
			it.tracked = true
			for v := range it.stock {
				it.stock[v] = 5 + rng.IntN(76)
			}
		}
		o.catalogue = append(o.catalogue, it)
	}
}

// newItem creates the product of template ti at time t, untracked.
func (o *org) newItem(rng *rand.Rand, ti int, t time.Time, by user) *item {
	tm := templates[ti]
	p := product{
		UUID:              o.productIDs.at(t),
		OrganizationUUID:  o.uuid,
		Name:              tm.name,
		VatPercentage:     formatPercent(o.loc.rates[tm.vat]),
		Online:            online{Status: pick(rng, []string{"HIDDEN", "ACTIVE"}), Seo: seo{Slug: slugify(tm.name)}},
		Etag:              randomEtag(rng),
		Updated:           zettleTime(t),
		UpdatedByUserUUID: by.uuid,
		Created:           zettleTime(t),
		CreatedByUserUUID: by.uuid,
		Category:          o.category(tm.category),
	}
	if tm.options == nil {
		p.Variants = []variant{o.newVariant(rng, tm, -1, t)}
	} else {
		for i := range 1 + rng.IntN(len(tm.options.values)) {
			p.Variants = append(p.Variants, o.newVariant(rng, tm, i, t))
		}
		p.VariantOptionDefinitions = optionDefinitionsOf(tm.options, len(p.Variants))
	}
	return &item{product: p, template: ti, stock: make([]int, len(p.Variants))}
}

// newVariant creates the variant of tm with option value i, or the only
// variant of a product without options when i < 0.
func (o *org) newVariant(rng *rand.Rand, tm productTemplate, i int, t time.Time) variant {
	base := float64(tm.basePence) * o.loc.priceFactor
	v := variant{UUID: o.productIDs.at(t)}
	if i >= 0 {
		base *= tm.options.priceFactors[i]
		v.Name = tm.options.values[i]
		v.Options = []optionChoice{{Name: tm.options.name, Value: v.Name}}
	}
	v.Price = o.money(roundPrice(base, o.loc.priceStep))
	if rng.IntN(10) < 6 {
		cost := o.money(roundPrice(base*(0.3+0.4*rng.Float64()), o.loc.priceStep))
		v.CostPrice = &cost
	}
	if rng.IntN(2) == 0 {
		v.SKU = skuPrefix(tm.name) + "-" + randomDigits(rng, 4)
	}
	if rng.IntN(10) < 4 {
		v.Barcode = randomDigits(rng, 13)
	}
	return v
}

func optionDefinitionsOf(set *optionSet, n int) *optionDefinitions {
	def := optionDefinition{Name: set.name}
	for _, v := range set.values[:n] {
		def.Properties = append(def.Properties, optionProperty{Value: v})
	}
	return &optionDefinitions{Definitions: []optionDefinition{def}}
}

func (o *org) money(amount int64) money { return money{Amount: amount, CurrencyID: o.loc.currency} }

func (o *org) category(name string) *category {
	for i := range o.categories {
		if o.categories[i].Name == name {
			c := o.categories[i]
			return &c
		}
	}
	return nil
}

func (o *org) clerk(rng *rand.Rand) user { return pick(rng, o.users) }

// tracked returns the catalogue items with inventory tracking on (want true)
// or off (want false).
func (o *org) tracked(want bool) []*item {
	var items []*item
	for _, it := range o.catalogue {
		if it.tracked == want {
			items = append(items, it)
		}
	}
	return items
}

// find returns the catalogue item of a product, or nil once it is deleted.
func (o *org) find(productUUID string) *item {
	for _, it := range o.catalogue {
		if it.product.UUID == productUUID {
			return it
		}
	}
	return nil
}

// skuPrefix is the first three letters of a product name, in ASCII capitals.
func skuPrefix(name string) string {
	s := strings.ToUpper(strings.ReplaceAll(slugify(name), "-", ""))
	return s[:min(3, len(s))]
}

func roundPrice(p float64, step int64) int64 {
	return max(step, int64(math.Round(p/float64(step)))*step)
}

func formatPercent(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

func randomEtag(rng *rand.Rand) string { return strings.ToUpper(randomHex(rng, 32)) }

func randomBase64URL(rng *rand.Rand, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func ptr[T any](v T) *T { return &v }

// asciiFold lowercases s and spells the letters of the shop names and
// products in ASCII: "Crème brûlée" → "creme brulee".
func asciiFold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if f, ok := folds[r]; ok {
			b.WriteString(f)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

var folds = map[rune]string{
	'å': "a", 'ä': "a", 'à': "a", 'â': "a", 'á': "a", 'æ': "ae",
	'ö': "o", 'ø': "o", 'ô': "o", 'ó': "o", 'œ': "oe",
	'é': "e", 'è': "e", 'ê': "e", 'ë': "e",
	'ü': "u", 'û': "u", 'ú': "u", 'í': "i", 'î': "i", 'ï': "i",
	'ç': "c", 'ñ': "n", 'ß': "ss",
}

// slugify makes a URL slug: "Crème brûlée" → "creme-brulee".
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range asciiFold(s) {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}
