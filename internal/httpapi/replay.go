package httpapi

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// maxIdempotencyKey bounds a replay's idempotency key, in characters.
const maxIdempotencyKey = 200

// redeliver handles POST …/subscriptions/{id}/messages/{msg}/redeliver:
// the message is due now, for its subscription, which must still exist.
// 202 with the message's state after the call.
func (h extHandlers) redeliver(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	_, s, err := h.liveCall(r, p)
	if err != nil {
		return err
	}
	id := messageID(r)
	if _, err := h.ownMessage(r.Context(), s.UUID, s.OrganizationUUID, id); err != nil {
		return err
	}
	err = h.st.Redeliver(r.Context(), s.UUID, id, h.cfg.Now().UTC())
	if webhook.IsCode(err, webhook.NotFound) {
		return errMessageNotFound(id)
	}
	if err != nil {
		return err
	}
	m, err := h.st.LogMessage(r.Context(), s.UUID, id) // before the wake: the state this call left
	if err != nil {
		return err
	}
	h.wake()
	writeJSON(w, http.StatusAccepted, struct {
		MessageID string `json:"messageId"`
		State     string `json:"state"`
	}{m.MessageID, m.State})
	return nil
}

// replayRequest is the body of a replay; nil means absent.
type replayRequest struct {
	Since                *string   `json:"since"`
	Until                *string   `json:"until"`
	EventNames           *[]string `json:"eventNames"`
	FromSubscriptionUUID *string   `json:"fromSubscriptionUuid"`
	DryRun               *bool     `json:"dryRun"`
	IdempotencyKey       *string   `json:"idempotencyKey"`
}

// replayResponse is the answer of a replay.
type replayResponse struct {
	DryRun         bool   `json:"dryRun"`
	Count          int    `json:"count"`
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// replay handles POST …/subscriptions/{id}/replay: queue the retained
// events of the subscription's organization the body selects (see
// docs/extensions.md). 200 for a dry run, 202 otherwise.
func (h extHandlers) replay(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, s, err := h.liveCall(r, p)
	if err != nil {
		return err
	}
	var req replayRequest
	if err := h.readObject(w, r, &req); err != nil {
		return err
	}
	params, err := h.replayParams(r, c, s, req)
	if err != nil {
		return err
	}
	// A key used before with another request is the store's 422
	// (store.ErrIdempotencyKeyReused), naming idempotencyKey.
	res, err := h.st.Replay(r.Context(), params)
	if err != nil {
		return err
	}
	if params.DryRun {
		writeJSON(w, http.StatusOK, replayResponse{DryRun: true, Count: res.Count})
		return nil
	}
	if !res.Repeated && res.Count > 0 {
		h.wake()
	}
	writeJSON(w, http.StatusAccepted, replayResponse{Count: res.Count, IdempotencyKey: params.IdempotencyKey})
	return nil
}

// replayParams validates a replay request for subscription s: every
// problem is a 422 violation.
func (h extHandlers) replayParams(r *http.Request, c caller, s *webhook.Subscription, req replayRequest) (store.ReplayParams, error) {
	p := store.ReplayParams{SubscriptionUUID: s.UUID, OrganizationUUID: s.OrganizationUUID, Now: h.cfg.Now().UTC()}
	var bad []webhook.Violation
	timesOK := true
	for _, f := range []struct {
		name string
		v    *string
		to   *time.Time
	}{{"since", req.Since, &p.Since}, {"until", req.Until, &p.Until}} {
		switch {
		case f.v == nil || *f.v == "":
			bad, timesOK = append(bad, violation(f.name, "must not be empty", "NOT_NULL")), false
		default:
			t, ok := parseTime(*f.v)
			if !ok {
				bad, timesOK = append(bad, violation(f.name, "must be an RFC 3339 time, such as 2026-12-01T12:00:00Z, not "+quoteShort(*f.v), "TIME")), false
			}
			*f.to = t
		}
	}
	if timesOK && !p.Until.After(p.Since) {
		bad = append(bad, violation("until", "must be after since", "RANGE"))
	}

	var names []string // as asked, sorted, for the request hash; nil: the subscription's
	if req.EventNames != nil && len(*req.EventNames) > 0 {
		for _, n := range *req.EventNames {
			if _, ok := webhook.LookupEventType(n); !ok {
				bad = append(bad, violation("eventNames", "unsupported event name "+quoteShort(n), "EVENT_NAME"))
			} else if !s.Wants(n) {
				bad = append(bad, violation("eventNames", "the subscription does not subscribe to "+quoteShort(n), "EVENT_NAME"))
			} else if !webhook.Replayable(n) {
				bad = append(bad, violation("eventNames", quoteShort(n)+" events are not replayed: they were addressed to one client", "EVENT_NAME"))
			}
		}
		names = slices.Compact(slices.Sorted(slices.Values(*req.EventNames)))
		p.EventNames = names
	} else {
		p.EventNames = s.ReplayNames()
	}

	if req.FromSubscriptionUUID != nil && *req.FromSubscriptionUUID != "" {
		from := strings.ToLower(*req.FromSubscriptionUUID)
		// target sees only subscriptions of c's organization (s's) and,
		// for a subscriber token, of its client.
		if _, err := h.target(r.Context(), c, from); webhook.IsCode(err, webhook.NotFound) {
			bad = append(bad, violation("fromSubscriptionUuid", "is not a subscription of this organization and client, live or with retained dead letters", "SUBSCRIPTION"))
		} else if err != nil {
			return p, err
		}
		p.FromSubscriptionUUID = from
	}

	p.DryRun = req.DryRun != nil && *req.DryRun
	header := r.Header.Get("Idempotency-Key")
	body := ""
	if req.IdempotencyKey != nil {
		body = *req.IdempotencyKey
	}
	switch key := cmp.Or(body, header); {
	case body != "" && header != "" && body != header:
		bad = append(bad, violation("idempotencyKey", "differs from the Idempotency-Key header", "IDEMPOTENCY_KEY"))
	case utf8.RuneCountInString(key) > maxIdempotencyKey:
		bad = append(bad, violation("idempotencyKey", fmt.Sprintf("must be at most %d characters", maxIdempotencyKey), "SIZE"))
	case !p.DryRun:
		p.IdempotencyKey = key // a dry run neither uses nor records it
	}
	if len(bad) > 0 {
		return p, invalid(webhook.Unprocessable, bad)
	}
	p.RequestHash = requestHash(p, names)
	return p, nil
}

// requestHash identifies a replay request for its idempotency key: a
// SHA-256 of its canonical form (times in UTC with nanoseconds, the event
// names asked for sorted and unique, nil when none were).
func requestHash(p store.ReplayParams, names []string) string {
	canonical, _ := json.Marshal(struct {
		Subscription string   `json:"subscriptionUuid"`
		Since        string   `json:"since"`
		Until        string   `json:"until"`
		EventNames   []string `json:"eventNames"`
		From         string   `json:"fromSubscriptionUuid"`
	}{p.SubscriptionUUID, p.Since.UTC().Format(time.RFC3339Nano), p.Until.UTC().Format(time.RFC3339Nano), names, p.FromSubscriptionUUID})
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}
