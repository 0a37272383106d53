// Package ssrftest runs a DNS server for tests whose answers the test sets,
// so host names can resolve to any address (internal ones, or one address
// at check time and another at dial time) without the machine's resolver.
package ssrftest

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// DNS is a DNS server on a UDP port of 127.0.0.1. It answers A and AAAA
// queries for the names set with Set, NXDOMAIN for other names, and an
// empty answer for other query types. It is safe for concurrent use.
type DNS struct {
	conn net.PacketConn

	mu      sync.Mutex
	answers map[string][]netip.Addr
	queries map[string]int
}

// NewDNS starts a DNS server that stops when the test ends.
func NewDNS(t testing.TB) *DNS {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ssrftest: %v", err)
	}
	d := &DNS{conn: conn, answers: map[string][]netip.Addr{}, queries: map[string]int{}}
	done := make(chan struct{})
	go func() { defer close(done); d.serve() }()
	t.Cleanup(func() { conn.Close(); <-done })
	return d
}

// Set makes name (without a trailing dot; any case) resolve to addrs,
// replacing what it resolved to before. It panics on an address that does
// not parse. Without addrs the name does not exist.
func (d *DNS) Set(name string, addrs ...string) {
	as := make([]netip.Addr, len(addrs))
	for i, s := range addrs {
		as[i] = netip.MustParseAddr(s)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answers[canonical(name)] = as
}

// Queries returns how many queries of any type asked for name.
func (d *DNS) Queries(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[canonical(name)]
}

// Resolver returns a pure-Go resolver that sends every query to d, whatever
// server the machine's resolv.conf names. Names in /etc/hosts are still
// answered from that file.
func (d *DNS) Resolver() *net.Resolver {
	addr := d.conn.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dialer net.Dialer
		return dialer.DialContext(ctx, "udp", addr)
	}}
}

func canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (d *DNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		if resp := d.answer(buf[:n]); resp != nil {
			d.conn.WriteTo(resp, from)
		}
	}
}

// The DNS wire values used here (RFC 1035).
const (
	typeA     = 1
	typeAAAA  = 28
	classIN   = 1
	rcodeNX   = 3
	flagQR    = 0x8000
	flagAA    = 0x0400
	flagRD    = 0x0100
	flagRA    = 0x0080
	headerLen = 12
)

// answer returns the response to the query q, or nil if q is malformed.
func (d *DNS) answer(q []byte) []byte {
	name, qtype, end, ok := parseQuestion(q)
	if !ok {
		return nil
	}
	addrs, known := d.lookup(name)
	flags := flagQR | flagAA | flagRA | binary.BigEndian.Uint16(q[2:])&flagRD
	if !known {
		flags |= rcodeNX
	}
	var rrs [][]byte
	for _, a := range addrs {
		if a.Is4() && qtype == typeA || a.Is6() && qtype == typeAAAA {
			rrs = append(rrs, resourceRecord(qtype, a.AsSlice()))
		}
	}
	resp := make([]byte, headerLen, 512)
	copy(resp, q[:2]) // ID
	binary.BigEndian.PutUint16(resp[2:], flags)
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(rrs)))
	resp = append(resp, q[headerLen:end]...) // the question
	for _, rr := range rrs {
		resp = append(resp, rr...)
	}
	return resp
}

func (d *DNS) lookup(name string) ([]netip.Addr, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queries[name]++
	addrs, ok := d.answers[name]
	return addrs, ok && len(addrs) > 0
}

// parseQuestion reads the first question of query q: its name in lower case
// without the final dot, its type, and where the question ends.
func parseQuestion(q []byte) (name string, qtype uint16, end int, ok bool) {
	if len(q) < headerLen || binary.BigEndian.Uint16(q[4:]) < 1 {
		return "", 0, 0, false
	}
	var labels []string
	i := headerLen
	for i < len(q) && q[i] != 0 {
		n := int(q[i])
		if n > 63 || i+1+n > len(q) {
			return "", 0, 0, false
		}
		labels = append(labels, string(q[i+1:i+1+n]))
		i += 1 + n
	}
	if i+5 > len(q) {
		return "", 0, 0, false
	}
	qtype = binary.BigEndian.Uint16(q[i+1:])
	return canonical(strings.Join(labels, ".")), qtype, i + 5, true
}

// resourceRecord is an answer for the question's name (a pointer to offset
// 12) with a TTL of 0.
func resourceRecord(rrtype uint16, rdata []byte) []byte {
	rr := []byte{0xc0, headerLen}
	rr = binary.BigEndian.AppendUint16(rr, rrtype)
	rr = binary.BigEndian.AppendUint16(rr, classIN)
	rr = binary.BigEndian.AppendUint32(rr, 0)
	rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
	return append(rr, rdata...)
}
