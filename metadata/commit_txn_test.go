package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/conc/pool"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/testenv"
)

// countingKV counts the etcd requests a Store makes through its client:
// transactions committed (each one request) and plain reads and writes.
type countingKV struct {
	clientv3.KV
	txns, gets, puts atomic.Int64
}

func (c *countingKV) Txn(ctx context.Context) clientv3.Txn {
	return &countingTxn{Txn: c.KV.Txn(ctx), n: &c.txns}
}

func (c *countingKV) Get(ctx context.Context, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	c.gets.Add(1)
	return c.KV.Get(ctx, key, opts...)
}

func (c *countingKV) Put(ctx context.Context, key, val string, opts ...clientv3.OpOption) (*clientv3.PutResponse, error) {
	c.puts.Add(1)
	return c.KV.Put(ctx, key, val, opts...)
}

type countingTxn struct {
	clientv3.Txn
	n *atomic.Int64
}

func (t *countingTxn) If(cs ...clientv3.Cmp) clientv3.Txn {
	t.Txn = t.Txn.If(cs...)
	return t
}

func (t *countingTxn) Then(ops ...clientv3.Op) clientv3.Txn {
	t.Txn = t.Txn.Then(ops...)
	return t
}

func (t *countingTxn) Else(ops ...clientv3.Op) clientv3.Txn {
	t.Txn = t.Txn.Else(ops...)
	return t
}

func (t *countingTxn) Commit() (*clientv3.TxnResponse, error) {
	t.n.Add(1)
	return t.Txn.Commit()
}

// countingStore is a Store on a client of its own whose requests kv counts.
func countingStore(t *testing.T, env *storeEnv, opts Options) (*Store, *countingKV) {
	t.Helper()
	c := env.client(t)
	kv := &countingKV{KV: c.KV}
	c.KV = kv
	opts.Prefix = env.prefix
	s, err := New(t.Context(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, kv
}

// acquireAll makes s lead n partitions of a new topic.
func acquireAll(t *testing.T, s *Store, n int) ([]PartitionKey, []int64) {
	t.Helper()
	id := NewTopicID()
	keys := make([]PartitionKey, n)
	epochs := make([]int64, n)
	p := pool.New().WithMaxGoroutines(32)
	for i := range keys {
		keys[i] = PartitionKey{Topic: id, Partition: int32(i)}
		p.Go(func() { epochs[i] = acquire(t, s, keys[i], 1) })
	}
	p.Wait()
	return keys, epochs
}

// sealCommits is one seal's commits of every partition: one range each
// of one object, with the states a busy log has.
func sealCommits(keys []PartitionKey, epochs []int64, base int64) []Commit {
	commits := make([]Commit, len(keys))
	for i, k := range keys {
		c := commitFor(k, epochs[i], base, 7)
		c.Entry.Object = "segments/1f2e3d4c-b1-00000000000000000042.seg"
		c.Entry.Committed = 1764930000000 + base
		commits[i] = c
	}
	return commits
}

// The transaction suite runs against etcd servers started with the large
// limits (LargeTxnLimits): the embedded one and a real process.

func TestCommitTxnEmbedded(t *testing.T) {
	e, err := StartEmbedded(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	runStoreCases(t, e.Endpoints(), commitTxnSuite)
}

func TestCommitTxnEtcd(t *testing.T) {
	runStoreCases(t, []string{testenv.StartEtcd(t).Endpoint}, commitTxnSuite)
}

var commitTxnSuite = []storeCase{
	{"OneTransaction", testCommitOneTransaction},
	{"SmallTransactions", testCommitSmallTransactions},
	{"FencedInOneTransaction", testCommitFencedInOneTransaction},
	{"DefaultLimitsSplit", testCommitDefaultLimitsSplit},
	{"OldManifestEntries", testOldManifestEntries},
}

// testCommitOneTransaction: a seal over 800 partitions (some 430 KB of
// commits) is one etcd request, a transaction, and nothing else.
func testCommitOneTransaction(t *testing.T, env *storeEnv) {
	const n = 800
	s, kv := countingStore(t, env, Options{})
	keys, epochs := acquireAll(t, s, n)
	commits := sealCommits(keys, epochs, 0)
	txns, gets, puts := kv.txns.Load(), kv.gets.Load(), kv.puts.Load()
	before := revision(t, s)
	gets++ // revision's own read
	mustCommit(t, s, commits...)
	if got := kv.txns.Load() - txns; got != 1 {
		t.Errorf("a commit over %d partitions sent %d transactions, want 1", n, got)
	}
	if g, p := kv.gets.Load()-gets, kv.puts.Load()-puts; g != 0 || p != 0 {
		t.Errorf("a commit made %d reads and %d puts besides its transaction, want none", g, p)
	}
	if delta := revision(t, s) - before; delta != 1 {
		t.Errorf("the commit took %d revisions, want 1", delta)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		m, err := s.Manifest(t.Context(), keys[i])
		if err != nil {
			t.Fatal(err)
		}
		st, err := s.PartitionState(t.Context(), keys[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || !reflect.DeepEqual(m[0], commits[i].Entry) || !reflect.DeepEqual(st, commits[i].State) {
			t.Errorf("partition %d: manifest %+v, state %+v; want %+v, %+v", i, m, st, commits[i].Entry, commits[i].State)
		}
	}
}

// testCommitSmallTransactions: a seal over 5,000 partitions (some 2.7 MB)
// goes in transactions of at most maxCommitTxnBytes, not one of 2.7 MB
// that would hold etcd's apply queue (and lease renewals) for seconds:
// six of them, each with every commit of its partitions.
func testCommitSmallTransactions(t *testing.T, env *storeEnv) {
	const n = 5000
	s, kv := countingStore(t, env, Options{})
	keys, epochs := acquireAll(t, s, n)
	commits := sealCommits(keys, epochs, 0)
	txns := kv.txns.Load()
	mustCommit(t, s, commits...)
	if got := kv.txns.Load() - txns; got != 6 {
		t.Errorf("a commit over %d partitions sent %d transactions, want 6 of at most 512 KiB", n, got)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if m, err := s.Manifest(t.Context(), keys[i]); err != nil || len(m) != 1 || !reflect.DeepEqual(m[0], commits[i].Entry) {
			t.Errorf("partition %d: manifest %+v (%v), want %+v", i, m, err, commits[i].Entry)
		}
	}
}

// testCommitFencedInOneTransaction: partitions another broker took fail
// alone inside the one transaction: the transaction goes again without
// them (two requests), and every other partition commits.
func testCommitFencedInOneTransaction(t *testing.T, env *storeEnv) {
	const n = 800
	reg := prometheus.NewRegistry()
	a, kv := countingStore(t, env, Options{Registerer: reg})
	b := env.store(t)
	keys, epochs := acquireAll(t, a, n)
	fenced := func(i int) bool { return i%97 == 5 }
	for i, k := range keys {
		if fenced(i) {
			if err := a.ResignLeadership(t.Context(), k, epochs[i]); err != nil {
				t.Fatal(err)
			}
			acquire(t, b, k, 2)
		}
	}
	commits := sealCommits(keys, epochs, 100)
	txns := kv.txns.Load()
	errs := a.CommitSegments(t.Context(), commits)
	for i, err := range errs {
		if fenced(i) != errors.Is(err, ErrFenced) || (!fenced(i) && err != nil) {
			t.Errorf("commit %d: %v (fenced: %v)", i, err, fenced(i))
		}
	}
	if got := kv.txns.Load() - txns; got != 2 {
		t.Errorf("sent %d transactions, want 2 (one failing on the fenced partitions, one without them)", got)
	}
	for _, i := range []int{4, 5, 6, 5 + 97} {
		m, err := a.Manifest(t.Context(), keys[i])
		if err != nil {
			t.Fatal(err)
		}
		if fenced(i) != (len(m) == 0) {
			t.Errorf("partition %d (fenced: %v): manifest %+v", i, fenced(i), m)
		}
	}
	// The metrics count the call and its transactions.
	for name, want := range map[string]float64{
		"strata_metadata_commit_calls_total":        1,
		"strata_metadata_commits_total":             n,
		"strata_metadata_commit_transactions_total": 2,
	} {
		if got := gatheredValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// testCommitDefaultLimitsSplit: within etcd's default limits the same
// seal is cut into transactions of 64 partitions, which etcd accepts.
func testCommitDefaultLimitsSplit(t *testing.T, env *storeEnv) {
	const n = 1000
	s, kv := countingStore(t, env, Options{TxnLimits: DefaultTxnLimits})
	keys, epochs := acquireAll(t, s, n)
	txns := kv.txns.Load()
	mustCommit(t, s, sealCommits(keys, epochs, 0)...)
	if got, want := kv.txns.Load()-txns, int64((n+63)/64); got != want {
		t.Errorf("sent %d transactions, want %d", got, want)
	}
}

// testOldManifestEntries: entries written as JSON (as every release so
// far writes them) and in the compact form (as the next will) read
// (Manifest, ReferencedObjects) and are replaced as any.
func testOldManifestEntries(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	k := PartitionKey{Topic: NewTopicID(), Partition: 3}
	epoch := acquire(t, s, k, 1)
	old := []ManifestEntry{
		{Object: "segments/old-a.seg", Position: 10, Size: 20, BaseOffset: 0, LastOffset: 4, MaxTimestamp: 17, Batches: 2, CRC: 99},
		{Object: "segments/old-b.seg", Position: 0, Size: 30, BaseOffset: 5, LastOffset: 9, MaxTimestamp: 18, Batches: 1, CRC: 7,
			IndexSize: 12, Committed: 1700000000000, Aborted: []AbortedTxn{{ProducerID: 1001, FirstOffset: 5, LastOffset: 8, Stable: 9}}},
	}
	for i, e := range old {
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		// The JSON form as it was written: field names as before.
		if !strings.Contains(string(raw), `"object":`) || !strings.Contains(string(raw), `"maxTs":`) {
			t.Fatalf("JSON form changed: %s", raw)
		}
		if i == 1 {
			raw = encodeManifestEntry(e) // as the next release writes it
		}
		if _, err := s.Client().Put(ctx, s.keys.manifestEntry(k, e.BaseOffset), string(raw)); err != nil {
			t.Fatal(err)
		}
	}
	next := commitFor(k, epoch, 10, 5)
	mustCommit(t, s, next)
	m, err := s.Manifest(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(append([]ManifestEntry{}, old...), next.Entry); !reflect.DeepEqual(m, want) {
		t.Errorf("manifest %+v, want %+v", m, want)
	}
	refs, _, err := s.ReferencedObjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m {
		if _, ok := refs[e.Object]; !ok {
			t.Errorf("ReferencedObjects misses %s", e.Object)
		}
	}
	merged := ManifestEntry{Object: "segments/merged.seg", Size: 50, BaseOffset: 0, LastOffset: 9, Batches: 3, CRC: 1}
	if err := s.ReplaceEntries(ctx, k, epoch, old, merged); err != nil {
		t.Fatal(err)
	}
	if m, err = s.Manifest(ctx, k); err != nil || !reflect.DeepEqual(m, []ManifestEntry{merged, next.Entry}) {
		t.Errorf("after replacing the JSON entries: %+v, %v", m, err)
	}
}

// TestCommitRefusedLimits: against an etcd with its default
// --max-txn-ops, a Store that assumes the large limits has its first
// transaction refused, lowers its limits and commits everything; later
// seals go within the lowered limits at once. A stock --max-request-bytes
// (1.5 MiB) refuses nothing: no transaction is above maxCommitTxnBytes,
// not even one whose commits fill a gRPC message (~2.4 KiB each) or a
// raft entry (~1.5 KiB each) of a large transaction.
func TestCommitRefusedLimits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   []string
		limit   func(TxnLimits) int
		want    int
		refused bool
		n       int
		state   int // bytes of producer state per partition
	}{
		{"ops", []string{"--max-txn-ops", "128"}, func(l TxnLimits) int { return l.MaxOps }, DefaultTxnLimits.MaxOps, true, 200, 0},
		{"bytes", []string{"--max-request-bytes", "1572864"}, func(l TxnLimits) int { return l.MaxRequestBytes }, LargeTxnLimits.MaxRequestBytes, false, 1200, 2 << 10},
		{"raft bytes", []string{"--max-request-bytes", "1572864"}, func(l TxnLimits) int { return l.MaxRequestBytes }, LargeTxnLimits.MaxRequestBytes, false, 1200, 1100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			etcd := testenv.StartEtcdWith(t, tc.flags...)
			env := &storeEnv{endpoints: []string{etcd.Endpoint}, prefix: "/strata-test/" + t.Name() + "/"}
			reg := prometheus.NewRegistry()
			s, kv := countingStore(t, env, Options{Registerer: reg})
			keys, epochs := acquireAll(t, s, tc.n)
			seal := func(base int64) []Commit {
				commits := sealCommits(keys, epochs, base)
				for i := range commits {
					commits[i].State.Producers = bigProducers(tc.state)
				}
				return commits
			}
			txns := kv.txns.Load()
			mustCommit(t, s, seal(0)...)
			first := kv.txns.Load() - txns
			if got := tc.limit(s.txn.get()); got != tc.want {
				t.Errorf("limit after the first seal: %d, want %d", got, tc.want)
			}
			refused := 0.0
			if tc.refused {
				refused = 1
			}
			if got := gatheredValue(t, reg, "strata_metadata_commit_transactions_refused_total"); got != refused {
				t.Errorf("refused transactions: %v, want %v", got, refused)
			}
			txns = kv.txns.Load()
			mustCommit(t, s, seal(7)...)
			second := kv.txns.Load() - txns
			if first != second+int64(refused) {
				t.Errorf("first seal: %d transactions, second: %d; want %v refused more the first time", first, second, refused)
			}
			if second < 2 {
				t.Errorf("second seal in %d transactions: the limits did not bind", second)
			}
			m, err := s.Manifest(t.Context(), keys[tc.n-1])
			if err != nil || len(m) != 2 {
				t.Errorf("last partition's manifest: %+v, %v", m, err)
			}
		})
	}
}

// bigProducers is producer state of about n bytes of JSON.
func bigProducers(n int) map[int64]ProducerState {
	if n == 0 {
		return nil
	}
	ps := map[int64]ProducerState{}
	for id := int64(1000); n > 0; id++ {
		ps[id] = ProducerState{Epoch: 1, Batches: []ProducerBatch{{FirstSeq: 1, LastSeq: 2, BaseOffset: 3}}}
		n -= 80
	}
	return ps
}

func gatheredValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestEtcdTxnFlags: the etcd servers of the test environment and of the
// terraform module are started with the embedded server's limits, which a
// Store assumes.
func TestEtcdTxnFlags(t *testing.T) {
	if got := (TxnLimits{MaxOps: testenv.EtcdMaxTxnOps, MaxRequestBytes: testenv.EtcdMaxRequestBytes}); got != LargeTxnLimits {
		t.Errorf("testenv starts etcd with %+v, want LargeTxnLimits %+v", got, LargeTxnLimits)
	}
	tpl, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "terraform/modules/aws/templates/etcd.yaml.tftpl"))
	if err != nil {
		t.Fatal(err)
	}
	for flag, want := range map[string]int{"max-txn-ops": LargeTxnLimits.MaxOps, "max-request-bytes": LargeTxnLimits.MaxRequestBytes} {
		if m := regexp.MustCompile(`--` + flag + `=(\d+)`).FindSubmatch(tpl); m == nil || string(m[1]) != strconv.Itoa(want) {
			t.Errorf("the terraform etcd members run with --%s %q, want %d", flag, m, want)
		}
	}
}

func TestManifestCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	entries := []ManifestEntry{
		{},
		{Object: "segments/1f2e3d4c-b1-00000000000000000042.seg", Position: 123456, Size: 789, BaseOffset: 1 << 40,
			LastOffset: 1<<40 + 99, MaxTimestamp: 1764930000000, Batches: 3, CRC: 0xffffffff, Committed: 1764930000001},
		{Object: "x", BaseOffset: 5, LastOffset: 4, MaxTimestamp: -1, Batches: 1, IndexSize: 4096,
			Aborted: []AbortedTxn{{ProducerID: 1000, FirstOffset: 1, LastOffset: 4, Stable: 2}, {ProducerID: -1, FirstOffset: 3, LastOffset: 3, Stable: 5}}},
	}
	for range 200 {
		e := ManifestEntry{Object: strings.Repeat("o", r.IntN(300)), Position: r.Int64(), Size: r.Int64N(1 << 30),
			BaseOffset: r.Int64N(1 << 50), MaxTimestamp: r.Int64() - r.Int64(), Batches: r.Int32(), CRC: r.Uint32(),
			IndexSize: r.Int64N(1 << 20), Committed: r.Int64N(1 << 42)}
		e.LastOffset = e.BaseOffset + r.Int64N(1<<20)
		for range r.IntN(4) {
			e.Aborted = append(e.Aborted, AbortedTxn{ProducerID: r.Int64(), FirstOffset: r.Int64(), LastOffset: r.Int64(), Stable: r.Int64()})
		}
		entries = append(entries, e)
	}
	for i, e := range entries {
		raw := encodeManifestEntry(e)
		got, err := decodeManifestEntry(raw)
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("entry %d: %+v, %v; want %+v", i, got, err, e)
		}
		js, _ := json.Marshal(e)
		if got, err := decodeManifestEntry(js); err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("entry %d as JSON: %+v, %v; want %+v", i, got, err, e)
		}
		// Every strict prefix is refused: nothing decodes half an entry.
		for j := 1; j < len(raw); j++ {
			if _, err := decodeManifestEntry(raw[:j]); err == nil {
				t.Fatalf("entry %d: prefix of %d of %d bytes decoded", i, j, len(raw))
			}
		}
		if _, err := decodeManifestEntry(append(raw, 0)); err == nil {
			t.Fatalf("entry %d: trailing byte accepted", i)
		}
	}
	// The compact form of a seal's entry is well under half its JSON.
	e := entries[1]
	if c, j := len(encodeManifestEntry(e)), len(must(json.Marshal(e))); 2*c > j {
		t.Errorf("compact entry %d bytes, JSON %d", c, j)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCommitBytes reports the request bytes of one partition's commit in a
// seal (pendingCommit's estimate, which splitCommits packs by), with the
// manifest entry in the form written and in the compact one, and checks
// that a seal over 16,000 partitions of one topic fits one transaction
// within LargeTxnLimits.
func TestCommitBytes(t *testing.T) {
	s := &Store{keys: keys{prefix: DefaultPrefix}}
	id := NewTopicID()
	var total, compact int
	var pcs []pendingCommit
	for p := range int32(16000) {
		c := sealCommits([]PartitionKey{{Topic: id, Partition: p}}, []int64{1}, 1<<20)[0]
		c.State.HighWatermark = 1<<20 + 7
		pc, err := s.encodeCommit(int(p), c)
		if err != nil {
			t.Fatal(err)
		}
		total += pc.bytes
		compact += pc.bytes - len(pc.puts[0][1]) + len(encodeManifestEntry(c.Entry))
		pcs = append(pcs, pc)
	}
	t.Logf("request bytes per partition commit: %d as written (compact manifest entries: %v), %d with compact entries (%d of envelope each)",
		total/len(pcs), writeCompactManifest, compact/len(pcs), commitOverhead)
	// maxCommitTxnBytes: 1,000 partitions' commits fit one transaction.
	if got := len(splitCommits(pcs[:1000], LargeTxnLimits)); got != 1 {
		t.Errorf("a seal over 1000 partitions in %d transactions, want 1", got)
	}
	if got, want := len(splitCommits(pcs, LargeTxnLimits)), (total+maxCommitTxnBytes-1)/maxCommitTxnBytes; got != want {
		t.Errorf("a seal over %d partitions in %d transactions, want %d of at most 512 KiB", len(pcs), got, want)
	}
	if saved := (total - compact) / len(pcs); !writeCompactManifest && saved < 100 {
		t.Errorf("the compact form saves %d bytes per commit", saved)
	}
}

// TestCommitBytesEstimate: pendingCommit.bytes is at least what a commit
// adds to the transaction's request as etcd sizes it (protobuf).
func TestCommitBytesEstimate(t *testing.T) {
	s := &Store{keys: keys{prefix: DefaultPrefix}}
	id := NewTopicID()
	req := &etcdserverpb.TxnRequest{}
	est := 0
	for p := range int32(1000) {
		c := sealCommits([]PartitionKey{{Topic: id, Partition: p * 37}}, []int64{1 << 30}, 1<<20)[0]
		pc, err := s.encodeCommit(int(p), c)
		if err != nil {
			t.Fatal(err)
		}
		est += pc.bytes
		req.Compare = append(req.Compare, &etcdserverpb.Compare{Result: etcdserverpb.Compare_EQUAL, Target: etcdserverpb.Compare_CREATE,
			Key: []byte(pc.leaderKey), TargetUnion: &etcdserverpb.Compare_CreateRevision{CreateRevision: pc.epoch}})
		for _, kv := range pc.puts {
			req.Success = append(req.Success, &etcdserverpb.RequestOp{Request: &etcdserverpb.RequestOp_RequestPut{
				RequestPut: &etcdserverpb.PutRequest{Key: []byte(kv[0]), Value: []byte(kv[1])}}})
		}
	}
	t.Logf("1000 commits: estimated %d bytes, protobuf %d", est, req.Size())
	if est < req.Size() {
		t.Errorf("estimate %d below the request's %d bytes", est, req.Size())
	}
}
