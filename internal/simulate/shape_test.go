package simulate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// examplesFile holds the published Zettle examples. It is webhook's copy:
// the envelope tests read the same file.
const examplesFile = "../webhook/testdata/zettle-examples.json"

// example is one published Zettle example of examplesFile.
type example struct {
	Name     string `json:"example"`
	Envelope struct {
		EventName string `json:"eventName"`
		Payload   string `json:"payload"`
	} `json:"envelope"`
}

func loadExamples(t *testing.T) []example {
	t.Helper()
	data, err := os.ReadFile(examplesFile)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Examples []example `json:"examples"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Examples) != len(EventNames()) {
		t.Fatalf("got %d examples, want one per event (%d)", len(file.Examples), len(EventNames()))
	}
	return file.Examples
}

func TestCheckShapeAcceptsPublishedExamples(t *testing.T) {
	for _, ex := range loadExamples(t) {
		t.Run(ex.Name, func(t *testing.T) {
			payload := []byte(ex.Envelope.Payload)
			if err := CheckShape(ex.Envelope.EventName, payload); err != nil {
				t.Errorf("CheckShape(%q) = %v; want nil", ex.Envelope.EventName, err)
			}
			if err := CheckShape(ex.Name, payload); err != nil {
				t.Errorf("CheckShape(%q) = %v; want nil", ex.Name, err)
			}
		})
	}
}

func TestCheckShapeRejects(t *testing.T) {
	examples := map[string]string{}
	for _, ex := range loadExamples(t) {
		examples[ex.Name] = ex.Envelope.Payload
	}
	tests := []struct {
		name, event, payload, wantErr string
	}{
		{"quantity as number", "PurchaseCreated",
			strings.Replace(examples["PurchaseCreated"], `"quantity":"2"`, `"quantity":2`, 1), "products[0].quantity"},
		{"ISO timestamp with Z", "PurchaseCreated",
			strings.Replace(examples["PurchaseCreated"], `"2021-04-19T13:09:40.798+0000"`, `"2021-04-19T13:09:40.798Z"`, 1), "payload.created"},
		{"fractional amount", "PurchaseCreated",
			strings.Replace(examples["PurchaseCreated"], `"amount":35300,"vatAmount"`, `"amount":353.00,"vatAmount"`, 1), "payload.amount"},
		{"positive refund", "PurchaseCreated",
			strings.Replace(examples["PurchaseCreated"], `"organizationUuid"`, `"refundsPurchaseUuid":"7cdf4ae2-a110-11eb-a7f9-24cfef8c2970","organizationUuid"`, 1), "must be negative"},
		{"balance as number", "InventoryBalanceChanged",
			strings.Replace(examples["InventoryBalanceChanged"], `"balance":"5"`, `"balance":5`, 1), "balanceAfter[0].balance"},
		{"balanceBefore missing", "InventoryBalanceChanged",
			strings.Replace(examples["InventoryBalanceChanged"], `"balanceBefore"`, `"balanceEarlier"`, 1), "balanceBefore: missing"},
		{"oldEntity missing", "ProductUpdated",
			strings.Replace(examples["ProductUpdated"], `"oldEntity"`, `"previous"`, 1), "oldEntity: missing"},
		{"Created instead of created", "InventoryTrackingStarted", examples["InventoryTrackingStopped"], "created: missing"},
		{"product uuid not a UUID", "ProductCreated",
			strings.Replace(examples["ProductCreated"], `"e4cc8750-a110-11eb-adc0-ffd446d76f99"`, `"e4cc8750"`, 1), "payload.uuid"},
		{"wrong disconnect type", "PersonalAssertionDeleted", `{"type":"ApplicationConnectionRemoved"}`, "payload.type"},
		{"unknown event", "PurchaseUpdated", `{}`, "unknown event name"},
		{"not JSON", "PurchaseCreated", `{"purchaseUuid":`, "payload"},
		{"two values", "ApplicationConnectionRemoved", `{"type":"ApplicationConnectionRemoved"} {}`, "unexpected data"},
		{"array payload", "ProductDeleted", `[]`, "want an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckShape(tt.event, []byte(tt.payload))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckShape(%s) = %v; want an error mentioning %q", tt.event, err, tt.wantErr)
			}
		})
	}
}

func TestGeneratedPayloadsPassCheckShape(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		for _, e := range stream(seed, 3, 3000) {
			if err := CheckShape(e.EventName, e.Payload); err != nil {
				t.Fatalf("seed %d: %v\n%s", seed, err, e.Payload)
			}
		}
	}
	shop := NewShop(11, Orgs(11, 2), DefaultStart(11))
	for _, name := range EventNames() {
		for range 30 {
			e, err := shop.NextOf(name)
			if err != nil {
				t.Fatalf("NextOf(%s): %v", name, err)
			}
			if err := CheckShape(name, e.Payload); err != nil {
				t.Fatalf("%v\n%s", err, e.Payload)
			}
		}
	}
}

// extraPaths are keys the generators write that the published examples do
// not show (because the example's array was empty, or the example purchase
// was not a refund or card payment).
var extraPaths = map[string][]string{
	"PurchaseCreated": {
		"refundsPurchaseUuid",
		"discounts[].name", "discounts[].percentage", "discounts[].amount", "discounts[].quantity",
		"payments[].attributes.cardPaymentEntryMode", "payments[].attributes.maskedPan",
		"payments[].attributes.referenceNumber", "payments[].attributes.nrOfInstallments",
		"payments[].attributes.cardType", "payments[].attributes.terminalVerificationResults",
		"payments[].attributes.applicationIdentifier", "payments[].attributes.applicationName",
		"payments[].references", "payments[].references.refundsPayment",
	},
	"ProductCreated": {"variants[].sku", "variants[].barcode"},
	"ProductDeleted": {"variants[].sku", "variants[].barcode"},
	"ProductUpdated": {
		"newEntity.variants[].sku", "newEntity.variants[].barcode",
		"oldEntity.variants[].sku", "oldEntity.variants[].barcode",
	},
}

// TestGeneratedKeysFollowExamples compares key paths (products[].name …)
// of generated payloads with the published example of the same event: every
// example key is generated, no unexpected key is, and keys come in the
// example's order.
func TestGeneratedKeysFollowExamples(t *testing.T) {
	shop := NewShop(5, Orgs(5, 4), DefaultStart(5))
	for _, ex := range loadExamples(t) {
		t.Run(ex.Name, func(t *testing.T) {
			want, exampleObjects := keyPaths(t, []byte(ex.Envelope.Payload))
			order := keyOrder(exampleObjects)
			seen := map[string]bool{}
			for range 300 {
				e, err := shop.NextOf(ex.Name)
				if err != nil {
					t.Fatal(err)
				}
				got, objects := keyPaths(t, e.Payload)
				for _, p := range got {
					seen[p] = true
					if !slices.Contains(want, p) && !slices.Contains(extraPaths[ex.Name], p) {
						t.Fatalf("unexpected key %s in\n%s", p, e.Payload)
					}
				}
				for _, keys := range objects {
					if a, b, ok := outOfOrder(keys, order); ok {
						t.Fatalf("key %s comes before %s, unlike in the example:\n%s", a, b, e.Payload)
					}
				}
			}
			for _, p := range want {
				if !seen[p] {
					t.Errorf("key %s of the example never generated", p)
				}
			}
		})
	}
}

// keyOrder returns which key comes before which in the objects of an
// example: order[[2]string{a, b}] means a comes before b.
func keyOrder(objects [][]string) map[[2]string]bool {
	order := map[[2]string]bool{}
	for _, keys := range objects {
		for i, a := range keys {
			for _, b := range keys[i+1:] {
				order[[2]string{a, b}] = true
			}
		}
	}
	return order
}

// outOfOrder returns two keys of one object that come in the opposite order
// in the example.
func outOfOrder(keys []string, order map[[2]string]bool) (a, b string, found bool) {
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if order[[2]string{b, a}] {
				return a, b, true
			}
		}
	}
	return "", "", false
}

// keyPaths lists the key paths of a JSON value in order of first
// appearance, array elements sharing the path "name[]", and the key paths
// of each object in their order.
func keyPaths(t *testing.T, data []byte) (paths []string, objects [][]string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var walk func(prefix string) error
	walk = func(prefix string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			var keys []string
			for dec.More() {
				key, err := dec.Token()
				if err != nil {
					return err
				}
				p := fmt.Sprint(key)
				if prefix != "" {
					p = prefix + "." + p
				}
				keys = append(keys, p)
				if !slices.Contains(paths, p) {
					paths = append(paths, p)
				}
				if err := walk(p); err != nil {
					return err
				}
			}
			objects = append(objects, keys)
			_, err = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if err := walk(prefix + "[]"); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		return err
	}
	if err := walk(""); err != nil {
		t.Fatalf("keyPaths: %v", err)
	}
	return paths, objects
}

// stream returns the first n events of a shop of orgs organizations.
func stream(seed uint64, orgs, n int) []Event {
	shop := NewShop(seed, Orgs(seed, orgs), DefaultStart(seed))
	var events []Event
	for len(events) < n {
		events = append(events, shop.Next()...)
	}
	return events[:n]
}
