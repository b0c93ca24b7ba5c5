// Package durable makes file-system changes survive a crash: directory
// fsyncs and small files written whole or not at all.
//
// The FS-taking functions do their work through a vfs.FS, so that tests can
// fail each step; the others use vfs.Default.
package durable

import (
	"io/fs"
	"path/filepath"

	"github.com/strata-io/strata/internal/vfs"
)

// SyncDir fsyncs a directory so that creations, renames and removals in it
// survive a crash.
func SyncDir(dir string) error { return vfs.Default.SyncDir(dir) }

// WriteFile is WriteFileFS on vfs.Default.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return WriteFileFS(vfs.Default, path, data, perm)
}

// WriteFileFS replaces path with data crash-safely: a temporary file
// path+".tmp" in the same directory, write, fsync, close, rename over path,
// fsync of the directory. After a crash, and after an error from any step,
// path holds either its old contents or data, never a mix. An error from the
// last step (the directory fsync) means path holds data but may lose it in a
// crash. On an earlier error the temporary file is removed (a failed removal
// is harmless: the next call truncates it).
func WriteFileFS(fsys vfs.FS, path string, data []byte, perm fs.FileMode) error {
	tmp := path + ".tmp"
	f, err := fsys.Create(tmp, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(filepath.Dir(path))
}
