package httpapi_test

import (
	"bufio"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pusher-hq/pusher/internal/httpapi"
)

// Every error response is counted in pusher_http_errors_total by its
// errorType, as /metrics shows; successful requests are not.
func TestMetricsCountErrorsByType(t *testing.T) {
	reg := prometheus.NewRegistry()
	httpapi.RegisterMetrics(reg)
	a := newAPI(t, func(c *httpapi.Config) { c.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) })
	tok := a.token(org, allScopes...)
	// The counters are global to the package: compare with the start.
	before := errorCounts(t, a)

	wantError(t, a.do("GET", "/organizations/self/subscriptions", "", ""), 401, "UNAUTHORIZED")
	wantError(t, a.do("GET", "/organizations/self/subscriptions", "not-a-token", ""), 401, "UNAUTHORIZED")
	wantError(t, a.do("GET", "/nowhere", tok, ""), 404, "NOT_FOUND")
	wantError(t, a.do("POST", "/organizations/self/subscriptions", tok, `{"uuid":`), 400, "INVALID_REQUEST")
	if r := a.do("GET", "/organizations/self/subscriptions", tok, ""); r.status != 200 {
		t.Fatalf("list = %d %s, want 200", r.status, r.body)
	}

	after := errorCounts(t, a)
	want := map[string]float64{"UNAUTHORIZED": 2, "NOT_FOUND": 1, "INVALID_REQUEST": 1}
	for typ := range after {
		if _, ok := want[typ]; !ok {
			want[typ] = 0
		}
	}
	for typ, n := range want {
		if got := after[typ] - before[typ]; got != n {
			t.Errorf(`pusher_http_errors_total{error_type=%q} went up by %v, want %v`, typ, got, n)
		}
	}
}

// errorCounts scrapes /metrics and returns pusher_http_errors_total by
// error_type.
func errorCounts(t *testing.T, a *testAPI) map[string]float64 {
	t.Helper()
	r := a.do("GET", "/metrics", "", "")
	if r.status != 200 {
		t.Fatalf("/metrics = %d %s", r.status, r.body)
	}
	counts := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(r.body))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `pusher_http_errors_total{error_type="`)
		if !ok {
			continue
		}
		typ, value, ok := strings.Cut(rest, `"} `)
		n, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil {
			t.Fatalf("unreadable sample %q", sc.Text())
		}
		counts[typ] = n
	}
	return counts
}
