package dashboard

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// redeliver handles POST …/subscriptions/{sub}/messages/{msg}/redeliver.
func (h *handler) redeliver(req *request) (string, error) {
	sub, msg := strings.ToLower(req.r.PathValue("sub")), strings.ToLower(req.r.PathValue("msg"))
	err := h.cfg.Store.Redeliver(req.r.Context(), sub, msg, req.now)
	h.logAction(req, "redeliver", err, "subscription", sub, "messageId", msg)
	if webhook.IsCode(err, webhook.NotFound) {
		if _, serr := h.cfg.Store.SubscriptionByUUID(req.r.Context(), sub); webhook.IsCode(serr, webhook.NotFound) {
			return "", webhook.Errorf(webhook.NotFound, "Subscription %s is deleted, so its messages cannot be redelivered to it; "+
				"replay its dead letters into another subscription instead (the replay form's “from subscription” field).", sub)
		}
		return "", webhook.Errorf(webhook.NotFound, "Subscription %s has no message %s.", sub, msg)
	}
	if err != nil {
		return "", err
	}
	h.cfg.Wake()
	return Prefix + "/subscriptions/" + url.PathEscape(sub) + "/messages/" + url.PathEscape(msg) + "?done=redelivered", nil
}

// replayData is the data of templates/replay.html, the confirmation of a
// replay.
type replayData struct {
	Sub                  subRow
	Since, Until         When
	SinceISO, UntilISO   string
	Events               []string
	AllEvents            bool
	From                 string
	Count                int
	Key                  string
	SubLink              string
	RetentionExplanation string
}

// replay handles POST …/subscriptions/{sub}/replay: step "preview" (the
// default) counts the events with a dry run and shows the count with a
// confirmation form; step "confirm" queues them, once per confirmation
// (the form's idempotency key).
func (h *handler) replay(req *request) (string, error) {
	ctx := req.r.Context()
	form := req.r.PostForm
	s, err := h.cfg.Store.SubscriptionByUUID(ctx, strings.ToLower(req.r.PathValue("sub")))
	if err != nil {
		return "", err
	}
	since, err := parseFormTime(form.Get("since"))
	if err != nil {
		return "", webhook.Errorf(webhook.Invalid, "From: %v", err)
	}
	until, err := parseFormTime(form.Get("until"))
	if err != nil {
		return "", webhook.Errorf(webhook.Invalid, "Until: %v", err)
	}
	if !until.After(since) {
		return "", webhook.Errorf(webhook.Invalid, "The end of the range (%s) must be after its start (%s).",
			until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	var names []string
	for _, n := range form["event"] {
		if n = strings.TrimSpace(n); n == "" || slices.Contains(names, n) {
			continue
		}
		if _, ok := webhook.LookupEventType(n); !ok || !s.Wants(n) {
			return "", webhook.Errorf(webhook.Unprocessable, "The subscription does not subscribe to %q.", n)
		}
		if !webhook.Replayable(n) {
			return "", webhook.Errorf(webhook.Unprocessable, "%q events are not replayed: they were addressed to one client.", n)
		}
		names = append(names, n)
	}
	all := len(names) == 0
	if all {
		names = s.ReplayNames() // what it subscribes to, without the disconnect events
	}
	from := strings.TrimSpace(form.Get("from"))
	if from != "" && !webhook.IsUUID(from) {
		return "", webhook.Errorf(webhook.Invalid, "“From subscription” must be a subscription UUID.")
	}
	p := store.ReplayParams{SubscriptionUUID: s.UUID, OrganizationUUID: s.OrganizationUUID, EventNames: names,
		Since: since, Until: until, FromSubscriptionUUID: from, Now: req.now}

	if form.Get("step") != "confirm" {
		p.DryRun = true
		res, err := h.cfg.Store.Replay(ctx, p)
		h.logAction(req, "replay dry run", err, "subscription", s.UUID, "since", since, "until", until, "events", names,
			"from", from, "count", res.Count)
		if err != nil {
			return "", err
		}
		d := replayData{Sub: h.subRow(req, s, store.SubscriptionActivity{}), Since: req.when(since), Until: req.when(until),
			SinceISO: since.Format(time.RFC3339Nano), UntilISO: until.Format(time.RFC3339Nano), AllEvents: all, From: from,
			Count: res.Count, Key: randomID(), SubLink: Prefix + "/subscriptions/" + url.PathEscape(s.UUID),
			RetentionExplanation: human(h.cfg.Retention)}
		if !all {
			d.Events = names
		}
		h.render(req.w, req.r, http.StatusOK, &view{Template: "replay.html", Title: "Confirm replay", Section: "subscriptions", Data: d},
			&req.sess, req.now)
		return "", nil
	}

	key := form.Get("key")
	if len(key) != 32 || strings.Trim(key, "0123456789abcdef") != "" {
		return "", webhook.Errorf(webhook.Invalid, "The confirmation form is incomplete; count the events again.")
	}
	p.IdempotencyKey, p.RequestHash = "dashboard:"+key, replayHash(p)
	res, err := h.cfg.Store.Replay(ctx, p)
	h.logAction(req, "replay", err, "subscription", s.UUID, "since", since, "until", until, "events", names, "from", from,
		"count", res.Count, "repeated", res.Repeated, "idempotency_key", p.IdempotencyKey)
	if err != nil {
		return "", err
	}
	done := "replayed"
	if res.Repeated {
		done = "repeated"
	} else if res.Count > 0 {
		h.cfg.Wake()
	}
	return Prefix + "/subscriptions/" + url.PathEscape(s.UUID) + "?done=" + done + "&n=" + strconv.Itoa(res.Count), nil
}

// replayHash tells one replay request from another with the same key.
func replayHash(p store.ReplayParams) string {
	m := sha256.New()
	for _, s := range []string{p.SubscriptionUUID, p.Since.UTC().Format(time.RFC3339Nano), p.Until.UTC().Format(time.RFC3339Nano),
		strings.Join(p.EventNames, ","), p.FromSubscriptionUUID} {
		m.Write([]byte(s))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// parseFormTime reads a time of a form in UTC: an <input type=
// datetime-local> value (2026-12-01T12:00, seconds optional) or RFC 3339.
func parseFormTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errMissingTime
	}
	for _, layout := range []string{formTime, "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errBadTime
}

type timeError string

func (e timeError) Error() string { return string(e) }

const (
	errMissingTime = timeError("a time is required")
	errBadTime     = timeError("not a time like 2026-12-01T12:00 (UTC)")
)

// deleteSubscription handles POST …/subscriptions/{sub}/delete, sent by
// the confirmation page.
func (h *handler) deleteSubscription(req *request) (string, error) {
	ctx := req.r.Context()
	if req.r.PostForm.Get("confirm") != "yes" {
		return "", webhook.Errorf(webhook.Invalid, "Deleting a subscription needs its confirmation page.")
	}
	s, err := h.cfg.Store.SubscriptionByUUID(ctx, strings.ToLower(req.r.PathValue("sub")))
	if err != nil {
		return "", err
	}
	err = h.cfg.Store.DeleteSubscription(ctx, s.OrganizationUUID, s.ClientID, s.UUID, req.now)
	h.logAction(req, "delete subscription", err, "subscription", s.UUID, "organization", s.OrganizationUUID, "client", s.ClientID,
		"destination", webhook.DisplayURL(s.Destination))
	if err != nil {
		return "", err
	}
	return Prefix + "/subscriptions?done=deleted&sub=" + url.QueryEscape(s.UUID), nil
}
