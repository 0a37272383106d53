package verify_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/pusher-hq/pusher/verify"
)

type example struct {
	Wire              string `json:"wire"`
	SigningKey        string `json:"signingKey"`
	XIzettleSignature string `json:"xIzettleSignature"`
}

// Zettle's published envelopes and signatures verify; a changed byte or
// another key does not.
func TestPublishedExamples(t *testing.T) {
	raw, err := os.ReadFile("../internal/webhook/testdata/zettle-examples.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Examples []example }
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Examples) == 0 {
		t.Fatal("no examples")
	}
	for _, e := range f.Examples {
		env, err := verify.Body([]byte(e.Wire), e.XIzettleSignature, "old-key", e.SigningKey)
		if err != nil || env.MessageID == "" || env.Payload == "" {
			t.Errorf("published example: %+v, %v", env, err)
		}
		tampered := strings.Replace(e.Wire, `"timestamp":"2`, `"timestamp":"3`, 1)
		if _, err := verify.Body([]byte(tampered), e.XIzettleSignature, e.SigningKey); !errors.Is(err, verify.ErrBadSignature) {
			t.Errorf("tampered timestamp: %v, want ErrBadSignature", err)
		}
		if _, err := verify.Body([]byte(e.Wire), e.XIzettleSignature, "another-key"); !errors.Is(err, verify.ErrBadSignature) {
			t.Errorf("wrong key: %v, want ErrBadSignature", err)
		}
	}
}

// Through a real HTTP request: a missing header and a non-envelope body
// have their own errors.
func TestRequest(t *testing.T) {
	raw, _ := os.ReadFile("../internal/webhook/testdata/zettle-examples.json")
	var f struct{ Examples []example }
	json.Unmarshal(raw, &f)
	e := f.Examples[0]
	got := make(chan error, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := verify.Request(r, e.SigningKey)
		got <- err
	}))
	defer srv.Close()
	post := func(body, sig string) error {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if sig != "" {
			req.Header.Set(verify.Header, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return <-got
	}
	if err := post(e.Wire, e.XIzettleSignature); err != nil {
		t.Errorf("signed delivery: %v", err)
	}
	if err := post(e.Wire, ""); !errors.Is(err, verify.ErrNoSignature) {
		t.Errorf("no header: %v, want ErrNoSignature", err)
	}
	if err := post(`{"hello":"world"}`, e.XIzettleSignature); !errors.Is(err, verify.ErrNotEnvelope) {
		t.Errorf("not an envelope: %v, want ErrNotEnvelope", err)
	}
}
