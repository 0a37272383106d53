package httpapi

import "github.com/prometheus/client_golang/prometheus"

var (
	eventsPublished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pusher_events_published_total",
		Help: "Events accepted by the ingest API, by event name; re-posted duplicates are counted in pusher_events_duplicate_total.",
	}, []string{"event"})
	eventsDuplicate = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pusher_events_duplicate_total",
		Help: "Events posted again with an eventId already published (not delivered again).",
	})
	messagesEnqueued = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pusher_messages_enqueued_total",
		Help: "Messages queued for delivery: one per event and matching subscription.",
	})
	httpErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pusher_http_errors_total",
		Help: "Error responses of the API by errorType (VALIDATION_ERROR, UNAUTHORIZED, INTERNAL_ERROR, …); a client that went away gets no response and is not counted.",
	}, []string{"error_type"})
)

// RegisterMetrics registers the API's metrics with reg.
func RegisterMetrics(reg prometheus.Registerer) {
	reg.MustRegister(eventsPublished, eventsDuplicate, messagesEnqueued, requestsThrottled, httpErrors)
}
