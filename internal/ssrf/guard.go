// Package ssrf keeps webhook deliveries away from the network pusher runs in.
// A Guard refuses loopback, private, link-local, CGNAT, multicast,
// documentation, benchmarking and every other IANA special-purpose address,
// and IPv6 addresses that stand for or lead to such an IPv4 address
// (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo), unless an explicit
// allow-list holds the address.
//
// Its Control method is a net.Dialer Control hook: it sees the address
// actually dialled, after DNS, so a name that resolves to a public address
// when checked and to an internal one when dialled (DNS rebinding) is still
// refused. CheckHost checks a destination's host before any dial, including
// the numeric IPv4 forms (2130706433, 0177.0.0.1, 0x7f.1) and localhost names
// that resolvers treat in different ways.
//
// The range table comes from code.dny.dev/ssrf, generated from the IANA
// registries, plus a named table of the ranges pusher documents.
package ssrf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrForbidden is in the chain of every error a Guard returns.
var ErrForbidden = errors.New("forbidden destination address")

// ForbiddenError is a refused address or host. Its text names the address
// and its range: it is for logs and tests, never for API clients, to whom
// pusher answers with one fixed message.
type ForbiddenError struct {
	Host  string     // the host name as given; "" for a dialled address
	Addr  netip.Addr // the refused address; invalid when refused by name
	Range string     // what the address or name is, e.g. "loopback (127.0.0.0/8)"
}

func (e *ForbiddenError) Error() string {
	s := "ssrf: "
	if e.Host != "" {
		s += "host " + e.Host + ": "
	}
	if e.Addr.IsValid() {
		s += e.Addr.String() + " is "
	}
	return s + e.Range + ", not a destination pusher delivers to"
}

// Is makes errors.Is(err, ErrForbidden) hold.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Guard decides which addresses destinations may have. The zero value, and a
// nil *Guard, refuse every internal and special-purpose address and resolve
// host names with net.DefaultResolver. A Guard must not be changed once in
// use; it is safe for concurrent use.
type Guard struct {
	// Allow lists ranges that are accepted although internal, for
	// on-premise receivers and local development. It wins over the range
	// table, except that an IPv4 address embedded in an allowed IPv6
	// address (NAT64, 6to4, Teredo) must be allowed too.
	Allow []netip.Prefix
	// Resolver resolves host names for CheckHost and for dialers built with
	// it (see Dialer); nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// CheckAddr returns nil if a may be connected to, and otherwise a
// *ForbiddenError. IPv6 zones are ignored and IPv4-mapped IPv6 addresses are
// checked as the IPv4 address they are. An invalid address is refused.
func (g *Guard) CheckAddr(a netip.Addr) error {
	if why := g.refused(a); why != "" {
		return &ForbiddenError{Addr: a, Range: why}
	}
	return nil
}

// refused returns why a is refused, or "" if it is not.
func (g *Guard) refused(a netip.Addr) string {
	a = a.WithZone("").Unmap()
	if !a.IsValid() {
		return "not a valid IP address"
	}
	for _, e := range embeddedIPv4(a) {
		if why := g.refused(e); why != "" {
			return refusedRange(a) + " embedding " + e.String() + ", " + why
		}
	}
	if g.allowed(a) {
		return ""
	}
	return refusedRange(a)
}

func (g *Guard) allowed(a netip.Addr) bool {
	if g == nil {
		return false
	}
	for _, p := range g.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control hook: it refuses to connect unless the
// dialled address (an "ip:port" after resolution) passes CheckAddr. An
// address it cannot parse is refused too. network is not looked at.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &ForbiddenError{Range: "unparsable dial address " + address}
	}
	return g.CheckAddr(ap.Addr())
}

// Dialer returns a net.Dialer with the timeouts of http.DefaultTransport's
// (30 s to connect, 30 s keep-alive) that resolves with g's Resolver and
// refuses every connection Control refuses.
func (g *Guard) Dialer() *net.Dialer {
	return &net.Dialer{Timeout: dialTimeout, KeepAlive: dialTimeout, Control: g.Control, Resolver: g.resolver()}
}

// dialTimeout is http.DefaultTransport's connect timeout and keep-alive.
const dialTimeout = 30 * time.Second

func (g *Guard) resolver() *net.Resolver {
	if g == nil || g.Resolver == nil {
		return net.DefaultResolver
	}
	return g.Resolver
}

// CheckHost checks the host of a destination URL (as url.URL.Hostname
// returns it) before anything is dialled, and returns nil or a
// *ForbiddenError. One trailing dot is ignored. It refuses:
//   - IP addresses that CheckAddr refuses, in standard form or in the
//     numeric forms inet_aton accepts (2130706433, 0177.0.0.1, 0x7f.1), and
//     hosts made only of numbers that are neither (no DNS name ends in an
//     all-numeric label);
//   - "localhost" and names under ".localhost", which stand for 127.0.0.1
//     and ::1 whatever DNS says, unless both of those are allowed;
//   - other names if any address they resolve to is refused.
//
// A name that does not resolve passes: the dial then fails with the DNS error.
func (g *Guard) CheckHost(ctx context.Context, host string) error {
	h := strings.TrimSuffix(host, ".")
	if literal, err := g.checkLiteral(host, h); literal {
		return err
	}
	addrs, err := g.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if why := g.refused(a); why != "" {
			return &ForbiddenError{Host: host, Addr: a, Range: why}
		}
	}
	return nil
}

// checkLiteral checks h (host without its trailing dot) if it is an
// address, a numeric form or a localhost name; literal is false if it is
// none of them, a name to resolve.
func (g *Guard) checkLiteral(host, h string) (literal bool, err error) {
	if h == "" {
		return true, &ForbiddenError{Host: host, Range: "an empty host"}
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return true, g.hostErr(host, a)
	}
	if isNumericHost(h) {
		a, ok := parseInetAton(h)
		if !ok {
			return true, &ForbiddenError{Host: host, Range: "a malformed numeric address"}
		}
		return true, g.hostErr(host, a)
	}
	if lower := strings.ToLower(h); lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		for _, a := range localhostAddrs {
			if why := g.refused(a); why != "" {
				return true, &ForbiddenError{Host: host, Addr: a, Range: "a localhost name for " + why}
			}
		}
		return true, nil
	}
	return false, nil
}

// localhostAddrs are what localhost names stand for (RFC 6761 §6.3).
var localhostAddrs = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}

func (g *Guard) hostErr(host string, a netip.Addr) error {
	if why := g.refused(a); why != "" {
		return &ForbiddenError{Host: host, Addr: a, Range: why}
	}
	return nil
}
