package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-io/strata/internal/vfs"
	"github.com/strata-io/strata/internal/vfs/errorfs"
)

// TestWriteFileFaults fails each step of WriteFileFS in turn, over an
// existing file and over none. After the error the file holds its old
// contents (or does not exist) or, when only the directory fsync failed, the
// new contents: never a mix. A later WriteFile succeeds.
func TestWriteFileFaults(t *testing.T) {
	kinds := func(k ...errorfs.Kind) []errorfs.Kind { return k }
	tests := []struct {
		name    string
		rule    errorfs.Rule
		renamed bool // the new contents are in place despite the error
	}{
		{"create", errorfs.Rule{Ops: kinds(errorfs.OpCreate)}, false},
		{"write", errorfs.Rule{Ops: kinds(errorfs.OpWrite)}, false},
		{"short write", errorfs.Rule{Ops: kinds(errorfs.OpWrite), Fault: errorfs.ShortWrite}, false},
		{"fsync", errorfs.Rule{Ops: kinds(errorfs.OpSync)}, false},
		{"close", errorfs.Rule{Ops: kinds(errorfs.OpClose)}, false},
		{"rename", errorfs.Rule{Ops: kinds(errorfs.OpRename)}, false},
		{"rename, and the removal of the temporary file", errorfs.Rule{Ops: kinds(errorfs.OpRename, errorfs.OpRemove)}, false},
		{"directory fsync", errorfs.Rule{Ops: kinds(errorfs.OpSyncDir)}, true},
	}
	const oldData, newData = "old contents\n", "new contents, longer than the old\n"
	for _, tt := range tests {
		for _, existing := range []bool{true, false} {
			name := tt.name
			if !existing {
				name += ", no old file"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "id")
				if existing {
					if err := WriteFile(path, []byte(oldData), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				fsys := errorfs.Wrap(vfs.Default, tt.rule)
				if err := WriteFileFS(fsys, path, []byte(newData), 0o644); !errors.Is(err, errorfs.ErrInjected) {
					t.Fatalf("WriteFileFS: %v, want the injected fault", err)
				}
				got, err := os.ReadFile(path)
				switch {
				case tt.renamed:
					if err != nil || string(got) != newData {
						t.Fatalf("read %q, %v; want the new contents", got, err)
					}
				case existing:
					if err != nil || string(got) != oldData {
						t.Fatalf("read %q, %v; want the old contents", got, err)
					}
				default:
					if !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("read %q, %v; want no file", got, err)
					}
				}

				if err := WriteFile(path, []byte("again\n"), 0o644); err != nil {
					t.Fatalf("WriteFile after the fault: %v", err)
				}
				if got, err := os.ReadFile(path); err != nil || string(got) != "again\n" {
					t.Fatalf("read %q, %v after a good write", got, err)
				}
			})
		}
	}
}
