// Command pusher-bench measures pusher's end-to-end throughput and latency:
// it starts a pusher server on a fresh data directory, subscribes -fanout
// webhook subscriptions to a receiver in this process, publishes -events
// realistic shop events through the ingest API and waits until every message
// reached the receiver.
//
// The server is the real binary, run as a child process (built with go
// build unless -bin is given), so the bench measures exactly what pusher
// serve wires. To profile it, give it a debug listener and ask that:
//
//	go run ./cmd/pusher-bench -serve-flags "-debug-addr 127.0.0.1:6060" &
//	go tool pprof -seconds 10 http://127.0.0.1:6060/debug/pprof/profile
//
// With -database-url the servers run on PostgreSQL, in a fresh schema
// bench_<random> of that database (dropped afterwards unless -keep), and
// -instances N starts N servers sharing it: subscriptions are created
// through the first, events are published round-robin to all.
//
// On Linux the report includes the CPU time the servers (and, with
// -database-url, every postgres process on the machine, and separately the
// backends of the servers' own connections) used from the first publish to
// the last delivery.
//
// The report gives the offered rate and the delivered rate during the
// ingest and after it, the latency percentiles, the lost (never arrived)
// and duplicated messages, and the peak RSS (VmHWM) of each server, read
// right before it is stopped. -markdown FILE appends the run as one row of
// a Markdown table (docs/benchmarks.md).
//
// -backlog N writes N events and the -fanout subscriptions straight into
// the store before pusher serve starts, so it starts with N × fanout
// pending messages and no ingest runs, and measures how fast they drain.
//
// -profile FILE takes a CPU profile of the (first) server through a debug
// listener of its own, for -profile-seconds from -profile-delay after the
// start of the measurement (the first publish, or the server start with
// -backlog).
//
// -suite docs runs the standard set of runs (see suite.go) and regenerates
// the results in docs/benchmarks.md, docs/benchmarks.png and the README's
// performance table from them.
//
// -bare runs no pusher: -per-subscription × -fanout senders sign and POST
// the same envelopes to the same receiver, paced by the same -rate, which is
// the ceiling of this machine's HTTP loop. -compare-bare runs that first,
// then pusher, and prints R = pusher delivered/s ÷ bare delivered/s.
//
//	go run ./cmd/pusher-bench -events 20000 -fanout 3
//	go run ./cmd/pusher-bench -events 20000 -batch 1 -concurrency 64 -compare-bare -markdown bench.md
//	go run ./cmd/pusher-bench -backlog 100000
//	go run ./cmd/pusher-bench -database-url postgres://localhost/pusher -instances 2
//	go run ./cmd/pusher-bench -suite docs
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/signing"
	"github.com/pusher-hq/pusher/internal/simulate"
	"github.com/pusher-hq/pusher/internal/webhook"
)

type config struct {
	events, batch, concurrency, fanout int
	workers, perSub, instances         int
	bin, serveFlags, dataDir           string
	databaseURL                        string // as given; the servers get schema.dsn
	keep, verify                       bool
	bare, compareBare                  bool    // run the bare loop instead of, or before, pusher
	bareRate                           float64 // bare delivered msg/s measured before, for R
	markdown                           string  // append a table row per run to this file
	backlog                            int     // events written into the store before the servers start; 0 = ingest
	suite                              string  // run this suite instead of one run
	docsPath, readmePath, chartPath    string  // what -suite regenerates
	profile, debugAddr                 string  // CPU profile file; the server's -debug-addr it is taken through
	profileDelay, profileSeconds       time.Duration
	quietCores                         float64 // -suite waits until other processes use fewer cores than this
	quietWait                          time.Duration
	quietRepeats                       int // -suite repeats a run this often at most when others were busy during it
	timeout                            time.Duration
	rate                               float64
	seed                               uint64
}

func main() {
	var c config
	flag.IntVar(&c.events, "events", 20000, "events to publish")
	flag.IntVar(&c.batch, "batch", 50, "events per publish request")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent publishers")
	flag.IntVar(&c.fanout, "fanout", 1, "subscriptions receiving every event")
	flag.IntVar(&c.workers, "workers", delivery.DefaultWorkers, "server -workers (default: the server's)")
	flag.IntVar(&c.perSub, "per-subscription", 4, "server -per-subscription")
	flag.StringVar(&c.bin, "bin", "", "pusher binary to run (default: go build ./cmd/pusher into the temp dir)")
	flag.StringVar(&c.serveFlags, "serve-flags", "", "extra flags for pusher serve, space-separated (child process only)")
	flag.StringVar(&c.dataDir, "data-dir", "", "data directory (default: a fresh temp dir, removed afterwards)")
	flag.StringVar(&c.databaseURL, "database-url", os.Getenv("PUSHER_BENCH_DATABASE_URL"),
		"run the servers on this PostgreSQL database (postgres:// URL), in a fresh schema (env PUSHER_BENCH_DATABASE_URL); empty = SQLite")
	flag.IntVar(&c.instances, "instances", 1, "pusher serve instances sharing the database (more than 1 needs -database-url)")
	flag.BoolVar(&c.keep, "keep", false, "keep the temp dir (database and server log)")
	flag.BoolVar(&c.verify, "verify", true, "check the signature of every delivery")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up waiting for deliveries after this")
	flag.Uint64Var(&c.seed, "seed", 1, "simulation seed")
	flag.Float64Var(&c.rate, "rate", 0, "publish at most this many events/s (0 = as fast as the server acks), to measure latency below saturation")
	flag.BoolVar(&c.bare, "bare", false, "no pusher: -per-subscription × -fanout senders sign and POST the envelopes to the receiver directly")
	flag.BoolVar(&c.compareBare, "compare-bare", false, "run the -bare loop first, then pusher, and print R = pusher delivered/s ÷ bare delivered/s")
	flag.Float64Var(&c.bareRate, "bare-rate", 0, "bare delivered msg/s measured before (with the same flags): print R against it")
	flag.StringVar(&c.markdown, "markdown", "", "append one Markdown table row per run to this file (the header when it is new)")
	flag.IntVar(&c.backlog, "backlog", 0, "write this many events (and the -fanout subscriptions) straight into the store "+
		"(SQLite, or the -database-url schema) before pusher serve starts, publish nothing and measure the drain; replaces -events")
	flag.StringVar(&c.suite, "suite", "", `run a suite of runs and write its results: "docs" regenerates -docs, -readme and -chart; `+
		`"quick" is the same with few events, for trying it out (give it other paths). The suite sets -events, -batch, -concurrency, `+
		`-fanout, -rate, -backlog and -bare of each run; -bin, -workers, -per-subscription, -serve-flags, -database-url, -seed, `+
		`-timeout, -verify, -keep and -markdown apply to all`)
	flag.StringVar(&c.docsPath, "docs", "docs/benchmarks.md", "-suite: the file whose generated part (between bench markers) is rewritten")
	flag.StringVar(&c.readmePath, "readme", "README.md", "-suite: the README whose performance table (between bench markers) is rewritten")
	flag.StringVar(&c.chartPath, "chart", "docs/benchmarks.png", "-suite: the PNG chart to write")
	flag.Float64Var(&c.quietCores, "quiet-cores", 0.2, "-suite: before each run, wait until the machine's other processes keep fewer cores than this busy (0 = do not wait)")
	flag.DurationVar(&c.quietWait, "quiet-wait", 3*time.Minute, "-suite: wait at most this long for that before each run, then run anyway")
	flag.IntVar(&c.quietRepeats, "quiet-repeats", 4, "-suite: repeat a run during which other processes kept -quiet-cores or more busy, at most this often")
	flag.StringVar(&c.profile, "profile", "", "write a CPU profile of the first server to this file (taken through a -debug-addr of its own)")
	flag.DurationVar(&c.profileDelay, "profile-delay", time.Second, "-profile: start it this long after the first publish (with -backlog, the server start)")
	flag.DurationVar(&c.profileSeconds, "profile-seconds", 5*time.Second, "-profile: its length (whole seconds)")
	flag.Parse()
	if c.backlog > 0 {
		c.events = c.backlog
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "pusher-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pusher-bench:", err)
		os.Exit(1)
	}
}

// validate rejects flag combinations the bench cannot run.
func (c config) validate() error {
	switch {
	case c.events < 1 || c.batch < 1 || c.concurrency < 1 || c.fanout < 1 || c.instances < 1:
		return errors.New("-events, -batch, -concurrency, -fanout and -instances must be at least 1")
	case c.instances > 1 && c.databaseURL == "":
		return errors.New("-instances above 1 needs -database-url: instances share one PostgreSQL database " +
			"(SQLite is locked by a single server)")
	case c.bare && c.compareBare:
		return errors.New("-bare and -compare-bare exclude each other")
	case (c.bare || c.compareBare) && c.perSub < 1:
		return errors.New("-bare needs -per-subscription of at least 1 (the senders per subscription)")
	case c.backlog < 0:
		return errors.New("-backlog must not be negative")
	case c.backlog > 0 && (c.bare || c.compareBare || c.bareRate > 0):
		return errors.New("-backlog measures pusher's drain: no -bare, -compare-bare or -bare-rate")
	case c.backlog > 0 && c.rate > 0:
		return errors.New("-backlog publishes nothing: -rate does not apply")
	case c.suite != "" && suites[c.suite] == nil:
		return fmt.Errorf("-suite %q: want one of %s", c.suite, strings.Join(suiteNames(), ", "))
	case c.profile != "" && c.bare:
		return errors.New("-profile profiles a pusher server: not with -bare")
	}
	return nil
}

// run runs the bench once, or with -compare-bare the bare loop and then
// pusher, and prints R when a bare rate is known.
func run(ctx context.Context, c config) error {
	if c.suite != "" {
		return runSuite(ctx, c, suites[c.suite])
	}
	if c.profile != "" && c.debugAddr == "" {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		c.debugAddr = addr
	}
	if c.bare {
		_, err := runOnce(ctx, c, true)
		return err
	}
	bareRate := c.bareRate
	if c.compareBare {
		s, err := runOnce(ctx, c, true)
		if err != nil {
			return fmt.Errorf("bare run: %w", err)
		}
		bareRate = s.all
		fmt.Println()
	}
	s, err := runOnce(ctx, c, false)
	if err == nil && bareRate > 0 {
		fmt.Printf("R = pusher delivered/s ÷ bare delivered/s = %.0f ÷ %.0f = %.2f\n", s.all, bareRate, s.all/bareRate)
	}
	return err
}

// bench is what a pusher run and a bare run share: the config, the temp
// dir, the events, and the receiver with its HTTP server.
type bench struct {
	c      config
	tmp    string
	org    string
	events []simulate.Event
	sizes  []int
	rcv    *receiver
	dest   *httptest.Server
}

// measurement is what a pusher or bare run measured besides the receiver's
// arrivals.
type measurement struct {
	res       publishResult
	published bool                         // res is complete: every event was handed over
	label     string                       // the server (or bare) part of the configuration
	cpu       func(messages int) cpuResult // prints the CPU report and returns it; nil = not measured
	rss       []float64                    // peak RSS MiB of each pusher child
}

// runOnce runs pusher (with bare, the bare loop) on fresh events and a fresh
// receiver, prints the report and with -markdown appends its row.
func runOnce(ctx context.Context, c config, bare bool) (runStats, error) {
	b, cleanup, err := newBench(c)
	if err != nil {
		return runStats{}, err
	}
	defer cleanup()
	var m measurement
	switch {
	case bare:
		m, err = b.runBare(ctx)
	case c.backlog > 0:
		m, err = b.runBacklog(ctx)
	default:
		m, err = b.runPusher(ctx)
	}
	if !m.published {
		return runStats{}, err
	}
	s, err2 := b.report(m, bare)
	return s, errors.Join(err, err2)
}

// newBench makes the temp dir, generates the events (so generating them is
// not measured) and starts the receiver. cleanup stops the receiver and,
// without -keep, removes the temp dir.
func newBench(c config) (*bench, func(), error) {
	tmp, err := os.MkdirTemp("", "pusher-bench-")
	if err != nil {
		return nil, nil, err
	}
	if c.keep {
		fmt.Fprintln(os.Stderr, "keeping", tmp)
	}
	org := simulate.Orgs(c.seed, 1)[0]
	events, index, sizes := generate(c.seed, org, c.events)
	rcv := newReceiver(c.fanout, len(events), index, c.verify)
	dest := httptest.NewUnstartedServer(rcv)
	dest.Config.ReadHeaderTimeout = 10 * time.Second
	dest.Start()
	cleanup := func() {
		dest.Close()
		if !c.keep {
			os.RemoveAll(tmp)
		}
	}
	return &bench{c: c, tmp: tmp, org: org, events: events, sizes: sizes, rcv: rcv, dest: dest}, cleanup, nil
}

// freshSchema creates the PostgreSQL schema of a run with -database-url
// (nil without it) and returns what drops it afterwards (nothing with
// -keep, which says the schema's name instead).
func (b *bench) freshSchema(ctx context.Context) (*pgSchema, func(), error) {
	if b.c.databaseURL == "" {
		return nil, func() {}, nil
	}
	schema, err := createSchema(ctx, b.c.databaseURL)
	if err != nil {
		return nil, nil, err
	}
	if b.c.keep {
		fmt.Fprintln(os.Stderr, "keeping schema", schema.name)
		return schema, func() {}, nil
	}
	return schema, schema.dropAndReport, nil
}

// runPusher starts the servers, subscribes, publishes and waits for every
// message; it stops the servers, reading their peak RSS right before,
// before it returns.
func (b *bench) runPusher(ctx context.Context) (measurement, error) {
	c := b.c
	schema, drop, err := b.freshSchema(ctx)
	if err != nil {
		return measurement{}, err
	}
	defer drop() // after the servers stopped: deferred before they start
	if c.dataDir == "" {
		c.dataDir = filepath.Join(b.tmp, "data")
	}
	key, err := auth.LoadOrCreateLocalKey(c.dataDir)
	if err != nil {
		return measurement{}, err
	}
	srvs, err := startServers(c, b.tmp, schema)
	if err != nil {
		return measurement{}, err
	}
	defer srvs.stop()
	pubToken, err := b.subscribeAll(key, srvs[0].url())
	if err != nil {
		return measurement{}, err
	}
	cpuBefore, cpuErr := sampleCPU(ctx, srvs.pids(), schema)
	waitProfile := startProfile(ctx, c)
	res, err := publish(ctx, c, srvs.urls(), pubToken, b.events, b.rcv)
	if err != nil {
		return measurement{}, err
	}
	err = await(ctx, c, b.rcv)
	cpuAfter, cpuErr2 := sampleCPU(ctx, srvs.pids(), schema)
	err = errors.Join(err, waitProfile())
	srvs.stop()
	m := measurement{res: res, published: true, label: serverLabel(c, schema), rss: srvs.peaks()}
	m.cpu = func(messages int) cpuResult {
		return reportCPU(cpuBefore, cpuAfter, errors.Join(cpuErr, cpuErr2), messages)
	}
	return m, err
}

// subscribeAll subscribes the -fanout subscriptions to the receiver through
// base and returns a publish token.
func (b *bench) subscribeAll(key *auth.LocalKey, base string) (string, error) {
	subToken, err := key.Mint(auth.Claims{OrganizationUUID: b.org, ClientID: "bench",
		Scope: []string{webhook.ScopePurchase, webhook.ScopeProduct, webhook.ScopeUserInfo}}, time.Now(), 24*time.Hour)
	if err != nil {
		return "", err
	}
	pubToken, err := key.Mint(auth.Claims{ClientID: "producer", Scope: []string{auth.ScopePublish}}, time.Now(), 24*time.Hour)
	if err != nil {
		return "", err
	}
	for i := range b.c.fanout {
		k, err := subscribe(base, subToken, fmt.Sprintf("%s/s/%d", b.dest.URL, i))
		if err != nil {
			return "", fmt.Errorf("subscription %d: %w", i, err)
		}
		b.rcv.keys[i].Store(&k)
	}
	return pubToken, nil
}

// await waits until every message arrived, ctx is done or c.timeout passed.
func await(ctx context.Context, c config, rcv *receiver) error {
	select {
	case <-rcv.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("interrupted: %d of %d messages arrived", rcv.arrived.Load(), c.events*c.fanout)
	case <-time.After(c.timeout):
		return fmt.Errorf("timeout: %d of %d messages arrived (duplicates so far %d)",
			rcv.arrived.Load(), c.events*c.fanout, rcv.dups.Load())
	}
}

// generate returns n events of one organization from the simulated shop,
// the index of each messageId, and the payload sizes.
func generate(seed uint64, org string, n int) ([]simulate.Event, map[string]int, []int) {
	shop := simulate.NewShop(seed, []string{org}, simulate.DefaultStart(seed))
	events := make([]simulate.Event, 0, n)
	for len(events) < n {
		events = append(events, shop.Next()...)
	}
	events = events[:n]
	index := make(map[string]int, n)
	sizes := make([]int, n)
	for i, ev := range events {
		index[webhook.MessageID(strings.ToLower(ev.OrganizationUUID), ev.EventName, ev.EventID)] = i
		sizes[i] = len(ev.Payload)
	}
	return events, index, sizes
}

// receiver is the destination of every subscription: /s/{i} is
// subscription i. It records each message's first arrival.
type receiver struct {
	fanout  int
	index   map[string]int // messageId → event index; read-only
	verify  bool
	keys    []atomic.Pointer[string] // signing key per subscription; set before publishing
	first   [][]atomic.Int64
	arrived atomic.Int64 // first arrivals
	dups    atomic.Int64
	badSig  atomic.Int64
	unknown atomic.Int64
	total   int64
	done    chan struct{}
	once    sync.Once
	sent    []atomic.Int64 // publish request start per event, unix ns
}

func newReceiver(fanout, n int, index map[string]int, verify bool) *receiver {
	r := &receiver{fanout: fanout, index: index, verify: verify, keys: make([]atomic.Pointer[string], fanout),
		first: make([][]atomic.Int64, fanout), total: int64(n * fanout), done: make(chan struct{}),
		sent: make([]atomic.Int64, n)}
	for i := range r.first {
		r.first[i] = make([]atomic.Int64, n)
	}
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now().UnixNano()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	var sub int
	if _, err := fmt.Sscanf(req.URL.Path, "/s/%d", &sub); err != nil || sub < 0 || sub >= r.fanout {
		http.Error(w, "no such subscription", http.StatusNotFound)
		return
	}
	env, err := webhook.ParseEnvelope(body)
	if err != nil {
		http.Error(w, "not an envelope", http.StatusBadRequest)
		return
	}
	if env.EventName == webhook.TestMessage {
		return // 200; the key is not known before the create returns
	}
	if r.verify {
		key := r.keys[sub].Load()
		if key == nil || !signing.Verify(*key, env.Timestamp, env.Payload, req.Header.Get(signing.Header)) {
			r.badSig.Add(1)
		}
	}
	i, ok := r.index[env.MessageID]
	if !ok {
		r.unknown.Add(1)
		return
	}
	if !r.first[sub][i].CompareAndSwap(0, now) {
		r.dups.Add(1)
		return
	}
	if r.arrived.Add(1) == r.total {
		r.once.Do(func() { close(r.done) })
	}
}

// publishResult holds the publishers' timings.
type publishResult struct {
	start, end time.Time       // first request sent, last answer received
	requests   []time.Duration // duration of each publish request
	duplicates int
}

// publish posts the events in batches from c.concurrency goroutines.
// Request k goes to server k%len(bases), so the servers share the ingest
// round-robin.
func publish(ctx context.Context, c config, bases []string, token string, events []simulate.Event, rcv *receiver) (publishResult, error) {
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: c.concurrency}}
	type batch struct{ seq, from, to int }
	batches := make(chan batch)
	t0 := time.Now()
	go func() {
		for i, seq := 0, 0; i < len(events); i, seq = i+c.batch, seq+1 {
			if c.rate > 0 { // batch i is due when i events were due
				time.Sleep(time.Until(t0.Add(time.Duration(float64(i) / c.rate * float64(time.Second)))))
			}
			batches <- batch{seq, i, min(i+c.batch, len(events))}
		}
		close(batches)
	}()
	var (
		mu       sync.Mutex
		res      publishResult
		firstErr error
		wg       sync.WaitGroup
	)
	res.start = t0
	for range c.concurrency {
		wg.Go(func() {
			for b := range batches {
				body, err := json.Marshal(events[b.from:b.to])
				if err != nil {
					panic(err)
				}
				t0 := time.Now()
				for i := b.from; i < b.to; i++ {
					rcv.sent[i].Store(t0.UnixNano())
				}
				ids, dups, err := post(ctx, client, bases[b.seq%len(bases)], token, body)
				d := time.Since(t0)
				if err == nil && len(ids) != b.to-b.from {
					err = fmt.Errorf("%d messageIds for %d events", len(ids), b.to-b.from)
				}
				for k, id := range ids {
					if err == nil && rcv.index[id] != b.from+k {
						err = fmt.Errorf("messageId %s of event %d is not the expected one", id, b.from+k)
					}
				}
				mu.Lock()
				res.requests = append(res.requests, d)
				res.duplicates += dups
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.end = time.Now()
	return res, firstErr
}

func post(ctx context.Context, client *http.Client, base, token string, body []byte) ([]string, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return nil, 0, fmt.Errorf("publish: HTTP %d: %s", resp.StatusCode, data)
	}
	var out struct {
		MessageIDs []string `json:"messageIds"`
		Duplicates int      `json:"duplicates"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, 0, err
	}
	return out.MessageIDs, out.Duplicates, nil
}

func subscribe(base, token, dest string) (string, error) {
	id, err := uuid.NewUUID()
	if err != nil {
		return "", err
	}
	body, _ := json.Marshal(map[string]any{
		"uuid": id.String(), "transportName": "WEBHOOK", "eventNames": []string{},
		"destination": dest, "contactEmail": "bench@example.com",
	})
	req, err := http.NewRequest(http.MethodPost, base+"/organizations/self/subscriptions", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	var sub struct {
		SigningKey string `json:"signingKey"`
	}
	if err := json.Unmarshal(data, &sub); err != nil {
		return "", err
	}
	return sub.SigningKey, nil
}

// report prints the report of a run and with -markdown appends its row; the
// error is a bad signature or a failed append.
func (b *bench) report(m measurement, bare bool) (runStats, error) {
	c := b.c
	s := summarize(configLabel(c, m.label, bare), m.res, b.rcv)
	s.rssMiB = m.rss
	s.backlog = c.backlog > 0
	fmt.Printf("%s; GOMAXPROCS=%d\n", s.config, runtime.GOMAXPROCS(0))
	printStats(s)
	if !bare && !s.backlog {
		fmt.Printf("ingest: all acked after %v; request (batch of %d) p50=%v p99=%v max=%v; producer duplicates=%d\n",
			s.ingest.Round(time.Millisecond), c.batch, pct(m.res.requests, 50), pct(m.res.requests, 99),
			pct(m.res.requests, 100), m.res.duplicates)
	}
	printPayload(b.sizes, c.fanout)
	if u := b.rcv.unknown.Load(); u > 0 {
		fmt.Printf("WARNING: %d deliveries with unknown messageIds\n", u)
	}
	if m.cpu != nil {
		r := m.cpu(s.arrived)
		s.cpuPerMsg, s.pusherCores, s.benchCores, s.otherCores = r.perMsg, r.pusherCores, r.benchCores, r.otherCores
	}
	var err error
	if c.markdown != "" {
		if e := appendMarkdown(c.markdown, s); e != nil {
			err = fmt.Errorf("-markdown: %w", e)
		}
	}
	if bad := b.rcv.badSig.Load(); bad > 0 {
		err = errors.Join(err, fmt.Errorf("%d deliveries had a bad signature", bad))
	}
	return s, err
}

// serverLabel describes the servers of a pusher run.
func serverLabel(c config, schema *pgSchema) string {
	store := "SQLite"
	if schema != nil {
		store = "PostgreSQL"
	}
	label := fmt.Sprintf("pusher %d× %s workers=%d per-subscription=%d", c.instances, store, c.workers, c.perSub)
	if c.serveFlags != "" {
		label += " " + c.serveFlags
	}
	return label
}

// configLabel describes a run: the server (or bare) label, the fan-out, the
// publishers and the pacing.
func configLabel(c config, label string, bare bool) string {
	if c.backlog > 0 {
		return label + fmt.Sprintf("; backlog=%d fanout=%d", c.backlog, c.fanout)
	}
	label += fmt.Sprintf("; events=%d fanout=%d", c.events, c.fanout)
	if !bare {
		label += fmt.Sprintf(" batch=%d concurrency=%d", c.batch, c.concurrency)
	}
	if c.rate > 0 {
		return label + fmt.Sprintf(" rate=%.0f/s", c.rate)
	}
	return label + " unpaced"
}

// printPayload prints the payload sizes and the bytes published and
// delivered.
func printPayload(sizes []int, fanout int) {
	total := 0
	for _, s := range sizes {
		total += s
	}
	sorted := slices.Clone(sizes)
	slices.Sort(sorted)
	fmt.Printf("payload bytes: avg=%d p50=%d p99=%d max=%d; total %.1f MB published, %.1f MB delivered\n",
		total/len(sizes), sorted[len(sorted)/2], sorted[len(sorted)*99/100], sorted[len(sorted)-1],
		float64(total)/1e6, float64(total*fanout)/1e6)
}

// server is a pusher server under test.
type server interface {
	url() string
	pid() int                // the process running it, for the CPU accounting
	peakRSS() (int64, error) // its peak RSS in bytes, read when it was stopped
	stop()                   // idempotent
}

// cluster is the servers under test: one, or with -instances N sharing a
// PostgreSQL database.
type cluster []server

// startServers starts c.instances pusher serve
// children (on schema when it is not nil), one after the other so the first
// applies the migrations alone. The first child logs to serve.log in tmp,
// child i (1-based) from the second on to serve-<i>.log.
func startServers(c config, tmp string, schema *pgSchema) (cluster, error) {
	bin, err := buildPusher(c.bin, tmp)
	if err != nil {
		return nil, err
	}
	args := serveArgs(c, schema)
	var cl cluster
	for i := range c.instances {
		logPath := filepath.Join(tmp, "serve.log")
		if i > 0 {
			logPath = filepath.Join(tmp, fmt.Sprintf("serve-%d.log", i+1))
		}
		args := args
		if i == 0 && c.debugAddr != "" { // the first instance is the one profiled
			args = append(slices.Clip(args), "-debug-addr", c.debugAddr)
		}
		s, err := startChild(bin, args, logPath)
		if err != nil {
			cl.stop()
			return nil, fmt.Errorf("instance %d: %w", i+1, err)
		}
		cl = append(cl, s)
	}
	return cl, nil
}

// urls returns the base URL of every server.
func (cl cluster) urls() []string {
	var out []string
	for _, s := range cl {
		out = append(out, s.url())
	}
	return out
}

// pids returns the process of every server.
func (cl cluster) pids() []int {
	var out []int
	for _, s := range cl {
		out = append(out, s.pid())
	}
	return out
}

// peaks returns the peak RSS of every server in MiB, NaN for one not
// measured.
func (cl cluster) peaks() []float64 {
	var out []float64
	for _, s := range cl {
		b, err := s.peakRSS()
		if err != nil {
			fmt.Printf("peak RSS: pid %d: %v\n", s.pid(), err)
			out = append(out, math.NaN())
			continue
		}
		out = append(out, float64(b)/(1<<20))
	}
	return out
}

// stop stops all servers at once.
func (cl cluster) stop() {
	var wg sync.WaitGroup
	for _, s := range cl {
		wg.Go(s.stop)
	}
	wg.Wait()
}

// childServer is pusher serve running as a child process.
type childServer struct {
	cmd      *exec.Cmd
	base     string
	done     chan error
	stopOnce sync.Once
	peak     int64 // VmHWM in bytes, read right before stopping
	peakErr  error
}

// buildPusher returns bin, or when it is empty builds pusher into tmp.
func buildPusher(bin, tmp string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(tmp, "pusher")
	build := exec.Command("go", "build", "-o", bin, "github.com/pusher-hq/pusher/cmd/pusher")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build (run from the module, or pass -bin): %w", err)
	}
	return bin, nil
}

// loopbackCIDRs is the delivery allow-list of the servers under test: the
// bench's receiver listens on loopback, which pusher refuses by default.
const loopbackCIDRs = "127.0.0.0/8,::1/128"

// serveArgs returns the command line of every pusher serve child: all share
// the data directory (the local token key), and the schema when not nil.
func serveArgs(c config, schema *pgSchema) []string {
	args := []string{"serve", "-addr", "127.0.0.1:0", "-data-dir", c.dataDir, "-allow-http",
		"-allow-destination-cidrs", loopbackCIDRs,
		"-workers", fmt.Sprint(c.workers), "-per-subscription", fmt.Sprint(c.perSub),
		"-ingest-rate", "0"} // a benchmark measures the server, not its abuse limit; -serve-flags may set one
	if schema != nil {
		args = append(args, "-database-url", schema.dsn)
	}
	return append(args, strings.Fields(c.serveFlags)...)
}

// startChild starts bin with args, logging to logPath, and waits until it
// printed its address.
func startChild(bin string, args []string, logPath string) (server, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = childSysProcAttr() // the server dies with this process
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &childServer{cmd: cmd, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "http://"); i >= 0 && strings.Contains(sc.Text(), " listening on ") {
				select {
				case addr <- strings.TrimSpace(sc.Text()[i:]):
				default:
				}
			}
		}
		s.done <- cmd.Wait()
	}()
	select {
	case s.base = <-addr:
		return s, nil
	case err := <-s.done:
		return nil, fmt.Errorf("pusher serve exited: %v (log in %s)", err, logFile.Name())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, errors.New("pusher serve did not print its address within 30 s")
	}
}

func (s *childServer) url() string { return s.base }

func (s *childServer) pid() int { return s.cmd.Process.Pid }

func (s *childServer) peakRSS() (int64, error) { return s.peak, s.peakErr }

// stop reads the child's peak RSS, then sends it SIGTERM and waits (30 s at
// most, then kills it). Only the first call does anything.
func (s *childServer) stop() {
	s.stopOnce.Do(func() {
		s.peak, s.peakErr = peakRSS(s.pid())
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	})
}
