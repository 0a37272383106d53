package webhook

import "slices"

// Scopes of Zettle access tokens that gate event subscriptions.
const (
	ScopePurchase = "READ:PURCHASE"
	ScopeUserInfo = "READ:USERINFO"
	ScopeProduct  = "READ:PRODUCT"
	ScopeFinance  = "READ:FINANCE"
	// ScopeAny marks events any authenticated client may subscribe to.
	ScopeAny = ""
)

// Event names of pusher-api.md §3.1.
const (
	PurchaseCreated              = "PurchaseCreated"
	OrganizationUpdated          = "OrganizationUpdated"
	ProductCreated               = "ProductCreated"
	ProductUpdated               = "ProductUpdated"
	ProductDeleted               = "ProductDeleted"
	InventoryBalanceChanged      = "InventoryBalanceChanged"
	InventoryTrackingStarted     = "InventoryTrackingStarted"
	InventoryTrackingStopped     = "InventoryTrackingStopped"
	ApplicationConnectionRemoved = "ApplicationConnectionRemoved"
	PersonalAssertionDeleted     = "PersonalAssertionDeleted"
	TestMessage                  = "TestMessage"
)

// EventType describes one event name a subscription may list.
type EventType struct {
	Name  string
	Scope string // required token scope; ScopeAny for none
	// Legacy names are accepted in eventNames (Zettle's own docs still use
	// them) but never published.
	Legacy bool
}

// EventTypes is the catalogue: the ten public events, then the legacy ones.
var EventTypes = []EventType{
	{Name: PurchaseCreated, Scope: ScopePurchase},
	{Name: OrganizationUpdated, Scope: ScopeUserInfo},
	{Name: ProductCreated, Scope: ScopeProduct},
	{Name: ProductUpdated, Scope: ScopeProduct},
	{Name: ProductDeleted, Scope: ScopeProduct},
	{Name: InventoryBalanceChanged, Scope: ScopeProduct},
	{Name: InventoryTrackingStarted, Scope: ScopeProduct},
	{Name: InventoryTrackingStopped, Scope: ScopeProduct},
	{Name: ApplicationConnectionRemoved, Scope: ScopeAny},
	{Name: PersonalAssertionDeleted, Scope: ScopeAny},
	{Name: "InvoiceCreated", Scope: ScopeFinance, Legacy: true},
	{Name: "PaymentInitiated", Scope: ScopeFinance, Legacy: true},
	{Name: "PaymentCreated", Scope: ScopeFinance, Legacy: true},
	{Name: "PaymentCanceled", Scope: ScopeFinance, Legacy: true},
	{Name: "CardPaymentAuthorized", Scope: ScopeFinance, Legacy: true},
	{Name: "CardPaymentInvalid", Scope: ScopeFinance, Legacy: true},
	{Name: "OrganizationFeatureUpdated", Scope: ScopeUserInfo, Legacy: true},
}

// LookupEventType returns the catalogue entry for name.
func LookupEventType(name string) (EventType, bool) {
	i := slices.IndexFunc(EventTypes, func(t EventType) bool { return t.Name == name })
	if i < 0 {
		return EventType{}, false
	}
	return EventTypes[i], true
}

// IsPublishable reports whether producers may publish events named name:
// the ten public events.
func IsPublishable(name string) bool {
	t, ok := LookupEventType(name)
	return ok && !t.Legacy
}

// IsDisconnect reports whether name is one of the two events that announce
// that a client lost access to an organization. They reach only that
// client's subscriptions and are delivered as ApplicationConnectionRemoved.
func IsDisconnect(name string) bool {
	return name == ApplicationConnectionRemoved || name == PersonalAssertionDeleted
}

// DeliveredName returns the name an event published as name is delivered
// under: PersonalAssertionDeleted is delivered as
// ApplicationConnectionRemoved, every other name as itself.
func DeliveredName(name string) string {
	if IsDisconnect(name) {
		return ApplicationConnectionRemoved
	}
	return name
}

// WantsDisconnect reports whether s receives a disconnect event for its
// client. When its client disconnects, a subscription that wants the event
// gets it and is deleted once it is delivered; any other subscription of the
// client in the organization is deleted at once.
func (s *Subscription) WantsDisconnect() bool {
	return len(s.EventNames) == 0 || slices.ContainsFunc(s.EventNames, IsDisconnect)
}

// RequiredScopes returns the scopes a token needs to subscribe to names. An
// empty list means all events, which needs the scopes of every public event.
func RequiredScopes(names []string) []string {
	var scopes []string
	add := func(t EventType) {
		if t.Scope != ScopeAny && !slices.Contains(scopes, t.Scope) {
			scopes = append(scopes, t.Scope)
		}
	}
	if len(names) == 0 {
		for _, t := range EventTypes {
			if !t.Legacy {
				add(t)
			}
		}
		return scopes
	}
	for _, n := range names {
		if t, ok := LookupEventType(n); ok {
			add(t)
		}
	}
	return scopes
}

// Replayable reports whether events named name may be replayed into a
// subscription: every publishable event except the disconnect events, which
// were addressed to one client and would announce a disconnection again.
func Replayable(name string) bool { return IsPublishable(name) && !IsDisconnect(name) }

// ReplayNames are the event names a replay into s covers when none are
// asked for: those s subscribes to (every public event when it lists none)
// that are Replayable, in catalogue order; never nil.
func (s *Subscription) ReplayNames() []string {
	names := []string{}
	for _, t := range EventTypes {
		if Replayable(t.Name) && s.Wants(t.Name) {
			names = append(names, t.Name)
		}
	}
	return names
}
