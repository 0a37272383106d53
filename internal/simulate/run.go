package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures Run.
type Options struct {
	BaseURL     string        // e.g. http://127.0.0.1:8080
	Token       string        // bearer token for the ingest API
	Orgs        []string      // organizations to simulate; Orgs(Seed, 3) if empty
	Rate        float64       // events per second in total (across orgs); 0 = as fast as the server takes them
	Duration    time.Duration // 0 = until ctx is cancelled (or Count is reached)
	Count       int           // stop after this many events (0 = no limit)
	Seed        uint64
	Start       time.Time    // start of the simulated clock; zero = DefaultStart(Seed)
	Batch       int          // max events per request (default 50)
	Concurrency int          // concurrent requests (default 4)
	Status      io.Writer    // progress line, rewritten in place with \r every 250ms; may be nil
	Client      *http.Client // default: a client with a 30 s timeout
}

const (
	defaultBatch       = 50
	defaultConcurrency = 4
	defaultOrgs        = 3
	// linger is how long a partly filled batch may wait for more events.
	linger = 100 * time.Millisecond
	// maxErrorBody caps how much of an error response is read.
	maxErrorBody = 64 << 10
)

// Run generates events with a Shop and posts them to o.BaseURL/v1/events in
// batches, paced to o.Rate, until o.Count events were sent, o.Duration has
// passed or ctx is cancelled. Cancelling ctx stops cleanly: requests in
// flight finish and are counted, events not yet sent are dropped.
//
// Rejected requests (any status but 202, or a transport error) are counted
// as errors and not retried. Run returns an error for invalid options, or
// when the server answers 401, since every later request would fail too;
// the summary is valid in both cases.
func Run(ctx context.Context, o Options) (Summary, error) {
	ownClient := o.Client == nil
	o, endpoint, err := o.withDefaults()
	if err != nil {
		return Summary{}, err
	}
	if ownClient {
		defer o.Client.CloseIdleConnections()
	}
	r := &runner{o: o, endpoint: endpoint, tally: newTally()}
	stop, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	r.abort = abort

	r.started = time.Now()
	stopStatus := r.showStatus()
	batches := make(chan []Event)
	var workers sync.WaitGroup
	for range o.Concurrency {
		workers.Go(func() {
			for b := range batches {
				r.post(context.WithoutCancel(ctx), b)
			}
		})
	}
	r.produce(stop, NewShop(o.Seed, o.Orgs, o.Start), batches)
	close(batches)
	workers.Wait()
	stopStatus()

	sum := r.summary(time.Since(r.started))
	if cause := context.Cause(stop); errors.Is(cause, ErrUnauthorized) {
		return sum, cause
	}
	return sum, nil
}

func (o Options) withDefaults() (Options, string, error) {
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, "", fmt.Errorf("simulate: base URL %q is not an http(s) URL", o.BaseURL)
	}
	if o.Rate < 0 || o.Count < 0 || o.Duration < 0 {
		return o, "", errors.New("simulate: rate, count and duration must not be negative")
	}
	if o.Batch <= 0 {
		o.Batch = defaultBatch
	}
	if o.Concurrency <= 0 {
		o.Concurrency = defaultConcurrency
	}
	if len(o.Orgs) == 0 {
		o.Orgs = Orgs(o.Seed, defaultOrgs)
	}
	if o.Start.IsZero() {
		o.Start = DefaultStart(o.Seed)
	}
	if o.Client == nil {
		o.Client = newClient(o.Concurrency)
	}
	return o, strings.TrimRight(o.BaseURL, "/") + "/v1/events", nil
}

func newClient(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = concurrency
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// ErrUnauthorized is returned by Run when the ingest API answers 401: every
// further request would be rejected too, so Run stops.
var ErrUnauthorized = errors.New("simulate: the ingest API rejected the token (401)")

// runner is the state of one Run. The counters are shared with the workers
// and the status line; tally belongs to the producer.
type runner struct {
	o        Options
	endpoint string
	abort    context.CancelCauseFunc
	started  time.Time

	sent, acknowledged, duplicates, failed, requests atomic.Int64

	mu        sync.Mutex
	lastError string

	tally *tally
}

// produce paces events from shop into batches until the count or duration
// is reached or stop is cancelled. A batch is handed to a worker when it is
// full, or when waiting for the next event would hold its first event back
// for longer than linger.
func (r *runner) produce(stop context.Context, shop *Shop, out chan<- []Event) {
	gen := stop
	if r.o.Duration > 0 {
		var cancel context.CancelFunc
		gen, cancel = context.WithTimeout(stop, r.o.Duration)
		defer cancel()
	}
	p := newPacer(r.o.Rate)
	var queue, batch []Event
	var batchSince time.Time
	flush := func() bool {
		ok := r.handOff(stop, out, batch)
		batch = nil
		return ok
	}
	for generated := 0; r.o.Count == 0 || generated < r.o.Count; generated++ {
		if len(queue) == 0 {
			queue = shop.Next()
		}
		wait := p.reserve(time.Now())
		if len(batch) > 0 && time.Since(batchSince)+wait >= linger && !flush() {
			return
		}
		if !sleep(gen, wait) {
			break
		}
		if len(batch) == 0 {
			batchSince = time.Now()
		}
		batch, queue = append(batch, queue[0]), queue[1:]
		if len(batch) >= r.o.Batch && !flush() {
			return
		}
	}
	if len(batch) > 0 {
		flush()
	}
}

// handOff gives batch to a worker, or reports false if stop is cancelled
// first (the batch is then dropped).
func (r *runner) handOff(stop context.Context, out chan<- []Event, batch []Event) bool {
	if stop.Err() != nil {
		return false
	}
	select {
	case out <- batch:
		r.sent.Add(int64(len(batch)))
		r.tally.add(batch)
		return true
	case <-stop.Done():
		return false
	}
}

// sleep waits for d, or reports false if ctx is done first.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pacer spaces events 1/rate apart. When it falls behind (a slow server),
// it catches up by at most maxCatchUp worth of events.
type pacer struct {
	interval time.Duration
	next     time.Time
}

const maxCatchUp = time.Second

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return &pacer{}
	}
	return &pacer{interval: time.Duration(float64(time.Second) / rate)}
}

// reserve books the next event's slot and returns how long to wait for it.
func (p *pacer) reserve(now time.Time) time.Duration {
	if p.interval == 0 {
		return 0
	}
	if p.next.Before(now.Add(-maxCatchUp)) {
		p.next = now
	}
	wait := p.next.Sub(now)
	p.next = p.next.Add(p.interval)
	return wait
}

// post sends one batch and counts the outcome.
func (r *runner) post(ctx context.Context, batch []Event) {
	r.requests.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, bytes.NewReader(encodeJSON(batch)))
	if err != nil {
		r.fail(err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if r.o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.o.Token)
	}
	resp, err := r.o.Client.Do(req)
	if err != nil {
		r.fail(err.Error())
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		r.fail(describeErrorResponse(resp))
		if resp.StatusCode == http.StatusUnauthorized {
			r.abort(ErrUnauthorized)
		}
		return
	}
	var ack struct {
		MessageIDs []string `json:"messageIds"`
		Duplicates int      `json:"duplicates"` // events whose eventId was published before
	}
	if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
		r.fail("202 with an unreadable body: " + err.Error())
		return
	}
	if len(ack.MessageIDs) != len(batch) {
		r.fail(fmt.Sprintf("202 acknowledged %d of %d events", len(ack.MessageIDs), len(batch)))
		return
	}
	r.acknowledged.Add(int64(len(batch)))
	r.duplicates.Add(int64(ack.Duplicates))
}

func (r *runner) fail(msg string) {
	r.failed.Add(1)
	r.mu.Lock()
	r.lastError = msg
	r.mu.Unlock()
}

// describeErrorResponse summarizes an error answer of the ingest API, whose
// body is {"developerMessage":…,"errorType":…,"violations":[…]}.
func describeErrorResponse(resp *http.Response) string {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var e struct {
		DeveloperMessage string `json:"developerMessage"`
		ErrorType        string `json:"errorType"`
	}
	if json.Unmarshal(body, &e) != nil || e.DeveloperMessage == "" {
		return fmt.Sprintf("%s: %.200s", resp.Status, strings.TrimSpace(string(body)))
	}
	if e.ErrorType == "" {
		return fmt.Sprintf("%s: %s", resp.Status, e.DeveloperMessage)
	}
	return fmt.Sprintf("%s: %s (%s)", resp.Status, e.DeveloperMessage, e.ErrorType)
}

// showStatus rewrites the progress line on o.Status every 250 ms until the
// returned function is called, which writes the final line.
func (r *runner) showStatus() (stop func()) {
	if r.o.Status == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		var recent rateWindow
		for {
			select {
			case now := <-tick.C:
				r.writeStatus(recent.add(now, r.acknowledged.Load()))
			case <-done:
				elapsed := time.Since(r.started).Seconds()
				r.writeStatus(float64(r.acknowledged.Load()) / max(elapsed, 1e-9))
				fmt.Fprintln(r.o.Status)
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (r *runner) writeStatus(rate float64) {
	fmt.Fprintf(r.o.Status, "\rsent %d  acknowledged %d  %.1f/s  errors %d   ",
		r.sent.Load(), r.acknowledged.Load(), rate, r.failed.Load())
}

// rateWindow computes a rate over about the last second of samples.
type rateWindow struct {
	times  []time.Time
	counts []int64
}

func (w *rateWindow) add(now time.Time, count int64) float64 {
	w.times, w.counts = append(w.times, now), append(w.counts, count)
	if len(w.times) > 5 {
		w.times, w.counts = w.times[1:], w.counts[1:]
	}
	secs := now.Sub(w.times[0]).Seconds()
	if secs <= 0 {
		return 0
	}
	return float64(count-w.counts[0]) / secs
}

func (r *runner) summary(elapsed time.Duration) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Summary{
		Sent:         int(r.sent.Load()),
		Acknowledged: int(r.acknowledged.Load()),
		Duplicates:   int(r.duplicates.Load()),
		Errors:       int(r.failed.Load()),
		Requests:     int(r.requests.Load()),
		LastError:    r.lastError,
		ByEvent:      r.tally.byEvent,
		ByOrg:        r.tally.byOrg,
		Elapsed:      elapsed,
		SizeStats:    r.tally.sizeStats(),
	}
}
