package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

const testToken = "test-token"

// ingest is a test server implementing pusher's ingest API contract:
// POST /v1/events with a bearer token and a JSON array of events, answered
// 202 {"messageIds":[…]}, or an error body when reject says so.
type ingest struct {
	t      *testing.T
	reject func(request int) int // status to answer request n with; 0 = accept
	delay  time.Duration

	mu        sync.Mutex
	requests  int
	rejected  int
	events    []Event
	maxBatch  int
	bodyFlaws []string
	seen      map[string]bool // event ids accepted so far
}

func newIngest(t *testing.T) (*ingest, *httptest.Server) {
	in := &ingest{t: t}
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	return in, srv
}

// newInProcessIngest returns an ingest and a client that reaches it without
// a network, for tests in a synctest bubble (where a socket would stop the
// fake clock): every request, to any host, is served by the ingest.
func newInProcessIngest(t *testing.T) (*ingest, *http.Client) {
	in := &ingest{t: t}
	return in, &http.Client{Transport: handlerTransport{in}}
}

// handlerTransport is an http.RoundTripper that serves each request with h
// in process.
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		defer r.Body.Close()
	}
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func (in *ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/events" {
		writeIngestError(w, http.StatusNotFound, "no such endpoint", "NOT_FOUND")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		writeIngestError(w, http.StatusUnauthorized, "missing or invalid token", "UNAUTHORIZED")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var batch []Event
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &batch) != nil {
		writeIngestError(w, http.StatusBadRequest, "body is not a JSON array of events", "INVALID_REQUEST")
		return
	}
	time.Sleep(in.delay)

	in.mu.Lock()
	in.requests++
	n := in.requests
	status := 0
	if in.reject != nil {
		status = in.reject(n)
	}
	if status != 0 {
		in.rejected += len(batch)
		in.mu.Unlock()
		writeIngestError(w, status, fmt.Sprintf("request %d: eventName is not valid", n), "VALIDATION_ERROR")
		return
	}
	in.events = append(in.events, batch...)
	in.maxBatch = max(in.maxBatch, len(batch))
	in.checkBody(body, batch)
	duplicates := in.remember(batch)
	in.mu.Unlock()

	ids := make([]string, len(batch))
	for i, e := range batch {
		ids[i] = "msg-" + e.EventID
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"messageIds": ids, "duplicates": duplicates})
}

// remember records the batch's event ids and returns how many were seen
// before. Called with mu held.
func (in *ingest) remember(batch []Event) int {
	if in.seen == nil {
		in.seen = map[string]bool{}
	}
	n := 0
	for _, e := range batch {
		if in.seen[e.EventID] {
			n++
		}
		in.seen[e.EventID] = true
	}
	return n
}

// checkBody records what is wrong with an accepted body: escaped HTML
// characters or payloads of the wrong shape. Called with mu held.
func (in *ingest) checkBody(body []byte, batch []Event) {
	if bytes.Contains(body, []byte(`\u003c`)) || bytes.Contains(body, []byte(`\u0026`)) {
		in.bodyFlaws = append(in.bodyFlaws, "HTML-escaped characters in the request body")
	}
	for _, e := range batch {
		if err := CheckShape(e.EventName, e.Payload); err != nil {
			in.bodyFlaws = append(in.bodyFlaws, err.Error())
		}
		if e.EventID == "" || e.OrganizationUUID == "" || !envelopeTimePattern.MatchString(e.Timestamp) {
			in.bodyFlaws = append(in.bodyFlaws, fmt.Sprintf("incomplete event %+v", e))
		}
	}
}

func writeIngestError(w http.ResponseWriter, status int, msg, errorType string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"developerMessage": msg, "errorType": errorType, "violations": []any{}})
}

func TestRunSendsCountEvents(t *testing.T) {
	in, srv := newIngest(t)
	orgs := Orgs(5, 4)
	var status bytes.Buffer
	sum, err := Run(context.Background(), Options{
		BaseURL: srv.URL, Token: testToken, Orgs: orgs, Count: 600,
		Seed: 5, Batch: 25, Concurrency: 3, Status: &status,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 600 || sum.Acknowledged != 600 || sum.Errors != 0 {
		t.Fatalf("sent %d, acknowledged %d, errors %d (%s); want 600, 600, 0", sum.Sent, sum.Acknowledged, sum.Errors, sum.LastError)
	}
	if len(in.events) != 600 || in.maxBatch > 25 {
		t.Errorf("server got %d events, largest batch %d", len(in.events), in.maxBatch)
	}
	for _, flaw := range in.bodyFlaws {
		t.Error(flaw)
	}
	checkOrgs(t, in.events, orgs, sum)
	checkMix(t, in.events, sum)
	if !strings.Contains(status.String(), "\rsent ") || !strings.Contains(status.String(), "acknowledged 600") {
		t.Errorf("status output %q", status.String())
	}
	var out bytes.Buffer
	sum.Write(&out)
	for _, want := range []string{"sent 600 events", "600 acknowledged", "PurchaseCreated", orgs[0]} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("summary:\n%s", out.String())
}

func checkOrgs(t *testing.T, events []Event, orgs []string, sum Summary) {
	t.Helper()
	got := map[string]int{}
	ids := map[string]bool{}
	for _, e := range events {
		got[e.OrganizationUUID]++
		if ids[e.EventID] {
			t.Errorf("event id %s sent twice", e.EventID)
		}
		ids[e.EventID] = true
	}
	for _, o := range orgs {
		if got[o] == 0 || got[o] != sum.ByOrg[o] {
			t.Errorf("org %s: server got %d events, summary says %d", o, got[o], sum.ByOrg[o])
		}
	}
	if len(got) != len(orgs) {
		t.Errorf("events for %d organizations, want %d", len(got), len(orgs))
	}
}

func checkMix(t *testing.T, events []Event, sum Summary) {
	t.Helper()
	got := map[string]int{}
	for _, e := range events {
		got[e.EventName]++
	}
	total := 0
	for name, n := range sum.ByEvent {
		total += n
		if got[name] != n || sum.SizeStats[name].Count != n {
			t.Errorf("%s: server got %d, summary counts %d, sizes %d", name, got[name], n, sum.SizeStats[name].Count)
		}
	}
	if total != len(events) {
		t.Errorf("summary counts %d events, server got %d", total, len(events))
	}
	if got[purchaseCreated] < len(events)/4 || got[inventoryBalanceChanged] == 0 {
		t.Errorf("event mix %v; want mostly purchases and balance changes", got)
	}
	if got[applicationConnectionRemoved]+got[personalAssertionDeleted] > 0 {
		t.Errorf("event mix %v includes disconnect events", got)
	}
}

func TestRunCountsRejectedRequests(t *testing.T) {
	in, srv := newIngest(t)
	in.reject = func(n int) int {
		if n%3 == 0 {
			return http.StatusBadRequest
		}
		return 0
	}
	sum, err := Run(context.Background(), Options{
		BaseURL: srv.URL + "/", Token: testToken, Count: 300, Seed: 1, Batch: 10, Concurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantErrors := in.requests / 3
	if sum.Requests != in.requests || sum.Errors != wantErrors {
		t.Errorf("requests %d, errors %d; server saw %d requests, rejected every third", sum.Requests, sum.Errors, in.requests)
	}
	if sum.Sent != 300 || sum.Acknowledged != len(in.events) || sum.Acknowledged+in.rejected != 300 {
		t.Errorf("sent %d, acknowledged %d; server accepted %d and rejected %d", sum.Sent, sum.Acknowledged, len(in.events), in.rejected)
	}
	if !strings.Contains(sum.LastError, "eventName is not valid") || !strings.Contains(sum.LastError, "400") {
		t.Errorf("last error %q; want the developerMessage and status", sum.LastError)
	}
	var out bytes.Buffer
	sum.Write(&out)
	if !strings.Contains(out.String(), "last error: 400 Bad Request: request") {
		t.Errorf("summary does not show the last error:\n%s", out.String())
	}
}

func TestRunReportsReplayedSeedAsDuplicates(t *testing.T) {
	_, srv := newIngest(t)
	o := Options{BaseURL: srv.URL, Token: testToken, Count: 120, Seed: 9}
	first, err1 := Run(context.Background(), o)
	again, err2 := Run(context.Background(), o)
	if err1 != nil || err2 != nil || first.Duplicates != 0 || again.Duplicates != 120 {
		t.Errorf("duplicates: first run %d (%v), replay %d (%v); want 0 and 120", first.Duplicates, err1, again.Duplicates, err2)
	}
	o.Start = DefaultStart(9).Add(time.Hour)
	other, err := Run(context.Background(), o)
	if err != nil || other.Duplicates != 0 {
		t.Errorf("another start: %d duplicates (%v); want 0", other.Duplicates, err)
	}
}

// Cancelling Run stops it at once: requests in flight finish and are
// counted, nothing more is sent. On the bubble's fake clock: the server
// takes 40 ms per request and the run is cancelled after 400 ms.
func TestRunStopsCleanlyOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, client := newInProcessIngest(t)
		in.delay = 40 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		began := time.Now()
		sum, err := Run(ctx, Options{BaseURL: "http://ingest.test", Token: testToken, Rate: 500, Seed: 2, Batch: 20, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took > 400*time.Millisecond+in.delay {
			t.Errorf("Run took %s, want at most the 400ms until the cancel plus one request (%s)", took, in.delay)
		}
		if sum.Sent == 0 || sum.Errors != 0 || sum.Acknowledged != sum.Sent || len(in.events) != sum.Sent {
			t.Errorf("sent %d, acknowledged %d, errors %d (%s), server got %d; in-flight requests should finish",
				sum.Sent, sum.Acknowledged, sum.Errors, sum.LastError, len(in.events))
		}
		// 500/s for 400 ms is 200 events; none is generated after the cancel.
		if sum.Sent > 201 {
			t.Errorf("sent %d events in 400ms at 500/s, want at most 201", sum.Sent)
		}
	})
}

// Run spaces events 1/rate apart and stops generating after Duration. On
// the bubble's fake clock the count is exact: rate × duration, plus the
// event at the very end if its slot and the deadline coincide.
func TestRunPacesToRate(t *testing.T) {
	for _, tt := range []struct {
		rate     float64
		duration time.Duration
	}{
		{200, time.Second},
		{50, 2 * time.Second},
		{1000, 500 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%g/s for %s", tt.rate, tt.duration), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				in, client := newInProcessIngest(t)
				sum, err := Run(context.Background(), Options{
					BaseURL: "http://ingest.test", Token: testToken, Rate: tt.rate, Duration: tt.duration, Seed: 3, Client: client,
				})
				if err != nil {
					t.Fatal(err)
				}
				want := int(tt.rate * tt.duration.Seconds())
				if sum.Sent < want || sum.Sent > want+1 || len(in.events) != sum.Sent || sum.Acknowledged != sum.Sent {
					t.Errorf("sent %d events (server got %d, acknowledged %d); want %d", sum.Sent, len(in.events), sum.Acknowledged, want)
				}
				if sum.Elapsed < tt.duration || sum.Elapsed > tt.duration+linger {
					t.Errorf("elapsed %s for a %s run", sum.Elapsed, tt.duration)
				}
			})
		})
	}
}

func TestRunStopsOnUnauthorized(t *testing.T) {
	_, srv := newIngest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sum, err := Run(ctx, Options{BaseURL: srv.URL, Token: "wrong", Seed: 4})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Run with a bad token = %v; want ErrUnauthorized", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run kept going after 401")
	}
	if sum.Errors == 0 || sum.Acknowledged != 0 || !strings.Contains(sum.LastError, "missing or invalid token") {
		t.Errorf("errors %d, acknowledged %d, last error %q", sum.Errors, sum.Acknowledged, sum.LastError)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{BaseURL: "localhost:8080"},
		{BaseURL: "ftp://example.com"},
		{BaseURL: "http://127.0.0.1:1", Rate: -1},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v) succeeded", o)
		}
	}
}
