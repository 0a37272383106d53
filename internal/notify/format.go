package notify

import (
	"strconv"
	"strings"
	"time"
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

// humanDuration writes d with its two largest units, rounded down to whole
// seconds: "45 s", "1 min", "1 min 30 s", "2 h 13 min", "3 d 4 h".
// Durations under one second give "0 s"; negative durations are written as
// their absolute value.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	secs := int64(d / time.Second)
	units := []struct {
		name string
		size int64
	}{{"d", 86400}, {"h", 3600}, {"min", 60}, {"s", 1}}
	var parts []string
	for _, u := range units {
		if len(parts) == 2 {
			break
		}
		n := secs / u.size
		secs -= n * u.size
		switch {
		case n > 0:
			parts = append(parts, strconv.FormatInt(n, 10)+" "+u.name)
		case len(parts) == 1:
			// A zero second unit ends the phrase: "2 h", not "2 h 0 min 5 s".
			parts = append(parts, "")
		}
	}
	if len(parts) == 0 {
		return "0 s"
	}
	return strings.TrimSpace(strings.Join(parts, " "))
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
		return "in " + humanDuration(d)
	case d <= -time.Second:
		return humanDuration(d) + " ago"
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
