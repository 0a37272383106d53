package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
)

// operatorEvent is one POST the operator sink received, verified.
type operatorEvent struct {
	ID   string
	Type string
	Data map[string]any
}

// startOperatorSink starts an operator's receiver that checks every POST's
// Standard Webhooks headers against secret and sends the events it
// verified on the returned channel.
func startOperatorSink(t *testing.T, secret string) (url string, events <-chan operatorEvent) {
	t.Helper()
	ch := make(chan operatorEvent, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get(signing.WebhookIDHeader), r.Header.Get(signing.WebhookTimestampHeader)
		unix, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(unix, 0)).Abs() > signing.StandardWebhooksTolerance ||
			!signing.VerifyStandardWebhooks(secret, id, time.Unix(unix, 0), body, r.Header.Get(signing.WebhookSignatureHeader)) {
			t.Errorf("operator sink: bad signature or timestamp on %s (headers %v)", body, r.Header)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("operator sink: %v in %s", err, body)
		}
		ch <- operatorEvent{ID: id, Type: ev.Type, Data: ev.Data}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/pusher-events", ch
}

// nextEvent returns the next event of the sink, or fails after 10 s.
func nextEvent(t *testing.T, events <-chan operatorEvent, want string) operatorEvent {
	t.Helper()
	select {
	case ev := <-events:
		if ev.Type != want {
			t.Fatalf("operator sink got %s (%v), want %s", ev.Type, ev.Data, want)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatalf("operator sink got no %s within 10 s", want)
		return operatorEvent{}
	}
}

// With -operator-webhook-url, pusher serve POSTs the failing, deleted (on
// exhaustion) and key_rotated events, signed with the raw secret's
// whsec_ form, besides the e-mails.
func TestOperatorSinkEndToEnd(t *testing.T) {
	t.Parallel()
	const (
		failingSub = "f02f80f8-8f35-11eb-8dcd-0242ac130003"
		rotatedSub = "7c9e43ce-912c-11eb-a8b3-0242ac130003"
		raw        = "operator secret, not base64"
	)
	sinkURL, events := startOperatorSink(t, "whsec_"+base64.StdEncoding.EncodeToString([]byte(raw)))
	srv := startNoticeServe(t, "-operator-webhook-url", sinkURL, "-operator-webhook-secret", raw)
	down := newReceiver(t, func(string, int) int { return http.StatusServiceUnavailable })
	srv.subscribe(failingSub, down.URL, "ops@shop.example")

	srv.publish("e-1") // fails, is retried 3 times 150 ms apart, then the subscription is deleted
	failing := nextEvent(t, events, "subscription.failing")
	if failing.Data["subscriptionUuid"] != failingSub || failing.Data["statusCode"] != 503.0 ||
		failing.Data["contactEmail"] != "ops@shop.example" || !strings.HasPrefix(failing.ID, "evt_") {
		t.Errorf("failing event %+v", failing)
	}
	deleted := nextEvent(t, events, "subscription.deleted")
	if deleted.Data["subscriptionUuid"] != failingSub || deleted.Data["undelivered"] != 1.0 || deleted.ID == failing.ID {
		t.Errorf("deleted event %+v", deleted)
	}

	ok := newReceiver(t, func(string, int) int { return http.StatusOK })
	srv.subscribe(rotatedSub, ok.URL, "ops@shop.example")
	status, body := srv.call("POST", "/v1/organizations/self/subscriptions/"+rotatedSub+"/rotate-key", `{"overlap":"1h"}`)
	if status != 200 {
		t.Fatalf("rotate-key = %d %s", status, body)
	}
	var rotation struct{ SigningKey, PreviousKeyExpires string }
	if err := json.Unmarshal([]byte(body), &rotation); err != nil {
		t.Fatal(err)
	}
	rotated := nextEvent(t, events, "subscription.key_rotated")
	if rotated.Data["subscriptionUuid"] != rotatedSub || rotated.Data["previousKeyExpires"] != rotation.PreviousKeyExpires {
		t.Errorf("key_rotated event %+v, want previousKeyExpires %s", rotated, rotation.PreviousKeyExpires)
	}
	for _, v := range rotated.Data {
		if s, _ := v.(string); s == rotation.SigningKey {
			t.Errorf("key_rotated event %+v holds the new key", rotated)
		}
	}

	// The e-mails are as without the sink, and the operator events are in
	// "pusher notifications".
	inbox := srv.smtp.WaitInbox(t, 2, 10*time.Second)
	if _, ms := mailsOfKind(t, inbox, ""); len(ms) != 2 || ms[0].Header.Get("X-Pusher-Notice") != "failing" ||
		ms[1].Header.Get("X-Pusher-Notice") != "deleted" {
		t.Errorf("e-mails:\n%s; want failing, deleted", inboxSummary(t, inbox))
	}
	out := runCmd(t, "notifications", "-data-dir", srv.dataDir)
	if n := strings.Count(out, "operator-webhook"); n != 3 {
		t.Errorf("pusher notifications lists %d operator events, want 3:\n%s", n, out)
	}
	select {
	case ev := <-events:
		t.Errorf("unexpected operator event %+v", ev)
	default:
	}
}

func TestOperatorSinkSettings(t *testing.T) {
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		ok   bool
	}{
		{"off", nil, nil, true},
		{"URL and secret from the environment", nil,
			map[string]string{"PUSHER_OPERATOR_WEBHOOK_URL": "https://ops.example/hook", "PUSHER_OPERATOR_WEBHOOK_SECRET": whsec}, true},
		{"raw secret", []string{"-operator-webhook-url", "http://127.0.0.1:9/", "-operator-webhook-secret", "raw"}, nil, true},
		{"URL without secret", []string{"-operator-webhook-url", "https://ops.example/hook"}, nil, false},
		{"secret without URL", nil, map[string]string{"PUSHER_OPERATOR_WEBHOOK_SECRET": whsec}, false},
		{"not a URL", []string{"-operator-webhook-url", "ops.example/hook", "-operator-webhook-secret", whsec}, nil, false},
		{"bad whsec", []string{"-operator-webhook-url", "https://ops.example/", "-operator-webhook-secret", "whsec_!!"}, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServeConfig(tt.args, envMap(tt.env), io.Discard)
			if (err == nil) != tt.ok {
				t.Fatalf("parseServeConfig = %v, want ok %v", err, tt.ok)
			}
			if err == nil && tt.env["PUSHER_OPERATOR_WEBHOOK_SECRET"] != "" && c.OperatorSecret != whsec {
				t.Errorf("OperatorSecret = %q, want it from the environment", c.OperatorSecret)
			}
		})
	}
	// Started with a bad setting, serve stops before it listens.
	err := run(context.Background(), []string{"serve", "-operator-webhook-url", "https://ops.example/"}, envMap(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "operator-webhook-secret") {
		t.Errorf("serve with a URL but no secret = %v, want an error naming the secret", err)
	}
}
