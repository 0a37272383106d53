package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// trimTrailingSlash serves /a/b/ as /a/b: Zettle clients add trailing
// slashes (Shopware deletes via …/subscriptions/uuid/{uuid}/).
func trimTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimRight(p, "/")
			if r2.URL.Path == "" {
				r2.URL.Path = "/"
			}
			r2.URL.RawPath = ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a 500 with the Zettle body.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, r, log, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// logRequests logs one line per request: method, path, status, duration.
// Headers (and so tokens) and bodies (and so signing keys) are never logged.
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics" {
			return
		}
		log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
	})
}

// orgOf resolves the {org} path value against the principal: "self" or the
// token's own organization. Any other organization is Forbidden, with the
// same answer whether it exists or not.
func orgOf(r *http.Request, orgClaim string) (string, error) {
	org := r.PathValue("org")
	if orgClaim == "" {
		return "", webhook.TypedErrorf(webhook.Forbidden, webhook.TypeForbidden, "The access token is not bound to an organization")
	}
	if org == "self" || strings.EqualFold(org, orgClaim) {
		return orgClaim, nil
	}
	return "", webhook.TypedErrorf(webhook.Forbidden, webhook.TypeForbidden, "The access token is not valid for organization %s", org)
}
