package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const publishSummary = `Publishes one event through the ingest API (POST /v1/events) and prints its
messageId. Without --token it mints a producer token with the local key.

  pusher publish --org <uuid> --event ProductCreated --payload @product.json
  echo '{"uuid":"…"}' | pusher publish --org <uuid> --event ProductDeleted --payload -`

func runPublish(ctx context.Context, args []string, getenv env, stdout, stderr io.Writer) error {
	fs := newFlagSet("publish", publishSummary, getenv, stderr)
	server := serverFlag(fs)
	token := fs.string("token", "PUSHER_TOKEN", "", "producer bearer token (scope PUSHER:PUBLISH)")
	dataDir := dataDirFlag(fs)
	org := fs.string("org", "", "", "organization UUID (required)")
	event := fs.string("event", "", "", "event name, e.g. ProductCreated (required)")
	payload := fs.string("payload", "", "", "payload JSON object: inline, @file, or - for stdin (required)")
	eventID := fs.string("event-id", "", "", "producer's unique event id; re-posting the same id is a no-op (default: random)")
	client := fs.string("client", "", "", "client id, for ApplicationConnectionRemoved and PersonalAssertionDeleted")
	timestamp := fs.string("timestamp", "", "", "event time, RFC 3339 (default: now)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *org == "" || *event == "" || *payload == "" {
		fs.Usage()
		return fmt.Errorf("--org, --event and --payload are required: %w", errUsage)
	}
	body, err := readPayloadArg(*payload, os.Stdin)
	if err != nil {
		return err
	}
	if *eventID == "" {
		*eventID = rand.Text()
	}
	tok, err := producerToken(*token, *dataDir)
	if err != nil {
		return err
	}
	ev := map[string]any{"organizationUuid": *org, "eventName": *event, "eventId": *eventID, "payload": json.RawMessage(body)}
	if *client != "" {
		ev["clientId"] = *client
	}
	if *timestamp != "" {
		ev["timestamp"] = *timestamp
	}
	var resp struct {
		MessageIDs []string `json:"messageIds"`
		Duplicates int      `json:"duplicates"`
	}
	if err := postJSON(ctx, strings.TrimRight(*server, "/")+"/v1/events", tok, ev, &resp); err != nil {
		return err
	}
	for _, id := range resp.MessageIDs {
		note := ""
		if resp.Duplicates > 0 {
			note = " (duplicate: published before, not delivered again)"
		}
		fmt.Fprintf(stdout, "accepted %s %s messageId=%s%s\n", *event, *eventID, id, note)
	}
	return nil
}

func serverFlag(fs *flagSet) *string {
	return fs.string("server", "PUSHER_URL", "http://localhost:8080", "base URL of the pusher server")
}

// readPayloadArg reads "@file", "-" (stdin) or inline JSON.
func readPayloadArg(arg string, stdin io.Reader) ([]byte, error) {
	var b []byte
	var err error
	switch {
	case arg == "-":
		b, err = io.ReadAll(stdin)
	case strings.HasPrefix(arg, "@"):
		b, err = os.ReadFile(arg[1:])
	default:
		b = []byte(arg)
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("payload is not valid JSON")
	}
	return bytes.TrimSpace(b), nil
}

// postJSON posts v and decodes a 2xx answer into out; any other answer is
// returned as an error with the server's developerMessage.
func postJSON(ctx context.Context, url, token string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			DeveloperMessage string `json:"developerMessage"`
			ErrorType        string `json:"errorType"`
		}
		if json.Unmarshal(data, &e) == nil && e.DeveloperMessage != "" {
			return fmt.Errorf("%s: HTTP %d %s: %s", url, resp.StatusCode, e.ErrorType, e.DeveloperMessage)
		}
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return json.Unmarshal(data, out)
}
