package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/webhook"
)

var signingKeyPattern = regexp.MustCompile(`^[A-Za-z0-9]{64}$`)

type rotation struct {
	SigningKey         string `json:"signingKey"`
	PreviousKeyExpires string `json:"previousKeyExpires"`
}

// TestRotateKey: a new key, returned and shown by Zettle's GET from then
// on; the old one is kept as the previous key for the overlap.
func TestRotateKey(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	old := a.mustCreate(tok, subUUID, rcv.URL)
	path := extSub("self", subUUID, "/rotate-key")
	a.setNow(a.clock().Add(time.Minute))
	now := a.clock()

	r := a.do("POST", path, tok, "")
	got := decode[rotation](t, r, 200)
	if !signingKeyPattern.MatchString(got.SigningKey) || got.SigningKey == old {
		t.Errorf("new key %q, want 64 characters [A-Za-z0-9] other than %q", got.SigningKey, old)
	}
	if want := now.Add(24 * time.Hour).Format(ms); got.PreviousKeyExpires != want {
		t.Errorf("previousKeyExpires = %s, want %s (the default overlap)", got.PreviousKeyExpires, want)
	}
	if want := []string{"signingKey", "previousKeyExpires"}; !slices.Equal(keyOrder(t, []byte(r.body)), want) {
		t.Errorf("body = %s", r.body)
	}
	zettle := listOne(t, a, tok)
	if zettle["signingKey"] != got.SigningKey || zettle["updated"] != now.Format(ms) {
		t.Errorf("Zettle's GET after the rotation = %v, want the new key, updated %s", zettle, now.Format(ms))
	}
	s, err := a.db.SubscriptionByUUID(context.Background(), subUUID)
	if err != nil || s.PreviousSigningKey != old || !s.PreviousKeyExpires.Equal(now.Add(24*time.Hour)) {
		t.Errorf("stored rotation = %+v, %v", s, err)
	}
	settings := decode[map[string]any](t, a.do("GET", extSub("self", subUUID, "/settings"), tok, ""), 200)
	if settings["standardWebhooksSecret"] != webhook.StandardWebhooksSecret(got.SigningKey) {
		t.Errorf("standardWebhooksSecret = %v, want the new key's", settings["standardWebhooksSecret"])
	}

	// The overlap of the body, then of the settings.
	second := decode[rotation](t, a.do("POST", path, tok, `{"overlap":"1h30m"}`), 200)
	if second.PreviousKeyExpires != now.Add(90*time.Minute).Format(ms) {
		t.Errorf("previousKeyExpires with overlap 1h30m = %s", second.PreviousKeyExpires)
	}
	if s, _ := a.db.SubscriptionByUUID(context.Background(), subUUID); s.PreviousSigningKey != got.SigningKey || s.SigningKey != second.SigningKey {
		t.Errorf("after a second rotation the keys are %q (previous %q)", s.SigningKey, s.PreviousSigningKey)
	}
	if r := a.do("PUT", extSub("self", subUUID, "/settings"), tok, `{"rotationOverlap":"2h"}`); r.status != 200 {
		t.Fatalf("PUT settings = %d %s", r.status, r.body)
	}
	if third := decode[rotation](t, a.do("POST", path, tok, `{}`), 200); third.PreviousKeyExpires != now.Add(2*time.Hour).Format(ms) {
		t.Errorf("previousKeyExpires with the setting 2h = %s", third.PreviousKeyExpires)
	}
	if zero := decode[rotation](t, a.do("POST", path, tok, `{"overlap":"0s"}`), 200); zero.PreviousKeyExpires != now.Format(ms) {
		t.Errorf("previousKeyExpires with no overlap = %s", zero.PreviousKeyExpires)
	}
	if max := decode[rotation](t, a.do("POST", path, tok, `{"overlap":"168h"}`), 200); max.PreviousKeyExpires != now.Add(168*time.Hour).Format(ms) {
		t.Errorf("previousKeyExpires with overlap 168h = %s", max.PreviousKeyExpires)
	}

	before := listOne(t, a, tok)["signingKey"]
	for _, bad := range []string{`{"overlap":"169h"}`, `{"overlap":"-1s"}`, `{"overlap":"a day"}`, `{"overlap":""}`} {
		wantViolation(t, a.do("POST", path, tok, bad), 422, "VALIDATION_ERROR", "overlap")
	}
	wantViolation(t, a.do("POST", path, tok, `{"overlap":24}`), 400, "INVALID_REQUEST", "overlap")
	for _, bad := range []string{`{`, `[]`, `"24h"`} {
		wantError(t, a.do("POST", path, tok, bad), 400, "INVALID_REQUEST")
	}
	if after := listOne(t, a, tok)["signingKey"]; after != before {
		t.Error("a refused rotation changed the key")
	}
}

// TestSettings: GET and PUT round trip; a PUT keeps what it omits,
// ignores the read-only secret, and leaves Zettle's updated alone.
func TestSettings(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	key := a.mustCreate(tok, subUUID, rcv.URL)
	path := extSub("self", subUUID, "/settings")
	defaults := `{"strictOrder":false,"standardWebhooks":false,"rotationOverlap":"24h","standardWebhooksSecret":"` + webhook.StandardWebhooksSecret(key) + `"}`
	if r := a.do("GET", path, tok, ""); r.status != 200 || r.body != defaults {
		t.Errorf("GET = %d %s\nwant %s", r.status, r.body, defaults)
	}
	updated := listOne(t, a, tok)["updated"]
	a.setNow(a.clock().Add(time.Hour))

	steps := []struct{ put, want string }{
		{`{"strictOrder":true}`, `{"strictOrder":true,"standardWebhooks":false,"rotationOverlap":"24h"`},
		{`{"standardWebhooks":true,"standardWebhooksSecret":"whsec_mine","color":"red"}`, `{"strictOrder":true,"standardWebhooks":true,"rotationOverlap":"24h"`},
		{`{"rotationOverlap":"90m"}`, `{"strictOrder":true,"standardWebhooks":true,"rotationOverlap":"1h30m"`},
		{`{"rotationOverlap":"0s","strictOrder":false}`, `{"strictOrder":false,"standardWebhooks":true,"rotationOverlap":"0s"`},
		{`{}`, `{"strictOrder":false,"standardWebhooks":true,"rotationOverlap":"0s"`},
		{`{"rotationOverlap":"168h"}`, `{"strictOrder":false,"standardWebhooks":true,"rotationOverlap":"168h"`},
		{`{"rotationOverlap":"45s"}`, `{"strictOrder":false,"standardWebhooks":true,"rotationOverlap":"45s"`},
	}
	for _, st := range steps {
		want := st.want + `,"standardWebhooksSecret":"` + webhook.StandardWebhooksSecret(key) + `"}`
		if r := a.do("PUT", path, tok, st.put); r.status != 200 || r.body != want {
			t.Errorf("PUT %s = %d %s\nwant %s", st.put, r.status, r.body, want)
		}
		if r := a.do("GET", path, tok, ""); r.body != want {
			t.Errorf("GET after PUT %s = %s\nwant %s", st.put, r.body, want)
		}
	}
	s, err := a.db.SubscriptionByUUID(context.Background(), subUUID)
	if err != nil || s.Settings != (webhook.Settings{StandardWebhooks: true, RotationOverlap: 45 * time.Second}) || s.SigningKey != key {
		t.Errorf("stored = %+v, %v", s, err)
	}
	if got := listOne(t, a, tok); got["updated"] != updated || got["signingKey"] != key {
		t.Errorf("Zettle's object after settings changes = %v, want updated %v and the key unchanged", got, updated)
	}

	stored := a.do("GET", path, tok, "").body
	for _, bad := range []struct{ body, property string }{
		{`{"rotationOverlap":"169h"}`, "rotationOverlap"},
		{`{"rotationOverlap":"8d"}`, "rotationOverlap"},
		{`{"rotationOverlap":"-1m"}`, "rotationOverlap"},
	} {
		wantViolation(t, a.do("PUT", path, tok, bad.body), 422, "VALIDATION_ERROR", bad.property)
	}
	for _, bad := range []struct{ body, property string }{
		{`{"strictOrder":"yes"}`, "strictOrder"},
		{`{"standardWebhooks":1}`, "standardWebhooks"},
		{`{"rotationOverlap":3600}`, "rotationOverlap"},
	} {
		wantViolation(t, a.do("PUT", path, tok, bad.body), 400, "INVALID_REQUEST", bad.property)
	}
	for _, bad := range []string{"", "{", "null", "[]"} {
		wantError(t, a.do("PUT", path, tok, bad), 400, "INVALID_REQUEST")
	}
	wantError(t, a.do("PUT", path, tok, `{}`, "Content-Type: text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE")
	if r := a.do("GET", path, tok, ""); r.body != stored {
		t.Errorf("refused PUTs changed the settings: %s, want %s", r.body, stored)
	}
}

// TestRotateKeyOperatorSink: with the operator sink on, a rotation queues
// a key_rotated notice for it, naming no key; with it off, nothing.
func TestRotateKeyOperatorSink(t *testing.T) {
	for _, sink := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[sink], func(t *testing.T) {
			a := newAPI(t, func(c *httpapi.Config) { c.OperatorSink = sink })
			rcv := newReceiver(t, http.StatusOK)
			tok := a.token(org, allScopes...)
			old := a.mustCreate(tok, subUUID, rcv.URL)
			a.setNow(a.clock().Add(time.Minute))
			now := a.clock()
			got := decode[rotation](t, a.do("POST", extSub("self", subUUID, "/rotate-key"), tok, `{"overlap":"2h"}`), 200)

			ns, err := a.db.Notices(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if !sink {
				if len(ns) != 0 {
					t.Errorf("notices with the sink off = %+v, want none", ns)
				}
				return
			}
			if len(ns) != 1 {
				t.Fatalf("notices = %+v, want one key_rotated notice", ns)
			}
			n := ns[0]
			if n.Kind != webhook.NoticeKeyRotated || n.Channel != webhook.ChannelOperator || n.SubscriptionUUID != subUUID ||
				n.OrganizationUUID != org || !n.CreatedAt.Equal(now) || !n.PreviousKeyExpires.Equal(now.Add(2*time.Hour)) {
				t.Errorf("notice = %+v", n)
			}
			if all := fmt.Sprintf("%+v", n); strings.Contains(all, old) || strings.Contains(all, got.SigningKey) {
				t.Errorf("notice %+v holds a signing key", n)
			}
		})
	}
}
