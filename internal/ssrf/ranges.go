package ssrf

import (
	"cmp"
	"net/netip"
	"slices"

	dny "code.dny.dev/ssrf"
)

// namedRange is a range of addresses pusher does not deliver to, with the
// words that say what it is.
type namedRange struct {
	prefix netip.Prefix
	name   string
}

// named lists the refused ranges with their names, most specific first. The
// IANA special-purpose registries, as generated into code.dny.dev/ssrf, are
// refused too (see deniedByRegistry); this table names the common ranges and
// makes sure each range pusher documents is refused whatever that library
// holds.
var named = sortedBySpecificity([]namedRange{
	// IPv4.
	r("0.0.0.0/8", "this network"),
	r("10.0.0.0/8", "private (RFC 1918)"),
	r("100.64.0.0/10", "shared address space, CGNAT (RFC 6598)"),
	r("127.0.0.0/8", "loopback"),
	r("169.254.0.0/16", "link-local"),
	r("172.16.0.0/12", "private (RFC 1918)"),
	r("192.0.0.0/24", "IETF protocol assignments"),
	r("192.0.2.0/24", "documentation (TEST-NET-1)"),
	r("192.88.99.0/24", "6to4 relay anycast"),
	r("192.168.0.0/16", "private (RFC 1918)"),
	r("198.18.0.0/15", "benchmarking"),
	r("198.51.100.0/24", "documentation (TEST-NET-2)"),
	r("203.0.113.0/24", "documentation (TEST-NET-3)"),
	r("224.0.0.0/4", "multicast"),
	r("240.0.0.0/4", "reserved"),
	r("255.255.255.255/32", "broadcast"),
	// IPv6.
	r("::/128", "unspecified"),
	r("::1/128", "loopback"),
	r("::ffff:0:0/96", "IPv4-mapped"),
	r("::/96", "IPv4-compatible (deprecated)"),
	r("64:ff9b::/96", "NAT64"),
	r("64:ff9b:1::/48", "local-use NAT64"),
	r("100::/64", "discard-only"),
	r("2001::/32", "Teredo"),
	r("2001:2::/48", "benchmarking"),
	r("2001:db8::/32", "documentation"),
	r("2001::/23", "IETF protocol assignments"),
	r("2002::/16", "6to4"),
	r("3fff::/20", "documentation"),
	r("5f00::/16", "segment routing (SRv6) SIDs"),
	r("fc00::/7", "unique local (ULA)"),
	r("fe80::/10", "link-local"),
	r("fec0::/10", "site-local (deprecated)"),
	r("ff00::/8", "multicast"),
})

func r(prefix, name string) namedRange {
	return namedRange{netip.MustParsePrefix(prefix), name}
}

// sortedBySpecificity sorts rs longest prefix first, so the first range that
// contains an address is the most specific one.
func sortedBySpecificity(rs []namedRange) []namedRange {
	slices.SortStableFunc(rs, func(a, b namedRange) int { return cmp.Compare(b.prefix.Bits(), a.prefix.Bits()) })
	return rs
}

// refusedRange returns the words for the refused range holding a (which has
// no zone and is not IPv4-mapped), or "" if a is in none. It does not look at
// the allow-list or at embedded IPv4 addresses.
func refusedRange(a netip.Addr) string {
	for _, nr := range named {
		if nr.prefix.Contains(a) {
			return nr.name + " (" + nr.prefix.String() + ")"
		}
	}
	return deniedByRegistry(a)
}

// deniedByRegistry returns words for a if code.dny.dev/ssrf's tables, which
// follow the IANA special-purpose registries, deny it, and "" otherwise. For
// IPv6 everything outside global unicast 2000::/3 is denied.
func deniedByRegistry(a netip.Addr) string {
	if a.Is6() && !dny.IPv6GlobalUnicast.Contains(a) {
		return "outside IPv6 global unicast (" + dny.IPv6GlobalUnicast.String() + ")"
	}
	table := dny.IPv4DeniedPrefixes
	if a.Is6() {
		table = dny.IPv6DeniedPrefixes
	}
	for _, p := range table {
		if p.Contains(a) {
			return "IANA special-purpose (" + p.String() + ")"
		}
	}
	return ""
}

// embeddedIPv4 returns the IPv4 addresses that traffic to the IPv6 address a
// ends up at, or that a stands for: the last 32 bits of an IPv4-compatible
// address (::/96, but not :: and ::1) or of a NAT64 address (64:ff9b::/96),
// bits 16–47 of a 6to4 address (2002::/16), and the server and (inverted)
// client of a Teredo address (2001::/32). It returns nil for other
// addresses. The local-use NAT64 prefix 64:ff9b:1::/48 lets the operator
// choose where the IPv4 address sits, so it is refused as a whole instead.
func embeddedIPv4(a netip.Addr) []netip.Addr {
	b := a.As16()
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte(b[i : i+4])) }
	switch {
	case v4Compatible.Contains(a) && !unspecifiedOrLoopback6.Contains(a), nat64.Contains(a):
		return []netip.Addr{v4(12)}
	case sixToFour.Contains(a):
		return []netip.Addr{v4(2)}
	case teredo.Contains(a):
		client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
		return []netip.Addr{v4(4), netip.AddrFrom4(client)}
	}
	return nil
}

// The IPv6 prefixes that embed an IPv4 address.
var (
	v4Compatible           = netip.MustParsePrefix("::/96")
	unspecifiedOrLoopback6 = netip.MustParsePrefix("::/127")
	nat64                  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour              = netip.MustParsePrefix("2002::/16")
	teredo                 = netip.MustParsePrefix("2001::/32")
)
