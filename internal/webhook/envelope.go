package webhook

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// TimestampLayout is the envelope timestamp format: UTC with milliseconds.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// FormatTimestamp formats t as an envelope timestamp.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }

// Envelope is the JSON object pusher POSTs to a destination (pusher-api.md §3.2).
type Envelope struct {
	OrganizationUUID string
	MessageUUID      string
	EventName        string
	MessageID        string
	Payload          string // compact JSON text, sent as a JSON string
	Timestamp        string // FormatTimestamp of the event time
}

// Bytes returns the envelope as Zettle sends it: compact JSON with the keys in
// the order organizationUuid, messageUuid, eventName, messageId, payload,
// timestamp, and only the escaping JSON requires.
func (e Envelope) Bytes() []byte {
	var b bytes.Buffer
	b.Grow(len(e.Payload)*11/10 + 220)
	field := func(sep, name, value string) {
		b.WriteString(sep)
		AppendJSONString(&b, name)
		b.WriteByte(':')
		AppendJSONString(&b, value)
	}
	field("{", "organizationUuid", e.OrganizationUUID)
	field(",", "messageUuid", e.MessageUUID)
	field(",", "eventName", e.EventName)
	field(",", "messageId", e.MessageID)
	field(",", "payload", e.Payload)
	field(",", "timestamp", e.Timestamp)
	b.WriteByte('}')
	return b.Bytes()
}

// NewEnvelope builds the envelope of one event. messageID must be a UUID; the
// messageUuid is derived from it and ts as MessageUUID describes.
func NewEnvelope(org, eventName, messageID, payload string, ts time.Time) Envelope {
	ts = ts.UTC().Truncate(time.Millisecond)
	return Envelope{
		OrganizationUUID: org,
		MessageUUID:      MessageUUID(ts, messageID),
		EventName:        eventName,
		MessageID:        messageID,
		Payload:          payload,
		Timestamp:        FormatTimestamp(ts),
	}
}

// gregorianOffset is the number of 100 ns intervals between 1582-10-15 and 1970-01-01.
const gregorianOffset = 0x01B21DD213814000

// MessageUUID returns the version-1 UUID whose 60-bit time is ts (in 100 ns
// ticks, ms precision as sent) and whose clock sequence and node — the last 8
// bytes — are copied from messageID. This reproduces every published Zettle
// domain-event example (pusher-api.md §3.2).
func MessageUUID(ts time.Time, messageID string) string {
	var u [16]byte
	mid, ok := parseUUID(messageID)
	if ok {
		copy(u[8:], mid[8:])
	}
	t := uint64(ts.UnixNano()/100) + gregorianOffset
	binary.BigEndian.PutUint32(u[0:4], uint32(t))
	binary.BigEndian.PutUint16(u[4:6], uint16(t>>32))
	binary.BigEndian.PutUint16(u[6:8], uint16(t>>48)&0x0fff|0x1000)
	return formatUUID(u)
}

// messageIDNamespace is the fixed namespace of pusher's version-5 messageIds.
// Changing it would break producer idempotency across upgrades.
var messageIDNamespace = [16]byte{0x6b, 0xa7, 0xb8, 0x14, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc9}

// MessageID returns the stable version-5 UUID of a producer's event: the same
// organization, event name and event id always give the same messageId.
func MessageID(org, eventName, eventID string) string {
	h := sha1.New()
	h.Write(messageIDNamespace[:])
	h.Write([]byte(org + "\x00" + eventName + "\x00" + eventID))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return formatUUID(u)
}

func parseUUID(s string) ([16]byte, bool) {
	var u [16]byte
	if !IsUUID(s) {
		return u, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// ParseEnvelope decodes a delivered envelope, as a receiver does. It
// returns an error if body is not a JSON object with a messageId.
func ParseEnvelope(body []byte) (Envelope, error) {
	var in struct {
		OrganizationUUID string `json:"organizationUuid"`
		MessageUUID      string `json:"messageUuid"`
		EventName        string `json:"eventName"`
		MessageID        string `json:"messageId"`
		Payload          string `json:"payload"`
		Timestamp        string `json:"timestamp"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return Envelope{}, fmt.Errorf("not an envelope: %w", err)
	}
	if in.MessageID == "" {
		return Envelope{}, errors.New("not an envelope: no messageId")
	}
	return Envelope(in), nil
}
