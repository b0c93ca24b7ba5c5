package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/strata-io/strata/internal/durable"
)

// FS is a bucket of files under a directory: object "a/b/c" is the file
// DIR/a/b/c. It is the single-node default and needs no server.
//
// Put is crash-safe: it writes a temporary file (base name starting with
// ".tmp.") in the object's directory, fsyncs it, renames it over the object
// and fsyncs the directory (and the parent of any directory it creates), so
// after a crash an object is the old version or the new one, never torn.
// Temporary files are invisible to Get, Iter and the rest (no valid name
// refers to them); a crash can leave some behind, and they are never reused.
// Files are created with mode 0600.
//
// Delete removes directories that become empty, so a name that was a
// "directory" (a/b after a/b/c is deleted) can later become an object. Unlike
// S3, FS cannot hold an object whose name is a '/'-prefix of another object's
// (a/b and a/b/c at once): such a Put fails, so callers must not name
// objects that way.
type FS struct {
	dir string
}

var _ Bucket = (*FS)(nil)

// NewFS opens (creating it if needed) a bucket stored under dir and checks
// that dir is a writable directory.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("objectstore: fs: directory is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("objectstore: fs %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("objectstore: fs: create directory: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("objectstore: fs: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("objectstore: fs: %s is not a directory", abs)
	}
	probe, err := os.CreateTemp(abs, tmpPrefix+"probe-*")
	if err != nil {
		return nil, fmt.Errorf("objectstore: fs: directory %s is not writable: %w", abs, err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return nil, fmt.Errorf("objectstore: fs: %w", err)
	}
	return &FS{dir: abs}, nil
}

// Dir is the directory holding the objects.
func (f *FS) Dir() string { return f.dir }

func (f *FS) path(name string) string { return filepath.Join(f.dir, filepath.FromSlash(name)) }

// Put implements Bucket.
func (f *FS) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := checkCall(ctx, name); err != nil {
		return err
	}
	if err := f.put(ctx, name, r, size); err != nil {
		return fmt.Errorf("objectstore: fs put %q: %w", name, err)
	}
	return nil
}

func (f *FS) put(ctx context.Context, name string, r io.Reader, size int64) error {
	dst := f.path(name)
	tmp, err := f.createTemp(filepath.Dir(dst))
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, putReader(ctx, r, size)); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	ok = true
	return durable.SyncDir(filepath.Dir(dst))
}

// createTemp creates a temporary file in dir, creating dir (durably) first.
// A concurrent Delete may remove a directory it has just made, between the
// mkdir and the create, so it retries a few times.
func (f *FS) createTemp(dir string) (*os.File, error) {
	var err error
	for range 5 {
		if err = f.mkdirAll(dir); err != nil {
			return nil, err
		}
		var tmp *os.File
		tmp, err = os.CreateTemp(dir, tmpPrefix+"*")
		if err == nil {
			return tmp, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, err
}

// mkdirAll creates dir and its missing parents below f.dir, fsyncing the
// parent of each directory it creates so the new entries survive a crash.
func (f *FS) mkdirAll(dir string) error {
	rel, err := filepath.Rel(f.dir, dir)
	if err != nil {
		return err
	}
	if rel == "." {
		return nil
	}
	parent := f.dir
	for seg := range strings.SplitSeq(rel, string(filepath.Separator)) {
		cur := filepath.Join(parent, seg)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			if err := durable.SyncDir(parent); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
		default:
			return err
		}
		parent = cur
	}
	return nil
}

// open opens the regular file holding name.
func (f *FS) open(ctx context.Context, op, name string) (*os.File, int64, error) {
	if err := checkCall(ctx, name); err != nil {
		return nil, 0, err
	}
	file, err := os.Open(f.path(name))
	if err != nil {
		return nil, 0, f.fileErr(op, name, err)
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, f.fileErr(op, name, err)
	}
	if !st.Mode().IsRegular() {
		file.Close()
		return nil, 0, fmt.Errorf("%w: fs %s %q", ErrNotFound, op, name)
	}
	return file, st.Size(), nil
}

func (f *FS) fileErr(op, name string, err error) error {
	// ENOTDIR: a parent of the path is a file, so the object cannot exist.
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: fs %s %q", ErrNotFound, op, name)
	}
	return fmt.Errorf("objectstore: fs %s %q: %w", op, name, err)
}

// Get implements Bucket.
func (f *FS) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	file, _, err := f.open(ctx, OpGet, name)
	if err != nil {
		return nil, err
	}
	return file, nil
}

// GetRange implements Bucket.
func (f *FS) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := checkRange(name, off, length); err != nil {
		return nil, err
	}
	file, size, err := f.open(ctx, OpGetRange, name)
	if err != nil {
		return nil, err
	}
	if off >= size {
		file.Close()
		return emptyReader(), nil
	}
	length = min(length, size-off)
	return &sectionReadCloser{SectionReader: io.NewSectionReader(file, off, length), file: file}, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	file *os.File
}

func (s *sectionReadCloser) Close() error { return s.file.Close() }

// Size implements Bucket.
func (f *FS) Size(ctx context.Context, name string) (int64, error) {
	if err := checkCall(ctx, name); err != nil {
		return 0, err
	}
	st, err := os.Stat(f.path(name))
	if err != nil {
		return 0, f.fileErr(OpSize, name, err)
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%w: fs size %q", ErrNotFound, name)
	}
	return st.Size(), nil
}

// Iter implements Bucket. It walks only the directory that the prefix names
// (up to its last '/') and visits each directory's entries sorted as if
// directory names ended in '/', which yields full names in lexical order
// without listing everything first.
func (f *FS) Iter(ctx context.Context, prefix string, fn func(name string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if prefixMatchesNothing(prefix) {
		return nil // and the directory may be outside f.dir
	}
	start := prefix[:strings.LastIndexByte(prefix, '/')+1]
	return f.walk(ctx, start, prefix, fn)
}

// walk lists the directory rel ("" or ending in '/') and calls fn for every
// object in it, recursively, whose name starts with prefix.
func (f *FS) walk(ctx context.Context, rel, prefix string, fn func(name string) error) error {
	entries, err := os.ReadDir(f.path(rel))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil // no such directory, or removed by a Delete meanwhile
		}
		return fmt.Errorf("objectstore: fs iter %q: %w", prefix, err)
	}
	type entry struct {
		key string
		dir bool
	}
	list := make([]entry, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		switch {
		case e.IsDir():
			list = append(list, entry{rel + name + "/", true})
		case e.Type().IsRegular():
			list = append(list, entry{rel + name, false})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	for _, e := range list {
		if !strings.HasPrefix(e.key, prefix) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.dir {
			if err := f.walk(ctx, e.key, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(e.key); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements Bucket. Deletes are not fsynced: an object that
// reappears after a crash is garbage that the next collection removes again.
func (f *FS) Delete(ctx context.Context, name string) error {
	if err := checkCall(ctx, name); err != nil {
		return err
	}
	p := f.path(name)
	st, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("objectstore: fs delete %q: %w", name, err)
	}
	if st.IsDir() {
		return nil // a "directory" is not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objectstore: fs delete %q: %w", name, err)
	}
	// Remove parents that became empty; os.Remove refuses non-empty ones.
	for dir := filepath.Dir(p); dir != f.dir && strings.HasPrefix(dir, f.dir); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// Close implements Bucket; it does nothing.
func (f *FS) Close() error { return nil }
