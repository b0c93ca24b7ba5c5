package wal

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/strata-io/strata/internal/vfs"
)

// createSegment creates segment seq crash-safely: the header goes to a
// temporary file which is fsynced, renamed into place, and the directory is
// fsynced, so after a crash the segment either does not exist or has a whole
// header. The returned file is positioned after the header, ready to append.
func createSegment(fsys vfs.FS, dir string, seq uint64) (vfs.File, error) {
	path := segmentPath(dir, seq)
	// Sequence numbers are never reused: refuse to replace an existing segment.
	if _, err := fsys.Lstat(path); err == nil {
		return nil, fmt.Errorf("create segment %d: %w", seq, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("create segment %d: %w", seq, err)
	}
	tmp := path + tmpSuffix
	f, err := fsys.Create(tmp, 0o644)
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
		if err := fsys.Rename(tmp, path); err != nil {
			return err
		}
		return fsys.SyncDir(dir)
	}()
	if err != nil {
		_ = f.Close()
		_ = fsys.Remove(tmp)
		return nil, fmt.Errorf("create segment %d: %w", seq, err)
	}
	return f, nil
}
