package tiering

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/strata-io/strata/metadata"
)

func TestPlanCompaction(t *testing.T) {
	entry := func(base, size, committed int64) metadata.ManifestEntry {
		return metadata.ManifestEntry{Object: fmt.Sprint("o", base), BaseOffset: base, LastOffset: base + 9, Size: size, Committed: committed}
	}
	bases := func(runs [][]metadata.ManifestEntry) [][]int64 {
		var out [][]int64
		for _, r := range runs {
			var b []int64
			for _, e := range r {
				b = append(b, e.BaseOffset)
			}
			out = append(out, b)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		entries []metadata.ManifestEntry
		want    [][]int64
	}{
		{"nothing", nil, nil},
		{"one small entry is left alone", []metadata.ManifestEntry{entry(0, 10, 0)}, nil},
		{"small entries merge", []metadata.ManifestEntry{entry(0, 10, 0), entry(10, 10, 0), entry(20, 10, 0)}, [][]int64{{0, 10, 20}}},
		{"up to the target", []metadata.ManifestEntry{entry(0, 40, 0), entry(10, 40, 0), entry(20, 40, 0), entry(30, 10, 0)}, [][]int64{{0, 10}, {20, 30}}},
		{"a large entry splits runs", []metadata.ManifestEntry{entry(0, 10, 0), entry(10, 10, 0), entry(20, 50, 0), entry(30, 10, 0), entry(40, 10, 0)}, [][]int64{{0, 10}, {30, 40}}},
		{"entries too young stay", []metadata.ManifestEntry{entry(0, 10, 100), entry(10, 10, 100), entry(20, 10, 2000), entry(30, 10, 2000)}, [][]int64{{0, 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bases(PlanCompaction(tc.entries, 100, 1000))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("runs %v, want %v", got, tc.want)
			}
		})
	}
	var many []metadata.ManifestEntry
	for i := range int64(250) {
		many = append(many, entry(10*i, 1, 0))
	}
	if runs := PlanCompaction(many, 1<<30, 0); len(runs) != 3 || len(runs[0]) != maxRunEntries {
		t.Errorf("250 entries: %d runs of %d first, want runs of at most %d", len(runs), len(runs[0]), maxRunEntries)
	}
}

// testCompact: compaction swaps a partition's entries for one archive
// object of its own holding the same batches, compressed or not, in blocks;
// an archive merges again with the entries beside it; a fenced epoch and a
// vanished entry change nothing.
func testCompact(t *testing.T, env *upEnv) {
	k, other := testKey(1, 0), testKey(2, 0)
	epoch := env.lead(k)
	env.lead(other)
	c := newCommits()
	u, stop := env.start(c, nil, nil)
	for i := range 4 {
		for range 1 + i%2 { // entries of one batch and of two
			env.write(k, batchSpec{Records: 1 + i, ValueSize: 50})
		}
		env.write(other, batchSpec{Records: 2, ValueSize: 50})
		env.seal()
	}
	c.wait(t, 4)
	ctx := t.Context()
	entries := env.manifestN(k, 4)
	comp := NewCompactor(env.bucket, NewReader(env.mem, 1<<20, nil), u, 7)
	zstdBlocks := ArchiveOptions{Codec: CodecZstd, BlockBytes: 150}
	if _, err := comp.Compact(ctx, k, epoch-1, entries, zstdBlocks); !errors.Is(err, metadata.ErrFenced) {
		t.Fatalf("compact under a stale epoch: %v, want ErrFenced", err)
	}
	if _, err := comp.Compact(ctx, k, epoch, append(entries[:2:2], metadata.ManifestEntry{Object: entries[2].Object, BaseOffset: 999, LastOffset: entries[3].LastOffset, Size: 1}), zstdBlocks); err == nil {
		t.Fatal("compact with an entry that is not in the manifest succeeded")
	}
	entry, err := comp.Compact(ctx, k, epoch, entries[1:], zstdBlocks)
	if err != nil {
		t.Fatal(err)
	}
	if entry.BaseOffset != entries[1].BaseOffset || entry.LastOffset != entries[3].LastOffset || entry.Batches != 5 || entry.IndexSize == 0 {
		t.Fatalf("compacted entry %+v", entry)
	}
	if blocks, err := comp.reader.Blocks(ctx, entry); err != nil || len(blocks) < 2 {
		t.Fatalf("compacted entry in %d blocks (%v), want several of at most 150 raw bytes", len(blocks), err)
	}
	after, err := env.store.Manifest(ctx, k)
	if err != nil || len(after) != 2 || !reflect.DeepEqual(after[0], entries[0]) || !reflect.DeepEqual(after[1], entry) {
		t.Fatalf("manifest after compaction %+v %v, want the first entry and the compacted one", after, err)
	}
	all, err := comp.Compact(ctx, k, epoch, after, ArchiveOptions{})
	if err != nil || all.BaseOffset != entries[0].BaseOffset || all.LastOffset != entries[3].LastOffset || all.Batches != 6 {
		t.Fatalf("compacting an archive with the entry before it: %+v, %v", all, err)
	}
	if after, err = env.store.Manifest(ctx, k); err != nil || len(after) != 1 || !reflect.DeepEqual(after[0], all) {
		t.Fatalf("manifest after the second compaction %+v %v, want one entry", after, err)
	}
	stop()
	env.checkCommitted(k) // the same batches, readable, in order
	env.checkCommitted(other)
}
