package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/strata-io/strata/internal/vfs"
)

// found is one segment file as recovery read it.
type found struct {
	seq     uint64
	path    string
	size    int64 // bytes on disk
	valid   int64 // bytes up to the end of the last valid frame
	records int
	corrupt *CorruptionError
}

// recovered is what recoverDir hands to Open.
type recovered struct {
	report Recovery
	next   uint64   // sequence number of the segment Open creates
	empty  []string // segments without records, to delete once the new one exists
	tmp    []string // leftovers of interrupted segment creations
}

// recoverDir validates every segment in dir and cuts a torn tail of the last
// one. It changes nothing on disk unless every segment but the last is valid.
func recoverDir(fsys vfs.FS, dir string, log *slog.Logger) (*recovered, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list %s: %w", dir, err)
	}
	var (
		seqs []uint64
		out  = &recovered{next: 1}
	)
	for _, e := range entries {
		name := e.Name()
		if seq, ok := parseSegmentName(name); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		} else if _, ok := parseSegmentName(strings.TrimSuffix(name, tmpSuffix)); ok && strings.HasSuffix(name, tmpSuffix) {
			out.tmp = append(out.tmp, filepath.Join(dir, name))
		}
	}
	slices.Sort(seqs)

	segs := make([]found, 0, len(seqs))
	for i, seq := range seqs {
		s, err := scanSegment(fsys, segmentPath(dir, seq), seq)
		if err != nil {
			return nil, err
		}
		if s.corrupt != nil && i < len(seqs)-1 {
			return nil, s.corrupt
		}
		segs = append(segs, s)
	}
	if len(seqs) > 0 {
		// Computed before anything is deleted, so a number is never reused.
		out.next = seqs[len(seqs)-1] + 1
	}

	if n := len(segs); n > 0 && segs[n-1].corrupt != nil {
		last := &segs[n-1]
		saved, err := cutTail(fsys, dir, last)
		if err != nil {
			return nil, fmt.Errorf("wal: cut torn tail of segment %d: %w", last.seq, err)
		}
		out.report.Truncated = last.corrupt
		out.report.CutBytes = last.size - last.valid
		out.report.SavedTo = saved
		log.Warn("wal: cut the torn tail of the last segment",
			slog.Uint64("segment", last.seq),
			slog.Int64("offset", last.valid),
			slog.Int64("cut_bytes", out.report.CutBytes),
			slog.String("saved_to", saved),
			slog.Any("err", last.corrupt.Err))
		last.size = last.valid
	}

	for _, s := range segs {
		switch {
		case s.size == 0:
			// The header itself was cut: cutTail removed the file.
		case s.records == 0:
			out.empty = append(out.empty, s.path)
		default:
			out.report.Segments = append(out.report.Segments, SegmentInfo{Seq: s.seq, Path: s.path, Size: s.size})
		}
	}
	return out, nil
}

// scanSegment reads a segment in full. A corrupt segment is not an error here;
// an unreadable one is (a read error is not corruption: the bytes may be fine).
func scanSegment(fsys vfs.FS, path string, seq uint64) (found, error) {
	s := found{seq: seq, path: path}
	f, err := fsys.Open(path)
	if err != nil {
		return s, fmt.Errorf("wal: open segment %d: %w", seq, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return s, fmt.Errorf("wal: stat segment %d: %w", seq, err)
	}
	s.size = st.Size()
	r := NewReader(f, seq)
	for r.Next() {
		s.records++
	}
	s.valid = r.validEnd()
	if err := r.Err(); err != nil {
		if !errors.As(err, &s.corrupt) {
			return s, err
		}
	}
	return s, nil
}

// cutTail saves the bytes of s past its last valid frame to
// "<segment>.corrupt-<unix nanos>", then truncates the segment there and
// fsyncs it. A segment whose header is invalid is removed. The copy is durable
// before the segment changes, so a crash in between only repeats the cut.
func cutTail(fsys vfs.FS, dir string, s *found) (saved string, err error) {
	f, err := fsys.OpenReadWrite(s.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if s.size > s.valid {
		saved = fmt.Sprintf("%s%s%d", s.path, corruptInfix, time.Now().UnixNano())
		if err := copyRange(fsys, dir, saved, f, s.valid, s.size-s.valid); err != nil {
			return "", fmt.Errorf("save tail: %w", err)
		}
	}
	if s.valid < headerSize {
		if err := fsys.Remove(s.path); err != nil {
			return "", err
		}
		return saved, fsys.SyncDir(dir)
	}
	if err := f.Truncate(s.valid); err != nil {
		return "", err
	}
	return saved, f.Sync()
}

// copyRange copies n bytes of src from off into a new file at path, durably.
func copyRange(fsys vfs.FS, dir, path string, src io.ReaderAt, off, n int64) error {
	dst, err := fsys.CreateNew(path, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, off, n))
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = fsys.Remove(path)
		return err
	}
	return fsys.SyncDir(dir)
}
