package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/pusher-hq/pusher/internal/webhook"
)

// deepJSON returns an object nesting depth levels: {"a":[[…]]}.
func deepJSON(depth int) string {
	return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

// quoted returns s as a JSON string literal.
func quoted(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func event(id, payload string) string {
	return `{"organizationUuid":"` + org + `","eventName":"ProductCreated","eventId":"` + id + `","payload":` + payload + `}`
}

func TestIngestPayloadDepth(t *testing.T) {
	a := newAPI(t) // the default 10 MiB body limit, as in the audit
	prod := a.producer()
	max := webhook.MaxDepth
	tests := []struct {
		name       string
		body       string
		status     int
		violations []string // propertyNames, in order
	}{
		{"object at the limit", event("o64", deepJSON(max)), 202, nil},
		{"string at the limit", event("s64", quoted(deepJSON(max))), 202, nil},
		{"brackets in strings do not count", event("str", `{"s":"`+strings.Repeat("[{", 5000)+`"}`), 202, nil},
		{"object one too deep", event("o65", deepJSON(max+1)), 422, []string{"payload"}},
		{"string one too deep", event("s65", quoted(deepJSON(max+1))), 422, []string{"payload"}},
		{"object 20k deep in a batch", `[` + event("a", `{}`) + `,` + event("b", deepJSON(20_000)) + `]`, 422, []string{"[1].payload"}},
		{"two too deep in a batch", `[` + event("a", deepJSON(100)) + `,` + event("b", `{}`) + `,` + event("c", deepJSON(100)) + `]`, 422, []string{"[0].payload", "[2].payload"}},
		{"escaped payload key", strings.Replace(event("e", deepJSON(100)), `"payload"`, `"p\u0061yload"`, 1), 422, []string{"payload"}},
		{"upper-case payload key", strings.Replace(event("u", deepJSON(100)), `"payload"`, `"PAYLOAD"`, 1), 422, []string{"payload"}},
		// The audit's crash (§4.1): 5.24 million nested arrays in a string payload.
		{"string 5.24M deep", event("crash", quoted("{\"a\":"+strings.Repeat("[", 5_240_000)+strings.Repeat("]", 5_240_000)+"}")), 422, []string{"payload"}},
		{"object 5.24M deep", event("crash2", deepJSON(5_240_000)), 422, []string{"payload"}},
		{"unclosed 1M deep", event("open", strings.Repeat("[", 1_000_000)), 422, []string{"payload"}},
		{"too deep elsewhere", strings.Replace(event("x", `{}`), `"ProductCreated"`, deepJSON(200), 1), 400, nil},
		{"too deep batch of arrays", `[` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]`, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do("POST", "/v1/events", prod, tt.body)
			if tt.status == 202 {
				if r.status != 202 {
					t.Fatalf("status = %d %.300s", r.status, r.body)
				}
				return
			}
			errorType := "VALIDATION_ERROR"
			if tt.status == 400 {
				errorType = "INVALID_REQUEST"
			}
			v := wantError(t, r, tt.status, errorType)
			if len(v) != len(tt.violations) {
				t.Fatalf("violations %v, want on %v", v, tt.violations)
			}
			for i, prop := range tt.violations {
				if v[i]["propertyName"] != prop || v[i]["constraintType"] != "DEPTH" || !strings.Contains(v[i]["developerMessage"], strconv.Itoa(max)) {
					t.Errorf("violation %d = %v, want a DEPTH violation on %s naming the limit %d", i, v[i], prop, max)
				}
			}
		})
	}
}

func TestIngestDepthViolationsBounded(t *testing.T) {
	a := newAPI(t)
	events := make([]string, 500)
	for i := range events {
		events[i] = event(strconv.Itoa(i), deepJSON(70))
	}
	v := wantError(t, a.do("POST", "/v1/events", a.producer(), "["+strings.Join(events, ",")+"]"), 422, "VALIDATION_ERROR")
	if len(v) != 100 || v[99]["propertyName"] != "[99].payload" {
		t.Errorf("%d violations (last %v), want the first 100", len(v), v[len(v)-1])
	}
}

func TestSubscriptionBodyDepth(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	// An unknown field is ignored; nested up to the limit (the body is level 1) it is harmless.
	withExtra := func(depth int) string {
		return strings.TrimSuffix(createBody(subUUID, rcv.URL), "}") + `,"extra":` + deepJSON(depth-1) + `}`
	}
	for _, depth := range []int{webhook.MaxDepth + 1, 20_000} {
		r := a.do("POST", "/organizations/self/subscriptions", tok, withExtra(depth))
		if _, msg, _ := zettleError(t, r); r.status != 400 || !strings.Contains(msg, "deeper than "+strconv.Itoa(webhook.MaxDepth)) {
			t.Errorf("create nesting %d levels = %d %s, want 400 naming the limit", depth, r.status, msg)
		}
	}
	if r := a.do("POST", "/organizations/self/subscriptions", tok, withExtra(webhook.MaxDepth)); r.status != 200 {
		t.Fatalf("create nesting %d levels = %d %s", webhook.MaxDepth, r.status, r.body)
	}
	deepPut := `{"contactEmail":"a@shop.example","x":` + deepJSON(webhook.MaxDepth) + `}`
	wantError(t, a.do("PUT", "/organizations/self/subscriptions/"+subUUID, tok, deepPut), 400, "INVALID_REQUEST")
}

func TestLongValuesAreNotEchoed(t *testing.T) {
	a := newAPI(t)
	name := strings.Repeat("\x00", 1<<20)
	r := a.do("POST", "/v1/events", a.producer(), strings.Replace(event("long", `{}`), `"ProductCreated"`, quoted(name), 1))
	v := wantError(t, r, 422, "VALIDATION_ERROR")
	if len(r.body) > 2000 || len(v) != 1 || !strings.HasSuffix(v[0]["developerMessage"], `"…`) {
		t.Errorf("answer of %d bytes to a 1 MiB event name (violations %.200v); want it cut short", len(r.body), v)
	}
}
