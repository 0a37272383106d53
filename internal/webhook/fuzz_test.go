package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// FuzzCompactJSON checks that CompactJSON accepts exactly the valid JSON of
// depth at most MaxDepth, and that its output is valid, equal in meaning to
// the input, no deeper, and compacts to itself (idempotence). Seeds beyond
// the ones added here are in testdata/fuzz/FuzzCompactJSON, among them
// 30,000 nested arrays and a 200 KB string.
func FuzzCompactJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, ` { "a" : [ 1 , 2.50 , -0 , 1e999999 ] , "b" : null } `,
		`{"name":"Fish & <Chips>","s":"\u2028\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t\u0001"}`,
		`[true,false,null,"x",{"":{}}]`, `"just a string"`, `12`, `{"a":1}{"b":2}`, `{"a":}`,
		"{\"bad utf8\":\"\xff\xfe\"}", `{"a":1,"a":2}`, `["\ud800"]`, nested(webhook.MaxDepth - 1), nested(webhook.MaxDepth),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := webhook.CompactJSON(in)
		acceptable := json.Valid(in) && webhook.Depth(in) <= webhook.MaxDepth
		if err != nil {
			if acceptable {
				t.Fatalf("CompactJSON(%q) = %v for valid JSON of depth %d", in, err, webhook.Depth(in))
			}
			if errors.Is(err, webhook.ErrTooDeep) && webhook.Depth(in) <= webhook.MaxDepth {
				t.Fatalf("ErrTooDeep for depth %d", webhook.Depth(in))
			}
			return
		}
		if !acceptable {
			t.Fatalf("CompactJSON(%q) = %q, but the input is invalid or deeper than %d", in, out, webhook.MaxDepth)
		}
		if !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("CompactJSON(%q) = %q: not valid UTF-8 JSON", in, out)
		}
		if webhook.Depth(out) != webhook.Depth(in) {
			t.Fatalf("depth changed from %d to %d", webhook.Depth(in), webhook.Depth(out))
		}
		if !reflect.DeepEqual(decode(t, in), decode(t, out)) {
			t.Fatalf("CompactJSON(%q) = %q changes the value", in, out)
		}
		again, err := webhook.CompactJSON(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
	})
}

// decode decodes valid JSON keeping number literals.
func decode(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}

// FuzzEnvelope builds an envelope from arbitrary fields, payload text and
// time, signs it as delivery does, and checks what a receiver sees: the body
// is valid JSON with Zettle's six keys in order, parses back with
// ParseEnvelope to the same fields (invalid UTF-8 becoming U+FFFD per byte),
// and the signature verifies over the timestamp and payload as received.
func FuzzEnvelope(f *testing.F) {
	f.Add("d3f03ffa-4a18-4282-bbfa-efd5f642ffb7", "InventoryTrackingStarted", "e-1",
		`{"organizationUuid":"d3f03ffa","created":{"timestamp":"2021-04-19T13:17:56.572+0000"}}`,
		int64(1618838276585), "zLzClQLQN8yfH8aEjONeXzgJRAHR0zpD7RonFCpizujCUCectBlln0vFArTbLPYa")
	f.Add("", "", "", "", int64(0), "")
	f.Add("org\"\\", "Fish & <Chips>\u2028", "id\x00\n", "{\"a\":\"\xff\"}", int64(-62135596800001), "k")
	f.Add("ü", "😀", "\x7f", `"not an object"`, int64(253402300799999), "\xff")
	f.Fuzz(func(t *testing.T, org, eventName, eventID, payload string, unixMilli int64, key string) {
		if p, err := webhook.CompactJSON([]byte(payload)); err == nil {
			payload = string(p) // what ingest stores; other strings are tried as they are
		}
		mid := webhook.MessageID(org, eventName, eventID)
		env := webhook.NewEnvelope(org, eventName, mid, payload, time.UnixMilli(unixMilli))
		body := env.Bytes()
		sig := signing.Sign(key, env.Timestamp, env.Payload)
		if !json.Valid(body) {
			t.Fatalf("envelope %q is not valid JSON", body)
		}
		checkKeyOrder(t, body)
		got, err := webhook.ParseEnvelope(body)
		if err != nil {
			t.Fatalf("ParseEnvelope(%q): %v", body, err)
		}
		want := webhook.Envelope{OrganizationUUID: replaced(org), MessageUUID: env.MessageUUID, EventName: replaced(eventName),
			MessageID: mid, Payload: replaced(payload), Timestamp: env.Timestamp}
		if got != want {
			t.Fatalf("ParseEnvelope(Bytes()) = %+v, want %+v", got, want)
		}
		if !webhook.IsUUID(got.MessageUUID) || !webhook.IsUUID(got.MessageID) {
			t.Fatalf("messageUuid %q or messageId %q is not a UUID", got.MessageUUID, got.MessageID)
		}
		if utf8.ValidString(payload) && !signing.Verify(key, got.Timestamp, got.Payload, sig) {
			t.Fatalf("signature %s does not verify over the received timestamp and payload", sig)
		}
	})
}

// replaced is s as AppendJSONString writes it: each invalid UTF-8 byte
// becomes U+FFFD (as converting to runes does).
func replaced(s string) string { return string([]rune(s)) }

// checkKeyOrder checks that body is an object with exactly Zettle's keys in
// Zettle's order.
func checkKeyOrder(t *testing.T, body []byte) {
	t.Helper()
	want := []string{"organizationUuid", "messageUuid", "eventName", "messageId", "payload", "timestamp"}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("envelope %q does not start an object", body)
	}
	n := 0
	for ; dec.More(); n++ {
		key, err := dec.Token()
		if err != nil || n >= len(want) || key != want[n] {
			t.Fatalf("key %d of %q is %v, want %v", n, body, key, want)
		}
		var v string
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("value of %s: %v", key, err)
		}
	}
	if n != len(want) {
		t.Fatalf("envelope %q has %d keys, want %v", body, n, want)
	}
}
