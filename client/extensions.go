package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Message states of the delivery log.
const (
	StatePending   = "pending"   // not tried yet
	StateFailing   = "failing"   // at least one attempt failed; retried
	StateDelivered = "delivered" // a receiver answered 2xx
	StateDead      = "dead"      // its subscription was deleted before delivery
)

// Message is one event for one subscription, as the delivery log lists it.
type Message struct {
	MessageID        string    `json:"messageId"`
	SubscriptionUUID string    `json:"subscriptionUuid"`
	EventName        string    `json:"eventName"`
	State            string    `json:"state"` // one of the State… constants
	Created          time.Time `json:"created"`
	Attempts         int       `json:"attempts"`    // attempts made
	LastAttempt      *Attempt  `json:"lastAttempt"` // nil before the first attempt
	// NextAttemptAt is when a pending or failing message is tried next, if
	// the server knows; zero otherwise.
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	// Finished is when a delivered or dead message became so, if known.
	Finished time.Time `json:"finished,omitzero"`
}

// MessageDetail is one message with its envelope and every attempt.
type MessageDetail struct {
	Message
	// Envelope is the JSON object exactly as delivered.
	Envelope json.RawMessage `json:"envelope"`
	// AttemptList is every attempt, oldest first; Message.Attempts is its
	// length.
	AttemptList []Attempt `json:"attemptLog"`
}

// UnmarshalJSON decodes a message with its attempts, which the server
// sends as "attemptLog" (or, as an array, "attempts").
func (m *MessageDetail) UnmarshalJSON(b []byte) error {
	var w struct {
		Message
		Attempts   json.RawMessage `json:"attempts"`
		AttemptLog []Attempt       `json:"attemptLog"`
		Envelope   json.RawMessage `json:"envelope"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = MessageDetail{Message: w.Message, Envelope: w.Envelope, AttemptList: w.AttemptLog}
	switch a := bytes.TrimSpace(w.Attempts); {
	case len(a) > 0 && a[0] == '[':
		if m.AttemptList == nil {
			if err := json.Unmarshal(a, &m.AttemptList); err != nil {
				return fmt.Errorf("attempts: %w", err)
			}
		}
	case len(a) > 0 && string(a) != "null":
		if err := json.Unmarshal(a, &m.Attempts); err != nil {
			return fmt.Errorf("attempts: %w", err)
		}
	}
	if n := len(m.AttemptList); n > 0 || m.AttemptList != nil {
		m.Attempts = n
	}
	if m.LastAttempt == nil && len(m.AttemptList) > 0 {
		last := m.AttemptList[len(m.AttemptList)-1]
		m.LastAttempt = &last
	}
	return nil
}

// Attempt is one delivery attempt.
type Attempt struct {
	At         time.Time `json:"at"`
	DurationMs int64     `json:"durationMs"`
	StatusCode int       `json:"statusCode"`           // 0 without an HTTP answer
	ErrorClass string    `json:"errorClass,omitempty"` // "" on success
	Error      string    `json:"error,omitempty"`      // plain words; "" on success
	RemoteAddr string    `json:"remoteAddr,omitempty"` // IP:port dialled; "" if none
	Response   string    `json:"response,omitempty"`   // first 1 KiB of the body (MessageDetail only)
}

// Duration is how long the attempt took.
func (a Attempt) Duration() time.Duration { return time.Duration(a.DurationMs) * time.Millisecond }

// Succeeded reports whether the attempt delivered its message.
func (a Attempt) Succeeded() bool { return a.ErrorClass == "" && a.StatusCode/100 == 2 }

// MessageFilter selects messages; its zero value selects all, newest first,
// in pages of the server's default size (50).
type MessageFilter struct {
	State        string    // one of the State… constants; "" for all
	EventName    string    // "" for all
	Since, Until time.Time // on the creation time, since inclusive, until exclusive; zero: open
	Limit        int       // page size, 1–500; 0: the server's default
	Cursor       string    // MessagePage.NextCursor of the previous page
}

func (f MessageFilter) query() string {
	q := url.Values{}
	if f.State != "" {
		q.Set("state", f.State)
	}
	if f.EventName != "" {
		q.Set("eventName", f.EventName)
	}
	if !f.Since.IsZero() {
		q.Set("since", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		q.Set("until", formatTime(f.Until))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// formatTime is the API's time format: RFC 3339 in UTC.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// MessagePage is one page of messages.
type MessagePage struct {
	Messages []Message `json:"messages"`
	// NextCursor is the MessageFilter.Cursor of the next page; "" on the
	// last page.
	NextCursor string `json:"nextCursor,omitempty"`
}

// OrganizationSubscriptions lists every subscription the token may see in
// the organization, oldest first, with pusher's fields (ClientID,
// FailingSince, NextRetryAt, Backlog, Settings): a subscriber token's own
// client's, an operator token's of every client.
func (c *Client) OrganizationSubscriptions(ctx context.Context) ([]Subscription, error) {
	var subs subscriptionList
	if err := c.do(ctx, http.MethodGet, c.orgPath("/v1", "/subscriptions"), nil, &subs); err != nil {
		return nil, err
	}
	return subs, nil
}

// subscriptionList decodes a bare array of subscriptions or an object
// holding it as "subscriptions".
type subscriptionList []Subscription

func (l *subscriptionList) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var o struct {
			Subscriptions []Subscription `json:"subscriptions"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*l = o.Subscriptions
		return nil
	}
	return json.Unmarshal(b, (*[]Subscription)(l))
}

// Messages returns one page of a subscription's messages, newest first.
// The subscription may have been deleted (its dead letters are kept).
func (c *Client) Messages(ctx context.Context, subscriptionUUID string, f MessageFilter) (*MessagePage, error) {
	return c.messagePage(ctx, c.subPath(subscriptionUUID, "/messages"), f)
}

// AllMessages iterates over every message f selects, following the
// cursors from f.Cursor on. It stops at the first error, which it yields.
func (c *Client) AllMessages(ctx context.Context, subscriptionUUID string, f MessageFilter) iter.Seq2[Message, error] {
	return c.allMessages(ctx, c.subPath(subscriptionUUID, "/messages"), f)
}

// Undelivered returns one page of "what never arrived": the organization's
// pending, failing and dead messages, newest first, deleted subscriptions'
// included.
func (c *Client) Undelivered(ctx context.Context, f MessageFilter) (*MessagePage, error) {
	return c.messagePage(ctx, c.orgPath("/v1", "/undelivered"), f)
}

// AllUndelivered iterates over every undelivered message f selects,
// following the cursors.
func (c *Client) AllUndelivered(ctx context.Context, f MessageFilter) iter.Seq2[Message, error] {
	return c.allMessages(ctx, c.orgPath("/v1", "/undelivered"), f)
}

func (c *Client) messagePage(ctx context.Context, path string, f MessageFilter) (*MessagePage, error) {
	var p MessagePage
	if err := c.do(ctx, http.MethodGet, path+f.query(), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

func (c *Client) allMessages(ctx context.Context, path string, f MessageFilter) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		for {
			p, err := c.messagePage(ctx, path, f)
			if err != nil {
				yield(Message{}, err)
				return
			}
			for _, m := range p.Messages {
				if !yield(m, nil) {
					return
				}
			}
			if p.NextCursor == "" || p.NextCursor == f.Cursor {
				return
			}
			f.Cursor = p.NextCursor
		}
	}
}

// Message returns one message of a subscription with its envelope and
// every attempt.
func (c *Client) Message(ctx context.Context, subscriptionUUID, messageID string) (*MessageDetail, error) {
	var m MessageDetail
	if err := c.do(ctx, http.MethodGet, c.subPath(subscriptionUUID, "/messages/"+url.PathEscape(messageID)), nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Stats are a subscription's recent delivery statistics.
type Stats struct {
	LastHour StatsWindow `json:"lastHour"`
	LastDay  StatsWindow `json:"lastDay"`
	Backlog  int         `json:"backlog"` // undelivered messages
}

// StatsWindow counts the attempts of one time window.
type StatsWindow struct {
	Delivered int `json:"delivered"` // successful attempts
	Failed    int `json:"failed"`    // failed attempts
	// SuccessRate is Delivered ÷ (Delivered + Failed); nil without attempts.
	SuccessRate *float64 `json:"successRate"`
	// LatencyMs are percentiles of the attempt durations; nil without
	// attempts.
	LatencyMs *Latency `json:"latencyMs"`
}

// Latency are duration percentiles (nearest rank) in whole milliseconds.
type Latency struct {
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
	P99 int64 `json:"p99"`
}

// Stats returns a subscription's delivery statistics.
func (c *Client) Stats(ctx context.Context, subscriptionUUID string) (*Stats, error) {
	var s Stats
	if err := c.do(ctx, http.MethodGet, c.subPath(subscriptionUUID, "/stats"), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// RedeliverResult is the answer of Redeliver.
type RedeliverResult struct {
	MessageID string `json:"messageId"`
	State     string `json:"state"`
}

// Redeliver makes a message due now for its subscription, which must still
// exist, keeping its messageId. A message already pending or failing and
// due is left alone.
func (c *Client) Redeliver(ctx context.Context, subscriptionUUID, messageID string) (*RedeliverResult, error) {
	var r RedeliverResult
	path := c.subPath(subscriptionUUID, "/messages/"+url.PathEscape(messageID)+"/redeliver")
	if err := c.do(ctx, http.MethodPost, path, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ReplayRequest selects the retained events Replay sends again.
type ReplayRequest struct {
	Since, Until time.Time // required: since inclusive, until exclusive, until after since
	// EventNames nil: every event the subscription subscribes to.
	EventNames []string
	// FromSubscriptionUUID, if set, replays only the dead letters of that
	// (typically deleted) subscription.
	FromSubscriptionUUID string
	// DryRun counts the events and changes nothing.
	DryRun bool
	// IdempotencyKey, if set, makes a repeated call with the same request
	// answer the first call's result and send nothing again.
	IdempotencyKey string
}

type replayBody struct {
	Since                string   `json:"since"`
	Until                string   `json:"until"`
	EventNames           []string `json:"eventNames,omitempty"`
	FromSubscriptionUUID string   `json:"fromSubscriptionUuid,omitempty"`
	DryRun               bool     `json:"dryRun"`
	IdempotencyKey       string   `json:"idempotencyKey,omitempty"`
}

// ReplayResult is the answer of Replay.
type ReplayResult struct {
	DryRun         bool   `json:"dryRun"`
	Count          int    `json:"count"` // events selected (dry run) or queued
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// Replay sends retained events of the organization to a subscription again,
// each with its original messageId.
func (c *Client) Replay(ctx context.Context, subscriptionUUID string, req ReplayRequest) (*ReplayResult, error) {
	if req.Since.IsZero() || req.Until.IsZero() {
		return nil, fmt.Errorf("replay: Since and Until are required")
	}
	body := replayBody{Since: formatTime(req.Since), Until: formatTime(req.Until), EventNames: req.EventNames,
		FromSubscriptionUUID: req.FromSubscriptionUUID, DryRun: req.DryRun, IdempotencyKey: req.IdempotencyKey}
	var r ReplayResult
	if err := c.do(ctx, http.MethodPost, c.subPath(subscriptionUUID, "/replay"), body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RotateKeyResult is the answer of RotateKey.
type RotateKeyResult struct {
	SigningKey string `json:"signingKey"`
	// PreviousKeyExpires is when deliveries stop carrying
	// X-Pusher-Previous-Signature, made with the previous key.
	PreviousKeyExpires time.Time `json:"previousKeyExpires"`
}

// RotateKey gives a subscription a new signing key; the previous key keeps
// signing (in X-Pusher-Previous-Signature) for the subscription's rotation
// overlap setting.
func (c *Client) RotateKey(ctx context.Context, subscriptionUUID string) (*RotateKeyResult, error) {
	return c.rotateKey(ctx, subscriptionUUID, struct{}{})
}

// RotateKeyWithOverlap is RotateKey with the previous key signing for
// overlap (0 to 168 h) instead of the subscription's setting.
func (c *Client) RotateKeyWithOverlap(ctx context.Context, subscriptionUUID string, overlap time.Duration) (*RotateKeyResult, error) {
	return c.rotateKey(ctx, subscriptionUUID, struct {
		Overlap string `json:"overlap"`
	}{overlap.String()})
}

func (c *Client) rotateKey(ctx context.Context, subscriptionUUID string, body any) (*RotateKeyResult, error) {
	var r RotateKeyResult
	if err := c.do(ctx, http.MethodPost, c.subPath(subscriptionUUID, "/rotate-key"), body, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Settings are a subscription's pusher-only settings.
type Settings struct {
	// StrictOrder keeps one delivery in flight at a time, in creation order.
	StrictOrder bool
	// StandardWebhooks adds the Standard Webhooks headers to deliveries.
	StandardWebhooks bool
	// RotationOverlap is how long the previous key keeps signing after a
	// rotation.
	RotationOverlap time.Duration
	// StandardWebhooksSecret ("whsec_…") verifies the Standard Webhooks
	// signatures; read-only.
	StandardWebhooksSecret string
}

type settingsJSON struct {
	StrictOrder            bool   `json:"strictOrder"`
	StandardWebhooks       bool   `json:"standardWebhooks"`
	RotationOverlap        string `json:"rotationOverlap"`
	StandardWebhooksSecret string `json:"standardWebhooksSecret,omitempty"`
}

// MarshalJSON encodes s as the API does, RotationOverlap as a Go duration.
func (s Settings) MarshalJSON() ([]byte, error) {
	return json.Marshal(settingsJSON{StrictOrder: s.StrictOrder, StandardWebhooks: s.StandardWebhooks,
		RotationOverlap: s.RotationOverlap.String(), StandardWebhooksSecret: s.StandardWebhooksSecret})
}

// UnmarshalJSON decodes the API's settings object.
func (s *Settings) UnmarshalJSON(b []byte) error {
	var j settingsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var d time.Duration
	if j.RotationOverlap != "" {
		var err error
		if d, err = time.ParseDuration(j.RotationOverlap); err != nil {
			return fmt.Errorf("rotationOverlap: %w", err)
		}
	}
	*s = Settings{StrictOrder: j.StrictOrder, StandardWebhooks: j.StandardWebhooks, RotationOverlap: d,
		StandardWebhooksSecret: j.StandardWebhooksSecret}
	return nil
}

// SettingsUpdate changes the settings that are not nil.
type SettingsUpdate struct {
	StrictOrder      *bool
	StandardWebhooks *bool
	RotationOverlap  *time.Duration // 0 to 168 h
}

type settingsUpdateBody struct {
	StrictOrder      *bool   `json:"strictOrder,omitempty"`
	StandardWebhooks *bool   `json:"standardWebhooks,omitempty"`
	RotationOverlap  *string `json:"rotationOverlap,omitempty"`
}

// Settings returns a subscription's settings.
func (c *Client) Settings(ctx context.Context, subscriptionUUID string) (*Settings, error) {
	var s Settings
	if err := c.do(ctx, http.MethodGet, c.subPath(subscriptionUUID, "/settings"), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// UpdateSettings changes the settings of u that are set and returns the
// subscription's settings after the change.
func (c *Client) UpdateSettings(ctx context.Context, subscriptionUUID string, u SettingsUpdate) (*Settings, error) {
	body := settingsUpdateBody{StrictOrder: u.StrictOrder, StandardWebhooks: u.StandardWebhooks}
	if u.RotationOverlap != nil {
		d := u.RotationOverlap.String()
		body.RotationOverlap = &d
	}
	var s *Settings
	if err := c.do(ctx, http.MethodPut, c.subPath(subscriptionUUID, "/settings"), body, &s); err != nil {
		return nil, err
	}
	if s == nil { // an answer without a body
		return c.Settings(ctx, subscriptionUUID)
	}
	return s, nil
}
