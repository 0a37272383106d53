package webhook

import (
	"slices"
	"testing"
)

func TestReplayNames(t *testing.T) {
	for _, tc := range []struct {
		name       string
		eventNames []string
		want       []string
	}{
		{"every public event but the disconnect ones", nil, []string{PurchaseCreated, OrganizationUpdated, ProductCreated,
			ProductUpdated, ProductDeleted, InventoryBalanceChanged, InventoryTrackingStarted, InventoryTrackingStopped}},
		{"the subscribed ones", []string{ProductUpdated, PurchaseCreated}, []string{PurchaseCreated, ProductUpdated}},
		{"a disconnect subscription replays nothing", []string{ApplicationConnectionRemoved}, []string{}},
		{"legacy names are never replayed", []string{"InvoiceCreated", PurchaseCreated}, []string{PurchaseCreated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Subscription{EventNames: tc.eventNames}
			got := s.ReplayNames()
			if got == nil || !slices.Equal(got, tc.want) {
				t.Errorf("ReplayNames() = %#v, want %#v", got, tc.want)
			}
		})
	}
	if Replayable(PersonalAssertionDeleted) || !Replayable(PurchaseCreated) {
		t.Error("Replayable: disconnect events must not be replayable, PurchaseCreated must")
	}
}
