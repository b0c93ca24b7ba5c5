package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/wal"
)

// The uploader suite runs against one embedded etcd; each case has a key
// prefix of its own, a WAL in its own directory and an in-memory bucket
// behind a fault injector.
func TestUploader(t *testing.T) {
	e, err := metadata.StartEmbedded(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, env *upEnv)
	}{
		{"UploadsAndCommits", testUploadsAndCommits},
		{"ProducerState", testProducerState},
		{"Fenced", testFenced},
		{"NotLeader", testNotLeader},
		{"StaleEpochDropped", testStaleEpochDropped},
		{"ResumedEpochCommitted", testResumedEpochCommitted},
		{"RecoverySkipsCommitted", testRecoverySkipsCommitted},
		{"OutageDelaysButLosesNothing", testOutage},
		{"CancelDuringOutage", testCancelDuringOutage},
		{"SkipsDuplicateAndStraddling", testSkipsDuplicateAndStraddling},
		{"CorruptSegmentStopsRun", testCorruptSegmentStopsRun},
		{"Truncate", testTruncate},
		{"Compact", testCompact},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newUpEnv(t, e.Endpoints()))
		})
	}
}

// upEnv is one broker's world: a store (its own etcd session), a bucket, a WAL
// and the set of partitions it leads.
type upEnv struct {
	t         *testing.T
	endpoints []string
	prefix    string
	store     *metadata.Store
	mem       objectstore.Bucket
	bucket    *objectstore.Faulty
	walDir    string
	wal       *wal.WAL
	recovered []wal.SegmentInfo
	leaders   *testLeaders
	written   map[metadata.PartitionKey][][]byte // batches written, in order
	nextOff   map[metadata.PartitionKey]int64
	lastSeq   uint64 // WAL segment of the last write
}

func newUpEnv(t *testing.T, endpoints []string) *upEnv {
	t.Helper()
	env := &upEnv{
		t:         t,
		endpoints: endpoints,
		prefix:    "/strata-test/" + t.Name() + "/",
		mem:       objectstore.NewMem(),
		walDir:    t.TempDir(),
		leaders:   &testLeaders{epochs: make(map[metadata.PartitionKey]int64)},
		written:   make(map[metadata.PartitionKey][][]byte),
		nextOff:   make(map[metadata.PartitionKey]int64),
	}
	env.bucket = objectstore.NewFaulty(env.mem)
	t.Cleanup(func() { env.mem.Close() })
	env.store = env.newStore()
	env.openWAL()
	return env
}

// newStore opens another session on the same etcd and prefix: another broker.
func (env *upEnv) newStore() *metadata.Store {
	t := env.t
	t.Helper()
	client, err := metadata.Connect(t.Context(), env.endpoints, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	s, err := metadata.New(t.Context(), client, metadata.Options{Prefix: env.prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openWAL opens the WAL directory; segments seal only when the test says so.
func (env *upEnv) openWAL() {
	t := env.t
	t.Helper()
	w, rec, err := wal.Open(wal.Options{Dir: env.walDir, SealInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	env.wal, env.recovered = w, rec.Segments
	t.Cleanup(func() { drainClose(w) })
}

// drainClose closes a WAL that no uploader is reading (Close waits until
// Sealed is drained). Safe after an uploader closed it.
func drainClose(w *wal.WAL) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range w.Sealed() {
		}
	}()
	w.Close()
	<-done
}

// lead makes the env's store take the partition and tells the Leaders.
func (env *upEnv) lead(key metadata.PartitionKey) int64 {
	env.t.Helper()
	l, err := env.store.AcquireLeadership(env.t.Context(), key, 1)
	if err != nil {
		env.t.Fatal(err)
	}
	env.leaders.set(key, l.Epoch)
	return l.Epoch
}

// write appends a batch of n records for key at the partition's next offset
// and waits until it is durable.
func (env *upEnv) write(key metadata.PartitionKey, s batchSpec) []byte {
	t := env.t
	t.Helper()
	s.base = env.nextOff[key]
	if s.records == 0 {
		s.records = 3
	}
	if s.timestamp == 0 {
		s.timestamp = 1_700_000_000_000 + s.base
	}
	if s.valueSize == 0 {
		s.valueSize = 20
	}
	b := makeBatch(t, s)
	epoch, _, _ := env.leaders.Epoch(key)
	p, err := env.wal.Write(AppendEntryHeader(nil, key, epoch), b)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	env.lastSeq = p.Segment()
	env.written[key] = append(env.written[key], b)
	env.nextOff[key] += int64(s.records)
	return b
}

func (env *upEnv) seal() {
	env.t.Helper()
	if err := env.wal.Seal(env.t.Context()); err != nil {
		env.t.Fatal(err)
	}
}

// commits records OnCommit calls.
type commits struct {
	mu    sync.Mutex
	segs  []uint64
	res   map[uint64][]Result
	added chan struct{}
}

func newCommits() *commits {
	return &commits{res: make(map[uint64][]Result), added: make(chan struct{}, 1000)}
}

func (c *commits) onCommit(seq uint64, results []Result) {
	c.mu.Lock()
	c.segs = append(c.segs, seq)
	c.res[seq] = results
	c.mu.Unlock()
	c.added <- struct{}{}
}

// wait blocks until n segments have been committed in all.
func (c *commits) wait(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		c.mu.Lock()
		got := len(c.segs)
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-c.added:
		case <-ctx.Done():
			t.Fatalf("waiting for %d committed segments, have %d", n, got)
		}
	}
}

func (c *commits) all() ([]uint64, map[uint64][]Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.segs), c.res
}

// start runs an uploader for env and returns it; stop closes the WAL (which
// ends Run once the last segment is handled) and checks that Run returned nil.
func (env *upEnv) start(c *commits, reg prometheus.Registerer, seed func(u *Uploader)) (u *Uploader, stop func()) {
	t := env.t
	t.Helper()
	u = NewUploader(UploaderOptions{
		Bucket:     env.bucket,
		Store:      env.store,
		WAL:        env.wal,
		Leaders:    env.leaders,
		BrokerID:   7,
		Registerer: reg,
		OnCommit:   c.onCommit,
	})
	u.minBackoff, u.maxBackoff = time.Millisecond, 20*time.Millisecond
	if seed != nil {
		seed(u)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx, env.recovered) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			defer cancel()
			if err := env.wal.Close(); err != nil {
				t.Errorf("WAL Close: %v", err)
			}
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return u, stop
}

// checkCommitted checks that the partition's manifest holds exactly the
// batches written, readable through a Reader, and returns its state.
func (env *upEnv) checkCommitted(key metadata.PartitionKey) metadata.PartitionState {
	t := env.t
	t.Helper()
	ctx := t.Context()
	entries, err := env.store.Manifest(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(env.mem, 1<<20, nil)
	var got []byte
	for _, e := range entries {
		b, err := r.Read(ctx, e)
		if err != nil {
			t.Fatalf("read %+v: %v", e, err)
		}
		got = append(got, b...)
	}
	if want := bytes.Join(env.written[key], nil); !bytes.Equal(got, want) {
		t.Fatalf("partition %d: manifest holds %d bytes (%d entries), wrote %d bytes", key.Partition, len(got), len(entries), len(want))
	}
	st, err := env.store.PartitionState(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.HighWatermark != env.nextOff[key] {
		t.Fatalf("partition %d: high watermark %d, want %d", key.Partition, st.HighWatermark, env.nextOff[key])
	}
	return st
}

// segmentFiles lists the sequence numbers of the WAL directory's segment files.
func (env *upEnv) segmentFiles() []string {
	env.t.Helper()
	des, err := os.ReadDir(env.walDir)
	if err != nil {
		env.t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func (env *upEnv) hasSegmentFile(seq uint64) bool {
	prefix := fmt.Sprintf("%020d", seq)
	for _, n := range env.segmentFiles() {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

func (env *upEnv) objects() []string {
	env.t.Helper()
	var names []string
	if err := env.mem.Iter(env.t.Context(), "", func(name string) error {
		names = append(names, name)
		return nil
	}); err != nil {
		env.t.Fatal(err)
	}
	return names
}

type testLeaders struct {
	mu      sync.Mutex
	epochs  map[metadata.PartitionKey]int64
	resumed map[metadata.PartitionKey]int64
}

func (l *testLeaders) Epoch(key metadata.PartitionKey) (int64, int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.epochs[key]
	return e, l.resumed[key], ok
}

func (l *testLeaders) set(key metadata.PartitionKey, epoch int64) {
	l.mu.Lock()
	l.epochs[key] = epoch
	l.mu.Unlock()
}

func (l *testLeaders) resume(key metadata.PartitionKey, epoch int64) {
	l.mu.Lock()
	if l.resumed == nil {
		l.resumed = make(map[metadata.PartitionKey]int64)
	}
	l.resumed[key] = epoch
	l.mu.Unlock()
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func testUploadsAndCommits(t *testing.T, env *upEnv) {
	keys := []metadata.PartitionKey{testKey(1, 0), testKey(1, 1), testKey(2, 0)}
	for _, k := range keys {
		env.lead(k)
	}
	c := newCommits()
	reg := prometheus.NewPedanticRegistry()
	u, stop := env.start(c, reg, nil)

	// Three segments: all partitions, then two of them, then one with many batches.
	for round, parts := range [][]metadata.PartitionKey{keys, keys[1:], keys[2:]} {
		for i := range 3 + round*4 {
			for _, k := range parts {
				env.write(k, batchSpec{records: 1 + i%4, valueSize: 10 + 100*round})
			}
		}
		env.seal()
	}
	c.wait(t, 3)
	stop()

	segs, res := c.all()
	if !slices.IsSorted(segs) || len(slices.Compact(slices.Clone(segs))) != 3 {
		t.Fatalf("OnCommit segments %v: want 3 in increasing order", segs)
	}
	for i, seq := range segs {
		rs := res[seq]
		if len(rs) != 3-i {
			t.Fatalf("segment %d: %d results, want %d", seq, len(rs), 3-i)
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("segment %d partition %d: %v", seq, r.Key.Partition, r.Err)
			}
			if r.State.HighWatermark != r.Entry.LastOffset+1 {
				t.Fatalf("result state hwm %d for last offset %d", r.State.HighWatermark, r.Entry.LastOffset)
			}
			if !strings.HasPrefix(r.Entry.Object, "segments/") || !strings.Contains(r.Entry.Object, fmt.Sprintf("-b7-%020d.seg", seq)) {
				t.Fatalf("object name %q", r.Entry.Object)
			}
		}
		if env.hasSegmentFile(seq) {
			t.Fatalf("WAL segment %d not removed: %v", seq, env.segmentFiles())
		}
	}
	for _, k := range keys {
		env.checkCommitted(k)
	}
	objs := env.objects()
	if len(objs) != 3 {
		t.Fatalf("objects %v, want 3", objs)
	}
	var total int64
	for _, name := range objs {
		rc, err := env.mem.Get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		total += int64(buf.Len())
		if _, err := DecodeObject(buf.Bytes()); err != nil {
			t.Fatalf("object %s: %v", name, err)
		}
	}
	if got := counterValue(t, u.m.segments); got != 3 {
		t.Errorf("segments uploaded = %v, want 3", got)
	}
	if got := counterValue(t, u.m.bytes); got != float64(total) {
		t.Errorf("bytes uploaded = %v, want %d", got, total)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("metrics: %v", err)
	}
}

func testProducerState(t *testing.T, env *upEnv) {
	k := testKey(3, 0)
	env.lead(k)
	// The broker seeds a state with an earlier producer and a log start offset.
	seeded := metadata.PartitionState{
		HighWatermark:  0,
		LogStartOffset: 0,
		Producers: map[int64]metadata.ProducerState{
			500: {Epoch: 1, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 9, BaseOffset: -100}}},
		},
	}
	c := newCommits()
	_, stop := env.start(c, nil, func(u *Uploader) { u.SetState(k, seeded) })

	// Producer 100 epoch 0: seven batches (only the last five are kept), then
	// epoch 1 resets it. Producer 200: one batch. Plain batches in between.
	type sent struct {
		pid   int64
		epoch int16
		seq   int32
		n     int
		base  int64
	}
	var log []sent
	seq100 := int32(0)
	for i := range 7 {
		base := env.nextOff[k]
		env.write(k, batchSpec{pid: 100, epoch: 0, seq: seq100, records: 2})
		log = append(log, sent{100, 0, seq100, 2, base})
		seq100 += 2
		if i == 3 {
			env.write(k, batchSpec{})
			base := env.nextOff[k]
			env.write(k, batchSpec{pid: 200, epoch: 3, seq: 40, records: 5})
			log = append(log, sent{200, 3, 40, 5, base})
		}
	}
	env.seal()
	base := env.nextOff[k]
	env.write(k, batchSpec{pid: 100, epoch: 1, seq: 0, records: 1})
	log = append(log, sent{100, 1, 0, 1, base})
	env.seal()
	c.wait(t, 2)
	stop()

	st := env.checkCommitted(k)
	want := map[int64]metadata.ProducerState{
		500: seeded.Producers[500],
		100: {Epoch: 1, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 0, BaseOffset: base}}},
		200: {Epoch: 3, Batches: []metadata.ProducerBatch{{FirstSeq: 40, LastSeq: 44, BaseOffset: log[4].base}}},
	}
	if fmt.Sprint(st.Producers) != fmt.Sprint(want) {
		t.Fatalf("producers after both segments:\n got %v\nwant %v", st.Producers, want)
	}

	// After the first segment producer 100 (epoch 0) had its last five batches.
	_, res := c.all()
	segs, _ := c.all()
	first := res[segs[0]][0].State.Producers[100]
	var want100 []metadata.ProducerBatch
	for _, s := range log {
		if s.pid == 100 && s.epoch == 0 {
			want100 = append(want100, metadata.ProducerBatch{FirstSeq: s.seq, LastSeq: s.seq + int32(s.n) - 1, BaseOffset: s.base})
		}
	}
	want100 = want100[len(want100)-5:]
	if first.Epoch != 0 || !slices.Equal(first.Batches, want100) {
		t.Fatalf("producer 100 after segment 1: %+v, want epoch 0 %+v", first, want100)
	}
}

func testFenced(t *testing.T, env *upEnv) {
	a, b := testKey(4, 0), testKey(4, 1)
	env.lead(a)
	epochB := env.lead(b)
	// Another broker takes b: this broker's Leaders still says epochB.
	if err := env.store.ResignLeadership(t.Context(), b, epochB); err != nil {
		t.Fatal(err)
	}
	other := env.newStore()
	if _, err := other.AcquireLeadership(t.Context(), b, 2); err != nil {
		t.Fatal(err)
	}

	c := newCommits()
	u, stop := env.start(c, nil, nil)
	env.write(a, batchSpec{})
	env.write(b, batchSpec{})
	env.write(a, batchSpec{})
	env.seal()
	c.wait(t, 1)
	stop()

	segs, res := c.all()
	rs := res[segs[0]]
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	for _, r := range rs {
		switch r.Key {
		case a:
			if r.Err != nil {
				t.Fatalf("partition a: %v", r.Err)
			}
		case b:
			if !errors.Is(r.Err, metadata.ErrFenced) {
				t.Fatalf("partition b: err = %v, want ErrFenced", r.Err)
			}
		}
	}
	env.checkCommitted(a)
	if m, err := env.store.Manifest(t.Context(), b); err != nil || len(m) != 0 {
		t.Fatalf("fenced partition's manifest: %v, %v", m, err)
	}
	u.mu.Lock()
	_, kept := u.parts[b]
	u.mu.Unlock()
	if kept {
		t.Fatal("fenced partition not forgotten")
	}
	if env.hasSegmentFile(segs[0]) {
		t.Fatal("segment not removed after a fenced commit")
	}
}

func testNotLeader(t *testing.T, env *upEnv) {
	led, notLed := testKey(5, 0), testKey(5, 1)
	env.lead(led)
	c := newCommits()
	_, stop := env.start(c, nil, nil)
	env.write(notLed, batchSpec{})
	env.seal()
	env.write(led, batchSpec{})
	env.write(notLed, batchSpec{})
	env.seal()
	c.wait(t, 2)
	stop()

	segs, res := c.all()
	if len(res[segs[0]]) != 0 {
		t.Fatalf("segment of only unled batches: results %+v, want none", res[segs[0]])
	}
	if rs := res[segs[1]]; len(rs) != 1 || rs[0].Key != led || rs[0].Err != nil {
		t.Fatalf("second segment: results %+v", rs)
	}
	if len(env.objects()) != 1 {
		t.Fatalf("objects %v: want one (no PUT for a segment with nothing to upload)", env.objects())
	}
	env.checkCommitted(led)
	for _, seq := range segs {
		if env.hasSegmentFile(seq) {
			t.Fatalf("segment %d not removed", seq)
		}
	}
}

// twoTenures leads k, writes 6 records that stay uncommitted, resigns and
// leads k again; it returns both fencing epochs.
func (env *upEnv) twoTenures(k metadata.PartitionKey) (old, cur int64) {
	env.t.Helper()
	old = env.lead(k)
	env.write(k, batchSpec{records: 3})
	env.write(k, batchSpec{records: 3})
	if err := env.store.ResignLeadership(env.t.Context(), k, old); err != nil {
		env.t.Fatal(err)
	}
	cur = env.lead(k)
	if cur == old {
		env.t.Fatalf("new tenure has the old epoch %d", cur)
	}
	return old, cur
}

// testStaleEpochDropped: the broker led a partition, lost it with records
// still uncommitted in the WAL, and leads it again. The old tenure's
// records are dropped (counted as stale_epoch), not committed at the new
// tenure's offsets; the new tenure's records are committed under its epoch.
func testStaleEpochDropped(t *testing.T, env *upEnv) {
	k := testKey(11, 0)
	_, cur := env.twoTenures(k)
	// The new tenure starts again at the committed high watermark (0).
	env.written[k], env.nextOff[k] = nil, 0
	env.write(k, batchSpec{records: 4})
	env.write(k, batchSpec{records: 1})
	env.seal()

	c := newCommits()
	reg := prometheus.NewPedanticRegistry()
	u, stop := env.start(c, reg, nil)
	c.wait(t, 1)
	stop()

	segs, res := c.all()
	if rs := res[segs[0]]; len(rs) != 1 || rs[0].Key != k || rs[0].Err != nil || rs[0].Epoch != cur {
		t.Fatalf("results %+v, want one commit of partition %d under epoch %d", rs, k.Partition, cur)
	}
	if st := env.checkCommitted(k); st.HighWatermark != 5 {
		t.Fatalf("high watermark %d, want 5 (the new tenure's records only)", st.HighWatermark)
	}
	for reason, want := range map[string]float64{"stale_epoch": 2, "not_leader": 0, "committed": 0, "invalid": 0} {
		if got := counterValue(t, u.m.skippedBatches.WithLabelValues(reason)); got != want {
			t.Errorf("skipped batches (%s) = %v, want %v", reason, got, want)
		}
	}
	if got := gatheredCounter(t, reg, "strata_tiering_skipped_batches_total", "reason", "stale_epoch"); got != 2 {
		t.Errorf("exported strata_tiering_skipped_batches_total{reason=\"stale_epoch\"} = %v, want 2", got)
	}
	if env.hasSegmentFile(segs[0]) {
		t.Fatal("segment not removed after its stale records were dropped")
	}
}

// testResumedEpochCommitted: a broker back after its lease ended resumed its
// last tenure of the partition (no one led it since), so that tenure's
// uncommitted WAL records are committed under the new epoch at their
// offsets, followed by the new tenure's own.
func testResumedEpochCommitted(t *testing.T, env *upEnv) {
	k := testKey(12, 0)
	old, cur := env.twoTenures(k)
	env.leaders.resume(k, old)
	env.write(k, batchSpec{records: 2}) // continues at offset 6, as replay leaves it
	env.seal()

	c := newCommits()
	u, stop := env.start(c, prometheus.NewPedanticRegistry(), nil)
	c.wait(t, 1)
	stop()

	segs, res := c.all()
	if rs := res[segs[0]]; len(rs) != 1 || rs[0].Err != nil || rs[0].Epoch != cur {
		t.Fatalf("results %+v, want one commit under the new epoch %d", rs, cur)
	}
	if st := env.checkCommitted(k); st.HighWatermark != 8 {
		t.Fatalf("high watermark %d, want 8 (the resumed tenure's records and the new ones)", st.HighWatermark)
	}
	if got := counterValue(t, u.m.skippedBatches.WithLabelValues("stale_epoch")); got != 0 {
		t.Errorf("%v batches of the resumed tenure dropped as stale", got)
	}
}

// gatheredCounter is the value reg exports for the counter name{label=value}.
func gatheredCounter(t *testing.T, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("%s{%s=%q} not exported", name, label, value)
	return 0
}

// testRecoverySkipsCommitted: a broker uploaded and committed its first
// segment, then crashed before removing it from the WAL; the second was never
// uploaded. After restart both are recovered: the first uploads nothing, the
// second is committed.
func testRecoverySkipsCommitted(t *testing.T, env *upEnv) {
	a, b := testKey(6, 0), testKey(6, 1)
	env.lead(a)
	env.lead(b)
	// Segment 1: a and b. Segment 2: more of a.
	env.write(a, batchSpec{})
	env.write(b, batchSpec{})
	env.write(a, batchSpec{})
	env.seal()
	env.write(a, batchSpec{})
	env.write(b, batchSpec{})
	env.seal()
	drainClose(env.wal)

	// What the crashed uploader had committed: segment 1 for both partitions,
	// done through a builder exactly as the uploader does.
	var bld ObjectBuilder
	for _, k := range []metadata.PartitionKey{a, b} {
		if err := bld.Add(k, env.written[k][0]); err != nil {
			t.Fatal(err)
		}
	}
	if err := bld.Add(a, env.written[a][1]); err != nil {
		t.Fatal(err)
	}
	obj, index := bld.Finish()
	if err := env.mem.Put(t.Context(), "segments/crashed.seg", bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}
	var cs []metadata.Commit
	for _, e := range index {
		epoch, _, _ := env.leaders.Epoch(e.Key)
		me := e.ManifestEntry("segments/crashed.seg")
		cs = append(cs, metadata.Commit{Key: e.Key, Epoch: epoch, Entry: me,
			State: metadata.PartitionState{HighWatermark: me.LastOffset + 1}})
	}
	for _, err := range env.store.CommitSegments(t.Context(), cs) {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Restart: the WAL recovers both segments; a's state comes from the broker
	// (SetState), b's is loaded from etcd by the uploader.
	env.openWAL()
	if len(env.recovered) != 2 {
		t.Fatalf("recovered %d segments, want 2", len(env.recovered))
	}
	stA, err := env.store.PartitionState(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	c := newCommits()
	_, stop := env.start(c, nil, func(u *Uploader) { u.SetState(a, stA) })
	c.wait(t, 2)
	stop()

	segs, res := c.all()
	if segs[0] != env.recovered[0].Seq || segs[1] != env.recovered[1].Seq {
		t.Fatalf("OnCommit order %v, recovered %v", segs, env.recovered)
	}
	if rs := res[segs[0]]; len(rs) != 0 {
		t.Fatalf("already committed segment uploaded again: %+v", rs)
	}
	if rs := res[segs[1]]; len(rs) != 2 {
		t.Fatalf("second segment: %d results, want 2", len(rs))
	}
	env.checkCommitted(a)
	env.checkCommitted(b)
	for _, s := range env.recovered {
		if env.hasSegmentFile(s.Seq) {
			t.Fatalf("recovered segment %d not removed", s.Seq)
		}
	}
}

// testOutage: while the bucket is down nothing is committed and the segment
// stays in the WAL; once it is back, everything is.
func testOutage(t *testing.T, env *upEnv) {
	k := testKey(7, 0)
	env.lead(k)
	env.bucket.SetDown(true)
	c := newCommits()
	u, stop := env.start(c, nil, nil)
	for range 5 {
		env.write(k, batchSpec{})
	}
	env.seal()

	// Wait for a few failed PUTs.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for env.bucket.Calls(objectstore.OpPut) < 4 {
		select {
		case <-ctx.Done():
			t.Fatalf("only %d PUT attempts", env.bucket.Calls(objectstore.OpPut))
		case <-time.After(5 * time.Millisecond):
		}
	}
	if segs, _ := c.all(); len(segs) != 0 {
		t.Fatalf("committed during the outage: %v", segs)
	}
	if st, err := env.store.PartitionState(t.Context(), k); err != nil || st.HighWatermark != 0 {
		t.Fatalf("state during the outage: %+v, %v", st, err)
	}
	if !env.hasSegmentFile(env.lastSeq) {
		t.Fatal("WAL segment removed during the outage")
	}
	env.bucket.SetDown(false)
	c.wait(t, 1)
	stop()

	env.checkCommitted(k)
	if got := counterValue(t, u.m.putRetries); got < 3 {
		t.Errorf("PUT retries = %v, want >= 3", got)
	}
}

// testCancelDuringOutage: Run gives up when its context ends and leaves the
// segment in the WAL for the next start.
func testCancelDuringOutage(t *testing.T, env *upEnv) {
	k := testKey(8, 0)
	env.lead(k)
	env.write(k, batchSpec{})
	env.seal()

	u := NewUploader(UploaderOptions{Bucket: env.bucket, Store: env.store, WAL: env.wal, Leaders: env.leaders})
	u.minBackoff, u.maxBackoff = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	env.bucket.SetHook(func(op, _ string) error {
		if op != objectstore.OpPut {
			return nil
		}
		if env.bucket.Calls(objectstore.OpPut) >= 3 {
			cancel()
		}
		return objectstore.ErrInjected // the store is down
	})
	if err := u.Run(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if !env.hasSegmentFile(env.lastSeq) {
		t.Fatal("segment removed although nothing was committed")
	}
	if st, err := env.store.PartitionState(t.Context(), k); err != nil || st.HighWatermark != 0 {
		t.Fatalf("state: %+v, %v", st, err)
	}
}

// testSkipsDuplicateAndStraddling: a batch written twice is uploaded once, and
// a batch that straddles the committed high watermark is dropped rather than
// committed over offsets already committed.
func testSkipsDuplicateAndStraddling(t *testing.T, env *upEnv) {
	dup, straddle := testKey(9, 0), testKey(9, 1)
	env.lead(dup)
	env.lead(straddle)
	c := newCommits()
	_, stop := env.start(c, nil, func(u *Uploader) {
		u.SetState(straddle, metadata.PartitionState{HighWatermark: 2, LogStartOffset: 1})
	})

	b := env.write(dup, batchSpec{records: 2})
	epoch, _, _ := env.leaders.Epoch(dup)
	if p, err := env.wal.Write(AppendEntryHeader(nil, dup, epoch), b); err != nil {
		t.Fatal(err)
	} else if err := p.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	env.write(dup, batchSpec{records: 2})

	env.write(straddle, batchSpec{records: 3}) // offsets 0-2, hwm 2: dropped
	env.written[straddle] = nil
	env.write(straddle, batchSpec{records: 1}) // offset 3: a gap, uploaded
	env.seal()
	c.wait(t, 1)
	stop()

	env.checkCommitted(dup)
	entries, err := env.store.Manifest(t.Context(), straddle)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].BaseOffset != 3 || entries[0].Batches != 1 {
		t.Fatalf("straddle manifest: %+v", entries)
	}
	st, err := env.store.PartitionState(t.Context(), straddle)
	if err != nil {
		t.Fatal(err)
	}
	if st.HighWatermark != 4 || st.LogStartOffset != 1 {
		t.Fatalf("straddle state %+v: want hwm 4, log start 1 carried over", st)
	}
}

// testCorruptSegmentStopsRun: a sealed segment that fails its checks stops
// Run loudly and stays in the WAL; nothing of it is committed.
func testCorruptSegmentStopsRun(t *testing.T, env *upEnv) {
	k := testKey(10, 0)
	env.lead(k)
	env.write(k, batchSpec{})
	env.write(k, batchSpec{})
	env.seal()
	var path string
	for _, n := range env.segmentFiles() {
		if strings.HasPrefix(n, fmt.Sprintf("%020d", env.lastSeq)) {
			path = filepath.Join(env.walDir, n)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-5] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}

	u := NewUploader(UploaderOptions{Bucket: env.bucket, Store: env.store, WAL: env.wal, Leaders: env.leaders})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var ce *wal.CorruptionError
	if err := u.Run(ctx, nil); !errors.As(err, &ce) || ce.Segment != env.lastSeq {
		t.Fatalf("Run = %v, want a *wal.CorruptionError for segment %d", err, env.lastSeq)
	}
	if !env.hasSegmentFile(env.lastSeq) {
		t.Fatal("corrupt segment removed")
	}
	if objs := env.objects(); len(objs) != 0 {
		t.Fatalf("objects stored from a corrupt segment: %v", objs)
	}
}

// testTruncate: Truncate moves the log start up (never down, never past the
// high watermark), deletes the entries given, and the next segment's commit
// keeps the new log start; a fenced epoch writes nothing.
func testTruncate(t *testing.T, env *upEnv) {
	k := testKey(1, 0)
	epoch := env.lead(k)
	c := newCommits()
	u, stop := env.start(c, nil, nil)
	for range 3 {
		env.write(k, batchSpec{records: 10, valueSize: 10})
		env.seal()
	}
	c.wait(t, 3)
	entries, err := env.store.Manifest(t.Context(), k)
	if err != nil || len(entries) != 3 {
		t.Fatalf("manifest %v %v, want 3 entries", entries, err)
	}
	ctx := t.Context()
	if _, err := u.Truncate(ctx, k, epoch, 31, nil); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("truncate past the high watermark: %v, want ErrOutOfRange", err)
	}
	st, err := u.Truncate(ctx, k, epoch, 15, []int64{entries[0].BaseOffset})
	if err != nil || st.LogStartOffset != 15 || st.HighWatermark != 30 {
		t.Fatalf("truncate to 15: %+v %v", st, err)
	}
	if st, err := u.Truncate(ctx, k, epoch, 5, nil); err != nil || st.LogStartOffset != 15 {
		t.Fatalf("truncate down to 5: %+v %v, want the log start to stay 15", st, err)
	}
	env.write(k, batchSpec{records: 10, valueSize: 10})
	env.seal()
	c.wait(t, 4)
	stop()
	st, err = env.store.PartitionState(ctx, k)
	if err != nil || st.LogStartOffset != 15 || st.HighWatermark != 40 {
		t.Fatalf("state after the next segment: %+v %v, want log start 15, high watermark 40", st, err)
	}
	after, err := env.store.Manifest(ctx, k)
	if err != nil || len(after) != 3 || after[0].BaseOffset != entries[1].BaseOffset {
		t.Fatalf("manifest after truncation: %+v %v, want the last 3 entries from %d", after, err, entries[1].BaseOffset)
	}
	if err := env.store.TruncateLog(ctx, k, epoch-1, metadata.PartitionState{LogStartOffset: 40, HighWatermark: 40}, nil); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("truncate under a stale epoch: %v, want ErrFenced", err)
	}
}
