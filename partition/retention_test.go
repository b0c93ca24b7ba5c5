package partition

import (
	"slices"
	"testing"

	"github.com/strata-io/strata/metadata"
)

// TestExpired: which manifest entries retention drops, as Kafka drops
// segments: the oldest while their newest record is older than
// retention.ms, and while the rest stays at or above retention.bytes.
func TestExpired(t *testing.T) {
	// Four entries of 10 offsets and 100 bytes, newest records at 1000, 2000, 3000, 4000.
	var manifest []metadata.ManifestEntry
	for i := range int64(4) {
		manifest = append(manifest, metadata.ManifestEntry{BaseOffset: 10 * i, LastOffset: 10*i + 9, Size: 100, MaxTimestamp: 1000 * (i + 1)})
	}
	for _, tc := range []struct {
		name               string
		logStart, now      int64
		retentionMs, bytes int64
		wantDrop           []int64
		wantLogStart       int64
	}{
		{"nothing expired", 0, 4500, 10000, -1, nil, 0},
		{"unlimited", 0, 1 << 40, -1, -1, nil, 0},
		{"the two oldest by time", 0, 3500, 1000, -1, []int64{0, 10}, 20},
		{"an entry as old as the limit stays", 0, 3000, 1000, -1, []int64{0}, 10},
		{"every entry by time", 0, 9999, 1000, -1, []int64{0, 10, 20, 30}, 40},
		{"by size: keep at least retention.bytes", 0, 0, -1, 250, []int64{0}, 10},
		{"by size: exactly retention.bytes left", 0, 0, -1, 200, []int64{0, 10}, 20},
		{"by size: zero bytes", 0, 0, -1, 0, []int64{0, 10, 20, 30}, 40},
		{"time then size", 0, 2500, 1000, 100, []int64{0, 10, 20}, 30},
		{"entries below the log start go, the log start stays", 25, 0, -1, -1, []int64{0, 10}, 25},
		{"below the log start, then by size", 25, 0, -1, 100, []int64{0, 10, 20}, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPartition("t", metadata.PartitionKey{})
			p.epoch, p.logStart, p.manifest = 7, tc.logStart, manifest
			epoch, logStart, drop := p.Expired(tc.now, tc.retentionMs, tc.bytes)
			if !slices.Equal(drop, tc.wantDrop) {
				t.Fatalf("drop %v, want %v", drop, tc.wantDrop)
			}
			if len(drop) > 0 && (logStart != tc.wantLogStart || epoch != 7) {
				t.Errorf("log start %d epoch %d, want %d and 7", logStart, epoch, tc.wantLogStart)
			}
		})
	}
	p := newPartition("t", metadata.PartitionKey{})
	p.manifest = manifest
	if _, _, drop := p.Expired(1<<40, 0, 0); drop != nil {
		t.Errorf("a partition not led drops %v", drop)
	}
}
