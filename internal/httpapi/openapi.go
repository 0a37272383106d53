package httpapi

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument is the OpenAPI 3.1 document of every route NewHandler
// registers: Zettle's subscription API, the ingest API, the health checks,
// /metrics, this document and pusher's extensions (docs/extensions.md).
// openapi_test.go fails when it and the routes disagree, and validates real
// requests and responses against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI handles GET /openapi.json, which needs no token.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(openAPIDocument)
	}
	return nil
}

// routeMux is the API's ServeMux. It remembers every pattern registered,
// so that the tests can check the routes against the OpenAPI document.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

// Handle registers handler for pattern, as http.ServeMux.Handle does.
func (m *routeMux) Handle(pattern string, handler http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, handler)
}

// HandleFunc registers f for pattern, as http.ServeMux.HandleFunc does.
func (m *routeMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// apiHandler is the handler NewHandler returns: the API, and the mux
// whose patterns registeredRoutes reports.
type apiHandler struct {
	http.Handler
	mux *routeMux
}

// registeredRoutes returns the patterns registered on the mux of h, a
// handler NewHandler returned, in the order they were registered:
// "METHOD /path/{wildcard}" for a route, "/path" for the 405 fallback of
// a path (see route) and "/" for the 404 of every other path. It returns
// nil for any other handler.
func registeredRoutes(h http.Handler) []string {
	a, ok := h.(*apiHandler)
	if !ok {
		return nil
	}
	return append([]string(nil), a.mux.patterns...)
}
