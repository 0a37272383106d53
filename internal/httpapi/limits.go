package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// checkSubscriptionCap refuses a create, with 400 SUBSCRIPTION_LIMIT_REACHED,
// when the client already has h.cfg.MaxSubscriptions subscriptions in org
// (no cap when 0). It runs before the TestMessage; creates racing each
// other may pass it together, so the cap can be exceeded by the number of
// concurrent creates of one client (which the API rate limit bounds).
func (h subscriptionHandlers) checkSubscriptionCap(ctx context.Context, org, clientID string) error {
	if h.cfg.MaxSubscriptions <= 0 {
		return nil
	}
	subs, err := h.st.Subscriptions(ctx, org, clientID)
	if err != nil {
		return err
	}
	if len(subs) >= h.cfg.MaxSubscriptions {
		return webhook.TypedErrorf(webhook.Invalid, webhook.TypeSubscriptionLimitReached,
			"This client already has %d subscriptions in the organization, the most allowed; delete one before creating another", len(subs))
	}
	return nil
}

// bodyReadError is a request body that could not be read to its end: the
// client went away during the upload, or sent it too slowly for the
// server's ReadTimeout. It is the client's doing: writeError logs it at
// info and answers errBodyNotReceived.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "read request body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

// errBodyNotReceived answers a bodyReadError, should the client still listen.
var errBodyNotReceived = webhook.Errorf(webhook.Invalid, "The request body was not received: it ended early or arrived too slowly")

// msgTooDeep is the violation of a payload nesting deeper than webhook.MaxDepth.
var msgTooDeep = fmt.Sprintf("must not nest arrays and objects deeper than %d levels", webhook.MaxDepth)

// compactErrorMessage is the payload violation for an error of
// webhook.CompactJSON.
func compactErrorMessage(err error) string {
	if errors.Is(err, webhook.ErrTooDeep) {
		return msgTooDeep
	}
	return "is not valid JSON: " + err.Error()
}

// payloadConstraint is the constraintType of a payload violation: DEPTH
// for one nesting too deep, JSON for any other.
func payloadConstraint(msg string) string {
	if msg == msgTooDeep {
		return "DEPTH"
	}
	return "JSON"
}

// maxDepthViolations bounds the violations checkIngestDepth reports.
const maxDepthViolations = 100

// checkIngestDepth refuses an ingest body in which something nests deeper
// than webhook.MaxDepth levels below its event, before any decoder sees it:
// a too deep payload object is 422 VALIDATION_ERROR naming [i].payload
// (payload for a single event; at most maxDepthViolations of them), too
// deep anything else 400 INVALID_REQUEST. It does not validate the JSON;
// the decoders after it do. Payloads given as strings are checked when
// they are compacted (webhook.CompactJSON).
func checkIngestDepth(body []byte) error {
	s := depthScan{eventDepth: 1}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 && trimmed[0] == '[' {
		s.eventDepth = 2 // the events are the elements of an array (decodeEvents)
	}
	s.limit = s.eventDepth + webhook.MaxDepth
	s.scan(body)
	if s.other {
		return webhook.Errorf(webhook.Invalid, "Request body nests arrays and objects deeper than %d levels", s.limit)
	}
	if len(s.deep) == 0 {
		return nil
	}
	bad := make([]webhook.Violation, len(s.deep))
	for i, event := range s.deep {
		prop := fmt.Sprintf("[%d].payload", event)
		if s.eventDepth == 1 {
			prop = "payload"
		}
		bad[i] = violation(prop, msgTooDeep, "DEPTH")
	}
	return invalid(webhook.Unprocessable, bad)
}

// depthScan walks JSON text like webhook.Depth, also tracking the index
// of the event (an element of the top-level array, or the top-level object)
// and the last key seen in it, to tell which event and field nest too deep.
type depthScan struct {
	eventDepth int // depth inside an event object: 1 single, 2 in a batch
	limit      int // deepest depth allowed

	depth       int
	event       int    // index of the current event in a batch
	eventObject bool   // the container at eventDepth is an object
	expectKey   bool   // the next string at eventDepth is a key
	key         []byte // the last key at eventDepth, quoted
	flagged     int    // last event flagged, -1 for none

	deep  []int // events whose payload is too deep
	other bool  // something other than a payload is too deep
}

func (s *depthScan) scan(raw []byte) {
	s.flagged = -1
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '"':
			end := webhook.StringEnd(raw, i)
			if s.depth == s.eventDepth && s.expectKey {
				s.key, s.expectKey = raw[i:min(end+1, len(raw))], false
			}
			i = end
		case '[', '{':
			s.open(c)
		case ']', '}':
			s.depth = max(s.depth-1, 0)
		case ',':
			s.comma()
		}
	}
}

func (s *depthScan) open(c byte) {
	s.depth++
	switch {
	case s.depth == s.eventDepth:
		s.eventObject, s.expectKey, s.key = c == '{', c == '{', nil
	case s.depth > s.limit && s.flagged != s.event:
		s.flagged = s.event
		if !isPayloadKey(s.key) {
			s.other = true
		} else if len(s.deep) < maxDepthViolations {
			s.deep = append(s.deep, s.event)
		}
	}
}

func (s *depthScan) comma() {
	switch {
	case s.depth == 1 && s.eventDepth == 2:
		s.event++
	case s.depth == s.eventDepth && s.eventObject:
		s.expectKey = true
	}
}

// isPayloadKey reports whether the quoted key names the payload field as
// encoding/json matches it: case-insensitively, escapes decoded.
func isPayloadKey(quoted []byte) bool {
	var key string
	if len(quoted) > 64 || json.Unmarshal(quoted, &key) != nil { // "payload" fully \u-escaped is 44 bytes
		return false
	}
	return strings.EqualFold(key, "payload")
}

// maxEcho bounds the bytes of a client's value that an error message
// repeats, so that answers stay small whatever was sent.
const maxEcho = 64

// quoteShort returns s quoted as %q does, cut to maxEcho bytes (at a rune
// boundary) with "…" appended when longer.
func quoteShort(s string) string {
	if len(s) <= maxEcho {
		return fmt.Sprintf("%q", s)
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}
