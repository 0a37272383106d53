// Package notify tells a subscription's contact e-mail address about its
// webhook: when it starts failing, when it recovers and when it is deleted
// after the retries ran out (Zettle Pusher API, "Failing Webhooks").
//
// The package has three parts:
//
//   - Render: the e-mail text of a webhook.Notice, a pure function
//     (webhook.Failure.Reason puts a delivery failure into plain words);
//   - Mailer: sends one rendered notice over SMTP with github.com/wneessen/go-mail,
//     configured by ParseSMTPURL from PUSHER_SMTP_URL;
//   - Sender: a background loop that takes due notices from a durable Outbox
//     (implemented by the store) and sends them, retrying with backoff while
//     the SMTP server is unavailable, so no notice is lost;
//   - OperatorSink: POSTs the notices of the operator channel as signed JSON
//     events (OperatorEvent) to the operator's URL, for the Sender
//     (docs/extensions.md, "Operator event sink").
//
// Which notices exist, and how often (at most one "failing" notice per
// subscription a day), is decided in the domain (webhook.AfterAttempt); the
// store keeps them as facts (webhook.Notice), and the words are made here,
// when a notice is rendered.
package notify

import (
	"bytes"
	"encoding/json"
	"html/template"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// maxSubjectURL is the number of characters of the destination kept in a subject.
const maxSubjectURL = 100

// Render returns the subject, the plain-text body and the HTML body of the
// e-mail for n. It never fails: missing optional fields (zero times, an empty
// Reason) leave their lines out. Times are written in UTC, and distances
// ("in 1 min") are measured from n.CreatedAt, which the text states. Every
// notice names the organization, the subscription UUID, the destination and
// the event names ("all events" when EventNames is empty). Passwords in the
// destination URL are shown as "xxxxx". An unknown Kind renders a generic
// notice.
func Render(n webhook.Notice) (subject, text, html string) {
	v := buildView(n)
	return v.Subject, renderText(v), renderHTML(v)
}

// view is what both the text and the HTML body are made from.
type view struct {
	Subject  string
	Title    string
	Intro    []string
	Facts    [][]fact // groups, separated by a blank line in text
	Sections []section
	Footer   string
}

type fact struct {
	Label, Value string
	Code         bool // show as code in HTML (UUIDs, URLs)
}

type section struct {
	Heading string
	Paras   []string
	Pre     string // preformatted block, e.g. a request body
}

// buildView assembles the e-mail of n from its identity and its kind.
func buildView(n webhook.Notice) view {
	id := identify(n)
	var v view
	switch n.Kind {
	case webhook.NoticeFailing:
		v = failingView(n, id)
	case webhook.NoticeRecovered:
		v = recoveredView(n, id)
	case webhook.NoticeDeleted:
		v = deletedView(n, id)
	default:
		v = view{
			Subject: "[pusher] Webhook notice: " + id.subjectTail,
			Title:   "Webhook notice",
			Intro:   []string{"There is news about your webhook subscription (" + string(n.Kind) + ")."},
			Facts:   [][]fact{id.facts},
		}
	}
	v.Subject = oneLine(v.Subject)
	v.Footer = id.footer
	return v
}

// identity is what every notice says about its subscription, whatever its
// kind.
type identity struct {
	dest        string // the destination as shown: passwords and query values hidden
	subjectTail string // "<destination, shortened> (subscription <uuid>)", ending every subject
	facts       []fact // organization, subscription, destination, events
	footer      string // why the reader gets the e-mail, and as of when
}

func identify(n webhook.Notice) identity {
	dest := webhook.DisplayURL(n.Destination)
	subjDest := oneLine(dest)
	if utf8.RuneCountInString(subjDest) > maxSubjectURL {
		subjDest = string([]rune(subjDest)[:maxSubjectURL-1]) + "…"
	}
	id := identity{
		dest:        dest,
		subjectTail: subjDest + " (subscription " + oneLine(n.SubscriptionUUID) + ")",
		facts: []fact{
			{Label: "Organization", Value: n.OrganizationUUID, Code: true},
			{Label: "Subscription", Value: n.SubscriptionUUID, Code: true},
			{Label: "Destination", Value: dest, Code: true},
			{Label: "Events", Value: eventsText(n.EventNames)},
		},
		footer: "You receive this e-mail because " + n.To +
			" is the contact e-mail (contactEmail) of subscription " + n.SubscriptionUUID + ".",
	}
	if asOf := formatTime(n.CreatedAt); asOf != "" {
		id.footer += " Status as of " + asOf + "."
	}
	return id
}

func failingView(n webhook.Notice, id identity) view {
	var st []fact
	st = appendFact(st, "Status", "FAILING")
	st = appendFact(st, "Reason", n.Reason())
	st = appendFact(st, "Next attempt", whenText(n.NextAttemptAt, n.CreatedAt))
	if d := whenText(n.DeleteAt, n.CreatedAt); d != "" {
		st = appendFact(st, "Deletion due", d+", if no delivery succeeds before then")
	}
	return view{
		Subject: "[pusher] Webhook failing: " + id.subjectTail,
		Title:   "Your webhook is failing",
		Intro: []string{
			"Pusher could not deliver a message to your webhook, so the subscription is now FAILING. " +
				"Pusher keeps retrying. New messages for this subscription wait and are delivered " +
				"once the destination accepts deliveries again.",
		},
		Facts: [][]fact{id.facts, st},
		Sections: []section{{
			Heading: "What to do",
			Paras: []string{
				"Check that " + id.dest + " is reachable from the internet and answers POST requests " +
					"with a 2xx status. Nothing else is needed: as soon as an attempt succeeds, " +
					"the subscription is ACTIVE again and the waiting messages are delivered.",
				"If the destination has moved, change it with " +
					"PUT /organizations/self/subscriptions/" + n.SubscriptionUUID + ".",
			},
		}},
	}
}

func recoveredView(n webhook.Notice, id identity) view {
	var st []fact
	st = appendFact(st, "Status", "ACTIVE")
	st = appendFact(st, "Failing since", formatTime(n.FailingSince))
	st = appendFact(st, "Recovered at", formatTime(n.CreatedAt))
	if !n.FailingSince.IsZero() && !n.CreatedAt.IsZero() {
		st = appendFact(st, "Failed for", webhook.HumanDuration(n.CreatedAt.Sub(n.FailingSince)))
	}
	return view{
		Subject: "[pusher] Webhook recovered: " + id.subjectTail,
		Title:   "Your webhook is working again",
		Intro: []string{
			"The destination accepted a delivery again, and the subscription is ACTIVE.",
			messagesSentence(n.HeldMessages, "No messages were waiting.",
				"1 message was held while the webhook was failing; it is now being delivered.",
				" were held while the webhook was failing; they are now being delivered."),
		},
		Facts: [][]fact{id.facts, st},
	}
}

func deletedView(n webhook.Notice, id identity) view {
	var st []fact
	st = appendFact(st, "Status", "deleted")
	st = appendFact(st, "Failing since", formatTime(n.FailingSince))
	st = appendFact(st, "Deleted at", formatTime(n.CreatedAt))
	st = appendFact(st, "Last reason", n.Reason())
	st = appendFact(st, "Not delivered", plural(n.Undelivered, "message"))
	return view{
		Subject: "[pusher] Webhook subscription deleted: " + id.subjectTail,
		Title:   "Your webhook subscription was deleted",
		Intro: []string{
			"Pusher deleted the subscription because its destination did not accept any delivery " +
				"during the whole retry period. It no longer receives messages.",
			messagesSentence(n.Undelivered, "All messages had been delivered.",
				"1 message was not delivered. It is kept as a dead letter and will not be delivered automatically.",
				" were not delivered. They are kept as dead letters and will not be delivered automatically."),
		},
		Facts: [][]fact{id.facts, st},
		Sections: []section{{
			Heading: "How to create the subscription again",
			Paras: []string{
				"Fix the destination, then send POST /organizations/self/subscriptions with a new " +
					"UUID version 1 (not " + n.SubscriptionUUID + "). On creation Pusher sends a " +
					"TestMessage, which the destination must answer with a 2xx status. " +
					"The new subscription has a new signingKey: update your signature check.",
				"Request body with this subscription's settings:",
			},
			Pre: recreateBody(n, id.dest),
		}},
	}
}

// messagesSentence returns none for no messages, one for 1, and for more
// "N messages" followed by manyTail.
func messagesSentence(count int, none, one, manyTail string) string {
	switch {
	case count == 1:
		return one
	case count > 1:
		return plural(count, "message") + manyTail
	}
	return none
}

// appendFact appends a fact unless its value is empty.
func appendFact(fs []fact, label, value string) []fact {
	if value == "" {
		return fs
	}
	return append(fs, fact{Label: label, Value: value})
}

// eventsText lists event names, or "all events" if there are none.
func eventsText(names []string) string {
	if len(names) == 0 {
		return "all events"
	}
	return strings.Join(names, ", ")
}

// recreateBody is the JSON body of a POST that re-creates n's subscription.
func recreateBody(n webhook.Notice, dest string) string {
	events := n.EventNames
	if events == nil {
		events = []string{}
	}
	body := struct {
		UUID          string   `json:"uuid"`
		TransportName string   `json:"transportName"`
		EventNames    []string `json:"eventNames"`
		Destination   string   `json:"destination"`
		ContactEmail  string   `json:"contactEmail"`
	}{"<new UUID v1>", "WEBHOOK", events, dest, n.To}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the HTML part escapes; the text part must stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(body); err != nil {
		return "" // cannot happen: only strings
	}
	return strings.TrimSpace(buf.String())
}

// oneLine replaces control characters (CR, LF, tab, …) by spaces, so the
// value is safe in a header.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func renderText(v view) string {
	var b strings.Builder
	b.WriteString(v.Title + ".\n")
	for _, p := range v.Intro {
		b.WriteString("\n" + p + "\n")
	}
	width := 0
	for _, g := range v.Facts {
		for _, f := range g {
			width = max(width, utf8.RuneCountInString(f.Label))
		}
	}
	for _, g := range v.Facts {
		if len(g) == 0 {
			continue
		}
		b.WriteString("\n")
		for _, f := range g {
			pad := strings.Repeat(" ", width-utf8.RuneCountInString(f.Label))
			b.WriteString(f.Label + ":" + pad + "  " + f.Value + "\n")
		}
	}
	for _, s := range v.Sections {
		b.WriteString("\n" + s.Heading + "\n")
		for _, p := range s.Paras {
			b.WriteString("\n" + p + "\n")
		}
		if s.Pre != "" {
			b.WriteString("\n")
			for line := range strings.SplitSeq(s.Pre, "\n") {
				b.WriteString("    " + line + "\n")
			}
		}
	}
	b.WriteString("\n-- \n" + v.Footer + "\n")
	return b.String()
}

var htmlTmpl = template.Must(template.New("notice").Parse(`<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{{.Subject}}</title>
</head>
<body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 15px; color: #222; line-height: 1.45;">
<h2 style="margin: 0 0 12px;">{{.Title}}</h2>
{{range .Intro}}<p>{{.}}</p>
{{end}}{{range .Facts}}{{if .}}<table style="border-collapse: collapse; margin: 12px 0;">
{{range .}}<tr><th style="text-align: left; vertical-align: top; padding: 2px 16px 2px 0; white-space: nowrap;">{{.Label}}</th><td style="padding: 2px 0;">{{if .Code}}<code>{{.Value}}</code>{{else}}{{.Value}}{{end}}</td></tr>
{{end}}</table>
{{end}}{{end}}{{range .Sections}}<h3 style="margin: 20px 0 8px;">{{.Heading}}</h3>
{{range .Paras}}<p>{{.}}</p>
{{end}}{{if .Pre}}<pre style="background: #f4f4f4; padding: 10px; overflow-x: auto;">{{.Pre}}</pre>
{{end}}{{end}}<hr style="border: none; border-top: 1px solid #ddd; margin-top: 24px;">
<p style="color: #666; font-size: 13px;">{{.Footer}}</p>
</body>
</html>
`))

func renderHTML(v view) string {
	var b strings.Builder
	if err := htmlTmpl.Execute(&b, v); err != nil {
		// The template only reads strings and slices of v, so this cannot
		// happen; fall back to the escaped plain text rather than failing.
		return "<pre>" + template.HTMLEscapeString(renderText(v)) + "</pre>"
	}
	return b.String()
}
