package simulate

import (
	"slices"
	"strings"
	"time"
)

// createProduct adds a product to the catalogue: ProductCreated and, when
// track is set, InventoryTrackingStarted and its first stock count.
func (s *Shop) createProduct(o *org, t time.Time, track bool) []draft {
	it := o.newItem(s.rng, s.takeTemplate(o), t, o.clerk(s.rng))
	o.catalogue = append(o.catalogue, it)
	drafts := []draft{{name: productCreated, at: t, payload: encodeJSON(it.product)}}
	if track {
		drafts = append(drafts, s.track(o, it, t.Add(s.jitter(5_000, 60_000)))...)
	}
	return drafts
}

// takeTemplate picks a product the organization does not sell yet, or any
// product once it sells them all.
func (s *Shop) takeTemplate(o *org) int {
	if len(o.unused) == 0 {
		return s.rng.IntN(len(templates))
	}
	i := s.rng.IntN(len(o.unused))
	ti := o.unused[i]
	o.unused = slices.Delete(o.unused, i, i+1)
	return ti
}

// updateProduct edits a product (prices, cost prices, name, or variants)
// and returns ProductUpdated with the entity before and after.
func (s *Shop) updateProduct(o *org, t time.Time) []draft {
	it := pick(s.rng, o.catalogue)
	old := cloneProduct(it.product)
	switch r := s.rng.IntN(100); {
	case r < 20:
		if !s.addVariant(o, it, t) {
			s.reprice(o, it)
		}
	case r < 30:
		if !removeVariant(it) {
			s.reprice(o, it)
		}
	case r < 50:
		s.recost(o, it)
	case r < 65:
		rename(it)
	default:
		s.reprice(o, it)
	}
	p := &it.product
	p.Etag = randomEtag(s.rng)
	p.Updated = zettleTime(t)
	p.UpdatedByUserUUID = o.clerk(s.rng).uuid
	change := productChange{OrganizationUUID: o.uuid, NewEntity: cloneProduct(*p), OldEntity: old}
	return []draft{{name: productUpdated, at: t, payload: encodeJSON(change)}}
}

// cloneProduct copies p deeply enough that editing the copy's variants
// leaves p alone (edits replace pointers rather than write through them).
func cloneProduct(p product) product {
	p.Variants = slices.Clone(p.Variants)
	return p
}

func (s *Shop) reprice(o *org, it *item) {
	for i := range it.product.Variants {
		v := &it.product.Variants[i]
		v.Price = o.money(roundPrice(float64(v.Price.Amount)*(1.03+0.12*s.rng.Float64()), o.loc.priceStep))
	}
}

func (s *Shop) recost(o *org, it *item) {
	for i := range it.product.Variants {
		v := &it.product.Variants[i]
		cost := o.money(roundPrice(float64(v.Price.Amount)*(0.3+0.4*s.rng.Float64()), o.loc.priceStep))
		v.CostPrice = &cost
	}
}

const limitedEdition = " – limited edition"

// rename toggles a suffix on the product name, as shops do for seasonal
// items.
func rename(it *item) {
	p := &it.product
	if name, ok := strings.CutSuffix(p.Name, limitedEdition); ok {
		p.Name = name
	} else {
		p.Name += limitedEdition
	}
	p.Online.Seo.Slug = slugify(p.Name)
}

// addVariant adds the next option value as a variant, like the published
// example adding "50mm" to an Apple watch. It reports false if the product
// has no option value left.
func (s *Shop) addVariant(o *org, it *item, t time.Time) bool {
	tm := templates[it.template]
	n := len(it.product.Variants)
	if tm.options == nil || n >= len(tm.options.values) {
		return false
	}
	it.product.Variants = append(it.product.Variants, o.newVariant(s.rng, tm, n, t))
	it.product.VariantOptionDefinitions = optionDefinitionsOf(tm.options, n+1)
	it.stock = append(it.stock, 0)
	return true
}

// removeVariant removes the product's last variant. It reports false if the
// product has only one.
func removeVariant(it *item) bool {
	n := len(it.product.Variants)
	if n < 2 {
		return false
	}
	it.product.Variants = slices.Clone(it.product.Variants[:n-1])
	it.stock = it.stock[:n-1]
	if set := templates[it.template].options; set != nil {
		it.product.VariantOptionDefinitions = optionDefinitionsOf(set, n-1)
	}
	return true
}

// deleteProduct removes a product from the catalogue and returns
// ProductDeleted with the product as it was deleted. It returns nil when the
// catalogue is already small.
func (s *Shop) deleteProduct(o *org, t time.Time) []draft {
	if len(o.catalogue) <= minCatalogue {
		return nil
	}
	i := s.rng.IntN(len(o.catalogue))
	it := o.catalogue[i]
	o.catalogue = slices.Delete(o.catalogue, i, i+1)
	if !slices.Contains(o.unused, it.template) {
		o.unused = append(o.unused, it.template)
	}
	p := it.product
	p.Etag = randomEtag(s.rng)
	p.Updated = zettleTime(t)
	p.UpdatedByUserUUID = o.clerk(s.rng).uuid
	return []draft{{name: productDeleted, at: t, payload: encodeJSON(p)}}
}

// updateOrganization changes one property of the organization and returns
// OrganizationUpdated with all of them.
func (s *Shop) updateOrganization(o *org, t time.Time) []draft {
	p := &o.profile
	switch s.rng.IntN(5) {
	case 0:
		p.PhoneNumber = o.loc.phonePrefix + randomDigits(s.rng, 7)
	case 1:
		p.OptionalText = pick(s.rng, o.loc.openingHours)
	case 2:
		p.ReceiptName = pick(s.rng, o.loc.shopNames)
	case 3:
		p.Address = pick(s.rng, o.loc.streets)
	default:
		p.ProfileImageURL = ptr("https://image.izettle.com/profileimage/[size]/" + randomBase64URL(s.rng, 27) + ".png")
	}
	return []draft{{name: organizationUpdated, at: t, payload: encodeJSON(*p)}}
}

// disconnect returns ApplicationConnectionRemoved or PersonalAssertionDeleted
// (kind) for the organization's third-party app.
func (s *Shop) disconnect(o *org, t time.Time, kind string) []draft {
	return []draft{{name: kind, at: t, payload: encodeJSON(connectionRemoved{Type: kind}), clientID: o.integrationClient}}
}
