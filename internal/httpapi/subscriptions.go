package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Timestamp formats of the subscription object's updated field: Zettle
// answers a create with microseconds and a list with milliseconds.
const (
	createdLayout = "2006-01-02T15:04:05.000000Z"
	listedLayout  = "2006-01-02T15:04:05.000Z"
)

// subscriptionJSON is the subscription object in Zettle's key order.
type subscriptionJSON struct {
	UUID          string   `json:"uuid"`
	TransportName string   `json:"transportName"`
	EventNames    []string `json:"eventNames"`
	Updated       string   `json:"updated"`
	Destination   string   `json:"destination"`
	ContactEmail  string   `json:"contactEmail"`
	Status        string   `json:"status"`
	SigningKey    string   `json:"signingKey"`
}

func toJSON(s *webhook.Subscription, layout string) subscriptionJSON {
	names := s.EventNames
	if names == nil {
		names = []string{}
	}
	return subscriptionJSON{
		UUID: s.UUID, TransportName: s.TransportName, EventNames: names, Updated: s.Updated.UTC().Format(layout),
		Destination: s.Destination, ContactEmail: s.ContactEmail, Status: string(s.Status), SigningKey: s.SigningKey,
	}
}

// subscriptionRequest is the body of a create or an update; nil means absent.
type subscriptionRequest struct {
	UUID          *string   `json:"uuid"`
	TransportName *string   `json:"transportName"`
	EventNames    *[]string `json:"eventNames"`
	Destination   *string   `json:"destination"`
	ContactEmail  *string   `json:"contactEmail"`
}

type subscriptionHandlers struct {
	st         Store
	hs         Handshaker
	cfg        Config
	handshakes *handshakes // creates sending their TestMessage
}

// create handles POST /organizations/{org}/subscriptions: validate, check
// scopes, uniqueness and the cap, send the TestMessage, then store. While
// the TestMessage is in flight its owner's GET lists the subscription
// (see handshakes); if it fails, nothing was stored and the answer is its
// error, as Zettle's.
//
// A uuid is unique across all organizations (it is the primary key, and
// Zettle says "one UUID can be used only for one subscription"), so a uuid
// held by another client or organization cannot be created either. Its
// answer is the one for a duplicate of the caller's own: 400
// SUBSCRIPTION_ALREADY_EXIST with the same body, naming only the uuid the
// caller sent. That one bit ("taken") is all a global key must reveal; no
// other answer is both true and less telling (answering 200 would claim a
// subscription that does not exist), and nothing about the holder, its
// organization, destination or state is shown or changed.
func (h subscriptionHandlers) create(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	org, err := subscriberOrg(r, p)
	if err != nil {
		return err
	}
	var req subscriptionRequest
	if err := h.decode(w, r, &req); err != nil {
		return err
	}
	if err := h.validateCreate(req); err != nil {
		return err
	}
	if err := checkScopes(p, webhook.RequiredScopes(*req.EventNames), "the requested events"); err != nil {
		return err
	}
	uuid := strings.ToLower(*req.UUID)
	// Only the caller's own uuids are found here; one held elsewhere fails
	// in CreateSubscription with the same error, after the TestMessage.
	if _, err := h.st.Subscription(r.Context(), org, p.ClientID, uuid); err == nil {
		return webhook.ErrSubscriptionExists(uuid)
	} else if !webhook.IsCode(err, webhook.NotFound) {
		return err
	}
	// A deleted subscription's uuid stays held for other clients and
	// organizations while its dead letters are kept: its delivery log
	// (docs/extensions.md) is found by uuid, and must not pass to a new
	// owner. Its owner may create it again.
	if d, err := h.st.DeletedSubscription(r.Context(), uuid); err == nil {
		if !strings.EqualFold(d.OrganizationUUID, org) || d.ClientID != p.ClientID {
			return webhook.ErrSubscriptionExists(uuid)
		}
	} else if !webhook.IsCode(err, webhook.NotFound) {
		return err
	}
	if err := h.checkSubscriptionCap(r.Context(), org, p.ClientID); err != nil {
		return err
	}
	now := h.cfg.Now().UTC()
	s := &webhook.Subscription{
		UUID: uuid, OrganizationUUID: org, ClientID: p.ClientID, TransportName: webhook.TransportWebhook,
		EventNames: *req.EventNames, Destination: *req.Destination, ContactEmail: *req.ContactEmail,
		Status: webhook.Active, SigningKey: signing.NewKey(), Created: now, Updated: now,
		Settings: webhook.DefaultSettings(),
	}
	if !h.handshakes.start(s) {
		return webhook.ErrSubscriptionExists(uuid)
	}
	defer h.handshakes.done(s.UUID) // after it is stored, so GET lists it throughout
	if err := h.hs.Handshake(r.Context(), s, now); err != nil {
		return err
	}
	if err := h.st.CreateSubscription(r.Context(), s); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJSON(s, createdLayout))
	return nil
}

// list handles GET /organizations/{org}/subscriptions: a bare JSON array of
// the caller's subscriptions.
func (h subscriptionHandlers) list(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	org, err := subscriberOrg(r, p)
	if err != nil {
		return err
	}
	subs, err := h.st.Subscriptions(r.Context(), org, p.ClientID)
	if err != nil {
		return err
	}
	subs = h.handshakes.listedWith(subs, org, p.ClientID)
	out := make([]subscriptionJSON, len(subs))
	for i, s := range subs {
		out[i] = toJSON(s, listedLayout)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// update handles PUT /organizations/{org}/subscriptions/{id}: the fields
// present replace the stored ones, the subscription becomes ACTIVE, and a
// changed destination must accept a TestMessage first. 200, empty body.
//
// The token needs the scopes of the subscription's current events (see
// deliveredScopes) as well as those of the eventNames it sets (Forbidden
// otherwise): any change, of the destination above all, decides where those
// events go, so a token narrowed to READ:PRODUCT cannot redirect a
// PurchaseCreated subscription.
func (h subscriptionHandlers) update(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	org, err := subscriberOrg(r, p)
	if err != nil {
		return err
	}
	s, err := h.st.Subscription(r.Context(), org, p.ClientID, strings.ToLower(r.PathValue("id")))
	if err != nil {
		return err
	}
	if err := checkScopes(p, deliveredScopes(s.EventNames), "the subscription's current events"); err != nil {
		return err
	}
	var req subscriptionRequest
	if err := h.decode(w, r, &req); err != nil && !isEmptyBody(err) {
		return err
	}
	if err := h.validateUpdate(req, s); err != nil {
		return err
	}
	if req.EventNames != nil {
		if err := checkScopes(p, webhook.RequiredScopes(*req.EventNames), "the requested events"); err != nil {
			return err
		}
		s.EventNames = *req.EventNames
	}
	if req.ContactEmail != nil {
		s.ContactEmail = *req.ContactEmail
	}
	now := h.cfg.Now().UTC()
	if req.Destination != nil && *req.Destination != s.Destination {
		s.Destination = *req.Destination
		if err := h.hs.Handshake(r.Context(), s, now); err != nil {
			return err
		}
	}
	s.Updated = now
	if err := h.st.UpdateSubscription(r.Context(), s); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// delete handles DELETE …/subscriptions/{id} and …/subscriptions/uuid/{id}.
// Like every subscription call it needs one of Zettle's READ: scopes, but not
// those of the subscription's events: deleting only stops deliveries, and a
// client whose scopes were narrowed must still be able to clean up.
func (h subscriptionHandlers) delete(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	org, err := subscriberOrg(r, p)
	if err != nil {
		return err
	}
	if err := h.st.DeleteSubscription(r.Context(), org, p.ClientID, strings.ToLower(r.PathValue("id")), h.cfg.Now().UTC()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

var errEmptyBody = errors.New("empty body")

func isEmptyBody(err error) bool { return errors.Is(err, errEmptyBody) }

func (h subscriptionHandlers) decode(w http.ResponseWriter, r *http.Request, req *subscriptionRequest) error {
	body, err := readBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) == "" {
		return errors.Join(errEmptyBody, webhook.Errorf(webhook.Invalid, "Request body must be a JSON object"))
	}
	return decodeJSON(body, req)
}

// validateCreate checks a create request: problems with uuid, transportName
// and eventNames are 400s, with destination and contactEmail 422s.
func (h subscriptionHandlers) validateCreate(req subscriptionRequest) error {
	var bad []webhook.Violation
	switch {
	case req.UUID == nil || *req.UUID == "":
		bad = append(bad, violation("uuid", "must not be empty", "NOT_NULL"))
	case !webhook.IsUUIDv1(*req.UUID):
		bad = append(bad, violation("uuid", "must be a UUID version 1", "UUID_V1"))
	}
	switch {
	case req.TransportName == nil || *req.TransportName == "":
		bad = append(bad, violation("transportName", "must not be empty", "NOT_NULL"))
	case *req.TransportName != webhook.TransportWebhook:
		bad = append(bad, violation("transportName", "must be WEBHOOK", "TRANSPORT_NAME"))
	}
	if req.EventNames == nil {
		bad = append(bad, violation("eventNames", "must not be null (use [] for all events)", "NOT_NULL"))
	} else {
		bad = append(bad, checkEventNames(*req.EventNames)...)
	}
	if len(bad) > 0 {
		return invalid(webhook.Invalid, bad)
	}
	bad = append(bad, h.checkDestination(req.Destination)...)
	bad = append(bad, checkEmail(req.ContactEmail)...)
	if len(bad) > 0 {
		return invalid(webhook.Unprocessable, bad)
	}
	return nil
}

func (h subscriptionHandlers) validateUpdate(req subscriptionRequest, s *webhook.Subscription) error {
	var bad []webhook.Violation
	if req.TransportName != nil && *req.TransportName != s.TransportName {
		bad = append(bad, violation("transportName", "must be the subscription's transport, "+s.TransportName, "TRANSPORT_NAME"))
	}
	if req.EventNames != nil {
		bad = append(bad, checkEventNames(*req.EventNames)...)
	}
	if len(bad) > 0 {
		return invalid(webhook.Invalid, bad)
	}
	if req.Destination != nil {
		bad = append(bad, h.checkDestination(req.Destination)...)
	}
	if req.ContactEmail != nil {
		bad = append(bad, checkEmail(req.ContactEmail)...)
	}
	if len(bad) > 0 {
		return invalid(webhook.Unprocessable, bad)
	}
	return nil
}

func checkEventNames(names []string) []webhook.Violation {
	var bad []webhook.Violation
	for _, n := range names {
		if _, ok := webhook.LookupEventType(n); !ok {
			bad = append(bad, violation("eventNames", fmt.Sprintf("unsupported event name %q", n), "EVENT_NAME"))
		}
	}
	return bad
}

func (h subscriptionHandlers) checkDestination(dest *string) []webhook.Violation {
	if dest == nil || *dest == "" {
		return []webhook.Violation{violation("destination", "must not be empty", "NOT_NULL")}
	}
	if msg := webhook.CheckDestination(*dest, h.cfg.AllowHTTPDestinations); msg != "" {
		return []webhook.Violation{violation("destination", msg, "URL")}
	}
	return nil
}

func checkEmail(email *string) []webhook.Violation {
	switch {
	case email == nil || *email == "":
		return []webhook.Violation{violation("contactEmail", "must not be empty", "NOT_NULL")}
	case len(*email) > webhook.MaxContactEmailLength:
		return []webhook.Violation{violation("contactEmail", fmt.Sprintf("must be at most %d characters", webhook.MaxContactEmailLength), "SIZE")}
	case !webhook.IsEmail(*email):
		return []webhook.Violation{violation("contactEmail", "must be a valid e-mail address", "EMAIL")}
	}
	return nil
}

// checkScopes returns Forbidden if the token lacks one of scopes; what names
// the events that need them in the message.
func checkScopes(p auth.Principal, scopes []string, what string) error {
	for _, scope := range scopes {
		if !p.HasScope(scope) {
			return webhook.TypedErrorf(webhook.Forbidden, webhook.TypeForbidden,
				"The access token lacks the scope %s needed for %s", scope, what)
		}
	}
	return nil
}

// deliveredScopes returns the scopes of the events a subscription to names
// receives ([] = all events). Legacy names are never published, so they add
// none: a subscription listing only them receives nothing to protect.
func deliveredScopes(names []string) []string {
	if len(names) == 0 {
		return webhook.RequiredScopes(nil)
	}
	published := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !webhook.IsPublishable(n) })
	if len(published) == 0 {
		return nil
	}
	return webhook.RequiredScopes(published)
}

// readScopes are Zettle's READ: scopes, those of the event catalogue.
var readScopes = func() []string {
	var scopes []string
	for _, t := range webhook.EventTypes {
		if t.Scope != webhook.ScopeAny && !slices.Contains(scopes, t.Scope) {
			scopes = append(scopes, t.Scope)
		}
	}
	return scopes
}()

// subscriberOrg authorizes a subscription API call and returns the
// organization it acts on, lower-case. The token needs at least one of
// readScopes (Forbidden otherwise, whatever the call) and must be valid for
// the path's organization (orgOf: "self" or its own, compared
// case-insensitively; Forbidden otherwise).
func subscriberOrg(r *http.Request, p auth.Principal) (string, error) {
	if !slices.ContainsFunc(readScopes, p.HasScope) {
		return "", webhook.TypedErrorf(webhook.Forbidden, webhook.TypeForbidden,
			"The access token has none of the scopes %s that the subscription API needs", strings.Join(readScopes, ", "))
	}
	org, err := orgOf(r, strings.ToLower(p.OrganizationUUID))
	return strings.ToLower(org), err
}

func violation(prop, msg, constraint string) webhook.Violation {
	return webhook.Violation{PropertyName: prop, DeveloperMessage: msg, ConstraintType: constraint}
}

func invalid(code webhook.Code, bad []webhook.Violation) error {
	msgs := make([]string, len(bad))
	for i, v := range bad {
		msgs[i] = v.PropertyName + " " + v.DeveloperMessage
	}
	return &webhook.Error{Code: code, Message: "Invalid request: " + strings.Join(msgs, "; "), Violations: bad}
}
