package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// Page sizes of the message lists.
const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// orgSubscriptionJSON is a subscription in the organization listing:
// Zettle's object, then pusher's fields.
type orgSubscriptionJSON struct {
	subscriptionJSON
	ClientID     string       `json:"clientId"`
	FailingSince string       `json:"failingSince,omitempty"`
	NextRetryAt  string       `json:"nextRetryAt,omitempty"`
	Backlog      int          `json:"backlog"`
	Settings     settingsJSON `json:"settings"`
}

// subscriptions handles GET /v1/organizations/{org}/subscriptions.
func (h extHandlers) subscriptions(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, err := callerOf(r, p)
	if err != nil {
		return err
	}
	var subs []*webhook.Subscription
	if c.IsAdmin() {
		subs, err = h.st.OrganizationSubscriptions(r.Context(), c.org)
	} else {
		subs, err = h.st.Subscriptions(r.Context(), c.org, c.ClientID)
	}
	if err != nil {
		return err
	}
	now := h.cfg.Now().UTC()
	out := make([]orgSubscriptionJSON, len(subs))
	for i, s := range subs {
		// AttemptStats from now on counts the backlog and (almost) no attempts.
		st, err := h.st.AttemptStats(r.Context(), s.UUID, now)
		if err != nil {
			return err
		}
		out[i] = orgSubscriptionJSON{subscriptionJSON: toJSON(s, listedLayout), ClientID: s.ClientID, Backlog: st.Backlog, Settings: toSettingsJSON(s)}
		if s.Status == webhook.Failing {
			out[i].FailingSince, out[i].NextRetryAt = stampIf(s.FailingSince), stampIf(s.NextRetryAt)
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Subscriptions []orgSubscriptionJSON `json:"subscriptions"`
	}{out})
	return nil
}

// attemptJSON is one delivery attempt. Response is set in a message's
// attemptLog only.
type attemptJSON struct {
	At         string  `json:"at"`
	DurationMs int64   `json:"durationMs"`
	StatusCode int     `json:"statusCode"`
	ErrorClass string  `json:"errorClass"`
	Error      string  `json:"error"`
	RemoteAddr string  `json:"remoteAddr"`
	Response   *string `json:"response,omitempty"`
}

func toAttemptJSON(a store.Attempt, destination string, withResponse bool) attemptJSON {
	j := attemptJSON{At: stamp(a.StartedAt), DurationMs: millis(a.Duration), StatusCode: a.StatusCode,
		ErrorClass: string(a.ErrorClass), RemoteAddr: a.RemoteAddr}
	if a.ErrorClass != "" {
		j.Error = webhook.Reason(a.ErrorClass, a.StatusCode, destination, a.ErrorDetail, 0)
	}
	if withResponse {
		resp := strings.ToValidUTF8(string(a.ResponseBody), "\uFFFD")
		j.Response = &resp
	}
	return j
}

// messageJSON is a message of the delivery log.
type messageJSON struct {
	MessageID        string       `json:"messageId"`
	SubscriptionUUID string       `json:"subscriptionUuid"`
	EventName        string       `json:"eventName"`
	State            string       `json:"state"`
	Created          string       `json:"created"`
	Attempts         int          `json:"attempts"`
	LastAttempt      *attemptJSON `json:"lastAttempt"`
	NextAttemptAt    string       `json:"nextAttemptAt,omitempty"`
	Finished         string       `json:"finished,omitempty"`
}

func toMessageJSON(m store.LogMessage, destination string) messageJSON {
	j := messageJSON{MessageID: m.MessageID, SubscriptionUUID: m.SubscriptionUUID, EventName: m.EventName,
		State: m.State, Created: stamp(m.CreatedAt), Attempts: m.Attempts}
	if m.LastAttempt != nil {
		a := toAttemptJSON(*m.LastAttempt, destination, false)
		j.LastAttempt = &a
	}
	switch m.State {
	case store.LogPending, store.LogFailing:
		j.NextAttemptAt = stampIf(m.NextAttemptAt)
	default:
		j.Finished = stampIf(m.FinishedAt)
	}
	return j
}

// messagePage is a page of a message list.
type messagePage struct {
	Messages   []messageJSON `json:"messages"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

// messages handles GET /v1/organizations/{org}/subscriptions/{id}/messages.
func (h extHandlers) messages(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, f, err := listCall(r, p, logStates)
	if err != nil {
		return err
	}
	t, err := h.target(r.Context(), c, subscriptionID(r))
	if err != nil {
		return err
	}
	f.OrganizationUUID, f.ClientID, f.SubscriptionUUID = t.OrganizationUUID, t.ClientID, t.UUID
	return h.writePage(w, r.Context(), f, func(string) (string, error) { return t.Destination, nil })
}

// undelivered handles GET /v1/organizations/{org}/undelivered: the
// organization's messages that never arrived, of every subscription the
// caller may see, deleted ones included.
func (h extHandlers) undelivered(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	c, f, err := listCall(r, p, undeliveredStates)
	if err != nil {
		return err
	}
	if len(f.States) == 0 {
		f.States = undeliveredStates
	}
	f.OrganizationUUID, f.ClientID = c.org, c.clientFilter()
	dest := map[string]string{}
	return h.writePage(w, r.Context(), f, func(uuid string) (string, error) {
		if d, ok := dest[uuid]; ok {
			return d, nil
		}
		d, err := h.destination(r.Context(), uuid)
		dest[uuid] = d
		return d, err
	})
}

// listCall authorizes a message list and reads its query: the caller,
// and the filter of parseMessageFilter with states. Errors: callerOf's,
// and parseMessageFilter's 400 INVALID_REQUEST.
func listCall(r *http.Request, p auth.Principal, states []string) (caller, store.MessageFilter, error) {
	c, err := callerOf(r, p)
	if err != nil {
		return c, store.MessageFilter{}, err
	}
	f, err := parseMessageFilter(r.URL.Query(), states)
	return c, f, err
}

// destination returns the destination of subscription uuid, live or
// deleted, for the words of its attempts' errors ("" if nothing is kept).
func (h extHandlers) destination(ctx context.Context, uuid string) (string, error) {
	s, err := h.st.SubscriptionByUUID(ctx, uuid)
	if err == nil {
		return s.Destination, nil
	}
	if !webhook.IsCode(err, webhook.NotFound) {
		return "", err
	}
	d, err := h.st.DeletedSubscription(ctx, uuid)
	if webhook.IsCode(err, webhook.NotFound) {
		return "", nil
	}
	return d.Destination, err
}

// writePage answers one page of the messages f selects (newest first),
// with the cursor of the next page if there is one. destination gives the
// destination of a message's subscription.
func (h extHandlers) writePage(w http.ResponseWriter, ctx context.Context, f store.MessageFilter, destination func(uuid string) (string, error)) error {
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	msgs, err := h.st.LogMessages(ctx, f)
	if err != nil {
		return err
	}
	page := messagePage{Messages: make([]messageJSON, 0, min(len(msgs), limit))}
	if len(msgs) > limit {
		msgs = msgs[:limit]
		page.NextCursor = encodeCursor(msgs[limit-1].ID)
	}
	for _, m := range msgs {
		d, err := destination(m.SubscriptionUUID)
		if err != nil {
			return err
		}
		page.Messages = append(page.Messages, toMessageJSON(m, d))
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// messageDetailJSON is one message with its envelope and every attempt.
type messageDetailJSON struct {
	messageJSON
	Envelope   json.RawMessage `json:"envelope"`
	AttemptLog []attemptJSON   `json:"attemptLog"`
}

// message handles GET /v1/organizations/{org}/subscriptions/{id}/messages/{msg}.
func (h extHandlers) message(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	t, err := h.targetCall(r, p)
	if err != nil {
		return err
	}
	id := messageID(r)
	m, err := h.ownMessage(r.Context(), t.UUID, t.OrganizationUUID, id)
	if err != nil {
		return err
	}
	out := messageDetailJSON{messageJSON: toMessageJSON(m, t.Destination), Envelope: m.Envelope, AttemptLog: make([]attemptJSON, len(m.AttemptList))}
	if !json.Valid(out.Envelope) {
		return fmt.Errorf("message %s: stored envelope is not JSON", m.MessageID)
	}
	for i, a := range m.AttemptList {
		out.AttemptLog[i] = toAttemptJSON(a, t.Destination, true)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// statsWindowJSON summarises a subscription's attempts in a window.
type statsWindowJSON struct {
	Delivered   int          `json:"delivered"`
	Failed      int          `json:"failed"`
	SuccessRate *float64     `json:"successRate"`
	LatencyMs   *latencyJSON `json:"latencyMs"`
}

type latencyJSON struct {
	P50 int64 `json:"p50"`
	P95 int64 `json:"p95"`
	P99 int64 `json:"p99"`
}

func toStatsWindow(s store.AttemptStats) statsWindowJSON {
	j := statsWindowJSON{Delivered: s.Delivered, Failed: s.Failed}
	if n := s.Delivered + s.Failed; n > 0 {
		rate := float64(s.Delivered) / float64(n)
		j.SuccessRate = &rate
	}
	if p50, p95, p99, ok := s.Latencies(); ok {
		j.LatencyMs = &latencyJSON{P50: millis(p50), P95: millis(p95), P99: millis(p99)}
	}
	return j
}

// stats handles GET /v1/organizations/{org}/subscriptions/{id}/stats.
func (h extHandlers) stats(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	t, err := h.targetCall(r, p)
	if err != nil {
		return err
	}
	now := h.cfg.Now().UTC()
	hour, err := h.st.AttemptStats(r.Context(), t.UUID, now.Add(-time.Hour))
	if err != nil {
		return err
	}
	day, err := h.st.AttemptStats(r.Context(), t.UUID, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		LastHour statsWindowJSON `json:"lastHour"`
		LastDay  statsWindowJSON `json:"lastDay"`
		Backlog  int             `json:"backlog"`
	}{toStatsWindow(hour), toStatsWindow(day), day.Backlog})
	return nil
}

// parseMessageFilter reads the query parameters of a message list: state
// (one of states), eventName, since, until, limit and cursor. Bad values
// are 400 INVALID_REQUEST, with a violation per parameter.
func parseMessageFilter(q url.Values, states []string) (store.MessageFilter, error) {
	f := store.MessageFilter{Limit: defaultPageSize}
	var bad []webhook.Violation
	if v := q.Get("state"); v != "" {
		if oneOf(v, states) {
			f.States = []string{v}
		} else {
			bad = append(bad, violation("state", fmt.Sprintf("must be one of %s, not %s", strings.Join(states, ", "), quoteShort(v)), "STATE"))
		}
	}
	if v := q.Get("eventName"); v != "" {
		if _, ok := webhook.LookupEventType(v); ok {
			f.EventName = v
		} else {
			bad = append(bad, violation("eventName", fmt.Sprintf("unsupported event name %s", quoteShort(v)), "EVENT_NAME"))
		}
	}
	var timeBad bool
	for _, p := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, ok := parseTime(v)
			if !ok {
				timeBad = true
				bad = append(bad, violation(p.name, "must be an RFC 3339 time, such as 2026-12-01T12:00:00Z, not "+quoteShort(v), "TIME"))
			}
			*p.to = t
		}
	}
	if !timeBad && !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		bad = append(bad, violation("until", "must be after since", "RANGE"))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			bad = append(bad, violation("limit", fmt.Sprintf("must be an integer from 1 to %d, not %s", maxPageSize, quoteShort(v)), "RANGE"))
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		id, ok := decodeCursor(v)
		if !ok {
			bad = append(bad, violation("cursor", "must be the nextCursor of a previous page", "CURSOR"))
		}
		f.Before = id
	}
	if len(bad) > 0 {
		return f, invalid(webhook.Invalid, bad)
	}
	return f, nil
}

// parseTime reads an RFC 3339 time, in UTC. A "+" of an offset that
// arrived unescaped in a query string (and so as a space) is taken back.
func parseTime(v string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, strings.ReplaceAll(v, " ", "+"))
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// A cursor is the row id of the last message of a page, as base64url of
// its decimal digits: opaque to clients, and only ever a positive id.
func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != string(b) {
		return 0, false
	}
	return id, true
}
