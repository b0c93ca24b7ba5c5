package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// group is one consumer group: its members and how far it has read.
type group struct {
	name    string
	members []*kgo.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex
	next     map[Partition]int64 // one past the highest offset fetched
	assigned []map[Partition]bool
	target   map[Partition]int64 // nil until producing ends
	base     map[Partition]int64
	done     chan struct{}
	closed   bool
}

// startGroup starts group i's members, reading from the first record sent
// at or after from.
func (r *runner) startGroup(ctx context.Context, i int, from time.Time) (*group, error) {
	g := &group{
		name:     fmt.Sprintf("loadgen-%016x-%d", r.runID, i),
		next:     map[Partition]int64{},
		assigned: make([]map[Partition]bool, r.w.Consumers),
		done:     make(chan struct{}),
	}
	r.verifier.AddGroup(g.name)
	gctx, cancel := context.WithCancel(ctx)
	g.cancel = cancel
	for m := range r.w.Consumers {
		g.assigned[m] = map[Partition]bool{}
		update := func(ps map[string][]int32, on bool) {
			g.mu.Lock()
			defer g.mu.Unlock()
			for t, parts := range ps {
				for _, p := range parts {
					if on {
						g.assigned[m][Partition{t, p}] = true
					} else {
						delete(g.assigned[m], Partition{t, p})
					}
				}
			}
		}
		opts := r.clientOpts(ctx,
			kgo.SeedBrokers(r.seeds...),
			kgo.ConsumerGroup(g.name),
			kgo.ConsumeTopics(r.topics...),
			kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(from.UnixMilli())),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
		)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return g, fmt.Errorf("%w: consumer: %v", ErrSetup, err)
		}
		g.members = append(g.members, cl)
		g.wg.Go(func() { r.consume(gctx, g, cl) })
	}
	return g, nil
}

// awaitAssignment waits until every group's members share every partition
// between them, each with at least one while there are enough, so that
// producing starts on settled groups.
func (r *runner) awaitAssignment(ctx context.Context, groups []*group) error {
	deadline := time.Now().Add(r.o.SetupTimeout)
	for _, g := range groups {
		for {
			have, idle := g.coverage(r.parts)
			if have == len(r.parts) && (idle == 0 || len(r.parts) < len(g.members)) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%w: group %s: its %d members were assigned %d of %d partitions within %s",
					ErrSetup, g.name, len(g.members), have, len(r.parts), r.o.SetupTimeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// coverage is how many of parts the members hold and how many members
// hold none.
func (g *group) coverage(parts []Partition) (have, idle int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range parts {
		for _, a := range g.assigned {
			if a[p] {
				have++
				break
			}
		}
	}
	for _, a := range g.assigned {
		if len(a) == 0 {
			idle++
		}
	}
	return have, idle
}

// consume is one member's loop.
func (r *runner) consume(ctx context.Context, g *group, cl *kgo.Client) {
	catchUp := r.w.Scenario == ScenarioCatchUp
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.consErrors.Add(1)
			}
		})
		now := time.Now()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			part := Partition{fp.Topic, fp.Partition}
			for _, rec := range fp.Records {
				h, ok := parseHeader(rec.Value)
				if !ok || h.run != r.runID {
					continue
				}
				measured := catchUp || h.sentAt >= r.measureFrom
				r.e2eLat.Record(now.Sub(h.sentTime()), measured)
				r.consumed.add(int64(len(rec.Value)+len(rec.Key)), measured, now)
				if r.w.Verify {
					r.verifier.Consumed(g.name, part, rec.Offset, h.id)
				}
			}
			g.advance(part, fp.Records[len(fp.Records)-1].Offset+1)
		})
		g.checkDone()
	}
}

func (g *group) advance(p Partition, next int64) {
	g.mu.Lock()
	g.next[p] = max(g.next[p], next)
	g.mu.Unlock()
}

// setTarget tells the group the offsets to read up to: the end offsets
// when producing ended, or past the last acknowledged record if further. A
// partition whose target is still its base (the end when producing began)
// has nothing to read.
func (g *group) setTarget(ends, base map[Partition]int64) {
	g.mu.Lock()
	g.target, g.base = ends, base
	g.mu.Unlock()
	g.checkDone()
}

// checkDone closes done once the group has read up to its target.
func (g *group) checkDone() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.target == nil || g.closed {
		return
	}
	for p, end := range g.target {
		if max(g.next[p], g.base[p]) < end {
			return
		}
	}
	g.closed = true
	close(g.done)
}

// leaveTimeout bounds a member's leaving its group when it closes: a
// cluster that does not answer only keeps the group until its session
// times out.
const leaveTimeout = 5 * time.Second

// close stops the members and waits for them. Each leaves the group first,
// for at most leaveTimeout; after the run's deadline, at once.
func (g *group) close() {
	g.cancel()
	g.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, cl := range g.members {
		wg.Go(func() {
			_ = cl.LeaveGroupContext(ctx) // Close waits for the leave, not for the answer
			cl.Close()
		})
	}
	wg.Wait()
}
