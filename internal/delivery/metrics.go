package delivery

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/pusher-hq/pusher/internal/store"
)

var (
	attemptsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pusher_delivery_attempts_total",
		Help: "Delivery attempts by outcome class (ok, http_status, timeout, refused, dns, tls, redirect, connection_reset, other).",
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
			attemptsTotal.WithLabelValues(outcome).Inc()
			attemptSeconds.Observe(r.Duration.Seconds())
		}
		if wake && wakeNotices != nil {
			wakeNotices()
		}
	}
}
