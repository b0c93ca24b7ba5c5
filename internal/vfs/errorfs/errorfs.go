// Package errorfs wraps a vfs.FS to inject faults: it fails, short-writes,
// corrupts or slows down the operations that its rules select, by kind, by
// path, on the Nth matching call or with a probability under a fixed seed.
// It exists for tests: production code never knows whether its FS is
// wrapped, so fault injection adds no branch to it.
//
//	fsys := errorfs.Wrap(vfs.Default, errorfs.Rule{Ops: []errorfs.Kind{errorfs.OpSync}, Nth: 3})
//
// fails the third Sync of any file with ErrInjected. Rules are checked in
// order before each operation; the first that fires decides its fate. Each
// rule counts the calls it matches, whether or not they fire.
package errorfs

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/strata-io/strata/internal/vfs"
)

// ErrInjected is the error of an injected failure, unless a Rule says otherwise.
var ErrInjected = errors.New("errorfs: injected fault")

// Kind is a kind of operation.
type Kind int

// The operations of vfs.FS and vfs.File.
const (
	OpCreate        Kind = iota + 1 // FS.Create and FS.CreateNew
	OpOpen                          // FS.Open
	OpOpenReadWrite                 // FS.OpenReadWrite
	OpRename                        // FS.Rename (Op.Path is the old path)
	OpRemove                        // FS.Remove
	OpMkdirAll                      // FS.MkdirAll
	OpReadDir                       // FS.ReadDir
	OpLstat                         // FS.Lstat
	OpSyncDir                       // FS.SyncDir
	OpRead                          // File.Read and File.ReadAt
	OpWrite                         // File.Write
	OpSync                          // File.Sync
	OpClose                         // File.Close
	OpStat                          // File.Stat
	OpTruncate                      // File.Truncate
)

var kindNames = [...]string{
	OpCreate: "create", OpOpen: "open", OpOpenReadWrite: "open-rw", OpRename: "rename",
	OpRemove: "remove", OpMkdirAll: "mkdir-all", OpReadDir: "read-dir", OpLstat: "lstat",
	OpSyncDir: "sync-dir", OpRead: "read", OpWrite: "write", OpSync: "sync",
	OpClose: "close", OpStat: "stat", OpTruncate: "truncate",
}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Op is one operation about to run.
type Op struct {
	Kind Kind
	// Path is the path the operation names; for OpRename the old path, for
	// OpSyncDir the directory. An operation on an open file carries the path
	// the file was opened with, even after the file was renamed.
	Path string
}

func (o Op) String() string { return o.Kind.String() + " " + o.Path }

// Fault is what a rule does to an operation it fires on.
type Fault int

const (
	// Fail: the operation does nothing and returns the rule's error.
	Fail Fault = iota
	// ShortWrite: a Write writes the first half of its bytes and returns the
	// rule's error, as a full disk does. Any other operation fails.
	ShortWrite
	// Corrupt: a Write writes all its bytes with one bit flipped and reports
	// success; a Read returns its bytes with one bit flipped. Silent, like a
	// bad disk. Any other operation fails.
	Corrupt
	// Slow: the operation runs normally, after the rule's Delay.
	Slow
)

// Rule selects operations and says what to do to them. Every condition set
// must hold for the rule to fire; the zero Rule fails every operation (a
// disk gone).
type Rule struct {
	Ops   []Kind        // kinds that match; empty matches every kind
	Path  string        // filepath.Match pattern on the base name of Op.Path; "" matches any
	Match func(Op) bool // a further condition, called under the FS's lock (it must not use the FS); nil matches any
	Nth   int           // fire only on the Nth call that matches (from 1); 0 fires on every one
	Prob  float64       // if > 0, fire with this probability...
	Seed  uint64        // ...drawn from a PCG source seeded with Seed, so runs repeat
	Fault Fault         // what to do (zero: Fail)
	Err   error         // the error of Fail and ShortWrite; nil means ErrInjected
	Delay time.Duration // sleep before the operation when the rule fires
}

func (r *Rule) matches(op Op) bool {
	if len(r.Ops) > 0 && !slices.Contains(r.Ops, op.Kind) {
		return false
	}
	if r.Path != "" {
		if ok, _ := filepath.Match(r.Path, filepath.Base(op.Path)); !ok {
			return false
		}
	}
	return r.Match == nil || r.Match(op)
}

type rule struct {
	Rule
	calls int // matching calls so far
	rng   *rand.Rand
}

// FS is a vfs.FS that injects faults into the operations of the FS it wraps.
// Safe for concurrent use.
type FS struct {
	inner vfs.FS

	mu       sync.Mutex
	rules    []*rule
	injected []Op // operations a rule fired on
}

var (
	_ vfs.FS   = (*FS)(nil)
	_ vfs.File = (*file)(nil)
)

// Wrap returns inner with rules applied.
func Wrap(inner vfs.FS, rules ...Rule) *FS {
	f := &FS{inner: inner}
	f.Inject(rules...)
	return f
}

// Inject replaces the rules, restarting their counts: a test arms its fault
// once the set-up it does not want to fail is done.
func (f *FS) Inject(rules ...Rule) {
	rs := make([]*rule, len(rules))
	for i, r := range rules {
		rs[i] = &rule{Rule: r}
		if r.Prob > 0 {
			rs[i].rng = rand.New(rand.NewPCG(r.Seed, r.Seed^0x9e3779b97f4a7c15))
		}
	}
	f.mu.Lock()
	f.rules = rs
	f.mu.Unlock()
}

// Injected returns the operations faults were injected into, in order.
func (f *FS) Injected() []Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.injected)
}

// check returns the rule that fires on op, or nil. Its Delay is slept.
func (f *FS) check(op Op) *Rule {
	f.mu.Lock()
	var fired *Rule
	for _, r := range f.rules {
		if !r.matches(op) {
			continue
		}
		r.calls++
		if r.Nth > 0 && r.calls != r.Nth {
			continue
		}
		if r.rng != nil && r.rng.Float64() >= r.Prob {
			continue
		}
		fired = &r.Rule
		f.injected = append(f.injected, op)
		break
	}
	f.mu.Unlock()
	if fired != nil && fired.Delay > 0 {
		time.Sleep(fired.Delay)
	}
	return fired
}

// fail is the error a fired rule makes op return; nil for Slow.
func (r *Rule) fail(op Op) error {
	if r.Fault == Slow {
		return nil
	}
	err := r.Err
	if err == nil {
		err = ErrInjected
	}
	return &fs.PathError{Op: op.Kind.String(), Path: op.Path, Err: err}
}

// run checks op and runs fn unless a rule fails it.
func (f *FS) run(op Op, fn func() error) error {
	if r := f.check(op); r != nil {
		if err := r.fail(op); err != nil {
			return err
		}
	}
	return fn()
}

func (f *FS) open(op Op, fn func() (vfs.File, error)) (vfs.File, error) {
	var inner vfs.File
	err := f.run(op, func() (err error) {
		inner, err = fn()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &file{File: inner, fs: f, path: op.Path}, nil
}

// Create implements vfs.FS.
func (f *FS) Create(name string, perm fs.FileMode) (vfs.File, error) {
	return f.open(Op{OpCreate, name}, func() (vfs.File, error) { return f.inner.Create(name, perm) })
}

// CreateNew implements vfs.FS.
func (f *FS) CreateNew(name string, perm fs.FileMode) (vfs.File, error) {
	return f.open(Op{OpCreate, name}, func() (vfs.File, error) { return f.inner.CreateNew(name, perm) })
}

// Open implements vfs.FS.
func (f *FS) Open(name string) (vfs.File, error) {
	return f.open(Op{OpOpen, name}, func() (vfs.File, error) { return f.inner.Open(name) })
}

// OpenReadWrite implements vfs.FS.
func (f *FS) OpenReadWrite(name string) (vfs.File, error) {
	return f.open(Op{OpOpenReadWrite, name}, func() (vfs.File, error) { return f.inner.OpenReadWrite(name) })
}

// Rename implements vfs.FS.
func (f *FS) Rename(oldpath, newpath string) error {
	return f.run(Op{OpRename, oldpath}, func() error { return f.inner.Rename(oldpath, newpath) })
}

// Remove implements vfs.FS.
func (f *FS) Remove(name string) error {
	return f.run(Op{OpRemove, name}, func() error { return f.inner.Remove(name) })
}

// MkdirAll implements vfs.FS.
func (f *FS) MkdirAll(dir string, perm fs.FileMode) error {
	return f.run(Op{OpMkdirAll, dir}, func() error { return f.inner.MkdirAll(dir, perm) })
}

// ReadDir implements vfs.FS.
func (f *FS) ReadDir(dir string) (des []fs.DirEntry, err error) {
	err = f.run(Op{OpReadDir, dir}, func() error {
		des, err = f.inner.ReadDir(dir)
		return err
	})
	return des, err
}

// Lstat implements vfs.FS.
func (f *FS) Lstat(name string) (fi fs.FileInfo, err error) {
	err = f.run(Op{OpLstat, name}, func() error {
		fi, err = f.inner.Lstat(name)
		return err
	})
	return fi, err
}

// SyncDir implements vfs.FS.
func (f *FS) SyncDir(dir string) error {
	return f.run(Op{OpSyncDir, dir}, func() error { return f.inner.SyncDir(dir) })
}

// file applies its FS's rules to the operations on one open file.
type file struct {
	vfs.File
	fs   *FS
	path string
}

func (fl *file) Write(p []byte) (int, error) {
	op := Op{OpWrite, fl.path}
	r := fl.fs.check(op)
	if r == nil || r.Fault == Slow {
		return fl.File.Write(p)
	}
	switch r.Fault {
	case ShortWrite:
		n, _ := fl.File.Write(p[:len(p)/2])
		return n, r.fail(op)
	case Corrupt:
		if len(p) == 0 {
			return fl.File.Write(p)
		}
		return fl.File.Write(flipBit(p))
	}
	return 0, r.fail(op)
}

func (fl *file) Read(p []byte) (int, error) {
	op := Op{OpRead, fl.path}
	r := fl.fs.check(op)
	if r == nil || r.Fault == Slow {
		return fl.File.Read(p)
	}
	if r.Fault == Corrupt {
		n, err := fl.File.Read(p)
		if n > 0 {
			p[n/2] ^= 0x10
		}
		return n, err
	}
	return 0, r.fail(op)
}

func (fl *file) ReadAt(p []byte, off int64) (int, error) {
	op := Op{OpRead, fl.path}
	r := fl.fs.check(op)
	if r == nil || r.Fault == Slow {
		return fl.File.ReadAt(p, off)
	}
	if r.Fault == Corrupt {
		n, err := fl.File.ReadAt(p, off)
		if n > 0 {
			p[n/2] ^= 0x10
		}
		return n, err
	}
	return 0, r.fail(op)
}

func (fl *file) Sync() error {
	return fl.fs.run(Op{OpSync, fl.path}, fl.File.Sync)
}

// Close closes the file even when a rule fails it, so that a test leaks no
// descriptor; the caller sees the error all the same.
func (fl *file) Close() error {
	if r := fl.fs.check(Op{OpClose, fl.path}); r != nil {
		if err := r.fail(Op{OpClose, fl.path}); err != nil {
			_ = fl.File.Close()
			return err
		}
	}
	return fl.File.Close()
}

func (fl *file) Stat() (fi fs.FileInfo, err error) {
	err = fl.fs.run(Op{OpStat, fl.path}, func() error {
		fi, err = fl.File.Stat()
		return err
	})
	return fi, err
}

func (fl *file) Truncate(size int64) error {
	return fl.fs.run(Op{OpTruncate, fl.path}, func() error { return fl.File.Truncate(size) })
}

// flipBit returns a copy of p with one bit of its middle byte flipped.
func flipBit(p []byte) []byte {
	c := slices.Clone(p)
	c[len(c)/2] ^= 0x10
	return c
}
