package tiering

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// Transactions through object compaction and log compaction: what a
// read_committed consumer reads back from the archive must not change.

// entriesEqual compares manifest entries field by field, Aborted lists by
// their elements (nil and empty alike).
func entriesEqual(a, b metadata.ManifestEntry) bool {
	aa, ba := a.Aborted, b.Aborted
	a.Aborted, b.Aborted = nil, nil
	return reflect.DeepEqual(a, b) && slices.Equal(aa, ba)
}

// Attribute bits of a test batch.
const (
	attrTxn     int16 = 1 << 4
	attrControl int16 = 1 << 5
)

// rec is one record of a test batch: its key ("" for none) and value
// ("<nil>" for a tombstone).
type rec struct{ key, value string }

const tombstone = "<nil>"

// keyedBatch builds a whole v2 batch at offset base of producer pid (-1:
// none) with attributes attrs, holding recs at consecutive offsets.
func keyedBatch(t testing.TB, base, pid int64, attrs int16, recs ...rec) []byte {
	t.Helper()
	epoch, seq := int16(0), int32(0)
	switch {
	case pid < 0:
		pid, epoch, seq = -1, -1, -1
	case attrs&attrControl != 0:
		seq = -1
	}
	ts := 1_700_000_000_000 + base
	b := make([]byte, batch.HeaderSize)
	binary.BigEndian.PutUint64(b[0:], uint64(base))
	binary.BigEndian.PutUint32(b[12:], 0) // partition leader epoch
	b[16] = 2                             // magic
	binary.BigEndian.PutUint16(b[21:], uint16(attrs))
	binary.BigEndian.PutUint32(b[23:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[27:], uint64(ts))
	binary.BigEndian.PutUint64(b[35:], uint64(ts+int64(len(recs)-1)))
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[57:], uint32(len(recs)))
	for i, r := range recs {
		var body []byte
		body = append(body, 0)                     // attributes
		body = binary.AppendVarint(body, int64(i)) // timestamp delta
		body = binary.AppendVarint(body, int64(i)) // offset delta
		if r.key == "" {
			body = binary.AppendVarint(body, -1)
		} else {
			body = binary.AppendVarint(body, int64(len(r.key)))
			body = append(body, r.key...)
		}
		if r.value == tombstone {
			body = binary.AppendVarint(body, -1)
		} else {
			body = binary.AppendVarint(body, int64(len(r.value)))
			body = append(body, r.value...)
		}
		body = binary.AppendVarint(body, 0) // no headers
		b = binary.AppendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := batch.Validate(b); err != nil {
		t.Fatalf("keyedBatch built an invalid batch: %v", err)
	}
	return b
}

// txnBatch is a transactional batch of producer pid.
func txnBatch(t testing.TB, base, pid int64, recs ...rec) []byte {
	t.Helper()
	return keyedBatch(t, base, pid, attrTxn, recs...)
}

// plainBatch is a batch of no producer.
func plainBatch(t testing.TB, base int64, recs ...rec) []byte {
	t.Helper()
	return keyedBatch(t, base, -1, 0, recs...)
}

// marker is producer pid's COMMIT or ABORT control batch at offset at, as
// the plan writes it: key int16 version 0, int16 type; value int16 version
// 0, int32 coordinator epoch.
func marker(t testing.TB, at, pid int64, commit bool) []byte {
	t.Helper()
	typ := byte(batch.ControlAbort)
	if commit {
		typ = byte(batch.ControlCommit)
	}
	return keyedBatch(t, at, pid, attrTxn|attrControl, rec{key: string([]byte{0, 0, 0, typ}), value: string([]byte{0, 0, 0, 0, 0, 3})})
}

// commitEntry stores batches of key as one segment object and commits its
// manifest entry under epoch with the aborted transactions given, as the
// uploader would, and the high watermark after it.
func commitEntry(env *upEnv, key metadata.PartitionKey, epoch int64, aborted []metadata.AbortedTxn, batches ...[]byte) {
	env.t.Helper()
	env.commitObject(env.store, "txn", key, epoch, aborted, batches)
}

// startCompactor starts env's uploader and returns a Reader of env's
// bucket and a Compactor on the two, as the transaction compaction tests
// use them.
func startCompactor(env *upEnv) (*Reader, *Compactor) {
	env.t.Helper()
	u, _ := env.start(newCommits(), nil, nil)
	r := NewReader(env.mem, 1<<20, nil)
	return r, NewCompactor(env.bucket, r, u, 7)
}

// readRecord is one record read back, or a control batch (control set,
// key its type).
type readRecord struct {
	offset        int64
	key           string
	control       bool
	transactional bool
	producer      int64
}

// readBack reads every batch of entries through r: their records in
// order, and each control batch's bytes by offset.
func readBack(t *testing.T, r *Reader, entries []metadata.ManifestEntry) ([]readRecord, map[int64][]byte) {
	t.Helper()
	var out []readRecord
	controls := map[int64][]byte{}
	for _, e := range entries {
		data, err := r.Read(t.Context(), e)
		if err != nil {
			t.Fatalf("read %+v: %v", e, err)
		}
		if err := batch.Iter(data, func(h batch.Header, raw []byte) error {
			if h.Control() {
				controls[h.BaseOffset] = raw
				out = append(out, readRecord{offset: h.BaseOffset, control: true, transactional: true, producer: h.ProducerID})
				return nil
			}
			_, _, err := batch.Filter(raw, func(rc batch.Record) bool {
				out = append(out, readRecord{offset: rc.Offset, key: string(rc.Key), transactional: h.Transactional(), producer: h.ProducerID})
				return true
			})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out, controls
}

// offsets lists the offsets of recs.
func offsets(recs []readRecord) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.offset)
	}
	return out
}

// committedView is what a read_committed consumer makes of recs below the
// last stable offset lso, told of the aborted transactions of entries as a
// fetch is: for every key, the offset of its latest committed record; and
// the offsets it is given. It decides aborts by a plain scan, independent
// of the compactor's index.
func committedView(recs []readRecord, entries []metadata.ManifestEntry, lso int64) (latest map[string]int64, visible []int64) {
	var aborted []metadata.AbortedTxn
	for _, e := range entries {
		aborted = append(aborted, e.Aborted...)
	}
	latest = map[string]int64{}
	for _, r := range recs {
		if r.offset >= lso {
			break
		}
		if r.control || r.transactional && slices.ContainsFunc(aborted, func(a metadata.AbortedTxn) bool {
			return a.ProducerID == r.producer && a.FirstOffset <= r.offset && r.offset <= a.LastOffset
		}) {
			continue
		}
		visible = append(visible, r.offset)
		if r.key != "" {
			latest[r.key] = r.offset
		}
	}
	return latest, visible
}

// txnLog is the partition the transaction tests build: three entries of
// plain records, a committed transaction of producer 1 (two, in fact), an
// aborted one of producer 2, one of producer 4 aborted by a marker in the
// last entry, and an open one of producer 3 that holds the last stable
// offset at 14. Keys overlap across all of them.
//
//	entry 0 [0, 7]:   0 a=a0 1 b=b0 (plain) | 2 a=a1 (P1) | 3 b=b2 4 (no key) 5 c=c2 (P2)
//	                  | 6 COMMIT P1 | 7 d=d0 (plain)
//	entry 1 [8, 13]:  8 a=a2 (P2) | 9 ABORT P2 | 10 b=b9 (P4) | 11 e=e10 (P1)
//	                  | 12 COMMIT P1 | 13 f=f12 (plain)
//	entry 2 [14, 17]: 14 b=b13 (P3, open) | 15 ABORT P4 | 16 a=a15 17 e=e16 (plain)
type txnLog struct {
	key      metadata.PartitionKey
	epoch    int64
	lso      int64
	aborted  [3][]metadata.AbortedTxn
	controls map[int64][]byte // the control batches as written, by offset
}

// Aborted transactions of txnLog.
var (
	abortP2 = metadata.AbortedTxn{ProducerID: 2, FirstOffset: 3, LastOffset: 9, Stable: 10}
	abortP4 = metadata.AbortedTxn{ProducerID: 4, FirstOffset: 10, LastOffset: 15, Stable: 14}
)

// txnLogKept are the offsets that log compaction below the last stable
// offset keeps: a0 goes for a1, the aborted records of P2 and P4 go (b2,
// the keyless one, c2, a2, b9), control batches stay, b0 stays (the aborted b2 and b9 and
// the open b13 do not hide it), a1 and e10 stay (a15 and e16 are above the
// last stable offset), and entry 2 is not touched.
var txnLogKept = []int64{1, 2, 6, 7, 9, 11, 12, 13, 14, 15, 16, 17}

func buildTxnLog(t *testing.T, env *upEnv, topic byte) txnLog {
	t.Helper()
	l := txnLog{key: testKey(topic, 0), lso: 14, controls: map[int64][]byte{}}
	l.epoch = env.lead(l.key)
	l.aborted = [3][]metadata.AbortedTxn{nil, {abortP2}, {abortP4}}
	ctl := func(at, pid int64, commit bool) []byte {
		b := marker(t, at, pid, commit)
		l.controls[at] = b
		return b
	}
	commitEntry(env, l.key, l.epoch, l.aborted[0],
		plainBatch(t, 0, rec{"a", "a0"}, rec{"b", "b0"}),
		txnBatch(t, 2, 1, rec{"a", "a1"}),
		txnBatch(t, 3, 2, rec{"b", "b2"}, rec{"", "no key"}, rec{"c", "c2"}),
		ctl(6, 1, true),
		plainBatch(t, 7, rec{"d", "d0"}))
	commitEntry(env, l.key, l.epoch, l.aborted[1],
		txnBatch(t, 8, 2, rec{"a", "a2"}),
		ctl(9, 2, false),
		txnBatch(t, 10, 4, rec{"b", "b9"}),
		txnBatch(t, 11, 1, rec{"e", "e10"}),
		ctl(12, 1, true),
		plainBatch(t, 13, rec{"f", "f12"}))
	commitEntry(env, l.key, l.epoch, l.aborted[2],
		txnBatch(t, 14, 3, rec{"b", "b13"}),
		ctl(15, 4, false),
		plainBatch(t, 16, rec{"a", "a15"}, rec{"e", "e16"}))
	return l
}

// checkControls checks that every control batch of l is read back byte
// for byte.
func (l txnLog) checkControls(t *testing.T, got map[int64][]byte) {
	t.Helper()
	for off, want := range l.controls {
		if !bytes.Equal(got[off], want) {
			t.Errorf("control batch at %d: read back %x, want %x", off, got[off], want)
		}
	}
	if len(got) != len(l.controls) {
		t.Errorf("%d control batches read back, want %d", len(got), len(l.controls))
	}
}

// TestTxnCompaction runs the transaction cases against one embedded etcd,
// each with an upEnv of its own.
func TestTxnCompaction(t *testing.T) {
	runUpCases(t, []upCase{
		{"CleanThenCompact", testTxnCleanThenCompact},
		{"CompactThenClean", testTxnCompactThenClean},
		{"AbortedLastRecordHidesNothing", testTxnAbortedLastRecord},
		{"UnlistedAbortCleansNothing", testTxnUnlistedAbort},
		{"ScheduleCleansBelowLastStable", testTxnSchedule},
		{"Random", testTxnRandom},
	})
}

// cleanPolicy cleans everything below lso at once and expires no
// tombstone.
func cleanPolicy(lso int64) LogPolicy {
	return LogPolicy{Now: 1000, MinLagMs: 0, DeleteRetentionMs: 1 << 40, LastStable: lso}
}

// testTxnCleanThenCompact: log compaction drops aborted records and
// superseded committed ones below the last stable offset only, keeps the
// markers and the Aborted lists; object compaction then merges the lists;
// read_committed reads the same latest value of every key throughout.
func testTxnCleanThenCompact(t *testing.T, env *upEnv) {
	l := buildTxnLog(t, env, 11)
	r, comp := startCompactor(env)
	ctx := t.Context()
	before := env.manifestN(l.key, 3)
	recsBefore, _ := readBack(t, r, before)
	wantLatest, wantVisible := committedView(recsBefore, before, l.lso)
	if fmt.Sprint(wantLatest) != "map[a:2 b:1 d:7 e:11 f:13]" { // the scenario is what the test means
		t.Fatalf("read_committed view before cleaning %v", wantLatest)
	}

	if old, cleaned, err := comp.CleanLog(ctx, l.key, l.epoch, before, cleanPolicy(0), ArchiveOptions{}); err != nil || len(old)+len(cleaned) != 0 {
		t.Fatalf("CleanLog with last stable offset 0 rewrote %d entries (%v), want none", len(cleaned), err)
	}
	old, cleaned, err := comp.CleanLog(ctx, l.key, l.epoch, before, cleanPolicy(l.lso), ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(old) != 2 || !entriesEqual(old[0], before[0]) || !entriesEqual(old[1], before[1]) {
		t.Fatalf("CleanLog rewrote %+v, want the two entries below the last stable offset", old)
	}
	after := env.manifestN(l.key, 3)
	if !slices.EqualFunc(after[:2], cleaned, entriesEqual) {
		t.Errorf("manifest after cleaning %+v, CleanLog returned %+v", after[:2], cleaned)
	}
	if !entriesEqual(after[2], before[2]) {
		t.Errorf("the entry at the last stable offset changed: %+v, was %+v", after[2], before[2])
	}
	for i := range after {
		if !slices.Equal(after[i].Aborted, l.aborted[i]) {
			t.Errorf("entry %d lists aborted %+v after cleaning, want %+v", i, after[i].Aborted, l.aborted[i])
		}
	}
	recs, controls := readBack(t, r, after)
	if got := offsets(recs); !slices.Equal(got, txnLogKept) {
		t.Errorf("cleaning kept offsets %v, want %v", got, txnLogKept)
	}
	l.checkControls(t, controls)
	latest, visible := committedView(recs, after, l.lso)
	if fmt.Sprint(latest) != fmt.Sprint(wantLatest) {
		t.Errorf("read_committed latest offsets per key after cleaning %v, before %v", latest, wantLatest)
	}
	for _, off := range visible {
		if !slices.Contains(wantVisible, off) {
			t.Errorf("read_committed sees offset %d after cleaning, not before", off)
		}
	}

	all, err := comp.Compact(ctx, l.key, l.epoch, after, ArchiveOptions{Codec: CodecZstd, BlockBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if want := []metadata.AbortedTxn{abortP2, abortP4}; !slices.Equal(all.Aborted, want) {
		t.Errorf("compacted entry lists aborted %+v, want %+v", all.Aborted, want)
	}
	merged, err := env.store.Manifest(ctx, l.key)
	if err != nil || !slices.EqualFunc(merged, []metadata.ManifestEntry{all}, entriesEqual) {
		t.Fatalf("manifest after compaction %+v %v, want %+v", merged, err, all)
	}
	recsMerged, controls := readBack(t, r, merged)
	if !slices.Equal(recsMerged, recs) {
		t.Errorf("compaction changed the records: %v, were %v", offsets(recsMerged), offsets(recs))
	}
	l.checkControls(t, controls)
	if latest, _ := committedView(recsMerged, merged, l.lso); fmt.Sprint(latest) != fmt.Sprint(wantLatest) {
		t.Errorf("read_committed latest offsets per key after compaction %v, before %v", latest, wantLatest)
	}

	// The merged entry reaches the open transaction: nothing more is
	// cleaned.
	if old, _, err := comp.CleanLog(ctx, l.key, l.epoch, merged, cleanPolicy(l.lso), ArchiveOptions{}); err != nil || len(old) != 0 {
		t.Errorf("CleanLog of an entry across the last stable offset rewrote %d (%v), want none", len(old), err)
	}
}

// testTxnCompactThenClean: an entry merged from entries with aborted
// transactions is cleaned like the entries it replaced.
func testTxnCompactThenClean(t *testing.T, env *upEnv) {
	l := buildTxnLog(t, env, 12)
	r, comp := startCompactor(env)
	ctx := t.Context()
	before := env.manifestN(l.key, 3)
	merged, err := comp.Compact(ctx, l.key, l.epoch, before[:2], ArchiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(merged.Aborted, []metadata.AbortedTxn{abortP2}) {
		t.Errorf("entry merged from entries 0 and 1 lists aborted %+v, want %+v", merged.Aborted, abortP2)
	}
	entries := env.manifestN(l.key, 2)
	if _, _, err := comp.CleanLog(ctx, l.key, l.epoch, entries, cleanPolicy(l.lso), ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	after, err := env.store.Manifest(ctx, l.key)
	if err != nil || len(after) != 2 || !entriesEqual(after[1], entries[1]) {
		t.Fatalf("manifest after cleaning %+v %v, want the merged entry rewritten and the last one as it was", after, err)
	}
	if !slices.Equal(after[0].Aborted, []metadata.AbortedTxn{abortP2}) {
		t.Errorf("cleaned merged entry lists aborted %+v, want %+v", after[0].Aborted, abortP2)
	}
	recs, controls := readBack(t, r, after)
	if got := offsets(recs); !slices.Equal(got, txnLogKept) {
		t.Errorf("cleaning kept offsets %v, want %v", got, txnLogKept)
	}
	l.checkControls(t, controls)
}

// testTxnAbortedLastRecord: an aborted record that is its entry's last
// stays (an entry keeps its end), but it is not the latest record of its
// key: the committed record before it stays too.
func testTxnAbortedLastRecord(t *testing.T, env *upEnv) {
	k := testKey(13, 0)
	epoch := env.lead(k)
	abort := metadata.AbortedTxn{ProducerID: 9, FirstOffset: 2, LastOffset: 3, Stable: 4}
	commitEntry(env, k, epoch, nil,
		plainBatch(t, 0, rec{"k", "v0"}, rec{"x", "x1"}),
		txnBatch(t, 2, 9, rec{"k", "v2"}))
	commitEntry(env, k, epoch, []metadata.AbortedTxn{abort},
		marker(t, 3, 9, false),
		plainBatch(t, 4, rec{"x", "x4"}))
	r, comp := startCompactor(env)
	ctx := t.Context()
	entries := env.manifest(k)
	if _, _, err := comp.CleanLog(ctx, k, epoch, entries, cleanPolicy(5), ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	after := env.manifest(k)
	recs, _ := readBack(t, r, after)
	// x1 goes for x4; v0 stays: v2 is aborted.
	if got, want := offsets(recs), []int64{0, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("cleaning kept offsets %v, want %v", got, want)
	}
	if latest, _ := committedView(recs, after, 5); fmt.Sprint(latest) != "map[k:0 x:4]" {
		t.Errorf("read_committed latest offsets per key after cleaning %v, want k at 0 and x at 4", latest)
	}
}

// testTxnUnlistedAbort: an ABORT marker that no entry lists means the
// Aborted lists are not to be trusted: nothing is cleaned.
func testTxnUnlistedAbort(t *testing.T, env *upEnv) {
	k := testKey(14, 0)
	epoch := env.lead(k)
	commitEntry(env, k, epoch, nil,
		plainBatch(t, 0, rec{"k", "v0"}),
		txnBatch(t, 1, 9, rec{"k", "v1"}),
		marker(t, 2, 9, false),
		plainBatch(t, 3, rec{"k", "v3"}))
	_, comp := startCompactor(env)
	ctx := t.Context()
	entries := env.manifest(k)
	old, _, err := comp.CleanLog(ctx, k, epoch, entries, cleanPolicy(4), ArchiveOptions{})
	if err == nil || !strings.Contains(err.Error(), "ABORT marker") || len(old) != 0 {
		t.Fatalf("CleanLog with an unlisted ABORT marker: %d rewritten, %v; want none and an error", len(old), err)
	}
	if after, err := env.store.Manifest(ctx, k); err != nil || !slices.EqualFunc(after, entries, entriesEqual) {
		t.Errorf("manifest %+v %v, want it as it was", after, err)
	}
}

// ledStub is a partition as the schedules see it, over the env's store;
// calls records the order of its reads.
type ledStub struct {
	env   *upEnv
	key   metadata.PartitionKey
	epoch int64
	lso   int64
	calls []string
}

func (p *ledStub) Key() metadata.PartitionKey { return p.key }
func (p *ledStub) Expired(now, retentionMs, retentionBytes int64) (int64, int64, []int64) {
	return 0, 0, nil
}
func (p *ledStub) Truncated(epoch, logStart int64) {}
func (p *ledStub) CommittedManifest() (int64, []metadata.ManifestEntry) {
	p.calls = append(p.calls, "CommittedManifest")
	m, err := p.env.store.Manifest(p.env.t.Context(), p.key)
	if err != nil {
		p.env.t.Fatal(err)
	}
	return p.epoch, m
}
func (p *ledStub) Replaced(epoch int64, run []metadata.ManifestEntry, entry metadata.ManifestEntry) {}
func (p *ledStub) LastStableOffset() int64 {
	p.calls = append(p.calls, "LastStableOffset")
	return p.lso
}

var _ Led = (*ledStub)(nil)

type scheduledStub []ScheduledTopic

func (s scheduledStub) ScheduledTopics() []ScheduledTopic { return s }

// testTxnSchedule: the compaction schedule reads the last stable offset
// before the manifest and cleans below it only.
func testTxnSchedule(t *testing.T, env *upEnv) {
	l := buildTxnLog(t, env, 15)
	u, _ := env.start(newCommits(), nil, nil)
	r := NewReader(env.mem, 1<<20, nil)
	p := &ledStub{env: env, key: l.key, epoch: l.epoch, lso: l.lso}
	s := NewSchedules(ScheduleOptions{
		Topics: scheduledStub{{
			Policy:     TopicPolicy{Name: "txn", Compacts: true, DeleteRetentionMs: 1 << 40, SegmentBytes: 1 << 20},
			Partitions: []Led{p},
		}},
		Uploader:  u,
		Compactor: NewCompactor(env.bucket, r, u, 7),
	})
	s.compact(t.Context(), -1) // no entry is old enough to merge
	if len(p.calls) < 2 || p.calls[0] != "LastStableOffset" || p.calls[1] != "CommittedManifest" {
		t.Errorf("the schedule read %v, want the last stable offset before the manifest", p.calls)
	}
	after := env.manifest(l.key)
	recs, controls := readBack(t, r, after)
	if got := offsets(recs); !slices.Equal(got, txnLogKept) {
		t.Errorf("the schedule kept offsets %v, want %v", got, txnLogKept)
	}
	l.checkControls(t, controls)
}

// TestPlanCompactionAborted: a run lists at most maxRunAborted aborted
// transactions, and an entry with more than half of them is merged with
// none.
func TestPlanCompactionAborted(t *testing.T) {
	entry := func(base int64, aborted int) metadata.ManifestEntry {
		return metadata.ManifestEntry{BaseOffset: base, LastOffset: base + 9, Size: 10, Aborted: make([]metadata.AbortedTxn, aborted)}
	}
	half := maxRunAborted / 2
	for _, tc := range []struct {
		name    string
		entries []metadata.ManifestEntry
		want    string
	}{
		{"few aborted merge", []metadata.ManifestEntry{entry(0, 1), entry(10, 2), entry(20, 0)}, "[[0 10 20]]"},
		{"up to the bound", []metadata.ManifestEntry{entry(0, half), entry(10, half), entry(20, 1), entry(30, 1)}, "[[0 10] [20 30]]"},
		{"an entry with too many stays alone", []metadata.ManifestEntry{entry(0, 1), entry(10, half+1), entry(20, 1), entry(30, 1)}, "[[20 30]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]int64
			for _, run := range PlanCompaction(tc.entries, 1<<20, 0) {
				var bases []int64
				for _, e := range run {
					bases = append(bases, e.BaseOffset)
				}
				got = append(got, bases)
			}
			if fmt.Sprint(got) != tc.want {
				t.Errorf("runs %v, want %s", got, tc.want)
			}
		})
	}
}

// testTxnRandom: for logs drawn at random (fixed seeds) of plain records
// and committed, aborted and open transactions of a few producers over a
// few keys, cleaning and then merging keep what read_committed reads:
// the latest committed record of every key, no record it did not see
// before, every control batch and every Aborted list; entries at or above
// the last stable offset are not touched, and no aborted record is left
// but an entry's last.
func testTxnRandom(t *testing.T, env *upEnv) {
	r, comp := startCompactor(env)
	ctx := t.Context()
	dropped := 0
	for seed := range uint64(20) {
		k := testKey(16, int32(seed))
		epoch := env.lead(k)
		rng := rand.New(rand.NewPCG(seed, 19))
		var (
			next     int64
			open     = map[int64]int64{} // producer → first offset of its open transaction
			pending  [][]byte
			aborted  []metadata.AbortedTxn
			controls = map[int64][]byte{}
			allAbort []metadata.AbortedTxn
		)
		lso := func() int64 {
			l := next
			for _, f := range open {
				l = min(l, f)
			}
			return l
		}
		records := func() []rec {
			var rs []rec
			for range 1 + rng.IntN(3) {
				key := string(rune('a' + rng.IntN(5)))
				if rng.IntN(10) == 0 {
					key = ""
				}
				value := fmt.Sprint("v", next+int64(len(rs)))
				if rng.IntN(10) == 0 {
					value = tombstone
				}
				rs = append(rs, rec{key, value})
			}
			return rs
		}
		for range 60 {
			pid := int64(1 + rng.IntN(4))
			var b []byte
			switch f, inTxn := open[pid]; {
			case rng.IntN(3) == 0:
				b = plainBatch(t, next, records()...)
			case inTxn && rng.IntN(3) == 0:
				commit := rng.IntN(2) == 0
				b = marker(t, next, pid, commit)
				controls[next] = b
				delete(open, pid)
				if !commit {
					a := metadata.AbortedTxn{ProducerID: pid, FirstOffset: f, LastOffset: next, Stable: next + 1}
					for _, first := range open { // the last stable offset right after the marker
						a.Stable = min(a.Stable, first)
					}
					aborted = append(aborted, a)
					allAbort = append(allAbort, a)
				}
			default:
				if !inTxn {
					open[pid] = next
				}
				b = txnBatch(t, next, pid, records()...)
			}
			h, _ := batch.Parse(b)
			next = h.LastOffset() + 1
			pending = append(pending, b)
			if rng.IntN(5) == 0 {
				commitEntry(env, k, epoch, aborted, pending...)
				pending, aborted = nil, nil
			}
		}
		if len(pending) > 0 {
			commitEntry(env, k, epoch, aborted, pending...)
		}
		stable := lso()

		before := env.manifest(k)
		recsBefore, _ := readBack(t, r, before)
		wantLatest, wantVisible := committedView(recsBefore, before, stable)
		if _, _, err := comp.CleanLog(ctx, k, epoch, before, cleanPolicy(stable), ArchiveOptions{}); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		after, err := env.store.Manifest(ctx, k)
		if err != nil || len(after) != len(before) {
			t.Fatalf("seed %d: %d entries after cleaning (%v), were %d", seed, len(after), err, len(before))
		}
		for i := range after {
			if !slices.Equal(after[i].Aborted, before[i].Aborted) {
				t.Errorf("seed %d entry %d: aborted %+v after cleaning, were %+v", seed, i, after[i].Aborted, before[i].Aborted)
			}
			if before[i].LastOffset >= stable && !entriesEqual(after[i], before[i]) {
				t.Errorf("seed %d: entry %+v at or above the last stable offset %d changed to %+v", seed, before[i], stable, after[i])
			}
		}
		recs, gotControls := readBack(t, r, after)
		dropped += len(recsBefore) - len(recs)
		checkTxnView(t, fmt.Sprint("seed ", seed, " cleaned"), recs, after, stable, wantLatest, wantVisible, controls, gotControls)
		ends := map[int64]bool{}
		cleanable := int64(0) // the offsets below are in entries wholly below the last stable offset
		for _, e := range after {
			ends[e.LastOffset] = true
			if e.LastOffset < stable {
				cleanable = e.LastOffset + 1
			}
		}
		for _, rc := range recs {
			if rc.offset < cleanable && !rc.control && rc.transactional && !ends[rc.offset] && slices.ContainsFunc(allAbort, func(a metadata.AbortedTxn) bool {
				return a.ProducerID == rc.producer && a.FirstOffset <= rc.offset && rc.offset <= a.LastOffset
			}) {
				t.Errorf("seed %d: aborted record at %d left by cleaning", seed, rc.offset)
			}
		}

		merged, err := comp.Compact(ctx, k, epoch, after, ArchiveOptions{Codec: CodecZstd, BlockBytes: 300})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !slices.Equal(merged.Aborted, allAbort) {
			t.Errorf("seed %d: merged entry lists aborted %+v, want %+v", seed, merged.Aborted, allAbort)
		}
		mrecs, mControls := readBack(t, r, []metadata.ManifestEntry{merged})
		if !slices.Equal(mrecs, recs) {
			t.Errorf("seed %d: merging changed the records: %v, were %v", seed, offsets(mrecs), offsets(recs))
		}
		checkTxnView(t, fmt.Sprint("seed ", seed, " merged"), mrecs, []metadata.ManifestEntry{merged}, stable, wantLatest, wantVisible, controls, mControls)
	}
	if dropped == 0 {
		t.Error("cleaning dropped no record of any log: the logs test nothing")
	}
}

// checkTxnView checks that recs, read from entries, give read_committed
// below lso the latest record of every key wantLatest and no record not in
// wantVisible, and hold the control batches wantControls byte for byte.
func checkTxnView(t *testing.T, what string, recs []readRecord, entries []metadata.ManifestEntry, lso int64, wantLatest map[string]int64, wantVisible []int64, wantControls, gotControls map[int64][]byte) {
	t.Helper()
	latest, visible := committedView(recs, entries, lso)
	if fmt.Sprint(latest) != fmt.Sprint(wantLatest) {
		t.Errorf("%s: read_committed latest offsets per key %v, want %v", what, latest, wantLatest)
	}
	for _, off := range visible {
		if !slices.Contains(wantVisible, off) {
			t.Errorf("%s: read_committed sees offset %d, not before", what, off)
		}
	}
	if len(gotControls) != len(wantControls) {
		t.Errorf("%s: %d control batches, want %d", what, len(gotControls), len(wantControls))
	}
	for off, want := range wantControls {
		if !bytes.Equal(gotControls[off], want) {
			t.Errorf("%s: control batch at %d changed", what, off)
		}
	}
}
