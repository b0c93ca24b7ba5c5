package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/strata-io/strata/internal/durable"
)

// segmentFile is what the flusher needs of the open segment. Tests wrap it to
// inject write and fsync failures.
type segmentFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

// createSegment creates segment seq crash-safely: the header goes to a
// temporary file which is fsynced, renamed into place, and the directory is
// fsynced, so after a crash the segment either does not exist or has a whole
// header. The returned file is positioned after the header, ready to append.
func createSegment(dir string, seq uint64) (*os.File, error) {
	path := segmentPath(dir, seq)
	// Sequence numbers are never reused: refuse to replace an existing segment.
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("create segment %d: %w", seq, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create segment %d: %w", seq, err)
	}
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment %d: %w", seq, err)
	}
	err = func() error {
		if _, err := f.Write(appendHeader(nil, seq)); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
		return durable.SyncDir(dir)
	}()
	if err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("create segment %d: %w", seq, err)
	}
	return f, nil
}
