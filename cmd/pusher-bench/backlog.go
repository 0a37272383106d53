package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/store/postgres"
	"github.com/pusher-hq/pusher/internal/store/sqlite"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// backlogBatch is how many events writeBacklog publishes per store call.
const backlogBatch = 500

// backlogStore is what writeBacklog needs of a store.
type backlogStore interface {
	CreateSubscription(ctx context.Context, s *webhook.Subscription) error
	Publish(ctx context.Context, events []store.Event) ([]store.PublishResult, error)
	Close() error
}

// runBacklog writes the events and the -fanout subscriptions straight into
// a fresh store, then starts the servers on it, so they start with
// events × fanout pending messages and no ingest runs, and waits until
// every message arrived. The drain is timed from the start of the first
// server process (the ingest of runStats is empty: it starts and ends
// there), so latencies are the time from that start to each arrival. The
// CPU of pusher counts from its process start: all of it.
func (b *bench) runBacklog(ctx context.Context) (measurement, error) {
	c := b.c
	schema, drop, err := b.freshSchema(ctx)
	if err != nil {
		return measurement{}, err
	}
	defer drop()
	if c.dataDir == "" {
		c.dataDir = filepath.Join(b.tmp, "data")
	}
	if c.bin, err = buildPusher(c.bin, b.tmp); err != nil { // before the clock starts
		return measurement{}, err
	}
	st, err := openBacklogStore(ctx, c.dataDir, schema)
	if err != nil {
		return measurement{}, err
	}
	t0 := time.Now()
	keys, err := writeBacklog(ctx, st, b.org, b.dest.URL, b.events, c.fanout, t0)
	if cerr := st.Close(); err == nil { // releases the data directory for serve
		err = cerr
	}
	if err != nil {
		return measurement{}, fmt.Errorf("write the backlog: %w", err)
	}
	d := time.Since(t0)
	fmt.Printf("backlog: wrote %d events (%d messages) into the store in %v (%.0f events/s, %d per call)\n",
		len(b.events), len(b.events)*c.fanout, d.Round(time.Millisecond), rate(len(b.events), d), backlogBatch)
	for i := range keys {
		b.rcv.keys[i].Store(&keys[i])
	}

	cpuBefore, cpuErr := sampleCPU(ctx, nil, schema) // pusher's CPU is 0 before it starts
	start := cpuBefore.at
	for i := range b.rcv.sent {
		b.rcv.sent[i].Store(start.UnixNano())
	}
	srvs, err := startServers(c, b.tmp, schema)
	if err != nil {
		return measurement{}, err
	}
	defer srvs.stop()
	stopProfile := startProfile(ctx, c)
	err = await(ctx, c, b.rcv)
	cpuAfter, cpuErr2 := sampleCPU(ctx, srvs.pids(), schema)
	err = errors.Join(err, stopProfile())
	srvs.stop()
	m := measurement{res: publishResult{start: start, end: start}, published: true,
		label: serverLabel(c, schema), rss: srvs.peaks()}
	m.cpu = func(messages int) cpuResult {
		return reportCPU(cpuBefore, cpuAfter, errors.Join(cpuErr, cpuErr2), messages)
	}
	return m, err
}

// openBacklogStore opens the store pusher serve will run on: the schema's
// PostgreSQL database, or else the SQLite database in dataDir, as serve
// opens them (applying the migrations).
func openBacklogStore(ctx context.Context, dataDir string, schema *pgSchema) (backlogStore, error) {
	if schema != nil {
		return postgres.Open(ctx, schema.dsn)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, filepath.Join(dataDir, sqlite.FileName))
}

// writeBacklog creates fanout ACTIVE subscriptions of org for every event,
// subscription i delivering to dest/s/i, and publishes events in batches of
// backlogBatch, as the ingest API would store them at now. It returns the
// subscriptions' signing keys. Every event must be new and get fanout
// messages.
func writeBacklog(ctx context.Context, st backlogStore, org, dest string, events []simulate.Event, fanout int, now time.Time) ([]string, error) {
	org = strings.ToLower(org)
	keys := make([]string, fanout)
	for i := range keys {
		id, err := uuid.NewUUID()
		if err != nil {
			return nil, err
		}
		keys[i] = signing.NewKey()
		s := &webhook.Subscription{UUID: id.String(), OrganizationUUID: org, ClientID: "bench",
			TransportName: webhook.TransportWebhook, EventNames: []string{},
			Destination: fmt.Sprintf("%s/s/%d", dest, i), ContactEmail: "bench@example.com",
			Status: webhook.Active, SigningKey: keys[i], Created: now, Updated: now}
		if err := st.CreateSubscription(ctx, s); err != nil {
			return nil, fmt.Errorf("subscription %d: %w", i, err)
		}
	}
	envs, err := bareEnvelopes(events, now)
	if err != nil {
		return nil, err
	}
	for from := 0; from < len(events); from += backlogBatch {
		to := min(from+backlogBatch, len(events))
		batch := make([]store.Event, 0, to-from)
		for i := from; i < to; i++ {
			ev := events[i]
			batch = append(batch, store.Event{Envelope: envs[i], SourceEventName: ev.EventName,
				EventID: ev.EventID, ClientID: ev.ClientID, Now: now})
		}
		res, err := st.Publish(ctx, batch)
		if err != nil {
			return nil, err
		}
		for k, r := range res {
			if r.Duplicate || r.Messages != fanout {
				return nil, fmt.Errorf("event %d (%s): duplicate=%v, %d messages, want %d",
					from+k, r.MessageID, r.Duplicate, r.Messages, fanout)
			}
		}
	}
	return keys, nil
}
