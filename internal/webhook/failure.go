package webhook

import (
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Class is the outcome class of a failed delivery attempt, as decided by
// the delivery client. Reason turns a class into plain words.
type Class string

// The delivery outcome classes.
const (
	ClassHTTPStatus      Class = "http_status"      // the destination answered with a non-2xx, non-3xx status
	ClassTimeout         Class = "timeout"          // no complete answer within the delivery timeout
	ClassRefused         Class = "refused"          // TCP connection refused
	ClassDNS             Class = "dns"              // host name could not be resolved
	ClassTLS             Class = "tls"              // TLS handshake or certificate problem
	ClassRedirect        Class = "redirect"         // the destination answered with a 3xx status
	ClassConnectionReset Class = "connection_reset" // connection closed or reset before a response
	ClassOther           Class = "other"            // anything else

	// ClassForbiddenDestination: the destination resolved to an address
	// pusher does not deliver to (loopback, private, link-local and other
	// internal or special-purpose ranges), so nothing was dialled.
	ClassForbiddenDestination Class = "forbidden_destination"
)

// Failure is what went wrong in a failed delivery attempt: enough to put it
// into words later (see Reason), stored with failure notices.
type Failure struct {
	Class      Class
	StatusCode int           // HTTP status for ClassHTTPStatus and ClassRedirect; 0 if none
	Detail     string        // error text of transport failures
	Timeout    time.Duration // the delivery timeout in force, for ClassTimeout
}

// Reason is Reason(f.Class, f.StatusCode, destination, f.Detail, f.Timeout).
func (f Failure) Reason(destination string) string {
	return Reason(f.Class, f.StatusCode, destination, f.Detail, f.Timeout)
}

// maxDetail is the number of characters of a detail text kept in a reason.
const maxDetail = 160

// Reason describes the outcome of a failed delivery attempt in plain words
// for the person who owns the destination, for example
// "HTTP 503 from https://shop.example/hook" or
// "host name shop.example not found (DNS)".
//
// status is the HTTP status for ClassHTTPStatus and ClassRedirect (0 if
// unknown); timeout is the delivery timeout for ClassTimeout (0 if unknown).
// detail is optional extra text, typically the Go error text: it is appended,
// shortened to its first line and at most 160 characters, for ClassTLS and
// ClassOther, and ignored for the other classes, whose words already say what
// happened. An unknown class is treated as ClassOther. Passwords in the
// destination URL are replaced by "xxxxx".
func Reason(class Class, status int, destination, detail string, timeout time.Duration) string {
	dest := DisplayURL(destination)
	host, hostPort := destinationHost(destination)
	switch class {
	case ClassHTTPStatus:
		if status == 0 {
			return "unexpected HTTP status from " + dest
		}
		return "HTTP " + strconv.Itoa(status) + " from " + dest
	case ClassTimeout:
		if timeout <= 0 {
			return "no answer in time"
		}
		return "no answer within " + HumanDuration(timeout)
	case ClassRefused:
		return "connection refused by " + hostPort
	case ClassDNS:
		return "host name " + host + " not found (DNS)"
	case ClassTLS:
		s := "TLS handshake with host " + host + " failed"
		if strings.Contains(strings.ToLower(detail), "certificate") {
			s = "TLS certificate not valid for host " + host
		}
		return withDetail(s, detail)
	case ClassRedirect:
		if status == 0 {
			return "redirect — redirects are not followed"
		}
		return "redirect (HTTP " + strconv.Itoa(status) + ") — redirects are not followed"
	case ClassConnectionReset:
		return "connection closed before a response"
	case ClassForbiddenDestination:
		return "the destination resolves to an address pusher does not deliver to (an internal or special-purpose range)"
	default:
		return withDetail("delivery failed", detail)
	}
}

// withDetail appends a shortened detail to s.
func withDetail(s, detail string) string {
	d := brief(detail)
	if d == "" {
		return s
	}
	return s + ": " + d
}

// brief returns the first line of s, trimmed and cut to maxDetail characters.
func brief(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= maxDetail {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:maxDetail-1])) + "…"
}

// destinationHost returns the host name of a destination URL and the
// host:port a connection goes to (port 443 for https and 80 for http when the
// URL has none). If the URL cannot be parsed, both are the input unchanged.
func destinationHost(destination string) (host, hostPort string) {
	u, err := url.Parse(destination)
	if err != nil || u.Host == "" {
		return destination, destination
	}
	host = u.Hostname()
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		default:
			return host, host
		}
	}
	return host, net.JoinHostPort(host, port)
}

// DisplayURL returns destination as it may be shown in logs and e-mails:
// a password is replaced by "xxxxx", and so is every query-string value
// (receivers put tokens there: https://x.example/hook?token=xxxxx).
func DisplayURL(destination string) string {
	u, err := url.Parse(destination)
	if err != nil || (u.User == nil && u.RawQuery == "") {
		return destination
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{"xxxxx"}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// HumanDuration writes d with its two largest units, rounded down to whole
// seconds: "45 s", "1 min", "1 min 30 s", "2 h 13 min", "3 d 4 h".
// Durations under one second give "0 s"; negative durations are written as
// their absolute value.
func HumanDuration(d time.Duration) string {
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
