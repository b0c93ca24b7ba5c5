package e2e

// Consumer groups with real clients on a real cluster: three `strata serve`
// processes on a real etcd and a real MinIO, and groups of franz-go (with the
// cooperative-sticky and the round-robin balancer), sarama, segmentio/kafka-go
// and confluent-kafka-python members, each member a process of its own
// (groups_member_test.go, python/group_member.py) that commits after
// processing (at-least-once). For each client, with a backlog of numbered
// records in a 6-partition topic and a producer adding more all along:
//
//  1. three members join; the coordinator's assignment (DescribeGroups) gives
//     each partition to exactly one of them and every one some, and each
//     member consumes exactly what it was assigned;
//  2. one member is SIGKILLed, so it never leaves: within its session timeout
//     plus rebalance slack (a liveness bound) the two others take its
//     partitions, resuming each at the offset it last committed;
//  3. a fourth member joins and gets a share;
//  4. the producer stops; every record is consumed and committed; the members
//     stop (SIGTERM, so they leave) and the group becomes Empty.
//
// Then, from every line every member printed: no partition was ever owned by
// two members at once, and no member consumed a partition it did not own;
// within one ownership offsets follow each other without a gap; every
// acknowledged record was consumed, with the value produced at its offset;
// and a record was consumed twice only if the killed member had consumed it
// after its last commit (the at-least-once window), at most twice.

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/metadata"
)

const (
	gcBrokers    = 3
	gcPartitions = 6
	// gcBacklog records per partition are there before the first member
	// joins, then one more every gcProduceEvery: 60 records a second.
	gcBacklog      = 300
	gcProduceEvery = 100 * time.Millisecond
	// How long the group consumes between steps.
	gcSteady = 2 * time.Second

	// Liveness bounds, not performance thresholds: each is several times what
	// a step takes on a healthy cluster.
	gcFormWithin     = 30 * time.Second // three new members share the partitions
	gcTakeOverWithin = 30 * time.Second // the session timeout plus rebalance slack
	gcJoinWithin     = 30 * time.Second
	gcDrainWithin    = 30 * time.Second
	gcStopWithin     = 30 * time.Second
)

// gcCase is one client's scenario.
type gcCase struct {
	name     string
	client   string // franz-go, sarama, kafka-go, python
	balancer string // franz-go: which group balancer
	protocol string // the assignor the group must end up with
}

var gcCases = []gcCase{
	// franz-go's default balancer, cooperative: a rebalance moves only the
	// partitions that change hands.
	{name: "franz-go-cooperative-sticky", client: "franz-go", balancer: "cooperative-sticky", protocol: "cooperative-sticky"},
	// Eager: every rebalance revokes every partition first.
	{name: "franz-go-roundrobin", client: "franz-go", balancer: "roundrobin", protocol: "roundrobin"},
	// The others with their default assignors, all eager range.
	{name: "sarama", client: "sarama", protocol: "range"},
	{name: "kafka-go", client: "kafka-go", protocol: "range"},
	{name: "confluent-kafka-python", client: "python", protocol: "range"},
}

func TestGroupClients(t *testing.T) {
	c := startGroupCluster(t)
	for _, tc := range gcCases {
		t.Run(tc.name, func(t *testing.T) { runGroupScenario(t, c, tc) })
	}
}

// gcCluster is three brokers on one etcd and one MinIO.
type gcCluster struct {
	brokers []*Strata
	addrs   []string
}

func startGroupCluster(t *testing.T) *gcCluster {
	t.Helper()
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	opts := Options{
		EtcdEndpoints: etcd.Endpoint,
		ObjectStore:   minio.S3URL("strata-groups"),
		Args:          []string{"--log-level", "info"},
	}
	c := &gcCluster{}
	for range gcBrokers {
		s := StartStrata(t, opts)
		c.brokers = append(c.brokers, s)
		c.addrs = append(c.addrs, s.Addr)
	}
	// Wait until every broker leads its share of the coordinator shards, so
	// that the hand-offs of a starting cluster are over.
	adm := kadm.NewClient(c.client(t))
	deadline := time.Now().Add(60 * time.Second)
	for {
		problem := c.unsettled(adm)
		if problem == "" {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster not settled within 60s: %s", problem)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *gcCluster) unsettled(adm *kadm.Client) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, metadata.OffsetsTopic)
	if err != nil {
		return err.Error()
	}
	if len(md.Brokers) != gcBrokers {
		return fmt.Sprintf("Metadata lists %d brokers", len(md.Brokers))
	}
	td := md.Topics[metadata.OffsetsTopic]
	if td.Err != nil || len(td.Partitions) == 0 {
		return fmt.Sprintf("Metadata %s: %v", metadata.OffsetsTopic, td.Err)
	}
	counts := map[int32]int{}
	for _, b := range md.Brokers {
		counts[b.NodeID] = 0
	}
	for _, pd := range td.Partitions {
		if _, live := counts[pd.Leader]; pd.Err != nil || !live {
			return fmt.Sprintf("%s/%d: leader %d, %v", metadata.OffsetsTopic, pd.Partition, pd.Leader, pd.Err)
		}
		counts[pd.Leader]++
	}
	if lo, hi := slices.Min(slices.Collect(maps.Values(counts))), slices.Max(slices.Collect(maps.Values(counts))); hi-lo > 1 {
		return fmt.Sprintf("coordinator shards per broker %v", counts)
	}
	return ""
}

// client is a franz-go client on every broker, closed when the test ends.
func (c *gcCluster) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// gcScenario is one client's run.
type gcScenario struct {
	t     *testing.T
	c     *gcCluster
	tc    gcCase
	topic string
	group string
	adm   *kadm.Client
	start time.Time

	members []*gcMember // in the order they started
}

func runGroupScenario(t *testing.T, c *gcCluster, tc gcCase) {
	if tc.client == "python" {
		ctRequirePython(t)
	}
	s := &gcScenario{t: t, c: c, tc: tc, topic: "groups-" + tc.name, group: "group-" + tc.name, start: time.Now()}
	ensureTopic(t, c.brokers[0], s.topic, gcPartitions, nil)
	s.adm = kadm.NewClient(c.client(t))
	prod := startGroupProducer(t, c.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner())), s.topic)

	// Should a step fail, what the members did until then is checked all
	// the same: it may say why.
	checked := false
	defer func() {
		if !checked {
			s.check(nil, nil, nil)
		}
	}()

	m1, m2, m3 := s.startMember("m1"), s.startMember("m2"), s.startMember("m3")
	if !s.await("three members share the partitions", gcFormWithin, func() string { return s.unshared(m1, m2, m3) }) {
		t.FailNow()
	}
	time.Sleep(gcSteady)

	windows := s.killAndTakeOver(m1, m2, m3)
	time.Sleep(gcSteady)

	m4 := s.startMember("m4")
	if !s.await("the fourth member gets a share", gcJoinWithin, func() string { return s.unshared(m2, m3, m4) }) {
		t.FailNow()
	}
	time.Sleep(gcSteady)

	acked := prod.stop(t)
	ends := s.drain(acked)
	s.leave(m2, m3, m4)
	checked = true
	s.check(acked, ends, windows)
}

func (s *gcScenario) logf(format string, args ...any) {
	s.t.Helper()
	logElapsed(s.t, s.start, format, args...)
}

// await polls cond until it reports no problem and reports whether it did
// within that long; if not, the test fails with the last problem.
func (s *gcScenario) await(what string, within time.Duration, cond func() string) bool {
	s.t.Helper()
	start := time.Now()
	for {
		problem := cond()
		if problem == "" {
			s.logf("%s (%.1fs)", what, time.Since(start).Seconds())
			return true
		}
		if time.Since(start) > within {
			s.t.Errorf("%s: not within %s: %s", what, within, problem)
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// describe returns the group as its coordinator describes it.
func (s *gcScenario) describe() (kadm.DescribedGroup, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	groups, err := s.adm.DescribeGroups(ctx, s.group)
	if err != nil {
		return kadm.DescribedGroup{}, err
	}
	dg, ok := groups[s.group]
	switch {
	case !ok:
		return dg, fmt.Errorf("DescribeGroups did not describe %s", s.group)
	case dg.Err != nil:
		return dg, dg.Err
	}
	return dg, nil
}

// unshared says why members are not (yet) the group sharing the topic, or
// "": the coordinator has the group Stable with exactly these members and the
// expected protocol; its assignment gives every partition to exactly one
// member and every member at least one; each member reports owning exactly
// what it was assigned, and has consumed records since it last changed.
func (s *gcScenario) unshared(members ...*gcMember) string {
	dg, err := s.describe()
	if err != nil {
		return "DescribeGroups: " + err.Error()
	}
	if dg.State != "Stable" {
		return fmt.Sprintf("group %s is %s with %d members", s.group, dg.State, len(dg.Members))
	}
	if dg.Protocol != s.tc.protocol {
		return fmt.Sprintf("group protocol %q, want %q", dg.Protocol, s.tc.protocol)
	}
	assigned := map[string][]int32{}
	for _, dm := range dg.Members {
		if _, dup := assigned[dm.ClientID]; dup {
			return fmt.Sprintf("two members with client id %s", dm.ClientID)
		}
		var parts []int32
		if ca, ok := dm.Assigned.AsConsumer(); ok {
			for _, at := range ca.Topics {
				if at.Topic == s.topic {
					parts = append(parts, at.Partitions...)
				}
			}
		}
		slices.Sort(parts)
		assigned[dm.ClientID] = parts
	}
	var names []string
	for _, m := range members {
		names = append(names, m.name)
	}
	if len(assigned) != len(members) {
		return fmt.Sprintf("members (by client id) %v, want %v", slices.Sorted(maps.Keys(assigned)), names)
	}
	owner := map[int32]string{}
	for _, name := range names {
		parts, ok := assigned[name]
		if !ok {
			return fmt.Sprintf("members (by client id) %v, want %v", slices.Sorted(maps.Keys(assigned)), names)
		}
		for _, p := range parts {
			if o, dup := owner[p]; dup {
				return fmt.Sprintf("partition %d assigned to both %s and %s", p, o, name)
			}
			owner[p] = name
		}
	}
	for p := range int32(gcPartitions) {
		if _, ok := owner[p]; !ok {
			return fmt.Sprintf("partition %d assigned to no member: %v", p, assigned)
		}
	}
	for _, m := range members {
		if len(assigned[m.name]) == 0 {
			return fmt.Sprintf("%s has no partition: %v", m.name, assigned)
		}
		owned, consumed := m.ownership()
		if !slices.Equal(owned, assigned[m.name]) {
			return fmt.Sprintf("%s reports owning %v, the coordinator assigned it %v", m.name, owned, assigned[m.name])
		}
		if !consumed {
			return fmt.Sprintf("%s has consumed nothing since it got %v", m.name, owned)
		}
	}
	return ""
}

// committed returns the group's committed offsets of the topic (-1: none).
func (s *gcScenario) committed() (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := s.adm.FetchOffsets(ctx, s.group)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for p := range int32(gcPartitions) {
		out[p] = -1
		if o, ok := offs.Lookup(s.topic, p); ok {
			out[p] = o.At
		}
	}
	return out, nil
}

// gcWindow is the at-least-once window of one partition that the killed
// member owned: from the offset it had committed to the last it consumed.
type gcWindow struct{ from, to int64 }

// gcRead is one OffsetFetch of the group's committed offsets, and when it
// was asked and answered (Unix nanoseconds).
type gcRead struct {
	asked, answered int64
	committed       map[int32]int64
}

// killAndTakeOver SIGKILLs victim, waits for the survivors to take over its
// partitions, checks that they resumed each at its committed offset, and
// returns the window of records they may have consumed a second time.
func (s *gcScenario) killAndTakeOver(victim *gcMember, survivors ...*gcMember) map[int32]gcWindow {
	t := s.t
	t.Helper()
	owned, _ := victim.ownership()
	victim.kill(t)
	killedAt := victim.ended()
	s.logf("SIGKILL %s, which owned partitions %v", victim.name, owned)

	// The committed offsets are read again and again until a survivor has
	// consumed one of the victim's partitions: the last answer before that
	// is what a survivor must resume from (a commit the victim had in
	// flight when it died lands before it, or never).
	var reads []gcRead
	takenOver := func() bool {
		for _, p := range owned {
			if _, ok := firstRecordAfter(survivors, p, killedAt); ok {
				return true
			}
		}
		return false
	}
	if !s.await(fmt.Sprintf("the survivors take over the partitions of %s", victim.name), gcTakeOverWithin, func() string {
		if !takenOver() {
			asked := time.Now().UnixNano()
			if committed, err := s.committed(); err == nil {
				reads = append(reads, gcRead{asked, time.Now().UnixNano(), committed})
			}
		}
		if problem := s.unshared(survivors...); problem != "" {
			return problem
		}
		for _, p := range owned {
			if _, ok := firstRecordAfter(survivors, p, killedAt); !ok {
				return fmt.Sprintf("no survivor has consumed partition %d since the SIGKILL", p)
			}
		}
		return ""
	}) {
		t.FailNow()
	}
	s.logf("partitions of %s consumed again %.1fs after its SIGKILL (session timeout %s)",
		victim.name, float64(latestFirstRecord(survivors, owned, killedAt)-killedAt)/1e9, gcSessionTimeout)

	windows := map[int32]gcWindow{}
	events := victim.snapshot()
	for _, p := range owned {
		first, _ := firstRecordAfter(survivors, p, killedAt)
		if since := time.Duration(first.T - killedAt); since < gcSessionTimeout/2 {
			t.Errorf("partition %d was consumed by %s %.1fs after the SIGKILL of its owner %s: before its session (%s) could time out",
				p, first.member, since.Seconds(), victim.name, gcSessionTimeout)
		}
		committed := int64(-2)
		for _, r := range reads {
			if r.answered < first.T {
				committed = r.committed[p]
			}
		}
		if committed == -2 {
			t.Errorf("partition %d: no OffsetFetch was answered between the SIGKILL of %s and the first record a survivor consumed", p, victim.name)
			continue
		}
		from := max(committed, 0) // nothing committed: consumption starts at the beginning
		last, lastCommit := int64(-1), int64(-1)
		for _, e := range events {
			switch {
			case e.Ev == "record" && e.P == p:
				last = max(last, e.O)
			case e.Ev == "commit" && e.P == p && !e.Unconfirmed:
				lastCommit = max(lastCommit, e.O)
			}
		}
		s.logf("partition %d: %s consumed up to offset %d and committed %d; %s resumed at offset %d",
			p, victim.name, last, committed, first.member, first.O)
		if first.O != from {
			t.Errorf("partition %d: %s resumed at offset %d, the last committed offset was %d (%s had consumed up to %d)",
				p, first.member, first.O, from, victim.name, last)
		}
		if from > last+1 {
			t.Errorf("partition %d: committed offset %d, but %s consumed only up to offset %d", p, from, victim.name, last)
		}
		if lastCommit > committed {
			t.Errorf("partition %d: the coordinator acknowledged a commit of offset %d to %s, then returned %d",
				p, lastCommit, victim.name, committed)
		}
		windows[p] = gcWindow{from: from, to: last}
	}
	return windows
}

// gcAt is one of a member's records, with who consumed it.
type gcAt struct {
	gmEvent
	member string
}

// firstRecordAfter is the earliest record of partition p that one of members
// consumed after time after.
func firstRecordAfter(members []*gcMember, p int32, after int64) (gcAt, bool) {
	var first gcAt
	found := false
	for _, m := range members {
		for _, e := range m.snapshot() {
			if e.Ev == "record" && e.P == p && e.T > after && (!found || e.T < first.T) {
				first, found = gcAt{e, m.name}, true
			}
		}
	}
	return first, found
}

func latestFirstRecord(members []*gcMember, parts []int32, after int64) int64 {
	latest := after
	for _, p := range parts {
		if r, ok := firstRecordAfter(members, p, after); ok {
			latest = max(latest, r.T)
		}
	}
	return latest
}

// drain waits until the group has consumed and committed every record, and
// returns the end offsets, which must be just past the acknowledged records.
func (s *gcScenario) drain(acked map[int32]map[int64]int64) map[int32]int64 {
	t := s.t
	t.Helper()
	ends := ctEndOffsets(t, s.c.client(t), s.topic)
	for p := range int32(gcPartitions) {
		if int64(len(acked[p])) != ends[p] {
			t.Errorf("partition %d ends at offset %d, %d records were acknowledged to it", p, ends[p], len(acked[p]))
		}
	}
	s.await("every record consumed and committed", gcDrainWithin, func() string {
		committed, err := s.committed()
		if err != nil {
			return "OffsetFetch: " + err.Error()
		}
		for p := range int32(gcPartitions) {
			if committed[p] != ends[p] {
				return fmt.Sprintf("partition %d: committed offset %d, end offset %d", p, committed[p], ends[p])
			}
		}
		return ""
	})
	return ends
}

// leave stops the members with SIGTERM: each must close its client (which
// leaves the group) and exit 0, and the group must end up Empty.
func (s *gcScenario) leave(members ...*gcMember) {
	t := s.t
	t.Helper()
	for _, m := range members {
		_ = m.signal(syscall.SIGTERM)
	}
	for _, m := range members {
		select {
		case <-m.done:
			if code := m.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("%s exited with code %d after SIGTERM", m.name, code)
			}
		case <-time.After(gcStopWithin):
			t.Errorf("%s did not exit within %s of SIGTERM", m.name, gcStopWithin)
		}
	}
	s.await("the members left: the group is Empty", gcStopWithin, func() string {
		dg, err := s.describe()
		switch {
		case err != nil:
			return "DescribeGroups: " + err.Error()
		case dg.State != "Empty" || len(dg.Members) != 0:
			return fmt.Sprintf("group %s is %s with %d members", s.group, dg.State, len(dg.Members))
		}
		return ""
	})
}

// gcOwnership is one member's tenure of one partition, in Unix nanoseconds.
type gcOwnership struct {
	member   string
	from, to int64
}

// check goes through everything every member printed. Without acked (a
// step failed), it checks only who owned and consumed what, when.
func (s *gcScenario) check(acked map[int32]map[int64]int64, ends map[int32]int64, windows map[int32]gcWindow) {
	t := s.t
	t.Helper()
	members := s.members
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	delivered := map[int32]map[int64]int{} // partition → offset → times consumed
	for p := range int32(gcPartitions) {
		delivered[p] = map[int64]int{}
	}
	tenures := map[int32][]gcOwnership{}
	var errs []string
	for _, m := range members {
		owned := map[int32]int64{} // partition → since when
		last := map[int32]int64{}  // partition → last offset consumed in this tenure
		end := func(p int32, at int64) {
			tenures[p] = append(tenures[p], gcOwnership{m.name, owned[p], at})
			delete(owned, p)
			delete(last, p)
		}
		for _, e := range m.snapshot() {
			switch e.Ev {
			case "assigned":
				for _, p := range e.Parts {
					if _, ok := owned[p]; ok {
						add("%s: assigned partition %d, which it owned already", m.name, p)
						continue
					}
					owned[p] = e.T
				}
			case "revoked", "lost":
				for _, p := range e.Parts {
					if _, ok := owned[p]; !ok {
						add("%s: partition %d %s, which it did not own", m.name, p, e.Ev)
						continue
					}
					end(p, e.T)
				}
			case "record":
				at := fmt.Sprintf("%s: partition %d offset %d", m.name, e.P, e.O)
				if _, ok := owned[e.P]; !ok {
					add("%s: consumed while the partition was not assigned to it", at)
				}
				if prev, ok := last[e.P]; ok && e.O != prev+1 {
					add("%s: after offset %d in the same assignment", at, prev)
				}
				last[e.P] = e.O
				if d, ok := delivered[e.P]; ok {
					d[e.O]++
				}
				p, seq, ok := parseSeqValue(e.V)
				want, wasAcked := acked[e.P][e.O]
				switch {
				case !ok || p != (tp{s.topic, e.P}):
					add("%s: value %.40q is not one produced to this partition", at, e.V)
				case acked == nil:
				case !wasAcked:
					add("%s: record %d, never acknowledged", at, seq)
				case seq != want:
					add("%s: record %d, but record %d was acknowledged there", at, seq, want)
				}
			case "error":
				errs = append(errs, m.name+": "+e.Err)
			}
		}
		for _, p := range slices.Sorted(maps.Keys(owned)) {
			end(p, m.ended())
		}
		counts := map[string]int{}
		for _, e := range m.snapshot() {
			counts[e.Ev]++
		}
		s.logf("%s: %d records, %d commits, %d assignments, %d revocations, %d lost, %d errors", m.name,
			counts["record"], counts["commit"], counts["assigned"], counts["revoked"], counts["lost"], counts["error"])
	}
	if len(errs) > 0 {
		s.logf("the clients reported %d errors; the first ones:\n\t%s", len(errs), strings.Join(errs[:min(len(errs), 10)], "\n\t"))
	}

	// One owner at a time.
	for _, p := range slices.Sorted(maps.Keys(tenures)) {
		ts := tenures[p]
		for i := range ts {
			for j := i + 1; j < len(ts); j++ {
				a, b := ts[i], ts[j]
				if a.member != b.member && a.from < b.to && b.from < a.to {
					add("partition %d owned by %s (%s) and by %s (%s) at once", p,
						a.member, s.span(a.from, a.to), b.member, s.span(b.from, b.to))
				}
			}
		}
	}
	// Every record consumed; twice only in the at-least-once window.
	for p := range int32(gcPartitions) {
		if acked == nil {
			break
		}
		missing := 0
		for o := range ends[p] {
			if delivered[p][o] == 0 {
				if missing < 5 {
					add("partition %d offset %d never consumed", p, o)
				}
				missing++
			}
		}
		if missing > 0 {
			add("partition %d: %d of %d records never consumed", p, missing, ends[p])
		}
		again := 0
		for _, o := range slices.Sorted(maps.Keys(delivered[p])) {
			n := delivered[p][o]
			if n == 1 {
				continue
			}
			again++
			switch w, ok := windows[p]; {
			case !ok:
				add("partition %d offset %d consumed %d times; the killed member did not own the partition", p, o, n)
			case o < w.from || o > w.to || n > 2:
				add("partition %d offset %d consumed %d times; the at-least-once window of the killed member is offsets %d-%d, once more",
					p, o, n, w.from, w.to)
			}
		}
		if w := windows[p]; again > 0 {
			s.logf("partition %d: %d records consumed twice; the at-least-once window is offsets %d-%d", p, again, w.from, w.to)
		}
	}
	if len(problems) == 0 {
		return
	}
	t.Errorf("%s: %d problems:%s", s.tc.name, len(problems), problemList(problems, 30))
}

// span shows a tenure in seconds since the scenario started.
func (s *gcScenario) span(from, to int64) string {
	at := func(ns int64) string {
		if ns == math.MaxInt64 {
			return "end"
		}
		return fmt.Sprintf("%.3fs", float64(ns-s.start.UnixNano())/1e9)
	}
	return at(from) + "–" + at(to)
}

// --- members -----------------------------------------------------------------

// gcMember is a member process, and every event it printed.
type gcMember struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it exited and its output is read

	mu      sync.Mutex
	events  []gmEvent
	endedAt int64 // Unix nanoseconds, once done
}

// startMember starts a member of the scenario's group, stopped (SIGKILL)
// when the test ends if it still runs.
func (s *gcScenario) startMember(name string) *gcMember {
	t := s.t
	t.Helper()
	var cmd *exec.Cmd
	if s.tc.client == "python" {
		cmd = exec.Command(ctPython, "-u", "python/group_member.py", "--bootstrap", strings.Join(s.c.addrs, ","),
			"--topic", s.topic, "--group", s.group, "--client-id", name)
	} else {
		cfg, _ := json.Marshal(groupMemberConfig{Client: s.tc.client, Balancer: s.tc.balancer, Brokers: s.c.addrs,
			Topic: s.topic, Group: s.group, ClientID: name})
		cmd = exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), groupMemberEnv+"="+string(cfg))
	}
	logs := newRingLog(t, s.tc.name+" member "+name, 300)
	cmd.Stderr = logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start member %s: %v", name, err)
	}
	m := &gcMember{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e gmEvent
			if json.Unmarshal(sc.Bytes(), &e) != nil || e.Ev == "" {
				fmt.Fprintf(logs, "stdout: %s\n", sc.Text())
				continue
			}
			m.mu.Lock()
			m.events = append(m.events, e)
			m.mu.Unlock()
		}
		err := cmd.Wait()
		m.mu.Lock()
		m.endedAt = time.Now().UnixNano()
		m.mu.Unlock()
		if err != nil {
			fmt.Fprintf(logs, "exit: %v\n", err)
		}
		close(m.done)
	}()
	t.Cleanup(func() {
		_ = m.signal(syscall.SIGKILL)
		select {
		case <-m.done:
		case <-time.After(30 * time.Second):
			t.Errorf("member %s did not exit after SIGKILL", name)
		}
	})
	s.members = append(s.members, m)
	s.logf("started member %s (pid %d)", name, cmd.Process.Pid)
	return m
}

// signal sends sig to the member's process group, unless it has exited.
func (m *gcMember) signal(sig syscall.Signal) error {
	select {
	case <-m.done:
		return nil
	default:
		return syscall.Kill(-m.cmd.Process.Pid, sig)
	}
}

// kill sends SIGKILL and waits until the member is gone and its output read.
func (m *gcMember) kill(t *testing.T) {
	t.Helper()
	if err := m.signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", m.name, err)
	}
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit after SIGKILL", m.name)
	}
}

// ended is when the member's process was seen to exit; math.MaxInt64 while
// it runs.
func (m *gcMember) ended() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.endedAt == 0 {
		return math.MaxInt64
	}
	return m.endedAt
}

func (m *gcMember) snapshot() []gmEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}

// ownership returns the partitions the member reports owning now, and
// whether it has consumed a record since the last change.
func (m *gcMember) ownership() (owned []int32, consumed bool) {
	set := map[int32]bool{}
	for _, e := range m.snapshot() {
		switch e.Ev {
		case "assigned":
			for _, p := range e.Parts {
				set[p] = true
			}
			consumed = false
		case "revoked", "lost":
			for _, p := range e.Parts {
				delete(set, p)
			}
			consumed = false
		case "record":
			consumed = true
		}
	}
	return slices.Sorted(maps.Keys(set)), consumed
}

// --- producer ----------------------------------------------------------------

// gcProducer writes gcBacklog numbered records (seqValue) to every
// partition, then one more to every partition every gcProduceEvery,
// idempotent with acks=all (franz-go's defaults).
type gcProducer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu       sync.Mutex
	acked    map[int32]map[int64]int64 // partition → offset → record number
	failed   int
	firstErr error
}

func startGroupProducer(t *testing.T, cl *kgo.Client, topic string) *gcProducer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &gcProducer{cl: cl, cancel: cancel, done: make(chan struct{}), acked: map[int32]map[int64]int64{}}
	var backlog []*kgo.Record
	for part := range int32(gcPartitions) {
		p.acked[part] = map[int64]int64{}
		for seq := range int64(gcBacklog) {
			backlog = append(backlog, &kgo.Record{Topic: topic, Partition: part, Value: seqValue(tp{topic, part}, seq)})
		}
	}
	for _, res := range cl.ProduceSync(testContext(t, 60*time.Second), backlog...) {
		if res.Err != nil {
			t.Fatalf("producer: backlog: %v", res.Err)
		}
		_, seq, _ := parseSeqValue(string(res.Record.Value))
		p.acked[res.Record.Partition][res.Record.Offset] = seq
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(gcProduceEvery)
		defer tick.Stop()
		for seq := int64(gcBacklog); ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for part := range int32(gcPartitions) {
				r := &kgo.Record{Topic: topic, Partition: part, Value: seqValue(tp{topic, part}, seq)}
				// Not ctx: stopping the producer must not fail what it buffered.
				cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
					p.mu.Lock()
					defer p.mu.Unlock()
					if err != nil {
						p.failed++
						p.firstErr = cmp.Or(p.firstErr, err)
						return
					}
					p.acked[r.Partition][r.Offset] = seq
				})
			}
		}
	}()
	t.Cleanup(func() { p.once.Do(func() { cancel(); <-p.done }) })
	return p
}

// stop stops producing, waits for every record to be acknowledged and
// returns what was.
func (p *gcProducer) stop(t *testing.T) map[int32]map[int64]int64 {
	t.Helper()
	p.once.Do(func() { p.cancel(); <-p.done })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatalf("producer: flush: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed > 0 {
		t.Errorf("producer: %d records failed; the first error: %v", p.failed, p.firstErr)
	}
	return p.acked
}
