package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/wal"
)

// The uploader suite runs against one embedded etcd; each case has a key
// prefix of its own, a WAL in its own directory, an in-memory bucket behind a
// fault injector and a quarantine directory.
func TestUploader(t *testing.T) {
	cases := []upCase{
		{"UploadsAndCommits", testUploadsAndCommits},
		{"ProducerState", testProducerState},
		{"FencedThenResumed", testFencedThenResumed},
		{"FencedThenTakenAndHeld", func(t *testing.T, env *upEnv) { testFencedThenTaken(t, env, true) }},
		{"FencedThenTakenAndReleased", func(t *testing.T, env *upEnv) { testFencedThenTaken(t, env, false) }},
		{"ResumedTenureCommitted", testResumedTenureCommitted},
		{"WaitThenResumed", func(t *testing.T, env *upEnv) { testWait(t, env, true) }},
		{"WaitThenTaken", func(t *testing.T, env *upEnv) { testWait(t, env, false) }},
		{"DeletedTopicDropped", testDeletedTopicDropped},
		{"RecoverySkipsCommitted", testRecoverySkipsCommitted},
		{"OutageDelaysButLosesNothing", testOutage},
		{"CancelDuringOutage", testCancelDuringOutage},
		{"SkipsDuplicateAndStraddling", testSkipsDuplicateAndStraddling},
		{"CorruptSegmentStopsRun", testCorruptSegmentStopsRun},
		{"Truncate", testTruncate},
		{"Compact", testCompact},
		{"Transactions", testTransactions},
	}
	for _, sc := range setAsideCases {
		cases = append(cases, upCase{"SetAside" + sc.name, func(t *testing.T, env *upEnv) { testSetAside(t, env, sc) }})
	}
	runUpCases(t, cases)
}

// upCase is one case of a suite run on upEnvs.
type upCase struct {
	name string
	run  func(t *testing.T, env *upEnv)
}

// runUpCases runs each case against one embedded etcd, with an upEnv of
// its own.
func runUpCases(t *testing.T, cases []upCase) {
	e := startEmbedded(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newUpEnv(t, e.Endpoints()))
		})
	}
}

// upEnv is one broker's world: a store (its own etcd session), a bucket, a
// WAL, a quarantine directory and what the broker says of each partition.
type upEnv struct {
	t          *testing.T
	endpoints  []string
	prefix     string
	store      *metadata.Store
	mem        objectstore.Bucket
	bucket     *objectstore.Faulty
	walDir     string
	wal        *wal.WAL
	recovered  []wal.SegmentInfo
	quarantine string // the uploader's QuarantineDir; created by the uploader
	leaders    *testLeaders
	written    map[metadata.PartitionKey][][]byte // batches written, in order
	nextOff    map[metadata.PartitionKey]int64
	lastSeq    uint64 // WAL segment of the last write
	crashed    int    // objects committed by commitObject
}

func newUpEnv(t *testing.T, endpoints []string) *upEnv {
	t.Helper()
	env := &upEnv{
		t:          t,
		endpoints:  endpoints,
		prefix:     "/strata-test/" + t.Name() + "/",
		mem:        objectstore.NewMem(),
		walDir:     t.TempDir(),
		quarantine: filepath.Join(t.TempDir(), "quarantine"),
		leaders:    newTestLeaders(),
		written:    make(map[metadata.PartitionKey][][]byte),
		nextOff:    make(map[metadata.PartitionKey]int64),
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
	client, err := metadata.Connect(t.Context(), env.endpoints, 10*time.Second, metadata.ClientAuth{})
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

// take makes the env's store take the partition (a new tenure) and tells the
// Leaders that this broker leads it.
func (env *upEnv) take(key metadata.PartitionKey) metadata.Leadership {
	env.t.Helper()
	l, err := env.store.AcquireLeadership(env.t.Context(), key, 1)
	if err != nil {
		env.t.Fatal(err)
	}
	env.leaders.lead(key, l)
	return l
}

// lead is take, returning the fencing epoch.
func (env *upEnv) lead(key metadata.PartitionKey) int64 {
	env.t.Helper()
	return env.take(key).Epoch
}

// resign ends the env's tenure of key in etcd, as its lease ending would;
// the Leaders are not told (the broker has not noticed yet).
func (env *upEnv) resign(key metadata.PartitionKey) {
	env.t.Helper()
	if err := env.store.ResignLeadership(env.t.Context(), key, env.leaders.tenure(key).Epoch); err != nil {
		env.t.Fatal(err)
	}
}

// write appends a batch of n records for key at the partition's next offset,
// stamped with the Kafka leader epoch of the tenure the Leaders give for key
// and behind that tenure's fencing epoch, as the broker appends it, and
// waits until it is durable. It returns the batch as written.
func (env *upEnv) write(key metadata.PartitionKey, s batchSpec) []byte {
	t := env.t
	t.Helper()
	s.BaseOffset = env.nextOff[key]
	if s.Records == 0 {
		s.Records = 3
	}
	if s.Timestamp == 0 {
		s.Timestamp = 1_700_000_000_000 + s.BaseOffset
	}
	if s.ValueSize == 0 {
		s.ValueSize = 20
	}
	b := makeBatch(t, s)
	env.writeRaw(key, b)
	return b
}

// writeRaw writes the batch raw of key to the WAL at the partition's next
// offset, stamped and fenced as write does, waits until it is durable and
// records it as written.
func (env *upEnv) writeRaw(key metadata.PartitionKey, raw []byte) {
	t := env.t
	t.Helper()
	h, err := batch.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	batch.SetBaseOffset(raw, env.nextOff[key])
	tenure := env.leaders.tenure(key)
	batch.SetPartitionLeaderEpoch(raw, tenure.LeaderEpoch)
	p, err := env.wal.Write(AppendEntryHeader(nil, key, tenure.Epoch), raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	env.lastSeq = p.Segment()
	env.written[key] = append(env.written[key], raw)
	env.nextOff[key] += int64(h.LastOffsetDelta) + 1
}

func (env *upEnv) seal() {
	env.t.Helper()
	if err := env.wal.Seal(env.t.Context()); err != nil {
		env.t.Fatal(err)
	}
}

// commitAsCrashed commits batches of key under epoch through store as an
// uploader that crashed before it removed their WAL segment had: one
// object, one manifest entry, the high watermark after them.
func (env *upEnv) commitAsCrashed(store *metadata.Store, key metadata.PartitionKey, epoch int64, batches ...[]byte) {
	env.t.Helper()
	env.commitObject(store, "crashed", key, epoch, nil, batches)
}

// commitObject stores batches of key as one segment object (named after
// kind) and commits its manifest entry under epoch through store, with the
// aborted transactions given and the high watermark after it, as the
// uploader would.
func (env *upEnv) commitObject(store *metadata.Store, kind string, key metadata.PartitionKey, epoch int64, aborted []metadata.AbortedTxn, batches [][]byte) {
	t := env.t
	t.Helper()
	var bld ObjectBuilder
	for _, b := range batches {
		if err := bld.Add(key, b); err != nil {
			t.Fatal(err)
		}
	}
	obj, index := bld.Finish()
	env.crashed++
	name := fmt.Sprintf("segments/%s-%d.seg", kind, env.crashed)
	if err := env.mem.Put(t.Context(), name, bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}
	me := index[0].ManifestEntry(name)
	me.Aborted = aborted
	c := metadata.Commit{Key: key, Epoch: epoch, Entry: me, State: metadata.PartitionState{HighWatermark: me.LastOffset + 1}}
	if err := store.CommitSegments(t.Context(), []metadata.Commit{c})[0]; err != nil {
		t.Fatal(err)
	}
}

// manifest reads key's manifest, failing the test on an error.
func (env *upEnv) manifest(key metadata.PartitionKey) []metadata.ManifestEntry {
	t := env.t
	t.Helper()
	entries, err := env.store.Manifest(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// manifestN is manifest, failing the test unless there are n entries.
func (env *upEnv) manifestN(key metadata.PartitionKey, n int) []metadata.ManifestEntry {
	env.t.Helper()
	entries := env.manifest(key)
	if len(entries) != n {
		env.t.Fatalf("manifest %+v, want %d entries", entries, n)
	}
	return entries
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

// result is the one Result for key of segment seq.
func (c *commits) result(t *testing.T, seq uint64, key metadata.PartitionKey) Result {
	t.Helper()
	_, res := c.all()
	var found []Result
	for _, r := range res[seq] {
		if r.Key == key {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("segment %d: %d results for partition %d, want 1: %+v", seq, len(found), key.Partition, res[seq])
	}
	return found[0]
}

// options are the uploader options start uses.
func (env *upEnv) options() UploaderOptions {
	return UploaderOptions{
		Bucket:        env.bucket,
		Store:         env.store,
		WAL:           env.wal,
		Leaders:       env.leaders,
		BrokerID:      7,
		QuarantineDir: env.quarantine,
	}
}

// start runs an uploader for env and returns it; stop closes the WAL (which
// ends Run once the last segment is handled) and checks that Run returned nil.
// If the test has failed already, stop cancels Run instead, so that a segment
// the test left undecided does not hang it.
func (env *upEnv) start(c *commits, reg prometheus.Registerer, seed func(u *Uploader)) (u *Uploader, stop func()) {
	env.t.Helper()
	opts := env.options()
	opts.Registerer, opts.OnCommit = reg, c.onCommit
	return env.startWith(opts, seed)
}

// startWith is start with the uploader options given.
func (env *upEnv) startWith(opts UploaderOptions, seed func(u *Uploader)) (u *Uploader, stop func()) {
	t := env.t
	t.Helper()
	u = NewUploader(opts)
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
			if t.Failed() {
				cancel()
				<-done
				drainClose(env.wal)
				return
			}
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

// uploadOne starts an uploader with reg, waits for the commits of one
// segment and stops it.
func (env *upEnv) uploadOne(reg prometheus.Registerer) (*Uploader, *commits) {
	env.t.Helper()
	c := newCommits()
	u, stop := env.start(c, reg, nil)
	c.wait(env.t, 1)
	stop()
	return u, c
}

// checkCommitted checks that the partition's manifest holds exactly the
// batches written, readable through a Reader, and returns its state.
func (env *upEnv) checkCommitted(key metadata.PartitionKey) metadata.PartitionState {
	env.t.Helper()
	return env.checkManifest(key, env.written[key], env.nextOff[key])
}

// checkManifest checks that the partition's manifest holds exactly the
// batches want, readable through a Reader, and that its high watermark is
// hwm; it returns its state.
func (env *upEnv) checkManifest(key metadata.PartitionKey, want [][]byte, hwm int64) metadata.PartitionState {
	t := env.t
	t.Helper()
	ctx := t.Context()
	entries := env.manifest(key)
	r := NewReader(env.mem, 1<<20, nil)
	var got []byte
	for _, e := range entries {
		b, err := r.Read(ctx, e)
		if err != nil {
			t.Fatalf("read %+v: %v", e, err)
		}
		got = append(got, b...)
	}
	if w := bytes.Join(want, nil); !bytes.Equal(got, w) {
		t.Fatalf("partition %d: manifest holds %d bytes (%d entries), want %d bytes (%d batches)", key.Partition, len(got), len(entries), len(w), len(want))
	}
	st, err := env.store.PartitionState(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if st.HighWatermark != hwm {
		t.Fatalf("partition %d: high watermark %d, want %d", key.Partition, st.HighWatermark, hwm)
	}
	return st
}

// checkQuarantined checks that the quarantine holds, for key, exactly the
// batches want, byte for byte, in one range of a note of WAL segment seq
// written by this broker, naming the topic, the leader epoch of the first
// batch, and a reason that contains reason.
func (env *upEnv) checkQuarantined(key metadata.PartitionKey, seq uint64, want [][]byte, reason string) {
	t := env.t
	t.Helper()
	var rs []quarantinedRange
	for _, r := range readQuarantine(t, env.quarantine) {
		if r.Key() == key {
			rs = append(rs, r)
		}
	}
	if len(rs) != 1 {
		t.Fatalf("partition %d: %d quarantined ranges, want 1: %+v", key.Partition, len(rs), rs)
	}
	r := rs[0]
	if w := bytes.Join(want, nil); !bytes.Equal(r.data, w) {
		t.Fatalf("partition %d: quarantine holds %d bytes, want the %d bytes of %d batches", key.Partition, len(r.data), len(w), len(want))
	}
	first, _ := batch.Parse(want[0])
	last, _ := batch.Parse(want[len(want)-1])
	switch {
	case r.note.Segment != seq || r.note.Broker != 7:
		t.Errorf("note of segment %d by broker %d, want segment %d by broker 7", r.note.Segment, r.note.Broker, seq)
	case r.BaseOffset != first.BaseOffset || r.LastOffset != last.LastOffset() || r.Batches != int32(len(want)):
		t.Errorf("note says offsets %d-%d in %d batches, want %d-%d in %d", r.BaseOffset, r.LastOffset, r.Batches, first.BaseOffset, last.LastOffset(), len(want))
	case r.LeaderEpoch != first.PartitionLeaderEpoch:
		t.Errorf("note says leader epoch %d, the batches were appended under %d", r.LeaderEpoch, first.PartitionLeaderEpoch)
	case r.Topic != env.leaders.TopicName(key.Topic):
		t.Errorf("note names topic %q, want %q", r.Topic, env.leaders.TopicName(key.Topic))
	case r.Reason == "" || !strings.Contains(r.Reason, reason):
		t.Errorf("note's reason %q, want one that says %q", r.Reason, reason)
	case r.note.Time.IsZero():
		t.Errorf("note has no time")
	}
}

// checkNothingQuarantined checks that the quarantine directory holds no
// file at all: no note, and no object without one.
func (env *upEnv) checkNothingQuarantined() {
	env.t.Helper()
	des, err := os.ReadDir(env.quarantine)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		env.t.Fatal(err)
	}
	if len(des) != 0 {
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		env.t.Fatalf("quarantine holds %v, want nothing", names)
	}
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

// testLeaders plays the broker's part of Leaders: each partition's fate and
// tenure as the test sets them. A partition it has never heard of is one
// this broker does not lead (FateSetAside), written under the zero tenure.
type testLeaders struct {
	mu       sync.Mutex
	parts    map[metadata.PartitionKey]*leaderState
	fenced   []fencedCall
	onFenced func(key metadata.PartitionKey, epoch int64, waits int) // see Fenced
}

type leaderState struct {
	fate   Fate
	tenure Tenure // the last tenure led, kept when it ends
	waits  int    // how many times Fate answered FateWait
}

// fencedCall is one call of Leaders.Fenced.
type fencedCall struct {
	key   metadata.PartitionKey
	epoch int64
}

var _ Leaders = (*testLeaders)(nil)

func newTestLeaders() *testLeaders {
	return &testLeaders{parts: make(map[metadata.PartitionKey]*leaderState)}
}

func (l *testLeaders) Fate(key metadata.PartitionKey) (Fate, Tenure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.parts[key]
	switch {
	case s == nil:
		return FateSetAside, Tenure{}
	case s.fate == FateWait:
		s.waits++
		return FateWait, Tenure{}
	case s.fate == FateCommit:
		return FateCommit, s.tenure
	}
	return s.fate, Tenure{}
}

// Fenced records the call and, as the broker does, ends the leadership of
// epoch if it is the current one: the partition waits (FateWait) for a
// decision, which onFenced, if set, is asked to make (given how many times
// Fate had answered FateWait before).
func (l *testLeaders) Fenced(key metadata.PartitionKey, epoch int64) {
	l.mu.Lock()
	l.fenced = append(l.fenced, fencedCall{key, epoch})
	s := l.parts[key]
	if s == nil || s.fate != FateCommit || s.tenure.Epoch != epoch {
		l.mu.Unlock()
		return
	}
	s.fate = FateWait
	waits, decide := s.waits, l.onFenced
	l.mu.Unlock()
	if decide != nil {
		decide(key, epoch, waits)
	}
}

// TopicName names the topics of testKey after their first byte.
func (l *testLeaders) TopicName(id metadata.TopicID) string {
	return fmt.Sprintf("topic-%d", id[0])
}

func (l *testLeaders) state(key metadata.PartitionKey) *leaderState {
	s := l.parts[key]
	if s == nil {
		s = &leaderState{fate: FateSetAside}
		l.parts[key] = s
	}
	return s
}

// lead records that this broker leads key under l.
func (l *testLeaders) lead(key metadata.PartitionKey, ld metadata.Leadership) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state(key)
	s.fate, s.tenure = FateCommit, Tenure{Epoch: ld.Epoch, LeaderEpoch: ld.LeaderEpoch}
}

// decide sets key's fate, keeping its last tenure.
func (l *testLeaders) decide(key metadata.PartitionKey, f Fate) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state(key).fate = f
}

func (l *testLeaders) tenure(key metadata.PartitionKey) Tenure {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.parts[key]; s != nil {
		return s.tenure
	}
	return Tenure{}
}

func (l *testLeaders) fate(key metadata.PartitionKey) Fate {
	f, _ := l.Fate(key)
	return f
}

func (l *testLeaders) fencedCalls() []fencedCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.fenced)
}

// awaitWaits waits until Fate has answered FateWait for key n times in all.
func (l *testLeaders) awaitWaits(ctx context.Context, key metadata.PartitionKey, n int) error {
	for {
		l.mu.Lock()
		got := 0
		if s := l.parts[key]; s != nil {
			got = s.waits
		}
		l.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Fate answered FateWait %d times for partition %d, waiting for %d: %w", got, key.Partition, n, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// resumeOnFenced plays the broker's reconciler when a commit is fenced: once
// the uploader has asked for the partition's fate and been told to wait (so
// that an uploader that does not wait for the decision fails the test), it
// tries to resume the ended tenure (metadata.Store.ResumeLeadership with the
// fenced epoch) and answers FateCommit under the resumed tenure, or
// FateSetAside if another broker has led the partition since.
func (env *upEnv) resumeOnFenced() {
	t := env.t
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(cancel)
	env.leaders.mu.Lock()
	defer env.leaders.mu.Unlock()
	env.leaders.onFenced = func(key metadata.PartitionKey, epoch int64, waits int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := env.leaders.awaitWaits(ctx, key, waits+1); err != nil {
				t.Errorf("after Fenced: %v", err)
				env.leaders.decide(key, FateSetAside)
				return
			}
			l, err := env.store.ResumeLeadership(ctx, key, 1, epoch)
			switch {
			case err == nil:
				env.leaders.lead(key, l)
			case errors.Is(err, metadata.ErrNotResumable), errors.Is(err, metadata.ErrNotLeader):
				env.leaders.decide(key, FateSetAside)
			default:
				t.Errorf("resume partition %d: %v", key.Partition, err)
				env.leaders.decide(key, FateSetAside)
			}
		}()
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// gatheredCounter is the value reg exports for the counter name{label=value},
// or for name if label is "".
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
			if label == "" {
				return m.GetCounter().GetValue()
			}
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
				env.write(k, batchSpec{Records: 1 + i%4, ValueSize: 10 + 100*round})
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
	env.checkNothingQuarantined()
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
		env.write(k, batchSpec{ProducerID: 100, ProducerEpoch: 0, BaseSequence: seq100, Records: 2})
		log = append(log, sent{100, 0, seq100, 2, base})
		seq100 += 2
		if i == 3 {
			env.write(k, batchSpec{})
			base := env.nextOff[k]
			env.write(k, batchSpec{ProducerID: 200, ProducerEpoch: 3, BaseSequence: 40, Records: 5})
			log = append(log, sent{200, 3, 40, 5, base})
		}
	}
	env.seal()
	base := env.nextOff[k]
	env.write(k, batchSpec{ProducerID: 100, ProducerEpoch: 1, BaseSequence: 0, Records: 1})
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

// testFencedThenResumed: the leadership ends (its key is deleted, as when
// the lease ends) after records were appended and before their commit. The
// commit is fenced; the uploader tells the broker (Leaders.Fenced) and waits
// for its decision; the broker resumes the tenure (no one led the partition
// since) and the same records are committed under the new fencing epoch at
// their offsets. Nothing is set aside, and the next segment is committed
// under the resumed tenure as usual.
func testFencedThenResumed(t *testing.T, env *upEnv) {
	a, b := testKey(4, 0), testKey(4, 1)
	epochA := env.lead(a)
	old := env.take(b)
	env.resumeOnFenced()
	c := newCommits()
	reg := prometheus.NewPedanticRegistry()
	_, stop := env.start(c, reg, nil)
	env.write(a, batchSpec{})
	env.write(b, batchSpec{Records: 2})
	env.write(a, batchSpec{})
	env.write(b, batchSpec{Records: 4})
	env.resign(b)
	env.seal()
	seq := env.lastSeq
	c.wait(t, 1)

	if r := c.result(t, seq, a); r.Err != nil || r.Epoch != epochA {
		t.Fatalf("partition a: %+v, want a commit under epoch %d", r, epochA)
	}
	if got := env.leaders.fencedCalls(); !slices.Equal(got, []fencedCall{{b, old.Epoch}}) {
		t.Fatalf("Leaders.Fenced calls %+v, want one for partition b, epoch %d", got, old.Epoch)
	}
	cur := env.leaders.tenure(b)
	if cur.Epoch == old.Epoch || cur.LeaderEpoch != old.LeaderEpoch {
		t.Fatalf("tenure after the resume %+v, want a new fencing epoch and leader epoch %d", cur, old.LeaderEpoch)
	}
	if r := c.result(t, seq, b); r.Err != nil || r.Epoch != cur.Epoch || r.State.HighWatermark != 6 {
		t.Fatalf("partition b: %+v, want a commit to offset 6 under the resumed epoch %d", r, cur.Epoch)
	}
	env.checkCommitted(a)
	env.checkCommitted(b)
	env.checkNothingQuarantined()
	if env.hasSegmentFile(seq) {
		t.Fatal("segment not removed after its records were committed")
	}

	// The resumed tenure goes on from the state the uploader committed.
	env.write(b, batchSpec{Records: 1})
	env.seal()
	c.wait(t, 2)
	stop()
	if r := c.result(t, env.lastSeq, b); r.Err != nil || r.Epoch != cur.Epoch || r.Entry.BaseOffset != 6 {
		t.Fatalf("partition b, next segment: %+v, want a commit from offset 6 under epoch %d", r, cur.Epoch)
	}
	env.checkCommitted(b)
	if got := gatheredCounter(t, reg, "strata_tiering_quarantined_batches_total", "", ""); got != 0 {
		t.Errorf("quarantined batches = %v, want 0", got)
	}
}

// testFencedThenTaken: as testFencedThenResumed, but another broker took the
// partition before the commit (and holds it still, or released it): the
// ended tenure cannot be resumed, so its records are set aside in the
// quarantine, byte for byte, and the Result says ErrSetAside. Nothing is
// committed at their offsets, the uploader forgets the partition, and the
// segment is removed.
func testFencedThenTaken(t *testing.T, env *upEnv, held bool) {
	ctx := t.Context()
	a, b := testKey(4, 0), testKey(4, 1)
	env.lead(a)
	old := env.take(b)
	env.resumeOnFenced()
	c := newCommits()
	reg := prometheus.NewPedanticRegistry()
	u, stop := env.start(c, reg, nil)
	env.write(a, batchSpec{})
	b1 := env.write(b, batchSpec{Records: 2})
	env.write(a, batchSpec{})
	b2 := env.write(b, batchSpec{Records: 4})
	env.resign(b)
	other := env.newStore()
	l, err := other.AcquireLeadership(ctx, b, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !held {
		if err := other.ResignLeadership(ctx, b, l.Epoch); err != nil {
			t.Fatal(err)
		}
	}
	env.seal()
	seq := env.lastSeq
	c.wait(t, 1)
	stop()

	if r := c.result(t, seq, a); r.Err != nil {
		t.Fatalf("partition a: %v", r.Err)
	}
	if r := c.result(t, seq, b); !errors.Is(r.Err, ErrSetAside) || r.Epoch != old.Epoch {
		t.Fatalf("partition b: %+v, want ErrSetAside for epoch %d", r, old.Epoch)
	}
	if got := env.leaders.fencedCalls(); !slices.Equal(got, []fencedCall{{b, old.Epoch}}) {
		t.Fatalf("Leaders.Fenced calls %+v, want one for partition b, epoch %d", got, old.Epoch)
	}
	if f := env.leaders.fate(b); f != FateSetAside {
		t.Fatalf("fate of b after the attempt to resume: %v, want FateSetAside", f)
	}
	env.checkCommitted(a)
	env.checkManifest(b, nil, 0)
	env.checkQuarantined(b, seq, [][]byte{b1, b2}, "commit")
	if got := gatheredCounter(t, reg, "strata_tiering_quarantined_batches_total", "", ""); got != 2 {
		t.Errorf("quarantined batches = %v, want 2", got)
	}
	u.mu.Lock()
	_, kept := u.parts[b]
	u.mu.Unlock()
	if kept {
		t.Error("set-aside partition not forgotten")
	}
	if env.hasSegmentFile(seq) {
		t.Fatal("segment not removed after its records were set aside")
	}
}

// setAsideCase is a partition whose WAL records this broker may not commit
// under its current leadership of it, if any.
type setAsideCase struct {
	name string
	// setup writes the partition's WAL records (without sealing) and moves
	// its leadership on; it says what must end up where.
	setup func(t *testing.T, env *upEnv, k metadata.PartitionKey) setAsideWant
}

type setAsideWant struct {
	committed   [][]byte // the manifest's batches after the upload
	hwm         int64    // and its high watermark
	quarantined [][]byte
	skipped     int // WAL batches the tenure that wrote them had committed
}

var setAsideCases = []setAsideCase{
	{"NeverLed", func(t *testing.T, env *upEnv, k metadata.PartitionKey) setAsideWant {
		// Not led and no epoch history: bound by the high watermark (0).
		w := [][]byte{env.write(k, batchSpec{Records: 2}), env.write(k, batchSpec{Records: 2})}
		return setAsideWant{quarantined: w}
	}},
	{"NotLedTakenSince", func(t *testing.T, env *upEnv, k metadata.PartitionKey) setAsideWant {
		// Its tenure committed the first two batches before it ended
		// (a crash between commit and WAL removal); the next tenure, another
		// broker's, began at offset 6.
		l := env.take(k)
		w0, w1, w2 := env.write(k, batchSpec{}), env.write(k, batchSpec{}), env.write(k, batchSpec{})
		env.commitAsCrashed(env.store, k, l.Epoch, w0, w1)
		env.resign(k)
		if _, err := env.newStore().AcquireLeadership(t.Context(), k, 2); err != nil {
			t.Fatal(err)
		}
		env.leaders.decide(k, FateSetAside)
		return setAsideWant{committed: [][]byte{w0, w1}, hwm: 6, quarantined: [][]byte{w2}, skipped: 2}
	}},
	{"NotLedNobodySince", func(t *testing.T, env *upEnv, k metadata.PartitionKey) setAsideWant {
		// No tenure began since: bound by the high watermark (3).
		l := env.take(k)
		w0, w1, w2 := env.write(k, batchSpec{}), env.write(k, batchSpec{}), env.write(k, batchSpec{})
		env.commitAsCrashed(env.store, k, l.Epoch, w0)
		env.resign(k)
		env.leaders.decide(k, FateSetAside)
		return setAsideWant{committed: [][]byte{w0}, hwm: 3, quarantined: [][]byte{w1, w2}, skipped: 1}
	}},
	{"LedAgain", func(t *testing.T, env *upEnv, k metadata.PartitionKey) setAsideWant {
		// This broker lost the partition with records uncommitted and led it
		// again (leader epoch 1, from the high watermark 0): the old tenure's
		// records are not committed at the new tenure's offsets.
		env.take(k)
		w := [][]byte{env.write(k, batchSpec{Records: 3}), env.write(k, batchSpec{Records: 3})}
		env.resign(k)
		if l := env.take(k); l.LeaderEpoch != 1 {
			t.Fatalf("tenure %+v, want leader epoch 1", l)
		}
		env.nextOff[k] = 0
		n := [][]byte{env.write(k, batchSpec{Records: 4}), env.write(k, batchSpec{Records: 1})}
		return setAsideWant{committed: n, hwm: 5, quarantined: w}
	}},
	{"OlderLeaderEpoch", func(t *testing.T, env *upEnv, k metadata.PartitionKey) setAsideWant {
		// Leader epoch 0 committed its first batch (offsets 0-2); another
		// broker led the partition (epoch 1, from offset 3), committed its
		// own records at 3-5 and released it; this broker leads it again
		// (epoch 2, from offset 6). The old batch at 3-5 lies below where
		// epoch 2 began but was never committed: it is set aside.
		l := env.take(k)
		w0, w1, w2 := env.write(k, batchSpec{}), env.write(k, batchSpec{}), env.write(k, batchSpec{})
		env.commitAsCrashed(env.store, k, l.Epoch, w0)
		env.resign(k)
		other := env.newStore()
		o, err := other.AcquireLeadership(t.Context(), k, 2)
		if err != nil {
			t.Fatal(err)
		}
		theirs := makeBatch(t, batchSpec{BaseOffset: 3, Records: 3, Timestamp: 1_800_000_000_000, ValueSize: 20, Seed: 99})
		batch.SetPartitionLeaderEpoch(theirs, o.LeaderEpoch)
		env.commitAsCrashed(other, k, o.Epoch, theirs)
		if err := other.ResignLeadership(t.Context(), k, o.Epoch); err != nil {
			t.Fatal(err)
		}
		if l := env.take(k); l.LeaderEpoch != 2 || l.History[len(l.History)-1].StartOffset != 6 {
			t.Fatalf("tenure %+v, want leader epoch 2 from offset 6", l)
		}
		env.nextOff[k] = 6
		n0, n1 := env.write(k, batchSpec{Records: 4}), env.write(k, batchSpec{Records: 1})
		return setAsideWant{committed: [][]byte{w0, theirs, n0, n1}, hwm: 11, quarantined: [][]byte{w1, w2}, skipped: 1}
	}},
}

// testSetAside: the WAL records of a tenure that ended and was not resumed
// are not committed under this broker's leadership, if any: those the tenure
// had committed are skipped (the epoch history says where the next tenure
// began), the others are written to the quarantine, byte for byte, with a
// note of their offsets, leader epoch and reason, before the WAL segment is
// removed. A partition led as usual in the same segment is committed.
func testSetAside(t *testing.T, env *upEnv, sc setAsideCase) {
	led, k := testKey(5, 0), testKey(5, 1)
	env.lead(led)
	env.write(led, batchSpec{})
	want := sc.setup(t, env, k)
	env.write(led, batchSpec{})
	env.seal()
	seq := env.lastSeq
	reg := prometheus.NewPedanticRegistry()
	u, c := env.uploadOne(reg)

	_, res := c.all()
	for _, r := range res[seq] {
		if r.Err != nil {
			t.Fatalf("partition %d: %v", r.Key.Partition, r.Err)
		}
		if r.Key == k && r.Epoch != env.leaders.tenure(k).Epoch {
			t.Fatalf("partition %d committed under epoch %d, not its current one", r.Key.Partition, r.Epoch)
		}
	}
	c.result(t, seq, led)
	env.checkCommitted(led)
	env.checkManifest(k, want.committed, want.hwm)
	env.checkQuarantined(k, seq, want.quarantined, "")
	for _, r := range readQuarantine(t, env.quarantine) {
		if r.Key() != k {
			t.Fatalf("partition %d, led as usual, quarantined: %+v", r.Partition, r.QuarantinedRange)
		}
	}
	if got := gatheredCounter(t, reg, "strata_tiering_quarantined_batches_total", "", ""); got != float64(len(want.quarantined)) {
		t.Errorf("quarantined batches = %v, want %d", got, len(want.quarantined))
	}
	if got := counterValue(t, u.m.skippedBatches.WithLabelValues("committed")); got != float64(want.skipped) {
		t.Errorf("batches skipped as committed = %v, want %d", got, want.skipped)
	}
	if got := env.leaders.fencedCalls(); len(got) != 0 {
		t.Errorf("Leaders.Fenced called: %+v", got)
	}
	if env.hasSegmentFile(seq) {
		t.Fatal("segment not removed after its records were committed or set aside")
	}
}

// testResumedTenureCommitted: a broker back after its lease ended resumed
// its last tenure (no one led the partition since): that tenure's WAL
// records, appended under the old fencing epoch but stamped with the same
// Kafka leader epoch, are committed under the new fencing epoch at their
// offsets, followed by the resumed tenure's own.
func testResumedTenureCommitted(t *testing.T, env *upEnv) {
	k := testKey(12, 0)
	old := env.take(k)
	env.write(k, batchSpec{Records: 3})
	env.write(k, batchSpec{Records: 3})
	env.resign(k) // the lease ended
	l, err := env.store.ResumeLeadership(t.Context(), k, 1, old.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if l.Epoch == old.Epoch || l.LeaderEpoch != old.LeaderEpoch || l.Resumed != old.Epoch {
		t.Fatalf("resumed tenure %+v of %+v", l, old)
	}
	env.leaders.lead(k, l)
	env.write(k, batchSpec{Records: 2}) // continues at offset 6, as replay leaves it
	env.seal()

	_, c := env.uploadOne(prometheus.NewPedanticRegistry())

	if r := c.result(t, env.lastSeq, k); r.Err != nil || r.Epoch != l.Epoch {
		t.Fatalf("result %+v, want a commit under the resumed epoch %d", r, l.Epoch)
	}
	if st := env.checkCommitted(k); st.HighWatermark != 8 {
		t.Fatalf("high watermark %d, want 8 (the resumed tenure's records and the new ones)", st.HighWatermark)
	}
	env.checkNothingQuarantined()
}

// testWait: a partition whose leadership ended without a hand-off and whose
// fate the broker has not decided yet (FateWait, as after a restart whose
// lease had ended) holds its WAL segment back: nothing is PUT, committed or
// set aside and the segment stays while the uploader keeps asking. Once
// decided, the records are committed under the resumed tenure, or set aside
// if another broker took the partition meanwhile.
func testWait(t *testing.T, env *upEnv, resume bool) {
	k := testKey(13, 0)
	old := env.take(k)
	w := [][]byte{env.write(k, batchSpec{Records: 2}), env.write(k, batchSpec{Records: 3})}
	env.resign(k)
	env.leaders.decide(k, FateWait)
	env.seal()
	seq := env.lastSeq
	c := newCommits()
	_, stop := env.start(c, nil, nil)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := env.leaders.awaitWaits(ctx, k, 3); err != nil {
		t.Fatal(err)
	}
	if segs, _ := c.all(); len(segs) != 0 {
		t.Fatalf("segments handled while the partition's fate was undecided: %v", segs)
	}
	if !env.hasSegmentFile(seq) {
		t.Fatal("segment removed while the partition's fate was undecided")
	}
	if objs := env.objects(); len(objs) != 0 {
		t.Fatalf("objects stored while the partition's fate was undecided: %v", objs)
	}
	env.checkManifest(k, nil, 0)
	env.checkNothingQuarantined()

	var cur metadata.Leadership
	if resume {
		var err error
		if cur, err = env.store.ResumeLeadership(ctx, k, 1, old.Epoch); err != nil {
			t.Fatal(err)
		}
		env.leaders.lead(k, cur)
	} else {
		if _, err := env.newStore().AcquireLeadership(ctx, k, 2); err != nil {
			t.Fatal(err)
		}
		env.leaders.decide(k, FateSetAside)
	}
	c.wait(t, 1)
	stop()

	if env.hasSegmentFile(seq) {
		t.Fatal("segment not removed once decided")
	}
	if resume {
		if r := c.result(t, seq, k); r.Err != nil || r.Epoch != cur.Epoch {
			t.Fatalf("result %+v, want a commit under the resumed epoch %d", r, cur.Epoch)
		}
		env.checkCommitted(k)
		env.checkNothingQuarantined()
	} else {
		if _, res := c.all(); len(res[seq]) != 0 {
			t.Fatalf("results %+v, want none", res[seq])
		}
		env.checkManifest(k, nil, 0)
		env.checkQuarantined(k, seq, w, "")
	}
	if got := env.leaders.fencedCalls(); len(got) != 0 {
		t.Errorf("Leaders.Fenced called: %+v", got)
	}
}

// testDeletedTopicDropped: the records of a partition whose topic was
// deleted (FateDrop) are neither committed, though its leader key still
// holds, nor set aside; the segment is removed once the rest is committed.
func testDeletedTopicDropped(t *testing.T, env *upEnv) {
	kept, gone := testKey(14, 0), testKey(15, 0)
	env.lead(kept)
	env.lead(gone)
	env.write(gone, batchSpec{})
	env.write(kept, batchSpec{})
	env.write(gone, batchSpec{})
	env.leaders.decide(gone, FateDrop)
	env.seal()
	seq := env.lastSeq
	reg := prometheus.NewPedanticRegistry()
	_, c := env.uploadOne(reg)

	if _, res := c.all(); len(res[seq]) != 1 || res[seq][0].Key != kept || res[seq][0].Err != nil {
		t.Fatalf("results %+v, want one commit of the partition kept", res[seq])
	}
	env.checkCommitted(kept)
	env.checkManifest(gone, nil, 0)
	env.checkNothingQuarantined()
	if got := gatheredCounter(t, reg, "strata_tiering_skipped_batches_total", "reason", "deleted"); got != 2 {
		t.Errorf("batches skipped as deleted = %v, want 2", got)
	}
	if env.hasSegmentFile(seq) {
		t.Fatal("segment not removed")
	}
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
		me := e.ManifestEntry("segments/crashed.seg")
		cs = append(cs, metadata.Commit{Key: e.Key, Epoch: env.leaders.tenure(e.Key).Epoch, Entry: me,
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

	u := NewUploader(env.options())
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

	b := env.write(dup, batchSpec{Records: 2})
	if p, err := env.wal.Write(AppendEntryHeader(nil, dup, env.leaders.tenure(dup).Epoch), b); err != nil {
		t.Fatal(err)
	} else if err := p.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	env.write(dup, batchSpec{Records: 2})

	env.write(straddle, batchSpec{Records: 3}) // offsets 0-2, hwm 2: dropped
	env.written[straddle] = nil
	env.write(straddle, batchSpec{Records: 1}) // offset 3: a gap, uploaded
	env.seal()
	c.wait(t, 1)
	stop()

	env.checkCommitted(dup)
	entries := env.manifest(straddle)
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

	u := NewUploader(env.options())
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
		env.write(k, batchSpec{Records: 10, ValueSize: 10})
		env.seal()
	}
	c.wait(t, 3)
	entries := env.manifestN(k, 3)
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
	env.write(k, batchSpec{Records: 10, ValueSize: 10})
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
