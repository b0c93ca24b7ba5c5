package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
)

// TestDefault checks the contract of every operation of Default.
func TestDefault(t *testing.T) {
	fsys := Default
	dir := filepath.Join(t.TempDir(), "a", "b")
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("MkdirAll of an existing directory: %v", err)
	}
	path := filepath.Join(dir, "f")
	write := func(create func(string, fs.FileMode) (File, error), data string) error {
		f, err := create(path, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(f, data); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		return f.Close()
	}
	if err := write(fsys.CreateNew, "first, long"); err != nil {
		t.Fatal(err)
	}
	if err := write(fsys.CreateNew, "x"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateNew over an existing file: %v, want fs.ErrExist", err)
	}
	if err := write(fsys.Create, "second"); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(fsys, path); err != nil || string(got) != "second" {
		t.Fatalf("ReadFile: %q, %v; want the truncated file", got, err)
	}

	f, err := fsys.OpenReadWrite(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := f.ReadAt(buf, 1); n != 2 || err != io.EOF {
		t.Fatalf("ReadAt past the end: %d, %v", n, err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != 3 {
		t.Fatalf("Stat: %v, %v", st, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	renamed := filepath.Join(dir, "g")
	if err := fsys.Rename(path, renamed); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	des, err := fsys.ReadDir(dir)
	if err != nil || len(des) != 1 || des[0].Name() != "g" || !des[0].Type().IsRegular() {
		t.Fatalf("ReadDir: %v, %v", des, err)
	}
	if st, err := fsys.Lstat(renamed); err != nil || st.Size() != 3 {
		t.Fatalf("Lstat: %v, %v", st, err)
	}
	if err := fsys.Remove(renamed); err != nil {
		t.Fatal(err)
	}

	// Missing files: fs.ErrNotExist, and a nil File rather than a typed nil.
	for name, open := range map[string]func(string) (File, error){"Open": fsys.Open, "OpenReadWrite": fsys.OpenReadWrite} {
		if f, err := open(path); !errors.Is(err, fs.ErrNotExist) || f != nil {
			t.Errorf("%s of a missing file: %v, %v", name, f, err)
		}
	}
	if _, err := fsys.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat of a missing file: %v", err)
	}
	if err := fsys.SyncDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SyncDir of a missing directory: %v", err)
	}
	if OrDefault(nil) != Default || OrDefault(fsys) != fsys {
		t.Error("OrDefault")
	}
}

// TestReadFile sweeps sizes around its first buffer and its growth.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 511, 512, 513, 4095, 4096, 4097, 100_000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := bytes.Repeat([]byte{'a', 'b', 'c'}, size/3+1)[:size]
			path := filepath.Join(dir, fmt.Sprint(size))
			f, err := Default.Create(path, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(data); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, err := ReadFile(Default, path)
			if err != nil || !slices.Equal(got, data) {
				t.Fatalf("ReadFile: %d bytes, %v; want %d", len(got), err, size)
			}
		})
	}
}
