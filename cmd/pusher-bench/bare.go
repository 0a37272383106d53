package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// bareJob is one message of the bare loop: event i for subscription sub.
type bareJob struct{ i, sub int }

// runBare drives the receiver without pusher: -per-subscription × -fanout
// senders sign and POST the envelopes pusher would deliver, paced by -rate
// when set. Every send is attempted once, so a failed one counts as lost.
func (b *bench) runBare(ctx context.Context) (measurement, error) {
	envs, err := bareEnvelopes(b.events, time.Now())
	if err != nil {
		return measurement{}, err
	}
	keys := make([]string, b.c.fanout)
	for i := range keys {
		keys[i] = signing.NewKey()
		b.rcv.keys[i].Store(&keys[i])
	}
	senders := b.c.perSub * b.c.fanout
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy, tr.MaxIdleConns, tr.MaxIdleConnsPerHost = nil, 0, senders
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	res, failed := sendBare(ctx, b.c, senders, client, b.dest.URL, envs, keys, b.rcv)
	m := measurement{res: res, published: true, label: fmt.Sprintf("bare senders=%d", senders)}
	if failed > 0 {
		fmt.Printf("bare: %d sends failed (not retried)\n", failed)
	}
	return m, ctx.Err()
}

// sendBare hands every message to the senders, fanout per event and paced
// by c.rate, and returns when all sends finished, with the number that
// failed. The ingest ends when the last message was handed over.
func sendBare(ctx context.Context, c config, senders int, client *http.Client, base string,
	envs []webhook.Envelope, keys []string, rcv *receiver) (publishResult, int64) {
	jobs := make(chan bareJob)
	res := publishResult{start: time.Now()}
	go func() {
		defer close(jobs)
		for i := range envs {
			if c.rate > 0 { // event i is due when i events were due
				time.Sleep(time.Until(res.start.Add(time.Duration(float64(i) / c.rate * float64(time.Second)))))
			}
			rcv.sent[i].Store(time.Now().UnixNano())
			for sub := range c.fanout {
				select {
				case jobs <- bareJob{i, sub}:
				case <-ctx.Done():
					return
				}
			}
		}
		res.end = time.Now() // read after the senders finished, so after close
	}()
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for j := range jobs {
				url := fmt.Sprintf("%s/s/%d", base, j.sub)
				if err := sendOne(ctx, client, url, keys[j.sub], envs[j.i]); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if res.end.IsZero() { // interrupted
		res.end = time.Now()
	}
	return res, failed.Load()
}

// sendOne POSTs env to url signed with key as pusher's delivery client
// does, and reads the answer.
func sendOne(ctx context.Context, client *http.Client, url, key string, env webhook.Envelope) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(env.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(signing.Header, signing.Sign(key, env.Timestamp, env.Payload))
	req.Header.Set("User-Agent", "pusher-bench-bare")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// bareEnvelopes returns the envelopes pusher's ingest builds for events
// (at now for an event without a timestamp).
func bareEnvelopes(events []simulate.Event, now time.Time) ([]webhook.Envelope, error) {
	out := make([]webhook.Envelope, len(events))
	for i, ev := range events {
		ts := now
		if ev.Timestamp != "" {
			t, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			ts = t
		}
		payload, err := compactJSON(ev.Payload)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		org := strings.ToLower(ev.OrganizationUUID)
		out[i] = webhook.NewEnvelope(org, webhook.DeliveredName(ev.EventName),
			webhook.MessageID(org, ev.EventName, ev.EventID), payload, ts)
	}
	return out, nil
}

// compactJSON returns raw, a JSON object or a string holding one, as
// compact JSON text.
func compactJSON(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		raw = []byte(s)
	}
	var b bytes.Buffer
	err := json.Compact(&b, raw)
	return b.String(), err
}
