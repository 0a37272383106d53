package store

import (
	"context"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// Activity is what the operator dashboard charts and lists. It is counted
// in the database, so it covers every instance and survives restarts.
type Activity interface {
	// ActivitySeries counts the events created and the attempts started in
	// [q.Since, q.Until), per bucket of q.Bucket, and summarises every
	// subscription's attempts in that range and its backlog now. A Bucket
	// of 0 or less, an Until not after Since, or more than MaxBuckets
	// buckets is Invalid.
	ActivitySeries(ctx context.Context, q ActivityQuery) (ActivitySeries, error)
}

// MaxBuckets is the most buckets one ActivitySeries call returns.
const MaxBuckets = 10000

// ActivityQuery is the range and resolution of ActivitySeries.
type ActivityQuery struct {
	Since, Until time.Time
	Bucket       time.Duration
}

// Buckets returns how many buckets q covers: the last one may be shorter.
func (q ActivityQuery) Buckets() int {
	if q.Bucket <= 0 || !q.Until.After(q.Since) {
		return 0
	}
	span := q.Until.Sub(q.Since)
	return int((span + q.Bucket - 1) / q.Bucket)
}

// Check returns an Invalid error if ActivitySeries refuses q.
func (q ActivityQuery) Check() error {
	switch n := q.Buckets(); {
	case q.Bucket <= 0:
		return webhook.Errorf(webhook.Invalid, "activity bucket %v: must be positive", q.Bucket)
	case n == 0:
		return webhook.Errorf(webhook.Invalid, "activity range: until %v is not after since %v", q.Until, q.Since)
	case n > MaxBuckets:
		return webhook.Errorf(webhook.Invalid, "activity range: %d buckets, at most %d", n, MaxBuckets)
	}
	return nil
}

// ActivitySeries is what ActivitySeries counted.
type ActivitySeries struct {
	// Buckets cover [Since, Until) from Since in steps of Bucket, oldest
	// first, empty ones included.
	Buckets []ActivityBucket
	// Subscriptions holds, by uuid, every subscription (deleted ones
	// included) with an attempt started in the range or an undelivered
	// message now.
	Subscriptions map[string]SubscriptionActivity
}

// NewSeries returns the series of q with every bucket empty: what a driver
// fills in. q must pass Check.
func (q ActivityQuery) NewSeries() ActivitySeries {
	s := ActivitySeries{Buckets: make([]ActivityBucket, q.Buckets()), Subscriptions: map[string]SubscriptionActivity{}}
	for i := range s.Buckets {
		s.Buckets[i].Start = q.Since.Add(time.Duration(i) * q.Bucket).UTC()
	}
	return s
}

// Bucket returns the bucket at index i (whole bucket widths from Since),
// or nil outside the range.
func (s ActivitySeries) Bucket(i int64) *ActivityBucket {
	if i < 0 || i >= int64(len(s.Buckets)) {
		return nil
	}
	return &s.Buckets[i]
}

// ActivityBucket counts one bucket.
type ActivityBucket struct {
	Start     time.Time
	Events    int // events created (a duplicate is not stored, so not counted)
	Delivered int // successful attempts started
	Failed    int // failed attempts started
}

// SubscriptionActivity summarises one subscription.
type SubscriptionActivity struct {
	Delivered, Failed int       // attempts started in the range, by outcome
	LastSuccess       time.Time // start of the latest successful attempt in the range; zero if none
	LastFailure       *Attempt  // the latest failed attempt in the range; nil if none
	// Backlog counts the undelivered (pending or leased) messages now,
	// whatever the range; OldestUndelivered is the creation time of the
	// oldest of them (zero if none).
	Backlog           int
	OldestUndelivered time.Time
}
