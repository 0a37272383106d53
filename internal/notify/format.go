package notify

import (
	"strconv"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// timeLayout is RFC 1123 with the zone always written as UTC.
const timeLayout = "Mon, 02 Jan 2006 15:04:05 UTC"

// formatTime formats t in UTC, RFC 1123 style: "Mon, 29 Mar 2021 16:31:47 UTC".
// The zero time gives "".
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// relative describes t as seen from ref: "in 1 min", "5 min ago" or "now".
// It returns "" if either time is zero.
func relative(t, ref time.Time) string {
	if t.IsZero() || ref.IsZero() {
		return ""
	}
	d := t.Sub(ref)
	switch {
	case d >= time.Second:
		return "in " + webhook.HumanDuration(d)
	case d <= -time.Second:
		return webhook.HumanDuration(d) + " ago"
	default:
		return "now"
	}
}

// whenText formats t with its distance from ref in parentheses, as in
// "Mon, 29 Mar 2021 16:32:47 UTC (in 1 min)". The zero time gives "".
func whenText(t, ref time.Time) string {
	s := formatTime(t)
	if s == "" {
		return ""
	}
	if r := relative(t, ref); r != "" {
		s += " (" + r + ")"
	}
	return s
}

// plural returns "1 message" or "3 messages".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
