package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time           { return c.t }
func (c *fakeClock) add(d time.Duration)      { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock                { return &fakeClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)} }
func allowed(l *rateLimiter, key string) bool { ok, _ := l.allow(key); return ok }

func TestRateLimiterEvictsIdleBuckets(t *testing.T) {
	clock := newFakeClock()
	l := newRateLimiter("test", 20, 40, clock.now)
	for i := range 5000 {
		allowed(l, fmt.Sprint("client-", i))
	}
	// Sweeps as the map doubles keep only buckets still in use: all are.
	if n := l.size(); n != 5000 {
		t.Fatalf("%d buckets, want 5000", n)
	}
	allowed(l, "busy")
	clock.add(time.Second) // "busy" has refilled after 50 ms; the others too
	allowed(l, "busy")
	clock.add(sweepEvery)
	allowed(l, "new")
	if n := l.size(); n != 1 {
		t.Errorf("%d buckets after a sweep, want 1 (only the new one)", n)
	}
}

func TestRateLimiterSweepKeepsState(t *testing.T) {
	clock := newFakeClock()
	l := newRateLimiter("test", 1, 2, clock.now)
	allowed(l, "a")
	allowed(l, "a")
	clock.add(sweepEvery) // "a" has refilled: dropping it is the same as keeping it
	if !allowed(l, "a") || !allowed(l, "a") || allowed(l, "a") {
		t.Error("after a sweep, a full bucket allows its burst and no more")
	}
	if l.size() != 1 {
		t.Errorf("%d buckets, want 1", l.size())
	}
}

func TestRateLimiterDefaults(t *testing.T) {
	if l := newRateLimiter("test", 0, 10, time.Now); l != nil {
		t.Error("rate 0 should mean no limit (a nil limiter)")
	}
	var none *rateLimiter
	if ok, _ := none.allow("x"); !ok {
		t.Error("a nil limiter refused")
	}
	clock := newFakeClock()
	l := newRateLimiter("test", 2.5, 0, clock.now)
	n := 0
	for allowed(l, "k") {
		n++
	}
	if n != 5 {
		t.Errorf("burst = %d, want 5 (twice the rate)", n)
	}
	if _, wait := l.allow("k"); wait != 400*time.Millisecond {
		t.Errorf("wait = %v, want 400ms", wait)
	}
}
