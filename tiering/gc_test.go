package tiering

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/strata-io/strata/metadata"
)

// TestCollector: an object goes once it has been unreferenced for the grace
// period, pass after pass; a referenced object, one that becomes referenced
// (a commit that was in flight) and one outside the segment prefix stay;
// a failed pass restarts the count.
func TestCollector(t *testing.T) {
	e := startEmbedded(t)
	env := newUpEnv(t, e.Endpoints())
	ctx := t.Context()
	k := testKey(1, 0)
	epoch := env.lead(k)
	next := int64(0)
	reference := func(name string) {
		t.Helper()
		entry := metadata.ManifestEntry{Object: name, Size: 1, BaseOffset: next, LastOffset: next, Batches: 1}
		next++
		errs := env.store.CommitSegments(ctx, []metadata.Commit{{Key: k, Epoch: epoch, Entry: entry, State: metadata.PartitionState{HighWatermark: next}}})
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	put := func(names ...string) {
		t.Helper()
		for _, name := range names {
			if err := env.mem.Put(ctx, name, bytes.NewReader([]byte("x")), 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	const grace = time.Hour
	gc := NewCollector(env.bucket, env.store, grace, nil, nil)
	t0 := time.Unix(1_000_000, 0)
	pass := func(at time.Duration, want ...string) {
		t.Helper()
		if _, err := gc.Collect(ctx, t0.Add(at)); err != nil {
			t.Fatalf("pass at %s: %v", at, err)
		}
		if got := env.objects(); !slices.Equal(got, want) {
			t.Fatalf("after the pass at %s: objects %v, want %v", at, got, want)
		}
	}

	put(SegmentPrefix+"a", SegmentPrefix+"b", SegmentPrefix+"d", "other/c")
	reference(SegmentPrefix + "a")
	all := []string{"other/c", SegmentPrefix + "a", SegmentPrefix + "b", SegmentPrefix + "d"}
	pass(0, all...)
	pass(grace-time.Millisecond, all...)
	reference(SegmentPrefix + "d") // its commit landed late
	pass(grace, "other/c", SegmentPrefix+"a", SegmentPrefix+"d")
	pass(3*grace, "other/c", SegmentPrefix+"a", SegmentPrefix+"d")

	put(SegmentPrefix + "e")
	pass(4*grace, "other/c", SegmentPrefix+"a", SegmentPrefix+"d", SegmentPrefix+"e")
	env.bucket.SetDown(true)
	if _, err := gc.Collect(ctx, t0.Add(5*grace)); err == nil {
		t.Fatal("a pass with the bucket down succeeded")
	}
	env.bucket.SetDown(false)
	pass(5*grace, "other/c", SegmentPrefix+"a", SegmentPrefix+"d", SegmentPrefix+"e") // seen again from here
	pass(6*grace, "other/c", SegmentPrefix+"a", SegmentPrefix+"d")
}
