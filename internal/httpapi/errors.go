package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// errorBody is Zettle's error shape; every error response has it.
type errorBody struct {
	DeveloperMessage string              `json:"developerMessage"`
	ErrorType        string              `json:"errorType"`
	Violations       []webhook.Violation `json:"violations"`
}

// statuses maps error codes to HTTP statuses, with the default errorType.
var statuses = map[webhook.Code]struct {
	status    int
	errorType string
}{
	webhook.Invalid:          {http.StatusBadRequest, webhook.TypeInvalidRequest},
	webhook.Conflict:         {http.StatusBadRequest, webhook.TypeSubscriptionAlreadyExist},
	webhook.Unprocessable:    {http.StatusUnprocessableEntity, webhook.TypeValidationError},
	webhook.Unauthorized:     {http.StatusUnauthorized, webhook.TypeUnauthorized},
	webhook.Forbidden:        {http.StatusForbidden, webhook.TypeForbidden},
	webhook.NotFound:         {http.StatusNotFound, webhook.TypeNotFound},
	webhook.MethodNotAllowed: {http.StatusMethodNotAllowed, webhook.TypeMethodNotAllowed},
	webhook.TooLarge:         {http.StatusRequestEntityTooLarge, webhook.TypePayloadTooLarge},
	webhook.UnsupportedMedia: {http.StatusUnsupportedMediaType, webhook.TypeUnsupportedMediaType},
	webhook.TooManyRequests:  {http.StatusTooManyRequests, webhook.TypeTooManyRequests},
	webhook.DestinationError: {http.StatusInternalServerError, webhook.TypeDestinationRespondedWithCode},
	webhook.Unavailable:      {http.StatusServiceUnavailable, webhook.TypeServiceUnavailable},
	webhook.Internal:         {http.StatusInternalServerError, webhook.TypeInternalError},
}

// retryAfterSeconds is the Retry-After of a 503: a database restart
// usually takes a few seconds.
const retryAfterSeconds = "5"

// writeError is the only place an error becomes a response. A *webhook.Error
// is shown as it is; any other error is logged and reported as an internal
// error without its text. Every response it writes is counted in
// pusher_http_errors_total by errorType.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *webhook.Error
	var unread *bodyReadError
	if errors.As(err, &unread) {
		log.Info("request body not received", "method", r.Method, "path", r.URL.Path, "err", unread.err)
		err = errBodyNotReceived
	}
	if !errors.As(err, &e) {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			log.Info("client went away", "method", r.Method, "path", r.URL.Path)
			return
		}
		log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &webhook.Error{Code: webhook.Internal, Message: "Internal server error"}
	}
	s, ok := statuses[e.Code]
	if !ok {
		s = statuses[webhook.Internal]
	}
	body := errorBody{DeveloperMessage: e.Message, ErrorType: e.Type, Violations: e.Violations}
	if body.ErrorType == "" {
		body.ErrorType = s.errorType
	}
	if body.Violations == nil {
		body.Violations = []webhook.Violation{}
	}
	httpErrors.WithLabelValues(body.ErrorType).Inc()
	if e.Code == webhook.Unavailable {
		// The database is away (a restart, a failover): nothing was stored,
		// so the client retries, as Retry-After tells it to.
		w.Header().Set("Retry-After", retryAfterSeconds)
		log.Warn("unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, s.status, body)
}
