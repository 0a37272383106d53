package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// operatorNotices are one notice of each kind for the operator sink, with
// every optional field set.
func operatorNotices() map[webhook.NoticeKind]webhook.Notice {
	ns := map[webhook.NoticeKind]webhook.Notice{}
	for kind, n := range goldenNotices() {
		n.Channel = webhook.ChannelOperator
		ns[webhook.NoticeKind(kind)] = n
	}
	k := baseNotice(webhook.NoticeKeyRotated)
	k.Channel, k.PreviousKeyExpires = webhook.ChannelOperator, testAt.Add(24*time.Hour)
	ns[webhook.NoticeKeyRotated] = k
	return ns
}

// TestOperatorEvent pins the body of each event, byte for byte: it is what
// operators' receivers parse (docs/extensions.md, "Operator event sink").
func TestOperatorEvent(t *testing.T) {
	const sub = `"subscriptionUuid":"f02f80f8-8f35-11eb-8dcd-0242ac130003","organizationUuid":"6f2c1b6e-8f35-11eb-8dcd-0242ac130003",` +
		`"destination":"https://shop.example/hook","eventNames":["ProductCreated","InventoryBalanceChanged"],"contactEmail":"ops@shop.example"`
	want := map[webhook.NoticeKind]string{
		webhook.NoticeFailing: `{"type":"subscription.failing","timestamp":"2021-03-29T16:31:47.000Z","data":{` + sub +
			`,"failingSince":"2021-03-29T16:31:47.000Z","errorClass":"http_status","statusCode":503,` +
			`"error":"HTTP 503 from https://shop.example/hook","nextAttemptAt":"2021-03-29T16:32:47.000Z",` +
			`"deleteAt":"2021-04-01T16:11:47.000Z"}}`,
		webhook.NoticeRecovered: `{"type":"subscription.recovered","timestamp":"2021-03-29T16:31:47.000Z","data":{` + sub +
			`,"failingSince":"2021-03-29T14:18:27.000Z","heldMessages":17}}`,
		webhook.NoticeDeleted: `{"type":"subscription.deleted","timestamp":"2021-03-29T16:31:47.000Z","data":{` + sub +
			`,"failingSince":"2021-03-26T16:31:47.000Z","errorClass":"timeout","statusCode":0,"error":"no answer within 10 s",` +
			`"undelivered":42}}`,
		webhook.NoticeKeyRotated: `{"type":"subscription.key_rotated","timestamp":"2021-03-29T16:31:47.000Z","data":{` + sub +
			`,"previousKeyExpires":"2021-03-30T16:31:47.000Z"}}`,
	}
	for kind, n := range operatorNotices() {
		t.Run(string(kind), func(t *testing.T) {
			got, err := OperatorEvent(n)
			if err != nil || string(got) != want[kind] {
				t.Errorf("OperatorEvent = %v\n got: %s\nwant: %s", err, got, want[kind])
			}
		})
	}
}

func TestOperatorEventHidesSecretsOfTheDestination(t *testing.T) {
	n := baseNotice(webhook.NoticeRecovered)
	n.Destination, n.EventNames = "https://user:hunter2@shop.example/hook?token=abc&x=1", nil
	body, err := OperatorEvent(n)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "event", string(body), `"destination":"https://user:xxxxx@shop.example/hook?token=xxxxx&x=xxxxx"`,
		`"eventNames":[]`)
	mustNotContain(t, "event", string(body), "hunter2", "abc")
}

func TestOperatorEventID(t *testing.T) {
	n := operatorNotices()[webhook.NoticeFailing]
	id := OperatorEventID(n)
	if len(id) != len("evt_")+32 || !strings.HasPrefix(id, "evt_") {
		t.Errorf("OperatorEventID = %q, want evt_ and 32 hex digits", id)
	}
	// The same notice after a retry, a restart or a copy to another store.
	again := n
	again.ID, again.Attempts, again.CreatedAt = 99, 3, n.CreatedAt.Add(300*time.Nanosecond)
	if got := OperatorEventID(again); got != id {
		t.Errorf("OperatorEventID of the same notice = %q, want %q", got, id)
	}
	for name, change := range map[string]func(*webhook.Notice){
		"kind":         func(n *webhook.Notice) { n.Kind = webhook.NoticeRecovered },
		"subscription": func(n *webhook.Notice) { n.SubscriptionUUID = "other" },
		"time":         func(n *webhook.Notice) { n.CreatedAt = n.CreatedAt.Add(time.Microsecond) },
	} {
		other := n
		change(&other)
		if OperatorEventID(other) == id {
			t.Errorf("another %s has the same id %s", name, id)
		}
	}
}

func TestOperatorSecret(t *testing.T) {
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{whsec, whsec, true},
		{"my raw secret", "whsec_" + base64.StdEncoding.EncodeToString([]byte("my raw secret")), true},
		{"whsec_not base64!", "", false},
		{"", "", false},
	} {
		got, err := OperatorSecret(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("OperatorSecret(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestNewOperatorSinkRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "ops.example/hook", "ftp://ops.example/", "https://", "://x"} {
		if _, err := NewOperatorSink(u, "secret", "", nil); err == nil {
			t.Errorf("NewOperatorSink(%q) succeeded; want an error", u)
		}
	}
	_, err := NewOperatorSink("ftp://u:hunter2@ops.example/", "secret", "", nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("NewOperatorSink error %v; want one without the password", err)
	}
	if _, err := NewOperatorSink("https://ops.example/hook", "", "", nil); err == nil {
		t.Error("NewOperatorSink without a secret succeeded")
	}
}

// receivedEvent is one POST a sinkReceiver took.
type receivedEvent struct {
	Header http.Header
	Body   []byte
	Status int // the answer
}

// sinkReceiver is an operator's receiver: it checks each POST's Standard
// Webhooks signature as the spec says (written out here, not with package
// signing), answers with the next scripted status (200 once the script
// is used up) and records what it got.
type sinkReceiver struct {
	t      *testing.T
	secret string           // whsec_…
	now    func() time.Time // the receiver's clock, for the 5-minute tolerance
	srv    *httptest.Server

	mu      sync.Mutex
	script  []int
	events  []receivedEvent
	arrived chan struct{} // one value per POST
}

func newSinkReceiver(t *testing.T, secret string, now func() time.Time, script ...int) *sinkReceiver {
	r := &sinkReceiver{t: t, secret: secret, now: now, script: script, arrived: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *sinkReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("sink got %s with Content-Type %q; want POST application/json", req.Method, req.Header.Get("Content-Type"))
	}
	if err := verifyStandardWebhooks(r.secret, req.Header, body, r.now()); err != "" {
		r.t.Errorf("sink: %s", err)
	}
	r.mu.Lock()
	status := http.StatusOK
	if len(r.script) > 0 {
		status, r.script = r.script[0], r.script[1:]
	}
	r.events = append(r.events, receivedEvent{Header: req.Header.Clone(), Body: body, Status: status})
	r.mu.Unlock()
	w.WriteHeader(status)
	io.WriteString(w, http.StatusText(status))
	r.arrived <- struct{}{}
}

// got returns the POSTs so far.
func (r *sinkReceiver) got() []receivedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// verifyStandardWebhooks checks a request as the Standard Webhooks spec
// says and returns what is wrong, or "".
func verifyStandardWebhooks(secret string, h http.Header, body []byte, now time.Time) string {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return "a Standard Webhooks header is missing"
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "webhook-timestamp " + ts + " is not Unix seconds"
	}
	if d := now.Sub(time.Unix(unix, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "webhook-timestamp " + ts + " is " + d.String() + " from now"
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "bad secret"
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return ""
		}
	}
	return "webhook-signature " + sigs + " does not match"
}

func TestOperatorSinkPost(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	const raw = "an operator's raw secret"
	recv := newSinkReceiver(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte(raw)), clock, 200, 500)
	sink, err := NewOperatorSink(recv.srv.URL+"/events", raw, "pusher/test", clock)
	if err != nil {
		t.Fatal(err)
	}
	n := operatorNotices()[webhook.NoticeFailing]
	if err := sink.Send(t.Context(), n); err != nil {
		t.Fatalf("Send to a 200 sink = %v", err)
	}
	err = sink.Send(t.Context(), n)
	if err == nil || !strings.Contains(err.Error(), "HTTP 500: Internal Server Error") {
		t.Errorf("Send to a 500 sink = %v; want the status and answer", err)
	}
	got := recv.got()
	if len(got) != 2 {
		t.Fatalf("sink got %d POSTs, want 2", len(got))
	}
	body, _ := OperatorEvent(n)
	h := got[0].Header
	if string(got[0].Body) != string(body) || h.Get("webhook-id") != OperatorEventID(n) ||
		h.Get("webhook-timestamp") != strconv.FormatInt(at.Unix(), 10) || h.Get("User-Agent") != "pusher/test" {
		t.Errorf("POST = %q with headers %v", got[0].Body, h)
	}
	if got[1].Header.Get("webhook-id") != h.Get("webhook-id") {
		t.Error("a retry has another webhook-id")
	}
}

func TestOperatorSinkFailures(t *testing.T) {
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
	}))
	defer redirect.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more
	n := operatorNotices()[webhook.NoticeDeleted]
	for _, tt := range []struct {
		name, url, want string
	}{
		{"a redirect is not followed", redirect.URL, "HTTP 302"},
		{"no server", strings.Replace(down.URL, "http://", "http://op:hunter2@", 1) + "/?token=abc", "POST http://op:xxxxx@"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink, err := NewOperatorSink(tt.url, "secret", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			err = sink.Send(t.Context(), n)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "hunter2") ||
				strings.Contains(err.Error(), "abc") {
				t.Errorf("Send = %v; want an error with %q and no secret of the URL", err, tt.want)
			}
		})
	}
}

// An outage of one channel delays nothing of the other: a down operator
// sink is retried with the backoff while e-mails go out, and the reverse.
func TestSenderChannelsAreIndependent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, wait = 10 * time.Second, time.Minute
		ob, mailer, sink := &memOutbox{}, &fakeMailer{}, &fakeMailer{down: true}
		op := func() webhook.Notice { n := failingNotice(); n.Channel = webhook.ChannelOperator; return n }
		opIDs := []int64{ob.add(op(), time.Now()), ob.add(op(), time.Now())}
		mailID := ob.add(failingNotice(), time.Now())
		log, logs := testLogger()
		runSender(t, &Sender{Outbox: ob, Mailer: mailer, Operator: sink, Logger: log, Interval: interval,
			Backoff: func(int) time.Duration { return wait }})

		synctest.Wait()
		if got := mailer.sentIDs(); !slices.Equal(got, []int64{mailID}) {
			t.Errorf("e-mails sent %v while the sink is down; want [%d]", got, mailID)
		}
		if calls, _ := sink.counts(); calls != 1 {
			t.Errorf("%d POSTs to the down sink in the first poll; want 1 (the rest waits)", calls)
		}
		if r := ob.row(opIDs[0]); len(r.errs) != 1 || !r.nextAt.Equal(time.Now().Add(wait)) {
			t.Errorf("operator notice after a failed POST: %+v; want one error, retry in %v", r, wait)
		}
		mustContain(t, "log", logs.String(), "sending notice failed", "channel=operator")

		sink.setDown(false)
		mailer.setDown(true)
		mail2 := ob.add(failingNotice(), time.Now())
		settle(interval) // the second operator notice is due; the first waits for its backoff
		if got := sink.sentIDs(); !slices.Equal(got, opIDs[1:]) {
			t.Errorf("operator notices sent %v; want %v", got, opIDs[1:])
		}
		settle(wait)
		if got := sink.sentIDs(); !slices.Equal(got, []int64{opIDs[1], opIDs[0]}) {
			t.Errorf("operator notices sent %v after the backoff; want both, each once", got)
		}
		if r := ob.row(mail2); len(r.errs) == 0 || !r.sentAt.IsZero() {
			t.Errorf("e-mail while SMTP is down: %+v; want failed and unsent", r)
		}
	})
}

// Without a sink, operator notices stay in the outbox, logged once, and
// e-mails go out as before.
func TestSenderWithoutSink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 10 * time.Second
		ob, mailer := &memOutbox{}, &fakeMailer{}
		op := failingNotice()
		op.Channel = webhook.ChannelOperator
		opID := ob.add(op, time.Now())
		mailID := ob.add(failingNotice(), time.Now())
		log, logs := testLogger()
		var nilSink *OperatorSink // a typed nil is "sink off"
		runSender(t, &Sender{Outbox: ob, Mailer: mailer, Operator: nilSink, Logger: log, Interval: interval})

		synctest.Wait()
		settle(10 * interval)
		if got := mailer.sentIDs(); !slices.Equal(got, []int64{mailID}) {
			t.Errorf("sent %v; want the e-mail only", got)
		}
		checkLogged(t, "ten polls later", logs, "no operator webhook configured; notice kept in the outbox", 1)
		if r := ob.row(opID); !r.sentAt.IsZero() || len(r.errs) != 0 {
			t.Errorf("operator notice %+v; want untouched in the outbox", r)
		}
	})
}
