package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// TransportWebhook is the only transportName Zettle (and pusher) offers.
const TransportWebhook = "WEBHOOK"

// Subscription statuses.
const (
	StatusActive  = "ACTIVE"
	StatusFailing = "FAILING"
)

// Subscription is Zettle's subscription object. The fields after
// SigningKey are pusher's extensions, set only by OrganizationSubscriptions.
type Subscription struct {
	UUID          string    `json:"uuid"`
	TransportName string    `json:"transportName"`
	EventNames    []string  `json:"eventNames"` // empty: every event
	Updated       time.Time `json:"updated"`
	Destination   string    `json:"destination"`
	ContactEmail  string    `json:"contactEmail"`
	Status        string    `json:"status"` // StatusActive or StatusFailing
	SigningKey    string    `json:"signingKey"`

	ClientID     string    `json:"clientId,omitempty"`    // the OAuth client owning it
	FailingSince time.Time `json:"failingSince,omitzero"` // start of the failing episode
	NextRetryAt  time.Time `json:"nextRetryAt,omitzero"`  // next retry while FAILING
	Backlog      *int      `json:"backlog,omitempty"`     // undelivered messages
	Settings     *Settings `json:"settings,omitempty"`    // per-subscription settings
}

// CreateRequest is the body of Zettle's create call. The client sends
// transportName "WEBHOOK" and an empty eventNames array for nil EventNames
// (which subscribes to every event).
type CreateRequest struct {
	// UUID must be a version 1 UUID (see NewSubscriptionUUID); one uuid can
	// be used for one subscription only.
	UUID         string
	EventNames   []string
	Destination  string // HTTPS URL
	ContactEmail string
}

type createBody struct {
	UUID          string   `json:"uuid"`
	TransportName string   `json:"transportName"`
	EventNames    []string `json:"eventNames"`
	Destination   string   `json:"destination"`
	ContactEmail  string   `json:"contactEmail"`
}

// UpdateRequest is the body of Zettle's update call: only the fields that
// are set are sent, and only they change.
type UpdateRequest struct {
	// EventNames nil leaves the events as they are; an empty, non-nil slice
	// subscribes to every event.
	EventNames   []string
	Destination  string // "" leaves it as it is
	ContactEmail string // "" leaves it as it is
}

type updateBody struct {
	EventNames   []string `json:"eventNames,omitzero"` // nil omitted, [] sent
	Destination  string   `json:"destination,omitempty"`
	ContactEmail string   `json:"contactEmail,omitempty"`
}

// CreateSubscription creates a subscription (POST
// /organizations/{organizationUuid}/subscriptions). The server first sends
// a TestMessage to the destination and answers an error if it is not
// accepted. The answer includes the signing key.
func (c *Client) CreateSubscription(ctx context.Context, req CreateRequest) (*Subscription, error) {
	names := req.EventNames
	if names == nil {
		names = []string{}
	}
	body := createBody{UUID: req.UUID, TransportName: TransportWebhook, EventNames: names,
		Destination: req.Destination, ContactEmail: req.ContactEmail}
	var s Subscription
	if err := c.do(ctx, http.MethodPost, c.orgPath("", "/subscriptions"), body, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Subscriptions lists the subscriptions of the token's OAuth client in the
// organization (Zettle's GET /organizations/{organizationUuid}/subscriptions).
func (c *Client) Subscriptions(ctx context.Context) ([]Subscription, error) {
	var subs []Subscription
	if err := c.do(ctx, http.MethodGet, c.orgPath("", "/subscriptions"), nil, &subs); err != nil {
		return nil, err
	}
	return subs, nil
}

// UpdateSubscription changes the fields of req that are set (Zettle's PUT
// /organizations/{organizationUuid}/subscriptions/{subscriptionUuid}, which
// answers without a body).
func (c *Client) UpdateSubscription(ctx context.Context, subscriptionUUID string, req UpdateRequest) error {
	body := updateBody(req)
	return c.do(ctx, http.MethodPut, c.orgPath("", "/subscriptions/"+url.PathEscape(subscriptionUUID)), body, nil)
}

// DeleteSubscription deletes a subscription (Zettle's DELETE
// /organizations/{organizationUuid}/subscriptions/{subscriptionUuid}).
func (c *Client) DeleteSubscription(ctx context.Context, subscriptionUUID string) error {
	return c.do(ctx, http.MethodDelete, c.orgPath("", "/subscriptions/"+url.PathEscape(subscriptionUUID)), nil, nil)
}
