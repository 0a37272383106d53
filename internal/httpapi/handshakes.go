package httpapi

import (
	"slices"
	"strings"
	"sync"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// handshakes holds the subscriptions whose create is sending its
// TestMessage on this instance. They are not stored yet — Zettle sends the
// TestMessage first, and nothing is delivered to or stored for a
// subscription whose TestMessage fails — but their owner's GET lists them,
// because a receiver may look its own subscription up (its signing key)
// while it answers the TestMessage. With several instances, only the
// instance running the create lists it.
type handshakes struct {
	mu      sync.Mutex
	running map[string]*webhook.Subscription // by uuid
}

func newHandshakes() *handshakes {
	return &handshakes{running: map[string]*webhook.Subscription{}}
}

// start registers s and reports false if a create of its uuid is already
// running here.
func (h *handshakes) start(s *webhook.Subscription) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.running[s.UUID]; ok {
		return false
	}
	h.running[s.UUID] = s
	return true
}

// done forgets the create of uuid.
func (h *handshakes) done(uuid string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.running, uuid)
}

// listedWith returns stored, the subscriptions of (org, clientID), followed
// by those of (org, clientID) whose create is running and that stored does
// not hold yet, oldest first.
func (h *handshakes) listedWith(stored []*webhook.Subscription, org, clientID string) []*webhook.Subscription {
	h.mu.Lock()
	defer h.mu.Unlock()
	var running []*webhook.Subscription
	for _, s := range h.running {
		if strings.EqualFold(s.OrganizationUUID, org) && s.ClientID == clientID &&
			!slices.ContainsFunc(stored, func(t *webhook.Subscription) bool { return t.UUID == s.UUID }) {
			running = append(running, s)
		}
	}
	slices.SortFunc(running, func(a, b *webhook.Subscription) int { return a.Created.Compare(b.Created) })
	return append(stored, running...)
}
