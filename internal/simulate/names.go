package simulate

// The event names of pusher-api.md §3.1.
const (
	purchaseCreated              = "PurchaseCreated"
	organizationUpdated          = "OrganizationUpdated"
	productCreated               = "ProductCreated"
	productUpdated               = "ProductUpdated"
	productDeleted               = "ProductDeleted"
	inventoryBalanceChanged      = "InventoryBalanceChanged"
	inventoryTrackingStarted     = "InventoryTrackingStarted"
	inventoryTrackingStopped     = "InventoryTrackingStopped"
	applicationConnectionRemoved = "ApplicationConnectionRemoved"
	personalAssertionDeleted     = "PersonalAssertionDeleted"
)

// EventNames returns the ten public Zettle event names in the order of the
// Pusher documentation.
func EventNames() []string {
	return []string{
		purchaseCreated,
		organizationUpdated,
		productCreated,
		productUpdated,
		productDeleted,
		inventoryBalanceChanged,
		inventoryTrackingStarted,
		inventoryTrackingStopped,
		applicationConnectionRemoved,
		personalAssertionDeleted,
	}
}
