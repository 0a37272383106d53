package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// ingestEvent is one event as producers post it to /v1/events.
type ingestEvent struct {
	OrganizationUUID string          `json:"organizationUuid"`
	EventName        string          `json:"eventName"`
	EventID          string          `json:"eventId"`
	Timestamp        string          `json:"timestamp"`
	Payload          json.RawMessage `json:"payload"`
	ClientID         string          `json:"clientId"`
}

// maxEventIDLength bounds producer event ids.
const maxEventIDLength = 256

type ingestHandler struct {
	st   Store
	wake func()
	cfg  Config
}

// publish handles POST /v1/events: one event object or an array of them.
// It answers 202 with the messageId of each event, in order, once the events
// and their messages are committed. The batch is all or nothing.
func (h ingestHandler) publish(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !p.HasScope(auth.ScopePublish) {
		return webhook.TypedErrorf(webhook.Forbidden, webhook.TypeForbidden, "Publishing events needs the scope %s", auth.ScopePublish)
	}
	body, err := readBody(w, r, h.cfg.MaxIngestBytes)
	if err != nil {
		return err
	}
	if err := checkIngestDepth(body); err != nil {
		return err
	}
	decoded, single, err := decodeEvents(body)
	if err != nil {
		return err
	}
	if len(decoded) > h.cfg.MaxIngestEvents {
		return webhook.Errorf(webhook.TooLarge, "At most %d events per request, got %d", h.cfg.MaxIngestEvents, len(decoded))
	}
	now := h.cfg.Now().UTC()
	events := make([]store.Event, 0, len(decoded))
	var bad []webhook.Violation
	for i, d := range decoded {
		prefix := fmt.Sprintf("[%d].", i)
		if single {
			prefix = ""
		}
		ev, problems := parseEvent(d, prefix, now)
		bad = append(bad, problems...)
		events = append(events, ev)
	}
	if len(bad) > 0 {
		return invalid(webhook.Unprocessable, bad)
	}
	if err := checkPublisherOrg(p, events, single); err != nil {
		return err
	}
	results, err := h.st.Publish(r.Context(), events)
	if err != nil {
		return err
	}
	h.wake()
	resp := struct {
		MessageIDs []string `json:"messageIds"`
		Duplicates int      `json:"duplicates"`
	}{MessageIDs: make([]string, len(results))}
	for i, res := range results {
		resp.MessageIDs[i] = res.MessageID
		if res.Duplicate {
			resp.Duplicates++
			eventsDuplicate.Inc()
			continue
		}
		eventsPublished.WithLabelValues(events[i].SourceEventName).Inc()
		messagesEnqueued.Add(float64(res.Messages))
	}
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}

// checkPublisherOrg returns Forbidden, with one violation per offending
// event, when p is bound to an organization (its organizationUuid claim is
// set) and an event is for another one; the batch is then refused whole.
// Organizations compare case-insensitively. A token bound to no
// organization publishes for any.
func checkPublisherOrg(p auth.Principal, events []store.Event, single bool) error {
	bound := lower(p.OrganizationUUID)
	if bound == "" {
		return nil
	}
	var bad []webhook.Violation
	for i, ev := range events {
		if ev.Envelope.OrganizationUUID == bound {
			continue
		}
		prop := fmt.Sprintf("[%d].organizationUuid", i)
		if single {
			prop = "organizationUuid"
		}
		bad = append(bad, violation(prop, "must be "+bound+", the organization the access token is bound to", "ORGANIZATION"))
	}
	if len(bad) == 0 {
		return nil
	}
	return &webhook.Error{Code: webhook.Forbidden, Type: webhook.TypeForbidden, Violations: bad,
		Message: fmt.Sprintf("The access token is bound to organization %s and cannot publish events for another organization (%d of %d events)", bound, len(bad), len(events))}
}

// decodedEvent is one event of a request body as decoded.
type decodedEvent struct {
	ingestEvent
	wrongType bool // not an object with string fields where ingestEvent has them
}

// decodeEvents decodes a body holding one event object or an array of
// them. An array is decoded in one pass; only if an element does not fit
// ingestEvent is it decoded again element by element, so that each such
// element gets its own violation. It fails with an Invalid error for a
// body that is not JSON, not an object or array, or an empty array.
func decodeEvents(body []byte) (events []decodedEvent, single bool, err error) {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return nil, false, webhook.Errorf(webhook.Invalid, "Request body must be an event object or an array of events")
	case trimmed[0] == '[':
		err := json.Unmarshal(trimmed, &events)
		if _, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, false, webhook.Errorf(webhook.Invalid, "Request body is not a valid JSON array of events")
		}
		if err != nil { // an element of another shape
			return decodeEach(trimmed)
		}
		if len(events) == 0 {
			return nil, false, webhook.Errorf(webhook.Invalid, "The array of events is empty")
		}
		return events, false, nil
	case trimmed[0] == '{':
		var d decodedEvent
		err := json.Unmarshal(trimmed, &d.ingestEvent)
		if _, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, false, webhook.Errorf(webhook.Invalid, "Request body is not valid JSON")
		}
		d.wrongType = err != nil
		return []decodedEvent{d}, true, nil
	}
	return nil, false, webhook.Errorf(webhook.Invalid, "Request body must be an event object or an array of events")
}

// decodeEach decodes the elements of a valid JSON array one by one.
func decodeEach(array []byte) ([]decodedEvent, bool, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(array, &raw); err != nil {
		return nil, false, webhook.Errorf(webhook.Invalid, "Request body is not a valid JSON array of events")
	}
	events := make([]decodedEvent, len(raw))
	for i, r := range raw {
		events[i].wrongType = json.Unmarshal(r, &events[i].ingestEvent) != nil
	}
	return events, false, nil
}

// parseEvent validates one decoded event and builds its envelope. Problems
// name the field, prefixed with the event's index in a batch.
func parseEvent(d decodedEvent, prefix string, now time.Time) (store.Event, []webhook.Violation) {
	if d.wrongType {
		return store.Event{}, []webhook.Violation{violation(prefix+"event", "must be an object with string fields organizationUuid, eventName, eventId, timestamp, clientId and a payload", "TYPE")}
	}
	in := d.ingestEvent
	var bad []webhook.Violation
	add := func(field, msg, constraint string) { bad = append(bad, violation(prefix+field, msg, constraint)) }
	if !webhook.IsUUID(in.OrganizationUUID) {
		add("organizationUuid", "must be a UUID", "UUID")
	}
	switch {
	case in.EventName == "":
		add("eventName", "must not be empty", "NOT_NULL")
	case !webhook.IsPublishable(in.EventName):
		add("eventName", "unknown event name "+quoteShort(in.EventName), "EVENT_NAME")
	case webhook.IsDisconnect(in.EventName) && in.ClientID == "":
		add("clientId", "must name the client whose connection was removed", "NOT_NULL")
	}
	if in.EventID == "" || len(in.EventID) > maxEventIDLength {
		add("eventId", fmt.Sprintf("must be 1 to %d characters", maxEventIDLength), "SIZE")
	}
	ts := now
	if in.Timestamp != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Timestamp)
		if err != nil {
			add("timestamp", "must be an RFC 3339 time such as 2021-04-19T13:17:56.585Z", "TIMESTAMP")
		}
		ts = t
	}
	payload, msg := compactPayload(in.Payload)
	if msg != "" {
		add("payload", msg, payloadConstraint(msg))
	}
	if len(bad) > 0 {
		return store.Event{}, bad
	}
	org := lower(in.OrganizationUUID)
	delivered := webhook.DeliveredName(in.EventName)
	mid := webhook.MessageID(org, in.EventName, in.EventID)
	return store.Event{
		Envelope:        webhook.NewEnvelope(org, delivered, mid, payload, ts),
		SourceEventName: in.EventName, EventID: in.EventID, ClientID: in.ClientID, Now: now,
	}, nil
}

// compactPayload accepts a JSON object, or a string holding one, and returns
// it re-encoded compactly; msg says what is wrong otherwise.
func compactPayload(raw json.RawMessage) (payload, msg string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", "must be a JSON object, or a string holding one"
	}
	if raw[0] == '"' {
		var inner string
		if err := json.Unmarshal(raw, &inner); err != nil {
			return "", "is not a valid JSON string"
		}
		raw = bytes.TrimSpace([]byte(inner))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return "", "must be a JSON object, or a string holding one"
	}
	out, err := webhook.CompactJSON(raw)
	if err != nil {
		return "", compactErrorMessage(err)
	}
	return string(out), ""
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }
