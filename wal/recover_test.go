package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// damage is a last segment that a crash or the disk spoiled from byte at on.
type damage struct {
	name string
	data []byte
	at   int64
}

// tornTailCases truncates seg at every offset in a window around the header
// and every frame boundary, flips single bits at a sample of positions, and
// appends a zero-filled tail.
func tornTailCases(seg []byte, bounds []int64) []damage {
	var offs []int64
	for p := int64(0); p <= headerSize+3; p++ {
		offs = append(offs, p)
	}
	for _, b := range bounds {
		for d := int64(-3); d <= 3; d++ {
			if p := b + d; p >= 0 && p < int64(len(seg)) {
				offs = append(offs, p)
			}
		}
	}
	slices.Sort(offs)
	offs = slices.Compact(offs)

	var cases []damage
	for _, p := range offs {
		cases = append(cases, damage{fmt.Sprintf("truncated at %d", p), seg[:p], p})
	}

	rng := rand.New(rand.NewPCG(7, 7))
	flips := []int64{0, 3, 4, 6, 8, 15, 16, 19} // magic, version, reserved, seq, header CRC
	for _, b := range bounds[:len(bounds)-1] {
		flips = append(flips, b, b+3, b+4, b+7) // length and CRC fields
	}
	for range 30 {
		flips = append(flips, headerSize+rng.Int64N(int64(len(seg))-headerSize))
	}
	slices.Sort(flips)
	flips = slices.Compact(flips)
	for _, pos := range flips {
		bit := rng.IntN(8)
		d := slices.Clone(seg)
		d[pos] ^= 1 << bit
		cases = append(cases, damage{fmt.Sprintf("bit %d flipped at %d", bit, pos), d, pos})
	}

	cases = append(cases, damage{"zero-filled tail", append(slices.Clone(seg), make([]byte, 100)...), int64(len(seg))})
	return cases
}

func TestTornTail(t *testing.T) {
	recs1 := payloads(10, 5, 50)
	seg1, _ := encodeSegment(1, recs1)
	recs2 := [][]byte{{}, []byte("a"), []byte("seven!!"), bytes.Repeat([]byte("x"), 30), payloads(11, 1, 200)[0], []byte("end")}
	seg2, bounds := encodeSegment(2, recs2)

	for _, tc := range tornTailCases(seg2, bounds) {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, segmentName(1)), seg1)
			path2 := filepath.Join(dir, segmentName(2))
			writeFile(t, path2, tc.data)

			// Exactly the records that end before the damage survive; the cut
			// is at the end of the last of them, or 0 if the header is hit.
			kept := 0
			for kept < len(recs2) && bounds[kept+1] <= tc.at {
				kept++
			}
			cut := bounds[kept]
			if tc.at < headerSize {
				cut = 0
			}
			wantTruncated := tc.at < headerSize || cut < int64(len(tc.data))

			var logs bytes.Buffer
			w, rec, _ := openTest(t, Options{Dir: dir, SealInterval: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if warned := strings.Contains(logs.String(), "level=WARN"); warned != wantTruncated {
				t.Fatalf("logged a warning: %v, want %v; log:\n%s", warned, wantTruncated, logs.String())
			}

			want := []SegmentInfo{{Seq: 1, Path: filepath.Join(dir, segmentName(1)), Size: int64(len(seg1))}}
			if kept > 0 {
				want = append(want, SegmentInfo{Seq: 2, Path: path2, Size: cut})
			}
			if !slices.Equal(rec.Segments, want) {
				t.Fatalf("Segments %+v, want %+v", rec.Segments, want)
			}
			var wantRecs []record
			for _, r := range append(slices.Clone(recs1), recs2[:kept]...) {
				wantRecs = append(wantRecs, record{data: r})
			}
			equalRecords(t, readAll(t, rec.Segments), wantRecs)

			if !wantTruncated {
				if rec.Truncated != nil || rec.CutBytes != 0 || rec.SavedTo != "" {
					t.Fatalf("nothing to cut, Recovery %+v", rec)
				}
			} else {
				if rec.Truncated == nil || rec.Truncated.Segment != 2 || rec.Truncated.Offset != cut {
					t.Fatalf("Truncated %v, want segment 2 offset %d", rec.Truncated, cut)
				}
				if rec.CutBytes != int64(len(tc.data))-cut {
					t.Fatalf("CutBytes %d, want %d", rec.CutBytes, int64(len(tc.data))-cut)
				}
				if rec.CutBytes == 0 {
					if rec.SavedTo != "" {
						t.Fatalf("SavedTo %q with nothing cut", rec.SavedTo)
					}
				} else {
					if !strings.HasPrefix(rec.SavedTo, path2+corruptInfix) {
						t.Fatalf("SavedTo %q", rec.SavedTo)
					}
					saved, err := os.ReadFile(rec.SavedTo)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(saved, tc.data[cut:]) {
						t.Fatalf("saved %d bytes, want the %d cut bytes", len(saved), len(tc.data[cut:]))
					}
				}
			}

			// The segment on disk is the valid prefix, or gone if it has no record.
			onDisk, err := os.ReadFile(path2)
			switch {
			case kept > 0 && (err != nil || !bytes.Equal(onDisk, tc.data[:cut])):
				t.Fatalf("segment 2 on disk: %d bytes, err %v; want the %d valid bytes", len(onDisk), err, cut)
			case kept == 0 && !errors.Is(err, os.ErrNotExist):
				t.Fatalf("segment 2 without records still on disk (err %v)", err)
			}

			// The new segment comes after every number seen on disk.
			if p := mustWrite(t, w, []byte("new")); p.Segment() != 3 {
				t.Fatalf("new records in segment %d, want 3", p.Segment())
			}
		})
	}
}

func TestCorruptionBeforeLastSegmentFailsOpen(t *testing.T) {
	recs := payloads(20, 6, 80)
	good := func(seq uint64) ([]byte, []int64) { return encodeSegment(seq, recs) }
	flip := func(seq uint64, pos func(bounds []int64) int64) []byte {
		b, bounds := good(seq)
		b[pos(bounds)] ^= 0x10
		return b
	}

	tests := []struct {
		name    string
		segs    [][]byte // segments 1, 2, ...
		seg     uint64
		offset  func(bounds []int64) int64
		wantErr error
	}{
		{
			name: "payload bit flip in the first segment",
			segs: [][]byte{flip(1, func(b []int64) int64 { return b[2] + 9 }), must(good(2))},
			seg:  1, offset: func(b []int64) int64 { return b[2] }, wantErr: ErrChecksum,
		},
		{
			name: "length bit flip in a middle segment",
			segs: [][]byte{must(good(1)), flip(2, func(b []int64) int64 { return b[4] + 3 }), must(good(3))},
			seg:  2, offset: func(b []int64) int64 { return b[4] }, wantErr: ErrChecksum,
		},
		{
			name: "truncated first segment",
			segs: [][]byte{func() []byte { b, bounds := good(1); return b[:bounds[3]+5] }(), must(good(2))},
			seg:  1, offset: func(b []int64) int64 { return b[3] }, wantErr: ErrTruncated,
		},
		{
			name: "bad header in the first segment",
			segs: [][]byte{flip(1, func([]int64) int64 { return 1 }), must(good(2))},
			seg:  1, offset: func([]int64) int64 { return 0 }, wantErr: ErrBadHeader,
		},
		{
			name: "zeros after the first segment",
			segs: [][]byte{append(must(good(1)), make([]byte, 64)...), must(good(2))},
			seg:  1, offset: func(b []int64) int64 { return b[len(b)-1] }, wantErr: ErrChecksum,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, b := range tt.segs {
				writeFile(t, filepath.Join(dir, segmentName(uint64(i+1))), b)
			}
			before := listDir(t, dir)

			w, _, err := Open(Options{Dir: dir})
			if err == nil {
				_ = w.Close()
				t.Fatal("Open succeeded on a corrupt sealed segment")
			}
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: %v, want a *CorruptionError", err)
			}
			_, bounds := good(tt.seg)
			if ce.Segment != tt.seg || ce.Offset != tt.offset(bounds) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open: %v; want segment %d offset %d, %v", err, tt.seg, tt.offset(bounds), tt.wantErr)
			}
			// Nothing was changed on disk.
			if after := listDir(t, dir); !slices.Equal(after, before) {
				t.Fatalf("files %v after failed Open, before %v", after, before)
			}
			for i, b := range tt.segs {
				if got, _ := os.ReadFile(filepath.Join(dir, segmentName(uint64(i+1)))); !bytes.Equal(got, b) {
					t.Fatalf("segment %d changed by a failed Open", i+1)
				}
			}
		})
	}
}

func must(b []byte, _ []int64) []byte { return b }

func TestRecoveryHousekeeping(t *testing.T) {
	dir := t.TempDir()
	seg1, _ := encodeSegment(1, [][]byte{[]byte("kept")})
	writeFile(t, filepath.Join(dir, segmentName(1)), seg1)
	writeFile(t, filepath.Join(dir, segmentName(2)), appendHeader(nil, 2)) // empty: Close's next segment
	writeFile(t, filepath.Join(dir, segmentName(4)), appendHeader(nil, 4))
	writeFile(t, filepath.Join(dir, segmentName(5)+tmpSuffix), []byte("STW")) // creation interrupted
	foreign := []string{"notes.txt", segmentName(1) + corruptInfix + "123", "0001.wal"}
	for _, name := range foreign {
		writeFile(t, filepath.Join(dir, name), []byte("keep me"))
	}

	w, rec, _ := openTest(t, Options{Dir: dir})
	want := []SegmentInfo{{Seq: 1, Path: filepath.Join(dir, segmentName(1)), Size: int64(len(seg1))}}
	if !slices.Equal(rec.Segments, want) || rec.Truncated != nil {
		t.Fatalf("Recovery %+v, want only segment 1", rec)
	}
	if p := mustWrite(t, w, []byte("x")); p.Segment() != 5 {
		t.Fatalf("new segment %d, want 5 (after the highest on disk)", p.Segment())
	}
	wantFiles := append(slices.Clone(foreign), segmentName(1), segmentName(5))
	slices.Sort(wantFiles)
	if got := listDir(t, dir); !slices.Equal(got, wantFiles) {
		t.Fatalf("files %v, want %v", got, wantFiles)
	}
}
