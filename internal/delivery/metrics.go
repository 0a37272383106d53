package delivery

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pusher-hq/pusher/internal/store"
)

var (
	attemptsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pusher_delivery_attempts_total",
		Help: "Delivery attempts by outcome class (ok, http_status, timeout, refused, dns, tls, redirect, connection_reset, forbidden_destination, other).",
	}, []string{"outcome"})
	attemptSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "pusher_delivery_attempt_duration_seconds",
		Help:    "Duration of delivery attempts.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
)

// RegisterMetrics registers the delivery metrics with reg.
func RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(attemptsTotal, attemptSeconds)
}

// ObserveAttempts returns an Engine.OnRecorded hook that counts attempts and,
// after a failure (which may have queued a notice), calls wakeNotices.
// Recovery notices wait for the sender's next poll.
func ObserveAttempts(wakeNotices func()) func([]store.AttemptResult) {
	return func(rs []store.AttemptResult) {
		wake := false
		for _, r := range rs {
			outcome := r.ErrorClass
			if outcome == "" {
				outcome = "ok"
			}
			if !r.Succeeded() {
				wake = true
			}
			attemptsTotal.WithLabelValues(string(outcome)).Inc()
			attemptSeconds.Observe(r.Duration.Seconds())
		}
		if wake && wakeNotices != nil {
			wakeNotices()
		}
	}
}

// QueueStatser reports the state of the delivery queue.
type QueueStatser interface {
	QueueStats(ctx context.Context) (store.QueueStats, error)
}

// QueueCollector exports the queue's size and the age of its oldest
// undelivered message, read from the store at each scrape.
type QueueCollector struct {
	Store QueueStatser
	Now   func() time.Time // default time.Now
}

var (
	queueMessagesDesc = prometheus.NewDesc("pusher_queue_messages",
		"Messages not delivered, by state: pending, leased (being attempted), dead (kept after their subscription was deleted).",
		[]string{"state"}, nil)
	queueOldestDesc = prometheus.NewDesc("pusher_queue_oldest_pending_seconds",
		"Age of the oldest pending or leased message; 0 when the queue is empty.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueMessagesDesc
	ch <- queueOldestDesc
}

// Collect implements prometheus.Collector. A failed query yields no samples.
func (c QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.Store.QueueStats(ctx)
	if err != nil {
		return
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(st.Pending), "pending")
	ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(st.Leased), "leased")
	ch <- prometheus.MustNewConstMetric(queueMessagesDesc, prometheus.GaugeValue, float64(st.Dead), "dead")
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = now().Sub(st.OldestPending).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, age)
}
