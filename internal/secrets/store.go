package secrets

import (
	"context"
	"errors"
	"fmt"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Store wraps a store.Store so that signing keys are sealed on the way in
// and opened on the way out; everything else passes through.
type Store struct {
	store.Store
	Sealer *Sealer
}

// CreateSubscription implements store.Store, sealing the signing key.
func (s Store) CreateSubscription(ctx context.Context, sub *webhook.Subscription) error {
	sealed, err := s.sealed(sub)
	if err != nil {
		return err
	}
	return s.Store.CreateSubscription(ctx, sealed)
}

// Subscription implements store.Store, opening the signing key.
func (s Store) Subscription(ctx context.Context, org, clientID, uuid string) (*webhook.Subscription, error) {
	sub, err := s.Store.Subscription(ctx, org, clientID, uuid)
	if err != nil {
		return nil, err
	}
	return sub, s.openSubscription(sub)
}

// SubscriptionByUUID implements store.DeliveryLog, opening the signing
// keys.
func (s Store) SubscriptionByUUID(ctx context.Context, uuid string) (*webhook.Subscription, error) {
	sub, err := s.Store.SubscriptionByUUID(ctx, uuid)
	if err != nil {
		return nil, err
	}
	return sub, s.openSubscription(sub)
}

// OrganizationSubscriptions implements store.DeliveryLog, opening the
// signing keys.
func (s Store) OrganizationSubscriptions(ctx context.Context, org string) ([]*webhook.Subscription, error) {
	return s.openAll(s.Store.OrganizationSubscriptions(ctx, org))
}

// SaveSigning implements store.DeliveryLog, sealing the signing keys
// (notices hold none).
func (s Store) SaveSigning(ctx context.Context, sub *webhook.Subscription, notices ...webhook.Notice) error {
	sealed, err := s.sealed(sub)
	if err != nil {
		return err
	}
	return s.Store.SaveSigning(ctx, sealed, notices...)
}

// Subscriptions implements store.Store, opening the signing keys.
func (s Store) Subscriptions(ctx context.Context, org, clientID string) ([]*webhook.Subscription, error) {
	return s.openAll(s.Store.Subscriptions(ctx, org, clientID))
}

// AllSubscriptions implements store.Store, opening the signing keys.
func (s Store) AllSubscriptions(ctx context.Context) ([]*webhook.Subscription, error) {
	return s.openAll(s.Store.AllSubscriptions(ctx))
}

// ClaimMessages implements store.Store, opening the signing keys.
func (s Store) ClaimMessages(ctx context.Context, p store.ClaimParams) ([]*store.Delivery, error) {
	return s.openDeliveries(s.Store.ClaimMessages(ctx, p))
}

// RecordAndClaim implements store.Store, opening the signing keys of the
// messages it claims.
func (s Store) RecordAndClaim(ctx context.Context, rec store.RecordParams, next store.ClaimParams) ([]*store.Delivery, error) {
	return s.openDeliveries(s.Store.RecordAndClaim(ctx, rec, next))
}

// Import implements store.Store, sealing signing keys not sealed yet.
func (s Store) Import(ctx context.Context, b store.ImportBatch) (store.ImportCounts, error) {
	subs := make([]*webhook.Subscription, len(b.Subscriptions))
	for i, sub := range b.Subscriptions {
		sealed, err := s.sealed(sub)
		if err != nil {
			return store.ImportCounts{}, err
		}
		subs[i] = sealed
	}
	b.Subscriptions = subs
	return s.Store.Import(ctx, b)
}

// sealed returns a copy of sub with its signing keys sealed.
func (s Store) sealed(sub *webhook.Subscription) (*webhook.Subscription, error) {
	c := *sub
	var err error
	if c.SigningKey, err = s.Sealer.Seal(sub.SigningKey); err != nil {
		return nil, err
	}
	c.PreviousSigningKey, err = s.Sealer.Seal(sub.PreviousSigningKey)
	return &c, err
}

// openSubscription opens the signing keys of sub.
func (s Store) openSubscription(sub *webhook.Subscription) error {
	if err := s.open(&sub.SigningKey); err != nil {
		return err
	}
	return s.open(&sub.PreviousSigningKey)
}

func (s Store) open(key *string) error {
	plain, err := s.Sealer.Open(*key)
	if err == nil {
		*key = plain
	}
	return err
}

func (s Store) openAll(subs []*webhook.Subscription, err error) ([]*webhook.Subscription, error) {
	for _, sub := range subs {
		if err != nil {
			break
		}
		err = s.openSubscription(sub)
	}
	return subs, err
}

// openDeliveries opens the signing keys (current and previous) of each
// delivery and leaves out those whose keys do not open (with the error): a
// message must never be signed with a sealed or empty key. It stays leased and is tried again when
// its lease expires, once the right key is configured.
func (s Store) openDeliveries(ds []*store.Delivery, err error) ([]*store.Delivery, error) {
	out := ds[:0]
	for _, d := range ds {
		oerr := s.open(&d.SigningKey)
		if oerr == nil {
			oerr = s.open(&d.PreviousSigningKey)
		}
		if oerr != nil {
			err = errors.Join(err, fmt.Errorf("message %d of subscription %s: %w", d.ID, d.SubscriptionUUID, oerr))
			continue
		}
		out = append(out, d)
	}
	return out, err
}
