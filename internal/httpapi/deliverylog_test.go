package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// listedMessage is a message of a list as a client reads it.
type listedMessage struct {
	MessageID        string          `json:"messageId"`
	SubscriptionUUID string          `json:"subscriptionUuid"`
	EventName        string          `json:"eventName"`
	State            string          `json:"state"`
	Created          string          `json:"created"`
	Attempts         int             `json:"attempts"`
	LastAttempt      json.RawMessage `json:"lastAttempt"`
	NextAttemptAt    string          `json:"nextAttemptAt"`
	Finished         string          `json:"finished"`
}

type messagePage struct {
	Messages   []listedMessage `json:"messages"`
	NextCursor *string         `json:"nextCursor"`
}

// pages follows a list's cursors from path (with its query) to the end and
// returns the messageIds, in order, and the size of each page.
func (a *testAPI) pages(tok, path string) (ids []string, sizes []int) {
	a.t.Helper()
	next := path
	for range 100 {
		p := decode[messagePage](a.t, a.do("GET", next, tok, ""), 200)
		sizes = append(sizes, len(p.Messages))
		for _, m := range p.Messages {
			ids = append(ids, m.MessageID)
		}
		if p.NextCursor == nil {
			return ids, sizes
		}
		if *p.NextCursor == "" {
			a.t.Fatalf("empty nextCursor on %s", next)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		next = path + sep + "cursor=" + url.QueryEscape(*p.NextCursor)
	}
	a.t.Fatalf("more than 100 pages at %s", path)
	return nil, nil
}

// TestMessageList: cursor pagination, newest first, and each filter.
func TestMessageList(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.mustCreate(tok, subUUID, rcv.URL)
	t0 := a.clock()
	var ids []string // oldest first
	for i := range 7 {
		a.setNow(t0.Add(time.Duration(i) * time.Minute))
		name := "ProductCreated"
		if i%2 == 1 {
			name = "PurchaseCreated"
		}
		ids = append(ids, a.publish(org, name, "list-"+string(rune('a'+i))))
	}
	newest := slices.Clone(ids)
	slices.Reverse(newest)
	base := extSub("self", subUUID, "/messages")

	got, sizes := a.pages(tok, base+"?limit=3")
	if !slices.Equal(got, newest) || !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("pages of 3 = %v (sizes %v), want %v in pages of 3, 3, 1", got, sizes, newest)
	}
	if got, sizes := a.pages(tok, base); !slices.Equal(got, newest) || len(sizes) != 1 {
		t.Errorf("default page = %v (sizes %v)", got, sizes)
	}
	if got, sizes := a.pages(tok, base+"?limit=7"); !slices.Equal(got, newest) || len(sizes) != 1 {
		t.Errorf("a page of exactly all = %v (sizes %v), want no next page", got, sizes)
	}
	products := []string{newest[0], newest[2], newest[4], newest[6]}
	if got, sizes := a.pages(tok, base+"?eventName=ProductCreated&limit=2"); !slices.Equal(got, products) || !slices.Equal(sizes, []int{2, 2}) {
		t.Errorf("ProductCreated in pages of 2 = %v (sizes %v), want %v", got, sizes, products)
	}
	window := "?since=" + url.QueryEscape(t0.Add(2*time.Minute).Format(time.RFC3339)) + "&until=" + url.QueryEscape(t0.Add(5*time.Minute).Format(time.RFC3339))
	if got, _ := a.pages(tok, base+window); !slices.Equal(got, []string{ids[4], ids[3], ids[2]}) {
		t.Errorf("since (inclusive) to until (exclusive) = %v, want events 4, 3, 2", got)
	}
	// An offset written with an unescaped "+" (a space once decoded) still reads.
	plus := "?since=" + strings.Replace(t0.Add(6*time.Minute).In(time.FixedZone("", 3600)).Format(time.RFC3339), "+", "%2B", 1)
	if got, _ := a.pages(tok, base+plus); !slices.Equal(got, []string{ids[6]}) {
		t.Errorf("since with an offset = %v", got)
	}
	if got, _ := a.pages(tok, base+"?since="+t0.Add(6*time.Minute).In(time.FixedZone("", 3600)).Format(time.RFC3339)); !slices.Equal(got, []string{ids[6]}) {
		t.Errorf("since with an unescaped + = %v", got)
	}

	// Deliver the three oldest; the rest stay pending.
	a.setNow(t0.Add(10 * time.Minute))
	if n := a.attemptN(3, 200); n != 3 {
		t.Fatalf("attempted %d messages, want 3", n)
	}
	if got, _ := a.pages(tok, base+"?state=delivered"); !slices.Equal(got, []string{ids[2], ids[1], ids[0]}) {
		t.Errorf("delivered = %v, want the three oldest", got)
	}
	if got, _ := a.pages(tok, base+"?state=pending&limit=1"); !slices.Equal(got, newest[:4]) {
		t.Errorf("pending = %v, want the four newest", got)
	}
	if got, _ := a.pages(tok, base+"?state=failing"); len(got) != 0 {
		t.Errorf("failing = %v, want none", got)
	}
	p := decode[messagePage](t, a.do("GET", base+"?limit=1&state=delivered", tok, ""), 200)
	m := p.Messages[0]
	if m.MessageID != ids[2] || m.SubscriptionUUID != subUUID || m.EventName != "ProductCreated" || m.State != "delivered" ||
		m.Created != t0.Add(2*time.Minute).Format(ms) || m.Attempts != 1 || m.Finished != t0.Add(10*time.Minute).Format(ms) || m.NextAttemptAt != "" {
		t.Errorf("delivered message = %+v", m)
	}
	p = decode[messagePage](t, a.do("GET", base+"?limit=1", tok, ""), 200)
	if m := p.Messages[0]; m.State != "pending" || string(m.LastAttempt) != "null" || m.Attempts != 0 || m.Finished != "" {
		t.Errorf("pending message = %+v", m)
	}

	for _, tt := range []struct{ query, property string }{
		{"state=lost", "state"},
		{"eventName=NoSuchEvent", "eventName"},
		{"since=yesterday", "since"},
		{"until=2021-03-29", "until"},
		{"since=2021-03-29T17:00:00Z&until=2021-03-29T17:00:00Z", "until"},
		{"since=2021-03-29T18:00:00Z&until=2021-03-29T17:00:00Z", "until"},
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"limit=ten", "limit"},
		{"cursor=not-ours", "cursor"},
		{"cursor=MA", "cursor"},  // "0"
		{"cursor=LTE", "cursor"}, // "-1"
	} {
		t.Run(tt.query, func(t *testing.T) {
			r := a.do("GET", base+"?"+tt.query, tok, "")
			wantViolation(t, r, 400, "INVALID_REQUEST", tt.property)
			if _, msg, _ := zettleError(t, r); !strings.Contains(msg, tt.property) {
				t.Errorf("developerMessage %q does not name %s", msg, tt.property)
			}
		})
	}
	if r := a.do("GET", base+"?limit=500", tok, ""); r.status != 200 {
		t.Errorf("limit=500 = %d %s", r.status, r.body)
	}
}

// TestMessageDetail: one message with its envelope, exactly as stored,
// and every attempt in plain words.
func TestMessageDetail(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.mustCreate(tok, subUUID, rcv.URL)
	t0 := a.clock()
	mid := a.publish(org, "ProductCreated", "detail-1")
	path := extSub("self", subUUID, "/messages/"+mid)

	before := decode[messageDetail](t, a.do("GET", path, tok, ""), 200)
	if before.State != "pending" || before.Attempts != 0 || string(before.LastAttempt) != "null" || before.AttemptLog == nil || len(before.AttemptLog) != 0 {
		t.Errorf("before any attempt = %+v", before)
	}

	a.attemptAll(503, 12*time.Millisecond)
	failing := decode[messageDetail](t, a.do("GET", path, tok, ""), 200)
	stored, _ := a.db.SubscriptionByUUID(context.Background(), subUUID)
	if failing.State != "failing" || failing.Attempts != 1 || failing.NextAttemptAt != stored.NextRetryAt.Format(ms) {
		t.Errorf("after a failure = %+v (next retry %v)", failing, stored.NextRetryAt)
	}

	a.setNow(stored.NextRetryAt)
	a.attemptAll(200, 7*time.Millisecond)
	r := a.do("GET", path, tok, "")
	m := decode[messageDetail](t, r, 200)
	if m.MessageID != mid || m.State != "delivered" || m.Attempts != 2 || m.Finished != stored.NextRetryAt.Format(ms) || m.NextAttemptAt != "" {
		t.Errorf("delivered = %+v", m)
	}
	wantLog := []attemptEntry{
		{At: t0.Format(ms), DurationMs: 12, StatusCode: 503, ErrorClass: "http_status", Error: "HTTP 503 from " + rcv.URL, RemoteAddr: "203.0.113.7:443", Response: "busy"},
		{At: stored.NextRetryAt.Format(ms), DurationMs: 7, StatusCode: 200, ErrorClass: "", Error: "", RemoteAddr: "203.0.113.7:443", Response: "ok"},
	}
	if !slices.Equal(m.AttemptLog, wantLog) {
		t.Errorf("attemptLog = %+v\nwant %+v", m.AttemptLog, wantLog)
	}
	var last attemptEntry
	json.Unmarshal(m.LastAttempt, &last)
	wantLast := wantLog[1]
	wantLast.Response = ""
	if last != wantLast || strings.Contains(string(m.LastAttempt), "response") {
		t.Errorf("lastAttempt = %s, want the second without its response", m.LastAttempt)
	}

	// The envelope is the stored bytes, as delivered, not re-encoded.
	stMsg, err := a.db.LogMessage(context.Background(), subUUID, mid)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Envelope) != string(stMsg.Envelope) {
		t.Errorf("envelope = %s\nwant the stored %s", m.Envelope, stMsg.Envelope)
	}
	var env struct{ EventName, MessageID, OrganizationUUID string }
	if json.Unmarshal(m.Envelope, &env); env.MessageID != mid || env.EventName != "ProductCreated" || env.OrganizationUUID != org {
		t.Errorf("envelope = %s", m.Envelope)
	}
	if want := []string{"messageId", "subscriptionUuid", "eventName", "state", "created", "attempts", "lastAttempt", "finished", "envelope", "attemptLog"}; !slices.Equal(keyOrder(t, json.RawMessage(r.body)), want) {
		t.Errorf("keys = %v, want %v", keyOrder(t, json.RawMessage(r.body)), want)
	}

	// The list's lastAttempt has no response.
	p := decode[messagePage](t, a.do("GET", extSub("self", subUUID, "/messages"), tok, ""), 200)
	if strings.Contains(string(p.Messages[0].LastAttempt), "response") {
		t.Errorf("list lastAttempt = %s, want no response", p.Messages[0].LastAttempt)
	}

	wantError(t, a.do("GET", extSub("self", subUUID, "/messages/6e6d5284-1d31-544f-9c1c-05298cb0156a"), tok, ""), 404, "MESSAGE_NOT_FOUND")
	wantError(t, a.do("GET", extSub("self", subUUID, "/messages/"+strings.Repeat("x", 300)), tok, ""), 404, "MESSAGE_NOT_FOUND")
	if r := a.do("GET", extSub("self", subUUID, "/messages/"+strings.ToUpper(mid)), tok, ""); r.status != 200 {
		t.Errorf("upper-case messageId = %d %s", r.status, r.body)
	}
}

type messageDetail struct {
	listedMessage
	Envelope   json.RawMessage `json:"envelope"`
	AttemptLog []attemptEntry  `json:"attemptLog"`
}

type attemptEntry struct {
	At         string `json:"at"`
	DurationMs int64  `json:"durationMs"`
	StatusCode int    `json:"statusCode"`
	ErrorClass string `json:"errorClass"`
	Error      string `json:"error"`
	RemoteAddr string `json:"remoteAddr"`
	Response   string `json:"response"`
}

// TestStats: counts, success rate and latency percentiles of the last
// hour and day, and the backlog.
func TestStats(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.mustCreate(tok, subUUID, rcv.URL)
	path := extSub("self", subUUID, "/stats")
	empty := `{"lastHour":{"delivered":0,"failed":0,"successRate":null,"latencyMs":null},"lastDay":{"delivered":0,"failed":0,"successRate":null,"latencyMs":null},"backlog":0}`
	if r := a.do("GET", path, tok, ""); r.status != 200 || r.body != empty {
		t.Errorf("stats of a new subscription = %d %s\nwant %s", r.status, r.body, empty)
	}

	now := a.clock()
	a.setNow(now.Add(-3 * time.Hour))
	a.publish(org, "ProductCreated", "s-old-1")
	a.publish(org, "ProductCreated", "s-old-2")
	a.attemptAll(200, 100*time.Millisecond) // in the last day only
	a.setNow(now.Add(-25 * time.Hour))
	a.publish(org, "ProductCreated", "s-ancient")
	a.attemptAll(200, time.Second) // in neither window
	a.setNow(now.Add(-10 * time.Minute))
	for _, id := range []string{"s-1", "s-2", "s-3", "s-4"} {
		a.publish(org, "ProductCreated", id)
	}
	a.attemptAll(200, 10*time.Millisecond, 20*time.Millisecond, 30*time.Millisecond, 40*time.Millisecond)
	a.publish(org, "ProductCreated", "s-fails")
	a.attemptAll(503, 5*time.Millisecond)
	a.publish(org, "ProductCreated", "s-waits")
	a.setNow(now)

	got := decode[statsBody](t, a.do("GET", path, tok, ""), 200)
	h, d := got.LastHour, got.LastDay
	if h.Delivered != 4 || h.Failed != 1 || h.SuccessRate == nil || *h.SuccessRate != 0.8 || h.LatencyMs == nil ||
		*h.LatencyMs != (struct{ P50, P95, P99 int64 }{20, 40, 40}) {
		t.Errorf("lastHour = %+v (rate %v, latency %+v), want 4 delivered, 1 failed, 0.8, p50 20 p95 40 p99 40", h, deref(h.SuccessRate), h.LatencyMs)
	}
	if d.Delivered != 6 || d.Failed != 1 || d.SuccessRate == nil || *d.SuccessRate != 6.0/7 || d.LatencyMs == nil ||
		*d.LatencyMs != (struct{ P50, P95, P99 int64 }{30, 100, 100}) {
		t.Errorf("lastDay = %+v (rate %v, latency %+v), want 6 delivered, 1 failed, 6/7, p50 30 p95 100 p99 100", d, deref(d.SuccessRate), d.LatencyMs)
	}
	if got.Backlog != 2 {
		t.Errorf("backlog = %d, want 2 (the failed message and the one waiting)", got.Backlog)
	}
}

type statsBody struct {
	LastHour, LastDay struct {
		Delivered, Failed int
		SuccessRate       *float64
		LatencyMs         *struct{ P50, P95, P99 int64 }
	}
	Backlog int
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// TestUndelivered: what never arrived, of the subscriptions the caller
// may see, deleted ones included; and the log of a deleted subscription.
func TestUndelivered(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	owner := a.tokenFor(org, "shop", allScopes...)
	rival := a.tokenFor(org, "rival", allScopes...)
	foreign := a.tokenFor(otherOrg, "shop", allScopes...)
	subC := v1UUID(3)
	a.mustCreate(owner, subUUID, rcv.URL)
	a.mustCreate(owner, subUUID2, rcv.URL)
	a.mustCreate(rival, subC, rcv.URL)
	a.mustCreate(foreign, v1UUID(4), rcv.URL)
	a.publish(org, "ProductCreated", "u-1")
	a.publish(otherOrg, "ProductCreated", "u-foreign")
	a.attemptAll(200) // everything so far is delivered
	a.setNow(a.clock().Add(time.Minute))
	e2 := a.publish(org, "PurchaseCreated", "u-2")
	if r := a.do("DELETE", "/organizations/self/subscriptions/"+subUUID2, owner, ""); r.status != 204 {
		t.Fatalf("delete = %d %s", r.status, r.body)
	}

	type key struct{ sub, state string }
	undelivered := func(tok, o, query string) []key {
		t.Helper()
		p := decode[messagePage](t, a.do("GET", "/v1/organizations/"+o+"/undelivered"+query, tok, ""), 200)
		var out []key
		for _, m := range p.Messages {
			if m.MessageID != e2 {
				t.Errorf("undelivered lists %+v, a message of another event", m)
			}
			out = append(out, key{m.SubscriptionUUID, m.State})
		}
		slices.SortFunc(out, func(x, y key) int { return strings.Compare(x.sub, y.sub) })
		return out
	}
	if got, want := undelivered(owner, "self", ""), []key{{subUUID2, "dead"}, {subUUID, "pending"}}; !slices.Equal(got, want) {
		t.Errorf("owner's undelivered = %v, want %v", got, want)
	}
	if got, want := undelivered(owner, "self", "?state=dead"), []key{{subUUID2, "dead"}}; !slices.Equal(got, want) {
		t.Errorf("owner's dead letters = %v, want %v", got, want)
	}
	if got, want := undelivered(owner, "self", "?eventName=ProductCreated"), []key(nil); !slices.Equal(got, want) {
		t.Errorf("owner's undelivered ProductCreated = %v, want none", got)
	}
	if got, want := undelivered(rival, "self", ""), []key{{subC, "pending"}}; !slices.Equal(got, want) {
		t.Errorf("rival's undelivered = %v, want %v", got, want)
	}
	if got, want := undelivered(a.admin(), org, ""), []key{{subC, "pending"}, {subUUID2, "dead"}, {subUUID, "pending"}}; !slices.Equal(got, want) {
		t.Errorf("operator's undelivered = %v, want %v", got, want)
	}
	if ids, sizes := a.pages(a.admin(), "/v1/organizations/"+org+"/undelivered?limit=1"); len(ids) != 3 || len(sizes) != 3 {
		t.Errorf("operator's undelivered in pages of one = %v", ids)
	}
	wantViolation(t, a.do("GET", "/v1/organizations/self/undelivered?state=delivered", owner, ""), 400, "INVALID_REQUEST", "state")

	// The deleted subscription's log stays readable by its owner (and an
	// operator), not by others; it cannot be redelivered to.
	deleted := extSub("self", subUUID2, "/messages")
	if ids, _ := a.pages(owner, deleted); len(ids) != 2 {
		t.Errorf("log of the deleted subscription = %v, want its two messages", ids)
	}
	if ids, _ := a.pages(a.admin(), extSub(org, subUUID2, "/messages")); len(ids) != 2 {
		t.Errorf("operator's log of the deleted subscription = %v", ids)
	}
	m := decode[messageDetail](t, a.do("GET", deleted+"/"+e2, owner, ""), 200)
	if m.State != "dead" || m.Finished == "" || !strings.Contains(string(m.Envelope), `"PurchaseCreated"`) {
		t.Errorf("dead letter = %+v", m)
	}
	if r := a.do("GET", extSub("self", subUUID2, "/stats"), owner, ""); r.status != 200 {
		t.Errorf("stats of the deleted subscription = %d %s", r.status, r.body)
	}
	wantError(t, a.do("GET", extSub("self", subUUID2, "/messages"), rival, ""), 404, "SUBSCRIPTION_NOT_FOUND")
	wantError(t, a.do("GET", deleted+"/"+e2, rival, ""), 404, "SUBSCRIPTION_NOT_FOUND")
	wantError(t, a.do("POST", deleted+"/"+e2+"/redeliver", owner, ""), 404, "SUBSCRIPTION_NOT_FOUND")
	for _, rest := range []string{"/settings", "/rotate-key", "/replay"} {
		method := map[string]string{"/settings": "GET"}[rest]
		if method == "" {
			method = "POST"
		}
		wantError(t, a.do(method, extSub("self", subUUID2, rest), owner, "{}"), 404, "SUBSCRIPTION_NOT_FOUND")
	}
	if _, err := a.db.DeletedSubscription(context.Background(), subUUID2); err != nil {
		t.Errorf("DeletedSubscription = %v", err)
	}
}

// A dead letter whose event belongs to another organization, under the
// uuid of a live subscription (possible for data older than the delivery
// log, when a deleted uuid could be taken by anyone), is not shown to the
// new owner, nor redelivered to it.
func TestMessageOfAnotherOrganizationUnderAReusedUUID(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.mustCreate(tok, subUUID, rcv.URL)
	now := a.clock()
	env := webhook.NewEnvelope(otherOrg, webhook.ProductCreated, webhook.MessageID(otherOrg, webhook.ProductCreated, "legacy"), `{}`, now)
	legacy := store.MessageRecord{SubscriptionUUID: subUUID, State: store.StateDead, CreatedAt: now, FinishedAt: now,
		Event: store.Event{Envelope: env, SourceEventName: webhook.ProductCreated, EventID: "legacy", Now: now}}
	if _, err := a.db.Import(context.Background(), store.ImportBatch{Messages: []store.MessageRecord{legacy}}); err != nil {
		t.Fatal(err)
	}
	path := extSub("self", subUUID, "/messages/"+env.MessageID)
	for _, r := range []response{a.do("GET", path, tok, ""), a.do("POST", path+"/redeliver", tok, "")} {
		if r.status != http.StatusNotFound || !strings.Contains(r.body, "MESSAGE_NOT_FOUND") {
			t.Errorf("%d %s, want 404 MESSAGE_NOT_FOUND", r.status, r.body)
		}
	}
}
