package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/signing/signingtest"
	"github.com/pusher-hq/pusher/internal/ssrf"
	"github.com/pusher-hq/pusher/internal/webhook"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// listenOutput delivers env with pusher's client, signed with keys, to a
// listener that knows listenKeys, and returns what the listener printed.
// The listener prints before it answers, so the output is complete once
// Post returns.
func listenOutput(t *testing.T, listenKeys []string, maxAge time.Duration, keys webhook.Keys, env webhook.Envelope) string {
	t.Helper()
	out := &webhooktest.Buffer{}
	srv := httptest.NewServer(&listener{out: out, status: http.StatusOK, keys: listenKeys, maxAge: maxAge})
	defer srv.Close()
	guard := &ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	c := delivery.NewClient("pusher/test", 5*time.Second, 1, delivery.WithGuard(guard))
	if o := c.Post(t.Context(), srv.URL+"/hook", keys, env); !o.OK() {
		t.Fatalf("Post = %+v", o)
	}
	return out.String()
}

// pusher listen says which header and key verified a delivery, checks the
// Standard Webhooks signature when there is one, marks the TestMessage and
// warns about payloads a stripslashes verifier rejects.
func TestListenReportsVerification(t *testing.T) {
	current, previous := signing.NewKey(), signing.NewKey()
	mid := webhook.MessageID(testOrg, webhook.ProductUpdated, "listen-1")
	quoted := webhook.NewEnvelope(testOrg, webhook.ProductUpdated, mid, `{"name":"Say \"hi\""}`, time.Now())
	plain := webhook.NewEnvelope(testOrg, webhook.ProductUpdated, mid, `{"name":"Café <b> & c"}`, time.Now())
	rotating := webhook.Keys{Current: current, Previous: previous, StandardWebhooks: true}
	test := delivery.TestMessage(testOrg, "f02f80f8-8f35-11eb-8dcd-0242ac130003", time.Now())
	old := signingtest.Load(t).Deliveries[0] // an envelope of 2021
	oldEnv, err := webhook.ParseEnvelope([]byte(old.Wire))
	if err != nil {
		t.Fatal(err)
	}

	const warning = "warning: the payload contains backslashes"
	for _, tt := range []struct {
		name       string
		listenKeys []string
		maxAge     time.Duration
		keys       webhook.Keys
		env        webhook.Envelope
		want       []string
		not        []string
	}{
		{"current key, rotation and Standard Webhooks", []string{"other", current}, 0, rotating, quoted,
			[]string{"signature=ok header=X-iZettle-Signature key=2/2", "standardWebhooks=ok key=2/2", warning},
			[]string{"testMessage"}},
		{"a receiver with the previous key only", []string{previous}, 0, rotating, plain,
			[]string{"signature=ok header=X-Pusher-Previous-Signature key=1/1", "standardWebhooks=ok key=1/1", "Café <b> & c"},
			[]string{warning}},
		{"plain delivery", []string{current}, 0, webhook.Keys{Current: current}, plain,
			[]string{"signature=ok header=X-iZettle-Signature key=1/1"},
			[]string{"standardWebhooks=", warning}},
		{"another key", []string{"other"}, 0, rotating, plain,
			[]string{"signature=BAD", "standardWebhooks=BAD"}, nil},
		{"TestMessage with its key known", []string{current}, 0, webhook.Keys{Current: current}, test,
			[]string{"TestMessage", "signature=ok header=X-iZettle-Signature key=1/1", "testMessage=yes"}, []string{warning}},
		{"TestMessage before its key is known", nil, 0, webhook.Keys{Current: current}, test,
			[]string{"signature=unchecked (the TestMessage", "testMessage=yes"}, nil},
		{"older than --max-age", []string{old.SigningKey}, time.Hour, webhook.Keys{Current: old.SigningKey}, oldEnv,
			[]string{"signature=STALE"}, nil},
		{"--max-age 0 accepts it", []string{old.SigningKey}, 0, webhook.Keys{Current: old.SigningKey}, oldEnv,
			[]string{"signature=ok"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := listenOutput(t, tt.listenKeys, tt.maxAge, tt.keys, tt.env)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("output has %q:\n%s", n, got)
				}
			}
		})
	}
}

// A request without any signature header is MISSING; one that is not an
// envelope is said so.
func TestListenUnsigned(t *testing.T) {
	out := &webhooktest.Buffer{}
	srv := httptest.NewServer(&listener{out: out, status: http.StatusAccepted, keys: []string{"k"}})
	defer srv.Close()
	env := webhook.NewEnvelope(testOrg, webhook.ProductUpdated, webhook.MessageID(testOrg, webhook.ProductUpdated, "u"), `{}`, time.Now())
	for _, body := range []string{string(env.Bytes()), `{"hello":"world"}`} {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("status %d, want 202", resp.StatusCode)
		}
	}
	if got := out.String(); !strings.Contains(got, "signature=MISSING") || !strings.Contains(got, "not a pusher envelope") {
		t.Errorf("output:\n%s", got)
	}
}

// The TestMessage of a new subscription is signed with a key the listener
// does not know yet; it looks the key up on the server (which lists the
// subscription to its owner during the handshake) and verifies it.
func TestListenLooksUpTheTestMessageKey(t *testing.T) {
	key := signing.NewKey()
	out := &webhooktest.Buffer{}
	lookups := 0
	l := &listener{out: out, status: http.StatusOK, keySource: func(context.Context) ([]string, error) {
		lookups++
		return []string{key}, nil
	}}
	srv := httptest.NewServer(l)
	defer srv.Close()
	guard := &ssrf.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	c := delivery.NewClient("pusher/test", 5*time.Second, 1, delivery.WithGuard(guard))
	test := delivery.TestMessage(testOrg, "f02f80f8-8f35-11eb-8dcd-0242ac130003", time.Now())
	if o := c.Post(t.Context(), srv.URL+"/hook", webhook.Keys{Current: key}, test); !o.OK() {
		t.Fatalf("Post = %+v", o)
	}
	if got := out.String(); !strings.Contains(got, "signature=ok header=X-iZettle-Signature key=1/1") || !strings.Contains(got, "testMessage=yes") {
		t.Errorf("output:\n%s", got)
	}
	if lookups != 1 {
		t.Errorf("%d key lookups, want 1", lookups)
	}
}
