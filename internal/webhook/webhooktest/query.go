package webhooktest

import (
	"maps"
	"time"
)

// Requests returns copies of every request so far, in arrival order.
func (rv *Receiver) Requests() []Request {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	out := make([]Request, len(rv.reqs))
	for i, r := range rv.reqs {
		out[i] = *r
	}
	return out
}

// Len returns the number of requests so far, of any kind.
func (rv *Receiver) Len() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return len(rv.reqs)
}

// Deliveries returns copies of the deliveries so far (envelopes other than
// TestMessages, whatever the answer), in arrival order.
func (rv *Receiver) Deliveries() []Request {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	var out []Request
	for _, r := range rv.reqs {
		if r.IsDelivery() {
			out = append(out, *r)
		}
	}
	return out
}

// Attempts returns how many deliveries of messageId arrived, whatever the
// answer.
func (rv *Receiver) Attempts(messageID string) int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.attempts[messageID]
}

// Counts returns how many times each messageId was delivered (answered
// 2xx).
func (rv *Receiver) Counts() map[string]int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return maps.Clone(rv.delivered)
}

// Distinct returns the number of messageIds delivered at least once.
func (rv *Receiver) Distinct() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return len(rv.delivered)
}

// Delivered returns the number of messageIds delivered at least once and
// the number of deliveries answered 2xx in all.
func (rv *Receiver) Delivered() (distinct, total int) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	for _, n := range rv.delivered {
		total += n
	}
	return len(rv.delivered), total
}

// Duplicates returns the number of 2xx deliveries beyond the first of each
// messageId.
func (rv *Receiver) Duplicates() int {
	distinct, total := rv.Delivered()
	return total - distinct
}

// Missing returns the ids of want that were never delivered, in want's
// order.
func (rv *Receiver) Missing(want []string) []string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	var out []string
	for _, id := range want {
		if rv.delivered[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// Unknown returns the messageIds that arrived, whatever the answer, and are
// not in want.
func (rv *Receiver) Unknown(want []string) []string {
	known := make(map[string]bool, len(want))
	for _, id := range want {
		known[id] = true
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	var out []string
	for id := range rv.attempts {
		if !known[id] {
			out = append(out, id)
		}
	}
	return out
}

// FirstArrival returns when the first delivery of messageId arrived,
// whatever its answer, and whether one did.
func (rv *Receiver) FirstArrival(messageID string) (time.Time, bool) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	at, ok := rv.first[messageID]
	return at, ok
}

// FirstArrivals returns FirstArrival of every messageId that arrived.
func (rv *Receiver) FirstArrivals() map[string]time.Time {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return maps.Clone(rv.first)
}

// BadSignatures returns the number of deliveries whose signature did not
// verify with the keys set when they arrived.
func (rv *Receiver) BadSignatures() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.bad
}

// InFlight returns the number of requests in progress.
func (rv *Receiver) InFlight() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.inFlight
}

// MaxInFlight returns the most requests that were in progress at once.
func (rv *Receiver) MaxInFlight() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.max
}

// Settle waits until no request arrived for quiet, at most max; it reports
// whether the receiver went quiet.
func (rv *Receiver) Settle(quiet, max time.Duration) bool {
	end := time.Now().Add(max)
	for {
		rv.mu.Lock()
		last := rv.last
		rv.mu.Unlock()
		if time.Since(last) >= quiet {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(quiet / 4)
	}
}
