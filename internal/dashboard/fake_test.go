package dashboard

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/pusher-hq/pusher/internal/store"
	"github.com/pusher-hq/pusher/internal/webhook"
)

// fakeStore is an in-memory Store for the handler tests: fixed contents,
// and a record of the actions.
type fakeStore struct {
	mu       sync.Mutex
	subs     []*webhook.Subscription
	deleted  map[string]store.DeletedSubscription
	messages map[string][]store.LogMessage // by subscription, newest first
	notices  []store.NoticeRecord
	queue    store.QueueStats
	activity store.ActivitySeries
	stats    store.AttemptStats

	replayCount int
	usedKeys    map[string]store.ReplayResult

	redelivered []string // subscription/message
	replays     []store.ReplayParams
	deletions   []string // org/client/uuid
	lastFilter  store.MessageFilter
	lastNow     time.Time
}

func (f *fakeStore) OrganizationSubscriptions(ctx context.Context, org string) ([]*webhook.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*webhook.Subscription
	for _, s := range f.subs {
		if org == "" || s.OrganizationUUID == org {
			c := *s
			out = append(out, &c)
		}
	}
	return out, nil
}

func (f *fakeStore) SubscriptionByUUID(ctx context.Context, uuid string) (*webhook.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subs {
		if s.UUID == uuid {
			c := *s
			return &c, nil
		}
	}
	return nil, webhook.ErrSubscriptionNotFound(uuid)
}

func (f *fakeStore) DeletedSubscription(ctx context.Context, uuid string) (store.DeletedSubscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.deleted[uuid]; ok {
		return d, nil
	}
	return store.DeletedSubscription{}, webhook.ErrSubscriptionNotFound(uuid)
}

func (f *fakeStore) LogMessages(ctx context.Context, mf store.MessageFilter) ([]store.LogMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastFilter = mf
	var out []store.LogMessage
	for _, m := range f.messages[mf.SubscriptionUUID] {
		if len(mf.States) > 0 && !slices.Contains(mf.States, m.State) || mf.EventName != "" && m.EventName != mf.EventName ||
			mf.Before > 0 && m.ID >= mf.Before {
			continue
		}
		out = append(out, m)
		if len(out) == mf.Limit {
			break
		}
	}
	return out, nil
}

func (f *fakeStore) LogMessage(ctx context.Context, sub, id string) (store.LogMessage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.messages[sub] {
		if m.MessageID == id {
			return m, nil
		}
	}
	return store.LogMessage{}, webhook.Errorf(webhook.NotFound, "no message %s", id)
}

func (f *fakeStore) AttemptStats(ctx context.Context, sub string, since time.Time) (store.AttemptStats, error) {
	return f.stats, nil
}

func (f *fakeStore) Redeliver(ctx context.Context, sub, id string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	found := false
	for _, s := range f.subs {
		found = found || s.UUID == sub
	}
	if !found {
		return webhook.ErrSubscriptionNotFound(sub)
	}
	for i, m := range f.messages[sub] {
		if m.MessageID == id {
			f.redelivered = append(f.redelivered, sub+"/"+id)
			f.lastNow = now
			if m.State == store.LogDelivered || m.State == store.LogDead {
				f.messages[sub][i].State = store.LogPending
			}
			return nil
		}
	}
	return webhook.Errorf(webhook.NotFound, "no message %s", id)
}

func (f *fakeStore) Replay(ctx context.Context, p store.ReplayParams) (store.ReplayResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replays = append(f.replays, p)
	if p.DryRun {
		return store.ReplayResult{Count: f.replayCount}, nil
	}
	if f.usedKeys == nil {
		f.usedKeys = map[string]store.ReplayResult{}
	}
	if r, ok := f.usedKeys[p.IdempotencyKey]; ok {
		r.Repeated = true
		return r, nil
	}
	r := store.ReplayResult{Count: f.replayCount}
	f.usedKeys[p.IdempotencyKey] = r
	return r, nil
}

func (f *fakeStore) DeleteSubscription(ctx context.Context, org, client, uuid string, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.subs {
		if s.UUID == uuid && s.OrganizationUUID == org && s.ClientID == client {
			f.subs = slices.Delete(f.subs, i, i+1)
			f.deletions = append(f.deletions, org+"/"+client+"/"+uuid)
			f.lastNow = now
			return nil
		}
	}
	return webhook.ErrSubscriptionNotFound(uuid)
}

func (f *fakeStore) QueueStats(ctx context.Context) (store.QueueStats, error) { return f.queue, nil }

func (f *fakeStore) Notices(ctx context.Context, limit int) ([]store.NoticeRecord, error) {
	return f.notices[:min(limit, len(f.notices))], nil
}

func (f *fakeStore) ActivitySeries(ctx context.Context, q store.ActivityQuery) (store.ActivitySeries, error) {
	if err := q.Check(); err != nil {
		return store.ActivitySeries{}, err
	}
	out := store.ActivitySeries{Buckets: make([]store.ActivityBucket, q.Buckets()), Subscriptions: f.activity.Subscriptions}
	for i := range out.Buckets {
		out.Buckets[i].Start = q.Since.Add(time.Duration(i) * q.Bucket)
	}
	// The fixture's buckets are the newest ones.
	for i, b := range f.activity.Buckets {
		if j := len(out.Buckets) - len(f.activity.Buckets) + i; j >= 0 {
			out.Buckets[j].Events, out.Buckets[j].Delivered, out.Buckets[j].Failed = b.Events, b.Delivered, b.Failed
		}
	}
	return out, nil
}
