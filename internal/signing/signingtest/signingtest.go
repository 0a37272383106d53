// Package signingtest loads the shared signing test vectors,
// testdata/signatures.json at the repository root, for the tests of
// internal/signing, internal/delivery and verify: the server signs and the
// public receiver package verifies against the same bytes.
package signingtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Vectors is testdata/signatures.json.
type Vectors struct {
	// SignatureVector is pusher-api.md §4's X-iZettle-Signature test
	// vector; EscapedPayloadSignature is the classic mistake of signing the
	// payload's escaped wire form, which must not verify.
	SignatureVector struct {
		SigningKey              string `json:"signingKey"`
		Timestamp               string `json:"timestamp"`
		Payload                 string `json:"payload"`
		XIzettleSignature       string `json:"xIzettleSignature"`
		EscapedPayloadSignature string `json:"escapedPayloadSignature"`
	} `json:"signatureVector"`
	// ZettleExamples are Zettle's published envelopes, signed.
	ZettleExamples []struct {
		Name              string `json:"name"`
		Wire              string `json:"wire"`
		SigningKey        string `json:"signingKey"`
		XIzettleSignature string `json:"xIzettleSignature"`
	} `json:"zettleExamples"`
	// StandardWebhooksSpecExample is the reference libraries' published
	// webhook-signature example.
	StandardWebhooksSpecExample StandardWebhooksExample `json:"standardWebhooksSpecExample"`
	// Deliveries are whole requests as pusher sends them: body and
	// signature headers for given keys (and, with StandardWebhooks, the
	// attempt's clock).
	Deliveries []Delivery `json:"deliveries"`
	// Stripslashes are payloads and whether a PHP stripslashes-style
	// verifier fails on them.
	Stripslashes []struct {
		Name                  string `json:"name"`
		Payload               string `json:"payload"`
		WouldFailStripslashes bool   `json:"wouldFailStripslashes"`
	} `json:"stripslashes"`
}

// StandardWebhooksExample is one webhook-signature computation.
type StandardWebhooksExample struct {
	Source    string `json:"source"`
	Secret    string `json:"secret"`
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"`
	Body      string `json:"body"`
	Signature string `json:"signature"`
}

// Delivery is one signed request.
type Delivery struct {
	Name                           string            `json:"name"`
	Wire                           string            `json:"wire"`
	SigningKey                     string            `json:"signingKey"`
	PreviousSigningKey             string            `json:"previousSigningKey"`
	StandardWebhooks               bool              `json:"standardWebhooks"`
	AttemptUnix                    int64             `json:"attemptUnix"`
	StandardWebhooksSecret         string            `json:"standardWebhooksSecret"`
	PreviousStandardWebhooksSecret string            `json:"previousStandardWebhooksSecret"`
	Headers                        map[string]string `json:"headers"` // every signature header, by its spelled name
}

// Load reads testdata/signatures.json from the root of the module the test
// runs in (the nearest parent directory with a go.mod).
func Load(t testing.TB) *Vectors {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("signingtest: no go.mod above the test's directory")
		}
		dir = parent
	}
	raw, err := os.ReadFile(filepath.Join(dir, "testdata", "signatures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("testdata/signatures.json: %v", err)
	}
	if len(v.ZettleExamples) == 0 || len(v.Deliveries) == 0 || len(v.Stripslashes) == 0 || v.StandardWebhooksSpecExample.Signature == "" {
		t.Fatal("testdata/signatures.json lacks vectors")
	}
	return &v
}
