package dashboard

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// noticeLimit is how many of the latest notices the pages look at.
const noticeLimit = 500

// pageSize is how many messages a subscription's page lists.
const pageSize = 50

// subRow is a subscription as the lists show it.
type subRow struct {
	UUID, Org, Client string
	Destination, Host string // shown (passwords and query values hidden)
	Events            string
	EventNames        []string
	Contact           string
	Status            string
	Failing           bool
	Backlog           int
	Oldest            When // oldest undelivered message
	Delivered, Failed int  // attempts in the last day
	LastSuccess       When
	LastFailure       When
	Reason            string // of the last failure, in plain words
	FailingSince      When
	Failures          int
	NextRetry         When
	DeleteAt          When   // when it is deleted if the failures go on
	DeleteIn          string // the time until then
	Created, Updated  When
	StrictOrder       bool
	StandardWebhooks  bool
}

func (h *handler) subRow(req *request, s *webhook.Subscription, a store.SubscriptionActivity) subRow {
	row := subRow{
		UUID: s.UUID, Org: s.OrganizationUUID, Client: s.ClientID, Destination: webhook.DisplayURL(s.Destination),
		Host: hostOf(s.Destination), Events: eventList(s.EventNames), EventNames: s.EventNames, Contact: s.ContactEmail,
		Status: string(s.Status), Failing: s.Status == webhook.Failing, Backlog: a.Backlog, Oldest: req.when(a.OldestUndelivered),
		Delivered: a.Delivered, Failed: a.Failed, LastSuccess: req.when(a.LastSuccess),
		Created: req.when(s.Created), Updated: req.when(s.Updated),
		StrictOrder: s.Settings.StrictOrder, StandardWebhooks: s.Settings.StandardWebhooks,
	}
	if f := a.LastFailure; f != nil {
		row.LastFailure = req.when(f.StartedAt)
		row.Reason = h.reason(*f, s.Destination)
	}
	if row.Failing {
		row.FailingSince, row.Failures, row.NextRetry = req.when(s.FailingSince), s.Failures, req.when(s.NextRetryAt)
		if !s.FailingSince.IsZero() {
			at := h.cfg.Schedule.Last(s.FailingSince)
			row.DeleteAt = req.when(at)
			row.DeleteIn = human(max(at.Sub(req.now), 0))
		}
	}
	return row
}

// reason puts a failed attempt into words.
func (h *handler) reason(a store.Attempt, destination string) string {
	if a.ErrorClass == "" {
		return "delivered"
	}
	return webhook.Reason(a.ErrorClass, a.StatusCode, destination, a.ErrorDetail, h.cfg.Timeout)
}

func hostOf(dest string) string {
	u, err := url.Parse(dest)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// totals sums a range of buckets.
type totals struct{ Events, Delivered, Failed int }

func sum(bs []store.ActivityBucket) totals {
	var t totals
	for _, b := range bs {
		t.Events += b.Events
		t.Delivered += b.Delivered
		t.Failed += b.Failed
	}
	return t
}

// minuteRow is one minute of the last hour, for the table under the chart.
type minuteRow struct {
	At                        string
	Events, Delivered, Failed int
}

// outbox counts notices by sending state.
type outbox struct {
	Waiting, Retrying, Sent int
	Looked                  int  // notices counted
	Truncated               bool // there may be older ones
}

func countOutbox(ns []store.NoticeRecord) outbox {
	o := outbox{Looked: len(ns), Truncated: len(ns) >= noticeLimit}
	for _, n := range ns {
		switch {
		case !n.SentAt.IsZero():
			o.Sent++
		case n.Attempts > 0:
			o.Retrying++
		default:
			o.Waiting++
		}
	}
	return o
}

type overviewData struct {
	Hour, Day                   Chart
	HourTotals, DayTotals       totals
	Minutes                     []minuteRow
	Active, Failing, Orgs       int
	Pending, Leased, Dead       int
	Undelivered                 int
	Oldest                      When
	OldestAge                   string
	Outbox                      outbox
	FailingSubs                 []subRow
	HourSuccess, DaySuccessRate string
}

// overview serves GET /dashboard/.
func (h *handler) overview(req *request) (*view, error) {
	ctx := req.r.Context()
	until := req.now.Truncate(time.Minute).Add(time.Minute)
	act, err := h.cfg.Store.ActivitySeries(ctx, store.ActivityQuery{Since: until.Add(-24 * time.Hour), Until: until, Bucket: time.Minute})
	if err != nil {
		return nil, err
	}
	subs, err := h.cfg.Store.OrganizationSubscriptions(ctx, "")
	if err != nil {
		return nil, err
	}
	q, err := h.cfg.Store.QueueStats(ctx)
	if err != nil {
		return nil, err
	}
	ns, err := h.cfg.Store.Notices(ctx, noticeLimit)
	if err != nil {
		return nil, err
	}
	hour := act.Buckets[len(act.Buckets)-60:]
	d := overviewData{
		Hour:       newChart("chart-hour", "Last hour, per minute", hour, 6, func(t time.Time) string { return t.Format("15:04") }),
		Day:        newChart("chart-day", "Last 24 hours, per minute", act.Buckets, 6, func(t time.Time) string { return t.Format("15:04") }),
		HourTotals: sum(hour), DayTotals: sum(act.Buckets),
		Pending: q.Pending, Leased: q.Leased, Dead: q.Dead, Undelivered: q.Pending + q.Leased,
		Oldest: req.when(q.OldestPending), Outbox: countOutbox(ns),
	}
	d.HourSuccess = percent(d.HourTotals.Delivered, d.HourTotals.Delivered+d.HourTotals.Failed)
	d.DaySuccessRate = percent(d.DayTotals.Delivered, d.DayTotals.Delivered+d.DayTotals.Failed)
	if !q.OldestPending.IsZero() {
		d.OldestAge = human(max(req.now.Sub(q.OldestPending), 0))
	}
	for _, b := range slices.Backward(hour) {
		d.Minutes = append(d.Minutes, minuteRow{At: b.Start.Format("15:04"), Events: b.Events, Delivered: b.Delivered, Failed: b.Failed})
	}
	orgs := map[string]bool{}
	for _, s := range subs {
		orgs[s.OrganizationUUID] = true
		if s.Status == webhook.Failing {
			d.Failing++
			d.FailingSubs = append(d.FailingSubs, h.subRow(req, s, act.Subscriptions[s.UUID]))
		} else {
			d.Active++
		}
	}
	d.Orgs = len(orgs)
	slices.SortStableFunc(d.FailingSubs, func(a, b subRow) int { return cmp.Compare(a.FailingSince.ISO, b.FailingSince.ISO) })
	return &view{Template: "overview.html", Title: "Overview", Section: "overview", Refresh: true, Data: d}, nil
}

// orgGroup is an organization and its subscriptions on the list.
type orgGroup struct {
	UUID          string
	Subscriptions []subRow
	Failing       int
}

type subscriptionsData struct {
	Status, Event, Host, Org string // the filter
	Events                   []string
	Groups                   []orgGroup
	Shown, Total             int
}

// subscriptions serves GET /dashboard/subscriptions.
func (h *handler) subscriptions(req *request) (*view, error) {
	ctx := req.r.Context()
	q := req.r.URL.Query()
	d := subscriptionsData{Status: strings.ToUpper(strings.TrimSpace(q.Get("status"))), Event: strings.TrimSpace(q.Get("event")),
		Host: strings.ToLower(strings.TrimSpace(q.Get("host"))), Org: strings.ToLower(strings.TrimSpace(q.Get("org")))}
	for _, t := range webhook.EventTypes {
		if !t.Legacy {
			d.Events = append(d.Events, t.Name)
		}
	}
	subs, err := h.cfg.Store.OrganizationSubscriptions(ctx, "")
	if err != nil {
		return nil, err
	}
	act, err := h.cfg.Store.ActivitySeries(ctx, store.ActivityQuery{Since: req.now.Add(-24 * time.Hour), Until: req.now.Add(time.Second), Bucket: 25 * time.Hour})
	if err != nil {
		return nil, err
	}
	d.Total = len(subs)
	groups := map[string]*orgGroup{}
	for _, s := range subs {
		if d.Status != "" && string(s.Status) != d.Status ||
			d.Event != "" && !s.Wants(d.Event) ||
			d.Host != "" && !strings.Contains(strings.ToLower(hostOf(s.Destination)), d.Host) ||
			d.Org != "" && !strings.HasPrefix(s.OrganizationUUID, d.Org) {
			continue
		}
		g := groups[s.OrganizationUUID]
		if g == nil {
			g = &orgGroup{UUID: s.OrganizationUUID}
			groups[s.OrganizationUUID] = g
		}
		row := h.subRow(req, s, act.Subscriptions[s.UUID])
		if row.Failing {
			g.Failing++
		}
		g.Subscriptions = append(g.Subscriptions, row)
		d.Shown++
	}
	for _, g := range groups {
		d.Groups = append(d.Groups, *g)
	}
	slices.SortFunc(d.Groups, func(a, b orgGroup) int { return cmp.Compare(a.UUID, b.UUID) })
	v := &view{Template: "subscriptions.html", Title: "Organizations and subscriptions", Section: "subscriptions", Refresh: true, Data: d}
	if q.Get("done") == "deleted" && webhook.IsUUID(q.Get("sub")) {
		v.Flash = "Subscription " + q.Get("sub") + " was deleted; its undelivered messages are dead letters now."
	}
	return v, nil
}

// msgRow is a message of the delivery log.
type msgRow struct {
	MessageID, Event, State string
	Created, Finished       When
	Attempts                int
	LastAt                  When
	LastOK                  bool
	LastStatus              int
	LastOutcome             string
	Next                    When
	Link                    string
}

func (h *handler) msgRow(req *request, m store.LogMessage, destination string) msgRow {
	row := msgRow{MessageID: m.MessageID, Event: m.EventName, State: m.State, Created: req.when(m.CreatedAt),
		Finished: req.when(m.FinishedAt), Attempts: m.Attempts, Next: req.when(m.NextAttemptAt),
		Link: Prefix + "/subscriptions/" + url.PathEscape(m.SubscriptionUUID) + "/messages/" + url.PathEscape(m.MessageID)}
	if a := m.LastAttempt; a != nil {
		row.LastAt, row.LastOK, row.LastStatus, row.LastOutcome = req.when(a.StartedAt), a.ErrorClass == "", a.StatusCode, h.reason(*a, destination)
	}
	return row
}

// statsRow is AttemptStats of one window.
type statsRow struct {
	Window            string
	Delivered, Failed int
	Rate              string
	P50, P95, P99     string
}

func statsOf(window string, s store.AttemptStats) statsRow {
	r := statsRow{Window: window, Delivered: s.Delivered, Failed: s.Failed, Rate: percent(s.Delivered, s.Delivered+s.Failed),
		P50: "—", P95: "—", P99: "—"}
	if p50, p95, p99, ok := s.Latencies(); ok {
		r.P50, r.P95, r.P99 = millis(p50), millis(p95), millis(p99)
	}
	return r
}

// deletedRow is what is kept of a deleted subscription.
type deletedRow struct {
	UUID, Org, Client, Destination, Events string
	DeletedAt                              When
	Exhausted                              bool
}

type subscriptionData struct {
	Sub       subRow
	Deleted   *deletedRow
	Stats     []statsRow
	Messages  []msgRow
	State     string // the filter
	Event     string
	States    []string
	Older     string // link to the next page; "" on the last
	Replay    replayForm
	Retention string
	BaseLink  string
}

// replayForm is the replay form's choices and defaults.
type replayForm struct {
	Since, Until string // datetime-local values, UTC
	Events       []string
}

const formTime = "2006-01-02T15:04"

// subscription serves GET /dashboard/subscriptions/{sub}.
func (h *handler) subscription(req *request) (*view, error) {
	ctx := req.r.Context()
	id := strings.ToLower(req.r.PathValue("sub"))
	q := req.r.URL.Query()
	d := subscriptionData{State: q.Get("state"), Event: q.Get("event"), Retention: human(h.cfg.Retention),
		States:   []string{store.LogPending, store.LogFailing, store.LogDelivered, store.LogDead},
		BaseLink: Prefix + "/subscriptions/" + url.PathEscape(id)}
	if d.State != "" && !slices.Contains(d.States, d.State) {
		return nil, webhook.Errorf(webhook.Invalid, "There is no message state %q.", d.State)
	}
	f := store.MessageFilter{SubscriptionUUID: id, EventName: d.Event, Limit: pageSize}
	if d.State != "" {
		f.States = []string{d.State}
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return nil, webhook.Errorf(webhook.Invalid, "The page cursor %q is not valid.", b)
		}
		f.Before = n
	}
	title := "Subscription " + shortID(id)
	var destination string
	s, err := h.cfg.Store.SubscriptionByUUID(ctx, id)
	switch {
	case err == nil:
		act, err := h.cfg.Store.ActivitySeries(ctx, store.ActivityQuery{Since: req.now.Add(-24 * time.Hour), Until: req.now.Add(time.Second), Bucket: 25 * time.Hour})
		if err != nil {
			return nil, err
		}
		d.Sub = h.subRow(req, s, act.Subscriptions[s.UUID])
		f.OrganizationUUID, destination = s.OrganizationUUID, s.Destination
		for _, w := range []struct {
			name string
			d    time.Duration
		}{{"Last hour", time.Hour}, {"Last 24 hours", 24 * time.Hour}} {
			st, err := h.cfg.Store.AttemptStats(ctx, s.UUID, req.now.Add(-w.d))
			if err != nil {
				return nil, err
			}
			d.Stats = append(d.Stats, statsOf(w.name, st))
		}
		d.Replay = replayForm{Since: req.now.Add(-time.Hour).Format(formTime), Until: req.now.Add(time.Minute).Format(formTime),
			Events: s.EventNames}
		if len(s.EventNames) == 0 {
			for _, t := range webhook.EventTypes {
				if !t.Legacy {
					d.Replay.Events = append(d.Replay.Events, t.Name)
				}
			}
		}
	case webhook.IsCode(err, webhook.NotFound):
		ds, err := h.cfg.Store.DeletedSubscription(ctx, id)
		if err != nil {
			if webhook.IsCode(err, webhook.NotFound) {
				return nil, webhook.Errorf(webhook.NotFound, "There is no subscription %s (nor one deleted whose dead letters are kept).", id)
			}
			return nil, err
		}
		d.Deleted = &deletedRow{UUID: ds.UUID, Org: ds.OrganizationUUID, Client: ds.ClientID, Destination: webhook.DisplayURL(ds.Destination),
			Events: eventList(ds.EventNames), DeletedAt: req.when(ds.DeletedAt), Exhausted: ds.Exhausted}
		f.OrganizationUUID, destination = ds.OrganizationUUID, ds.Destination
		title = "Deleted subscription " + shortID(id)
	default:
		return nil, err
	}
	msgs, err := h.cfg.Store.LogMessages(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		d.Messages = append(d.Messages, h.msgRow(req, m, destination))
	}
	if len(msgs) == pageSize {
		older := url.Values{}
		older.Set("before", strconv.FormatInt(msgs[len(msgs)-1].ID, 10))
		if d.State != "" {
			older.Set("state", d.State)
		}
		if d.Event != "" {
			older.Set("event", d.Event)
		}
		d.Older = d.BaseLink + "?" + older.Encode()
	}
	v := &view{Template: "subscription.html", Title: title, Section: "subscriptions", Refresh: true, Data: d}
	switch q.Get("done") {
	case "replayed":
		v.Flash = "Replay queued " + plural(atoi(q.Get("n")), "event", "events") + " for delivery."
	case "repeated":
		v.Flash = "This replay was confirmed before; its " + plural(atoi(q.Get("n")), "event was", "events were") + " queued then and not again now."
	}
	return v, nil
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return max(n, 0)
}

// attemptRow is one attempt of a message.
type attemptRow struct {
	N          int
	At         When
	Duration   string
	Status     int
	OK         bool
	Outcome    string
	Class      string
	RetryAfter string
	Remote     string
	Response   string
}

type messageData struct {
	SubUUID, Destination string
	SubStatus            string
	SubFailing           bool
	SubNextRetry         When
	SubLink              string
	Deleted              bool
	Msg                  msgRow
	Envelope             string
	Attempts             []attemptRow
}

// message serves GET /dashboard/subscriptions/{sub}/messages/{msg}.
func (h *handler) message(req *request) (*view, error) {
	ctx := req.r.Context()
	subID, msgID := strings.ToLower(req.r.PathValue("sub")), strings.ToLower(req.r.PathValue("msg"))
	d := messageData{SubUUID: subID, SubLink: Prefix + "/subscriptions/" + url.PathEscape(subID)}
	s, err := h.cfg.Store.SubscriptionByUUID(ctx, subID)
	switch {
	case err == nil:
		d.Destination, d.SubStatus, d.SubFailing = s.Destination, string(s.Status), s.Status == webhook.Failing
		d.SubNextRetry = req.when(s.NextRetryAt)
	case webhook.IsCode(err, webhook.NotFound):
		ds, err := h.cfg.Store.DeletedSubscription(ctx, subID)
		if err != nil {
			if webhook.IsCode(err, webhook.NotFound) {
				return nil, webhook.Errorf(webhook.NotFound, "There is no subscription %s.", subID)
			}
			return nil, err
		}
		d.Destination, d.Deleted = ds.Destination, true
	default:
		return nil, err
	}
	m, err := h.cfg.Store.LogMessage(ctx, subID, msgID)
	if webhook.IsCode(err, webhook.NotFound) {
		return nil, webhook.Errorf(webhook.NotFound, "Subscription %s has no message %s.", subID, msgID)
	}
	if err != nil {
		return nil, err
	}
	d.Msg = h.msgRow(req, m, d.Destination)
	d.Envelope = prettyJSON(m.Envelope)
	for i, a := range m.AttemptList {
		row := attemptRow{N: i + 1, At: req.when(a.StartedAt), Duration: millis(a.Duration), Status: a.StatusCode, OK: a.ErrorClass == "",
			Outcome: h.reason(a, d.Destination), Class: string(a.ErrorClass), Remote: a.RemoteAddr, Response: string(a.ResponseBody)}
		if a.RetryAfter > 0 {
			row.RetryAfter = human(a.RetryAfter)
		}
		d.Attempts = append(d.Attempts, row)
	}
	slices.Reverse(d.Attempts) // newest first
	d.Destination = webhook.DisplayURL(d.Destination)
	v := &view{Template: "message.html", Title: "Message " + shortID(msgID), Section: "subscriptions", Refresh: true, Data: d}
	if req.r.URL.Query().Get("done") == "redelivered" {
		v.Flash = "Redelivery queued: the message is due for delivery now."
		if d.SubFailing {
			v.Flash = "Redelivery queued. The subscription is FAILING: only its oldest undelivered message is tried, at its next retry (below)."
		}
	}
	return v, nil
}

// prettyJSON indents a JSON document; the payload string stays as it is.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

// noticeRow is an outbox entry.
type noticeRow struct {
	ID                    int64
	Kind, To, SubUUID     string
	Org, Destination      string
	Created, Sent         When
	Attempts              int
	LastError             string
	Reason                string
	NextAttempt, DeleteAt When
	SubLink               string
}

type notificationsData struct {
	Show          string
	Pending, Sent []noticeRow
	Outbox        outbox
}

// notifications serves GET /dashboard/notifications.
func (h *handler) notifications(req *request) (*view, error) {
	show := req.r.URL.Query().Get("show")
	switch show {
	case "", "all", "pending", "sent":
	default:
		return nil, webhook.Errorf(webhook.Invalid, "show must be all, pending or sent.")
	}
	ns, err := h.cfg.Store.Notices(req.r.Context(), noticeLimit)
	if err != nil {
		return nil, err
	}
	d := notificationsData{Show: cmp.Or(show, "all"), Outbox: countOutbox(ns)}
	for _, n := range ns {
		row := noticeRow{ID: n.ID, Kind: string(n.Kind), To: n.To, SubUUID: n.SubscriptionUUID, Org: n.OrganizationUUID,
			Destination: webhook.DisplayURL(n.Destination), Created: req.when(n.CreatedAt), Sent: req.when(n.SentAt),
			Attempts: n.Attempts, LastError: n.LastError, Reason: n.Reason(), NextAttempt: req.when(n.NextAttemptAt),
			DeleteAt: req.when(n.DeleteAt), SubLink: Prefix + "/subscriptions/" + url.PathEscape(n.SubscriptionUUID)}
		if n.Channel == webhook.ChannelOperator {
			row.To = "operator event sink"
		}
		if n.SentAt.IsZero() {
			if d.Show != "sent" {
				d.Pending = append(d.Pending, row)
			}
		} else if d.Show != "pending" {
			d.Sent = append(d.Sent, row)
		}
	}
	return &view{Template: "notifications.html", Title: "Notifications", Section: "notifications", Refresh: true, Data: d}, nil
}

// deletePage serves GET /dashboard/subscriptions/{sub}/delete.
func (h *handler) deletePage(req *request) (*view, error) {
	s, err := h.cfg.Store.SubscriptionByUUID(req.r.Context(), strings.ToLower(req.r.PathValue("sub")))
	if err != nil {
		return nil, err
	}
	act, err := h.cfg.Store.ActivitySeries(req.r.Context(), store.ActivityQuery{Since: req.now.Add(-time.Hour), Until: req.now.Add(time.Second), Bucket: 2 * time.Hour})
	if err != nil {
		return nil, err
	}
	return &view{Template: "delete.html", Title: "Delete subscription " + shortID(s.UUID), Section: "subscriptions",
		Data: h.subRow(req, s, act.Subscriptions[s.UUID])}, nil
}
