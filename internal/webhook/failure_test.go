package webhook

import (
	"strings"
	"testing"
	"time"
)

func TestReason(t *testing.T) {
	const dest = "https://shop.example/hook"
	long := "x509: certificate is valid for other.example, not shop.example" + strings.Repeat(" and more", 40)
	tests := []struct {
		name    string
		class   Class
		status  int
		dest    string
		detail  string
		timeout time.Duration
		want    string
	}{
		{"status", ClassHTTPStatus, 503, dest, "ignored", 0, "HTTP 503 from https://shop.example/hook"},
		{"status unknown", ClassHTTPStatus, 0, dest, "", 0, "unexpected HTTP status from https://shop.example/hook"},
		{"status hides password", ClassHTTPStatus, 401, "https://u:pw@shop.example/x", "", 0, "HTTP 401 from https://u:xxxxx@shop.example/x"},
		{"status hides query values", ClassHTTPStatus, 401, "https://shop.example/x?token=s3cret&a=b", "", 0, "HTTP 401 from https://shop.example/x?a=xxxxx&token=xxxxx"},
		{"timeout", ClassTimeout, 0, dest, "context deadline exceeded", 10 * time.Second, "no answer within 10 s"},
		{"timeout 90s", ClassTimeout, 0, dest, "", 90 * time.Second, "no answer within 1 min 30 s"},
		{"timeout unknown", ClassTimeout, 0, dest, "", 0, "no answer in time"},
		{"refused default port", ClassRefused, 0, dest, "dial tcp: connection refused", 0, "connection refused by shop.example:443"},
		{"refused explicit port", ClassRefused, 0, "https://shop.example:8443/hook", "", 0, "connection refused by shop.example:8443"},
		{"refused http", ClassRefused, 0, "http://shop.example/hook", "", 0, "connection refused by shop.example:80"},
		{"refused ipv6", ClassRefused, 0, "https://[2001:db8::1]/hook", "", 0, "connection refused by [2001:db8::1]:443"},
		{"dns", ClassDNS, 0, dest, "lookup shop.example: no such host", 0, "host name shop.example not found (DNS)"},
		{"tls certificate", ClassTLS, 0, dest, "tls: failed to verify certificate: x509: certificate has expired", 0,
			"TLS certificate not valid for host shop.example: tls: failed to verify certificate: x509: certificate has expired"},
		{"tls certificate no detail", ClassTLS, 0, dest, "", 0, "TLS handshake with host shop.example failed"},
		{"tls handshake", ClassTLS, 0, dest, "remote error: tls: handshake failure\nsecond line", 0,
			"TLS handshake with host shop.example failed: remote error: tls: handshake failure"},
		{"tls long detail", ClassTLS, 0, dest, long, 0,
			"TLS certificate not valid for host shop.example: " + strings.TrimSpace(long[:maxDetail-1]) + "…"},
		{"redirect", ClassRedirect, 302, dest, "", 0, "redirect (HTTP 302) — redirects are not followed"},
		{"redirect unknown", ClassRedirect, 0, dest, "", 0, "redirect — redirects are not followed"},
		{"reset", ClassConnectionReset, 0, dest, "read: connection reset by peer", 0, "connection closed before a response"},
		{"forbidden destination", ClassForbiddenDestination, 0, "http://127.0.0.1:9000/hook", "dial tcp 127.0.0.1:9000: ssrf: 127.0.0.1 is loopback", 0,
			"the destination resolves to an address pusher does not deliver to (an internal or special-purpose range)"},
		{"other", ClassOther, 0, dest, "  something odd  ", 0, "delivery failed: something odd"},
		{"other no detail", ClassOther, 0, dest, "", 0, "delivery failed"},
		{"unknown class", Class("martian"), 0, dest, "boom", 0, "delivery failed: boom"},
		{"unparsable destination", ClassDNS, 0, "::not a url", "", 0, "host name ::not a url not found (DNS)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Reason(tt.class, tt.status, tt.dest, tt.detail, tt.timeout)
			if got != tt.want {
				t.Errorf("Reason(%q, %d, %q, %q, %v) =\n  %q\nwant\n  %q", tt.class, tt.status, tt.dest, tt.detail, tt.timeout, got, tt.want)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0 s"},
		{900 * time.Millisecond, "0 s"},
		{45 * time.Second, "45 s"},
		{time.Minute, "1 min"},
		{90 * time.Second, "1 min 30 s"},
		{2*time.Hour + 13*time.Minute + 59*time.Second, "2 h 13 min"},
		{2*time.Hour + 5*time.Second, "2 h"},
		{71*time.Hour + 40*time.Minute, "2 d 23 h"},
		{72 * time.Hour, "3 d"},
		{-5 * time.Minute, "5 min"},
	}
	for _, tt := range tests {
		if got := HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q; want %q", tt.d, got, tt.want)
		}
	}
}
