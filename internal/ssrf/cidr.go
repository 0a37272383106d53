package ssrf

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseCIDRs parses a comma-separated list of CIDRs such as
// "10.1.0.0/16, fd00:1::/64" for Guard.Allow. Spaces around entries are
// ignored, and a bare address means just that address (/32 or /128). An
// empty list gives nil. The error names the first bad entry: one that is not
// a CIDR, has bits set after the prefix length (10.1.2.3/8), has a zone, or
// writes an IPv4 range in IPv4-mapped IPv6 form.
func ParseCIDRs(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		p, err := parseCIDR(entry)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parseCIDR(entry string) (netip.Prefix, error) {
	if !strings.Contains(entry, "/") {
		a, err := netip.ParseAddr(entry)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or fd00::/8", entry)
		}
		entry = netip.PrefixFrom(a, a.BitLen()).String()
	}
	p, err := netip.ParsePrefix(entry)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or fd00::/8", entry)
	case p.Addr().Is4In6():
		return netip.Prefix{}, fmt.Errorf("%q: write IPv4 ranges in IPv4 form, like 10.0.0.0/8", entry)
	case p.Masked() != p:
		return netip.Prefix{}, fmt.Errorf("%q has bits set after the prefix length; did you mean %s?", entry, p.Masked())
	}
	return p, nil
}
