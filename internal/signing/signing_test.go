package signing_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/signing/signingtest"
)

// pusher-api.md §4's vector: the decoded payload is signed, not its
// escaped wire form.
func TestSignVector(t *testing.T) {
	v := signingtest.Load(t).SignatureVector
	if got := signing.Sign(v.SigningKey, v.Timestamp, v.Payload); got != v.XIzettleSignature {
		t.Errorf("Sign = %s, want %s", got, v.XIzettleSignature)
	}
	escaped, _ := json.Marshal(v.Payload)
	wrong := signing.Sign(v.SigningKey, v.Timestamp, string(escaped[1:len(escaped)-1]))
	if wrong != v.EscapedPayloadSignature || wrong == v.XIzettleSignature {
		t.Errorf("Sign of the escaped payload = %s, want the vector's %s", wrong, v.EscapedPayloadSignature)
	}
	if !signing.Verify(v.SigningKey, v.Timestamp, v.Payload, v.XIzettleSignature) {
		t.Error("Verify rejects the vector")
	}
	if signing.Verify(v.SigningKey, v.Timestamp, v.Payload, v.EscapedPayloadSignature) {
		t.Error("Verify accepts the signature of the escaped payload")
	}
	if signing.Verify(v.SigningKey, v.Timestamp, v.Payload, strings.ToUpper(v.XIzettleSignature)) {
		t.Error("Verify accepts upper-case hex")
	}
}

// Every published Zettle example is signed as the vectors say.
func TestZettleExamples(t *testing.T) {
	for _, e := range signingtest.Load(t).ZettleExamples {
		var env struct{ Timestamp, Payload string }
		if err := json.Unmarshal([]byte(e.Wire), &env); err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		if got := signing.Sign(e.SigningKey, env.Timestamp, env.Payload); got != e.XIzettleSignature {
			t.Errorf("%s: Sign = %s, want %s", e.Name, got, e.XIzettleSignature)
		}
	}
}

// The Standard Webhooks reference libraries' published example, with and
// without the whsec_ prefix.
func TestStandardWebhooksSpecExample(t *testing.T) {
	x := signingtest.Load(t).StandardWebhooksSpecExample
	ts := time.Unix(x.Timestamp, 0)
	for _, secret := range []string{x.Secret, strings.TrimPrefix(x.Secret, signing.SecretPrefix)} {
		got, err := signing.StandardWebhooks(secret, x.ID, ts, []byte(x.Body))
		if err != nil || got != x.Signature {
			t.Errorf("StandardWebhooks(%s) = %q, %v, want %q", secret, got, err, x.Signature)
		}
	}
	const other = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
	sig := strings.TrimPrefix(x.Signature, "v1,")
	for header, want := range map[string]bool{
		x.Signature:                              true,
		other + " v2," + sig + " " + x.Signature: true, // any v1 entry matches
		other:                                    false,
		"v2," + sig:                              false, // other versions are not v1
		"v1a," + sig:                             false,
		sig:                                      false,
		"":                                       false,
		x.Signature + "x":                        false,
		strings.Replace(x.Signature, "v1,", "v1,,", 1): false,
	} {
		if got := signing.VerifyStandardWebhooks(x.Secret, x.ID, ts, []byte(x.Body), header); got != want {
			t.Errorf("VerifyStandardWebhooks(%q) = %v, want %v", header, got, want)
		}
	}
	if signing.VerifyStandardWebhooks(x.Secret, x.ID, ts.Add(time.Second), []byte(x.Body), x.Signature) {
		t.Error("VerifyStandardWebhooks accepts another timestamp")
	}
	if signing.VerifyStandardWebhooks(x.Secret, x.ID+"x", ts, []byte(x.Body), x.Signature) {
		t.Error("VerifyStandardWebhooks accepts another id")
	}
	if signing.VerifyStandardWebhooks(x.Secret, x.ID, ts, []byte(x.Body+" "), x.Signature) {
		t.Error("VerifyStandardWebhooks accepts another body")
	}
}

// The signature headers of the shared delivery vectors, computed from the
// keys: the current key makes X-iZettle-Signature, the previous one
// X-Pusher-Previous-Signature, and both secrets the webhook-signature
// entries, current first.
func TestDeliveryVectors(t *testing.T) {
	for _, d := range signingtest.Load(t).Deliveries {
		var env struct{ MessageID, Timestamp, Payload string }
		if err := json.Unmarshal([]byte(d.Wire), &env); err != nil {
			t.Fatalf("%s: %v", d.Name, err)
		}
		want := map[string]string{signing.Header: signing.Sign(d.SigningKey, env.Timestamp, env.Payload)}
		if d.PreviousSigningKey != "" {
			want[signing.PreviousHeader] = signing.Sign(d.PreviousSigningKey, env.Timestamp, env.Payload)
		}
		if d.StandardWebhooks {
			if s := signing.StandardWebhooksSecret(d.SigningKey); s != d.StandardWebhooksSecret {
				t.Errorf("%s: StandardWebhooksSecret = %s, want %s", d.Name, s, d.StandardWebhooksSecret)
			}
			ts := time.Unix(d.AttemptUnix, 0)
			var sigs []string
			for _, k := range []string{d.SigningKey, d.PreviousSigningKey} {
				if k == "" {
					continue
				}
				sig, err := signing.StandardWebhooks(signing.StandardWebhooksSecret(k), env.MessageID, ts, []byte(d.Wire))
				if err != nil {
					t.Fatal(err)
				}
				sigs = append(sigs, sig)
				if !signing.VerifyStandardWebhooks(signing.StandardWebhooksSecret(k), env.MessageID, ts, []byte(d.Wire), d.Headers[signing.WebhookSignatureHeader]) {
					t.Errorf("%s: the vector's webhook-signature does not verify with the secret of %s", d.Name, k)
				}
			}
			want[signing.WebhookIDHeader] = env.MessageID
			want[signing.WebhookTimestampHeader] = strconv.FormatInt(d.AttemptUnix, 10)
			want[signing.WebhookSignatureHeader] = strings.Join(sigs, " ")
		}
		if len(want) != len(d.Headers) {
			t.Errorf("%s: vector headers %v, want %v", d.Name, d.Headers, want)
		}
		for name, value := range want {
			if d.Headers[name] != value {
				t.Errorf("%s: %s = %q, vector says %q", d.Name, name, value, d.Headers[name])
			}
		}
	}
}

// A secret is whsec_ and the base64 of the key's bytes, whatever they are,
// and decodes back to them.
func TestStandardWebhooksSecret(t *testing.T) {
	for _, key := range []string{signing.NewKey(), "", "clé ünïcode", "a"} {
		secret := signing.StandardWebhooksSecret(key)
		if !strings.HasPrefix(secret, "whsec_") {
			t.Errorf("StandardWebhooksSecret(%q) = %q, want the whsec_ prefix", key, secret)
		}
		got, err := signing.StandardWebhooksKey(secret)
		if err != nil || !bytes.Equal(got, []byte(key)) {
			t.Errorf("StandardWebhooksKey(%q) = %q, %v, want %q", secret, got, err, key)
		}
	}
	for _, bad := range []string{"whsec_not base64!", "whsec_abc"} {
		if _, err := signing.StandardWebhooksKey(bad); !errors.Is(err, signing.ErrBadSecret) {
			t.Errorf("StandardWebhooksKey(%q) = %v, want ErrBadSecret", bad, err)
		}
		if _, err := signing.StandardWebhooks(bad, "id", time.Now(), nil); !errors.Is(err, signing.ErrBadSecret) {
			t.Errorf("StandardWebhooks(%q) = %v, want ErrBadSecret", bad, err)
		}
	}
}

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k := signing.NewKey()
		if len(k) != signing.KeyLength || strings.Trim(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
			t.Fatalf("NewKey = %q, want %d characters of [A-Za-z0-9]", k, signing.KeyLength)
		}
		if seen[k] {
			t.Fatalf("NewKey repeated %q", k)
		}
		seen[k] = true
	}
}
