package metadata

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// View is what every broker watches, as of one etcd revision: the live
// brokers, the controller, topics, the controller's partition assignments
// and the partitions' leaders. A View is never modified once published.
type View struct {
	Revision    int64
	Brokers     map[int32]Broker
	Controller  int32 // -1 while none is elected
	Topics      map[string]Topic
	Assignments map[TopicID][]int32 // partition i → broker (-1: none)
	Leaders     map[PartitionKey]Leader
	// BrokerConfigs are the cluster-wide dynamic broker configs, by Kafka
	// name (UpdateBrokerConfigs); never nil, and never modified: a change
	// replaces the map.
	BrokerConfigs map[string]string

	// candidates are the election's keys: the lowest creation revision is the controller.
	candidates map[string]candidate
	// shape is the revision of the latest change to anything but Leaders
	// (the revision read, for a View read whole; 0 for one not from etcd):
	// views of the same shape differ only in their leaders (Balancer).
	shape int64
	// changes are what Watch changed to make this View of the previous
	// one (ChangesSince); nil for a View read whole.
	changes *viewChanges
}

type candidate struct {
	rev    int64
	broker int32
}

// Assigned returns the broker the controller assigned partition key to, or -1.
func (v *View) Assigned(key PartitionKey) int32 {
	a := v.Assignments[key.Topic]
	if key.Partition < 0 || int(key.Partition) >= len(a) {
		return -1
	}
	return a[key.Partition]
}

// watchRetry is the pause before reading everything again after a watch failed.
const watchRetry = 500 * time.Millisecond

// Watch calls fn with the current View, then with a new View after each
// change (changes already queued behind one, or arriving within viewPace
// of the last View, come together), until ctx ends. fn runs on Watch's goroutine. When the watch
// breaks (etcd compacted past it, or a member failed), Watch reads
// everything again and carries on.
func (s *Store) Watch(ctx context.Context, fn func(*View)) error {
	var v *View
	read := func(ctx context.Context) (int64, error) {
		next, err := s.ReadView(ctx)
		if err != nil {
			return 0, err
		}
		v = next
		fn(v)
		return v.Revision, nil
	}
	apply := func(wr clientv3.WatchResponse) {
		if len(wr.Events) == 0 {
			return // a progress notification (RequestSecurityProgress): nothing changed
		}
		start := time.Now()
		defer func() { sleep(ctx, viewPace(time.Since(start))) }()
		ch := newViewChanges(v.Revision)
		v = v.clone()
		for _, ev := range wr.Events {
			s.applyNoting(v, ch, ev)
			if !strings.HasPrefix(string(ev.Kv.Key), s.keys.leaders()) {
				v.shape = wr.Header.Revision
			}
		}
		v.Revision = wr.Header.Revision
		v.changes = ch
		v.electController()
		fn(v)
	}
	return s.readThenWatch(ctx, s.keys.cluster(), "cluster view", read, apply)
}

// viewPace is how long Watch waits after publishing a View that took took
// to clone and update, before it takes the next changes: changes arriving
// meanwhile come together in the next View (coalesce). With 100,000
// partitions a clone of the leaders takes milliseconds, and a View per
// acquired leadership spent most of a broker's CPU cloning; waiting nine
// times as long keeps cloning under a tenth of a core, at the cost of
// that much delay (a few tens of milliseconds then, microseconds for a
// small cluster), bounded by maxViewPace.
func viewPace(took time.Duration) time.Duration { return min(9*took, maxViewPace) }

// maxViewPace bounds viewPace.
const maxViewPace = 100 * time.Millisecond

// readThenWatch is the loop of a watched snapshot (the View, Security):
// read publishes a full read and returns its revision; apply publishes the
// changes of one watch response, or a progress notification (no events).
// It watches prefix from the read's revision + 1, reads again after
// watchRetry when the watch breaks, and returns when ctx ends. what names
// the snapshot in logs.
func (s *Store) readThenWatch(ctx context.Context, prefix, what string,
	read func(context.Context) (int64, error), apply func(clientv3.WatchResponse)) error {
	for {
		rev, err := read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.log.Warn("metadata: read "+what+"; retrying", "error", err)
			if !sleep(ctx, watchRetry) {
				return ctx.Err()
			}
			continue
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wq := newWatchQueue(s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)))
		for {
			batch, open := wq.take(wctx)
			if len(batch) > 0 {
				wr, next := coalesce(batch)
				if err := wr.Err(); err != nil {
					s.log.Debug("metadata: "+what+" watch broke; reading again", "error", err)
					break
				}
				if len(wr.Events) > 0 || wr.IsProgressNotify() {
					apply(wr)
				}
				if err := next.Err(); err != nil {
					s.log.Debug("metadata: "+what+" watch broke; reading again", "error", err)
					break
				}
			}
			if !open {
				break
			}
		}
		cancel()
		if !sleep(ctx, watchRetry) {
			return ctx.Err()
		}
	}
}

// watchQueue holds a watch channel's responses as they come, so that the
// loop applying them takes all those received so far at once: a consumer
// slower than the changes (a View of many partitions is cloned per
// response, and paced, see viewPace) catches up in one step instead of
// falling further behind, its backlog waiting in etcd's client.
type watchQueue struct {
	mu     sync.Mutex
	q      []clientv3.WatchResponse
	closed bool
	ready  chan struct{} // 1-buffered: something was queued, or the channel closed
}

// newWatchQueue receives ch's responses until ch closes (its watch's
// context ended), on a goroutine of its own.
func newWatchQueue(ch clientv3.WatchChan) *watchQueue {
	w := &watchQueue{ready: make(chan struct{}, 1)}
	go func() {
		for wr := range ch {
			w.mu.Lock()
			w.q = append(w.q, wr)
			w.mu.Unlock()
			w.signal()
		}
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.signal()
	}()
	return w
}

func (w *watchQueue) signal() {
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// take waits until responses are queued, the channel closed or ctx ended,
// and returns the responses queued, oldest first, and whether the channel
// is still open (false once ctx ended too).
func (w *watchQueue) take(ctx context.Context) ([]clientv3.WatchResponse, bool) {
	for {
		w.mu.Lock()
		q, closed := w.q, w.closed
		w.q = nil
		w.mu.Unlock()
		if len(q) > 0 || closed {
			return q, !closed
		}
		select {
		case <-w.ready:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// coalesce merges batch, responses of one watch in order, into one: the
// first with the events of those after it appended, up to one with an
// error, which it returns as next (else next is the zero response). Many
// leaderships acquired at once are so one View, not one each. A merged
// response has the header of its last part, so that one ending in a
// progress notification is one (or, with events, reaches its revision).
func coalesce(batch []clientv3.WatchResponse) (merged, next clientv3.WatchResponse) {
	merged = batch[0]
	if merged.Err() != nil {
		return merged, next
	}
	for _, q := range batch[1:] {
		if q.Err() != nil {
			return merged, q
		}
		merged.Events = append(merged.Events, q.Events...)
		merged.Header, merged.Created = q.Header, q.Created // a progress notification after a created one stays one
	}
	return merged, next
}

// ReadView reads the View once.
func (s *Store) ReadView(ctx context.Context) (*View, error) {
	resp, err := s.client.Get(ctx, s.keys.cluster(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metadata: read cluster view: %w", err)
	}
	v := &View{
		Revision:    resp.Header.Revision,
		shape:       resp.Header.Revision,
		Brokers:     map[int32]Broker{},
		Topics:      map[string]Topic{},
		Assignments: map[TopicID][]int32{},
		Leaders:     map[PartitionKey]Leader{},
		candidates:  map[string]candidate{},

		BrokerConfigs: map[string]string{},
	}
	for _, kv := range resp.Kvs {
		s.applyEvent(v, &clientv3.Event{Type: mvccpb.PUT, Kv: kv})
	}
	v.electController()
	return v, nil
}

func (v *View) clone() *View {
	c := *v
	c.Brokers = maps.Clone(v.Brokers)
	c.Topics = maps.Clone(v.Topics)
	c.Assignments = maps.Clone(v.Assignments)
	c.Leaders = maps.Clone(v.Leaders)
	c.candidates = maps.Clone(v.candidates)
	return &c
}

func (v *View) electController() {
	v.Controller = -1
	best := int64(0)
	for _, c := range v.candidates {
		if best == 0 || c.rev < best {
			best, v.Controller = c.rev, c.broker
		}
	}
}

// applyEvent applies one put or delete under cluster/ to v. A value that
// does not decode is logged and treated as absent.
func (s *Store) applyEvent(v *View, ev *clientv3.Event) {
	rel := strings.TrimPrefix(string(ev.Kv.Key), s.keys.cluster())
	kind, name, _ := strings.Cut(rel, "/")
	del := ev.Type == mvccpb.DELETE
	bad := func(err error) {
		s.log.Warn("metadata: undecodable value in cluster view", "key", string(ev.Kv.Key), "error", err)
	}
	switch kind {
	case "configs":
		if name == "broker" {
			s.applyBrokerConfigs(v, ev)
		}
	case "brokers":
		id, err := strconv.ParseInt(name, 10, 32)
		if err != nil {
			bad(err)
			return
		}
		applyKV(v.Brokers, int32(id), del, ev.Kv, bad, decodeJSON[Broker])
	case "controller":
		applyKV(v.candidates, name, del, ev.Kv, bad, func(kv *mvccpb.KeyValue) (candidate, error) {
			id, err := strconv.ParseInt(string(kv.Value), 10, 32)
			return candidate{rev: kv.CreateRevision, broker: int32(id)}, err
		})
	case "topics":
		applyKV(v.Topics, name, del, ev.Kv, bad, decodeTopic)
	case "assignments":
		var id TopicID
		if err := id.UnmarshalText([]byte(name)); err != nil {
			bad(err)
			return
		}
		applyKV(v.Assignments, id, del, ev.Kv, bad, func(kv *mvccpb.KeyValue) ([]int32, error) {
			a, err := decodeJSON[assignmentValue](kv)
			return a.Brokers, err
		})
	case "leaders":
		tid, p, _ := strings.Cut(name, "/")
		var key PartitionKey
		n, err := strconv.ParseInt(p, 10, 32)
		if err == nil {
			err = key.Topic.UnmarshalText([]byte(tid))
		}
		if err != nil {
			bad(err)
			return
		}
		key.Partition = int32(n)
		applyKV(v.Leaders, key, del, ev.Kv, bad, func(kv *mvccpb.KeyValue) (Leader, error) {
			lv, err := decodeJSON[leaderValue](kv)
			return Leader{Broker: lv.Broker, Epoch: kv.CreateRevision, LeaderEpoch: lv.LeaderEpoch, Lease: kv.Lease}, err
		})
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
