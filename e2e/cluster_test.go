package e2e

// TestCluster is the fault-injection harness of the multi-broker cluster:
// three `strata serve` processes sharing a real 3-member etcd cluster and a
// real MinIO, with franz-go producers (idempotent, acks=all) and consumers
// running for the whole test, and one fault after another. After each fault
// a checker reads every partition from its start and verifies that every
// acknowledged record is there exactly once, where it was acknowledged, in
// produce order, at contiguous offsets, and that nothing a consumer read has
// disappeared since (checker_test.go).
//
// The short form (CI) goes through the faults once. With STRATA_SOAK set to
// a duration (STRATA_SOAK=10m, `make soak`) it goes through them again and
// again until that much time has passed.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/strata-io/strata/internal/testenv"
)

const (
	clusterBrokers    = 3
	clusterTopics     = 3
	clusterPartitions = 4
	clusterSessionTTL = 3 * time.Second

	// One record per partition every clusterInterval: 300 records a second
	// over the 12 partitions, a few thousand per phase.
	clusterInterval = 40 * time.Millisecond
	// How long producers run before each fault and after recovery, so that
	// every phase has records acknowledged on both sides of its fault.
	clusterSteady = 2 * time.Second
	// The longest a fault may take to heal before the test calls it a failure
	// (the contract says the session TTL plus a few seconds for failover).
	clusterRecoverWithin = 60 * time.Second
	clusterMinIODown     = 20 * time.Second
)

func TestCluster(t *testing.T) {
	soak := soakDuration(t)
	etcd := testenv.StartEtcdCluster(t, 3)
	minio := testenv.StartMinIO(t)
	c := &clusterRun{brokerSet: brokerSet{t: t, start: time.Now()}, etcd: etcd, minio: minio}
	ctx, cancel := context.WithTimeout(context.Background(), soak+12*time.Minute)
	defer cancel()
	c.ctx = ctx

	opts := Options{
		EtcdEndpoints: etcd.Endpoints(),
		ObjectStore:   minio.S3URL("strata-cluster"),
		Args:          []string{"--session-ttl", clusterSessionTTL.String(), "--log-level", "info"},
	}
	for range clusterBrokers {
		c.brokers = append(c.brokers, StartStrata(t, opts)) // each on a data dir of its own
	}
	c.logf("brokers %s; etcd %s; MinIO %s", strings.Join(c.addrs(), ", "), etcd.Endpoints(), minio.Endpoint)

	var topics []string
	for i := range clusterTopics {
		topics = append(topics, fmt.Sprintf("cluster-%c", 'a'+i))
		ensureTopic(t, c.brokers[i%clusterBrokers], topics[i], clusterPartitions, nil)
	}
	c.clientLog = newRingLog(t, "franz-go clients", 400)
	admin := c.client()
	defer admin.Close()
	c.admin = kadm.NewClient(admin)
	c.w = startWorkload(t, topics, clusterPartitions, clusterInterval, c.client)
	defer c.report()

	// The faults, in order. A killed broker is restarted once its partitions
	// have failed over, except in every second soak round of "SIGKILL
	// leader", where it is restarted at once, within its lease TTL.
	phases := []struct {
		name string
		run  func(round int)
	}{
		{"SIGKILL leader", func(round int) { c.killLeader(false, round%2 == 1) }},
		{"SIGKILL leader, wipe data dir", func(int) { c.killLeader(true, false) }},
		{"SIGSTOP leader past its lease", func(int) { c.pauseLeader() }},
		{"rolling restart (SIGTERM)", func(int) { c.rollingRestart() }},
		{"fourth broker joins, then leaves (SIGTERM)", func(int) { c.joinAndLeave(opts) }},
		{"MinIO down " + clusterMinIODown.String(), func(int) { c.minioOutage() }},
		{"SIGKILL etcd leader", func(int) { c.killEtcdLeader() }},
	}
	for i := 0; i < len(phases) || time.Since(c.start) < soak; i++ {
		round := i / len(phases)
		name := phases[i%len(phases)].name
		if round > 0 {
			name = fmt.Sprintf("%s #%d", name, round+1)
		}
		c.runPhase(name, func() { phases[i%len(phases)].run(round) })
	}
}

// soakDuration is STRATA_SOAK as a duration, 0 when unset.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("STRATA_SOAK")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		t.Fatalf("STRATA_SOAK=%q: want a duration such as 10m", v)
	}
	return d
}

// clusterRun is the state of one TestCluster.
type clusterRun struct {
	brokerSet
	ctx   context.Context
	etcd  *testenv.EtcdCluster
	minio *testenv.MinIO
	admin *kadm.Client
	w     *workload

	phases []*phaseResult
	phase  *phaseResult // the one running
}

// phaseResult is one row of the report.
type phaseResult struct {
	name         string
	acked, total int // acknowledged during the phase, and since the start
	failed       int // given up on by the producers during the phase
	checked      bool
	v            verdict
	recovery     time.Duration // the longest of the phase's recoveries
	measured     bool          // a recovery was measured
	notRecovered bool
}

// failf fails the test, naming the phase.
func (c *clusterRun) failf(format string, args ...any) {
	c.t.Helper()
	name := "setup"
	if c.phase != nil {
		name = c.phase.name
	}
	c.t.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
}

// runPhase lets producers run, injects a fault and waits for it to heal, lets
// producers run again, then pauses them and checks the log.
func (c *clusterRun) runPhase(name string, inject func()) {
	c.t.Helper()
	ackedBefore, failedBefore := c.w.totals()
	c.phase = &phaseResult{name: name}
	c.phases = append(c.phases, c.phase)
	c.settle()
	c.logf("=== %s", name)
	time.Sleep(clusterSteady)
	injected := time.Now()
	inject()
	time.Sleep(clusterSteady)
	c.logBrokerWarnings(injected)

	pauseErr := c.w.pause(60 * time.Second)
	if pauseErr != nil {
		c.failf("%v", pauseErr)
	}
	v, err := c.w.check(c.ctx, c.client)
	c.w.resume()
	total, failed := c.w.totals()
	c.phase.acked, c.phase.total, c.phase.failed = total-ackedBefore, total, failed-failedBefore
	if err != nil {
		c.failf("check: %v", err)
		return
	}
	c.phase.checked, c.phase.v = true, v
	c.logf("checked: %d records read, %d acknowledged (%d in this phase), %d present unacknowledged",
		v.Read, total, c.phase.acked, v.UnackedPresent)
	if !v.ok() {
		c.failf("%v", &v)
	}
}

// settle restarts any broker that died on its own (a failure) and waits
// until Metadata lists the three brokers, every partition has a live leader,
// the leaders are balanced, and every partition acknowledges records again.
func (c *clusterRun) settle() {
	c.t.Helper()
	for _, s := range c.brokers {
		if code, exited := s.Exited(); exited {
			c.failf("broker %s exited by itself with code %d; restarting it", s.Addr, code)
			s.Restart()
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		md, err := c.metadata()
		problem := ""
		if err != nil {
			problem = err.Error()
		} else {
			problem = c.unsettled(md)
		}
		if problem == "" {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: cluster not settled within 60s: %s", c.phase.name, problem)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, waiting := c.awaitRecovery(time.Now()); len(waiting) > 0 {
		c.t.Fatalf("%s: before the fault, partitions acknowledge nothing: %v", c.phase.name, waiting)
	}
}

// unsettled says what keeps md from describing a settled cluster, or "".
func (c *clusterRun) unsettled(md kadm.Metadata) string {
	var listed []string
	for _, b := range md.Brokers {
		listed = append(listed, fmt.Sprintf("%d=%s", b.NodeID, hostPort(b.Host, b.Port)))
	}
	live := brokerIndexes(md, c.addrs())
	if len(md.Brokers) != clusterBrokers || len(live) != clusterBrokers {
		return fmt.Sprintf("Metadata lists brokers %v, want %v", listed, c.addrs())
	}
	counts := map[int32]int{}
	for id := range live {
		counts[id] = 0
	}
	for _, p := range c.w.all() {
		pd, ok := md.Topics[p.Topic].Partitions[p.Partition]
		_, leaderLive := live[pd.Leader]
		switch {
		case !ok:
			return fmt.Sprintf("Metadata does not describe %s", p)
		case pd.Err != nil:
			return fmt.Sprintf("%s: %v", p, pd.Err)
		case !leaderLive:
			return fmt.Sprintf("%s: leader %d is not a live broker %v", p, pd.Leader, listed)
		}
		counts[pd.Leader]++
	}
	// Hand-offs after the last fault are over: the leaders are balanced.
	if lo, hi := slices.Min(slices.Collect(maps.Values(counts))), slices.Max(slices.Collect(maps.Values(counts))); hi-lo > 1 {
		return fmt.Sprintf("leaders not balanced yet: partitions per broker %v", counts)
	}
	return ""
}

func (c *clusterRun) metadata() (kadm.Metadata, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	md, err := c.admin.Metadata(ctx, c.w.topics...)
	if err == nil {
		for _, td := range md.Topics {
			if td.Err != nil {
				return md, fmt.Errorf("Metadata %s: %w", td.Topic, td.Err)
			}
		}
	}
	return md, err
}

// busiestLeader is the index of the broker leading the most partitions, and
// the leader epochs of those partitions.
func (c *clusterRun) busiestLeader() (int, map[tp]int32) {
	c.t.Helper()
	md, err := c.metadata()
	if err != nil {
		c.t.Fatalf("%s: %v", c.phase.name, err)
	}
	byID := brokerIndexes(md, c.addrs())
	byBroker := map[int]map[tp]int32{}
	for _, p := range c.w.all() {
		pd := md.Topics[p.Topic].Partitions[p.Partition]
		if i, ok := byID[pd.Leader]; ok {
			if byBroker[i] == nil {
				byBroker[i] = map[tp]int32{}
			}
			byBroker[i][p] = pd.LeaderEpoch
		}
	}
	best := -1
	for i := range c.brokers {
		if best < 0 || len(byBroker[i]) > len(byBroker[best]) {
			best = i
		}
	}
	if len(byBroker[best]) == 0 {
		c.t.Fatalf("%s: Metadata names no broker of ours as a leader", c.phase.name)
	}
	var dist []string
	for i, s := range c.brokers {
		dist = append(dist, fmt.Sprintf("%s leads %d", s.Addr, len(byBroker[i])))
	}
	c.logf("leaders: %s", strings.Join(dist, ", "))
	return best, byBroker[best]
}

// checkNewEpochs fails the test unless each partition's leader epoch has
// grown since before: leadership that was lost (a lease that ended) and
// taken again, by any broker, is a new epoch. Metadata may lag the
// takeover by a moment.
func (c *clusterRun) checkNewEpochs(before map[tp]int32) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		md, err := c.metadata()
		var stale []string
		for p, epoch := range before {
			if err != nil {
				break
			}
			if now := md.Topics[p.Topic].Partitions[p.Partition].LeaderEpoch; now <= epoch {
				stale = append(stale, fmt.Sprintf("%s epoch %d, was %d", p, now, epoch))
			}
		}
		if err == nil && len(stale) == 0 {
			return
		}
		if time.Now().After(deadline) {
			slices.Sort(stale)
			c.failf("leader epochs did not grow after the leader lost its lease: %v %v", err, stale)
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// awaitRecovery waits up to clusterRecoverWithin until every partition has
// acknowledged a record produced at or after t0, and returns how long after
// t0 the last of them did; waiting lists the partitions that never did.
//
// This is the "time to recover" of the report: from the fault's injection to
// the first acknowledgement, on every partition, of a record produced after
// the fault (so the slowest partition's, typically one the fault moved).
// It is measured from the acknowledgements' own times, not from when this
// loop notices.
func (c *clusterRun) awaitRecovery(t0 time.Time) (d time.Duration, waiting []tp) {
	deadline := time.Now().Add(clusterRecoverWithin)
	for {
		at, ok, waiting := c.w.recoveredAt(t0)
		if ok {
			return at.Sub(t0), nil
		}
		if time.Now().After(deadline) {
			return 0, waiting
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recovered waits for the recovery from a fault injected at t0 and records
// it in the phase; it fails the test if there is none.
func (c *clusterRun) recovered(t0 time.Time, what string) {
	c.t.Helper()
	d, waiting := c.awaitRecovery(t0)
	if len(waiting) > 0 {
		c.phase.notRecovered = true
		c.failf("%s: no record produced after the fault acknowledged within %s on %v%s",
			what, clusterRecoverWithin, waiting, c.w.clientReport())
		return
	}
	c.phase.recovery, c.phase.measured = max(c.phase.recovery, d), true
	c.logf("%s: every partition acknowledges again %s after the fault", what, d.Round(time.Millisecond))
}

// killLeader SIGKILLs the broker leading the most partitions, wipes its data
// directory if asked, and restarts it on the same directory and ports: at
// once (within its lease TTL), or once its partitions have failed over.
func (c *clusterRun) killLeader(wipe, atOnce bool) {
	i, led := c.busiestLeader()
	s := c.brokers[i]
	c.logf("SIGKILL %s (leads %s)", s.Addr, partitionList(led))
	t0 := time.Now()
	s.Kill()
	if wipe {
		if err := os.RemoveAll(s.DataDir()); err != nil {
			c.t.Fatal(err)
		}
		c.logf("removed the data directory of %s", s.Addr)
	}
	if !atOnce {
		c.recovered(t0, "failover")
		c.checkNewEpochs(led)
	}
	s.Restart()
	c.logf("restarted %s (%s)", s.Addr, map[bool]string{true: "empty data dir", false: "same data dir"}[wipe])
	if atOnce {
		c.recovered(t0, "restart within the lease TTL")
	}
}

// pauseLeader SIGSTOPs the broker leading the most partitions for twice the
// session TTL plus 2 s, so that its lease expires and its partitions move,
// then SIGCONTs it. Resumed, it must find itself fenced: it may exit (and is
// restarted) or carry on, in which case it must become ready again.
func (c *clusterRun) pauseLeader() {
	i, led := c.busiestLeader()
	s := c.brokers[i]
	pause := 2*clusterSessionTTL + 2*time.Second
	c.logf("SIGSTOP %s for %s (leads %s)", s.Addr, pause, partitionList(led))
	t0 := time.Now()
	s.Pause()
	time.Sleep(pause)
	s.Resume()
	c.logf("SIGCONT %s", s.Addr)
	c.recovered(t0, "failover from the paused broker")
	c.checkNewEpochs(led)

	// A fenced broker that exits does so soon after it runs again.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if code, exited := s.Exited(); exited {
			c.logf("%s exited with code %d after SIGCONT; restarting it", s.Addr, code)
			s.Restart()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, exited := s.Exited(); !exited && !waitReady(s, 30*time.Second) {
		c.failf("%s still runs after SIGCONT but is not ready within 30s", s.Addr)
	}
	if lines := grepLines(s.Output(), `(?i)fenc|lease`); len(lines) > 0 {
		c.logf("%s logged:\n%s", s.Addr, strings.Join(lines[max(0, len(lines)-8):], "\n"))
	}
}

// rollingRestart stops each broker in turn with SIGTERM, which must hand its
// partitions over and exit 0, and starts it again before the next one.
func (c *clusterRun) rollingRestart() {
	for i, s := range c.brokers {
		c.logf("SIGTERM %s (%d of %d)", s.Addr, i+1, len(c.brokers))
		t0 := time.Now()
		if code := s.Stop(); code != 0 {
			c.failf("%s: exit code %d after SIGTERM, want 0", s.Addr, code)
		}
		c.logf("%s exited after %s", s.Addr, time.Since(t0).Round(time.Millisecond))
		s.Restart()
		c.recovered(t0, "graceful restart of "+s.Addr)
		c.noLostLeaderships(t0)
	}
}

// noLostLeaderships fails the phase if a broker logged, since t0, that it
// lost a leadership: graceful changes move partitions by hand-off only
// (a loss there means a partition bounced between tenures).
func (c *clusterRun) noLostLeaderships(t0 time.Time) {
	for _, s := range c.brokers {
		if lines := linesSince(grepLines(s.Output(), `lost leadership`), t0); len(lines) > 0 {
			c.failf("%s lost leaderships during a graceful change:\n%s", s.Addr, strings.Join(lines, "\n"))
		}
	}
}

// joinAndLeave starts one more broker, which must get a fair share of the
// partitions (handed over by the others, nobody restarted) without any
// partition going unserved for long, then stops it gracefully, which must
// hand its share back.
func (c *clusterRun) joinAndLeave(opts Options) {
	t0 := time.Now()
	extra := StartStrata(c.t, opts)
	c.logf("started %s", extra.Addr)
	all := append(c.addrs(), extra.Addr)
	share := len(c.w.all()) / len(all)
	deadline := time.Now().Add(clusterRecoverWithin)
	for {
		counts, err := c.leaderCounts(all)
		lo, hi := slices.Min(counts), slices.Max(counts)
		if err == nil && counts[len(all)-1] >= share && hi-lo <= 1 {
			c.logf("%s leads %d partitions %s after it started; leaders per broker %v",
				extra.Addr, counts[len(all)-1], time.Since(t0).Round(time.Millisecond), counts)
			break
		}
		if time.Now().After(deadline) {
			c.failf("no fair share for the new broker within %s: leaders per broker %v (%v)", clusterRecoverWithin, counts, err)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.recovered(t0, "hand-off to the new broker")

	time.Sleep(clusterSteady)
	t1 := time.Now()
	if code := extra.Stop(); code != 0 {
		c.failf("%s: exit code %d after SIGTERM, want 0", extra.Addr, code)
	}
	c.logf("%s exited after %s", extra.Addr, time.Since(t1).Round(time.Millisecond))
	c.recovered(t1, "graceful stop of "+extra.Addr)
	c.noLostLeaderships(t0)
}

// brokerIndexes maps the node id of each broker md lists to the index of
// its address in addrs; brokers not in addrs are left out.
func brokerIndexes(md kadm.Metadata, addrs []string) map[int32]int {
	byID := map[int32]int{}
	for _, b := range md.Brokers {
		if i := slices.Index(addrs, hostPort(b.Host, b.Port)); i >= 0 {
			byID[b.NodeID] = i
		}
	}
	return byID
}

// leaderCounts is how many of the workload's partitions each of addrs leads,
// in the order of addrs, by Metadata.
func (c *clusterRun) leaderCounts(addrs []string) ([]int, error) {
	counts := make([]int, len(addrs))
	md, err := c.metadata()
	if err != nil {
		return counts, err
	}
	byID := brokerIndexes(md, addrs)
	for _, p := range c.w.all() {
		if i, ok := byID[md.Topics[p.Topic].Partitions[p.Partition].Leader]; ok {
			counts[i]++
		}
	}
	return counts, nil
}

// minioOutage stops MinIO for clusterMinIODown, then starts it again on the
// same port and data directory. Produces wait meanwhile; the recovery
// includes the outage.
func (c *clusterRun) minioOutage() {
	c.logf("stop MinIO for %s", clusterMinIODown)
	t0 := time.Now()
	c.minio.Kill(c.t) // an outage, not a shutdown: connections reset, then refused
	time.Sleep(clusterMinIODown)
	c.minio.Restart(c.t)
	back := time.Now()
	c.logf("MinIO restarted")
	c.recovered(t0, "MinIO outage")
	if at, ok, _ := c.w.recoveredAt(t0); ok {
		c.logf("that is %s after MinIO came back", at.Sub(back).Round(time.Millisecond))
	}
}

// killEtcdLeader SIGKILLs the etcd member that leads the raft group, waits
// until brokers write again (a new etcd leader), then restarts the member.
func (c *clusterRun) killEtcdLeader() {
	var leader int
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if leader, err = c.etcd.Leader(c.ctx); err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: %v", c.phase.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.logf("SIGKILL etcd member %d (%s), the leader", leader, c.etcd.Endpoint(leader))
	t0 := time.Now()
	c.etcd.Kill(leader)
	c.recovered(t0, "etcd election")
	c.etcd.Restart(leader)
	c.logf("etcd member %d restarted", leader)
}

// logBrokerWarnings logs the last warnings and errors that the brokers'
// current runs logged since t0, to tell what a phase looked like from inside.
func (c *clusterRun) logBrokerWarnings(t0 time.Time) {
	for _, s := range c.brokers {
		if lines := linesSince(grepLines(s.Output(), `level=(WARN|ERROR)`), t0); len(lines) > 0 {
			c.logf("%s logged %d warnings and errors since the fault; the last ones:\n%s",
				s.Addr, len(lines), strings.Join(lines[max(0, len(lines)-6):], "\n"))
		}
	}
}

// linesSince keeps the log lines stamped at or after t0.
func linesSince(lines []string, t0 time.Time) []string {
	var out []string
	for _, l := range lines {
		if at, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(strings.Fields(l)[0], "time=")); err == nil && !at.Before(t0) {
			out = append(out, l)
		}
	}
	return out
}

// partitionList is "topic/partition@epoch ..." in order.
func partitionList(epochs map[tp]int32) string {
	var out []string
	for p, e := range epochs {
		out = append(out, fmt.Sprintf("%s@%d", p, e))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// waitReady polls s's /readyz until it answers 200 or within passes.
func waitReady(s *Strata, within time.Duration) bool {
	cl := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := cl.Get("http://" + s.HTTPAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// report logs the table of phases and what the clients reported.
func (c *clusterRun) report() {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tacked\ttotal\tunacked\tlost\tdup\torder\tgaps\tmoved\tvanished\trecovery\t")
	for _, p := range c.phases {
		recovery := "-"
		switch {
		case p.notRecovered:
			recovery = "NONE"
		case p.measured:
			recovery = p.recovery.Round(100 * time.Millisecond).String()
		}
		counts := "unchecked\t\t\t\t\t\t"
		if v := p.v; p.checked {
			counts = fmt.Sprintf("%d\t%d\t%d\t%d\t%d\t%d\t", v.Lost, v.Duplicated, v.OutOfOrder, v.Gaps, v.Moved, v.Vanished)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s%s\t\n", p.name, p.acked, p.total, p.failed, counts, recovery)
	}
	tw.Flush()
	c.t.Logf("TestCluster after %s:\n%s"+
		"acked: records acknowledged during the phase; total: since the start; unacked: records the producers gave up on.\n"+
		"lost, dup, order, gaps, moved, vanished: counted over the whole log when the phase was checked.\n"+
		"recovery: from the fault to when every partition had acknowledged a record produced after it (the slowest phase step).%s",
		time.Since(c.start).Round(time.Second), b.String(), c.w.clientReport())
}

// ringLog keeps the last lines that clients logged and prints them if the
// test fails.
type ringLog struct {
	mu    sync.Mutex
	lines []string
	keep  int
}

func newRingLog(t *testing.T, name string, keep int) *ringLog {
	t.Helper()
	l := &ringLog{keep: keep}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Logf("--- %s: last %d log lines ---\n%s", name, len(l.lines), strings.Join(l.lines, "\n"))
		}
	})
	return l
}

func (l *ringLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		l.lines = append(l.lines, time.Now().Format("15:04:05.000 ")+line)
	}
	if len(l.lines) > 2*l.keep {
		l.lines = slices.Clone(l.lines[len(l.lines)-l.keep:])
	}
	return len(p), nil
}
