package delivery_test

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The engine tests about timing run in a synctest bubble: the store is a
// real SQLite file, the sender is a fakePoster, and time is the bubble's
// fake clock, so "retry after 10 minutes" takes no real time and every
// instant is exact.

// fakePoster is the Poster of the engine tests in a bubble. answer decides
// the outcome of each call and may sleep on the fake clock (see hang);
// every call is recorded.
type fakePoster struct {
	answer func(c *call) delivery.Outcome

	mu       sync.Mutex
	calls    []*call
	inFlight int
	peak     int
}

// call is one Post a fakePoster got.
type call struct {
	N           int       // order of arrival, from 0
	At          time.Time // when Post was called
	Destination string
	SigningKey  string       // Keys.Current
	Keys        webhook.Keys // what the engine asked to sign with
	Envelope    webhook.Envelope
	InFlight    int // calls in progress when it was made, this one included

	// Set when Post returns.
	Ended   time.Time
	Outcome delivery.Outcome
}

func newFakePoster(answer func(c *call) delivery.Outcome) *fakePoster {
	return &fakePoster{answer: answer}
}

// Post implements delivery.Poster. StartedAt and Duration of the outcome are
// the call's, on the fake clock.
func (p *fakePoster) Post(_ context.Context, destination string, keys webhook.Keys, env webhook.Envelope) delivery.Outcome {
	c := &call{At: time.Now(), Destination: destination, SigningKey: keys.Current, Keys: keys, Envelope: env}
	p.mu.Lock()
	c.N = len(p.calls)
	p.calls = append(p.calls, c)
	p.inFlight++
	p.peak = max(p.peak, p.inFlight)
	c.InFlight = p.inFlight
	p.mu.Unlock()

	out := p.answer(c)
	out.StartedAt, out.Duration = c.At, time.Since(c.At)

	p.mu.Lock()
	p.inFlight--
	c.Ended, c.Outcome = time.Now(), out
	p.mu.Unlock()
	return out
}

// callsTo returns copies of the calls so far to destination ("" = all), in
// arrival order.
func (p *fakePoster) callsTo(destination string) []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []call
	for _, c := range p.calls {
		if destination == "" || c.Destination == destination {
			out = append(out, *c)
		}
	}
	return out
}

// maxInFlight returns the most calls that were in progress at once.
func (p *fakePoster) maxInFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// current returns how many calls to destination ("" = any) are in progress.
func (p *fakePoster) current(destination string) int {
	n := 0
	for _, c := range p.callsTo(destination) {
		if c.Ended.IsZero() {
			n++
		}
	}
	return n
}

// acceptedIDs returns the messageIds of the calls to destination ("" = any)
// that ended with a 2xx, in arrival order.
func (p *fakePoster) acceptedIDs(destination string) []string {
	var ids []string
	for _, c := range p.callsTo(destination) {
		if !c.Ended.IsZero() && c.Outcome.OK() {
			ids = append(ids, c.Envelope.MessageID)
		}
	}
	return ids
}

// latency is how long a destination of a fakePoster takes to answer. It is
// not zero, so that an attempt is recorded after it was leased, as on a
// real network.
const latency = 10 * time.Millisecond

// accept is an answer: 200 after latency.
func accept(*call) delivery.Outcome {
	time.Sleep(latency)
	return delivery.Outcome{StatusCode: 200, Body: []byte("ok")}
}

// statusAnswer returns an answer: HTTP code after latency, a failure of
// class http_status unless code is 2xx.
func statusAnswer(code int) func(*call) delivery.Outcome {
	return func(*call) delivery.Outcome {
		time.Sleep(latency)
		out := delivery.Outcome{StatusCode: code, Body: []byte("status " + strconv.Itoa(code))}
		if code/100 != 2 {
			out.Class = webhook.ClassHTTPStatus
		}
		return out
	}
}

// hang returns an answer that gets no answer: it waits for the timeout on
// the fake clock and fails with class timeout, as *delivery.Client does.
func hang(timeout time.Duration) func(*call) delivery.Outcome {
	return func(*call) delivery.Outcome {
		time.Sleep(timeout)
		return delivery.Outcome{Class: webhook.ClassTimeout, Detail: "context deadline exceeded"}
	}
}

// byDestination returns an answer that uses answers[c.Destination].
func byDestination(answers map[string]func(*call) delivery.Outcome) func(*call) delivery.Outcome {
	return func(c *call) delivery.Outcome { return answers[c.Destination](c) }
}

// fakeEngine returns an engine on q with poster p, polling every second
// and releasing expired leases every minute; the retry schedule is Zettle's
// unless the test sets another. In a bubble a poll or a release takes no
// time, but it is a store query: a test spanning hours polls less often.
func fakeEngine(t *testing.T, q delivery.Queue, p delivery.Poster) *delivery.Engine {
	e := &delivery.Engine{Queue: q, Client: p, PollInterval: time.Second, ReleaseInterval: time.Minute,
		Logger: slog.New(slog.DiscardHandler)}
	if *engineLog {
		e.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return e
}

// startEngine runs e in the bubble until the returned stop is called, or
// the test ends. stop cancels Run's context, waits for Run to return and
// returns its error. Call it after openDB, so that the store is closed
// after the engine stopped.
func startEngine(t *testing.T, e *delivery.Engine) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var (
		once sync.Once
		err  error
	)
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done // a Run that never returns is a deadlock synctest reports
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Engine.Run = %v, want nil", err)
		}
	})
	return stop
}
