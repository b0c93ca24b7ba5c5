// Package vfs is the seam between Strata's local storage code (the WAL, the
// disk tier of the range cache, internal/durable) and the operating system's
// file system. Production code goes through Default, which is the os package;
// tests wrap it (see the errorfs subpackage) to fail, corrupt or slow down any
// single operation, so that every step of a crash-safe file dance can be
// failed without a branch in the code under test.
//
// The interface holds exactly the operations those users need. It is not a
// general file system: there are no links, locks, permissions changes or
// directory handles.
package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
)

// File is an open file.
//
// Contract, as for *os.File:
//   - Write writes all of p or returns an error; n may be less than len(p)
//     on error, and the bytes written before the error may or may not be in
//     the file.
//   - Read and ReadAt follow io.Reader and io.ReaderAt: ReadAt returns an
//     error (io.EOF at the end) whenever n < len(p).
//   - Sync returns once everything written is on stable storage. After a
//     failed Sync the state of the written bytes is unknown; the file must
//     not be trusted to hold them (the kernel may have dropped dirty pages).
//   - Close releases the file; it does not imply Sync.
//   - Stat describes the file; Truncate changes its size.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	Sync() error
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
}

// FS is a file system. Paths are operating-system paths. Errors are those of
// the os package (wrapped in *fs.PathError or *os.LinkError), so
// errors.Is(err, fs.ErrNotExist) and fs.ErrExist work.
//
// Durability contract: creating, renaming or removing a file is durable only
// after SyncDir of its directory returns nil; the contents of a file are
// durable only after its Sync returns nil. Rename replaces newpath
// atomically: a crash leaves the old or the new file under newpath, never a
// mix.
type FS interface {
	// Create creates name for writing, truncating it if it exists.
	Create(name string, perm fs.FileMode) (File, error)
	// CreateNew creates name for writing; it fails with fs.ErrExist if name
	// exists, so two writers can never share a file.
	CreateNew(name string, perm fs.FileMode) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing (to
	// truncate it, say).
	OpenReadWrite(name string) (File, error)
	// Rename renames oldpath to newpath, replacing newpath if it exists.
	Rename(oldpath, newpath string) error
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// MkdirAll creates dir and any missing parents; nil if dir exists.
	MkdirAll(dir string, perm fs.FileMode) error
	// ReadDir lists dir sorted by name. A DirEntry's Type is that of the
	// entry itself (symbolic links are not followed).
	ReadDir(dir string) ([]fs.DirEntry, error)
	// Lstat describes name without following a final symbolic link.
	Lstat(name string) (fs.FileInfo, error)
	// SyncDir fsyncs directory dir, making the creations, renames and
	// removals of entries in it durable.
	SyncDir(dir string) error
}

// Default is the operating system's file system, through the os package.
var Default FS = osFS{}

type osFS struct{}

var (
	_ FS   = osFS{}
	_ File = (*os.File)(nil)
)

func (osFS) Create(name string, perm fs.FileMode) (File, error) {
	return openOS(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
}

func (osFS) CreateNew(name string, perm fs.FileMode) (File, error) {
	return openOS(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

func (osFS) Open(name string) (File, error) { return openOS(name, os.O_RDONLY, 0) }

func (osFS) OpenReadWrite(name string) (File, error) { return openOS(name, os.O_RDWR, 0) }

// openOS returns a nil File, not a nil *os.File in a File, on error.
func openOS(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Rename(oldpath, newpath string) error        { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) ReadDir(dir string) ([]fs.DirEntry, error)   { return os.ReadDir(dir) }
func (osFS) Lstat(name string) (fs.FileInfo, error)      { return os.Lstat(name) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// OrDefault returns fsys, or Default when fsys is nil: the rule for every
// options struct with an FS field.
func OrDefault(fsys FS) FS {
	if fsys == nil {
		return Default
	}
	return fsys
}

// ReadFile reads the whole of name through fsys.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 512
	if st, err := f.Stat(); err == nil && st.Size() > 0 && st.Size() < 1<<40 {
		size = int(st.Size()) + 1 // one more byte, so the read that sees EOF needs no growth
	}
	data := make([]byte, 0, size)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return data, nil
			}
			return nil, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}
