package simulate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// CheckShape reports whether payload has the shape of eventName's payload
// in the published Zettle examples: the required keys are present with the
// right JSON types, timestamps in Zettle's styles, ids as UUIDs, amounts as
// integers, quantities and balances as numeric strings. Unknown keys are
// allowed, as Zettle tells consumers to ignore them.
//
// Zettle delivers PersonalAssertionDeleted as ApplicationConnectionRemoved,
// so eventName ApplicationConnectionRemoved accepts either payload type and
// PersonalAssertionDeleted only its own.
func CheckShape(eventName string, payload []byte) error {
	shape, ok := shapes[eventName]
	if !ok {
		return fmt.Errorf("unknown event name %q", eventName)
	}
	v, err := decodeValue(payload)
	if err != nil {
		return fmt.Errorf("%s payload: %w", eventName, err)
	}
	if err := shape("payload", v); err != nil {
		return fmt.Errorf("%s %w", eventName, err)
	}
	return nil
}

func decodeValue(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// check validates the JSON value v found at path.
type check func(path string, v any) error

// field is one key of an object check.
type field struct {
	key      string
	required bool
	check    check
}

func req(key string, c check) field { return field{key, true, c} }
func opt(key string, c check) field { return field{key, false, c} }

// object checks that v is an object with the given fields.
func object(fields ...field) check {
	return func(path string, v any) error {
		o, ok := v.(map[string]any)
		if !ok {
			return typeError(path, "an object", v)
		}
		for _, f := range fields {
			fv, present := o[f.key]
			if !present {
				if f.required {
					return fmt.Errorf("%s.%s: missing", path, f.key)
				}
				continue
			}
			if err := f.check(path+"."+f.key, fv); err != nil {
				return err
			}
		}
		return nil
	}
}

// arrayOf checks that v is an array whose elements all pass elem.
func arrayOf(elem check) check {
	return func(path string, v any) error {
		a, ok := v.([]any)
		if !ok {
			return typeError(path, "an array", v)
		}
		for i, e := range a {
			if err := elem(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
		return nil
	}
}

// text checks that v is a string matching pattern (any string if nil).
func text(pattern *regexp.Regexp, what string) check {
	return func(path string, v any) error {
		s, ok := v.(string)
		if !ok {
			return typeError(path, what, v)
		}
		if pattern != nil && !pattern.MatchString(s) {
			return fmt.Errorf("%s: %q is not %s", path, s, what)
		}
		return nil
	}
}

func oneOf(values ...string) check {
	return func(path string, v any) error {
		s, ok := v.(string)
		if !ok || !slices.Contains(values, s) {
			return fmt.Errorf("%s: %s is not one of %s", path, describe(v), strings.Join(values, ", "))
		}
		return nil
	}
}

func number(path string, v any) error {
	if _, ok := v.(json.Number); !ok {
		return typeError(path, "a number", v)
	}
	return nil
}

var integerPattern = regexp.MustCompile(`^-?\d+$`)

func integer(path string, v any) error {
	n, ok := v.(json.Number)
	if !ok || !integerPattern.MatchString(n.String()) {
		return typeError(path, "an integer", v)
	}
	return nil
}

func boolean(path string, v any) error {
	if _, ok := v.(bool); !ok {
		return typeError(path, "a boolean", v)
	}
	return nil
}

// orNull accepts null as well as whatever c accepts.
func orNull(c check) check {
	return func(path string, v any) error {
		if v == nil {
			return nil
		}
		return c(path, v)
	}
}

// all accepts v if every check does.
func all(checks ...check) check {
	return func(path string, v any) error {
		for _, c := range checks {
			if err := c(path, v); err != nil {
				return err
			}
		}
		return nil
	}
}

func typeError(path, want string, v any) error {
	return fmt.Errorf("%s: want %s, got %s", path, want, describe(v))
}

func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + v.String()
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

var (
	uuidText       = text(regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`), "a UUID")
	zettleTimeText = text(regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$`), "a Zettle timestamp like 2021-04-19T13:17:56.572+0000")
	decimalText    = text(regexp.MustCompile(`^-?\d+(\.\d+)?$`), "a decimal number as a string")
	currencyText   = text(regexp.MustCompile(`^[A-Z]{3}$`), "an ISO 4217 currency code")
	countryText    = text(regexp.MustCompile(`^[A-Z]{2}$`), "an ISO 3166 country code")
	anyText        = text(nil, "a string")
)

var (
	moneyShape = object(req("amount", integer), req("currencyId", currencyText))

	variantShape = object(
		req("uuid", uuidText),
		opt("name", orNull(anyText)),
		opt("price", orNull(moneyShape)),
		opt("costPrice", orNull(moneyShape)),
		opt("options", arrayOf(object(req("name", anyText), req("value", anyText)))),
	)

	productShape = object(
		req("uuid", uuidText),
		req("organizationUuid", uuidText),
		req("name", anyText),
		req("variants", arrayOf(variantShape)),
		opt("vatPercentage", orNull(decimalText)),
		opt("online", object(opt("status", anyText), opt("seo", object(opt("slug", orNull(anyText)))))),
		opt("variantOptionDefinitions", orNull(object(opt("definitions", arrayOf(object(
			req("name", anyText),
			req("properties", arrayOf(object(req("value", anyText)))),
		)))))),
		opt("etag", anyText),
		req("updated", zettleTimeText),
		opt("updatedByUserUuid", uuidText),
		req("created", zettleTimeText),
		opt("createdByUserUuid", uuidText),
		opt("category", orNull(object(req("uuid", uuidText), req("name", anyText)))),
		opt("taxExempt", boolean),
	)

	purchaseLineShape = object(
		opt("id", anyText),
		opt("productUuid", uuidText),
		opt("variantUuid", uuidText),
		req("name", anyText),
		opt("variantName", anyText),
		opt("sku", anyText),
		opt("barcode", anyText),
		req("unitPrice", integer),
		opt("costPrice", integer),
		req("quantity", decimalText),
		opt("vatPercentage", number),
		opt("taxRates", arrayOf(object(req("percentage", number)))),
		opt("taxExempt", boolean),
		opt("fromLocationUuid", uuidText),
		opt("toLocationUuid", uuidText),
		opt("autoGenerated", boolean),
		opt("type", anyText),
		opt("details", object()),
	)

	paymentShape = object(
		req("uuid", uuidText),
		req("amount", integer),
		req("type", anyText),
		opt("attributes", object()),
		opt("references", object(opt("refundsPayment", uuidText))),
	)

	purchaseShape = all(object(
		req("purchaseUuid", uuidText),
		opt("source", anyText),
		opt("userUuid", uuidText),
		req("currency", currencyText),
		req("country", countryText),
		req("amount", integer),
		req("vatAmount", integer),
		req("timestamp", integer),
		req("created", zettleTimeText),
		opt("gpsCoordinates", orNull(object(req("longitude", number), req("latitude", number), opt("accuracyMeters", number)))),
		opt("purchaseNumber", integer),
		opt("userDisplayName", anyText),
		opt("udid", anyText),
		req("organizationUuid", uuidText),
		opt("refundsPurchaseUuid", uuidText),
		req("products", arrayOf(purchaseLineShape)),
		opt("discounts", arrayOf(object(opt("amount", integer), opt("quantity", decimalText)))),
		req("payments", arrayOf(paymentShape)),
		opt("references", object()),
		opt("taxationMode", anyText),
		opt("taxationType", anyText),
	), refundIsNegative)

	changeShape = object(
		req("uuid", uuidText),
		req("timestamp", zettleTimeText),
		req("userType", anyText),
		opt("clientUuid", orNull(uuidText)),
	)

	balanceShape = object(
		req("organizationUuid", uuidText),
		req("locationUuid", uuidText),
		req("productUuid", uuidText),
		req("variantUuid", uuidText),
		opt("created", zettleTimeText),
		req("balance", decimalText),
	)

	organizationShape = object(
		req("uuid", uuidText),
		req("name", anyText),
		opt("receiptName", orNull(anyText)),
		opt("city", orNull(anyText)),
		opt("zipCode", orNull(anyText)),
		opt("address", orNull(anyText)),
		opt("addressLine2", orNull(anyText)),
		opt("optionalText", orNull(anyText)),
		opt("legalName", orNull(anyText)),
		opt("legalAddress", orNull(anyText)),
		opt("legalAddressLine2", orNull(anyText)),
		opt("legalZipCode", orNull(anyText)),
		opt("legalCity", orNull(anyText)),
		opt("legalState", orNull(anyText)),
		opt("phoneNumber", orNull(anyText)),
		opt("webSite", orNull(anyText)),
		opt("contactEmail", orNull(anyText)),
		opt("receiptEmail", orNull(anyText)),
		opt("legalEntityType", orNull(anyText)),
		opt("legalEntityNr", orNull(anyText)),
		opt("vatNr", orNull(anyText)),
		opt("vatPercentage", orNull(number)),
		req("country", countryText),
		opt("language", anyText),
		req("currency", currencyText),
		opt("profileImageUrl", orNull(anyText)),
		opt("created", zettleTimeText),
		opt("ownerUuid", uuidText),
		opt("customerStatus", anyText),
		opt("usesVat", boolean),
		opt("customerType", orNull(anyText)),
		opt("taxationType", anyText),
		opt("taxationMode", anyText),
		opt("timeZone", anyText),
	)
)

// refundIsNegative checks that a purchase refunding another one has a
// negative (or zero) amount.
func refundIsNegative(path string, v any) error {
	o := v.(map[string]any) // the object check ran first
	if _, isRefund := o["refundsPurchaseUuid"]; !isRefund {
		return nil
	}
	if n := o["amount"].(json.Number).String(); n != "0" && !strings.HasPrefix(n, "-") {
		return fmt.Errorf("%s.amount: a refund's amount must be negative, got %s", path, n)
	}
	return nil
}

var shapes = map[string]check{
	purchaseCreated:     purchaseShape,
	organizationUpdated: organizationShape,
	productCreated:      productShape,
	productUpdated: object(
		req("organizationUuid", uuidText),
		req("newEntity", productShape),
		req("oldEntity", productShape),
	),
	productDeleted: productShape,
	inventoryBalanceChanged: object(
		req("organizationUuid", uuidText),
		req("updated", changeShape),
		req("balanceBefore", arrayOf(balanceShape)),
		req("balanceAfter", arrayOf(balanceShape)),
		opt("externalUuid", orNull(anyText)),
	),
	inventoryTrackingStarted: object(
		req("organizationUuid", uuidText),
		req("productUuid", uuidText),
		req("created", changeShape),
	),
	inventoryTrackingStopped: object(
		req("organizationUuid", uuidText),
		req("productUuid", uuidText),
		req("changeInformation", changeShape),
	),
	applicationConnectionRemoved: object(req("type", oneOf(applicationConnectionRemoved, personalAssertionDeleted))),
	personalAssertionDeleted:     object(req("type", oneOf(personalAssertionDeleted))),
}
