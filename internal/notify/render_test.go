package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

var (
	testAt   = time.Date(2021, 3, 29, 16, 31, 47, 0, time.UTC)
	testOrg  = "6f2c1b6e-8f35-11eb-8dcd-0242ac130003"
	testSub  = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
	testDest = "https://shop.example/hook"
)

func baseNotice(kind webhook.NoticeKind) webhook.Notice {
	return webhook.Notice{
		ID:               7,
		Kind:             kind,
		To:               "ops@shop.example",
		OrganizationUUID: testOrg,
		SubscriptionUUID: testSub,
		Destination:      testDest,
		EventNames:       []string{"ProductCreated", "InventoryBalanceChanged"},
		CreatedAt:        testAt,
	}
}

func failingNotice() webhook.Notice {
	n := baseNotice(webhook.NoticeFailing)
	n.Failure = webhook.Failure{Class: webhook.ClassHTTPStatus, StatusCode: 503, Timeout: 0}
	n.NextAttemptAt = testAt.Add(time.Minute)
	n.DeleteAt = testAt.Add(71*time.Hour + 40*time.Minute)
	return n
}

// mustContain fails for each want that is not in got.
func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

func mustNotContain(t *testing.T, what, got string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(got, b) {
			t.Errorf("%s contains %q:\n%s", what, b, got)
		}
	}
}

// common is what every notice names, in text and HTML.
var common = []string{testOrg, testSub, testDest, "ProductCreated, InventoryBalanceChanged"}

func TestRenderFailing(t *testing.T) {
	subject, text, html := Render(failingNotice())
	if want := "[pusher] Webhook failing: " + testDest + " (subscription " + testSub + ")"; subject != want {
		t.Errorf("subject = %q; want %q", subject, want)
	}
	mustContain(t, "text", text, common...)
	mustContain(t, "text", text,
		"Reason:        HTTP 503 from https://shop.example/hook",
		"Next attempt:  Mon, 29 Mar 2021 16:32:47 UTC (in 1 min)",
		"Deletion due:  Thu, 01 Apr 2021 16:11:47 UTC (in 2 d 23 h), if no delivery succeeds before then",
		"FAILING",
		"PUT /organizations/self/subscriptions/"+testSub,
		"because ops@shop.example is the contact e-mail",
		"Status as of Mon, 29 Mar 2021 16:31:47 UTC.")
	mustContain(t, "html", html, common...)
	mustContain(t, "html", html, "HTTP 503 from https://shop.example/hook",
		"Mon, 29 Mar 2021 16:32:47 UTC (in 1 min)", "<title>[pusher] Webhook failing: ")
}

func TestRenderRecovered(t *testing.T) {
	n := baseNotice(webhook.NoticeRecovered)
	n.FailingSince = testAt.Add(-(2*time.Hour + 13*time.Minute + 20*time.Second))
	n.HeldMessages = 17
	subject, text, html := Render(n)
	if want := "[pusher] Webhook recovered: " + testDest + " (subscription " + testSub + ")"; subject != want {
		t.Errorf("subject = %q; want %q", subject, want)
	}
	for what, body := range map[string]string{"text": text, "html": html} {
		mustContain(t, what, body, common...)
		mustContain(t, what, body, "2 h 13 min", "17 messages were held", "now being delivered",
			"Mon, 29 Mar 2021 14:18:27 UTC", "ACTIVE")
	}

	n.HeldMessages = 1
	_, text, _ = Render(n)
	mustContain(t, "text", text, "1 message was held")
	n.HeldMessages = 0
	_, text, _ = Render(n)
	mustContain(t, "text", text, "No messages were waiting.")
}

func TestRenderDeleted(t *testing.T) {
	n := baseNotice(webhook.NoticeDeleted)
	n.Undelivered = 42
	n.Failure = webhook.Failure{Class: webhook.ClassTimeout, StatusCode: 0, Timeout: 10 * time.Second}
	subject, text, html := Render(n)
	if want := "[pusher] Webhook subscription deleted: " + testDest + " (subscription " + testSub + ")"; subject != want {
		t.Errorf("subject = %q; want %q", subject, want)
	}
	for what, body := range map[string]string{"text": text, "html": html} {
		mustContain(t, what, body, common...)
		mustContain(t, what, body, "42 messages were not delivered", "dead letters",
			"POST /organizations/self/subscriptions", "new UUID version 1", "TestMessage",
			"no answer within 10 s")
	}
	mustContain(t, "text", text,
		`"uuid": "<new UUID v1>"`,
		`"transportName": "WEBHOOK"`,
		`"destination": "https://shop.example/hook"`,
		`"contactEmail": "ops@shop.example"`)

	n.Undelivered = 1
	_, text, _ = Render(n)
	mustContain(t, "text", text, "1 message was not delivered. It is kept as a dead letter")
}

func TestRenderAllEvents(t *testing.T) {
	for _, k := range []webhook.NoticeKind{webhook.NoticeFailing, webhook.NoticeRecovered, webhook.NoticeDeleted, "other"} {
		n := baseNotice(k)
		n.EventNames = nil
		_, text, html := Render(n)
		mustContain(t, string(k)+" text", text, "Events:", "all events")
		mustContain(t, string(k)+" html", html, "all events")
	}
	n := baseNotice(webhook.NoticeDeleted)
	n.EventNames = nil
	_, text, _ := Render(n)
	mustContain(t, "text", text, `"eventNames": []`)
}

func TestRenderEscapesHTML(t *testing.T) {
	n := failingNotice()
	n.Destination = `https://shop.example/hook/<script>alert("x")</script>`
	n.EventNames = []string{"<b>ProductCreated</b>"}
	n.Failure = webhook.Failure{Class: webhook.ClassHTTPStatus, StatusCode: 500, Timeout: 0}
	n.Kind = webhook.NoticeDeleted
	subject, text, html := Render(n)
	mustNotContain(t, "html", html, "<script>", "<b>ProductCreated")
	mustContain(t, "html", html, "&lt;script&gt;", "&lt;b&gt;ProductCreated&lt;/b&gt;")
	// The text part and the subject are plain text and keep the characters.
	mustContain(t, "text", text, n.Destination, "<b>ProductCreated</b>")
	mustContain(t, "subject", subject, "<script>")
}

func TestRenderHidesQueryStringValues(t *testing.T) {
	n := failingNotice()
	n.Destination = "https://shop.example/hook?token=s3cret"
	subject, text, html := Render(n)
	for part, s := range map[string]string{"subject": subject, "text": text, "html": html} {
		mustNotContain(t, part, s, "s3cret")
	}
	mustContain(t, "text", text, "https://shop.example/hook?token=xxxxx")
}

func TestRenderHidesPasswordAndControlChars(t *testing.T) {
	n := failingNotice()
	n.Destination = "https://user:hunter2@shop.example/hook"
	n.SubscriptionUUID = "abc\r\nBcc: victim@example.com"
	subject, text, html := Render(n)
	for what, s := range map[string]string{"subject": subject, "text": text, "html": html} {
		mustNotContain(t, what, s, "hunter2")
		mustContain(t, what, s, "https://user:xxxxx@shop.example/hook")
	}
	mustNotContain(t, "subject", subject, "\r", "\n")
}

func TestRenderLongDestinationInSubject(t *testing.T) {
	n := failingNotice()
	n.Destination = "https://shop.example/" + strings.Repeat("a", 300)
	subject, text, _ := Render(n)
	if !strings.Contains(subject, "…") || len([]rune(subject)) > 200 {
		t.Errorf("subject not shortened: %q", subject)
	}
	mustContain(t, "text", text, n.Destination) // the body keeps it whole
}

func TestRenderMissingOptionalFields(t *testing.T) {
	n := baseNotice(webhook.NoticeFailing)
	n.CreatedAt = time.Time{}
	_, text, _ := Render(n)
	mustNotContain(t, "text", text, "Next attempt", "Deletion due", "Reason:", "Status as of", "0001")
}

func TestRelative(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{time.Minute, "in 1 min"},
		{-3 * time.Minute, "3 min ago"},
		{200 * time.Millisecond, "now"},
	}
	for _, tt := range tests {
		if got := relative(testAt.Add(tt.d), testAt); got != tt.want {
			t.Errorf("relative(+%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
	if got := relative(testAt, time.Time{}); got != "" {
		t.Errorf("relative with zero reference = %q; want empty", got)
	}
}
