package httpapi

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// This file holds what pusher's extension API (docs/extensions.md, the
// /v1/organizations/… routes) shares: who the caller is and which
// subscriptions it may see. Zettle's four calls do not use any of it.

// extHandlers serves the extension API.
type extHandlers struct {
	st   Store
	wake func() // the delivery engine's Notify, after something was queued
	cfg  Config
}

// caller is the principal of an extension call with the organization its
// path names, lower case.
type caller struct {
	auth.Principal
	org string
}

// callerOf authorizes an extension call. A subscriber token is checked as
// for Zettle's calls (subscriberOrg: a READ: scope, "self" or its own
// organization; Forbidden otherwise). An operator token (auth.ScopeAdmin)
// may name any organization; "self" is its own, Forbidden for a token
// bound to none.
func callerOf(r *http.Request, p auth.Principal) (caller, error) {
	if !p.IsAdmin() {
		org, err := subscriberOrg(r, p)
		return caller{p, org}, err
	}
	org := strings.ToLower(r.PathValue("org"))
	if org == "self" {
		if p.OrganizationUUID == "" {
			return caller{}, webhook.TypedErrorf(webhook.Forbidden, webhook.TypeForbidden,
				"The access token is not bound to an organization: name the organization instead of self")
		}
		org = strings.ToLower(p.OrganizationUUID)
	}
	if org == "" { // the store reads "" as every organization; the mux never matches one
		return caller{}, webhook.Errorf(webhook.NotFound, "No such resource")
	}
	return caller{p, org}, nil
}

// sees reports whether c may see a subscription of (org, clientID): one of
// the path's organization, and for a subscriber token of its own client.
func (c caller) sees(org, clientID string) bool {
	return strings.EqualFold(org, c.org) && (c.IsAdmin() || clientID == c.ClientID)
}

// clientFilter is the ClientID of a MessageFilter for c: every client's
// for an operator.
func (c caller) clientFilter() string {
	if c.IsAdmin() {
		return ""
	}
	return c.ClientID
}

// target is the subscription a read of the delivery log is about: a live
// one, or what is kept of a deleted one while its dead letters are.
type target struct {
	UUID, OrganizationUUID, ClientID, Destination string
}

// live returns the subscription uuid if c may see it, and Zettle's 404
// SUBSCRIPTION_NOT_FOUND otherwise, whether it exists elsewhere or not.
func (h extHandlers) live(ctx context.Context, c caller, uuid string) (*webhook.Subscription, error) {
	s, err := h.st.SubscriptionByUUID(ctx, uuid)
	if webhook.IsCode(err, webhook.NotFound) {
		return nil, webhook.ErrSubscriptionNotFound(uuid)
	}
	if err != nil {
		return nil, err
	}
	if !c.sees(s.OrganizationUUID, s.ClientID) {
		return nil, webhook.ErrSubscriptionNotFound(uuid)
	}
	return s, nil
}

// target returns the subscription uuid, live or deleted, if c may see it;
// see live. A live subscription hides a deleted one of the same uuid.
func (h extHandlers) target(ctx context.Context, c caller, uuid string) (target, error) {
	notFound := webhook.ErrSubscriptionNotFound(uuid)
	s, err := h.st.SubscriptionByUUID(ctx, uuid)
	switch {
	case err == nil && c.sees(s.OrganizationUUID, s.ClientID):
		return target{UUID: s.UUID, OrganizationUUID: s.OrganizationUUID, ClientID: s.ClientID, Destination: s.Destination}, nil
	case err == nil:
		return target{}, notFound
	case !webhook.IsCode(err, webhook.NotFound):
		return target{}, err
	}
	d, err := h.st.DeletedSubscription(ctx, uuid)
	switch {
	case webhook.IsCode(err, webhook.NotFound):
		return target{}, notFound
	case err != nil:
		return target{}, err
	case !c.sees(d.OrganizationUUID, d.ClientID):
		return target{}, notFound
	}
	return target{UUID: d.UUID, OrganizationUUID: d.OrganizationUUID, ClientID: d.ClientID, Destination: d.Destination}, nil
}

// liveCall authorizes an extension call about the {id} subscription of
// its path and returns the caller and the subscription, which must be
// live. Errors: callerOf's, and live's 404 SUBSCRIPTION_NOT_FOUND.
func (h extHandlers) liveCall(r *http.Request, p auth.Principal) (caller, *webhook.Subscription, error) {
	c, err := callerOf(r, p)
	if err != nil {
		return c, nil, err
	}
	s, err := h.live(r.Context(), c, subscriptionID(r))
	return c, s, err
}

// targetCall is liveCall for a read of the delivery log: the {id}
// subscription may also be a deleted one (see target).
func (h extHandlers) targetCall(r *http.Request, p auth.Principal) (target, error) {
	c, err := callerOf(r, p)
	if err != nil {
		return target{}, err
	}
	return h.target(r.Context(), c, subscriptionID(r))
}

// readObject reads the request body (at most Config.MaxBodyBytes) into v
// as a JSON object. Errors: readBody's 413 and 415, and decodeObject's 400
// INVALID_REQUEST, for a blank body too.
func (h extHandlers) readObject(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	return decodeObject(body, v)
}

// readOptionalObject is readObject for a body that may be left out: a
// blank one leaves v as it is.
func (h extHandlers) readOptionalObject(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil || len(bytes.TrimSpace(body)) == 0 {
		return err
	}
	return decodeObject(body, v)
}

// decodeObject is decodeJSON for a body that must be a JSON object: any
// other JSON value (null included) is 400 INVALID_REQUEST too.
func decodeObject(body []byte, v any) error {
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] != '{' {
		return webhook.Errorf(webhook.Invalid, "Request body must be a JSON object")
	}
	return decodeJSON(body, v)
}

// subscriptionID is the {id} path value, lower case: uuids compare
// case-insensitively.
func subscriptionID(r *http.Request) string { return strings.ToLower(r.PathValue("id")) }

// messageID is the {msg} path value, lower case (messageIds are UUIDs).
func messageID(r *http.Request) string { return strings.ToLower(r.PathValue("msg")) }

// errMessageNotFound is the 404 of an unknown messageId.
func errMessageNotFound(id string) error {
	return webhook.TypedErrorf(webhook.NotFound, store.TypeMessageNotFound, "Message %s not found", quoteShort(id))
}

// stamp formats a time of the extension API: UTC with milliseconds.
func stamp(t time.Time) string { return t.UTC().Format(listedLayout) }

// stampIf is stamp, or "" (left out) for the zero time.
func stampIf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return stamp(t)
}

// millis is d in whole milliseconds.
func millis(d time.Duration) int64 { return d.Milliseconds() }

// parseOverlap reads the rotation overlap v of the body's field property:
// a Go duration from 0 to webhook.MaxRotationOverlap. Anything else is 422
// VALIDATION_ERROR, a DURATION violation of property.
func parseOverlap(property, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > webhook.MaxRotationOverlap {
		return 0, invalid(webhook.Unprocessable, []webhook.Violation{violation(property, overlapRule+", not "+quoteShort(v), "DURATION")})
	}
	return d, nil
}

// overlapRule is the violation text of a bad rotation overlap.
var overlapRule = "must be a Go duration from 0s to " + webhook.CompactDuration(webhook.MaxRotationOverlap)

// settingsJSON is a subscription's settings as the extension API shows them.
type settingsJSON struct {
	StrictOrder            bool   `json:"strictOrder"`
	StandardWebhooks       bool   `json:"standardWebhooks"`
	RotationOverlap        string `json:"rotationOverlap"`
	StandardWebhooksSecret string `json:"standardWebhooksSecret"`
}

func toSettingsJSON(s *webhook.Subscription) settingsJSON {
	return settingsJSON{
		StrictOrder: s.Settings.StrictOrder, StandardWebhooks: s.Settings.StandardWebhooks,
		RotationOverlap: webhook.CompactDuration(s.Settings.RotationOverlap), StandardWebhooksSecret: webhook.StandardWebhooksSecret(s.SigningKey),
	}
}

// logStates are the states of the message list's state parameter;
// undeliveredStates those of the undelivered list's.
var (
	logStates         = []string{store.LogPending, store.LogFailing, store.LogDelivered, store.LogDead}
	undeliveredStates = []string{store.LogPending, store.LogFailing, store.LogDead}
)

func oneOf(v string, allowed []string) bool { return slices.Contains(allowed, v) }

// ownMessage returns message id of subscription uuid if its event belongs
// to org, and 404 MESSAGE_NOT_FOUND otherwise: a uuid re-used across
// organizations before deleted uuids were held (dead letters older than the
// delivery log) must not show one organization's events to another.
func (h extHandlers) ownMessage(ctx context.Context, uuid, org, id string) (store.LogMessage, error) {
	m, err := h.st.LogMessage(ctx, uuid, id)
	if webhook.IsCode(err, webhook.NotFound) || (err == nil && !strings.EqualFold(m.OrganizationUUID, org)) {
		return store.LogMessage{}, errMessageNotFound(id)
	}
	return m, err
}
