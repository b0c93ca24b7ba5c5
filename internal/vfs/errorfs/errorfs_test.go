package errorfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/vfs"
)

var allKinds = []Kind{OpCreate, OpOpen, OpOpenReadWrite, OpRename, OpRemove, OpMkdirAll, OpReadDir, OpLstat, OpSyncDir, OpRead, OpWrite, OpSync, OpClose, OpStat, OpTruncate}

// do runs one operation of kind k in a fresh directory, through an FS whose
// rule is armed just before it (after the file it needs is open), and
// returns the faults injected and its error. Writes go to "new.tmp", reads to "old.dat".
func do(t *testing.T, k Kind, rule Rule) ([]Op, error) {
	t.Helper()
	dir := t.TempDir()
	old, tmp := filepath.Join(dir, "old.dat"), filepath.Join(dir, "new.tmp")
	for _, p := range []string{old, tmp} {
		if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsys := Wrap(vfs.Default)
	var f vfs.File
	var err error
	switch k {
	case OpWrite, OpSync, OpClose:
		f, err = fsys.Create(tmp, 0o644)
	case OpRead, OpStat:
		f, err = fsys.Open(old)
	case OpTruncate:
		f, err = fsys.OpenReadWrite(old)
	}
	if err != nil {
		t.Fatal(err)
	}
	if f != nil && k != OpClose {
		defer f.Close()
	}
	fsys.Inject(rule)
	switch k {
	case OpCreate:
		f, err = fsys.Create(tmp, 0o644)
		if err == nil {
			f.Close()
		}
	case OpOpen:
		f, err = fsys.Open(old)
		if err == nil {
			f.Close()
		}
	case OpOpenReadWrite:
		f, err = fsys.OpenReadWrite(old)
		if err == nil {
			f.Close()
		}
	case OpRename:
		err = fsys.Rename(tmp, filepath.Join(dir, "new.dat"))
	case OpRemove:
		err = fsys.Remove(tmp)
	case OpMkdirAll:
		err = fsys.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	case OpReadDir:
		_, err = fsys.ReadDir(dir)
	case OpLstat:
		_, err = fsys.Lstat(old)
	case OpSyncDir:
		err = fsys.SyncDir(dir)
	case OpRead:
		_, err = f.Read(make([]byte, 4))
	case OpWrite:
		_, err = f.Write([]byte("data"))
	case OpSync:
		err = f.Sync()
	case OpClose:
		err = f.Close()
	case OpStat:
		_, err = f.Stat()
	case OpTruncate:
		err = f.Truncate(3)
	}
	return fsys.Injected(), err
}

// TestSelection: which operations a rule fails.
func TestSelection(t *testing.T) {
	writes := []Kind{OpCreate, OpRename, OpRemove, OpWrite, OpSync, OpClose}
	tests := []struct {
		name string
		rule Rule
		want []Kind // kinds that fail
	}{
		{"slow fails nothing", Rule{Fault: Slow}, nil},
		{"every operation", Rule{}, allKinds},
		{"by kind", Rule{Ops: []Kind{OpSync, OpRename}}, []Kind{OpSync, OpRename}},
		{"by path", Rule{Path: "*.tmp"}, writes},
		{"by kind and path", Rule{Ops: []Kind{OpSync, OpStat}, Path: "*.dat"}, []Kind{OpStat}},
		{"by predicate", Rule{Match: func(op Op) bool { return op.Kind == OpSyncDir }}, []Kind{OpSyncDir}},
	}
	for _, k := range allKinds {
		tests = append(tests, struct {
			name string
			rule Rule
			want []Kind
		}{"only " + k.String(), Rule{Ops: []Kind{k}}, []Kind{k}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range allKinds {
				injected, err := do(t, k, tt.rule)
				fail := slices.Contains(tt.want, k)
				switch {
				case (err != nil) != fail:
					t.Errorf("%v: %v, want failure %v", k, err, fail)
				case fail && !errors.Is(err, ErrInjected):
					t.Errorf("%v: %v, want ErrInjected", k, err)
				case fail && (len(injected) != 1 || injected[0].Kind != k):
					t.Errorf("%v: Injected() = %v", k, injected)
				}
			}
		})
	}
}

// TestNth: only the Nth matching call fails; Inject restarts the count.
func TestNth(t *testing.T) {
	dir := t.TempDir()
	fsys := Wrap(vfs.Default, Rule{Ops: []Kind{OpSyncDir}, Nth: 3})
	check := func(want []bool) {
		t.Helper()
		for i, fail := range want {
			if err := fsys.SyncDir(dir); (err != nil) != fail {
				t.Fatalf("call %d: %v, want failure %v", i+1, err, fail)
			}
		}
	}
	check([]bool{false, false, true, false, false})
	fsys.Inject(Rule{Ops: []Kind{OpSyncDir}, Nth: 1})
	check([]bool{true, false})
	if n := len(fsys.Injected()); n != 2 {
		t.Fatalf("%d injected, want 2", n)
	}
}

// TestProbability: the same seed fails the same calls; about Prob of them.
func TestProbability(t *testing.T) {
	dir := t.TempDir()
	pattern := func(seed uint64) []bool {
		fsys := Wrap(vfs.Default, Rule{Ops: []Kind{OpLstat}, Prob: 0.25, Seed: seed})
		out := make([]bool, 400)
		for i := range out {
			_, err := fsys.Lstat(dir)
			out[i] = err != nil
		}
		return out
	}
	a, b, c := pattern(1), pattern(1), pattern(2)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed failed different calls")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds failed the same calls")
	}
	n := 0
	for _, f := range a {
		if f {
			n++
		}
	}
	if n < 60 || n > 140 {
		t.Fatalf("%d of 400 calls failed with probability 0.25", n)
	}
}

// TestWriteFaults: what each fault leaves in the file.
func TestWriteFaults(t *testing.T) {
	data := []byte("0123456789abcdef")
	myErr := errors.New("disk full")
	tests := []struct {
		name    string
		rule    Rule
		wantErr error
		check   func(t *testing.T, got []byte)
	}{
		{"fail", Rule{Ops: []Kind{OpWrite}}, ErrInjected, func(t *testing.T, got []byte) {
			if len(got) != 0 {
				t.Errorf("a failed write wrote %q", got)
			}
		}},
		{"short write", Rule{Ops: []Kind{OpWrite}, Fault: ShortWrite, Err: myErr}, myErr, func(t *testing.T, got []byte) {
			if !bytes.Equal(got, data[:len(data)/2]) {
				t.Errorf("short write left %q, want the first half", got)
			}
		}},
		{"corrupt", Rule{Ops: []Kind{OpWrite}, Fault: Corrupt}, nil, func(t *testing.T, got []byte) {
			if len(got) != len(data) || bytes.Equal(got, data) {
				t.Errorf("corrupt write left %q", got)
			}
			diff := 0
			for i := range got {
				for x := got[i] ^ data[i]; x != 0; x &= x - 1 {
					diff++
				}
			}
			if diff != 1 {
				t.Errorf("%d bits differ, want 1", diff)
			}
		}},
		{"slow", Rule{Ops: []Kind{OpWrite}, Fault: Slow, Delay: 20 * time.Millisecond}, nil, func(t *testing.T, got []byte) {
			if !bytes.Equal(got, data) {
				t.Errorf("slow write left %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			fsys := Wrap(vfs.Default, tt.rule)
			f, err := fsys.Create(path, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			n, err := f.Write(slices.Clone(data))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Write: %d, %v; want %v", n, err, tt.wantErr)
			}
			if tt.wantErr != nil {
				var pe *fs.PathError
				if !errors.As(err, &pe) || pe.Path != path || pe.Op != "write" {
					t.Errorf("error %#v, want a *fs.PathError naming the write and the file", err)
				}
			}
			if d := time.Since(start); d < tt.rule.Delay {
				t.Errorf("Write took %v, want at least %v", d, tt.rule.Delay)
			}
			f.Close()
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, got)
		})
	}
}

// TestCorruptRead: a read returns one bit flipped; the file is unchanged.
func TestCorruptRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := []byte("0123456789")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	fsys := Wrap(vfs.Default, Rule{Ops: []Kind{OpRead}, Fault: Corrupt, Nth: 1})
	got, err := vfs.ReadFile(fsys, path)
	if err != nil || len(got) != len(data) || bytes.Equal(got, data) {
		t.Fatalf("first read %q, %v; want the data with a bit flipped", got, err)
	}
	f, _ := fsys.Open(path)
	defer f.Close()
	buf := make([]byte, len(data))
	if _, err := f.ReadAt(buf, 0); (err != nil && err != io.EOF) || !bytes.Equal(buf, data) {
		t.Fatalf("second read %q, %v; want the data", buf, err)
	}
}
