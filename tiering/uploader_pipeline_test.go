package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// The pipeline (upload): segment N+1's PUT runs while segment N's commit is
// in etcd, commits stay in segment order, a segment prepared on a commit
// that did not land as prepared is prepared and PUT again, and OnCommit
// (what acknowledges acks=all produces and moves the high watermark) comes
// only after the commit. The tests hold commits and PUTs with channels, never
// with timings: the only time bound is the suite's hang guard.
func TestUploaderPipeline(t *testing.T) {
	runUpCases(t, []upCase{
		{"PutOverlapsCommit", testPutOverlapsCommit},
		{"CommitsInOrder", testCommitsInOrder},
		{"RefusedCommitStopsTheNext", testRefusedCommitStopsTheNext},
		{"FencedCommitRedoesTheNext", testFencedCommitRedoesTheNext},
		{"AckOnlyAfterCommit", testAckOnlyAfterCommit},
		{"ShutdownDrains", testShutdownDrains},
	})
}

// pipe holds an uploader's commits and PUTs for a test: every commit call
// goes through hold (nil: straight to etcd) and is recorded.
type pipe struct {
	env *upEnv
	u   *Uploader

	mu      sync.Mutex
	calls   []uint64                 // segment of each CommitSegments call, in call order
	waiting map[uint64]chan struct{} // closed when Run waits for that segment's commit
	started map[uint64]chan struct{} // closed when that segment's first commit call starts
	puts    map[uint64]chan struct{} // closed when that segment's first PUT starts
	inside  inFlight                 // CommitSegments calls in flight
	hold    func(ctx context.Context, seq uint64, commits []metadata.Commit) []error
}

// chanOf returns m's channel for seq, made on first use.
func (p *pipe) chanOf(m map[uint64]chan struct{}, seq uint64) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := m[seq]
	if ch == nil {
		ch = make(chan struct{})
		m[seq] = ch
	}
	return ch
}

// fire closes m's channel for seq unless it is closed.
func (p *pipe) fire(m map[uint64]chan struct{}, seq uint64) {
	ch := p.chanOf(m, seq)
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func fired(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// segOf is the WAL segment an object name was made for.
func segOf(t *testing.T, name string) uint64 {
	i := strings.LastIndexByte(name, '-')
	seq, err := strconv.ParseUint(strings.TrimSuffix(name[i+1:], ".seg"), 10, 64)
	if err != nil {
		t.Errorf("object name %q: %v", name, err)
	}
	return seq
}

// newPipe makes the hooks; start starts the uploader with them.
func newPipe(env *upEnv) *pipe {
	p := &pipe{env: env, waiting: map[uint64]chan struct{}{}, started: map[uint64]chan struct{}{}, puts: map[uint64]chan struct{}{}}
	env.bucket.SetHook(func(op, name string) error {
		if op == objectstore.OpPut {
			p.fire(p.puts, segOf(env.t, name))
		}
		return nil
	})
	return p
}

// start runs an uploader whose commits go through p; pipelined false turns
// the pipeline off (as the tests that check themselves do).
func (p *pipe) start(c *commits, onCommit func(seq uint64, results []Result), pipelined bool) (stop func()) {
	env := p.env
	opts := env.options()
	opts.OnCommit = func(seq uint64, results []Result) {
		if onCommit != nil {
			onCommit(seq, results)
		}
		c.onCommit(seq, results)
	}
	u, stop := env.startWith(opts, func(u *Uploader) {
		u.pipelined = pipelined
		u.waitingFor = func(prev *prepared) { p.fire(p.waiting, prev.seg.Seq) }
		u.commitSegments = func(ctx context.Context, commits []metadata.Commit) []error {
			seq := segOf(env.t, commits[0].Entry.Object)
			p.mu.Lock()
			p.calls = append(p.calls, seq)
			p.mu.Unlock()
			p.fire(p.started, seq)
			p.inside.enter()
			defer p.inside.leave()
			if p.hold != nil {
				return p.hold(ctx, seq, commits)
			}
			return env.store.CommitSegments(ctx, commits)
		}
	})
	p.u = u
	return stop
}

// await waits for ch (a hang guard, not a performance bound).
func await(ctx context.Context, ch <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sealed writes one batch of each key and seals the segment; it returns the
// segment's sequence number and the batches.
func (env *upEnv) sealed(keys ...metadata.PartitionKey) (uint64, [][]byte) {
	env.t.Helper()
	var bs [][]byte
	for _, k := range keys {
		bs = append(bs, env.write(k, batchSpec{}))
	}
	env.seal()
	return env.lastSeq, bs
}

// (a) While segment 1's commit is held in etcd, segment 2's PUT starts.
// Checked to fail with u.pipelined = false: Run then waits for commit 1
// before it prepares segment 2, and the held commit sees no PUT of it.
func testPutOverlapsCommit(t *testing.T, env *upEnv) {
	k := testKey(20, 0)
	env.lead(k)
	seg1, _ := env.sealed(k)
	seg2, _ := env.sealed(k)
	p := newPipe(env)
	var overlapped atomic.Bool
	p.hold = func(ctx context.Context, seq uint64, commits []metadata.Commit) []error {
		if seq == seg1 {
			// Until segment 2 is PUT, or Run waits for this commit
			// without having PUT it (no pipeline).
			select {
			case <-p.chanOf(p.puts, seg2):
			case <-p.chanOf(p.waiting, seg1):
			case <-ctx.Done():
			}
			overlapped.Store(fired(p.chanOf(p.puts, seg2)))
		}
		return env.store.CommitSegments(ctx, commits)
	}
	c := newCommits()
	stop := p.start(c, nil, true)
	c.wait(t, 2)
	stop()
	if !overlapped.Load() {
		t.Fatal("segment 2 was not PUT while segment 1's commit was in flight")
	}
	env.checkCommitted(k)
	if segs, _ := c.all(); !slices.Equal(segs, []uint64{seg1, seg2}) {
		t.Fatalf("OnCommit of segments %v, want %v", segs, []uint64{seg1, seg2})
	}
	if puts, redos := env.bucket.Calls(objectstore.OpPut), counterValue(t, p.u.redos); puts != 2 || redos != 0 {
		t.Fatalf("%d PUTs, %v redos; want 2 and 0", puts, redos)
	}
}

// (b) Commits stay in segment order, one at a time, however the pipeline
// runs ahead: each commit is held until Run waits for it with the next
// segment PUT (or, were the order broken, until the next segment's commit
// starts). Checked to fail with the wait for the previous commit taken out
// of upload (commit 2 then starts while commit 1 is held).
func testCommitsInOrder(t *testing.T, env *upEnv) {
	a, b := testKey(21, 0), testKey(21, 1)
	env.lead(a)
	env.lead(b)
	const n = 6
	var segs []uint64
	for range n {
		seq, _ := env.sealed(a, b)
		segs = append(segs, seq)
	}
	p := newPipe(env)
	var overlaps atomic.Int32
	p.hold = func(ctx context.Context, seq uint64, commits []metadata.Commit) []error {
		if p.inside.n.Load() > 1 {
			overlaps.Add(1)
		}
		if i := slices.Index(segs, seq); i >= 0 && i < n-1 {
			select {
			case <-p.chanOf(p.waiting, seq):
			case <-p.chanOf(p.started, segs[i+1]):
			case <-ctx.Done():
			}
		}
		return env.store.CommitSegments(ctx, commits)
	}
	c := newCommits()
	stop := p.start(c, nil, true)
	c.wait(t, n)
	stop()
	if got := overlaps.Load(); got != 0 || p.inside.most.Load() != 1 {
		t.Fatalf("%d commits started while another was in flight (at most %d at once)", got, p.inside.most.Load())
	}
	p.mu.Lock()
	calls := slices.Clone(p.calls)
	p.mu.Unlock()
	if !slices.Equal(calls, segs) {
		t.Fatalf("commits of segments %v, want %v", calls, segs)
	}
	if got, _ := c.all(); !slices.Equal(got, segs) {
		t.Fatalf("OnCommit of segments %v, want %v", got, segs)
	}
	env.checkCommitted(a)
	env.checkCommitted(b)
	if puts, redos := env.bucket.Calls(objectstore.OpPut), counterValue(t, p.u.redos); puts != n || redos != 0 {
		t.Fatalf("%d PUTs, %v redos; want %d and 0", puts, redos, n)
	}
}

// (c) Segment 1's commit of partition a is refused (the store would not
// write it) after segment 2 was prepared and PUT on the state it would have
// left: segment 2 is prepared and PUT again, and a's batches of it are not
// committed (the broker no longer commits a once its commit failed, as
// partition.Manager.OnCommit does); b's are. Checked to fail with
// stillValid answering true: segment 2's commit of a then lands, leaving a
// gap in a's manifest where segment 1's range is missing.
func testRefusedCommitStopsTheNext(t *testing.T, env *upEnv) {
	a, b := testKey(22, 0), testKey(22, 1)
	env.lead(a)
	env.lead(b)
	seg1, in1 := env.sealed(a, b)
	seg2, in2 := env.sealed(a, b)
	p := newPipe(env)
	p.hold = func(ctx context.Context, seq uint64, commits []metadata.Commit) []error {
		if seq != seg1 {
			return env.store.CommitSegments(ctx, commits)
		}
		if err := await(ctx, p.chanOf(p.waiting, seg1)); err != nil {
			t.Errorf("segment 2 was not prepared during segment 1's commit: %v", err)
		}
		errs := make([]error, len(commits))
		var rest []metadata.Commit
		for i, c := range commits {
			if c.Key == a {
				errs[i] = fmt.Errorf("%w: injected", metadata.ErrInvalid)
			} else {
				rest = append(rest, c)
			}
		}
		res := env.store.CommitSegments(ctx, rest)
		for i := range errs {
			if errs[i] == nil {
				errs[i], res = res[0], res[1:]
			}
		}
		return errs
	}
	c := newCommits()
	stop := p.start(c, func(seq uint64, results []Result) {
		for _, r := range results {
			if r.Err != nil {
				env.leaders.decide(r.Key, FateSetAside)
			}
		}
	}, true)
	c.wait(t, 2)
	stop()

	if r := c.result(t, seg1, a); !errors.Is(r.Err, ErrSetAside) {
		t.Fatalf("segment 1, partition a: %+v, want ErrSetAside", r)
	}
	_, res := c.all()
	for _, r := range res[seg2] {
		if r.Key == a {
			t.Fatalf("segment 2 has a result for partition a after its earlier commit failed: %+v", r)
		}
	}
	env.checkManifest(a, nil, 0)
	env.checkCommitted(b)
	// Both of a's batches are in the quarantine, one range per segment.
	var got [][]byte
	for _, r := range readQuarantine(t, env.quarantine) {
		if r.Key() == a {
			got = append(got, r.data)
		}
	}
	if len(got) != 2 || !bytes.Equal(got[0], in1[0]) || !bytes.Equal(got[1], in2[0]) {
		t.Fatalf("partition a: %d quarantined ranges, want its batch of each segment", len(got))
	}
	if puts, redos := env.bucket.Calls(objectstore.OpPut), counterValue(t, p.u.redos); puts != 3 || redos != 1 {
		t.Fatalf("%d PUTs, %v redos; want 3 (segment 2 twice) and 1", puts, redos)
	}
}

// (c) Segment 1's commit of partition a is fenced (its lease ended) after
// segment 2 was prepared and PUT; the broker resumes the leadership and
// segment 1's range is committed under the new epoch. Segment 2 is redone
// and committed after it under the new epoch, and the object PUT for
// segment 2 at first is referenced by nothing. Checked to fail with
// stillValid answering true (no redo; segment 2's commit of a is then
// fenced in turn and only resolveFenced saves it).
func testFencedCommitRedoesTheNext(t *testing.T, env *upEnv) {
	a, b := testKey(23, 0), testKey(23, 1)
	old := env.take(a)
	env.lead(b)
	env.resumeOnFenced()
	seg1, _ := env.sealed(a, b)
	seg2, _ := env.sealed(a, b)
	p := newPipe(env)
	p.hold = func(ctx context.Context, seq uint64, commits []metadata.Commit) []error {
		if seq == seg1 && len(commits) == 2 { // not resolveFenced's commit again
			if err := await(ctx, p.chanOf(p.waiting, seg1)); err != nil {
				t.Errorf("segment 2 was not prepared during segment 1's commit: %v", err)
			}
			if err := env.store.ResignLeadership(ctx, a, old.Epoch); err != nil {
				t.Errorf("resign: %v", err)
			}
		}
		return env.store.CommitSegments(ctx, commits)
	}
	c := newCommits()
	stop := p.start(c, nil, true)
	c.wait(t, 2)
	stop()

	cur := env.leaders.tenure(a)
	if cur.Epoch == old.Epoch {
		t.Fatal("the leadership was not resumed")
	}
	for _, seq := range []uint64{seg1, seg2} {
		if r := c.result(t, seq, a); r.Err != nil || r.Epoch != cur.Epoch {
			t.Fatalf("segment %d, partition a: %+v, want a commit under the resumed epoch %d", seq, r, cur.Epoch)
		}
	}
	env.checkCommitted(a)
	env.checkCommitted(b)
	env.checkNothingQuarantined()
	if puts, redos := env.bucket.Calls(objectstore.OpPut), counterValue(t, p.u.redos); puts != 3 || redos != 1 {
		t.Fatalf("%d PUTs, %v redos; want 3 (segment 2 twice) and 1", puts, redos)
	}
	// The first object of segment 2 is not referenced: garbage collection
	// removes it after its grace period.
	refs, _, err := env.store.ReferencedObjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	unreferenced := 0
	for _, name := range env.objects() {
		if _, ok := refs[name]; !ok {
			unreferenced++
		}
	}
	if unreferenced != 1 {
		t.Fatalf("%d unreferenced objects, want 1 (segment 2's first)", unreferenced)
	}
}

// (d) OnCommit, which acknowledges acks=all produces and moves the high
// watermark, is called for a segment only once its object is stored and its
// entries and states are in etcd, in a pipeline running ahead. Checked to
// fail with OnCommit called in finish before store.
func testAckOnlyAfterCommit(t *testing.T, env *upEnv) {
	a, b := testKey(24, 0), testKey(24, 1)
	env.lead(a)
	env.lead(b)
	const n = 4
	var segs []uint64
	for range n {
		seq, _ := env.sealed(a, b)
		segs = append(segs, seq)
	}
	p := newPipe(env)
	p.hold = func(ctx context.Context, seq uint64, commits []metadata.Commit) []error {
		if i := slices.Index(segs, seq); i >= 0 && i < n-1 {
			if err := await(ctx, p.chanOf(p.waiting, seq)); err != nil {
				t.Errorf("segment %d was not prepared during segment %d's commit: %v", segs[i+1], seq, err)
			}
		}
		return env.store.CommitSegments(ctx, commits)
	}
	var acked atomic.Int32
	check := func(seq uint64, results []Result) {
		ctx := context.Background()
		for _, r := range results {
			if r.Err != nil {
				t.Errorf("segment %d: %+v", seq, r)
				continue
			}
			st, err := env.store.PartitionState(ctx, r.Key)
			if err != nil || st.HighWatermark < r.State.HighWatermark {
				t.Errorf("segment %d acknowledged to offset %d of partition %d, etcd has %d (%v)", seq, r.State.HighWatermark, r.Key.Partition, st.HighWatermark, err)
			}
			entries, err := env.store.Manifest(ctx, r.Key)
			if err != nil || !slices.ContainsFunc(entries, func(e metadata.ManifestEntry) bool {
				return e.Object == r.Entry.Object && e.BaseOffset == r.Entry.BaseOffset
			}) {
				t.Errorf("segment %d acknowledged before its manifest entry %s@%d was in etcd (%v)", seq, r.Entry.Object, r.Entry.BaseOffset, err)
			}
			if size, err := env.mem.Size(ctx, r.Entry.Object); err != nil || size == 0 {
				t.Errorf("segment %d acknowledged before its object %s was stored (%v)", seq, r.Entry.Object, err)
			}
			acked.Add(1)
		}
	}
	c := newCommits()
	stop := p.start(c, check, true)
	c.wait(t, n)
	stop()
	if got := acked.Load(); got != 2*n {
		t.Fatalf("%d ranges acknowledged, want %d", got, 2*n)
	}
	env.checkCommitted(a)
	env.checkCommitted(b)
}

// (e) A graceful shutdown (the WAL's Close seals the open segment and
// closes Sealed) while one commit is in flight and another segment is being
// PUT: Run returns only once every segment is committed and removed from
// the WAL. Checked to fail with Run returning without waiting for the
// commit in flight (the deferred land and the one on Sealed's close taken
// out).
func testShutdownDrains(t *testing.T, env *upEnv) {
	k := testKey(25, 0)
	env.lead(k)
	seg1, _ := env.sealed(k)
	seg2, _ := env.sealed(k)
	env.write(k, batchSpec{}) // left open: Close seals it
	closed := make(chan struct{})
	p := newPipe(env)
	p.hold = func(ctx context.Context, seq uint64, commits []metadata.Commit) []error {
		switch {
		case seq == seg1:
			if err := await(ctx, p.chanOf(p.waiting, seg1)); err != nil {
				t.Errorf("segment 2 was not prepared during segment 1's commit: %v", err)
			}
		default: // held until Close returned
			if err := await(ctx, closed); err != nil {
				t.Errorf("WAL Close did not return: %v", err)
			}
		}
		return env.store.CommitSegments(ctx, commits)
	}
	c := newCommits()
	stop := p.start(c, nil, true)
	// Close returns once the segment it seals is received: segment 2's
	// commit is then held, and that segment is being prepared and PUT.
	if err := env.wal.Close(); err != nil {
		t.Fatal(err)
	}
	close(closed)
	stop() // waits for Run
	segs, _ := c.all()
	if len(segs) != 3 || segs[0] != seg1 || segs[1] != seg2 {
		t.Fatalf("OnCommit of segments %v when Run returned, want %d, %d and the last", segs, seg1, seg2)
	}
	env.checkCommitted(k)
	for _, seq := range segs {
		if env.hasSegmentFile(seq) {
			t.Fatalf("WAL segment %d left after a graceful shutdown: %v", seq, env.segmentFiles())
		}
	}
}
