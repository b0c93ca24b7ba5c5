package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// staticMember is a franz-go member with a group.instance.id that records
// the partitions it is given and the revocations it sees.
type staticMember struct {
	cl       *kgo.Client
	mu       sync.Mutex
	assigned []int32
	revokes  int
}

func startStaticMember(t *testing.T, s *Strata, group, topic, instance string) *staticMember {
	t.Helper()
	m := &staticMember{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.InstanceID(instance), kgo.SessionTimeout(20*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.assigned = append(m.assigned, a[topic]...)
			slices.Sort(m.assigned)
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.revokes++
			m.assigned = slices.DeleteFunc(m.assigned, func(p int32) bool { return slices.Contains(r[topic], p) })
		}))
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	t.Cleanup(cl.Close)
	go func() {
		for {
			if fs := cl.PollFetches(context.Background()); fs.IsClientClosed() {
				return
			}
		}
	}()
	return m
}

func (m *staticMember) state() ([]int32, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.assigned), m.revokes
}

// TestGroupStaticRestartAndAdmin: a static member (group.instance.id) that
// restarts within its session timeout gets its partitions back without a
// rebalance: the other member loses nothing (KIP-345). DescribeGroups shows
// the replacement, and ListGroups filters by state.
func TestGroupStaticRestartAndAdmin(t *testing.T) {
	const group, topic = "e2e-static", "e2e-static-topic"
	s := StartStrata(t, Options{})
	ctx := testContext(t, 2*time.Minute)
	adm := kadm.NewClient(s.Client())
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// instance-b joins first and stays the group's leader: the test restarts
	// the other one, because franz-go's leader may force a rebalance of its
	// own after a restart (its KIP-814 check of the old plan).
	b := startStaticMember(t, s, group, topic, "instance-b")
	deadline := time.Now().Add(60 * time.Second)
	for parts, _ := b.state(); len(parts) != 4; parts, _ = b.state() {
		if time.Now().After(deadline) {
			t.Fatalf("instance-b alone has partitions %v within 60s, want all 4", parts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a := startStaticMember(t, s, group, topic, "instance-a")

	describe := func() kadm.DescribedGroup {
		t.Helper()
		dg, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		return dg[group]
	}
	// stable waits until the group is Stable with both members, each with
	// two partitions.
	stable := func(what string) kadm.DescribedGroup {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			pa, _ := a.state()
			pb, _ := b.state()
			if d := describe(); d.State == "Stable" && len(d.Members) == 2 && len(pa) == 2 && len(pb) == 2 {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: group not Stable with two members of two partitions each within 60s: %+v, a %v, b %v", what, describe(), pa, pb)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	before := stable("after joining")
	aParts, _ := a.state()
	_, bRevokes := b.state()
	memberOf := func(d kadm.DescribedGroup, instance string) string {
		for _, m := range d.Members {
			if m.InstanceID != nil && *m.InstanceID == instance {
				return m.MemberID
			}
		}
		t.Fatalf("no member with instance id %s in %+v", instance, d.Members)
		return ""
	}
	oldA := memberOf(before, "instance-a")

	// A static member does not leave on close; its replacement takes its place.
	a.cl.Close()
	a = startStaticMember(t, s, group, topic, "instance-a")
	after := stable("after instance-a restarted")
	if newA := memberOf(after, "instance-a"); newA == oldA {
		t.Errorf("instance-a kept member id %s; a replacement gets a new one", oldA)
	}
	if got, _ := a.state(); !slices.Equal(got, aParts) {
		t.Errorf("restarted instance-a got partitions %v, had %v", got, aParts)
	}
	if _, revokes := b.state(); revokes != bRevokes {
		t.Errorf("instance-b saw %d revocations while instance-a restarted: the group rebalanced", revokes-bRevokes)
	}

	// ListGroups by state: a simple-consumer group is Empty.
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: topic, Partition: 0, At: 5})
	if resps, err := adm.CommitOffsets(ctx, "e2e-static-simple", offsets); err != nil || resps.Error() != nil {
		t.Fatalf("simple commit: %v %v", err, resps.Error())
	}
	for _, tc := range []struct {
		states []string
		want   []string
	}{
		{nil, []string{"e2e-static", "e2e-static-simple"}},
		{[]string{"Stable"}, []string{"e2e-static"}},
		{[]string{"Empty"}, []string{"e2e-static-simple"}},
		{[]string{"PreparingRebalance", "Dead"}, nil},
	} {
		listed, err := adm.ListGroups(ctx, tc.states...)
		if err != nil {
			t.Fatal(err)
		}
		if got := listed.Groups(); !slices.Equal(got, tc.want) {
			t.Errorf("ListGroups %v = %v, want %v", tc.states, got, tc.want)
		}
	}
}
