package webhook_test

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
)

type wireEnvelope struct {
	OrganizationUUID string `json:"organizationUuid"`
	MessageUUID      string `json:"messageUuid"`
	EventName        string `json:"eventName"`
	MessageID        string `json:"messageId"`
	Payload          string `json:"payload"`
	Timestamp        string `json:"timestamp"`
}

type fixtures struct {
	SignatureVector struct {
		SigningKey        string `json:"signingKey"`
		Timestamp         string `json:"timestamp"`
		Payload           string `json:"payload"`
		XIzettleSignature string `json:"xIzettleSignature"`
	} `json:"signatureVector"`
	TestMessageExample wireEnvelope `json:"testMessageExample"`
	Examples           []struct {
		Example                string       `json:"example"`
		Envelope               wireEnvelope `json:"envelope"`
		Wire                   string       `json:"wire"`
		MessageUUIDFollowsRule bool         `json:"messageUuidFollowsRule"`
		SigningKey             string       `json:"signingKey"`
		XIzettleSignature      string       `json:"xIzettleSignature"`
	} `json:"examples"`
}

func loadFixtures(t *testing.T) fixtures {
	t.Helper()
	b, err := os.ReadFile("testdata/zettle-examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestEnvelopeBytesMatchPublishedWire(t *testing.T) {
	for _, ex := range loadFixtures(t).Examples {
		t.Run(ex.Example, func(t *testing.T) {
			e := ex.Envelope
			got := webhook.Envelope{
				OrganizationUUID: e.OrganizationUUID, MessageUUID: e.MessageUUID, EventName: e.EventName,
				MessageID: e.MessageID, Payload: e.Payload, Timestamp: e.Timestamp,
			}.Bytes()
			if string(got) != ex.Wire {
				t.Errorf("Bytes() =\n%s\nwant\n%s", got, ex.Wire)
			}
			parsed, err := webhook.ParseEnvelope([]byte(ex.Wire))
			if err != nil || string(parsed.Bytes()) != ex.Wire {
				t.Errorf("ParseEnvelope(wire) = %+v, %v; want the envelope back", parsed, err)
			}
		})
	}
}

func TestNewEnvelopeReproducesDomainEvents(t *testing.T) {
	f := loadFixtures(t)
	envs := []wireEnvelope{f.TestMessageExample}
	for _, ex := range f.Examples {
		if ex.MessageUUIDFollowsRule {
			envs = append(envs, ex.Envelope)
		}
	}
	if len(envs) != 9 {
		t.Fatalf("got %d examples that follow the messageUuid rule, want 9", len(envs))
	}
	for _, e := range envs {
		t.Run(e.EventName, func(t *testing.T) {
			ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			payload, err := webhook.CompactJSON([]byte(e.Payload))
			if err != nil {
				t.Fatal(err)
			}
			got := webhook.NewEnvelope(e.OrganizationUUID, e.EventName, e.MessageID, string(payload), ts)
			want := webhook.Envelope{
				OrganizationUUID: e.OrganizationUUID, MessageUUID: e.MessageUUID, EventName: e.EventName,
				MessageID: e.MessageID, Payload: e.Payload, Timestamp: e.Timestamp,
			}
			if got != want {
				t.Errorf("NewEnvelope() =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestSignatureMatchesPublishedVectors(t *testing.T) {
	f := loadFixtures(t)
	v := f.SignatureVector
	if got := signing.Sign(v.SigningKey, v.Timestamp, v.Payload); got != v.XIzettleSignature {
		t.Errorf("Sign(test vector) = %s, want %s", got, v.XIzettleSignature)
	}
	for _, ex := range f.Examples {
		got := signing.Sign(ex.SigningKey, ex.Envelope.Timestamp, ex.Envelope.Payload)
		if got != ex.XIzettleSignature {
			t.Errorf("%s: Sign() = %s, want %s", ex.Example, got, ex.XIzettleSignature)
		}
		if !signing.Verify(ex.SigningKey, ex.Envelope.Timestamp, ex.Envelope.Payload, got) {
			t.Errorf("%s: Verify(own signature) = false", ex.Example)
		}
	}
}

func TestCompactJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{ "b" : 1, "a" : [ 0.0, 1e3, -2 ] }`, `{"b":1,"a":[0.0,1e3,-2]}`},
		{`{"name":"Fish \u0026 Chips \u003cL\u003e"}`, `{"name":"Fish & Chips <L>"}`},
		{`{"s":"Smørbrød \"x\" \\ \n\t\u0001"}`, `{"s":"Smørbrød \"x\" \\ \n\t\u0001"}`},
		{`{"u":"\u00e9\u2028"}`, "{\"u\":\"é\u2028\"}"},
		{`{"n":null,"t":true,"f":false,"o":{}}`, `{"n":null,"t":true,"f":false,"o":{}}`},
	}
	for _, tt := range tests {
		got, err := webhook.CompactJSON([]byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("CompactJSON(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":}`, `{"a":1} x`, `{"a" 1}`, `[1,]`} {
		if got, err := webhook.CompactJSON([]byte(bad)); err == nil {
			t.Errorf("CompactJSON(%q) = %s, want an error", bad, got)
		}
	}
}

func TestMessageIDIsStableVersion5(t *testing.T) {
	a := webhook.MessageID("org", "ProductCreated", "e1")
	if a != webhook.MessageID("org", "ProductCreated", "e1") {
		t.Error("MessageID not deterministic")
	}
	if a == webhook.MessageID("org", "ProductCreated", "e2") || a == webhook.MessageID("org2", "ProductCreated", "e1") {
		t.Error("MessageID collides for different events")
	}
	if !webhook.IsUUID(a) || a[14] != '5' {
		t.Errorf("MessageID = %s, want a version-5 UUID", a)
	}
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k := signing.NewKey()
		if len(k) != 64 {
			t.Fatalf("NewKey() = %q, len %d, want 64", k, len(k))
		}
		for _, c := range k {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				t.Fatalf("NewKey() = %q has %q", k, c)
			}
		}
		if seen[k] {
			t.Fatal("NewKey() repeated a key")
		}
		seen[k] = true
	}
}

func TestValidators(t *testing.T) {
	for s, want := range map[string]bool{
		"f02f80f8-8f35-11eb-8dcd-0242ac130003": true,
		"bc281bd9-bdb0-1011-ad31-6744c6f2972c": true,
		"F02F80F8-8F35-11EB-8DCD-0242AC130003": true,
		"f02f80f8-8f35-41eb-8dcd-0242ac130003": false,
		"f02f80f88f3511eb8dcd0242ac130003":     false,
		"f02f80f8-8f35-11eb-8dcd-0242ac13000g": false,
		"":                                     false,
	} {
		if got := webhook.IsUUIDv1(s); got != want {
			t.Errorf("IsUUIDv1(%q) = %v, want %v", s, got, want)
		}
	}
	for s, want := range map[string]bool{
		"your_email@domain.com": true, "a@b": true, "no-at": false, "Bob <b@x.com>": false, "": false,
		string(make([]byte, 513)): false,
	} {
		if got := webhook.IsEmail(s); got != want {
			t.Errorf("IsEmail(%q) = %v, want %v", s, got, want)
		}
	}
	for _, tt := range []struct {
		url       string
		allowHTTP bool
		ok        bool
	}{
		{"https://webhook.site/x", false, true},
		{"http://localhost:9000/x", false, false},
		{"http://localhost:9000/x", true, true},
		{"ftp://x", true, false},
		{"/relative", false, false},
		{"https://", false, false},
		{"not a url", false, false},
	} {
		if got := webhook.CheckDestination(tt.url, tt.allowHTTP) == ""; got != tt.ok {
			t.Errorf("CheckDestination(%q, %v) ok = %v, want %v", tt.url, tt.allowHTTP, got, tt.ok)
		}
	}
}
