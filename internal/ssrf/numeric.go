package ssrf

import (
	"net/netip"
	"strconv"
	"strings"
)

// isNumericHost reports whether h looks like an IPv4 address in some
// notation: every label is decimal digits or 0x followed by hex digits, or
// the last label is all digits (no DNS name ends in one).
func isNumericHost(h string) bool {
	labels := strings.Split(h, ".")
	if isDigits(labels[len(labels)-1]) {
		return true
	}
	for _, l := range labels {
		if !isDigits(l) && !isHexLabel(l) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isHexLabel reports whether s is 0x or 0X followed by hex digits (maybe none).
func isHexLabel(s string) bool {
	if len(s) < 2 || s[0] != '0' || s[1] != 'x' && s[1] != 'X' {
		return false
	}
	_, err := strconv.ParseUint("0"+s[2:], 16, 64)
	return err == nil
}

// parseInetAton parses h as inet_aton(3) does: one to four parts, each
// decimal, octal (leading 0) or hex (leading 0x); the last part fills the
// bytes the others leave, so 2130706433, 0x7f.1 and 0177.0.0.1 all are
// 127.0.0.1. ok is false if h is not such a form or a part is too large.
func parseInetAton(h string) (a netip.Addr, ok bool) {
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		n, ok := parseAtonPart(p)
		limit := uint64(0xff)
		if i == len(parts)-1 {
			limit = 1<<(8*(5-len(parts))) - 1
		}
		if !ok || n > limit {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			v |= n << (8 * (3 - i))
		} else {
			v |= n
		}
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// parseAtonPart parses one part of an inet_aton form.
func parseAtonPart(p string) (uint64, bool) {
	base, digits := 10, p
	switch {
	case isHexLabel(p):
		base, digits = 16, "0"+p[2:]
	case len(p) > 1 && p[0] == '0':
		base = 8
	case !isDigits(p):
		return 0, false
	}
	n, err := strconv.ParseUint(digits, base, 32)
	return n, err == nil
}
