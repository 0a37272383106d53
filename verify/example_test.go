package verify_test

import (
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/pusher-hq/pusher/verify"
)

// A receiver that keeps verifying across a key rotation: it knows the new
// key and, until it has switched everywhere, the old one; pusher signs with
// both during the overlap.
func ExampleVerifier() {
	v := &verify.Verifier{Keys: []string{"the new signingKey", "the old signingKey"}, MaxAge: 72 * time.Hour}
	http.HandleFunc("/zettle", func(w http.ResponseWriter, r *http.Request) {
		res, err := v.Request(r)
		if errors.Is(err, verify.ErrTimestamp) {
			http.Error(w, "too old", http.StatusBadRequest) // signed, but a replay
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if res.IsTestMessage() {
			return // 200: the subscription is being created
		}
		var event struct {
			ProductUUID string `json:"productUuid"`
		}
		if err := res.Decode(&event); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Printf("%s %s (verified by %s with key %d)", res.EventName, event.ProductUUID, res.Header, res.Key)
	})
}

// With the subscription's standardWebhooks setting on, a Standard Webhooks
// receiver checks webhook-signature with the standardWebhooksSecret.
func ExampleStandardWebhooks() {
	http.HandleFunc("/hooks", func(w http.ResponseWriter, r *http.Request) {
		env, err := verify.StandardWebhooks(r, "whsec_…")
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		log.Printf("%s %s", env.EventName, env.MessageID) // webhook-id is the messageId
	})
}
