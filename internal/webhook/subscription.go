package webhook

import (
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Status is a subscription's delivery status as Zettle reports it.
type Status string

// The two statuses Zettle documents. A subscription whose retries run out is
// deleted, not disabled.
const (
	Active  Status = "ACTIVE"
	Failing Status = "FAILING"
)

// TransportWebhook is the only transport pusher (and Zettle, publicly) offers.
const TransportWebhook = "WEBHOOK"

// MaxContactEmailLength is Zettle's documented limit for contactEmail.
const MaxContactEmailLength = 512

// Subscription is one organization's webhook subscription, owned by the OAuth
// client that created it.
type Subscription struct {
	UUID             string
	OrganizationUUID string
	ClientID         string
	TransportName    string
	EventNames       []string // empty means all events
	Destination      string
	ContactEmail     string
	Status           Status
	SigningKey       string
	Created          time.Time
	Updated          time.Time

	// Delivery state, maintained by the store.
	FailingSince time.Time // start of the current failing episode; zero while ACTIVE
	Failures     int       // failed attempts in the current episode
	NextRetryAt  time.Time // when the head message is tried next while FAILING
	// LastFailingNoticeAt is when the last "failing" notice was queued; it
	// throttles them (RetryPolicy.FailingNoticeEvery).
	LastFailingNoticeAt time.Time
	// LastAttemptTimedOut is set while the last attempt of s timed out: s
	// then has one attempt in flight at a time until one succeeds, so a
	// destination that never answers ties up one worker, not several, and
	// an update does not re-arm it.
	LastAttemptTimedOut bool

	// pusher's extensions (docs/extensions.md), not part of Zettle's JSON.
	Settings Settings
	// PreviousSigningKey is the key SigningKey replaced at the last
	// rotation; deliveries are signed with it too until PreviousKeyExpires.
	PreviousSigningKey string
	PreviousKeyExpires time.Time
}

// Wants reports whether an event named eventName is delivered to s.
// Disconnect events are handled by the caller (they go to one client only).
func (s *Subscription) Wants(eventName string) bool {
	return len(s.EventNames) == 0 || slices.Contains(s.EventNames, eventName)
}

// IsUUIDv1 reports whether s is a hyphenated UUID whose version digit is 1.
// Like Zettle, it checks only the version digit, not the v1 timestamp.
func IsUUIDv1(s string) bool {
	return IsUUID(s) && s[14] == '1'
}

// IsUUID reports whether s is a UUID in the 8-4-4-4-12 hexadecimal form.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// IsEmail reports whether s is a bare e-mail address (no display name) of at
// most MaxContactEmailLength characters.
func IsEmail(s string) bool {
	if s == "" || len(s) > MaxContactEmailLength {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == "" && strings.Contains(a.Address, "@")
}

// CheckDestination returns "" if raw is an absolute HTTPS URL (or HTTP when
// allowHTTP is set), and otherwise a message saying what is wrong.
func CheckDestination(raw string, allowHTTP bool) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return "must be an absolute HTTPS URL"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if allowHTTP {
			return ""
		}
	}
	return "must be an HTTPS URL"
}
