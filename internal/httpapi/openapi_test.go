package httpapi_test

// The OpenAPI document (openapi.json, served at /openapi.json) against the
// handler: its routes must be the document's operations, and real requests
// and answers, of every route, must match it.
//
// OpenAPI 3.1: kin-openapi v0.153.0 loads 3.1 documents, and openapi3filter
// validates requests and responses of a 3.1 document with its JSON Schema
// 2020-12 validator (type arrays with "null", const, oneOf with
// {"type": "null"}), so the served document is validated as it is; no 3.0
// copy is derived. TestOpenAPIDocument checks that it is read as 3.1.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pusher-hq/pusher/internal/auth"
	"github.com/pusher-hq/pusher/internal/delivery"
	"github.com/pusher-hq/pusher/internal/httpapi"
	"github.com/pusher-hq/pusher/internal/webhook/webhooktest"
)

// goWildcards maps the wildcard names of server.go's patterns to the
// document's path parameters.
var goWildcards = map[string]string{
	"org": "organizationUuid",
	"id":  "subscriptionUuid",
	"msg": "messageId",
}

// extensionTag is the tag of pusher's extension operations.
const extensionTag = "pusher extensions"

// loadOpenAPI loads and validates an OpenAPI document.
func loadOpenAPI(t *testing.T, b []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	return doc
}

// servedOpenAPI fetches /openapi.json from the API at url.
func servedOpenAPI(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /openapi.json: %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return b
}

// operations returns "METHOD /path/{param}" of every operation of doc.
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = op
		}
	}
	return ops
}

var wildcard = regexp.MustCompile(`\{([^}]*)\}`)

// handlerRoutes returns the routes h (from NewHandler) registered, as
// "METHOD /path/{param}" with the document's parameter names. It fails on
// a pattern with a host, an unknown wildcard or no method, unless that is
// the 405 fallback of a routed path or the 404 of "/".
func handlerRoutes(t *testing.T, h http.Handler) []string {
	t.Helper()
	patterns := httpapi.RegisteredRoutes(h)
	if len(patterns) == 0 {
		t.Fatal("RegisteredRoutes found no routes")
	}
	var routes []string
	routed := map[string]bool{}
	var fallbacks []string
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			fallbacks = append(fallbacks, p)
			continue
		}
		if !strings.HasPrefix(path, "/") {
			t.Errorf("pattern %q has a host; the document has none", p)
		}
		routed[path] = true
		path = strings.TrimSuffix(path, "{$}")
		path = wildcard.ReplaceAllStringFunc(path, func(w string) string {
			name := strings.TrimSuffix(w[1:len(w)-1], "...")
			doc, ok := goWildcards[name]
			if !ok {
				t.Errorf("pattern %q: wildcard {%s} has no document name; add it to goWildcards", p, name)
				return w
			}
			return "{" + doc + "}"
		})
		routes = append(routes, method+" "+path)
	}
	for _, p := range fallbacks {
		if p != "/" && !routed[p] {
			t.Errorf("pattern %q has no method: a route for every method is not in the document (use route() in server.go)", p)
		}
	}
	return routes
}

// newRoutesHandler is the whole API with every optional route (/metrics).
func newRoutesHandler(t *testing.T) http.Handler {
	db := openStore(t, t.TempDir())
	return httpapi.NewHandler(slog.New(slog.DiscardHandler), db, nil, nil, nil, httpapi.Config{Metrics: http.NotFoundHandler()})
}

// TestOpenAPIDocument checks the document itself: valid OpenAPI 3.1, the
// same bytes as the served document, every operation tagged and
// described, the extensions marked as such, and every extension call of
// docs/extensions.md in it.
func TestOpenAPIDocument(t *testing.T) {
	a := newAPI(t)
	raw := servedOpenAPI(t, a.url)
	if file, err := os.ReadFile("openapi.json"); err != nil || !bytes.Equal(raw, file) {
		t.Errorf("GET /openapi.json is not openapi.json (%v)", err)
	}
	doc := loadOpenAPI(t, raw)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if len(doc.Servers) == 0 || doc.Components.SecuritySchemes["bearerAuth"] == nil {
		t.Error("the document lacks servers or the bearerAuth security scheme")
	}
	if b := doc.Components.SecuritySchemes["bearerAuth"]; b != nil && (b.Value.Scheme != "bearer" || b.Value.BearerFormat != "JWT") {
		t.Errorf("bearerAuth = %+v, want a bearer JWT scheme", b.Value)
	}
	ops := operations(doc)
	ids := map[string]string{}
	for key, op := range ops {
		if op.OperationID == "" || op.Summary == "" || len(op.Tags) == 0 {
			t.Errorf("%s: needs an operationId, a summary and a tag", key)
		}
		if other, ok := ids[op.OperationID]; ok {
			t.Errorf("%s and %s share operationId %s", key, other, op.OperationID)
		}
		ids[op.OperationID] = key
		ext := strings.HasPrefix(strings.Fields(key)[1], "/v1/organizations/")
		marked := op.Extensions["x-pusher-extension"] == true
		tagged := slices.Contains(op.Tags, extensionTag)
		if ext != marked || ext != tagged {
			t.Errorf("%s: x-pusher-extension %v, tag %q %v; want both %v (an extension is a /v1/organizations/… route)", key, marked, extensionTag, tagged, ext)
		}
		for status, resp := range op.Responses.Map() {
			if resp.Value == nil || resp.Value.Description == nil || *resp.Value.Description == "" {
				t.Errorf("%s %s: response without a description", key, status)
			}
		}
	}
	for _, call := range extensionCalls(t) {
		if ops[call] == nil {
			t.Errorf("docs/extensions.md describes %s; the OpenAPI document does not", call)
		}
	}
}

// extensionCalls returns the calls docs/extensions.md describes in its
// "### `METHOD path`" headings (a path starting with … is under
// /v1/organizations/{organizationUuid}; "and `PUT`" repeats the path).
func extensionCalls(t *testing.T) []string {
	f, err := os.Open("../../docs/extensions.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	span := regexp.MustCompile("`(GET|POST|PUT|DELETE|PATCH)(?: ([^`]+))?`")
	var calls []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "### ") {
			continue
		}
		last := ""
		for _, m := range span.FindAllStringSubmatch(sc.Text(), -1) {
			path := m[2]
			if path == "" {
				path = last
			}
			last = path
			if rest, ok := strings.CutPrefix(path, "…"); ok {
				path = "/v1/organizations/{organizationUuid}" + rest
			}
			calls = append(calls, m[1]+" "+path)
		}
	}
	if len(calls) < 10 {
		t.Fatalf("found only %d calls in docs/extensions.md: %q", len(calls), calls)
	}
	return calls
}

// TestOpenAPIRoutes checks that the handler registers exactly the
// document's operations: method and path template, Go's wildcard names
// mapped to the document's (goWildcards).
func TestOpenAPIRoutes(t *testing.T) {
	h := newRoutesHandler(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	doc := loadOpenAPI(t, servedOpenAPI(t, srv.URL))
	documented := operations(doc)
	registered := map[string]bool{}
	for _, r := range handlerRoutes(t, h) {
		if registered[r] {
			t.Errorf("%s is registered twice", r)
		}
		registered[r] = true
		if documented[r] == nil {
			t.Errorf("%s is served but not in the OpenAPI document", r)
		}
	}
	for op := range documented {
		if !registered[op] {
			t.Errorf("%s is in the OpenAPI document but not served", op)
		}
	}
}

// conformance sends requests to a testAPI and validates each request and
// its answer against the served document: a request must match an
// operation, be valid unless it is meant not to be, and get an answer of
// the status wanted that the operation documents, with a body, headers and
// Content-Type as documented. It records the statuses seen per operation.
type conformance struct {
	t      *testing.T
	a      *testAPI
	router routers.Router
	opts   *openapi3filter.Options
	seen   map[string]map[int]bool // "METHOD /template" → statuses
}

func newConformance(t *testing.T, a *testAPI) *conformance {
	t.Helper()
	doc := loadOpenAPI(t, servedOpenAPI(t, a.url))
	doc.Servers = openapi3.Servers{{URL: a.url}} // the document's "/" is relative to where it is served
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus:             true, // an undocumented status fails
		RejectWhenRequestBodyNotSpecified: true,
		SkipSettingDefaults:               true,
		MultiError:                        true,
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			if in.SecuritySchemeName != "bearerAuth" {
				return fmt.Errorf("unknown security scheme %s", in.SecuritySchemeName)
			}
			if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
				return fmt.Errorf("no bearer token")
			}
			return nil
		},
	}
	return &conformance{t: t, a: a, router: router, opts: opts, seen: map[string]map[int]bool{}}
}

// call is one request of a conformance flow.
type call struct {
	method, path, token, body string
	headers                   []string // "Name: value"
	status                    int      // the status wanted
	errorType                 string   // of an error answer, if it matters
	// offDoc marks a request that breaks the document on purpose (no
	// token, a body or parameter its schema refuses): ValidateRequest must
	// refuse it, and the answer must still be documented.
	offDoc bool
}

// do sends k, validates it and its answer, and returns the answer.
func (c *conformance) do(k call) response {
	c.t.Helper()
	name := k.method + " " + k.path
	var body io.Reader
	if k.body != "" {
		body = strings.NewReader(k.body)
	}
	req, err := http.NewRequest(k.method, c.a.url+k.path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if k.token != "" {
		req.Header.Set("Authorization", "Bearer "+k.token)
	}
	if k.body != "" {
		req.Header.Set("Content-Type", "application/json") // as testAPI.do sends it
	}
	for _, h := range k.headers {
		n, v, _ := strings.Cut(h, ": ")
		req.Header.Set(n, v)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s: no operation of the document matches: %v", name, err)
		return c.a.do(k.method, k.path, k.token, k.body, k.headers...)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: c.opts}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	switch {
	case k.offDoc && reqErr == nil:
		c.t.Errorf("%s: the request is meant to break the document, but it validates", name)
	case !k.offDoc && reqErr != nil:
		c.t.Errorf("%s: the request does not match the document: %v", name, reqErr)
	}

	r := c.a.do(k.method, k.path, k.token, k.body, k.headers...)
	if r.status != k.status {
		c.t.Errorf("%s: status %d, want %d; body %s", name, r.status, k.status, r.body)
	}
	if k.errorType != "" && r.status >= 400 {
		if got, _, _ := zettleError(c.t, r); got != k.errorType {
			c.t.Errorf("%s: errorType %s, want %s; body %s", name, got, k.errorType, r.body)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.status, Header: r.header, Options: c.opts}
	out.SetBodyBytes([]byte(r.body))
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Errorf("%s: the %d answer does not match the document: %v\nbody: %s", name, r.status, err, r.body)
	}
	op := route.Method + " " + route.Path
	if c.seen[op] == nil {
		c.seen[op] = map[int]bool{}
	}
	c.seen[op][r.status] = true
	return r
}

// covered checks that the flows of cs got, for every route the handler
// registers, a success answer and, for an operation that documents one
// besides, an error answer (an operation documenting only errors, such as
// PUT on the collection, needs one of them).
func covered(t *testing.T, routes []string, doc *openapi3.T, cs ...*conformance) {
	t.Helper()
	ops := operations(doc)
	for _, r := range routes {
		statuses := map[int]bool{}
		for _, c := range cs {
			for s := range c.seen[r] {
				statuses[s] = true
			}
		}
		var ok, failed bool
		for s := range statuses {
			ok = ok || s < 400
			failed = failed || s >= 400
		}
		var documentsOK, documentsError bool
		if op := ops[r]; op != nil {
			for s := range op.Responses.Map() {
				documentsOK = documentsOK || s < "400"
				documentsError = documentsError || s >= "400"
			}
		}
		if documentsOK && !ok || documentsError && !failed && (documentsOK || !ok) {
			t.Errorf("%s: the flows got statuses %v; want a success and an error answer (of those documented)", r, sortedStatuses(statuses))
		}
	}
}

func sortedStatuses(m map[int]bool) []int {
	var s []int
	for k := range m {
		s = append(s, k)
	}
	sort.Ints(s)
	return s
}

// runEngine delivers the API's queue until the test ends, on the API's
// clock, one message of a subscription at a time: a message answered 2xx
// is delivered; one answered otherwise waits for its retry, which the
// stopped clock never reaches, and so do the messages behind it.
// It returns the function that stops it.
func runEngine(t *testing.T, a *testAPI) (stop func()) {
	e := &delivery.Engine{Queue: a.db, Client: a.client, Now: a.clock, PollInterval: 5 * time.Millisecond, PerSubscription: 1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestOpenAPIConformance drives the real handler (real store, real JWTs,
// real receivers for the TestMessages and deliveries) through every route,
// with success and error answers, validating every request and answer
// against the served document; then checks every registered route was
// covered.
func TestOpenAPIConformance(t *testing.T) {
	reg := prometheus.NewRegistry()
	httpapi.RegisterMetrics(reg)
	a := newAPI(t, func(cfg *httpapi.Config) { cfg.Metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) })
	// The attempts are timed by the wall clock: the API's must be near it
	// for the stats windows to see them.
	a.setNow(time.Now().UTC().Truncate(time.Millisecond))
	c := newConformance(t, a)
	ok := newReceiver(t, 200)
	failing := webhooktest.NewTLSServer(t) // TestMessages 200, deliveries 500
	failing.SetStatus(500)
	refusing := newReceiver(t, 410)
	gone := httptest.NewTLSServer(http.NotFoundHandler()) // closed: nothing listens at its URL
	gone.Close()

	sub := a.token(org, allScopes...)
	product := a.token(org, "READ:PRODUCT")
	unscoped := a.token(org, "SOMETHING:ELSE")
	other := a.tokenFor(org, "other-client", allScopes...)
	admin := a.tokenFor(otherOrg, "operator", auth.ScopeAdmin)
	publisher := a.tokenFor("", "producer", auth.ScopePublish)
	boundPublisher := a.tokenFor(otherOrg, "producer", auth.ScopePublish)
	const (
		coll    = "/organizations/self/subscriptions"
		sub3    = "3f4e1a9c-8f35-11eb-8dcd-0242ac130003"
		missing = "00000000-0000-1000-8000-000000000000"
	)

	// Zettle's create.
	c.do(call{method: "POST", path: coll, token: sub, body: createBody(subUUID, ok.URL), status: 200})
	c.do(call{method: "POST", path: "/organizations/" + org + "/subscriptions", token: sub, body: createBody(subUUID2, failing.URL, "PurchaseCreated", "ProductCreated"), status: 200})
	c.do(call{method: "POST", path: coll, token: sub, body: createBody(subUUID, ok.URL), status: 400, errorType: "SUBSCRIPTION_ALREADY_EXIST"})
	c.do(call{method: "POST", path: coll, token: sub, body: `{"transportName":"WEBHOOK","eventNames":[],"destination":"https://example.com","contactEmail":"a@example.com"}`, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "POST", path: coll, token: sub, body: `{"uuid":` + `"` + sub3 + `",`, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "POST", path: coll, token: sub, body: strings.Replace(createBody(sub3, ok.URL), "your_email@domain.com", "", 1), status: 422, errorType: "VALIDATION_ERROR", offDoc: true})
	c.do(call{method: "POST", path: coll, token: sub, body: createBody(sub3, "http://example.com/hook"), status: 422, errorType: "VALIDATION_ERROR"})
	c.do(call{method: "POST", path: coll, token: sub, body: createBody(sub3, refusing.URL), status: 500, errorType: "DESTINATION_RESPONDED_WITH_ERROR_CODE"})
	c.do(call{method: "POST", path: coll, token: sub, body: createBody(sub3, gone.URL+"/hook"), status: 400, errorType: "DESTINATION_NOT_ACCESSIBLE"})
	c.do(call{method: "POST", path: coll, body: createBody(sub3, ok.URL), status: 401, errorType: "UNAUTHORIZED", offDoc: true})
	c.do(call{method: "POST", path: coll, token: product, body: createBody(sub3, ok.URL, "PurchaseCreated"), status: 403, errorType: "FORBIDDEN"})
	c.do(call{method: "POST", path: "/organizations/" + otherOrg + "/subscriptions", token: sub, body: createBody(sub3, ok.URL), status: 403, errorType: "FORBIDDEN"})
	c.do(call{method: "POST", path: coll, token: sub, body: createBody(sub3, ok.URL), headers: []string{"Content-Type: text/plain"}, status: 415, errorType: "UNSUPPORTED_MEDIA_TYPE", offDoc: true})
	c.do(call{method: "POST", path: coll, token: sub, body: createBody(sub3, ok.URL+"/"+strings.Repeat("x", httpapi.DefaultMaxBody)), status: 413, errorType: "PAYLOAD_TOO_LARGE"})

	// Zettle's list, update and the calls without a uuid.
	c.do(call{method: "GET", path: coll, token: sub, status: 200})
	c.do(call{method: "GET", path: coll, token: unscoped, status: 403, errorType: "FORBIDDEN"})
	c.do(call{method: "GET", path: coll, status: 401, offDoc: true})
	c.do(call{method: "PUT", path: coll, token: sub, status: 405, errorType: "METHOD_NOT_ALLOWED"})
	c.do(call{method: "DELETE", path: coll, token: sub, status: 404, errorType: "NOT_FOUND"})
	c.do(call{method: "PUT", path: coll + "/" + subUUID, token: sub, body: `{"contactEmail":"email_if_it_breaks@domain.com"}`, headers: []string{"If-Match: *"}, status: 200})
	c.do(call{method: "PUT", path: coll + "/" + subUUID, token: sub, status: 200})
	c.do(call{method: "PUT", path: coll + "/" + subUUID, token: sub, body: `{"eventNames":["Nope"]}`, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "PUT", path: coll + "/" + subUUID, token: sub, body: `{"destination":"http://example.com/hook"}`, status: 422, errorType: "VALIDATION_ERROR"})
	c.do(call{method: "PUT", path: coll + "/" + subUUID, token: sub, body: `{"destination":"` + refusing.URL + `/new"}`, status: 500, errorType: "DESTINATION_RESPONDED_WITH_ERROR_CODE"})
	c.do(call{method: "PUT", path: coll + "/" + missing, token: sub, body: `{}`, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})
	c.do(call{method: "DELETE", path: coll + "/" + missing, token: sub, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})
	c.do(call{method: "DELETE", path: coll + "/uuid/" + missing, token: sub, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})

	// Ingest: the events of the delivery log below. subUUID (all events)
	// gets both delivered; subUUID2 gets a 500 for the first and keeps the
	// second pending (the stopped clock never reaches a retry).
	stopEngine := runEngine(t, a)
	event := func(name, id string) string {
		return fmt.Sprintf(`{"organizationUuid":%q,"eventName":%q,"eventId":%q,"payload":{"uuid":"e4cc8750-a110-11eb-adc0-ffd446d76f99"}}`, org, name, id)
	}
	c.do(call{method: "POST", path: "/v1/events", token: publisher, body: event("PurchaseCreated", "p-1"), status: 202})
	c.do(call{method: "POST", path: "/v1/events", token: publisher, body: "[" + event("PurchaseCreated", "p-1") + "," + event("ProductCreated", "c-1") + "]", status: 202})
	c.do(call{method: "POST", path: "/v1/events", token: publisher, body: `[]`, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "POST", path: "/v1/events", token: publisher, body: event("Nope", "n-1"), status: 422, errorType: "VALIDATION_ERROR", offDoc: true})
	c.do(call{method: "POST", path: "/v1/events", token: sub, body: event("PurchaseCreated", "p-2"), status: 403, errorType: "FORBIDDEN"})
	c.do(call{method: "POST", path: "/v1/events", token: boundPublisher, body: event("PurchaseCreated", "p-2"), status: 403, errorType: "FORBIDDEN"})
	c.do(call{method: "POST", path: "/v1/events", token: publisher, body: event("PurchaseCreated", "p-2"), headers: []string{"Content-Type: text/plain"}, status: 415, offDoc: true})
	c.do(call{method: "POST", path: "/v1/events", body: event("PurchaseCreated", "p-2"), status: 401, offDoc: true})

	extensionFlow(t, c, extTokens{sub: sub, other: other, admin: admin, unscoped: unscoped}, ok.URL)

	// Operations.
	c.do(call{method: "GET", path: "/healthz", status: 200})
	c.do(call{method: "GET", path: "/readyz", status: 200})
	c.do(call{method: "GET", path: "/metrics", status: 200})
	c.do(call{method: "GET", path: "/openapi.json", status: 200})

	// Zettle's deletes, then readiness without a database.
	c.do(call{method: "DELETE", path: coll + "/uuid/" + subUUID, token: sub, status: 204})
	stopEngine()
	a.db.Close()
	c.do(call{method: "GET", path: "/readyz", status: 503, errorType: "SERVICE_UNAVAILABLE"})

	// Limits: a tiny rate (one request, then 429) and one event per request.
	lim := newAPI(t, func(cfg *httpapi.Config) {
		cfg.APIRate, cfg.APIBurst, cfg.IngestRate, cfg.IngestBurst, cfg.MaxIngestEvents = 1e-6, 1, 1e-6, 2, 1
	})
	l := newConformance(t, lim)
	limSub, limPub := lim.token(org, allScopes...), lim.tokenFor("", "producer", auth.ScopePublish)
	l.do(call{method: "GET", path: coll, token: limSub, status: 200})
	l.do(call{method: "GET", path: coll, token: limSub, status: 429, errorType: "TOO_MANY_REQUESTS"})
	l.do(call{method: "GET", path: "/v1/organizations/self/subscriptions", token: limSub, status: 429, errorType: "TOO_MANY_REQUESTS"})
	l.do(call{method: "POST", path: "/v1/events", token: limPub, body: "[" + event("PurchaseCreated", "l-1") + "," + event("PurchaseCreated", "l-2") + "]", status: 413, errorType: "PAYLOAD_TOO_LARGE"})
	l.do(call{method: "POST", path: "/v1/events", token: limPub, body: event("PurchaseCreated", "l-1"), status: 202})
	l.do(call{method: "POST", path: "/v1/events", token: limPub, body: event("PurchaseCreated", "l-1"), status: 429, errorType: "TOO_MANY_REQUESTS"})

	covered(t, handlerRoutes(t, newRoutesHandler(t)), loadOpenAPI(t, servedOpenAPI(t, a.url)), c, l)
}

type extTokens struct{ sub, other, admin, unscoped string }

// page decodes a message page.
func page(t *testing.T, r response) (ids []string, states []string, next string) {
	t.Helper()
	var p struct {
		Messages []struct {
			MessageID, State string
		}
		NextCursor string
	}
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("message page %s: %v", r.body, err)
	}
	for _, m := range p.Messages {
		ids, states = append(ids, m.MessageID), append(states, m.State)
	}
	return ids, states, p.NextCursor
}

// extensionFlow drives the extension routes of docs/extensions.md after
// the events of TestOpenAPIConformance: subUUID has two delivered
// messages, subUUID2 a failing and a pending one.
func extensionFlow(t *testing.T, c *conformance, tok extTokens, okURL string) {
	const (
		ext     = "/v1/organizations/self"
		extOK   = ext + "/subscriptions/" + subUUID
		extFail = ext + "/subscriptions/" + subUUID2
		idle    = "9a1c2f3e-8f35-11eb-8dcd-0242ac130003"
		extIdle = ext + "/subscriptions/" + idle
		missing = "00000000-0000-1000-8000-000000000000"
		unknown = "5d7e1c02-0000-5000-8000-000000000000"
	)
	a := c.a
	now := a.clock()
	window := fmt.Sprintf(`"since":%q,"until":%q`, now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	query := "&since=" + now.Add(-time.Hour).Format(time.RFC3339) + "&until=" + now.Add(time.Hour).Format(time.RFC3339)
	reversed := "?since=" + now.Add(time.Hour).Format(time.RFC3339) + "&until=" + now.Add(-time.Hour).Format(time.RFC3339)
	waitFor(t, "the deliveries", func() bool {
		_, okStates, _ := page(t, a.do("GET", extOK+"/messages?state=delivered", tok.sub, ""))
		_, failStates, _ := page(t, a.do("GET", extFail+"/messages", tok.sub, ""))
		return len(okStates) == 2 && slices.Contains(failStates, "failing")
	})
	c.do(call{method: "POST", path: "/organizations/self/subscriptions", token: tok.sub, body: createBody(idle, okURL, "InventoryTrackingStopped"), status: 200})

	// Subscriptions of the organization.
	c.do(call{method: "GET", path: ext + "/subscriptions", token: tok.sub, status: 200})
	c.do(call{method: "GET", path: "/v1/organizations/" + org + "/subscriptions", token: tok.admin, status: 200})
	c.do(call{method: "GET", path: "/v1/organizations/" + otherOrg + "/subscriptions", token: tok.sub, status: 403, errorType: "FORBIDDEN"})
	c.do(call{method: "GET", path: ext + "/subscriptions", status: 401, offDoc: true})

	// The delivery log.
	c.do(call{method: "GET", path: extOK + "/messages", token: tok.sub, status: 200})
	ids, _, next := page(t, c.do(call{method: "GET", path: extOK + "/messages?state=delivered&limit=1", token: tok.sub, status: 200}))
	if len(ids) != 1 || next == "" {
		t.Fatalf("first page of one: %v, nextCursor %q", ids, next)
	}
	delivered := ids[0]
	c.do(call{method: "GET", path: extOK + "/messages?limit=1&cursor=" + next + "&eventName=PurchaseCreated" + query, token: tok.sub, status: 200})
	c.do(call{method: "GET", path: extOK + "/messages?limit=0", token: tok.sub, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "GET", path: extOK + "/messages?state=lost", token: tok.sub, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "GET", path: extOK + "/messages" + reversed, token: tok.sub, status: 400, errorType: "INVALID_REQUEST"})
	c.do(call{method: "GET", path: extOK + "/messages?cursor=bad", token: tok.sub, status: 400, errorType: "INVALID_REQUEST"})
	c.do(call{method: "GET", path: ext + "/subscriptions/" + missing + "/messages", token: tok.sub, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})
	c.do(call{method: "GET", path: extOK + "/messages", token: tok.other, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})
	failIDs, _, _ := page(t, c.do(call{method: "GET", path: extFail + "/messages", token: tok.sub, status: 200}))
	if len(failIDs) != 2 {
		t.Fatalf("messages of %s: %v, want 2", subUUID2, failIDs)
	}
	c.do(call{method: "GET", path: extOK + "/messages/" + delivered, token: tok.sub, status: 200})
	for _, id := range failIDs {
		c.do(call{method: "GET", path: extFail + "/messages/" + id, token: tok.sub, status: 200})
	}
	c.do(call{method: "GET", path: "/v1/organizations/" + org + "/subscriptions/" + subUUID + "/messages/" + delivered, token: tok.admin, status: 200})
	c.do(call{method: "GET", path: extOK + "/messages/" + unknown, token: tok.sub, status: 404, errorType: "MESSAGE_NOT_FOUND"})
	c.do(call{method: "GET", path: extOK + "/messages/" + delivered, token: tok.unscoped, status: 403, errorType: "FORBIDDEN"})
	c.do(call{method: "GET", path: extOK + "/stats", token: tok.sub, status: 200})
	c.do(call{method: "GET", path: extFail + "/stats", token: tok.sub, status: 200})
	c.do(call{method: "GET", path: extIdle + "/stats", token: tok.sub, status: 200})
	c.do(call{method: "GET", path: ext + "/subscriptions/" + missing + "/stats", token: tok.sub, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})
	c.do(call{method: "GET", path: ext + "/undelivered", token: tok.sub, status: 200})
	c.do(call{method: "GET", path: ext + "/undelivered?state=pending&eventName=ProductCreated&limit=500", token: tok.sub, status: 200})
	c.do(call{method: "GET", path: "/v1/organizations/" + org + "/undelivered", token: tok.admin, status: 200})
	c.do(call{method: "GET", path: ext + "/undelivered?state=delivered", token: tok.sub, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "GET", path: ext + "/undelivered?eventName=Nope", token: tok.sub, status: 400, errorType: "INVALID_REQUEST", offDoc: true})

	// Redelivery and replay.
	c.do(call{method: "POST", path: extOK + "/messages/" + delivered + "/redeliver", token: tok.sub, status: 202})
	c.do(call{method: "POST", path: extFail + "/messages/" + failIDs[0] + "/redeliver", token: tok.sub, status: 202})
	c.do(call{method: "POST", path: extOK + "/messages/" + unknown + "/redeliver", token: tok.sub, status: 404, errorType: "MESSAGE_NOT_FOUND"})
	c.do(call{method: "POST", path: extOK + "/messages/" + delivered + "/redeliver", status: 401, offDoc: true})
	c.do(call{method: "POST", path: extOK + "/replay", token: tok.sub, body: `{` + window + `,"dryRun":true}`, status: 200})
	c.do(call{method: "POST", path: extOK + "/replay", token: tok.sub, body: `{` + window + `,"eventNames":["PurchaseCreated"]}`, headers: []string{"Idempotency-Key: replay-1"}, status: 202})
	c.do(call{method: "POST", path: extOK + "/replay", token: tok.sub, body: `{` + window + `,"eventNames":["PurchaseCreated"]}`, headers: []string{"Idempotency-Key: replay-1"}, status: 202})
	c.do(call{method: "POST", path: extOK + "/replay", token: tok.sub, body: `{` + window + `,"idempotencyKey":"replay-1"}`, status: 422, errorType: "VALIDATION_ERROR"})
	c.do(call{method: "POST", path: extOK + "/replay", token: tok.sub, body: `{` + window + `}`, status: 202})
	c.do(call{method: "POST", path: extFail + "/replay", token: tok.sub, body: `{` + window + `,"eventNames":["InventoryBalanceChanged"]}`, status: 422, errorType: "VALIDATION_ERROR"})
	c.do(call{method: "POST", path: extOK + "/replay", token: tok.sub, body: `{"until":"2021-03-30T00:00:00Z"}`, status: 422, errorType: "VALIDATION_ERROR", offDoc: true})
	c.do(call{method: "POST", path: extOK + "/replay", token: tok.sub, body: `{"since":`, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "POST", path: ext + "/subscriptions/" + missing + "/replay", token: tok.sub, body: `{` + window + `}`, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})

	// Key rotation and settings.
	c.do(call{method: "POST", path: extOK + "/rotate-key", token: tok.sub, status: 200})
	c.do(call{method: "POST", path: extOK + "/rotate-key", token: tok.sub, body: `{"overlap":"1h"}`, status: 200})
	c.do(call{method: "POST", path: extOK + "/rotate-key", token: tok.sub, body: `{"overlap":"999h"}`, status: 422, errorType: "VALIDATION_ERROR"})
	c.do(call{method: "POST", path: ext + "/subscriptions/" + missing + "/rotate-key", token: tok.sub, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})
	c.do(call{method: "GET", path: extOK + "/settings", token: tok.sub, status: 200})
	c.do(call{method: "GET", path: extOK + "/settings", token: tok.other, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})
	c.do(call{method: "PUT", path: extOK + "/settings", token: tok.sub, body: `{"strictOrder":true,"standardWebhooks":true,"rotationOverlap":"90m"}`, status: 200})
	c.do(call{method: "PUT", path: extOK + "/settings", token: tok.sub, body: `{"rotationOverlap":"forever"}`, status: 422, errorType: "VALIDATION_ERROR"})
	c.do(call{method: "PUT", path: extOK + "/settings", token: tok.sub, status: 400, errorType: "INVALID_REQUEST", offDoc: true})
	c.do(call{method: "GET", path: ext + "/subscriptions", token: tok.sub, status: 200})

	// A deleted subscription: its dead letters stay readable, and replay
	// into another subscription, but not redeliverable.
	c.do(call{method: "DELETE", path: "/organizations/self/subscriptions/" + subUUID2, token: tok.sub, status: 204})
	c.do(call{method: "GET", path: extFail + "/messages?state=dead", token: tok.sub, status: 200})
	c.do(call{method: "GET", path: extFail + "/messages/" + failIDs[0], token: tok.sub, status: 200})
	c.do(call{method: "GET", path: ext + "/undelivered?state=dead", token: tok.sub, status: 200})
	c.do(call{method: "POST", path: extFail + "/messages/" + failIDs[0] + "/redeliver", token: tok.sub, status: 404, errorType: "SUBSCRIPTION_NOT_FOUND"})
	c.do(call{method: "POST", path: extOK + "/replay", token: tok.sub, body: `{` + window + `,"fromSubscriptionUuid":"` + subUUID2 + `","dryRun":true}`, status: 200})
	c.do(call{method: "DELETE", path: "/organizations/self/subscriptions/" + idle, token: tok.sub, status: 204})
}
