package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRedeliver: a delivered message becomes pending again and is
// delivered again, keeping its messageId and attempts; the engine is woken.
func TestRedeliver(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.mustCreate(tok, subUUID, rcv.URL)
	mid := a.publish(org, "ProductCreated", "r-1")
	a.attemptAll(200)
	if st := a.queueStates(subUUID)[mid]; st != "delivered" {
		t.Fatalf("state = %s", st)
	}
	wakes := a.wakes.Load()

	r := a.do("POST", extSub("self", subUUID, "/messages/"+mid+"/redeliver"), tok, "")
	got := decode[struct{ MessageID, State string }](t, r, 202)
	if st := a.queueStates(subUUID)[mid]; st != "pending" {
		t.Errorf("queue state after redeliver = %s, want pending", st)
	}
	listed := decode[messageDetail](t, a.do("GET", extSub("self", subUUID, "/messages/"+mid), tok, ""), 200)
	if got.MessageID != mid || got.State != listed.State || (listed.State != "pending" && listed.State != "failing") || listed.Attempts != 1 || listed.Finished != "" {
		t.Errorf("redeliver = %s; the message now %+v", r.body, listed)
	}
	if a.wakes.Load() != wakes+1 {
		t.Errorf("redeliver did not wake the engine")
	}
	if n := a.attemptAll(200); n != 1 {
		t.Fatalf("claimed %d after redeliver, want the message", n)
	}
	if m := decode[messageDetail](t, a.do("GET", extSub("self", subUUID, "/messages/"+mid), tok, ""), 200); m.State != "delivered" || m.Attempts != 2 || len(m.AttemptLog) != 2 {
		t.Errorf("after the second delivery = %+v", m)
	}

	// A pending message is left as it is.
	pending := a.publish(org, "ProductCreated", "r-2")
	r = a.do("POST", extSub("self", subUUID, "/messages/"+pending+"/redeliver"), tok, "")
	if got := decode[struct{ MessageID, State string }](t, r, 202); got.State != "pending" {
		t.Errorf("redeliver of a pending message = %s", r.body)
	}
	wantError(t, a.do("POST", extSub("self", subUUID, "/messages/6e6d5284-1d31-544f-9c1c-05298cb0156a/redeliver"), tok, ""), 404, "MESSAGE_NOT_FOUND")
	wantError(t, a.do("GET", extSub("self", subUUID, "/messages/"+mid+"/redeliver"), tok, ""), 405, "METHOD_NOT_ALLOWED")
}

// TestReplay: counts, dry runs, idempotency, validation, and replaying the
// dead letters of a deleted subscription into its successor.
func TestReplay(t *testing.T) {
	a := newAPI(t)
	rcv := newReceiver(t, http.StatusOK)
	tok := a.token(org, allScopes...)
	a.mustCreate(tok, subUUID, rcv.URL, "ProductCreated", "PurchaseCreated")
	t0 := a.clock()
	var ids []string
	for i, name := range []string{"ProductCreated", "PurchaseCreated", "ProductCreated", "ProductUpdated"} {
		a.setNow(t0.Add(time.Duration(i) * time.Minute))
		ids = append(ids, a.publish(org, name, "p-"+string(rune('a'+i))))
	}
	a.publish(otherOrg, "ProductCreated", "p-foreign")
	a.setNow(t0.Add(10 * time.Minute))
	if n := a.attemptAll(200); n != 3 {
		t.Fatalf("delivered %d, want the three subscribed events", n)
	}
	path := extSub("self", subUUID, "/replay")
	since, until := t0.Format(time.RFC3339), t0.Add(10*time.Minute).Format(time.RFC3339)
	body := func(extra string) string {
		return `{"since":"` + since + `","until":"` + until + `"` + extra + `}`
	}
	allDelivered := func() bool {
		for _, st := range a.queueStates(subUUID) {
			if st != "delivered" {
				return false
			}
		}
		return true
	}
	wakes := a.wakes.Load()

	for _, tt := range []struct {
		name, body string
		count      int
	}{
		{"every subscribed event", body(`,"dryRun":true`), 3},
		{"one name", body(`,"dryRun":true,"eventNames":["ProductCreated"]`), 2},
		{"later since", `{"since":"` + t0.Add(time.Minute).Format(time.RFC3339) + `","until":"` + until + `","dryRun":true}`, 2},
		{"until exclusive", `{"since":"` + since + `","until":"` + t0.Add(2*time.Minute).Format(time.RFC3339Nano) + `","dryRun":true}`, 2},
		{"an offset", `{"since":"` + t0.In(time.FixedZone("", -5*3600)).Format(time.RFC3339Nano) + `","until":"` + until + `","dryRun":true}`, 3},
		{"a used key is ignored", body(`,"dryRun":true,"idempotencyKey":"k1"`), 3},
	} {
		t.Run("dry run/"+tt.name, func(t *testing.T) {
			r := a.do("POST", path, tok, tt.body)
			if want := `{"dryRun":true,"count":` + strconv.Itoa(tt.count) + `}`; r.status != 200 || r.body != want {
				t.Errorf("dry run = %d %s, want 200 %s", r.status, r.body, want)
			}
		})
	}
	if !allDelivered() || a.wakes.Load() != wakes {
		t.Fatalf("dry runs changed something: %v, %d wakes", a.queueStates(subUUID), a.wakes.Load()-wakes)
	}

	first := a.do("POST", path, tok, body(`,"idempotencyKey":"k1"`))
	if want := `{"dryRun":false,"count":3,"idempotencyKey":"k1"}`; first.status != 202 || first.body != want {
		t.Fatalf("replay = %d %s, want 202 %s", first.status, first.body, want)
	}
	for _, id := range ids[:3] {
		if st := a.queueStates(subUUID)[id]; st != "pending" {
			t.Errorf("message %s is %s after the replay, want pending", id, st)
		}
	}
	if a.wakes.Load() != wakes+1 {
		t.Errorf("the replay did not wake the engine")
	}
	if n := a.attemptAll(200); n != 3 {
		t.Fatalf("delivered %d after the replay, want 3", n)
	}
	// The same request again, the key in the header, the fields reordered:
	// the first answer, nothing queued.
	again := a.do("POST", path, tok, `{"until":"`+until+`","since":"`+since+`"}`, "Idempotency-Key: k1")
	if again.status != first.status || again.body != first.body {
		t.Errorf("repeated replay = %d %s, want %d %s", again.status, again.body, first.status, first.body)
	}
	names := a.do("POST", path, tok, body(`,"eventNames":["PurchaseCreated","ProductCreated"],"idempotencyKey":"k2"`))
	namesAgain := a.do("POST", path, tok, body(`,"eventNames":["ProductCreated","PurchaseCreated","ProductCreated"],"idempotencyKey":"k2"`))
	if names.status != 202 || namesAgain.body != names.body {
		t.Errorf("event names in another order = %d %s then %s", names.status, names.body, namesAgain.body)
	}
	a.attemptAll(200)
	if !allDelivered() || a.wakes.Load() != wakes+2 {
		t.Errorf("repeated replays queued something: %v, %d wakes", a.queueStates(subUUID), a.wakes.Load()-wakes)
	}
	wantViolation(t, a.do("POST", path, tok, `{"since":"`+t0.Add(time.Minute).Format(time.RFC3339)+`","until":"`+until+`","idempotencyKey":"k1"}`), 422, "VALIDATION_ERROR", "idempotencyKey")
	wantViolation(t, a.do("POST", path, tok, body(`,"eventNames":["ProductCreated"]`), "Idempotency-Key: k1"), 422, "VALIDATION_ERROR", "idempotencyKey")
	if !allDelivered() {
		t.Error("a refused replay queued something")
	}
	// Without a key, nothing is kept: the answer has none, and a repeat queues again.
	if r := a.do("POST", path, tok, body(`,"eventNames":["PurchaseCreated"]`)); r.status != 202 || r.body != `{"dryRun":false,"count":1}` {
		t.Errorf("replay without a key = %d %s", r.status, r.body)
	}
	if st := a.queueStates(subUUID)[ids[1]]; st != "pending" {
		t.Errorf("replayed PurchaseCreated is %s", st)
	}
	a.attemptAll(200)

	for _, tt := range []struct {
		name, body, header string
		status             int
		property           string
	}{
		{"empty object", `{}`, "", 422, "since"},
		{"no until", `{"since":"` + since + `"}`, "", 422, "until"},
		{"since not RFC 3339", `{"since":"yesterday","until":"` + until + `"}`, "", 422, "since"},
		{"until a date", `{"since":"` + since + `","until":"2021-03-30"}`, "", 422, "until"},
		{"until not after since", `{"since":"` + until + `","until":"` + since + `"}`, "", 422, "until"},
		{"until equal to since", `{"since":"` + since + `","until":"` + since + `"}`, "", 422, "until"},
		{"an event it does not subscribe to", body(`,"eventNames":["ProductUpdated"]`), "", 422, "eventNames"},
		{"an unknown event", body(`,"eventNames":["Nope"]`), "", 422, "eventNames"},
		{"unknown fromSubscriptionUuid", body(`,"fromSubscriptionUuid":"` + v1UUID(77) + `"`), "", 422, "fromSubscriptionUuid"},
		{"key too long", body(`,"idempotencyKey":"` + strings.Repeat("k", 201) + `"`), "", 422, "idempotencyKey"},
		{"keys differ", body(`,"idempotencyKey":"k3"`), "Idempotency-Key: k4", 422, "idempotencyKey"},
		{"since a number", `{"since":5,"until":"` + until + `"}`, "", 400, "since"},
		{"dryRun a string", body(`,"dryRun":"yes"`), "", 400, "dryRun"},
		{"eventNames a string", body(`,"eventNames":"ProductCreated"`), "", 400, "eventNames"},
	} {
		t.Run("invalid/"+tt.name, func(t *testing.T) {
			var headers []string
			if tt.header != "" {
				headers = append(headers, tt.header)
			}
			errorType := map[int]string{400: "INVALID_REQUEST", 422: "VALIDATION_ERROR"}[tt.status]
			wantViolation(t, a.do("POST", path, tok, tt.body, headers...), tt.status, errorType, tt.property)
		})
	}
	for _, bad := range []string{"", "{", "[]", "null"} {
		wantError(t, a.do("POST", path, tok, bad), 400, "INVALID_REQUEST")
	}
	if r := a.do("POST", path, tok, body(`,"idempotencyKey":"`+strings.Repeat("é", 200)+`"`)); r.status != 202 {
		t.Errorf("a key of 200 characters = %d %s", r.status, r.body)
	}
	if !strings.Contains(a.do("POST", path, tok, `{}`).body, "until") {
		t.Error("the violations of an empty object do not name until")
	}
	a.attemptAll(200)

	// The dead letters of a deleted subscription, into its successor.
	a.setNow(t0.Add(20 * time.Minute))
	a.mustCreate(tok, subUUID2, rcv.URL, "ProductCreated")
	rival := a.tokenFor(org, "rival", allScopes...)
	rivalSub := v1UUID(5)
	a.mustCreate(rival, rivalSub, rcv.URL)
	dead := a.publish(org, "ProductCreated", "p-dead")
	for uuid, owner := range map[string]string{subUUID2: tok, rivalSub: rival} {
		if r := a.do("DELETE", "/organizations/self/subscriptions/"+uuid, owner, ""); r.status != 204 {
			t.Fatalf("delete = %d %s", r.status, r.body)
		}
	}
	a.attemptAll(200) // subUUID's message of the event
	if st, own := a.queueStates(subUUID2)[dead], a.queueStates(subUUID)[dead]; st != "dead" || own != "delivered" {
		t.Fatalf("the event is %q for the deleted subscription, %q for the live one", st, own)
	}
	from := body2(t0, t0.Add(time.Hour), `,"fromSubscriptionUuid":"`+strings.ToUpper(subUUID2)+`"`)
	if r := a.do("POST", path, tok, from[:len(from)-1]+`,"dryRun":true}`); r.body != `{"dryRun":true,"count":1}` {
		t.Errorf("dry run of the dead letters = %d %s, want count 1", r.status, r.body)
	}
	if r := a.do("POST", path, tok, from); r.status != 202 || r.body != `{"dryRun":false,"count":1}` {
		t.Errorf("replay of the dead letters = %d %s", r.status, r.body)
	}
	if st := a.queueStates(subUUID)[dead]; st != "pending" {
		t.Errorf("the dead letter is %q for the successor, want pending", st)
	}
	wantViolation(t, a.do("POST", path, tok, body2(t0, t0.Add(time.Hour), `,"fromSubscriptionUuid":"`+rivalSub+`"`)), 422, "VALIDATION_ERROR", "fromSubscriptionUuid")
	if r := a.do("POST", extSub(org, subUUID, "/replay"), a.admin(), body2(t0, t0.Add(time.Hour), `,"dryRun":true,"fromSubscriptionUuid":"`+rivalSub+`"`)); r.status != 200 {
		t.Errorf("an operator replaying another client's dead letters = %d %s", r.status, r.body)
	}
}

func body2(since, until time.Time, extra string) string {
	return `{"since":"` + since.Format(time.RFC3339) + `","until":"` + until.Format(time.RFC3339) + `"` + extra + `}`
}
