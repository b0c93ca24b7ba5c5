package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkGroupRebalance848 measures how long a 10-member group takes to
// settle after an 11th member joins, with the classic protocol (franz-go's
// default cooperative-sticky balancer, assignment by the group's leader)
// and with KIP-848 (kgo.ServerSideBalancer, the broker's uniform
// assignor), on one broker, a 44-partition topic. Settled: every partition
// owned by exactly one member, as the members' own callbacks report it,
// and the new member owning its share (4). The classic protocol is the
// reference measured in the same run: it reports both times and the
// KIP-848 time as a ratio to the classic one. Both protocols wait for
// heartbeats (classic: franz-go's 3 s interval; KIP-848: the broker's 5 s,
// Kafka's default), so the times are dominated by them, and noisy.
func BenchmarkGroupRebalance848(b *testing.B) {
	s := StartStrata(b, Options{Args: []string{"--log-level", "info"}})
	const topic, partitions, members = "rebalance848", 44, 10
	ensureTopicB(b, s, topic, partitions)
	times := map[string]time.Duration{}
	for _, proto := range []string{"classic", "kip848"} {
		g := &rbGroup{b: b, s: s, topic: topic, group: "rebalance-" + proto, serverSide: proto == "kip848", owned: map[int]map[int32]bool{}}
		for i := range members {
			g.add(i)
		}
		g.settle(partitions, -1)
		var total time.Duration
		for n := range b.N {
			start := time.Now()
			g.add(members + n)
			g.settle(partitions, members+n)
			total += time.Since(start)
			g.remove(members + n)
			g.settle(partitions, -1)
		}
		times[proto] = total / time.Duration(b.N)
		g.close()
	}
	b.ReportMetric(times["classic"].Seconds(), "classic-s")
	b.ReportMetric(times["kip848"].Seconds(), "kip848-s")
	b.ReportMetric(times["kip848"].Seconds()/times["classic"].Seconds(), "kip848/classic")
}

// ensureTopicB creates a topic for a benchmark.
func ensureTopicB(b *testing.B, s *Strata, topic string, partitions int32) {
	b.Helper()
	cl := s.Client()
	ctx := testContext(b, 60*time.Second)
	for {
		resp, err := createTopicsRequest(topic, partitions, nil).RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
			return
		}
		if ctx.Err() != nil {
			b.Fatalf("CreateTopics %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rbGroup is a group of consumers that track the partitions they own.
type rbGroup struct {
	b          *testing.B
	s          *Strata
	topic      string
	group      string
	serverSide bool

	mu      sync.Mutex
	owned   map[int]map[int32]bool // member → partitions
	clients map[int]*rbMember
}

type rbMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func (g *rbGroup) add(i int) {
	g.mu.Lock()
	g.owned[i] = map[int32]bool{}
	g.mu.Unlock()
	track := func(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			g.mu.Lock()
			defer g.mu.Unlock()
			for _, p := range ps[g.topic] {
				if add {
					g.owned[i][p] = true
				} else {
					delete(g.owned[i], p)
				}
			}
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(g.s.Addr), kgo.ConsumerGroup(g.group), kgo.ConsumeTopics(g.topic),
		kgo.OnPartitionsAssigned(track(true)), kgo.OnPartitionsRevoked(track(false)), kgo.OnPartitionsLost(track(false)),
	}
	if g.serverSide {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		g.b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &rbMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	g.mu.Lock()
	if g.clients == nil {
		g.clients = map[int]*rbMember{}
	}
	g.clients[i] = m
	g.mu.Unlock()
}

func (g *rbGroup) remove(i int) {
	g.mu.Lock()
	m := g.clients[i]
	delete(g.clients, i)
	g.mu.Unlock()
	m.cancel()
	<-m.done
	m.cl.Close()
	g.mu.Lock()
	delete(g.owned, i)
	g.mu.Unlock()
}

func (g *rbGroup) close() {
	g.mu.Lock()
	var ids []int
	for i := range g.clients {
		ids = append(ids, i)
	}
	g.mu.Unlock()
	for _, i := range ids {
		g.remove(i)
	}
}

// settle waits until every partition is owned by exactly one member and,
// when newest >= 0, member newest owns its share.
func (g *rbGroup) settle(partitions, newest int) {
	g.b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		g.mu.Lock()
		seen := map[int32]int{}
		for _, ps := range g.owned {
			for p := range ps {
				seen[p]++
			}
		}
		ok := len(seen) == partitions
		for _, n := range seen {
			ok = ok && n == 1
		}
		if newest >= 0 {
			ok = ok && len(g.owned[newest]) >= partitions/len(g.owned)
		}
		state := fmt.Sprint(len(seen), " partitions owned by ", len(g.owned), " members")
		g.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			g.b.Fatalf("group %s did not settle: %s", g.group, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
