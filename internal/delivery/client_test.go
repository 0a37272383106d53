package delivery_test

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// closedPortURL returns an http URL on 127.0.0.1 where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/hook"
}

// answering returns a handler that answers status with body "answer <status>".
func answering(status int) func(http.ResponseWriter, *http.Request, int) int {
	return func(w http.ResponseWriter, _ *http.Request, _ int) int {
		w.WriteHeader(status)
		w.Write([]byte("answer " + http.StatusText(status)))
		return status
	}
}

// Every outcome of a POST is classified: 2xx is success, 3xx "redirect"
// (not followed), other statuses "http_status", and transport failures by
// cause, against real servers.
func TestClientClassifiesOutcomes(t *testing.T) {
	org := uuid.NewString()
	env := webhook.NewEnvelope(org, webhook.ProductUpdated, webhook.MessageID(org, webhook.ProductUpdated, "c1"), `{"id":"c1"}`, time.Now())
	const key = "zLzClQLQN8yfH8aEjONeXzgJRAHR0zpD7RonFCpizujCUCectBlln0vFArTbLPYa"

	// plain serves handler over HTTP and posts with a default client.
	plain := func(h func(http.ResponseWriter, *http.Request, int) int) func(*testing.T) (string, *delivery.Client) {
		return func(t *testing.T) (string, *delivery.Client) { return newReceiver(t, h).URL(), newClient(testTimeout) }
	}
	var redirectTarget *receiver
	redirect := func(code int) func(*testing.T) (string, *delivery.Client) {
		return plain(func(w http.ResponseWriter, r *http.Request, _ int) int {
			http.Redirect(w, r, redirectTarget.URL(), code)
			return code
		})
	}

	long := strings.Repeat("0123456789abcdef", 128) // 2 KiB, of which 1 KiB is kept
	tests := []struct {
		name   string
		setup  func(t *testing.T) (url string, c *delivery.Client)
		class  webhook.Class
		status int
		body   string
	}{
		{"200", plain(answering(200)), "", 200, "answer OK"},
		{"201", plain(answering(201)), "", 201, "answer Created"},
		{"202", plain(answering(202)), "", 202, "answer Accepted"},
		{"204", plain(answering(204)), "", 204, ""},
		{"301", redirect(301), webhook.ClassRedirect, 301, ""},
		{"302", redirect(302), webhook.ClassRedirect, 302, ""},
		{"307", redirect(307), webhook.ClassRedirect, 307, ""},
		{"308", redirect(308), webhook.ClassRedirect, 308, ""},
		{"400", plain(answering(400)), webhook.ClassHTTPStatus, 400, "answer Bad Request"},
		{"401", plain(answering(401)), webhook.ClassHTTPStatus, 401, "answer Unauthorized"},
		{"404", plain(answering(404)), webhook.ClassHTTPStatus, 404, "answer Not Found"},
		{"410", plain(answering(410)), webhook.ClassHTTPStatus, 410, "answer Gone"},
		{"429", plain(answering(429)), webhook.ClassHTTPStatus, 429, "answer Too Many Requests"},
		{"500", plain(answering(500)), webhook.ClassHTTPStatus, 500, "answer Internal Server Error"},
		{"503", plain(answering(503)), webhook.ClassHTTPStatus, 503, "answer Service Unavailable"},
		{"410 with a 2 KiB body", plain(func(w http.ResponseWriter, _ *http.Request, _ int) int {
			w.WriteHeader(http.StatusGone)
			w.Write([]byte(long))
			return http.StatusGone
		}), webhook.ClassHTTPStatus, 410, long[:1024]},
		{"refused", func(t *testing.T) (string, *delivery.Client) {
			return closedPortURL(t), newClient(testTimeout)
		}, webhook.ClassRefused, 0, ""},
		{"dns", func(t *testing.T) (string, *delivery.Client) {
			return "http://nonexistent.invalid/hook", unknownHostClient(t, 2*time.Second)
		}, webhook.ClassDNS, 0, ""},
		{"untrusted certificate", func(t *testing.T) (string, *delivery.Client) {
			rc, _ := newTLSReceiver(t, ok)
			return rc.URL(), newClient(tlsTimeout) // system roots only
		}, webhook.ClassTLS, 0, ""},
		{"https to a plain HTTP server", func(t *testing.T) (string, *delivery.Client) {
			rc := newReceiver(t, ok)
			return strings.Replace(rc.URL(), "http://", "https://", 1), newClient(tlsTimeout)
		}, webhook.ClassTLS, 0, ""},
		{"no answer in time", func(t *testing.T) (string, *delivery.Client) {
			var rc *receiver
			rc = newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) int { return rc.hang(r) })
			return rc.URL(), newClient(testTimeout)
		}, webhook.ClassTimeout, 0, ""},
		{"2xx headers but the body never ends", func(t *testing.T) (string, *delivery.Client) {
			var rc *receiver
			rc = newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) int {
				w.WriteHeader(http.StatusOK)
				w.Write([]byte("partial"))
				w.(http.Flusher).Flush()
				rc.hang(r)
				return http.StatusOK
			})
			return rc.URL(), newClient(testTimeout)
		}, webhook.ClassTimeout, 200, "partial"},
		{"connection closed without an answer", plain(func(w http.ResponseWriter, _ *http.Request, _ int) int {
			return hangUp(w)
		}), webhook.ClassConnectionReset, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			redirectTarget = newReceiver(t, ok)
			url, c := tt.setup(t)
			out := c.Post(bg, url, webhook.Keys{Current: key}, env)
			if out.Class != tt.class || out.StatusCode != tt.status {
				t.Errorf("Post = class %q status %d (detail %q), want class %q status %d",
					out.Class, out.StatusCode, out.Detail, tt.class, tt.status)
			}
			if out.OK() != (tt.class == "") {
				t.Errorf("OK() = %v for class %q", out.OK(), out.Class)
			}
			if string(out.Body) != tt.body {
				t.Errorf("Body = %q, want %q", out.Body, tt.body)
			}
			if tt.status == 0 && out.Detail == "" {
				t.Error("transport failure without Detail")
			}
			if out.StartedAt.IsZero() || out.Duration <= 0 {
				t.Errorf("StartedAt %v Duration %v, want both set", out.StartedAt, out.Duration)
			}
			if tt.class == webhook.ClassTimeout && (out.Duration < testTimeout*9/10 || out.Duration > testTimeout+time.Second) {
				t.Errorf("timed-out Post took %v, want about %v", out.Duration, testTimeout)
			}
			if n := redirectTarget.count(); n != 0 {
				t.Errorf("redirect followed: the target got %d requests", n)
			}
			// Every class has plain words for the notices.
			if !out.OK() && webhook.Reason(out.Class, out.StatusCode, url, out.Detail, testTimeout) == "" {
				t.Error("no reason for the failure")
			}
		})
	}
}

// The client sends the same bytes and signature for a message every time.
func TestClientPostSignsEnvelope(t *testing.T) {
	rc := newReceiver(t, ok)
	org := uuid.NewString()
	env := webhook.NewEnvelope(org, webhook.InventoryTrackingStarted,
		webhook.MessageID(org, webhook.InventoryTrackingStarted, "s1"), `{"a":"<b> & c"}`, time.Now())
	key := signing.NewKey()
	c := newClient(testTimeout)
	for range 2 {
		if out := c.Post(bg, rc.URL(), webhook.Keys{Current: key}, env); !out.OK() {
			t.Fatalf("Post = %+v", out)
		}
	}
	reqs := rc.requests()
	for _, r := range reqs {
		if string(r.Body) != string(env.Bytes()) {
			t.Errorf("body = %s, want %s", r.Body, env.Bytes())
		}
		if got, want := r.Header.Get(signing.Header), signing.Sign(key, env.Timestamp, env.Payload); got != want {
			t.Errorf("signature = %s, want %s", got, want)
		}
		if r.Header.Get("User-Agent") != testUserAgent {
			t.Errorf("User-Agent = %q", r.Header.Get("User-Agent"))
		}
	}
	if reqs[0].Remote != reqs[1].Remote {
		t.Errorf("second request came from %s, first from %s: connection not kept alive", reqs[1].Remote, reqs[0].Remote)
	}
}

// The TestMessage handshake of a new subscription (pusher-api.md §3.3, §2.2).
func TestHandshake(t *testing.T) {
	now := time.Date(2020, 8, 12, 6, 42, 9, 938_400_000, time.UTC)

	t.Run("accepted", func(t *testing.T) {
		rc := newReceiver(t, ok)
		s := newSubscription(uuid.NewString(), rc.URL())
		if err := newClient(testTimeout).Handshake(bg, s, now); err != nil {
			t.Fatalf("Handshake = %v, want nil", err)
		}
		checkTestMessage(t, rc, s, now)
	})

	t.Run("accepted over HTTPS with 204", func(t *testing.T) {
		rc, _ := newTLSReceiver(t, answering(http.StatusNoContent))
		s := newSubscription(uuid.NewString(), rc.URL())
		c := newClient(tlsTimeout)
		trustServer(c, rc.srv)
		if err := c.Handshake(bg, s, now); err != nil {
			t.Fatalf("Handshake = %v, want nil", err)
		}
		checkTestMessage(t, rc, s, now)
	})

	for _, code := range []int{404, 500, 302} {
		t.Run("HTTP "+strconv.Itoa(code), func(t *testing.T) {
			rc := newReceiver(t, answering(code))
			s := newSubscription(uuid.NewString(), rc.URL())
			err := newClient(testTimeout).Handshake(bg, s, now)
			var we *webhook.Error
			if !errors.As(err, &we) {
				t.Fatalf("Handshake = %v (%T), want *webhook.Error", err, err)
			}
			want := "Server responded with HTTP " + strconv.Itoa(code)
			if we.Type != webhook.TypeDestinationRespondedWithCode || we.Message != want || we.Code != webhook.DestinationError {
				t.Errorf("Handshake error = %+v, want %s %q %s", we, webhook.TypeDestinationRespondedWithCode, want, webhook.DestinationError)
			}
		})
	}

	notAccessible := []struct {
		name  string
		setup func(t *testing.T) (string, *delivery.Client)
		words string
	}{
		{"refused", func(t *testing.T) (string, *delivery.Client) {
			return closedPortURL(t), newClient(testTimeout)
		}, "connection refused"},
		{"dns", func(t *testing.T) (string, *delivery.Client) {
			return "http://nonexistent.invalid/hook", unknownHostClient(t, tlsTimeout)
		}, "not found"},
		{"timeout", func(t *testing.T) (string, *delivery.Client) {
			var rc *receiver
			rc = newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) int { return rc.hang(r) })
			return rc.URL(), newClient(testTimeout)
		}, "no answer"},
		{"untrusted certificate", func(t *testing.T) (string, *delivery.Client) {
			rc, _ := newTLSReceiver(t, ok)
			return rc.URL(), newClient(tlsTimeout)
		}, "TLS"},
	}
	for _, tt := range notAccessible {
		t.Run(tt.name, func(t *testing.T) {
			dest, c := tt.setup(t)
			s := newSubscription(uuid.NewString(), dest)
			err := c.Handshake(bg, s, now)
			var we *webhook.Error
			if !errors.As(err, &we) {
				t.Fatalf("Handshake = %v (%T), want *webhook.Error", err, err)
			}
			if we.Type != webhook.TypeDestinationNotAccessible || we.Code != webhook.Invalid {
				t.Errorf("Handshake error = %+v, want %s with code %s", we, webhook.TypeDestinationNotAccessible, webhook.Invalid)
			}
			if !strings.Contains(we.Message, s.Destination) || !strings.Contains(we.Message, tt.words) {
				t.Errorf("message %q does not name %s and say %q", we.Message, s.Destination, tt.words)
			}
		})
	}
}

// checkTestMessage checks the one request rc got during a handshake.
func checkTestMessage(t *testing.T, rc *receiver, s *webhook.Subscription, now time.Time) {
	t.Helper()
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	env := r.Envelope
	if env["payload"] != `{"data":"payload"}` || env["eventName"] != "TestMessage" || env["organizationUuid"] != s.OrganizationUUID {
		t.Errorf("TestMessage envelope = %v", env)
	}
	if !strings.Contains(string(r.Body), `"payload":"{\"data\":\"payload\"}"`) {
		t.Errorf("body %s does not carry the payload as a JSON string", r.Body)
	}
	if id := env["messageId"]; !webhook.IsUUID(id) || id[14] != '5' {
		t.Errorf("messageId = %q, want a version-5 UUID", id)
	}
	if env["timestamp"] != "2020-08-12T06:42:09.938Z" {
		t.Errorf("timestamp = %q, want 2020-08-12T06:42:09.938Z", env["timestamp"])
	}
	ts, err := time.Parse(webhook.TimestampLayout, env["timestamp"])
	if err != nil {
		t.Fatal(err)
	}
	if want := webhook.MessageUUID(ts, env["messageId"]); env["messageUuid"] != want {
		t.Errorf("messageUuid = %s, want %s (v1 of the timestamp with the messageId's last 8 bytes)", env["messageUuid"], want)
	}
	if !strings.HasSuffix(env["messageUuid"], env["messageId"][18:]) || env["messageUuid"][14] != '1' {
		t.Errorf("messageUuid %s is not a v1 UUID ending like messageId %s", env["messageUuid"], env["messageId"])
	}
	keys, err := jsonKeys(r.Body)
	if want := []string{"organizationUuid", "messageUuid", "eventName", "messageId", "payload", "timestamp"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
	if string(r.Body) != string(delivery.TestMessage(s.OrganizationUUID, s.UUID, now).Bytes()) {
		t.Errorf("body %s is not delivery.TestMessage", r.Body)
	}
	if !signing.Verify(s.SigningKey, env["timestamp"], env["payload"], r.Header.Get(signing.Header)) {
		t.Error("TestMessage is not signed with the new subscription's key")
	}
}
