package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// The DeliveryLog group: subscriptions by uuid and organization, settings
// and signing keys, tombstones, the delivery log, stats, redelivery and
// replay (store.DeliveryLog, docs/extensions.md).

const otherOrg = "another-org"

// eventAt is event(org, name, id) created at at.
func eventAt(name, id string, at time.Time) store.Event {
	ev := event(org, name, id)
	ev.Now = at
	return ev
}

// mid is the messageId of event(org, name, id).
func mid(name, id string) string { return webhook.MessageID(org, name, id) }

// extendedSub is newSub(uuid) with every pusher-only field set.
func extendedSub(uuid string) *webhook.Subscription {
	s := newSub(uuid)
	s.Settings = webhook.Settings{StrictOrder: true, StandardWebhooks: true, RotationOverlap: 2 * time.Hour}
	s.PreviousSigningKey, s.PreviousKeyExpires = "old-"+uuid, t0.Add(2*time.Hour)
	return s
}

// checkExtensions fails t unless got has want's settings and rotation state.
func checkExtensions(t *testing.T, where string, got, want *webhook.Subscription) {
	t.Helper()
	if got.Settings != want.Settings || got.PreviousSigningKey != want.PreviousSigningKey ||
		!got.PreviousKeyExpires.Equal(want.PreviousKeyExpires) || got.SigningKey != want.SigningKey {
		t.Errorf("%s: settings %+v, keys %q / %q until %v; want %+v, %q / %q until %v", where,
			got.Settings, got.SigningKey, got.PreviousSigningKey, got.PreviousKeyExpires,
			want.Settings, want.SigningKey, want.PreviousSigningKey, want.PreviousKeyExpires)
	}
}

func mustLog(t *testing.T, st store.Store, f store.MessageFilter) []store.LogMessage {
	t.Helper()
	if f.Limit == 0 {
		f.Limit = 100
	}
	ms, err := st.LogMessages(ctx, f)
	if err != nil {
		t.Fatalf("LogMessages(%+v) = %v", f, err)
	}
	if ms == nil {
		t.Errorf("LogMessages(%+v) = nil, want a non-nil list", f)
	}
	return ms
}

// logIDs returns the messageIds of ms.
func logIDs(ms []store.LogMessage) []string {
	out := []string{}
	for _, m := range ms {
		out = append(out, m.MessageID)
	}
	return out
}

// mids returns the messageIds of the ProductCreated events with ids.
func mids(ids ...string) []string {
	out := []string{}
	for _, id := range ids {
		out = append(out, mid(webhook.ProductCreated, id))
	}
	return out
}

func mustLogMessage(t *testing.T, st store.Store, sub, messageID string) store.LogMessage {
	t.Helper()
	m, err := st.LogMessage(ctx, sub, messageID)
	if err != nil {
		t.Fatalf("LogMessage(%s, %s) = %v", sub, messageID, err)
	}
	return m
}

// deliverAll claims every claimable message at now and records a success
// for each.
func deliverAll(t *testing.T, st store.Store, now time.Time) int {
	t.Helper()
	n := 0
	for {
		ds := mustClaim(t, st, now, 100, 100)
		if len(ds) == 0 {
			return n
		}
		var rs []store.AttemptResult
		for _, d := range ds {
			rs = append(rs, result(d, now, 200))
		}
		mustRecord(t, st, now, rs...)
		n += len(ds)
	}
}

// exhaust fails subA's head message until its retries run out: a failure
// at at, then one per retry of testSchedule.
func exhaust(t *testing.T, st store.Store, at time.Time) {
	t.Helper()
	attempt(t, st, at, 503)
	for i := 1; i <= 3; i++ {
		attempt(t, st, at.Add(time.Duration(i)*10*time.Second), 500)
	}
	mustBeGone(t, st, subA)
}

func mustReplay(t *testing.T, st store.Store, p store.ReplayParams) store.ReplayResult {
	t.Helper()
	if p.OrganizationUUID == "" {
		p.OrganizationUUID = org
	}
	if p.Now.IsZero() {
		p.Now = t0.Add(5 * time.Hour)
	}
	res, err := st.Replay(ctx, p)
	if err != nil {
		t.Fatalf("Replay(%+v) = %v", p, err)
	}
	return res
}

// pendingIDs returns the messageIds of sub's pending messages, oldest first.
func pendingIDs(t *testing.T, st store.Store, sub string) []string {
	t.Helper()
	ms, err := st.Messages(ctx, sub, store.StatePending)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.MessageID)
	}
	return out
}

// messageOf returns sub's message with messageID.
func messageOf(t *testing.T, st store.Store, sub, messageID string) store.Message {
	t.Helper()
	ms, err := st.Messages(ctx, sub, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.MessageID == messageID {
			return m
		}
	}
	t.Fatalf("subscription %s has no message %s", sub, messageID)
	return store.Message{}
}

var deliveryLogCases = []testCase{
	{"SubscriptionByUUIDInAnyOrganization", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		other := extendedSub(subB)
		other.OrganizationUUID, other.ClientID = otherOrg, "client-b"
		mustCreate(t, e.st, other)
		got, err := e.st.SubscriptionByUUID(ctx, subB)
		if err != nil || got.OrganizationUUID != otherOrg || got.ClientID != "client-b" || got.Destination != other.Destination {
			t.Fatalf("SubscriptionByUUID = %+v, %v", got, err)
		}
		checkExtensions(t, "SubscriptionByUUID", got, other)
		if _, err := e.st.SubscriptionByUUID(ctx, subC); !webhook.IsCode(err, webhook.NotFound) ||
			!containsMessage(err, webhook.ErrSubscriptionNotFound(subC).Message) {
			t.Errorf("SubscriptionByUUID(unknown) = %v, want NotFound", err)
		}
	}},
	{"OrganizationSubscriptionsOfEveryClientOldestFirst", func(t *testing.T, e *env) {
		b := newSub(subB)
		b.ClientID, b.Created = "client-b", t0.Add(-time.Second)
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, b)
		c := newSub(subC)
		c.OrganizationUUID, c.Created = otherOrg, t0.Add(time.Second)
		mustCreate(t, e.st, c)
		uuids := func(subs []*webhook.Subscription, err error) []string {
			t.Helper()
			if err != nil || subs == nil {
				t.Fatalf("OrganizationSubscriptions = %v, %v", subs, err)
			}
			out := []string{}
			for _, s := range subs {
				out = append(out, s.UUID)
			}
			return out
		}
		if got := uuids(e.st.OrganizationSubscriptions(ctx, org)); !slices.Equal(got, []string{subB, subA}) {
			t.Errorf("OrganizationSubscriptions(org) = %v, want [B A] (both clients, oldest first)", got)
		}
		if got := uuids(e.st.OrganizationSubscriptions(ctx, "")); !slices.Equal(got, []string{subB, subA, subC}) {
			t.Errorf(`OrganizationSubscriptions("") = %v, want [B A C]`, got)
		}
		if got := uuids(e.st.OrganizationSubscriptions(ctx, "nobody")); len(got) != 0 {
			t.Errorf("OrganizationSubscriptions(unknown) = %v, want none", got)
		}
	}},
	{"SettingsAndRotationStateAreStoredReadAndCopied", func(t *testing.T, e *env) {
		want := extendedSub(subA)
		mustCreate(t, e.st, want)
		checkExtensions(t, "Subscription", mustGet(t, e.st, subA), want)
		if list, err := e.st.Subscriptions(ctx, org, client); err != nil || len(list) != 1 {
			t.Fatalf("Subscriptions = %v, %v", list, err)
		} else {
			checkExtensions(t, "Subscriptions", list[0], want)
		}
		if list, err := e.st.OrganizationSubscriptions(ctx, org); err != nil || len(list) != 1 {
			t.Fatalf("OrganizationSubscriptions = %v, %v", list, err)
		} else {
			checkExtensions(t, "OrganizationSubscriptions", list[0], want)
		}
		b := exportAll(t, e.st)
		if len(b.Subscriptions) != 1 {
			t.Fatalf("AllSubscriptions = %v", b.Subscriptions)
		}
		checkExtensions(t, "AllSubscriptions", b.Subscriptions[0], want)
		target := e.another()
		if c, err := target.Import(ctx, b); err != nil || c.Subscriptions != 1 {
			t.Fatalf("Import = %+v, %v", c, err)
		}
		checkExtensions(t, "imported", mustGet(t, target, subA), want)
	}},
	{"SaveSigningWritesOnlySigning", func(t *testing.T, e *env) {
		mustCreate(t, e.st, extendedSub(subA))
		s := mustGet(t, e.st, subA)
		settings := s.Settings
		s.Rotate("new-key", t0.Add(time.Hour), 2*time.Hour)
		s.Settings = webhook.Settings{RotationOverlap: time.Minute} // a stale or changed copy: not written
		s.Destination, s.Status, s.ContactEmail = "https://changed.example/", webhook.Failing, "changed@example.com"
		if err := e.st.SaveSigning(ctx, s); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, e.st, subA)
		want := &webhook.Subscription{Settings: settings, SigningKey: "new-key", PreviousSigningKey: "k-" + subA,
			PreviousKeyExpires: t0.Add(3 * time.Hour)}
		checkExtensions(t, "after SaveSigning", got, want)
		if !got.Updated.Equal(t0.Add(time.Hour)) || got.Destination != "https://example.com/"+subA ||
			got.Status != webhook.Active || got.ContactEmail != "ops@example.com" || !got.Created.Equal(t0) {
			t.Errorf("after SaveSigning = %+v, want only the keys and updated time changed", got)
		}
		byUUID, err := e.st.SubscriptionByUUID(ctx, subA)
		if err != nil {
			t.Fatal(err)
		}
		checkExtensions(t, "SubscriptionByUUID after SaveSigning", byUUID, want)
		if err := e.st.SaveSigning(ctx, newSub(subC)); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("SaveSigning(unknown) = %v, want NotFound", err)
		}
	}},
	{"SaveSettingsWritesOnlySettings", func(t *testing.T, e *env) {
		mustCreate(t, e.st, extendedSub(subA))
		stale := mustGet(t, e.st, subA) // read before a rotation, as a racing settings PUT does
		rotated := mustGet(t, e.st, subA)
		rotated.Rotate("new-key", t0.Add(time.Hour), 30*time.Minute)
		if err := e.st.SaveSigning(ctx, rotated); err != nil {
			t.Fatal(err)
		}
		for _, settings := range []webhook.Settings{
			{StrictOrder: true, RotationOverlap: 5 * time.Minute},
			{}, // false and zero are written too
			{StandardWebhooks: true, RotationOverlap: 168 * time.Hour},
		} {
			if err := e.st.SaveSettings(ctx, stale.UUID, settings); err != nil {
				t.Fatal(err)
			}
			want := &webhook.Subscription{Settings: settings, SigningKey: "new-key", PreviousSigningKey: "k-" + subA,
				PreviousKeyExpires: t0.Add(90 * time.Minute)}
			got := mustGet(t, e.st, subA)
			checkExtensions(t, fmt.Sprintf("after SaveSettings(%+v)", settings), got, want)
			if !got.Updated.Equal(t0.Add(time.Hour)) || got.Destination != "https://example.com/"+subA ||
				got.Status != webhook.Active || got.ContactEmail != "ops@example.com" || !got.Created.Equal(t0) {
				t.Errorf("after SaveSettings = %+v, want only the settings changed (updated kept: the rotation's)", got)
			}
			byUUID, err := e.st.SubscriptionByUUID(ctx, subA)
			if err != nil {
				t.Fatal(err)
			}
			checkExtensions(t, "SubscriptionByUUID after SaveSettings", byUUID, want)
		}
		if err := e.st.SaveSettings(ctx, subC, webhook.Settings{StrictOrder: true}); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("SaveSettings(unknown) = %v, want NotFound", err)
		}
	}},
	{"UpdateSubscriptionKeepsSigningAndSettings", func(t *testing.T, e *env) {
		want := extendedSub(subA)
		mustCreate(t, e.st, want)
		upd := newSub(subA, webhook.ProductCreated) // Zettle's PUT knows nothing of settings
		upd.Updated = t0.Add(time.Hour)
		if err := e.st.UpdateSubscription(ctx, upd); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, e.st, subA)
		checkExtensions(t, "after UpdateSubscription", got, want)
		if !slices.Equal(got.EventNames, []string{webhook.ProductCreated}) {
			t.Errorf("event names %v, want the update's", got.EventNames)
		}
	}},
	{"ClaimsCarryRotationStateAndSettings", func(t *testing.T, e *env) {
		s := newSub(subA)
		s.Settings = webhook.Settings{StandardWebhooks: true, RotationOverlap: time.Hour}
		mustCreate(t, e.st, s)
		s.Rotate("k2", t0, time.Hour)
		if err := e.st.SaveSigning(ctx, s); err != nil {
			t.Fatal(err)
		}
		publishN(t, e.st, "c", 1)
		d := claimOne(t, e.st, t0)
		if d.SigningKey != "k2" || d.PreviousSigningKey != "k-"+subA || !d.PreviousKeyExpires.Equal(t0.Add(time.Hour)) ||
			!d.StandardWebhooks || d.StrictOrder {
			t.Errorf("delivery = %+v, want the rotated keys and the settings", d)
		}
		if k := d.Keys(t0.Add(time.Minute)); k.Current != "k2" || k.Previous != "k-"+subA || !k.StandardWebhooks {
			t.Errorf("Keys during the overlap = %+v", k)
		}
		next, err := e.st.RecordAndClaim(ctx, recordParams(t0, result(d, t0, 500)), claimParams(t0, 10, 2))
		if err != nil || len(next) != 0 {
			t.Fatalf("RecordAndClaim = %v, %v", next, err)
		}
		probe := mustClaim(t, e.st, t0.Add(10*time.Second), 10, 1)
		if len(probe) != 1 || probe[0].PreviousSigningKey != "k-"+subA || probe[0].SigningKey != "k2" {
			t.Errorf("probe = %+v, want the rotated keys (RecordAndClaim and probes carry them too)", probe)
		}
	}},
	{"StrictOrderLeasesOneMessageAtATime", func(t *testing.T, e *env) {
		s := newSub(subA)
		s.Settings.StrictOrder = true
		mustCreate(t, e.st, s)
		mustCreate(t, e.st, newSub(subB))
		publishN(t, e.st, "s", 3)
		per := map[string][]*store.Delivery{}
		for _, d := range mustClaim(t, e.st, t0, 100, 3) {
			per[d.SubscriptionUUID] = append(per[d.SubscriptionUUID], d)
		}
		if len(per[subA]) != 1 || len(per[subB]) != 3 {
			t.Fatalf("claimed %d of the strict-order subscription and %d of the other, want 1 and 3", len(per[subA]), len(per[subB]))
		}
		first := per[subA][0]
		if first.Envelope.Payload != `{"id":"s-0"}` || !first.StrictOrder || per[subB][0].StrictOrder {
			t.Errorf("strict-order delivery %+v, want the oldest message marked StrictOrder", first)
		}
		if more := mustClaim(t, e.st, t0, 100, 3); len(more) != 0 {
			t.Errorf("claimed %d more while the strict-order message is in flight", len(more))
		}
		next, err := e.st.RecordAndClaim(ctx, recordParams(t0, result(first, t0, 200)), claimParams(t0, 100, 3))
		if err != nil || len(next) != 1 || next[0].Envelope.Payload != `{"id":"s-1"}` {
			t.Errorf("RecordAndClaim = %v, %v; want only the next message in order", next, err)
		}
	}},
	{"RemoteAddrIsRecorded", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 1)
		d := claimOne(t, e.st, t0)
		r := result(d, t0, 502)
		r.RemoteAddr, r.ResponseBody = "203.0.113.7:443", []byte("bad gateway")
		mustRecord(t, e.st, t0, r)
		as, err := e.st.Attempts(ctx, d.ID)
		if err != nil || len(as) != 1 || as[0].RemoteAddr != "203.0.113.7:443" {
			t.Errorf("Attempts = %+v, %v; want the remote address", as, err)
		}
		ms := mustLog(t, e.st, store.MessageFilter{OrganizationUUID: org})
		if len(ms) != 1 || ms[0].LastAttempt == nil || ms[0].LastAttempt.RemoteAddr != "203.0.113.7:443" ||
			string(ms[0].LastAttempt.ResponseBody) != "bad gateway" || ms[0].LastAttempt.StatusCode != 502 {
			t.Errorf("LogMessages = %+v, want the last attempt with its remote address", ms)
		}
	}},
	{"OwnerDeleteLeavesATombstone", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA, webhook.ProductCreated, webhook.ProductUpdated))
		if _, err := e.st.DeletedSubscription(ctx, subA); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("DeletedSubscription(live) = %v, want NotFound", err)
		}
		at := t0.Add(time.Hour)
		if err := e.st.DeleteSubscription(ctx, org, client, subA, at); err != nil {
			t.Fatal(err)
		}
		d, err := e.st.DeletedSubscription(ctx, subA)
		if err != nil || d.UUID != subA || d.OrganizationUUID != org || d.ClientID != client ||
			!slices.Equal(d.EventNames, []string{webhook.ProductCreated, webhook.ProductUpdated}) ||
			d.Destination != "https://example.com/"+subA || !d.DeletedAt.Equal(at) || d.Exhausted {
			t.Errorf("DeletedSubscription = %+v, %v; want the owner's deletion at %v", d, err, at)
		}
		if _, err := e.st.DeletedSubscription(ctx, subC); !webhook.IsCode(err, webhook.NotFound) ||
			!containsMessage(err, webhook.ErrSubscriptionNotFound(subC).Message) {
			t.Errorf("DeletedSubscription(unknown) = %v, want NotFound", err)
		}
	}},
	{"ExhaustionLeavesAnExhaustedTombstone", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "x", 2)
		exhaust(t, e.st, t0)
		d, err := e.st.DeletedSubscription(ctx, subA)
		if err != nil || !d.Exhausted || !d.DeletedAt.Equal(t0.Add(30*time.Second)) || d.ClientID != client || d.EventNames == nil {
			t.Errorf("DeletedSubscription = %+v, %v; want exhausted at %v", d, err, t0.Add(30*time.Second))
		}
	}},
	{"DisconnectLeavesTombstones", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))                         // wants the disconnect event: deleted once delivered
		mustCreate(t, e.st, newSub(subB, webhook.ProductCreated)) // does not: deleted at once
		ev := event(org, webhook.ApplicationConnectionRemoved, "bye")
		ev.ClientID, ev.Now = client, t0.Add(time.Minute)
		mustPublish(t, e.st, ev)
		if d, err := e.st.DeletedSubscription(ctx, subB); err != nil || d.Exhausted || !d.DeletedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("DeletedSubscription(deleted by the disconnect) = %+v, %v", d, err)
		}
		attempt(t, e.st, t0.Add(2*time.Minute), 200)
		mustBeGone(t, e.st, subA)
		if d, err := e.st.DeletedSubscription(ctx, subA); err != nil || d.Exhausted || !d.DeletedAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("DeletedSubscription(deleted once the disconnect was delivered) = %+v, %v", d, err)
		}
	}},
	{"DeadLettersOfADeletedSubscriptionStayReadable", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "x", 2)
		exhaust(t, e.st, t0)
		for _, f := range []store.MessageFilter{
			{OrganizationUUID: org, SubscriptionUUID: subA},
			{OrganizationUUID: org, ClientID: client},
			{OrganizationUUID: org, States: []string{store.LogDead}},
		} {
			ms := mustLog(t, e.st, f)
			if !slices.Equal(logIDs(ms), mids("x-1", "x-0")) || ms[0].State != store.LogDead ||
				!ms[0].FinishedAt.Equal(t0.Add(30*time.Second)) || ms[0].NextAttemptAt != (time.Time{}) {
				t.Errorf("LogMessages(%+v) = %+v, want both dead letters, newest first", f, ms)
			}
		}
		m := mustLogMessage(t, e.st, subA, mid(webhook.ProductCreated, "x-0"))
		if m.State != store.LogDead || m.Attempts != 4 || len(m.AttemptList) != 4 || m.SubscriptionUUID != subA {
			t.Errorf("LogMessage(dead letter) = %+v, want dead with its 4 attempts", m)
		}
	}},
	{"CopyCarriesTheTombstonesOfDeadLetters", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA, webhook.ProductCreated))
		publishN(t, e.st, "x", 2)
		exhaust(t, e.st, t0)
		mustCreate(t, e.st, newSub(subB)) // deleted without dead letters: nothing to carry
		if err := e.st.DeleteSubscription(ctx, org, client, subB, t0); err != nil {
			t.Fatal(err)
		}
		want, err := e.st.DeletedSubscription(ctx, subA)
		if err != nil {
			t.Fatal(err)
		}
		b := exportAll(t, e.st)
		target := e.another()
		for range 2 { // repeatable
			if c, err := target.Import(ctx, b); err != nil {
				t.Fatalf("Import = %+v, %v", c, err)
			}
		}
		got, err := target.DeletedSubscription(ctx, subA)
		if err != nil || got.OrganizationUUID != want.OrganizationUUID || got.ClientID != client || !got.Exhausted ||
			!got.DeletedAt.Equal(want.DeletedAt) || !slices.Equal(got.EventNames, want.EventNames) || got.Destination != want.Destination {
			t.Errorf("imported tombstone = %+v, %v; want %+v", got, err, want)
		}
		if ms := mustLog(t, target, store.MessageFilter{OrganizationUUID: org, ClientID: client}); len(ms) != 2 || ms[0].State != store.LogDead {
			t.Errorf("imported dead letters of the client = %+v, want both", ms)
		}
	}},
	{"LogMessagesPagesNewestFirst", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "n", 5)
		var got []string
		var pages int
		f := store.MessageFilter{OrganizationUUID: org, SubscriptionUUID: subA, Limit: 2}
		for {
			ms := mustLog(t, e.st, f)
			if len(ms) == 0 {
				break
			}
			if len(ms) > 2 {
				t.Fatalf("page of %d with limit 2", len(ms))
			}
			for i := 1; i < len(ms); i++ {
				if ms[i].ID >= ms[i-1].ID {
					t.Errorf("page not newest first: %d then %d", ms[i-1].ID, ms[i].ID)
				}
			}
			got = append(got, logIDs(ms)...)
			f.Before = ms[len(ms)-1].ID
			if pages++; pages > 5 {
				t.Fatal("the cursor does not advance")
			}
		}
		if !slices.Equal(got, mids("n-4", "n-3", "n-2", "n-1", "n-0")) || pages != 3 {
			t.Errorf("pages gave %v in %d pages, want n-4…n-0 in 3", got, pages)
		}
	}},
	{"LogMessagesOfManySubscriptions", func(t *testing.T, e *env) {
		const n = 70 // more than a driver may read one by one
		for i := range n {
			s := newSub(fmt.Sprintf("%08x-8f35-11eb-8dcd-0242ac130003", i))
			s.Created = t0.Add(time.Duration(i) * time.Millisecond)
			if i%2 == 1 {
				s.ClientID = "client-b"
			}
			mustCreate(t, e.st, s)
		}
		other := newSub(subC)
		other.OrganizationUUID = otherOrg
		mustCreate(t, e.st, other)
		mustPublish(t, e.st, event(org, webhook.ProductCreated, "m-0"), event(otherOrg, webhook.ProductCreated, "o-0"))
		mustPublish(t, e.st, event(org, webhook.ProductUpdated, "m-1"))
		d := mustClaim(t, e.st, t0, 1, 1)[0] // one failing message
		mustRecord(t, e.st, t0, result(d, t0, 500))
		for _, c := range []struct {
			name string
			f    store.MessageFilter
			want int
		}{
			{"organization", store.MessageFilter{OrganizationUUID: org}, 2 * n},
			{"client", store.MessageFilter{OrganizationUUID: org, ClientID: "client-b"}, n},
			{"every organization", store.MessageFilter{}, 2*n + 1},
			{"client in every organization", store.MessageFilter{ClientID: client}, n + 1},
			{"state", store.MessageFilter{OrganizationUUID: org, States: []string{store.LogFailing}}, 1},
			{"event name", store.MessageFilter{OrganizationUUID: org, EventName: webhook.ProductUpdated}, n},
		} {
			var got []store.LogMessage
			f := c.f
			f.Limit = 17
			for page := 0; page < 20; page++ {
				ms := mustLog(t, e.st, f)
				if len(ms) == 0 {
					break
				}
				got = append(got, ms...)
				f.Before = ms[len(ms)-1].ID
			}
			seen := map[int64]bool{}
			for i, m := range got {
				if seen[m.ID] || (i > 0 && m.ID >= got[i-1].ID) {
					t.Errorf("%s: row %d out of order or repeated", c.name, m.ID)
				}
				seen[m.ID] = true
			}
			if len(got) != c.want {
				t.Errorf("%s: %d messages in all pages, want %d", c.name, len(got), c.want)
			}
		}
		if _, err := e.st.LogMessages(ctx, store.MessageFilter{OrganizationUUID: org, States: []string{"lost"}, Limit: 10}); !webhook.IsCode(err, webhook.Invalid) {
			t.Errorf("LogMessages(unknown state) = %v, want Invalid", err)
		}
	}},
	{"LogMessagesMapsQueueStates", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA, webhook.ProductCreated))
		mustCreate(t, e.st, newSub(subB, webhook.ProductUpdated))
		publishN(t, e.st, "x", 3)
		ds := claimExactly(t, e.st, t0, 3, 3)
		mustRecord(t, e.st, t0, result(ds[0], t0, 200), result(ds[1], t0, 500)) // x-2 stays leased, untried
		mustPublish(t, e.st, event(org, webhook.ProductUpdated, "u-0"))
		if err := e.st.DeleteSubscription(ctx, org, client, subB, t0); err != nil {
			t.Fatal(err)
		}
		next := mustGet(t, e.st, subA).NextRetryAt
		all := mustLog(t, e.st, store.MessageFilter{OrganizationUUID: org})
		want := []string{mid(webhook.ProductUpdated, "u-0"), mid(webhook.ProductCreated, "x-2"),
			mid(webhook.ProductCreated, "x-1"), mid(webhook.ProductCreated, "x-0")}
		if !slices.Equal(logIDs(all), want) {
			t.Fatalf("LogMessages = %v, want %v", logIDs(all), want)
		}
		states := []string{store.LogDead, store.LogPending, store.LogFailing, store.LogDelivered}
		for i, m := range all {
			if m.State != states[i] {
				t.Errorf("%s: state %s, want %s", m.MessageID, m.State, states[i])
			}
		}
		if dead, pending, failing, delivered := all[0], all[1], all[2], all[3]; pending.LastAttempt != nil ||
			!pending.NextAttemptAt.Equal(next) || failing.LastAttempt == nil || failing.LastAttempt.StatusCode != 500 ||
			failing.Attempts != 1 || !failing.NextAttemptAt.Equal(next) || delivered.LastAttempt == nil ||
			delivered.LastAttempt.ErrorClass != "" || !delivered.NextAttemptAt.IsZero() || !delivered.FinishedAt.Equal(t0) ||
			!dead.NextAttemptAt.IsZero() || dead.EventName != webhook.ProductUpdated || !pending.CreatedAt.Equal(t0) {
			t.Errorf("LogMessages = %+v, want last attempts and the next retry %v of the failing subscription", all, next)
		}
		for _, c := range []struct {
			states []string
			want   []string
		}{
			{[]string{store.LogPending}, want[1:2]},
			{[]string{store.LogFailing}, want[2:3]},
			{[]string{store.LogDelivered}, want[3:]},
			{[]string{store.LogDead}, want[:1]},
			{[]string{store.LogPending, store.LogFailing, store.LogDead}, want[:3]},
		} {
			if got := logIDs(mustLog(t, e.st, store.MessageFilter{OrganizationUUID: org, States: c.states})); !slices.Equal(got, c.want) {
				t.Errorf("LogMessages(states %v) = %v, want %v", c.states, got, c.want)
			}
		}
	}},
	{"LogMessagesFilters", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		b := newSub(subB)
		b.ClientID = "client-b"
		mustCreate(t, e.st, b)
		c := newSub(subC)
		c.OrganizationUUID = otherOrg
		mustCreate(t, e.st, c)
		mustPublish(t, e.st, eventAt(webhook.ProductCreated, "e1", t0))
		mustPublish(t, e.st, eventAt(webhook.ProductUpdated, "e2", t0.Add(time.Hour)))
		mustPublish(t, e.st, event(otherOrg, webhook.ProductCreated, "e3"))
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err) // its messages are dead letters now, still the client's
		}
		type key struct{ sub, name string }
		// keys returns what ms holds, sorted: the order of one event's
		// messages for several subscriptions is the driver's.
		keys := func(ms []store.LogMessage) []key {
			out := []key{}
			for i, m := range ms {
				if i > 0 && m.ID >= ms[i-1].ID {
					t.Errorf("LogMessages not newest first: row %d after %d", m.ID, ms[i-1].ID)
				}
				out = append(out, key{m.SubscriptionUUID, m.EventName})
			}
			slices.SortFunc(out, func(a, b key) int { return strings.Compare(a.sub+a.name, b.sub+b.name) })
			return out
		}
		pc, pu := webhook.ProductCreated, webhook.ProductUpdated
		for _, tc := range []struct {
			name string
			f    store.MessageFilter
			want []key
		}{
			{"organization", store.MessageFilter{OrganizationUUID: org}, []key{{subB, pu}, {subA, pu}, {subB, pc}, {subA, pc}}},
			{"other organization", store.MessageFilter{OrganizationUUID: otherOrg}, []key{{subC, pc}}},
			{"client (deleted subscription included)", store.MessageFilter{OrganizationUUID: org, ClientID: client}, []key{{subA, pu}, {subA, pc}}},
			{"other client", store.MessageFilter{OrganizationUUID: org, ClientID: "client-b"}, []key{{subB, pu}, {subB, pc}}},
			{"client in every organization", store.MessageFilter{ClientID: client}, []key{{subC, pc}, {subA, pu}, {subA, pc}}},
			{"subscription", store.MessageFilter{OrganizationUUID: org, SubscriptionUUID: subB}, []key{{subB, pu}, {subB, pc}}},
			{"subscription of another organization", store.MessageFilter{OrganizationUUID: org, SubscriptionUUID: subC}, []key{}},
			{"subscription of another client", store.MessageFilter{OrganizationUUID: org, ClientID: client, SubscriptionUUID: subB}, []key{}},
			{"event name", store.MessageFilter{OrganizationUUID: org, EventName: pu}, []key{{subB, pu}, {subA, pu}}},
			{"since (inclusive)", store.MessageFilter{OrganizationUUID: org, Since: t0.Add(time.Hour)}, []key{{subB, pu}, {subA, pu}}},
			{"until (exclusive)", store.MessageFilter{OrganizationUUID: org, Until: t0.Add(time.Hour)}, []key{{subB, pc}, {subA, pc}}},
			{"range and name", store.MessageFilter{OrganizationUUID: org, Since: t0, Until: t0.Add(time.Hour), EventName: pu}, []key{}},
		} {
			slices.SortFunc(tc.want, func(a, b key) int { return strings.Compare(a.sub+a.name, b.sub+b.name) })
			if got := keys(mustLog(t, e.st, tc.f)); !slices.Equal(got, tc.want) {
				t.Errorf("%s: LogMessages = %v, want %v", tc.name, got, tc.want)
			}
		}
	}},
	{"LogMessageHasTheEnvelopeAsDeliveredAndEveryAttempt", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		ev := event(org, webhook.ProductCreated, "esc<&>\u2028")
		mustPublish(t, e.st, ev)
		ds := mustClaim(t, e.st, t0, 10, 1)
		var d *store.Delivery
		for _, x := range ds {
			if x.SubscriptionUUID == subA {
				d = x
			}
		}
		r := result(d, t0, 503)
		r.RemoteAddr = "198.51.100.1:443"
		mustRecord(t, e.st, t0, r)
		later := t0.Add(10 * time.Second)
		probe := mustClaim(t, e.st, later, 10, 1)
		if len(probe) != 1 {
			t.Fatalf("probe = %v", probe)
		}
		r2 := result(probe[0], later, 200)
		r2.Duration, r2.ResponseBody = 7*time.Millisecond, []byte("ok")
		mustRecord(t, e.st, later, r2)
		m := mustLogMessage(t, e.st, subA, ev.Envelope.MessageID)
		if string(m.Envelope) != string(ev.Envelope.Bytes()) || string(m.Envelope) != string(d.Envelope.Bytes()) {
			t.Errorf("envelope = %s, want the bytes delivered %s", m.Envelope, d.Envelope.Bytes())
		}
		if m.OrganizationUUID != org {
			t.Errorf("LogMessage organization = %q, want its event's %q", m.OrganizationUUID, org)
		}
		if m.ID != d.ID || m.State != store.LogDelivered || m.Attempts != 2 || len(m.AttemptList) != 2 || !m.FinishedAt.Equal(later) {
			t.Fatalf("LogMessage = %+v", m)
		}
		first, last := m.AttemptList[0], m.AttemptList[1]
		if first.StatusCode != 503 || first.RemoteAddr != "198.51.100.1:443" || !first.StartedAt.Equal(t0) ||
			last.StatusCode != 200 || last.Duration != 7*time.Millisecond || string(last.ResponseBody) != "ok" ||
			m.LastAttempt == nil || m.LastAttempt.StatusCode != 200 {
			t.Errorf("attempts = %+v, last %+v; want oldest first", m.AttemptList, m.LastAttempt)
		}
		if _, err := e.st.LogMessage(ctx, subA, mid(webhook.ProductCreated, "unknown")); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("LogMessage(unknown messageId) = %v, want NotFound", err)
		}
		if _, err := e.st.LogMessage(ctx, subC, ev.Envelope.MessageID); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("LogMessage(another subscription) = %v, want NotFound", err)
		}
		if m, err := e.st.LogMessage(ctx, subB, ev.Envelope.MessageID); err != nil || m.LastAttempt != nil ||
			len(m.AttemptList) != 0 || m.AttemptList == nil || m.State != store.LogPending {
			t.Errorf("LogMessage(leased, untried) = %+v, %v; want pending with an empty attempt list", m, err)
		}
	}},
	{"AttemptStatsOfASubscription", func(t *testing.T, e *env) {
		c := newSub(subC)
		c.OrganizationUUID = otherOrg
		mustCreate(t, e.st, c)
		mustPublish(t, e.st, event(otherOrg, webhook.ProductCreated, "o"))
		attempt(t, e.st, t0, 200) // another subscription's attempt
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "s", 3)
		attempt(t, e.st, t0, 503)
		later := t0.Add(10 * time.Second)
		d := claimOne(t, e.st, later)
		r := result(d, later, 200)
		r.Duration = 5 * time.Millisecond
		mustRecord(t, e.st, later, r)
		claimOne(t, e.st, later) // leased: still backlog
		st, err := e.st.AttemptStats(ctx, subA, t0)
		slices.Sort(st.Durations)
		if err != nil || st.Delivered != 1 || st.Failed != 1 || st.Backlog != 2 ||
			!slices.Equal(st.Durations, []time.Duration{time.Millisecond, 5 * time.Millisecond}) {
			t.Errorf("AttemptStats(since t0) = %+v, %v; want 1 delivered, 1 failed, 2 durations, backlog 2", st, err)
		}
		st, err = e.st.AttemptStats(ctx, subA, t0.Add(time.Second))
		if err != nil || st.Delivered != 1 || st.Failed != 0 || !slices.Equal(st.Durations, []time.Duration{5 * time.Millisecond}) {
			t.Errorf("AttemptStats(since t0+1s) = %+v, %v; want only the later attempt", st, err)
		}
		st, err = e.st.AttemptStats(ctx, subB, t0)
		if err != nil || st.Delivered != 0 || st.Failed != 0 || st.Backlog != 0 || len(st.Durations) != 0 {
			t.Errorf("AttemptStats(no attempts) = %+v, %v", st, err)
		}
	}},
	{"RedeliverMakesDeliveredAndDeadPending", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "r", 3)
		attempt(t, e.st, t0, 200)       // r-0 delivered
		leased := claimOne(t, e.st, t0) // r-1 leased
		ids := mids("r-0", "r-1", "r-2")
		r0, r1, r2 := ids[0], ids[1], ids[2]
		now := t0.Add(time.Minute)
		for _, id := range []string{r0, r1, r2} {
			if err := e.st.Redeliver(ctx, subA, id, now); err != nil {
				t.Fatalf("Redeliver(%s) = %v", id, err)
			}
		}
		if m := messageOf(t, e.st, subA, r0); m.State != store.StatePending || m.Attempts != 1 {
			t.Errorf("delivered message after Redeliver = %+v, want pending with its attempt kept", m)
		}
		if m := messageOf(t, e.st, subA, r1); m.State != store.StateLeased {
			t.Errorf("leased message after Redeliver = %+v, want it left alone", m)
		}
		mustRecord(t, e.st, now, result(leased, now, 200)) // its lease still holds
		if m := messageOf(t, e.st, subA, r1); m.State != store.StateDelivered {
			t.Errorf("leased message = %+v, want delivered by its lease holder", m)
		}
		if m := messageOf(t, e.st, subA, r2); m.State != store.StatePending || m.Attempts != 0 {
			t.Errorf("pending message after Redeliver = %+v, want it left alone", m)
		}
		ms := mustLog(t, e.st, store.MessageFilter{OrganizationUUID: org, SubscriptionUUID: subA, States: []string{store.LogDelivered}})
		if !slices.Equal(logIDs(ms), []string{r1}) || !ms[0].FinishedAt.Equal(now) {
			t.Errorf("delivered after Redeliver = %+v, want only r-1", ms)
		}
		if err := e.st.Redeliver(ctx, subA, mid(webhook.ProductCreated, "unknown"), now); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("Redeliver(unknown message) = %v, want NotFound", err)
		}
		if err := e.st.DeleteSubscription(ctx, org, client, subA, now); err != nil {
			t.Fatal(err)
		}
		if err := e.st.Redeliver(ctx, subA, r2, now); !webhook.IsCode(err, webhook.NotFound) ||
			!containsMessage(err, webhook.ErrSubscriptionNotFound(subA).Message) {
			t.Errorf("Redeliver(deleted subscription) = %v, want SUBSCRIPTION_NOT_FOUND", err)
		}
		mustCreate(t, e.st, newSub(subA)) // the uuid is used again: its old dead letters can be redelivered
		if err := e.st.Redeliver(ctx, subA, r2, now); err != nil {
			t.Fatal(err)
		}
		if got := pendingIDs(t, e.st, subA); !slices.Equal(got, []string{r2}) {
			t.Errorf("pending after redelivering a dead letter = %v, want r-2", got)
		}
		if ds := mustClaim(t, e.st, now, 10, 5); len(ds) != 1 || ds[0].Envelope.MessageID != r2 {
			t.Errorf("claimed %v, want the redelivered dead letter", ds)
		}
	}},
	{"RedeliverRetriesAFailingSubscriptionNow", func(t *testing.T, e *env) {
		d := failOnce(t, e.st, 2) // FAILING, next retry at t0+10s
		second := mid(webhook.ProductCreated, "f-1")
		at := t0.Add(time.Second)
		if err := e.st.Redeliver(ctx, subA, second, at); err != nil {
			t.Fatal(err)
		}
		if s := mustGet(t, e.st, subA); !s.NextRetryAt.Equal(at) || s.Status != webhook.Failing || s.Failures != 1 {
			t.Errorf("after Redeliver: %s, %d failures, next retry %v; want FAILING, retried at %v", s.Status, s.Failures, s.NextRetryAt, at)
		}
		probe := mustClaim(t, e.st, at, 10, 5)
		if len(probe) != 1 || probe[0].ID != d.ID {
			t.Fatalf("claimed %v at the redelivery, want the head message as the probe", probe)
		}
		mustRecord(t, e.st, at, result(probe[0], at, 500)) // next retry from the schedule: t0+20s
		due := mustGet(t, e.st, subA).NextRetryAt
		if err := e.st.Redeliver(ctx, subA, second, due.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if s := mustGet(t, e.st, subA); !s.NextRetryAt.Equal(due) {
			t.Errorf("next retry %v after redelivering on a due subscription, want it left at %v", s.NextRetryAt, due)
		}
	}},
	{"ReplayByRangeAndNames", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustPublish(t, e.st, eventAt(webhook.ProductCreated, "p-0", t0))
		mustPublish(t, e.st, eventAt(webhook.ProductUpdated, "p-1", t0.Add(time.Hour)))
		mustPublish(t, e.st, eventAt(webhook.ProductCreated, "p-2", t0.Add(2*time.Hour)))
		mustPublish(t, e.st, event(otherOrg, webhook.ProductCreated, "o"))
		deliverAll(t, e.st, t0.Add(2*time.Hour))
		before := messageOf(t, e.st, subA, mid(webhook.ProductUpdated, "p-1"))
		b := newSub(subB, webhook.ProductCreated)
		b.Created = t0.Add(3 * time.Hour)
		mustCreate(t, e.st, b) // created after the events: replay brings them
		res := mustReplay(t, e.st, store.ReplayParams{SubscriptionUUID: subB, EventNames: []string{webhook.ProductCreated},
			Since: t0, Until: t0.Add(3 * time.Hour)})
		if res.Count != 2 || res.Repeated {
			t.Errorf("Replay(names) = %+v, want 2", res)
		}
		if got := pendingIDs(t, e.st, subB); !slices.Equal(got, mids("p-0", "p-2")) {
			t.Errorf("replayed to B %v, want p-0 then p-2", got)
		}
		res = mustReplay(t, e.st, store.ReplayParams{SubscriptionUUID: subA, Since: t0.Add(30 * time.Minute), Until: t0.Add(2 * time.Hour)})
		if res.Count != 1 {
			t.Errorf("Replay(range) = %+v, want 1 (since inclusive, until exclusive)", res)
		}
		after := messageOf(t, e.st, subA, mid(webhook.ProductUpdated, "p-1"))
		if after.ID != before.ID || after.State != store.StatePending || after.Attempts != 1 {
			t.Errorf("replayed delivered message = %+v, want the same row pending again (was %+v)", after, before)
		}
		if got := pendingIDs(t, e.st, subA); len(got) != 1 {
			t.Errorf("pending of A = %v, want only p-1", got)
		}
		if res := mustReplay(t, e.st, store.ReplayParams{SubscriptionUUID: subA, EventNames: []string{webhook.ProductDeleted},
			Since: t0, Until: t0.Add(3 * time.Hour)}); res.Count != 0 {
			t.Errorf("Replay(no such events) = %+v, want 0", res)
		}
		ds := mustClaim(t, e.st, t0.Add(5*time.Hour), 10, 10)
		for _, d := range ds {
			if d.SubscriptionUUID == subB && d.Envelope.Payload == `{"id":"p-0"}` &&
				d.Envelope != eventAt(webhook.ProductCreated, "p-0", t0).Envelope {
				t.Errorf("replayed envelope = %+v, want the original", d.Envelope)
			}
		}
		if len(ds) != 3 {
			t.Errorf("claimed %d replayed messages, want 3", len(ds))
		}
	}},
	{"ReplayFromADeletedSubscriptionTakesItsDeadLetters", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "f", 3)
		attempt(t, e.st, t0, 200) // f-0 delivered
		exhaust(t, e.st, t0.Add(time.Second))
		mustCreate(t, e.st, newSub(subB))
		p := store.ReplayParams{SubscriptionUUID: subB, FromSubscriptionUUID: subA, Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour), DryRun: true}
		if res := mustReplay(t, e.st, p); res.Count != 2 || countState(t, e.st, subB, "") != 0 {
			t.Errorf("dry run = %+v, want 2 and nothing queued", res)
		}
		p.DryRun = false
		if res := mustReplay(t, e.st, p); res.Count != 2 {
			t.Errorf("Replay(from) = %+v, want the 2 dead letters", res)
		}
		if got := pendingIDs(t, e.st, subB); !slices.Equal(got, mids("f-1", "f-2")) {
			t.Errorf("replayed %v, want f-1 and f-2 (not the delivered f-0)", got)
		}
		if n := countState(t, e.st, subA, store.StateDead); n != 2 {
			t.Errorf("dead letters of A = %d, want them kept", n)
		}
	}},
	{"ReplayDryRunChangesNothing", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "d", 2)
		deliverAll(t, e.st, t0)
		p := store.ReplayParams{SubscriptionUUID: subA, Since: t0, Until: t0.Add(time.Hour), DryRun: true,
			IdempotencyKey: "k", RequestHash: "dry"}
		if res := mustReplay(t, e.st, p); res.Count != 2 || res.Repeated {
			t.Errorf("dry run = %+v, want 2", res)
		}
		if n := countState(t, e.st, subA, store.StateDelivered); n != 2 {
			t.Errorf("delivered after a dry run = %d, want 2", n)
		}
		p.DryRun, p.RequestHash = false, "real" // the dry run kept no key
		if res := mustReplay(t, e.st, p); res.Count != 2 || res.Repeated {
			t.Errorf("Replay after a dry run with its key = %+v, want 2, not repeated", res)
		}
	}},
	{"ReplayIsIdempotentPerKey", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		publishN(t, e.st, "i", 2)
		deliverAll(t, e.st, t0)
		p := store.ReplayParams{SubscriptionUUID: subA, Since: t0, Until: t0.Add(time.Hour), IdempotencyKey: "key-1", RequestHash: "h1"}
		if res := mustReplay(t, e.st, p); res.Count != 2 || res.Repeated {
			t.Fatalf("first Replay = %+v, want 2", res)
		}
		if n := deliverAll(t, e.st, t0.Add(time.Hour)); n != 2 {
			t.Fatalf("delivered %d replayed messages, want 2", n)
		}
		if res := mustReplay(t, e.st, p); res.Count != 2 || !res.Repeated {
			t.Errorf("repeated Replay = %+v, want the first count, repeated", res)
		}
		if got := pendingIDs(t, e.st, subA); len(got) != 0 {
			t.Errorf("a repeated Replay queued %v", got)
		}
		p.RequestHash = "h2"
		p.Now = t0.Add(5 * time.Hour)
		if _, err := e.st.Replay(ctx, p); !webhook.IsCode(err, webhook.Unprocessable) {
			t.Errorf("Replay(same key, other request) = %v, want Unprocessable", err)
		}
		p.SubscriptionUUID = subB // keys are per subscription
		if res := mustReplay(t, e.st, p); res.Count != 2 || res.Repeated {
			t.Errorf("Replay(same key, other subscription) = %+v, want 2, not repeated", res)
		}
	}},
	{"ReplayLeavesPendingAndLeasedAlone", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "l", 2)
		ds := mustClaim(t, e.st, t0, 10, 2)
		mustRecord(t, e.st, t0, result(ds[0], t0, 503)) // pending again with an attempt; ds[1] stays leased
		if res := mustReplay(t, e.st, store.ReplayParams{SubscriptionUUID: subA, Since: t0, Until: t0.Add(time.Hour)}); res.Count != 2 {
			t.Errorf("Replay = %+v, want 2 selected", res)
		}
		if m := messageOf(t, e.st, subA, ds[0].Envelope.MessageID); m.State != store.StatePending || m.Attempts != 1 {
			t.Errorf("pending message after Replay = %+v, want it as it was", m)
		}
		if m := messageOf(t, e.st, subA, ds[1].Envelope.MessageID); m.State != store.StateLeased {
			t.Errorf("leased message after Replay = %+v, want it as it was", m)
		}
		mustRecord(t, e.st, t0, result(ds[1], t0, 200))
		if as, _ := e.st.Attempts(ctx, ds[1].ID); len(as) != 1 {
			t.Errorf("attempts of the leased message = %v, want its lease to hold through Replay", as)
		}
		if n := countState(t, e.st, subA, ""); n != 2 {
			t.Errorf("messages = %d, want still 2", n)
		}
	}},
	{"ReplayToUnknownSubscriptionIsNotFound", func(t *testing.T, e *env) {
		_, err := e.st.Replay(ctx, store.ReplayParams{SubscriptionUUID: subC, OrganizationUUID: org, Since: t0, Until: t0.Add(time.Hour), Now: t0})
		if !webhook.IsCode(err, webhook.NotFound) || !containsMessage(err, webhook.ErrSubscriptionNotFound(subC).Message) {
			t.Errorf("Replay(unknown subscription) = %v, want SUBSCRIPTION_NOT_FOUND", err)
		}
	}},
	{"PruneDeletesTombstonesAndReplayKeys", func(t *testing.T, e *env) {
		mustCreate(t, e.st, newSub(subA))
		mustCreate(t, e.st, newSub(subB))
		publishN(t, e.st, "k", 1)
		deliverAll(t, e.st, t0)
		p := store.ReplayParams{SubscriptionUUID: subB, Since: t0, Until: t0.Add(time.Hour), IdempotencyKey: "key", RequestHash: "h1", Now: t0}
		mustReplay(t, e.st, p)
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0); err != nil {
			t.Fatal(err) // no dead letters
		}
		if err := e.st.DeleteSubscription(ctx, org, client, subB, t0); err != nil {
			t.Fatal(err) // one dead letter (the replayed message)
		}
		if _, err := e.st.Prune(ctx, t0); err != nil {
			t.Fatal(err)
		}
		for _, uuid := range []string{subA, subB} {
			if _, err := e.st.DeletedSubscription(ctx, uuid); err != nil {
				t.Errorf("DeletedSubscription(%s) after Prune(its deletion time) = %v, want it kept", uuid, err)
			}
		}
		mustCreate(t, e.st, newSub(subB)) // the key of the old B is still known
		p.RequestHash = "h2"
		if _, err := e.st.Replay(ctx, p); !webhook.IsCode(err, webhook.Unprocessable) {
			t.Errorf("Replay(kept key, other request) = %v, want Unprocessable", err)
		}
		if _, err := e.st.Prune(ctx, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		for _, uuid := range []string{subA, subB} {
			if _, err := e.st.DeletedSubscription(ctx, uuid); !webhook.IsCode(err, webhook.NotFound) {
				t.Errorf("DeletedSubscription(%s) after Prune = %v, want NotFound", uuid, err)
			}
		}
		if res := mustReplay(t, e.st, p); res.Repeated || res.Count != 0 {
			t.Errorf("Replay(pruned key) = %+v, want a new replay (of nothing: the event was pruned too)", res)
		}
	}},
	{"PruneKeepsTombstonesWithDeadLetters", func(t *testing.T, e *env) {
		// The uuid is used twice; the second deletion is stamped earlier than
		// the first one's dead letter, which isolates the rule: a tombstone
		// older than the cutoff stays while its dead letters do.
		mustCreate(t, e.st, newSub(subA))
		publishN(t, e.st, "t", 1)
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, e.st, newSub(subA))
		if err := e.st.DeleteSubscription(ctx, org, client, subA, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.Prune(ctx, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if d, err := e.st.DeletedSubscription(ctx, subA); err != nil || !d.DeletedAt.Equal(t0) {
			t.Errorf("DeletedSubscription = %+v, %v; want it kept with its dead letter", d, err)
		}
		if _, err := e.st.Prune(ctx, t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.DeletedSubscription(ctx, subA); !webhook.IsCode(err, webhook.NotFound) {
			t.Errorf("DeletedSubscription after its dead letter was pruned = %v, want NotFound", err)
		}
	}},
}
