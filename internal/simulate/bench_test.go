package simulate

import "testing"

func BenchmarkNext(b *testing.B) {
	shop := NewShop(1, Orgs(1, 3), DefaultStart(1))
	for b.Loop() {
		shop.Next()
	}
}

func BenchmarkPayload(b *testing.B) {
	for i := uint64(0); b.Loop(); i++ {
		if _, err := Payload(purchaseCreated, i); err != nil {
			b.Fatal(err)
		}
	}
}
