package ssrf_test

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	dny "code.dny.dev/ssrf"

	"github.com/pusher-hq/pusher/internal/ssrf"
	"github.com/pusher-hq/pusher/internal/ssrf/ssrftest"
)

// testGuard returns a guard without allow-list whose resolver is a test DNS
// server knowing a few names.
func testGuard(t *testing.T, allow ...string) *ssrf.Guard {
	t.Helper()
	dns := ssrftest.NewDNS(t)
	dns.Set("internal.pusher.test", "10.0.0.5")
	dns.Set("meta.pusher.test", "169.254.169.254")
	dns.Set("mixed.pusher.test", "93.184.216.34", "192.168.1.1")
	dns.Set("v6internal.pusher.test", "fd00::1")
	dns.Set("mapped.pusher.test", "::ffff:127.0.0.1")
	dns.Set("cgnat.pusher.test", "100.64.1.1")
	dns.Set("nat64.pusher.test", "64:ff9b::a9fe:a9fe")
	dns.Set("shop.pusher.test", "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946")
	var prefixes []netip.Prefix
	for _, a := range allow {
		prefixes = append(prefixes, netip.MustParsePrefix(a))
	}
	return &ssrf.Guard{Allow: prefixes, Resolver: dns.Resolver()}
}

// refusedDestinations are destination URLs that must be refused before any
// dial: every form the audit tried and more.
var refusedDestinations = []string{
	// IPv4 loopback, unspecified, this network.
	"http://127.0.0.1:9000/hook", "https://127.1.2.3/", "http://0.0.0.0:9000/", "http://0.1.2.3/",
	// Private (RFC 1918), CGNAT.
	"https://10.0.0.1/", "https://10.255.255.255/", "https://172.16.0.1/", "https://172.31.255.254/",
	"https://192.168.1.1/", "https://100.64.0.1/", "https://100.127.255.254/",
	// Link-local and the cloud metadata service.
	"http://169.254.169.254/latest/meta-data/", "https://169.254.0.1/",
	// IETF assignments, documentation, benchmarking, 6to4 relay, AS112.
	"https://192.0.0.8/", "https://192.0.2.10/", "https://198.51.100.7/", "https://203.0.113.9/",
	"https://198.18.0.1/", "https://198.19.255.255/", "https://192.88.99.1/", "https://192.31.196.1/",
	// Multicast, reserved, broadcast.
	"https://224.0.0.1/", "https://239.255.255.250/", "https://240.0.0.1/", "https://255.255.255.255/",
	// Decimal, octal, hex and short IPv4 forms.
	"http://2130706433/", "http://017700000001/", "http://0x7f000001/", "http://0177.0.0.1/",
	"http://0x7f.1/", "http://127.1/", "http://0x7f.0.0.1/", "http://0300.0250.0.1/",
	"http://3232235777/", "http://0xa9fea9fe/", "http://0/", "http://0x0a.0x00.0x00.0x01/",
	// Numeric hosts that are no address at all.
	"http://08.1.2.3/", "http://1.2.3.4.5/", "http://999.1.1.1/", "http://shop.123/",
	// Trailing dots.
	"http://127.0.0.1./", "http://localhost./", "http://internal.pusher.test./", "http://0x7f.1./",
	// localhost names.
	"http://localhost:9000/", "https://LOCALHOST/", "https://foo.localhost/", "https://a.b.localhost./",
	// IPv6 loopback, unspecified, link-local, ULA, multicast, site-local.
	"http://[::1]:9001/", "http://[::]:9001/", "http://[0:0:0:0:0:0:0:1]/", "http://[fe80::1%25lo]:9000/",
	"https://[fe80::1]/", "https://[fc00::1]/", "https://[fd12:3456::1]/", "https://[ff02::1]/",
	"https://[fec0::1]/", "https://[100::1]/", "https://[5f00::1]/",
	// IPv6 documentation and benchmarking.
	"https://[2001:db8::1]/", "https://[3fff::1]/", "https://[2001:2::1]/",
	// IPv6 forms embedding an IPv4 address.
	"http://[::ffff:127.0.0.1]:9000/", "http://[::ffff:7f00:1]/", "http://[::ffff:169.254.169.254]/",
	"http://[::ffff:10.0.0.1]/", "http://[::127.0.0.1]/", "http://[::10.0.0.1]/",
	"http://[64:ff9b::127.0.0.1]/", "http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::a00:1]/",
	"http://[2002:7f00:1::1]/", "http://[2002:c0a8:101::1]/", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
	// Names resolving to internal addresses (test DNS).
	"https://internal.pusher.test/", "https://meta.pusher.test/", "https://mixed.pusher.test/",
	"https://v6internal.pusher.test/", "https://mapped.pusher.test/", "https://cgnat.pusher.test/",
	"https://nat64.pusher.test/", "https://INTERNAL.pusher.test/",
}

// allowedDestinations are public destinations the checker accepts. Nothing
// is dialled: names resolve through the test DNS.
var allowedDestinations = []string{
	"https://93.184.216.34/", "https://8.8.8.8/", "https://1.1.1.1/",
	"https://[2606:4700:4700::1111]/", "https://[2001:4860:4860::8888]/", "https://[::ffff:8.8.8.8]/",
	"https://100.128.0.1/", "https://172.32.0.1/", "https://192.169.0.1/", "https://11.0.0.1/",
	"https://169.255.0.1/", "https://198.20.0.1/", "https://223.255.255.255/", "https://192.0.3.1/",
	"http://134744072/", "https://0x08080808/",
	"https://shop.pusher.test/hook", "https://shop.pusher.test./hook", "https://unknown.pusher.test/",
	"https://localhost.shop.pusher.test/",
}

func TestCheckHostRefusesInternalDestinations(t *testing.T) {
	g := testGuard(t)
	refused := 0
	for _, dest := range refusedDestinations {
		err := checkURL(t, g, dest)
		if errors.Is(err, ssrf.ErrForbidden) {
			refused++
			continue
		}
		t.Errorf("CheckHost(%s) = %v, want a forbidden destination", dest, err)
	}
	t.Logf("refused %d of %d internal destinations before dialling", refused, len(refusedDestinations))
	if len(refusedDestinations) < 40 {
		t.Errorf("only %d refused destinations in the table", len(refusedDestinations))
	}
}

func TestCheckHostAllowsPublicDestinations(t *testing.T) {
	g := testGuard(t)
	allowed := 0
	for _, dest := range allowedDestinations {
		if err := checkURL(t, g, dest); err != nil {
			t.Errorf("CheckHost(%s) = %v, want nil", dest, err)
			continue
		}
		allowed++
	}
	t.Logf("allowed %d of %d public destinations (checker only, nothing dialled)", allowed, len(allowedDestinations))
}

func checkURL(t *testing.T, g *ssrf.Guard, dest string) error {
	t.Helper()
	u, err := url.Parse(dest)
	if err != nil {
		t.Fatalf("url.Parse(%s) = %v", dest, err)
	}
	return g.CheckHost(context.Background(), u.Hostname())
}

func TestAllowList(t *testing.T) {
	tests := []struct {
		allow   []string
		dest    string
		allowed bool
	}{
		{[]string{"127.0.0.0/8", "::1/128"}, "http://127.0.0.1:9000/", true},
		{[]string{"127.0.0.0/8", "::1/128"}, "http://[::1]:9000/", true},
		{[]string{"127.0.0.0/8", "::1/128"}, "http://localhost:9000/", true},
		{[]string{"127.0.0.0/8", "::1/128"}, "http://[::ffff:127.0.0.1]:9000/", true},
		{[]string{"127.0.0.0/8", "::1/128"}, "http://0x7f.1/", true},
		{[]string{"127.0.0.0/8", "::1/128"}, "http://10.0.0.1/", false},
		{[]string{"127.0.0.0/8", "::1/128"}, "http://[64:ff9b::7f00:1]/", false},
		{[]string{"127.0.0.0/8"}, "http://localhost/", false}, // ::1 is not allowed
		{[]string{"127.0.0.2/32"}, "http://127.0.0.1/", false},
		{[]string{"10.1.0.0/16"}, "https://10.1.2.3/", true},
		{[]string{"10.1.0.0/16"}, "https://10.2.0.1/", false},
		{[]string{"10.1.0.0/16"}, "https://internal.pusher.test/", false},
		{[]string{"10.0.0.0/24"}, "https://internal.pusher.test/", true},
		{[]string{"fd00::/8"}, "https://v6internal.pusher.test/", true},
		{[]string{"64:ff9b::/96"}, "https://[64:ff9b::808:808]/", true},
		{[]string{"64:ff9b::/96"}, "https://[64:ff9b::7f00:1]/", false}, // embeds loopback
		{[]string{"64:ff9b::/96", "127.0.0.0/8"}, "https://[64:ff9b::7f00:1]/", true},
		{[]string{"2002::/16"}, "https://[2002:808:808::1]/", true},
		{[]string{"2002::/16"}, "https://[2002:7f00:1::1]/", false},
		{[]string{"2001::/32"}, "https://[2001:0:4136:e378:8000:63bf:f7f7:f7f7]/", true},  // client 8.8.8.8
		{[]string{"2001::/32"}, "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", false}, // client 192.0.2.45
		{[]string{"2001::/32"}, "https://[2001:0:a00:1:8000:63bf:f7f7:f7f7]/", false},     // server 10.0.0.1
		{[]string{"2001::/32"}, "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", false}, // client 127.0.0.1
	}
	for _, tt := range tests {
		g := testGuard(t, tt.allow...)
		err := checkURL(t, g, tt.dest)
		if (err == nil) != tt.allowed {
			t.Errorf("allow %v: CheckHost(%s) = %v, want allowed %v", tt.allow, tt.dest, err, tt.allowed)
		}
	}
}

// The dial hook checks the address actually dialled.
func TestControl(t *testing.T) {
	g := &ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}}
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1:80", false}, {"127.0.0.2:8080", true}, {"[::1]:443", false}, {"[::ffff:127.0.0.2]:80", true},
		{"[fe80::1%lo]:9000", false}, {"169.254.169.254:80", false}, {"10.0.0.1:443", false},
		{"[64:ff9b::7f00:1]:80", false}, {"[2002:7f00:1::]:80", false}, {"0.0.0.0:9000", false}, {"[::]:9000", false},
		{"8.8.8.8:443", true}, {"[2606:4700:4700::1111]:443", true}, {"not an address", false}, {"127.0.0.2", false},
	}
	for _, tt := range tests {
		err := g.Control("tcp", tt.addr, nil)
		if (err == nil) != tt.allowed {
			t.Errorf("Control(%q) = %v, want allowed %v", tt.addr, err, tt.allowed)
		}
		if err != nil && !errors.Is(err, ssrf.ErrForbidden) {
			t.Errorf("Control(%q) = %v, not ErrForbidden", tt.addr, err)
		}
	}
}

// Every range of the library's IANA tables and of pusher's named table is
// refused, at its first and last address.
func TestEveryRegistryRangeRefused(t *testing.T) {
	var g ssrf.Guard
	prefixes := append(append([]netip.Prefix{}, dny.IPv4DeniedPrefixes...), dny.IPv6DeniedPrefixes...)
	for _, p := range prefixes {
		for _, a := range []netip.Addr{p.Masked().Addr(), lastAddr(p)} {
			if err := g.CheckAddr(a); err == nil {
				t.Errorf("CheckAddr(%s) in %s = nil, want refused", a, p)
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// The error text says what was refused, for logs.
func TestForbiddenErrorText(t *testing.T) {
	err := testGuard(t).CheckHost(context.Background(), "meta.pusher.test")
	var fe *ssrf.ForbiddenError
	if !errors.As(err, &fe) {
		t.Fatalf("CheckHost = %v, want *ForbiddenError", err)
	}
	if want := "ssrf: host meta.pusher.test: 169.254.169.254 is link-local (169.254.0.0/16), not a destination pusher delivers to"; err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	err = (*ssrf.Guard)(nil).CheckHost(context.Background(), "2002:7f00:1::1")
	if err == nil || !strings.Contains(err.Error(), "6to4 (2002::/16) embedding 127.0.0.1, loopback") {
		t.Errorf("6to4 error = %v", err)
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ssrf.ParseCIDRs(" 127.0.0.0/8, ::1/128,,10.1.2.3 , fd00::/8")
	const want = "127.0.0.0/8 ::1/128 10.1.2.3/32 fd00::/8"
	if s := strings.Join(prefixStrings(got), " "); err != nil || s != want {
		t.Errorf("ParseCIDRs = %s, %v; want %s", s, err, want)
	}
	if got, err := ssrf.ParseCIDRs(""); got != nil || err != nil {
		t.Errorf("ParseCIDRs(\"\") = %v, %v; want nil, nil", got, err)
	}
	for entry, words := range map[string]string{
		"10.0.0.0/33":         "not a CIDR",
		"banana":              "not a CIDR",
		"10.1.2.3/8":          "did you mean 10.0.0.0/8?",
		"::ffff:10.0.0.0/104": "IPv4 form",
		"fe80::1%eth0":        "not a CIDR",
	} {
		_, err := ssrf.ParseCIDRs("127.0.0.0/8," + entry)
		if err == nil || !strings.Contains(err.Error(), words) || !strings.Contains(err.Error(), entry) {
			t.Errorf("ParseCIDRs(%q) = %v, want an error naming it and saying %q", entry, err, words)
		}
	}
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
