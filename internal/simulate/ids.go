package simulate

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
)

// gregorianOffset is the number of 100 ns intervals between the UUID epoch
// (1582-10-15) and the Unix epoch.
const gregorianOffset = 0x01B21DD213814000

// v1Source issues version-1 UUIDs the way one Zettle host would: a fixed
// clock sequence and node, and the time of the simulated clock. Like a real
// generator it never issues the same 100 ns tick twice, so ids created in
// the same instant differ in the last digit of time_low
// (4a98a670-… / 4a98a671-… in the published purchase).
type v1Source struct {
	clockSeq uint16
	node     [6]byte
	lastTick uint64
}

func newV1Source(rng *rand.Rand) *v1Source {
	s := &v1Source{clockSeq: uint16(rng.Uint32N(1 << 14))}
	binary.BigEndian.PutUint16(s.node[0:2], uint16(rng.Uint32()))
	binary.BigEndian.PutUint32(s.node[2:6], rng.Uint32())
	s.node[0] |= 0x01 // multicast bit: a random node id, not a MAC address
	return s
}

// at returns the next version-1 UUID for time t.
func (s *v1Source) at(t time.Time) string {
	tick := uint64(t.UnixNano()/100) + gregorianOffset
	if tick <= s.lastTick {
		tick = s.lastTick + 1
	}
	s.lastTick = tick
	var u uuid.UUID
	binary.BigEndian.PutUint32(u[0:4], uint32(tick))
	binary.BigEndian.PutUint16(u[4:6], uint16(tick>>32))
	binary.BigEndian.PutUint16(u[6:8], uint16(tick>>48)&0x0fff|0x1000)
	binary.BigEndian.PutUint16(u[8:10], s.clockSeq&0x3fff|0x8000)
	copy(u[10:], s.node[:])
	return u.String()
}

// randomV4 returns a version-4 UUID drawn from rng.
func randomV4(rng *rand.Rand) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[0:8], rng.Uint64())
	binary.BigEndian.PutUint64(u[8:16], rng.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}

// randomHex returns n random hexadecimal digits, lower case.
func randomHex(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rng.IntN(16)]
	}
	return string(b)
}

// randomDigits returns n random decimal digits.
func randomDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// Random streams: each use of a seed gets its own PCG stream so that, say,
// the organizations of a seed do not depend on how many events were made.
const (
	orgStream  = 0x6f726773 // "orgs"
	shopStream = 0x73686f70 // "shop"
)

// Orgs returns n organization UUIDs that look like Zettle's (version 4) and
// are the same for the same seed.
func Orgs(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, orgStream))
	orgs := make([]string, n)
	for i := range orgs {
		orgs[i] = randomV4(rng)
	}
	return orgs
}

// eventIDNamespace is the namespace of the version-5 event ids of simulated
// events.
var eventIDNamespace = uuid.MustParse("3f0c6a52-1b7e-4d1a-9c55-0e7b8a6d2f41")

// eventID returns the id of the n-th event of the stream of (seed, start):
// unique within the stream and the same every time the stream is replayed.
func eventID(seed uint64, start time.Time, n uint64) string {
	name := fmt.Appendf(nil, "%d/%d/%d", seed, start.UnixMilli(), n)
	return uuid.NewSHA1(eventIDNamespace, name).String()
}
